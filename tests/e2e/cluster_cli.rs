//! End-to-end test of `sluice cluster`: a scheduler and two executors as separate
//! processes on 127.0.0.1, and TPC-H-like queries (joins, aggregates) giving the
//! same rows through `sluice query --engine ballista://…` as run locally. Every
//! process is killed when the test ends, and every wait has a deadline.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{json_of, ok_json, run_until};

/// A cluster process, killed when dropped; its stderr goes to a file.
struct Proc {
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn start(args: &[&str], logs: &Path, name: &str) -> Proc {
        let stderr = logs.join(format!("{name}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        Proc { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for a stderr line containing `marker`, at most `deadline`; fails if
    /// the process exits first.
    fn wait_for_line(&mut self, marker: &str, deadline: Duration) -> String {
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
    fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
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
fn http_get(addr: &str, path: &str) -> Option<String> {
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

/// A scheduler on a free port, and its HOST:PORT once it listens.
fn start_scheduler(logs: &Path) -> (Proc, String) {
    let mut scheduler = Proc::start(
        &["cluster", "scheduler", "--bind", "127.0.0.1:0"],
        logs,
        "scheduler",
    );
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
struct Cluster {
    scheduler: Proc,
    executors: Vec<Proc>,
    /// The scheduler's HOST:PORT.
    addr: String,
}

impl Cluster {
    fn start(logs: &Path) -> Cluster {
        let (scheduler, addr) = start_scheduler(logs);
        let mut executors: Vec<Proc> = (0..2)
            .map(|i| {
                Proc::start(
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
        }
    }
}

/// `sluice query SQL --format json` (on `engine` when given), with a deadline.
fn query(lake: &Path, sql: &str, engine: Option<&str>) -> (Option<i32>, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["query", sql, "--format", "json", "--lake"])
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

const QUERIES: [&str; 4] = [
    // Q1: pricing summary (scan, filter, grouped aggregates).
    "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, \
     sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, avg(l_discount) AS avg_disc, \
     count(*) AS count_order FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' \
     GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus",
    // Q3: shipping priority (three-way join, aggregate, top 10).
    "SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, \
     o_shippriority FROM customer, orders, lineitem WHERE c_mktsegment = 'BUILDING' \
     AND c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < DATE '1995-03-15' \
     AND l_shipdate > DATE '1995-03-15' GROUP BY l_orderkey, o_orderdate, o_shippriority \
     ORDER BY revenue DESC, o_orderdate, l_orderkey LIMIT 10",
    // Q5: local supplier volume (six-way join).
    "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue \
     FROM customer, orders, lineitem, supplier, nation, region \
     WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey \
     AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey \
     AND n_regionkey = r_regionkey AND r_name = 'ASIA' \
     AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01' \
     GROUP BY n_name ORDER BY revenue DESC, n_name",
    // Q13-like: an outer join and a count of counts.
    "SELECT c_count, count(*) AS custdist FROM (SELECT c_custkey, count(o_orderkey) AS c_count \
     FROM customer LEFT OUTER JOIN orders ON c_custkey = o_custkey \
     AND o_comment NOT LIKE '%special%requests%' GROUP BY c_custkey) AS c_orders \
     GROUP BY c_count ORDER BY custdist DESC, c_count DESC",
];

#[test]
fn queries_on_a_cluster_of_separate_processes_match_local_results() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.01"]);

    let Cluster {
        mut scheduler,
        executors,
        addr,
    } = Cluster::start(tmp.path());

    let engine = format!("ballista://{addr}");
    for sql in QUERIES {
        let (code, local, report) = query(&lake, sql, None);
        assert_eq!(code, Some(0), "local: {sql}\n{report}");
        let rows = local.as_array().map_or(0, Vec::len);
        assert!(rows > 0, "no rows locally: {sql}\n{local}");
        let (code, remote, report) = query(&lake, sql, Some(&engine));
        assert_eq!(
            code,
            Some(0),
            "cluster: {sql}\n{report}\nscheduler:\n{}",
            scheduler.stderr()
        );
        assert_eq!(remote, local, "{sql}");
    }

    // The lake's own errors stand on the cluster: an unknown table is named.
    let (code, err, report) = query(&lake, "SELECT * FROM nope", Some(&engine));
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(err["error"]["kind"], "table_not_found", "{err}");

    // SIGTERM stops every process cleanly: executors first, then the scheduler.
    for (i, mut executor) in executors.into_iter().enumerate() {
        let status = executor.terminate(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "executor {i}: {status:?}\n{}",
            executor.stderr()
        );
    }
    let status = scheduler.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "scheduler: {status:?}\n{}",
        scheduler.stderr()
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// `sluice run PROJECT --ref BRANCH --format json` with `args`, `SLUICE_ENGINE` set to
/// `env_engine` (else unset), with a deadline: exit code and the run's document.
fn run(
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
fn all_rows(lake: &Path, table: &str, reference: &str) -> Vec<Value> {
    let sql = format!("SELECT * FROM {table}");
    let out = support::sluice(
        lake,
        &["query", &sql, "--ref", reference, "--format", "json"],
    );
    let columns = json_of(&out, table)[0]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert!(columns > 0, "{table} at {reference} has no rows");
    let order: Vec<String> = (1..=columns).map(|i| i.to_string()).collect();
    let sql = format!("SELECT * FROM {table} ORDER BY {}", order.join(", "));
    let out = support::sluice(
        lake,
        &["query", &sql, "--ref", reference, "--format", "json"],
    );
    json_of(&out, table).as_array().cloned().unwrap_or_default()
}

/// Equal rows, floats within a relative 1e-9 (partial sums add up in another order
/// on another partitioning).
fn same_rows(a: &[Value], b: &[Value]) -> bool {
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
fn dead_engine() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("ballista://127.0.0.1:{port}")
}

#[test]
fn a_run_on_the_cluster_publishes_what_a_local_run_does_and_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.01"]);
    for branch in ["local", "cluster", "broken"] {
        ok_json(&lake, &["branch", "create", branch]);
    }
    let cluster = Cluster::start(tmp.path());
    let engine = format!("ballista://{}", cluster.addr);
    let tpch = example("tpch");

    let (code, local, report) = run(&lake, &tpch, "local", &[], None);
    assert_eq!(code, Some(0), "local run\n{report}");
    // The flag wins over SLUICE_ENGINE (which names no cluster at all).
    let (code, remote, report) = run(
        &lake,
        &tpch,
        "cluster",
        &["--engine", &engine],
        Some(&dead_engine()),
    );
    assert_eq!(
        code,
        Some(0),
        "cluster run\n{report}\nscheduler:\n{}",
        cluster.scheduler.stderr()
    );
    assert_eq!(remote["status"], "succeeded");
    assert_eq!(
        remote["result_commit"],
        support::head(&lake, "cluster").as_str()
    );
    assert_eq!(published(&local), published(&remote));
    assert_eq!(published(&remote).len(), 4, "{remote}");
    for table in published(&remote) {
        let (l, r) = (
            all_rows(&lake, &table, "local"),
            all_rows(&lake, &table, "cluster"),
        );
        assert!(same_rows(&l, &r), "{table}:\nlocal {l:?}\ncluster {r:?}");
    }

    // A SQL node failing on the cluster (a cast that fails on the executors, over an
    // output of the same run) fails the run naming it; the target stays as it was.
    let project = tmp.path().join("tpch_boom");
    support::copy_tree(&tpch, &project);
    let mut schemas = std::fs::read_to_string(project.join("schemas.py")).unwrap();
    schemas.push_str("\n\nclass Boom(Schema):\n    flag: int\n");
    std::fs::write(project.join("schemas.py"), schemas).unwrap();
    std::fs::write(
        project.join("boom.sql"),
        "-- boom: Boom <- pricing_summary\nSELECT CAST(l_returnflag AS BIGINT) AS flag FROM pricing_summary\n",
    )
    .unwrap();
    let before = support::head(&lake, "broken");
    // SLUICE_ENGINE alone chooses the cluster.
    let (code, failed, report) = run(&lake, &project, "broken", &[], Some(&engine));
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(failed["status"], "failed", "{failed}");
    let boom = failed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "boom")
        .unwrap_or_else(|| panic!("no node boom: {failed}"));
    assert_eq!(boom["status"], "failed", "{boom}");
    let message = boom["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("`boom` failed")
            && message.contains("Cannot cast")
            && message.contains(&format!("(on {engine})")),
        "{boom}"
    );
    assert_eq!(support::head(&lake, "broken"), before);

    // With no scheduler at the engine's address, the first SQL node fails, named.
    let dead = dead_engine();
    let (code, failed, report) = run(&lake, &tpch, "broken", &["--engine", &dead], None);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(failed["status"], "failed", "{failed}");
    let errors: Vec<(&str, &str)> = failed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "failed")
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default(),
                n["error"]["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        !errors.is_empty()
            && errors.iter().all(|(name, message)| {
                message.starts_with(&format!("`{name}` failed"))
                    && message.contains(&format!("(on {dead})"))
            }),
        "{failed}"
    );
    assert_eq!(support::head(&lake, "broken"), before);
}

/// The published tables of a run's document, sorted.
fn published(run: &Value) -> Vec<String> {
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

#[test]
fn run_parameters_and_append_outputs_on_the_cluster_match_a_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run");
    let csv = root.join("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "raw_orders"],
    );
    for branch in ["local", "cluster"] {
        ok_json(&lake, &["branch", "create", branch]);
    }
    let cluster = Cluster::start(tmp.path());
    let engine = format!("ballista://{}", cluster.addr);
    let project = root.join("bauplan_typed");
    // Typed parameters in the SQL (`$country`, `$min_id`) and an APPEND node.
    let params = ["--param", "country=DE", "--param", "min_id=3"];
    // Twice on each branch: the second run appends to the first one's log.
    for _ in 0..2 {
        let (code, _, report) = run(&lake, &project, "local", &params, None);
        assert_eq!(code, Some(0), "local run\n{report}");
        let mut on_cluster = params.to_vec();
        on_cluster.extend(["--engine", engine.as_str()]);
        let (code, remote, report) = run(&lake, &project, "cluster", &on_cluster, None);
        assert_eq!(
            code,
            Some(0),
            "cluster run\n{report}\nscheduler:\n{}",
            cluster.scheduler.stderr()
        );
        assert!(
            published(&remote).contains(&"country_orders".to_string()),
            "{remote}"
        );
    }
    let orders = all_rows(&lake, "country_orders", "cluster");
    assert_eq!(
        orders,
        [serde_json::json!({"id": 4, "customer": "cyd", "amount": 7.25, "country": "DE"})]
    );
    let tables = ok_json(&lake, &["table", "list", "--ref", "cluster"]);
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"order_log"), "{tables}");
    for table in names {
        let (l, r) = (
            all_rows(&lake, table, "local"),
            all_rows(&lake, table, "cluster"),
        );
        assert!(same_rows(&l, &r), "{table}:\nlocal {l:?}\ncluster {r:?}");
    }
    assert_eq!(all_rows(&lake, "order_log", "cluster").len(), 2);
}

#[test]
fn query_takes_its_engine_from_sluice_engine_unless_the_flag_says_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.01", "--tables", "nation"]);
    let query_with_env = |env: &str, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args([
            "query",
            "SELECT count(*) AS n FROM nation",
            "--format",
            "json",
            "--lake",
        ])
        .arg(&lake)
        .args(args)
        .env_remove("SLUICE_LAKE")
        .env("SLUICE_ENGINE", env);
        run_until(&mut cmd, Duration::from_secs(120), "sluice query")
    };
    // A bad SLUICE_ENGINE is a usage error naming the variable.
    let done = query_with_env("spark://x:1", &[]);
    assert_eq!(
        done.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        done.report()
    );
    assert!(done.stderr.contains("SLUICE_ENGINE"), "{}", done.report());
    // A cluster nobody runs is used, and fails...
    let done = query_with_env(&dead_engine(), &[]);
    assert_eq!(
        done.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        done.report()
    );
    // ...unless --engine local overrides it.
    let done = query_with_env(&dead_engine(), &["--engine", "local"]);
    done.assert_success("query --engine local");
    assert_eq!(
        serde_json::from_str::<Value>(&done.stdout).unwrap()[0]["n"],
        25
    );
}

#[test]
fn a_bad_engine_url_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.01"]);
    for engine in ["ballista://127.0.0.1", "spark://x:1", "ballista://h:0"] {
        let (code, _, report) = query(&lake, "SELECT 1", Some(engine));
        assert_eq!(code, Some(2), "{engine}: {report}");
    }
    let out = support::sluice(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM nation",
            "--engine",
            "local",
            "--format",
            "json",
        ],
    );
    assert_eq!(json_of(&out, "local engine")[0]["n"], 25);
}

#[test]
fn an_executor_without_a_scheduler_gives_up_at_its_deadline() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let scheduler = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args([
        "cluster",
        "executor",
        "--scheduler",
        &scheduler,
        "--connect-timeout",
        "1",
    ]);
    let done = run_until(&mut cmd, Duration::from_secs(60), "sluice cluster executor");
    assert_eq!(
        done.status.and_then(|s| s.code()),
        Some(2),
        "{}",
        done.report()
    );
    assert!(
        done.stderr.contains("no scheduler answered"),
        "{}",
        done.report()
    );
}

