//! Several OS processes on one lake: concurrent committers and mergers (no
//! lost update, no reader sees half a multi-table commit), and writers
//! killed with SIGKILL (the catalog stays consistent; gc removes orphans).
//!
//! The test binary re-invokes itself: `worker_entry` does the work of one
//! process when `SLUICE_TEST_WORKER` is set, and nothing otherwise.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestLake, stage};
use sluice_lake::{CatalogConfig, CommitRequest, Lake, LakeConfig, MergeRequest, TableChange};

const WORKER_ENV: &str = "SLUICE_TEST_WORKER";

fn spawn_worker(t: &TestLake, role: &str, id: usize, extra: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "worker_entry", "--nocapture", "--test-threads=1"])
        .env(WORKER_ENV, role)
        .env("SLUICE_TEST_WORKER_ID", id.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match &t.config.catalog {
        CatalogConfig::Sqlite(p) => {
            cmd.env("SLUICE_LAKE", p.parent().unwrap());
            cmd.env_remove("SLUICE_DATA");
        }
        CatalogConfig::Postgres(url) => {
            cmd.env("SLUICE_LAKE", url);
            cmd.env("SLUICE_DATA", t.config.data.clone().unwrap());
        }
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn worker process")
}

/// The value after `tag` on a line printed by a worker (the test harness
/// may print `test worker_entry ... ` on the same line first).
fn tagged(line: &str, tag: &str) -> Option<i64> {
    let (_, rest) = line.rsplit_once(tag)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Keys of the `OK <key>` lines printed by a worker.
fn ok_keys(output: &str) -> Vec<i64> {
    output.lines().filter_map(|l| tagged(l, "OK ")).collect()
}

async fn keys(lake: &Lake, reference: &str, table: &str) -> BTreeSet<i64> {
    common::rows(lake, reference, table)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect()
}

#[test]
fn worker_entry() {
    let Ok(role) = std::env::var(WORKER_ENV) else {
        return; // a normal test run: nothing to do
    };
    let id: i64 = std::env::var("SLUICE_TEST_WORKER_ID")
        .unwrap()
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let config = LakeConfig::from_env(None).unwrap();
        let lake = Lake::open(&config).await.unwrap();
        let mut out = std::io::stdout();
        match role.as_str() {
            // Appends one key to BOTH t and u in one commit, 6 times.
            "appender" => {
                for i in 0..6 {
                    let key = id * 1000 + i;
                    let a = stage(&lake, "t", &[key], "w").await;
                    let b = stage(&lake, "u", &[key], "w").await;
                    lake.commit(
                        CommitRequest::new("main", &format!("worker {id} key {key}"))
                            .change("t", TableChange::Append(a))
                            .change("u", TableChange::Append(b)),
                    )
                    .await
                    .unwrap();
                    writeln!(out, "OK {key}").unwrap();
                    out.flush().unwrap();
                }
            }
            // Works on its own branch, then merges it into main, 3 times.
            "merger" => {
                let table = format!("w{id}");
                for i in 0..3 {
                    let key = id * 1000 + i;
                    let branch = format!("work-{id}-{i}");
                    lake.create_branch(&branch, "main").await.unwrap();
                    let s = stage(&lake, &table, &[key], "m").await;
                    let head = lake.branch_head(&branch).await.unwrap();
                    let change = if head.tables().contains_key(&table) {
                        TableChange::Append(s)
                    } else {
                        TableChange::Create(s)
                    };
                    lake.commit(CommitRequest::new(&branch, "work").change(&table, change))
                        .await
                        .unwrap();
                    lake.merge(MergeRequest::new(&branch, "main"))
                        .await
                        .unwrap();
                    lake.delete_branch(&branch).await.unwrap();
                    writeln!(out, "OK {key}").unwrap();
                    out.flush().unwrap();
                }
            }
            // Reads main over and over: t and u must always hold the same keys.
            "reader" => {
                let deadline = Instant::now() + Duration::from_secs(60);
                let stop = std::env::var("SLUICE_TEST_STOP_FILE").unwrap();
                let mut reads = 0;
                while Instant::now() < deadline && !Path::new(&stop).exists() {
                    let r = lake.resolve("main").await.unwrap();
                    let at = format!("@{}", r.commit.id);
                    let t = keys(&lake, &at, "t").await;
                    let u = keys(&lake, &at, "u").await;
                    assert_eq!(t, u, "half-applied multi-table commit visible at {at}");
                    reads += 1;
                }
                writeln!(out, "\nREADS {reads}").unwrap();
            }
            // Stages and commits in a loop until killed.
            "crasher" => {
                for i in 0.. {
                    let key = id * 100_000 + i;
                    let a = stage(&lake, "t", &[key], "c").await;
                    if i % 2 == 0 {
                        writeln!(out, "STAGED {key}").unwrap();
                        out.flush().unwrap();
                    }
                    let b = stage(&lake, "u", &[key], "c").await;
                    lake.commit(
                        CommitRequest::new("main", "crasher")
                            .change("t", TableChange::Append(a))
                            .change("u", TableChange::Append(b)),
                    )
                    .await
                    .unwrap();
                    writeln!(out, "OK {key}").unwrap();
                    out.flush().unwrap();
                }
            }
            // Imports a large CSV in a loop until killed.
            "importer" => {
                let csv = std::env::var("SLUICE_TEST_CSV").unwrap();
                for i in 0.. {
                    writeln!(out, "STARTED {i}").unwrap();
                    out.flush().unwrap();
                    lake.import_file(
                        Path::new(&csv),
                        &format!("imp{id}_{i}"),
                        "main",
                        sluice_lake::ImportMode::Create,
                    )
                    .await
                    .unwrap();
                    writeln!(out, "OK {i}").unwrap();
                    out.flush().unwrap();
                }
            }
            other => panic!("unknown worker role {other}"),
        }
    });
}

