//! A Ballista cluster of `sluice cluster` processes on 127.0.0.1 for the end-to-end
//! tests, and what they compare runs with. Every process is killed when dropped,
//! and every wait has a deadline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{json_of, run_until};

/// A cluster process, killed when dropped; its stderr goes to a file.
pub struct Proc {
    pub child: Child,
    stderr: PathBuf,
}

impl Proc {
    pub fn start(args: &[&str], logs: &Path, name: &str) -> Proc {
        Proc::start_in(args, logs, name, None)
    }

    /// [`Proc::start`] with `TMPDIR` set to `tmp` (where an executor keeps its
    /// work folder), when given.
    pub fn start_in(args: &[&str], logs: &Path, name: &str, tmp: Option<&Path>) -> Proc {
        let stderr = logs.join(format!("{name}.stderr"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        if let Some(tmp) = tmp {
            command.env("TMPDIR", tmp);
        }
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        Proc { child, stderr }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for a stderr line containing `marker`, at most `deadline`; fails if
    /// the process exits first.
    pub fn wait_for_line(&mut self, marker: &str, deadline: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains(marker)) {
                return line.to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited ({status}) before printing `{marker}`:\n{}",
                    self.stderr()
                );
            }
            assert!(
                started.elapsed() < deadline,
                "no `{marker}` within {deadline:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the exit, at most `deadline` (then `None`).
    pub fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `GET path` from `addr` over HTTP/1.1, `None` on any failure.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let socket = addr.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// A scheduler on a free port (with `args` too), and its HOST:PORT once it listens.
pub fn start_scheduler(logs: &Path, args: &[&str]) -> (Proc, String) {
    let mut all = vec!["cluster", "scheduler", "--bind", "127.0.0.1:0"];
    all.extend(args);
    let mut scheduler = Proc::start(&all, logs, "scheduler");
    let line = scheduler.wait_for_line("listening on ", Duration::from_secs(60));
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .to_string();
    (scheduler, addr)
}

/// A scheduler and two executors (two task slots each), every executor registered.
pub struct Cluster {
    pub scheduler: Proc,
    pub executors: Vec<Proc>,
    /// The scheduler's HOST:PORT.
    pub addr: String,
    /// Each executor's `TMPDIR`, which holds its work folder (its shuffle files).
    pub executor_tmp: Vec<PathBuf>,
}

impl Cluster {
    pub fn start(logs: &Path) -> Cluster {
        Cluster::start_with(logs, &[])
    }

    /// [`Cluster::start`] with `scheduler_args` for the scheduler.
    pub fn start_with(logs: &Path, scheduler_args: &[&str]) -> Cluster {
        let (scheduler, addr) = start_scheduler(logs, scheduler_args);
        let executor_tmp: Vec<PathBuf> = (0..2)
            .map(|i| {
                let tmp = logs.join(format!("executor{i}-tmp"));
                std::fs::create_dir_all(&tmp).expect("executor TMPDIR");
                tmp
            })
            .collect();
        let mut executors: Vec<Proc> = (0..2)
            .map(|i| {
                Proc::start_in(
                    &[
                        "cluster",
                        "executor",
                        "--scheduler",
                        &addr,
                        "--bind",
                        "127.0.0.1:0",
                        "--concurrency",
                        "2",
                    ],
                    logs,
                    &format!("executor{i}"),
                    Some(&executor_tmp[i]),
                )
            })
            .collect();
        for executor in &mut executors {
            executor.wait_for_line("serving on 127.0.0.1:", Duration::from_secs(60));
        }
        // Both executors registered: the scheduler's readiness probe counts them.
        let started = Instant::now();
        loop {
            let ready = http_get(&addr, "/readyz").unwrap_or_default();
            if ready.contains("ready: 2 executors registered") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "executors never registered: {ready}\nscheduler:\n{}",
                scheduler.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Cluster {
            scheduler,
            executors,
            addr,
            executor_tmp,
        }
    }
}

/// `sluice query SQL --format json` (on `engine` when given), with a deadline.
pub fn query(lake: &Path, sql: &str, engine: Option<&str>) -> (Option<i32>, Value, String) {
    query_at(lake, sql, "main", engine)
}

/// [`query`] at `reference`.
pub fn query_at(
    lake: &Path,
    sql: &str,
    reference: &str,
    engine: Option<&str>,
) -> (Option<i32>, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args([
        "query", sql, "--ref", reference, "--format", "json", "--lake",
    ])
    .arg(lake)
    .env_remove("SLUICE_LAKE")
    .env_remove("SLUICE_ENGINE");
    if let Some(engine) = engine {
        cmd.args(["--engine", engine]);
    }
    let done = run_until(&mut cmd, Duration::from_secs(180), "sluice query");
    let code = done.status.and_then(|s| s.code());
    let value = serde_json::from_str(&done.stdout).unwrap_or(Value::Null);
    (code, value, done.report())
}

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// `sluice run PROJECT --ref BRANCH --format json` with `args`, `SLUICE_ENGINE` set to
/// `env_engine` (else unset), with a deadline: exit code and the run's document.
pub fn run(
    lake: &Path,
    project: &Path,
    branch: &str,
    args: &[&str],
    env_engine: Option<&str>,
) -> (Option<i32>, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("run")
        .arg(project)
        .args(["--ref", branch, "--format", "json", "--lake"])
        .arg(lake)
        .args(args)
        .env_remove("SLUICE_LAKE")
        .env_remove("SLUICE_ENGINE");
    if let Some(engine) = env_engine {
        cmd.env("SLUICE_ENGINE", engine);
    }
    let done = run_until(&mut cmd, Duration::from_secs(600), "sluice run");
    let code = done.status.and_then(|s| s.code());
    let value = serde_json::from_str(&done.stdout).unwrap_or(Value::Null);
    (code, value, done.report())
}

/// Every row of `table` at `reference`, ordered by all its columns (local engine).
pub fn all_rows(lake: &Path, table: &str, reference: &str) -> Vec<Value> {
    let sql = format!("SELECT * FROM {table}");
    let out = super::sluice(
        lake,
        &["query", &sql, "--ref", reference, "--format", "json"],
    );
    let columns = json_of(&out, table)[0]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert!(columns > 0, "{table} at {reference} has no rows");
    let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
    let sql = format!("SELECT * FROM {table} ORDER BY {}", order.join(", "));
    let out = super::sluice(
        lake,
        &["query", &sql, "--ref", reference, "--format", "json"],
    );
    json_of(&out, table).as_array().cloned().unwrap_or_default()
}

/// Equal rows, floats within a relative 1e-9 (partial sums add up in another order
/// on another partitioning).
pub fn same_rows(a: &[Value], b: &[Value]) -> bool {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// An address nothing listens on: bound, then released.
pub fn dead_engine() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("ballista://127.0.0.1:{port}")
}

/// The published tables of a run's document, sorted.
pub fn published(run: &Value) -> Vec<String> {
    let mut names: Vec<String> = run["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter(|n| n["published"] == true)
                .filter_map(|n| n["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The runs `local` (on branch `local`) and `remote` (on branch `cluster`) of
/// examples/tpch published the same four tables with the same rows.
pub fn assert_same_publication(lake: &Path, local: &Value, remote: &Value) {
    assert_eq!(published(local), published(remote));
    assert_eq!(published(remote).len(), 4, "{remote}");
    for table in published(remote) {
        let (l, r) = (
            all_rows(lake, &table, "local"),
            all_rows(lake, &table, "cluster"),
        );
        assert!(same_rows(&l, &r), "{table}:\nlocal {l:?}\ncluster {r:?}");
    }
}

/// examples/tpch run on branch `local` of `lake` in this process, and on branch
/// `cluster` on `cluster` (`--engine`, `SLUICE_ENGINE` set to `env_engine`): both
/// must succeed and publish the same rows. The cluster run's document.
pub fn run_tpch_here_and_on(lake: &Path, cluster: &Cluster, env_engine: Option<&str>) -> Value {
    let tpch = example("tpch");
    let (code, local, report) = run(lake, &tpch, "local", &[], None);
    assert_eq!(code, Some(0), "local run\n{report}");
    let engine = format!("ballista://{}", cluster.addr);
    let (code, remote, report) = run(lake, &tpch, "cluster", &["--engine", &engine], env_engine);
    assert_eq!(
        code,
        Some(0),
        "cluster run\n{report}\nscheduler:\n{}",
        cluster.scheduler.stderr()
    );
    assert_same_publication(lake, &local, &remote);
    remote
}