/// A scheduler with no executor would hold a query until one registers: a query or a
/// run on it is refused at once instead, naming the cluster and how to add an
/// executor, and the run's target is untouched.
#[test]
fn a_cluster_without_executors_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.001"]);
    let (mut scheduler, addr) = start_scheduler(tmp.path());
    let engine = format!("ballista://{addr}");

    let (code, value, report) = query(&lake, "SELECT count(*) FROM nation", Some(&engine));
    assert_eq!(code, Some(1), "{report}");
    let message = value["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no executor") && message.contains(&addr),
        "{report}"
    );

    let before = support::head(&lake, "main");
    let (code, value, report) = run(
        &lake,
        &example("tpch"),
        "main",
        &["--engine", &engine],
        None,
    );
    assert_ne!(code, Some(0), "{report}");
    assert!(value.to_string().contains("no executor"), "{report}");
    assert_eq!(support::head(&lake, "main"), before);
    scheduler.terminate(Duration::from_secs(30));
}

/// `engine = "..."` in a project's sluice.toml is where its SQL runs, unless
/// `SLUICE_ENGINE` or `--engine` says otherwise; a bad value names sluice.toml.
#[test]
fn sluice_toml_names_the_engine_below_the_variable_and_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("o.csv"), "id\n1\n").unwrap();
    let dead = dead_engine();
    std::fs::write(
        dir.join("sluice.toml"),
        format!("lake = \"lake\"\nengine = \"{dead}\"\n"),
    )
    .unwrap();
    let sluice = |args: &[&str], env_engine: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(args)
            .current_dir(dir)
            .env_remove("SLUICE_LAKE")
            .env_remove("SLUICE_ENGINE");
        if let Some(e) = env_engine {
            cmd.env("SLUICE_ENGINE", e);
        }
        let done = run_until(&mut cmd, Duration::from_secs(120), "sluice");
        (done.status.and_then(|s| s.code()), done.report())
    };
    let (code, report) = sluice(&["import", "o.csv", "--table", "t"], None);
    assert_eq!(code, Some(0), "{report}");
    // The project's engine is used: nothing listens there.
    let (code, report) = sluice(&["query", "SELECT * FROM t"], None);
    assert_eq!(code, Some(1), "{report}");
    // The variable and the flag each win over it.
    let (code, report) = sluice(&["query", "SELECT * FROM t"], Some("local"));
    assert_eq!(code, Some(0), "{report}");
    let (code, report) = sluice(&["query", "SELECT * FROM t", "--engine", "local"], None);
    assert_eq!(code, Some(0), "{report}");
    std::fs::write(
        dir.join("sluice.toml"),
        "lake = \"lake\"\nengine = \"spark\"\n",
    )
    .unwrap();
    let (code, report) = sluice(&["query", "SELECT * FROM t"], None);
    assert_eq!(code, Some(2), "{report}");
    assert!(
        report.contains("sluice.toml `engine`: unknown engine `spark`"),
        "{report}"
    );
}
