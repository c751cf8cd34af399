//! End-to-end tests of `sluice run` on a project in Bauplan's typed SDK
//! (tests/fixtures/run/bauplan_typed/): `TableSchema` classes, `Annotated` inputs,
//! parameters and returns, SQL `$param` placeholders, and the materialization
//! strategies (REPLACE, APPEND, NONE; OVERWRITE_PARTITIONS is refused).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use support::{head, json_of, ok_json, sluice};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run/bauplan_typed")
}

/// A lake with the `raw_orders` lake table (tests/fixtures/run/data/orders.csv) on main.
fn lake_with_raw_orders(tmp: &Path) -> PathBuf {
    let lake = tmp.join("lake");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run/data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "raw_orders"],
    );
    lake
}

/// A copy of the fixture whose file `file` has `from` replaced by `to`.
fn changed_fixture(tmp: &Path, file: &str, from: &str, to: &str) -> PathBuf {
    let project = tmp.join("project");
    support::copy_tree(&fixture(), &project);
    let path = project.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace(from, to);
    assert_ne!(text, changed, "{from:?} is not in {file}");
    std::fs::write(&path, changed).unwrap();
    project
}

fn run_json(lake: &Path, project: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["run", project.to_str().unwrap(), "--format", "json"];
    args.extend(extra);
    let out = sluice(lake, &args);
    let v = json_of(&out, "sluice run");
    (out, v)
}

