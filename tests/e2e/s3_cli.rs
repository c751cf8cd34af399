//! End-to-end tests of the `sluice` binary with the lake's data in an
//! S3-compatible store (`SLUICE_DATA=s3://bucket/prefix`, the catalog in a
//! local folder): import, branch, query, merge, time travel, gc and `sluice
//! run`.
//!
//! They run when `SLUICE_TEST_S3_ENDPOINT` is set (`.ci/run` starts a local
//! `moto_server` and sets it) and are skipped with a message otherwise. As in
//! production, the S3 client of `sluice` is configured only by the `AWS_*`
//! environment variables, which must point at that endpoint. Each test gets a
//! fresh bucket (an unsigned `PUT`, which moto accepts) or, with
//! `SLUICE_TEST_S3_BUCKET`, a fresh prefix in that existing bucket.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::s3::S3Lake;
use support::{head, json_of, sluice};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/run")
        .join(name)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn count(lake: &S3Lake, sql: &str, reference: &str) -> i64 {
    let rows = lake.ok_json(&["query", sql, "--ref", reference]);
    rows[0]["n"]
        .as_i64()
        .unwrap_or_else(|| panic!("{sql}: {rows}"))
}

/// Imports the run fixture's `orders` table into a new lake, creating it with
/// `SLUICE_DATA`.
fn create_with_orders(lake: &S3Lake) -> Value {
    let csv = fixture("data/orders.csv");
    let out = lake.run_with_data(&[
        "import",
        csv.to_str().unwrap(),
        "--table",
        "orders",
        "--format",
        "json",
    ]);
    let v = json_of(&out, "sluice import");
    assert!(
        out.status.success(),
        "import into {} failed: {}\n{v}",
        lake.data_uri(),
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

#[test]
fn import_branch_query_merge_and_gc_on_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(lake) = S3Lake::new(tmp.path(), "import_branch_query_merge_and_gc_on_s3") else {
        return;
    };
    let imported = create_with_orders(&lake);
    assert_eq!(imported["rows"], 5);
    let first = lake.data_files();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("tables/orders/"), "{first:?}");
    let c1 = head(&lake.dir, "main");

    // From here on the catalog alone says where the data is.
    let branch = lake.ok_json(&["branch", "create", "dev", "--from", "main"]);
    assert_eq!(branch["name"], "dev");
    assert_eq!(lake.data_files(), first, "a branch copies no data");
    let more = write(
        tmp.path(),
        "more.csv",
        "id,customer,amount,country\n6,dan,2.5,FR\n",
    );
    lake.ok_json(&[
        "import", &more, "--table", "orders", "--branch", "dev", "--mode", "append",
    ]);
    let users = write(tmp.path(), "users.jsonl", "{\"id\":1,\"name\":\"ann\"}\n");
    lake.ok_json(&["import", &users, "--table", "users", "--branch", "dev"]);
    assert_eq!(lake.data_files().len(), 3);

    let n = "SELECT count(*) AS n FROM orders";
    assert_eq!(count(&lake, n, "main"), 5);
    assert_eq!(count(&lake, n, "dev"), 6);
    let joined = lake.ok_json(&[
        "query",
        "SELECT o.id, u.name FROM orders o JOIN users u ON o.id = u.id",
        "--ref",
        "dev",
    ]);
    assert_eq!(joined, serde_json::json!([{"id": 1, "name": "ann"}]));
    let diff = lake.ok_json(&["diff", "main", "dev"]);
    assert_eq!(diff[0]["table"], "orders");
    assert_eq!(diff[0]["rows_after"], 6);
    assert_eq!(diff[1]["status"], "added");

    // A change on main too, so the merge is a three-way merge commit.
    let fx = write(tmp.path(), "fx.csv", "currency,rate\nEUR,1.0\n");
    lake.ok_json(&["import", &fx, "--table", "fx"]);
    let merged = lake.ok_json(&["merge", "dev", "--into", "main", "-m", "merge dev"]);
    assert_eq!(merged["kind"], "merged", "{merged}");
    assert_eq!(count(&lake, n, "main"), 6);
    let totals = lake.ok_json(&[
        "query",
        "SELECT country, SUM(amount) AS total FROM orders GROUP BY country ORDER BY country",
    ]);
    assert_eq!(
        totals,
        serde_json::json!([
            {"country": "DE", "total": 10.25},
            {"country": "FR", "total": 14.5},
            {"country": "IT", "total": 2.0},
        ])
    );
    let tables = lake.ok_json(&["table", "list"]);
    assert_eq!(tables.as_array().unwrap().len(), 3, "{tables}");
    // Time travel reads the first file again.
    assert_eq!(count(&lake, n, &format!("@{c1}")), 5);
    let show = lake.ok_json(&["table", "show", "orders"]);
    assert_eq!(show["rows"], 6);
    assert_eq!(show["files"].as_array().unwrap().len(), 2);

    // gc over S3: an orphan (a crashed writer's file) is listed, kept while
    // young, then deleted; every referenced file stays.
    let orphan = "tables/orders/00000000-orphan.parquet".to_string();
    lake.rt
        .block_on(lake.store().put(&orphan, b"partial".to_vec().into()))
        .unwrap();
    let referenced = lake.data_files().len() - 1;
    let kept = lake.ok_json(&["gc"]);
    assert_eq!(kept["deleted"].as_array().unwrap().len(), 0);
    assert_eq!(kept["too_recent"], 1);
    assert_eq!(kept["referenced"], referenced);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let r = lake.ok_json(&["gc", "--older-than", "10ms"]);
    assert_eq!(r["deleted"], serde_json::json!([orphan]));
    assert_eq!(r["referenced"], referenced);
    assert!(!lake.rt.block_on(lake.store().exists(&orphan)).unwrap());
    assert_eq!(lake.data_files().len(), referenced);
    assert_eq!(count(&lake, n, "main"), 6);
    assert_eq!(count(&lake, n, &format!("@{c1}")), 5);
    lake.finish(&[]);
}

