//! End-to-end tests of the isolation of Python nodes (docs/python-nodes.md): each
//! test runs `sluice run` on a small project whose Python node attempts one
//! escape, and checks from the outside that it failed.
//!
//! Each node reports a successful escape by raising `Escaped`; the tests also
//! look for its traces themselves (a connection accepted, a file written, a
//! process still alive).

mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{json_of, ok_json};

const SECRET_VALUE: &str = "hunter2-isolation-secret";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/run")
        .join(path)
}

/// A lake with the `orders` source table on main, and a project `orders_py`
/// whose Python node `shares` has `body` (indented, after a prelude that
/// defines `Escaped`); `{PORT}`-style values are substituted by the caller.
fn setup(tmp: &Path, body: &str) -> (PathBuf, PathBuf) {
    let lake = tmp.join("lake");
    let csv = fixture("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "orders"],
    );
    let project = tmp.join("project");
    std::fs::create_dir(&project).unwrap();
    for file in ["schemas.py", "customer_totals.sql"] {
        std::fs::copy(fixture("orders_py").join(file), project.join(file)).unwrap();
    }
    let node = format!(
        "import os, sys, socket, subprocess, ctypes, time\n\
         from sluice import col\n\
         from schemas import CustomerTotals, Shares\n\n\
         class Escaped(Exception):\n    pass\n\n\
         def shares(totals: CustomerTotals = customer_totals) -> Shares:\n\
         {body}\n    \
         return totals.select([col('customer'), col('total'), (col('total') * 0.0).alias('share')])\n"
    );
    std::fs::write(project.join("shares.py"), node).unwrap();
    (lake, project)
}

/// `sluice run PROJECT --format json EXTRA...` with a secret in its environment.
fn sluice_run(lake: &Path, project: &Path, extra: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", project.to_str().unwrap(), "--format", "json"])
        .args(extra)
        .arg("--lake")
        .arg(lake)
        .env_remove("SLUICE_LAKE")
        .env_remove("SLUICE_DATA")
        .env("SLUICE_AUTHOR", "tester")
        .env("SLUICE_TEST_SECRET", SECRET_VALUE)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_VALUE)
        .output()
        .expect("run sluice");
    let v = json_of(&out, "sluice run");
    (out, v)
}

/// The run succeeded: the node's escape attempt failed inside the node.
fn assert_contained(out: &Output, run: &Value) {
    assert!(
        out.status.success(),
        "{run:#}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["status"], "succeeded", "{run:#}");
}

/// The error message of the run's Python node (which must have failed).
fn node_error(out: &Output, run: &Value) -> String {
    assert_eq!(out.status.code(), Some(1), "{run:#}");
    let node = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "shares")
        .unwrap_or_else(|| panic!("no node `shares` in {run:#}"));
    node["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A listener on loopback that must never see a connection.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_no_connection(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("a node connected to the test's listener from {peer}"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn a_subprocess_of_a_node_cannot_reach_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    // A fresh interpreter has no audit hook: only the OS can stop it.
    let body = format!(
        "    code = 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=3)'\n    \
         r = subprocess.run([sys.executable, '-c', code], capture_output=True)\n    \
         if r.returncode == 0:\n        raise Escaped('a subprocess connected to 127.0.0.1:{port}')"
    );
    let (lake, project) = setup(tmp.path(), &body);
    let (out, run) = sluice_run(&lake, &project, &[]);
    assert_no_connection(&listener);
    assert_contained(&out, &run);
}

#[test]
fn a_node_cannot_enter_the_network_namespace_of_an_ancestor() {
    let tmp = tempfile::tempdir().unwrap();
    let (listener, port) = listener();
    // setns into the network namespace of every process it can see (its
    // ancestors first), then connect to the test's listener from a subprocess (no
    // audit hook there).
    let body = format!(
        "    libc = ctypes.CDLL(None, use_errno=True)\n    \
         pids, pid = [], os.getpid()\n    \
         while pid > 1:\n        \
         ppid = [int(l.split()[1]) for l in open(f'/proc/{{pid}}/status') if l.startswith('PPid:')][0]\n        \
         pids.append(ppid); pid = ppid\n    \
         pids += [int(p) for p in os.listdir('/proc') if p.isdigit()]\n    \
         entered = []\n    \
         for p in pids:\n        \
         try:\n            fd = os.open(f'/proc/{{p}}/ns/net', os.O_RDONLY)\n        \
         except OSError:\n            continue\n        \
         if libc.setns(fd, 0x40000000) == 0:\n            entered.append(p)\n    \
         if entered:\n        \
         code = 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=3)'\n        \
         r = subprocess.run([sys.executable, '-c', code], capture_output=True)\n        \
         raise Escaped(f'entered the network namespace of {{entered}}, connected: {{r.returncode == 0}}')"
    );
    let (lake, project) = setup(tmp.path(), &body);
    let (out, run) = sluice_run(&lake, &project, &[]);
    assert_no_connection(&listener);
    assert_contained(&out, &run);
}

#[test]
fn a_node_cannot_read_the_environment_of_other_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "    assert '{SECRET_VALUE}' not in str(os.environ)\n    \
         for p in os.listdir('/proc'):\n        \
         try:\n            data = open(f'/proc/{{p}}/environ', 'rb').read()\n        \
         except OSError:\n            continue\n        \
         if b'{SECRET_VALUE}' in data:\n            \
         raise Escaped(f'read the secret from /proc/{{p}}/environ')"
    );
    let (lake, project) = setup(tmp.path(), &body);
    let (out, run) = sluice_run(&lake, &project, &[]);
    assert_contained(&out, &run);
}