async fn setup_tu(lake: &Lake) {
    let a = stage(lake, "t", &[0], "z").await;
    let b = stage(lake, "u", &[0], "z").await;
    lake.commit(
        CommitRequest::new("main", "setup")
            .change("t", TableChange::Create(a))
            .change("u", TableChange::Create(b)),
    )
    .await
    .unwrap();
}

async fn concurrent_processes(backend: Backend) {
    let Some(t) = common::new_lake(backend).await else {
        common::skip_message("concurrent_processes");
        return;
    };
    setup_tu(&t.lake).await;
    let stop = t.dir.path().join("stop");
    let reader = spawn_worker(
        &t,
        "reader",
        99,
        &[("SLUICE_TEST_STOP_FILE", stop.display().to_string())],
    );
    let mut workers = Vec::new();
    for id in 1..=3 {
        workers.push(spawn_worker(&t, "appender", id, &[]));
    }
    for id in 4..=5 {
        workers.push(spawn_worker(&t, "merger", id, &[]));
    }
    let mut appended = BTreeSet::from([0i64]);
    let mut merged: Vec<(usize, Vec<i64>)> = Vec::new();
    for (n, w) in workers.into_iter().enumerate() {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "worker {n} failed");
        let ks = ok_keys(&String::from_utf8_lossy(&out.stdout));
        if n < 3 {
            assert_eq!(ks.len(), 6);
            appended.extend(ks);
        } else {
            assert_eq!(ks.len(), 3);
            merged.push((n + 1, ks));
        }
    }
    std::fs::write(&stop, b"").unwrap();
    let out = reader.wait_with_output().unwrap();
    assert!(out.status.success(), "reader saw a half-applied commit");
    let reads = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(reads.contains("READS"), "{reads}");

    // Every successful operation is visible on main: no lost update.
    let lake = &t.lake;
    assert_eq!(keys(lake, "main", "t").await, appended);
    assert_eq!(keys(lake, "main", "u").await, appended);
    for (id, ks) in merged {
        let got = keys(lake, "main", &format!("w{id}")).await;
        assert_eq!(got, ks.into_iter().collect::<BTreeSet<_>>());
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_sqlite() {
    concurrent_processes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_processes_postgres() {
    concurrent_processes(Backend::Postgres).await;
}

async fn killed_writers(backend: Backend) {
    let Some(t) = common::new_lake(backend).await else {
        common::skip_message("killed_writers");
        return;
    };
    setup_tu(&t.lake).await;
    let mut committed = BTreeSet::from([0i64]);
    for round in 0..4u64 {
        let mut child = spawn_worker(&t, "crasher", round as usize + 1, &[]);
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Wait for a varying number of STAGED lines, then kill at once: the
        // writer is between writing data files and committing, or inside
        // the commit, or staging the next table.
        let mut staged = 0;
        let target = 1 + round % 3;
        let mut last_ok = Vec::new();
        while staged < target {
            let Some(Ok(line)) = lines.next() else { break };
            if tagged(&line, "STAGED ").is_some() {
                staged += 1;
            } else if let Some(k) = tagged(&line, "OK ") {
                last_ok.push(k);
            }
        }
        std::thread::sleep(Duration::from_millis(round * 3));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        for line in lines.map_while(Result::ok) {
            if let Some(k) = tagged(&line, "OK ") {
                last_ok.push(k);
            }
        }
        committed.extend(last_ok);
    }

    // The catalog is consistent: every head loads, t and u agree, every
    // commit acknowledged with OK is there, every referenced file exists.
    let lake = t.reopen().await;
    let t_keys = keys(&lake, "main", "t").await;
    let u_keys = keys(&lake, "main", "u").await;
    assert_eq!(t_keys, u_keys, "multi-table commit half applied");
    assert!(
        committed.is_subset(&t_keys),
        "an acknowledged commit was lost"
    );
    let log = lake.log("main", None).await.unwrap();
    assert!(log.len() >= 2);
    let snapshots = lake.catalog().all_snapshots().await.unwrap();
    let referenced: BTreeSet<String> = snapshots
        .iter()
        .flat_map(|s| s.content.files.iter().map(|f| f.path.clone()))
        .collect();
    for f in &referenced {
        assert!(lake.data().exists(f).await.unwrap(), "{f} missing");
    }
    // The object store's listing hides the temporary `…#N` file of a write the
    // kill interrupted; gc finds and removes those too, so count them here.
    let mut all: BTreeSet<String> = lake
        .data()
        .list_data_files()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    all.extend(
        lake.data()
            .list_temporary_files()
            .unwrap()
            .into_iter()
            .map(|(path, _)| path),
    );
    let orphans: BTreeSet<String> = all.difference(&referenced).cloned().collect();
    assert!(
        !orphans.is_empty(),
        "killed writers leave staged files behind"
    );

    // gc with a long grace period keeps them; after it, they are removed.
    let r = lake.gc(Duration::from_secs(3600)).await.unwrap();
    assert!(r.deleted.is_empty());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = lake.gc(Duration::from_millis(20)).await.unwrap();
    assert_eq!(r.deleted.iter().cloned().collect::<BTreeSet<_>>(), orphans);
    let left: BTreeSet<String> = lake
        .data()
        .list_data_files()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    assert_eq!(left, referenced);
    assert_eq!(lake.data().list_temporary_files().unwrap(), vec![]);
    assert_eq!(
        keys(&lake, "main", "t").await,
        t_keys,
        "gc changed what main reads"
    );
    // every old commit still reads
    for e in &log {
        if lake
            .commit_by_id(&e.hash)
            .await
            .unwrap()
            .tables()
            .contains_key("t")
        {
            keys(&lake, &format!("@{}", e.hash), "t").await;
        }
    }
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_sqlite() {
    killed_writers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_postgres() {
    killed_writers(Backend::Postgres).await;
}

/// Every file under the data folder, temporary upload names (`…#N`, which
/// object_store's listings hide) and `.partial` copies included.
fn files_on_disk(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.map_while(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

/// Issue 10: a killed import left a `…parquet#1` file gc never removed.
/// Imports SIGKILLed at varying points leave registrations and partial files
/// behind; after the grace period gc removes every one of them, and only
/// referenced files remain.
async fn killed_imports(backend: Backend) {
    let Some(t) = common::new_lake(backend).await else {
        common::skip_message("killed_imports");
        return;
    };
    let mut csv = String::from("k,v\n");
    for i in 0..300_000 {
        csv.push_str(&format!("{i},value number {i}\n"));
    }
    let csv_path = common::write_file(t.dir.path(), "big.csv", &csv);
    for round in 0..5u64 {
        let mut child = spawn_worker(
            &t,
            "importer",
            round as usize + 1,
            &[("SLUICE_TEST_CSV", csv_path.display().to_string())],
        );
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut started = 0;
        while started < 1 + round % 2 {
            let Some(Ok(line)) = lines.next() else { break };
            if tagged(&line, "STARTED ").is_some() {
                started += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(40 * round));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    // A temporary upload of a killed writer, as object_store leaves it.
    let data = t.data_dir();
    let planted = format!("tables/imp9/{}.parquet#1", uuid::Uuid::new_v4());
    std::fs::create_dir_all(data.join("tables/imp9")).unwrap();
    std::fs::write(data.join(&planted), b"partial").unwrap();

    let lake = t.reopen().await;
    let referenced = common::referenced_files(&lake).await;
    let r = lake.gc(Duration::from_secs(3600)).await.unwrap();
    assert!(r.deleted.is_empty(), "{r:?}");
    assert!(files_on_disk(&data).contains(&planted));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = lake.gc(Duration::from_millis(20)).await.unwrap();
    assert!(r.deleted.contains(&planted), "{r:?}");
    assert_eq!(files_on_disk(&data), referenced, "leftovers remain");
    assert!(
        lake.catalog().pending_files(0).await.unwrap().is_empty(),
        "registrations of killed writers remain"
    );
    assert!(lake.fsck(None).await.unwrap().is_clean());
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_imports_sqlite() {
    killed_imports(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_imports_postgres() {
    killed_imports(Backend::Postgres).await;
}
