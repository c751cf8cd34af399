//! End-to-end tests of a run on a cluster that loses executors while it runs: a
//! scheduler and two executors as separate processes on 127.0.0.1, `sluice run
//! examples/tpch --engine ballista://…` started, and an executor killed (SIGKILL) as
//! soon as it has run a task of the run's. The run's target branch must then be
//! either exactly as it was (the run failed, naming the node and the engine) or
//! exactly what a local run publishes (Ballista ran the lost tasks again); when
//! every executor is killed the run must fail in bounded time, never hang. Every
//! process is killed when the test ends, and every wait has a deadline.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{Cluster, Proc, assert_same_publication, example};
use support::{head, ok_json};

/// A scheduler that declares an executor lost after 10 s unheard (the shortest it
/// takes), so that the tests wait seconds rather than the default 30 s.
const SCHEDULER_ARGS: [&str; 2] = ["--executor-timeout", "10"];

/// The TPC-H scale of the tests' lake: large enough that each of the run's SQL
/// nodes keeps the executors busy for a while.
const SCALE: &str = "0.1";

/// `sluice run` in the background, its output going to files.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    fn start(lake: &Path, project: &Path, branch: &str, engine: &str, logs: &Path) -> Running {
        let (stdout, stderr) = (logs.join("run.stdout"), logs.join("run.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg(project)
            .args(["--ref", branch, "--format", "json", "--engine", engine])
            .arg("--lake")
            .arg(lake)
            .env_remove("SLUICE_LAKE")
            .env_remove("SLUICE_ENGINE")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start sluice run");
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn report(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }

    /// Waits until one of the executors whose `TMPDIR`s are `tmp` has run a task (its
    /// work folder holds a job's files), the run still going, and returns its index;
    /// panics if the run ends first or nothing runs within `deadline`.
    fn wait_for_a_task_on(&mut self, tmp: &[PathBuf], deadline: Duration) -> usize {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the run ended ({status}) before a task ran on the executor: the lake is \
                     too small for the test\n{}",
                    self.report()
                );
            }
            if let Some(i) = tmp.iter().position(|t| has_job_files(t)) {
                return i;
            }
            assert!(
                started.elapsed() < deadline,
                "no task ran within {deadline:?}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the run to end, at most `deadline` (then kills it and panics): its
    /// exit code and document.
    fn finish(mut self, deadline: Duration) -> (Option<i32>, Value, String) {
        let started = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if started.elapsed() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the run still ran after {deadline:?}\n{}", self.report());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stdout = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (status.code(), value, self.report())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an executor whose `TMPDIR` is `tmp` has a job's files in its work
/// folder (`sluice-executor-*/<job>/…`).
fn has_job_files(tmp: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return false;
    };
    entries.flatten().any(|work| {
        work.file_name()
            .to_string_lossy()
            .starts_with("sluice-executor-")
            && std::fs::read_dir(work.path()).is_ok_and(|mut jobs| jobs.next().is_some())
    })
}

/// A lake at [`SCALE`] with examples/tpch run locally on branch `local` (and that
/// run's document), and a branch `cluster` for the run under test.
fn lake_with_a_local_run(tmp: &Path) -> (PathBuf, Value) {
    let lake = tmp.join("lake");
    ok_json(&lake, &["tpchgen", "--scale", SCALE]);
    for branch in ["local", "cluster"] {
        ok_json(&lake, &["branch", "create", branch]);
    }
    let out = support::sluice(
        &lake,
        &[
            "run",
            example("tpch").to_str().unwrap(),
            "--ref",
            "local",
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "local run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = support::json_of(&out, "local run");
    (lake, run)
}

/// The run's failed nodes, each `(name, message)`.
fn failures(run: &Value) -> Vec<(String, String)> {
    run["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter(|n| n["status"] == "failed")
                .map(|n| {
                    (
                        n["name"].as_str().unwrap_or_default().to_string(),
                        n["error"]["message"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every data file every branch and tag reads is there and whole.
fn assert_fsck_clean(lake: &Path) {
    let out = support::sluice(lake, &["fsck"]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What became of a run on a cluster some of whose processes were killed.
struct Outcome {
    code: Option<i32>,
    doc: Value,
    report: String,
    /// The run's engine, `ballista://HOST:PORT`.
    engine: String,
}

impl Outcome {
    /// The run failed (exit 1), each failed node's message naming the node and the
    /// engine and containing every one of `says`, and `branch` of `lake` is still
    /// at `before`: nothing was published.
    fn assert_failed_and_unpublished(&self, lake: &Path, before: &str, says: &[&str]) {
        assert_eq!(self.code, Some(1), "{}", self.report);
        assert_eq!(self.doc["status"], "failed", "{}", self.report);
        let failed = failures(&self.doc);
        assert!(!failed.is_empty(), "{}", self.report);
        for (name, message) in &failed {
            assert!(
                message.starts_with(&format!("`{name}` failed"))
                    && message.contains(&self.engine)
                    && says.iter().all(|s| message.contains(s)),
                "{name}: {message}"
            );
        }
        assert_eq!(head(lake, "cluster"), before, "{}", self.report);
    }
}

/// Starts a cluster and `sluice run PROJECT` on branch `cluster` of `lake` on it;
/// once an executor has run a task of the run's, `kill` gets the cluster and that
/// executor's index (and `settle` passes first). Then waits for the run to end, at
/// most `deadline`.
fn run_and_kill(
    tmp: &Path,
    lake: &Path,
    project: &Path,
    settle: Duration,
    deadline: Duration,
    kill: impl FnOnce(&mut Cluster, usize),
) -> Outcome {
    let mut cluster = Cluster::start_with(tmp, &SCHEDULER_ARGS);
    let engine = format!("ballista://{}", cluster.addr);
    let mut running = Running::start(lake, project, "cluster", &engine, tmp);
    let busy = running.wait_for_a_task_on(&cluster.executor_tmp, Duration::from_secs(300));
    std::thread::sleep(settle);
    kill(&mut cluster, busy);
    let killed = Instant::now();
    let (code, doc, report) = running.finish(deadline);
    eprintln!(
        "{:?} after the kill: exit {code:?}, failures {:?}",
        killed.elapsed(),
        failures(&doc)
    );
    let report = format!("{report}\nscheduler:\n{}", cluster.scheduler.stderr());
    Outcome {
        code,
        doc,
        report,
        engine,
    }
}

/// SIGKILL, and the exit collected.
fn sigkill(process: &mut Proc) {
    process.child.kill().expect("SIGKILL");
    let _ = process.child.wait();
}

#[test]
fn an_executor_killed_mid_run_leaves_the_target_unchanged_or_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let (lake, local) = lake_with_a_local_run(tmp.path());
    let before = head(&lake, "cluster");
    let outcome = run_and_kill(
        tmp.path(),
        &lake,
        &example("tpch"),
        Duration::ZERO,
        Duration::from_secs(600),
        |cluster, busy| sigkill(&mut cluster.executors[busy]),
    );
    match outcome.code {
        // Ballista ran the lost executor's tasks again: exactly what a local run
        // publishes.
        Some(0) => {
            assert_eq!(outcome.doc["status"], "succeeded", "{}", outcome.report);
            assert_eq!(
                outcome.doc["result_commit"],
                head(&lake, "cluster").as_str()
            );
            assert_same_publication(&lake, &local, &outcome.doc);
        }
        // It could not: the run failed, naming the node and the engine, and the
        // target is exactly as it was.
        _ => outcome.assert_failed_and_unpublished(&lake, &before, &[]),
    }
    assert_fsck_clean(&lake);
}

/// Runs examples/tpch on a cluster, `kill`s processes of it once a task ran, and
/// checks the run failed in bounded time, each failed node's message containing
/// every one of `says`, with nothing published and fsck clean.
fn tpch_run_fails_when(kill: impl FnOnce(&mut Cluster, usize), says: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let (lake, _) = lake_with_a_local_run(tmp.path());
    let before = head(&lake, "cluster");
    let deadline = Duration::from_secs(240);
    let outcome = run_and_kill(
        tmp.path(),
        &lake,
        &example("tpch"),
        Duration::ZERO,
        deadline,
        kill,
    );
    outcome.assert_failed_and_unpublished(&lake, &before, says);
    assert_fsck_clean(&lake);
}

/// The scheduler notices within its executor timeout (10 s) and fails the job after as
/// long again; the client gives a query up after 30 s without an executor. Far below
/// the deadline either way.
#[test]
fn losing_every_executor_fails_the_run_in_bounded_time_and_leaves_the_target() {
    tpch_run_fails_when(
        |cluster, _| cluster.executors.iter_mut().for_each(sigkill),
        &["executor"],
    );
}

/// The client's calls to the scheduler fail, or its watch gives up after 30 s.
#[test]
fn a_scheduler_killed_mid_run_fails_the_run_and_leaves_the_target() {
    tpch_run_fails_when(|cluster, _| sigkill(&mut cluster.scheduler), &[]);
}

/// A project whose second SQL node starts only after a slow Python node: `a` (SQL)
/// then `slow` (Python, sleeping `SLOW_SECONDS`) then `b` (SQL).
fn project_with_a_slow_middle(dir: &Path) -> PathBuf {
    let project = dir.join("slow_middle");
    std::fs::create_dir_all(&project).unwrap();
    let files = [
        (
            "schemas.py",
            "from sluice import Schema, Source\n\n\nclass Nation(Schema):\n    \
             n_nationkey: int\n    n_name: str\n    n_regionkey: int\n    n_comment: str\n\n\n\
             class Name(Schema):\n    n_nationkey: int\n    n_name: str\n\n\n\
             nation = Source(Nation)\n",
        ),
        (
            "a.sql",
            "-- a: Name <- nation\nSELECT n_nationkey, n_name FROM nation\n",
        ),
        (
            "slow.py",
            "import time\n\nfrom schemas import Name\n\n\n\
             def slow(names: Name = a) -> Name:\n    time.sleep(SLOW_SECONDS)\n    return names\n",
        ),
        (
            "b.sql",
            "-- b: Name <- slow\nSELECT n_nationkey, n_name FROM slow\n",
        ),
    ];
    for (name, text) in files {
        let text = text.replace("SLOW_SECONDS", &SLOW_SECONDS.to_string());
        std::fs::write(project.join(name), text).unwrap();
    }
    project
}

/// How long the middle node of [`project_with_a_slow_middle`] sleeps: longer than
/// the scheduler takes to declare killed executors lost (10 s and its check).
const SLOW_SECONDS: u64 = 25;

/// Executors lost while no query is on the cluster (a Python node runs): the next
/// SQL node's query would wait in the scheduler's queue until an executor registers.
/// The client gives it up instead (30 s without an executor), naming the cluster.
#[test]
fn a_query_sent_after_every_executor_was_lost_fails_instead_of_waiting() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(
        &lake,
        &["tpchgen", "--scale", "0.001", "--tables", "nation"],
    );
    ok_json(&lake, &["branch", "create", "cluster"]);
    let before = head(&lake, "cluster");
    // `a` runs on the cluster and is done well before the Python node ends.
    let outcome = run_and_kill(
        tmp.path(),
        &lake,
        &project_with_a_slow_middle(tmp.path()),
        Duration::from_secs(3),
        Duration::from_secs(240),
        |cluster, _| cluster.executors.iter_mut().for_each(sigkill),
    );
    let failed = failures(&outcome.doc);
    assert_eq!(
        failed
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["b"],
        "{}",
        outcome.report
    );
    let engine = outcome.engine.clone();
    outcome.assert_failed_and_unpublished(
        &lake,
        &before,
        &[
            &format!("the cluster at {engine} could not run the query"),
            "it had no executor for 30 s",
            "sluice cluster executor --scheduler",
        ],
    );
    assert_fsck_clean(&lake);
}