/// The processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(name);
        }
    }
    found
}

#[test]
fn a_double_forked_process_does_not_outlive_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = format!(
        "sluice-escape-{}",
        tmp.path().file_name().unwrap().to_string_lossy()
    );
    // The classic daemon: fork, setsid, fork, exec a long sleep under a name the
    // test can find.
    let body = format!(
        "    if os.fork() == 0:\n        \
         os.setsid()\n        \
         if os.fork() == 0:\n            \
         fd = os.open(os.devnull, os.O_RDWR)\n            \
         for i in (0, 1, 2):\n                os.dup2(fd, i)\n            \
         os.execv('/bin/sleep', ['{marker}', '300'])\n        \
         os._exit(0)\n    \
         time.sleep(0.5)"
    );
    let (lake, project) = setup(tmp.path(), &body);
    let (out, run) = sluice_run(&lake, &project, &[]);
    let left = processes_with(&marker);
    for pid in &left {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
    assert_contained(&out, &run);
}

#[test]
fn a_node_cannot_write_the_catalog_or_outside_its_scratch_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let lake_dir = tmp.path().join("lake");
    let outside = std::env::temp_dir().join(format!(
        "sluice-escape-{}",
        tmp.path().file_name().unwrap().to_string_lossy()
    ));
    let project_file = tmp.path().join("project").join("escaped.txt");
    let lake_file = lake_dir.join("escaped.txt");
    let body = format!(
        "    import sqlite3, glob\n    \
         done = []\n    \
         for db in glob.glob('{lake}/*.db') or ['{lake}/catalog.db']:\n        \
         try:\n            \
         con = sqlite3.connect(db)\n            \
         con.execute('create table escaped (x integer)')\n            \
         con.commit()\n            \
         done.append('wrote ' + db)\n        \
         except sqlite3.Error:\n            pass\n    \
         for path in ['{outside}', '{project_file}', '{lake_file}']:\n        \
         try:\n            \
         open(path, 'w').write('escaped')\n            \
         done.append('wrote ' + path)\n        \
         except OSError:\n            pass\n    \
         if done:\n        raise Escaped('; '.join(done))",
        lake = lake_dir.display(),
        outside = outside.display(),
        project_file = project_file.display(),
        lake_file = lake_file.display(),
    );
    let (lake, project) = setup(tmp.path(), &body);
    let (out, run) = sluice_run(&lake, &project, &[]);
    let written: Vec<&PathBuf> = [&outside, &project_file, &lake_file]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    let _ = std::fs::remove_file(&outside);
    // The catalog has no table `escaped`.
    let check = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect('{}'); \
             print(c.execute(\"select count(*) from sqlite_master where name = 'escaped'\").fetchone()[0])",
            lake_dir.join("catalog.db").display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "0",
        "{check:?}"
    );
    assert!(written.is_empty(), "the node wrote {written:?}");
    assert_contained(&out, &run);
}

#[test]
fn a_node_past_its_time_limit_is_stopped_with_its_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = format!(
        "sluice-timeout-{}",
        tmp.path().file_name().unwrap().to_string_lossy()
    );
    let body = format!(
        "    os.spawnv(os.P_NOWAIT, '/bin/sleep', ['{marker}', '300'])\n    \
         time.sleep(300)"
    );
    let (lake, project) = setup(tmp.path(), &body);
    let started = Instant::now();
    let (out, run) = sluice_run(&lake, &project, &["--node-timeout", "3s"]);
    let took = started.elapsed();
    let left = processes_with(&marker);
    for pid in &left {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    let message = node_error(&out, &run);
    assert!(
        message.contains("Python node shares ran longer than its time limit of 3s"),
        "{message}"
    );
    assert!(took < Duration::from_secs(60), "the run took {took:?}");
    assert!(left.is_empty(), "processes outlived the timeout: {left:?}");
}

#[test]
fn a_node_past_its_memory_limit_is_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    // 1 GiB, every page touched.
    let body = "    block = bytearray(1 << 30)\n    \
                for i in range(0, len(block), 4096):\n        block[i] = 1";
    let (lake, project) = setup(tmp.path(), body);
    let (out, run) = sluice_run(&lake, &project, &["--node-memory", "256MiB"]);
    let message = node_error(&out, &run);
    assert!(
        message.contains("Python node shares exceeded its memory limit of 256.0 MiB"),
        "{message}"
    );
}

#[test]
fn polars_nodes_run_under_a_modest_memory_limit_and_settings_come_from_sluice_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let body = "    import polars as pl\n    \
                big = pl.DataFrame({'a': range(2_000_000)}).with_columns(b=pl.col('a') * 2)\n    \
                assert big['b'].sum() > 0";
    let (lake, project) = setup(tmp.path(), body);
    let (out, run) = sluice_run(&lake, &project, &["--node-memory", "512MiB"]);
    assert_contained(&out, &run);

    // sluice.toml gives the limits; a bad value is an error naming the key.
    std::fs::write(
        project.join("sluice.toml"),
        "[python]\nnode_timeout = \"soon\"\n",
    )
    .unwrap();
    let (out, run) = sluice_run(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(2), "{run:#}");
    let text = run.to_string();
    assert!(
        text.contains("[python] node_timeout = \\\"soon\\\""),
        "{text}"
    );
    std::fs::write(
        project.join("sluice.toml"),
        "[python]\nnode_timeout = \"10m\"\nnode_memory = \"1GiB\"\n",
    )
    .unwrap();
    let (out, run) = sluice_run(&lake, &project, &[]);
    assert_contained(&out, &run);
}