/// A run that must succeed.
fn ok_run(lake: &Path, project: &Path, extra: &[&str]) -> Value {
    let (out, run) = run_json(lake, project, extra);
    assert!(
        out.status.success(),
        "{run}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

/// The rows of a query on main.
fn query(lake: &Path, sql: &str) -> Value {
    ok_json(lake, &["query", sql])
}

/// Table name -> snapshot on a ref.
fn tables(lake: &Path, reference: &str) -> Vec<(String, String)> {
    ok_json(lake, &["table", "list", "--ref", reference])
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["snapshot"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn snapshot_of(lake: &Path, table: &str) -> Option<String> {
    tables(lake, "main")
        .into_iter()
        .find(|(t, _)| t == table)
        .map(|(_, s)| s)
}

fn node<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node `{name}` in {run}"))
}

#[test]
fn a_typed_bauplan_project_publishes_replace_and_append_outputs_and_withholds_none() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    let run = ok_run(&lake, &fixture(), &[]);

    // `big_orders`: `raw_orders` projected to `OrderAmount`, `amount > $min_amount`
    // (2.0, the yml default), and the typed parameter `floor` got that value.
    assert_eq!(
        query(
            &lake,
            "SELECT id, customer, amount, doubled FROM big_orders ORDER BY id"
        ),
        json!([
            {"id": 1, "customer": "ann", "amount": 10.5, "doubled": 21.0},
            {"id": 2, "customer": "bob", "amount": 3.0, "doubled": 6.0},
            {"id": 4, "customer": "cyd", "amount": 7.25, "doubled": 14.5}
        ])
    );
    let show = ok_json(&lake, &["table", "show", "big_orders"]);
    let columns: Vec<(&str, &str, bool)> = show["schema"]
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
    assert_eq!(
        columns,
        [
            ("id", "Int64", false),
            ("customer", "Utf8", false),
            ("amount", "Float64", true),
            ("doubled", "Float64", true)
        ]
    );
    // The SQL model's `$country` and `$min_id`: the yml defaults (FR, 1); in the select
    // list, `$country` is the non-null string the checker planned it as.
    assert_eq!(
        query(&lake, "SELECT id, country FROM country_orders ORDER BY id"),
        json!([{"id": 1, "country": "FR"}, {"id": 3, "country": "FR"}])
    );
    // APPEND into a table the run creates: its rows.
    assert_eq!(
        query(&lake, "SELECT entries, ids FROM log_summary"),
        json!([{"entries": 2, "ids": 2}])
    );
    // NONE: computed and read by `staging_summary`, not published.
    assert_eq!(snapshot_of(&lake, "customer_staging"), None);
    assert_eq!(
        query(&lake, "SELECT customers, total FROM staging_summary"),
        json!([{"customers": 3, "total": 20.75}])
    );
    // The record says how each output was materialized and whether it was published.
    let staging = node(&run, "customer_staging");
    assert_eq!(staging["status"], "succeeded");
    assert_eq!(staging["materialization"], "none");
    assert_eq!(staging["published"], false);
    assert_eq!(staging["rows"], 3);
    assert_eq!(node(&run, "order_log")["materialization"], "append");
    assert_eq!(node(&run, "order_log")["published"], true);
    assert_eq!(node(&run, "big_orders")["materialization"], "replace");
    assert_eq!(node(&run, "big_orders")["published"], true);
    let withheld = run["withheld_commit"].as_str().unwrap();
    let log = ok_json(&lake, &["log", &format!("main@{withheld}"), "--limit", "1"]);
    assert_eq!(
        log[0]["properties"]["withheld"], "customer_staging",
        "{log}"
    );
    // The merge commit names the published tables only.
    let merge = ok_json(&lake, &["log", "main", "--limit", "1"]);
    let message = merge[0]["message"].as_str().unwrap();
    assert!(
        message.contains("order_log") && !message.contains("customer_staging"),
        "{message}"
    );
    // gc keeps the withheld output: a recorded commit references it.
    ok_json(&lake, &["gc", "--older-than", "0s"]);
    let commit = staging["commit"].as_str().unwrap();
    let kept = ok_json(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM customer_staging",
            "--ref",
            &format!("main@{commit}"),
        ],
    );
    assert_eq!(kept, json!([{"n": 3}]));

    // Again: APPEND adds the same rows to the table as it is now, and the
    // downstream node reads the whole table.
    let run = ok_run(&lake, &fixture(), &[]);
    assert_eq!(node(&run, "order_log")["rows"], 2);
    assert_eq!(
        query(&lake, "SELECT entries, ids FROM log_summary"),
        json!([{"entries": 4, "ids": 2}])
    );
    assert_eq!(
        query(&lake, "SELECT count(*) AS n FROM order_log"),
        json!([{"n": 4}])
    );
    // `--param` overrides the SQL parameters' defaults (typed as declared).
    ok_run(
        &lake,
        &fixture(),
        &["--param", "country=DE", "--param", "min_id=3"],
    );
    assert_eq!(
        query(&lake, "SELECT id FROM country_orders ORDER BY id"),
        json!([{"id": 4}])
    );
    assert_eq!(
        query(&lake, "SELECT entries, ids FROM log_summary"),
        json!([{"entries": 5, "ids": 3}])
    );
    // The text summary says which output was not published.
    let out = sluice(&lake, &["run", fixture().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok (not published: NONE)")
            && stdout.contains("ok (appended)")
            && stdout.contains("not published (materialization_strategy NONE): customer_staging"),
        "{stdout}"
    );
}

#[test]
fn a_none_output_leaves_the_targets_table_of_that_name_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    // main has a table of the NONE model's name (five rows of another schema).
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run/data/orders.csv");
    ok_json(
        &lake,
        &[
            "import",
            csv.to_str().unwrap(),
            "--table",
            "customer_staging",
        ],
    );
    let before = snapshot_of(&lake, "customer_staging").unwrap();
    let run = ok_run(&lake, &fixture(), &[]);
    assert_eq!(node(&run, "customer_staging")["published"], false);
    assert_eq!(snapshot_of(&lake, "customer_staging"), Some(before));
    // The run's downstream node read the run's rows, not main's table.
    assert_eq!(
        query(&lake, "SELECT customers FROM staging_summary"),
        json!([{"customers": 3}])
    );
    // Reverting the run restores its published tables only.
    let id = run["id"].as_str().unwrap();
    let reverted = ok_json(&lake, &["revert", "--run", &id[..12], "--into", "main"]);
    let reverted_tables = reverted["tables"].as_array().unwrap();
    assert!(
        !reverted_tables.contains(&json!("customer_staging")),
        "{reverted}"
    );
    assert!(snapshot_of(&lake, "customer_staging").is_some());
    assert_eq!(snapshot_of(&lake, "big_orders"), None);
}

#[test]
fn overwrite_partitions_is_refused_before_anything_executes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    let project = changed_fixture(
        tmp.path(),
        "models/order_log.sql",
        "materialization_strategy = APPEND",
        "materialization_strategy = OVERWRITE_PARTITIONS\n-- bauplan: partitioned_by = customer",
    );
    let before = head(&lake, "main");
    let (out, err) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err["error"]["kind"], "unsupported");
    assert_eq!(
        err["error"]["message"],
        "`order_log` (models/order_log.sql:4): materialization_strategy OVERWRITE_PARTITIONS is not \
         supported by sluice yet; use REPLACE or APPEND"
    );
    assert_eq!(head(&lake, "main"), before);
    assert_eq!(ok_json(&lake, &["runs"]).as_array().unwrap().len(), 0);
}

