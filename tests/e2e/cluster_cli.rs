//! End-to-end test of `sluice cluster`: a scheduler and two executors as separate
//! processes on 127.0.0.1, and TPC-H-like queries (joins, aggregates) giving the
//! same rows through `sluice query --engine ballista://…` as run locally. Every
//! process is killed when the test ends, and every wait has a deadline.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::cluster::{
    Cluster, all_rows, dead_engine, example, published, query, query_at, run, run_tpch_here_and_on,
    same_rows, start_scheduler,
};
use support::s3::S3Lake;
use support::{json_of, ok_json, run_until};

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
        ..
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

    // The flag wins over SLUICE_ENGINE (which names no cluster at all).
    let remote = run_tpch_here_and_on(&lake, &cluster, Some(&dead_engine()));
    assert_eq!(remote["status"], "succeeded");
    assert_eq!(
        remote["result_commit"],
        support::head(&lake, "cluster").as_str()
    );

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

    // With no scheduler at the engine's address, the run is refused before anything
    // runs, saying so and how to start one.
    let dead = dead_engine();
    let (code, refused, report) = run(&lake, &tpch, "broken", &["--engine", &dead], None);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(refused["error"]["kind"], "cluster", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("no scheduler at {dead} ("))
            && message.contains("sluice cluster scheduler --bind 127.0.0.1:"),
        "{refused}"
    );
    assert_eq!(support::head(&lake, "broken"), before);
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

    // No order is from XX: `country_orders` becomes a table with no data files,
    // which the APPEND node then reads on the cluster, as does a query.
    let empty = [
        "--param",
        "country=XX",
        "--param",
        "min_id=3",
        "--engine",
        engine.as_str(),
    ];
    let (code, remote, report) = run(&lake, &project, "cluster", &empty, None);
    assert_eq!(
        code,
        Some(0),
        "cluster run over an empty table\n{report}\nscheduler:\n{}",
        cluster.scheduler.stderr()
    );
    assert_eq!(remote["status"], "succeeded", "{remote}");
    let count = |table: &str| {
        let sql = format!("SELECT count(*) AS n FROM {table}");
        let (code, rows, report) = query_at(&lake, &sql, "cluster", Some(&engine));
        assert_eq!(code, Some(0), "{sql}\n{report}");
        rows[0]["n"].clone()
    };
    assert_eq!(count("country_orders"), 0);
    assert_eq!(count("order_log"), 2);
}

/// The cluster's executors read a lake whose data is in S3 (moto in CI), configured
/// by the same `AWS_*` environment as the lake itself: examples/tpch run on the
/// cluster publishes what a local run does. Skipped without an S3 endpoint.
#[test]
fn a_run_on_the_cluster_over_an_s3_lake_publishes_what_a_local_run_does() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(s3) = S3Lake::new(tmp.path(), "cluster over S3") else {
        return;
    };
    let created = s3.run_with_data(&["tpchgen", "--scale", "0.01", "--format", "json"]);
    assert!(
        created.status.success(),
        "tpchgen into {}: {}",
        s3.data_uri(),
        String::from_utf8_lossy(&created.stderr)
    );
    let lake = s3.dir.clone();
    for branch in ["local", "cluster"] {
        ok_json(&lake, &["branch", "create", branch]);
    }
    let cluster = Cluster::start(tmp.path());
    let engine = format!("ballista://{}", cluster.addr);
    run_tpch_here_and_on(&lake, &cluster, None);
    // Ad-hoc queries on the cluster read S3 too.
    let (code, rows, report) = query(&lake, "SELECT count(*) AS n FROM nation", Some(&engine));
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(rows[0]["n"], 25);
    drop(cluster);
    s3.finish(&[]);
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
    let (mut scheduler, addr) = start_scheduler(tmp.path(), &[]);
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