#[test]
fn a_run_reads_and_publishes_through_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(lake) = S3Lake::new(tmp.path(), "a_run_reads_and_publishes_through_s3") else {
        return;
    };
    create_with_orders(&lake);
    let before = head(&lake.dir, "main");
    let project = fixture("orders");
    let out = sluice(
        &lake.dir,
        &["run", project.to_str().unwrap(), "--format", "json"],
    );
    let run = json_of(&out, "sluice run");
    assert!(
        out.status.success(),
        "{}\n{run}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["base_commit"], before.as_str());
    let log = lake.ok_json(&["log", "main", "--limit", "1"]);
    assert_eq!(log[0]["hash"], run["result_commit"]);
    assert_eq!(log[0]["properties"]["published_run"], run["id"]);
    // The nodes read `orders` from S3 and wrote their tables there.
    let rows = lake.ok_json(&[
        "query",
        "SELECT country, total, customers FROM country_totals ORDER BY country",
    ]);
    assert_eq!(
        rows,
        serde_json::json!([
            {"country": "DE", "total": 10.25, "customers": 2},
            {"country": "FR", "total": 12.0, "customers": 1},
            {"country": "IT", "total": 2.0, "customers": 1},
        ])
    );
    let files = lake.data_files();
    for table in ["orders", "customer_totals", "country_totals"] {
        assert!(
            files
                .iter()
                .any(|f| f.starts_with(&format!("tables/{table}/"))),
            "{table}: {files:?}"
        );
    }
    let id = run["id"].as_str().unwrap();
    let shown = lake.ok_json(&["runs", "show", &id[..12]]);
    assert_eq!(shown["nodes"][0]["name"], "customer_totals");
    assert_eq!(shown["nodes"][0]["rows"], 4);
    // The run's code archive is in the store too.
    let code = format!("runs/{id}/code.tar.gz");
    assert!(
        lake.rt.block_on(lake.store().exists(&code)).unwrap(),
        "{code} missing"
    );
    lake.finish(&[code]);
}