#[test]
fn an_append_adds_non_null_rows_to_a_tables_nullable_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    // main's `order_log`: the five orders, every column nullable (a CSV import).
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run/data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "order_log"],
    );
    let before = ok_json(&lake, &["table", "show", "order_log"])["schema"].clone();
    ok_run(&lake, &fixture(), &[]);
    assert_eq!(
        query(&lake, "SELECT entries, ids FROM log_summary"),
        json!([{"entries": 7, "ids": 5}])
    );
    assert_eq!(
        ok_json(&lake, &["table", "show", "order_log"])["schema"],
        before
    );
}

#[test]
fn an_append_to_a_table_of_another_schema_fails_naming_node_file_and_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    // main's `order_log` has other columns than the node's output.
    let csv = tmp.path().join("log.csv");
    std::fs::write(&csv, "id,customer,note\n1,ann,first\n").unwrap();
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "order_log"],
    );
    let before_head = head(&lake, "main");
    let before = tables(&lake, "main");
    let (out, run) = run_json(&lake, &fixture(), &[]);
    assert_eq!(out.status.code(), Some(1), "{run}");
    assert_eq!(run["status"], "failed");
    let error = &node(&run, "order_log")["error"];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "`order_log` (models/order_log.sql:3) has materialization_strategy APPEND, but its \
             output's schema differs from table `order_log` at the run's base: "
        ) && message.contains("the output lacks the table's column `note`")
            && message.contains("the output has column `amount` (Float64), the table has not")
            && message.contains("column `id` is non-null in the output, nullable in the table"),
        "{message}"
    );
    assert_eq!(error["location"]["file"], "models/order_log.sql");
    assert_eq!(head(&lake, "main"), before_head);
    assert_eq!(tables(&lake, "main"), before);
}

#[test]
fn a_sql_parameter_without_a_value_stops_the_run_before_anything_executes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_raw_orders(tmp.path());
    let project = changed_fixture(tmp.path(), "bauplan_project.yml", "    default: FR\n", "");
    let before = head(&lake, "main");
    let (out, err) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err["error"]["kind"], "parameter");
    assert_eq!(
        err["error"]["message"],
        "`country_orders` (models/country_orders.sql:2): the query uses `$country`, the run \
         parameter `country`, which has no value: `country` has no default in \
         bauplan_project.yml: pass `--param country=VALUE`, or give it a `default:`"
    );
    assert_eq!(head(&lake, "main"), before);
    assert_eq!(ok_json(&lake, &["runs"]).as_array().unwrap().len(), 0);
    // Given on the command line, it runs.
    ok_run(&lake, &project, &["--param", "country=IT"]);
    assert_eq!(
        query(&lake, "SELECT id, customer FROM country_orders"),
        json!([{"id": 5, "customer": "dee"}])
    );
}
