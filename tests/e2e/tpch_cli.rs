//! End-to-end tests of `sluice tpchgen` and of the TPC-H examples the README's demo
//! runs (examples/tpch publishes, examples/tpch_fail fails in its last node and
//! leaves `main` unchanged), driving the real binary.

mod support;

use std::path::{Path, PathBuf};

use support::{head, json, ok_json, sluice};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn table_rows(lake: &Path, reference: &str) -> Vec<(String, u64)> {
    ok_json(lake, &["table", "list", "--ref", reference])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Row counts of TPC-H at scale factor 0.01 (fixed by the specification).
const SF001_ROWS: [(&str, u64); 8] = [
    ("customer", 1_500),
    ("lineitem", 60_175),
    ("nation", 25),
    ("orders", 15_000),
    ("part", 2_000),
    ("partsupp", 8_000),
    ("region", 5),
    ("supplier", 100),
];

#[test]
fn tpchgen_loads_all_eight_tables_in_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let out = ok_json(&lake, &["tpchgen", "--scale", "0.01"]);
    assert_eq!(out["tables"].as_array().unwrap().len(), 8);
    // One commit on top of the lake's initial one holds every table.
    let log = ok_json(&lake, &["log", "main"]);
    assert_eq!(log.as_array().unwrap().len(), 2, "{log}");
    assert_eq!(log[0]["hash"], out["commit"]);
    let expected: Vec<(String, u64)> = SF001_ROWS
        .iter()
        .map(|(t, n)| (t.to_string(), *n))
        .collect();
    assert_eq!(table_rows(&lake, "main"), expected);
    // Strings are stored as the lake's Utf8, not the generator's Utf8View.
    let show = ok_json(&lake, &["table", "show", "lineitem"]);
    let types: Vec<(&str, &str, bool)> = show["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(types.contains(&("l_comment", "Utf8", false)), "{types:?}");
    assert!(
        types.contains(&("l_quantity", "Decimal128(15, 2)", false)),
        "{types:?}"
    );
    assert!(
        types.contains(&("l_shipdate", "Date32", false)),
        "{types:?}"
    );
}

#[test]
fn tpchgen_is_deterministic_whatever_the_parallelism() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    // Parts of 20,000 rows cut lineitem into four, generated concurrently or one by
    // one, against lineitem generated whole.
    ok_json(
        &lake,
        &[
            "tpchgen",
            "--scale",
            "0.01",
            "--tables",
            "lineitem",
            "--jobs",
            "2",
            "--part-rows",
            "20000",
        ],
    );
    let files = ok_json(&lake, &["table", "show", "lineitem"])["files"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(files, 4);
    for (branch, args) in [
        ("serial", ["--jobs", "1", "--part-rows", "20000"]),
        ("whole", ["--jobs", "2", "--part-rows", "1000000"]),
    ] {
        ok_json(&lake, &["branch", "create", branch]);
        let mut all = vec![
            "tpchgen",
            "--scale",
            "0.01",
            "--tables",
            "lineitem",
            "--replace",
            "--branch",
            branch,
        ];
        all.extend(args);
        ok_json(&lake, &all);
    }
    let sql = "SELECT COUNT(*) AS n, SUM(l_orderkey) AS keys, SUM(l_extendedprice) AS price, \
               MIN(l_comment) AS lo, MAX(l_comment) AS hi FROM lineitem";
    let parallel = ok_json(&lake, &["query", sql]);
    assert_eq!(parallel, ok_json(&lake, &["query", sql, "--ref", "serial"]));
    assert_eq!(parallel, ok_json(&lake, &["query", sql, "--ref", "whole"]));
    assert_eq!(parallel[0]["n"], 60_175);
}

#[test]
fn tpchgen_refuses_bad_input_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    for (args, code, message) in [
        (vec!["--scale", "0"], 2, "--scale must be a number above 0"),
        (
            vec!["--scale", "NaN"],
            2,
            "--scale must be a number above 0",
        ),
        (
            vec!["--tables", "lineitem,items"],
            2,
            "unknown TPC-H table `items`",
        ),
        (vec!["--jobs", "0"], 2, "--jobs must be at least 1"),
        (
            vec!["--part-rows", "0"],
            2,
            "--part-rows must be at least 1",
        ),
        (vec!["--branch", "nope"], 2, "nope"),
    ] {
        let mut all = vec!["tpchgen"];
        all.extend(&args);
        let out = sluice(&lake, &all);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // Nothing was written by the refused commands: main holds no table.
    ok_json(
        &lake,
        &["tpchgen", "--scale", "0.01", "--tables", "nation,region"],
    );
    let before = head(&lake, "main");
    // An existing table is refused unless --replace is given.
    let (out, err) = json(&lake, &["tpchgen", "--scale", "0.01", "--tables", "region"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err["error"]["kind"], "exists");
    assert_eq!(head(&lake, "main"), before);
    ok_json(
        &lake,
        &[
            "tpchgen",
            "--scale",
            "0.01",
            "--tables",
            "region",
            "--replace",
        ],
    );
    assert_ne!(head(&lake, "main"), before);
}

#[test]
fn the_tpch_example_publishes_and_the_failing_example_leaves_main_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ok_json(&lake, &["tpchgen", "--scale", "0.01"]);
    let base = head(&lake, "main");

    let (out, run) = json(&lake, &["run", example("tpch").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{run}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["status"], "succeeded");
    let published = head(&lake, "main");
    assert_eq!(run["result_commit"], published.as_str());
    let log = ok_json(&lake, &["log", "main", "--limit", "1"]);
    assert_eq!(log[0]["parents"][0], base.as_str());
    let added: Vec<String> = ok_json(&lake, &["diff", &base, &published])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["table"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        added,
        [
            "nation_revenue",
            "nation_revenue_share",
            "pricing_summary",
            "shipping_priority"
        ]
    );
    // The results are TPC-H's: Q1 has four groups, Q3 ten orders, and every
    // region's shares add up to 1.
    let q1 = ok_json(
        &lake,
        &["query", "SELECT COUNT(*) AS n FROM pricing_summary"],
    );
    assert_eq!(q1[0]["n"], 4);
    let q3 = ok_json(
        &lake,
        &["query", "SELECT COUNT(*) AS n FROM shipping_priority"],
    );
    assert_eq!(q3[0]["n"], 10);
    let shares = ok_json(
        &lake,
        &[
            "query",
            "SELECT r_name, SUM(share) AS s, MIN(rank_in_region) AS first FROM nation_revenue_share \
             GROUP BY r_name ORDER BY r_name",
        ],
    );
    assert_eq!(shares.as_array().unwrap().len(), 5, "{shares}");
    for region in shares.as_array().unwrap() {
        assert!(
            (region["s"].as_f64().unwrap() - 1.0).abs() < 1e-9,
            "{region}"
        );
        assert_eq!(region["first"], 1);
    }

    // The failing example: its last node yields null tiers for the third of the
    // customers who never ordered.
    let before = table_rows(&lake, "main");
    let (out, run) = json(&lake, &["run", example("tpch_fail").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{run}");
    assert_eq!(run["status"], "failed");
    let nodes = run["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["name"], "customer_orders");
    assert_eq!(nodes[0]["status"], "succeeded");
    assert_eq!(nodes[1]["name"], "customer_tiers");
    assert_eq!(nodes[1]["status"], "failed");
    let violation = &nodes[1]["error"]["violations"][0];
    assert_eq!(violation["kind"], "nulls");
    assert_eq!(violation["column"], "tier");
    assert_eq!(violation["nulls"], 500);
    assert_eq!(violation["rows"], 1_500);
    assert_eq!(head(&lake, "main"), published);
    assert_eq!(table_rows(&lake, "main"), before);
}
