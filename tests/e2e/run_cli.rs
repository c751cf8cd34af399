//! End-to-end tests of `sluice run`, `runs`, `rerun`, `revert --run` and the
//! aborted-run merge guard, driving the real binary over the fixture projects in
//! tests/fixtures/run/.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{head, json_of, ok_json, sluice};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/run")
        .join(name)
}

/// A lake with the `orders` source table on main.
fn lake_with_orders(tmp: &Path) -> PathBuf {
    let lake = tmp.join("lake");
    let csv = fixture("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "orders"],
    );
    lake
}

fn tables(lake: &Path, reference: &str) -> Vec<(String, String)> {
    let list = ok_json(lake, &["table", "list", "--ref", reference]);
    list.as_array()
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

fn run_json(lake: &Path, project: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["run", project.to_str().unwrap(), "--format", "json"];
    args.extend(extra);
    let out = sluice(lake, &args);
    let v = json_of(&out, "sluice run");
    (out, v)
}

#[test]
fn a_run_publishes_every_table_in_one_merge_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = head(&lake, "main");
    let (out, run) = run_json(&lake, &fixture("orders"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["base_commit"], before.as_str());
    let result = run["result_commit"].as_str().unwrap();
    // One new commit on main's first-parent line: the merge, with both tables.
    let log = ok_json(&lake, &["log", "main", "--limit", "1"]);
    assert_eq!(log[0]["hash"], result);
    assert_eq!(log[0]["parents"][0], before.as_str());
    assert_eq!(log[0]["properties"]["published_run"], run["id"]);
    let diff = ok_json(&lake, &["diff", &before, result]);
    let added: Vec<&str> = diff
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["table"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["country_totals", "customer_totals"]);
    // The contents are right and typed as declared.
    let rows = ok_json(
        &lake,
        &[
            "query",
            "SELECT country, total, customers FROM country_totals ORDER BY country",
        ],
    );
    assert_eq!(rows[0]["country"], "DE");
    assert_eq!(rows[0]["total"], 10.25);
    assert_eq!(rows[0]["customers"], 2);
    let show = ok_json(&lake, &["table", "show", "country_totals"]);
    let total = show["schema"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "total")
        .unwrap();
    assert_eq!(total["data_type"], "Float64");
    assert_eq!(total["nullable"], false);
    // The transactional branch is gone; the run is recorded.
    let branches = ok_json(&lake, &["branch", "list"]);
    assert_eq!(branches.as_array().unwrap().len(), 1, "{branches}");
    let runs = ok_json(&lake, &["runs"]);
    assert_eq!(runs[0]["id"], run["id"]);
    assert_eq!(runs[0]["status"], "succeeded");
    let id = run["id"].as_str().unwrap();
    let shown = ok_json(&lake, &["runs", "show", &id[..12]]);
    assert_eq!(shown["nodes"][0]["name"], "customer_totals");
    assert_eq!(shown["nodes"][0]["rows"], 4);
    assert_eq!(shown["plan"]["version"], 1);
}

#[test]
fn a_failure_in_the_last_node_leaves_the_target_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before_head = head(&lake, "main");
    let before_tables = tables(&lake, "main");
    let (out, run) = run_json(&lake, &fixture("orders_fail_last"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(run["status"], "failed");
    assert_eq!(head(&lake, "main"), before_head);
    assert_eq!(tables(&lake, "main"), before_tables);
    // The first node succeeded on the run's branch, the last failed.
    assert_eq!(run["nodes"][0]["status"], "succeeded");
    assert_eq!(run["nodes"][1]["status"], "failed");
    let violation = &run["nodes"][1]["error"]["violations"][0];
    assert_eq!(violation["kind"], "nulls");
    assert_eq!(violation["column"], "total");
    assert_eq!(violation["nulls"], 1);
    assert_eq!(violation["rows"], 3);
    // The human message names the node, file, table and column, and the branch.
    let out = sluice(
        &lake,
        &["run", fixture("orders_fail_last").to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed in node `country_totals` (country_totals.sql:1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "table `country_totals`: column `total` is declared non-null but 1 of 3 rows are null"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("`main` is unchanged"), "{stderr}");
    // The failed run's branch is kept, with the first node's output and the rows
    // that broke the last one's contract, in a commit marked aborted.
    let branch = run["branch"].as_str().unwrap();
    let kept: Vec<String> = tables(&lake, branch).into_iter().map(|t| t.0).collect();
    assert_eq!(kept, ["country_totals", "customer_totals", "orders"]);
    let rejected = &run["nodes"][1]["error"]["rejected_output"];
    assert_eq!(rejected["rows"], 3, "{}", run["nodes"][1]);
    assert_eq!(run["nodes"][1]["commit"], rejected["commit"]);
    let log = ok_json(&lake, &["log", branch, "--limit", "1"]);
    assert_eq!(log[0]["hash"], rejected["commit"]);
    assert_eq!(log[0]["marks"]["aborted"], run["id"], "{log}");
    // The failure says how to read them, and that query works as written.
    assert!(
        stderr.contains("(3 rows) is kept on `run/")
            && stderr.contains("marked aborted (it can never be merged)")
            && stderr.contains("\"SELECT * FROM country_totals LIMIT 20\""),
        "{stderr}"
    );
    let nulls = ok_json(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM country_totals WHERE total IS NULL",
            "--ref",
            branch,
        ],
    );
    assert_eq!(nulls[0]["n"], 1, "{nulls}");
    // It can never be merged.
    let out = sluice(
        &lake,
        &["merge", branch, "--into", "main", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out, "merge")["error"]["kind"], "unpublished_run");
    assert_eq!(head(&lake, "main"), before_head);
}

#[test]
fn an_aborted_runs_commits_cannot_be_merged_even_through_another_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (_, run) = run_json(&lake, &fixture("orders_fail_last"), &[]);
    let branch = run["branch"].as_str().unwrap();
    let before = head(&lake, "main");
    let refused = |out: &Output, what: &str| {
        assert_eq!(out.status.code(), Some(1), "{what}");
        let err = json_of(out, what);
        assert_eq!(err["error"]["kind"], "unpublished_run", "{what}: {err}");
        assert_eq!(err["error"]["detail"]["run"], run["id"], "{what}");
        assert_eq!(head(&lake, "main"), before, "{what}");
    };
    // The paper's counterexample: branch from the failed run, merge that branch.
    // Forking it is refused; a tag (read-only) is how to keep it.
    let fork = [
        "branch", "create", "sneaky", "--from", branch, "--format", "json",
    ];
    refused(&sluice(&lake, &fork), "fork");
    ok_json(&lake, &["tag", "create", "kept", "--from", branch]);
    for source in [branch, "kept"] {
        let out = sluice(
            &lake,
            &["merge", source, "--into", "main", "--format", "json"],
        );
        refused(&out, &format!("merging {source}"));
    }
    // Nor does `revert` open another door.
    let out = sluice(
        &lake,
        &[
            "revert",
            "customer_totals",
            "--to",
            branch,
            "--into",
            "main",
            "--format",
            "json",
        ],
    );
    refused(&out, "revert");
    // The run's output stays readable where it is.
    let out = ok_json(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM customer_totals",
            "--ref",
            "kept",
        ],
    );
    assert!(out.to_string().contains("\"n\""), "{out}");
}

#[test]
fn nothing_but_the_run_writes_its_branch_and_a_run_publishes_only_what_it_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = copy_project("gated_py", tmp.path());
    let child = start_gated_run(&lake, &project, tmp.path());
    let runs = ok_json(&lake, &["runs"]);
    let branch = runs[0]["branch"].as_str().unwrap().to_string();
    // While the run waits at its gate, another writer tries its branch: a
    // replaced output with the wrong schema, and an extra table.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "nonsense\n1\n").unwrap();
    for (table, mode) in [("customer_totals", "replace"), ("extra", "create")] {
        let out = sluice(
            &lake,
            &[
                "import",
                bad.to_str().unwrap(),
                "--table",
                table,
                "--mode",
                mode,
                "--branch",
                &branch,
                "--format",
                "json",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "import into {table}");
        let err = json_of(&out, "import");
        assert_eq!(err["error"]["kind"], "sealed_branch", "{err}");
        assert_eq!(err["error"]["detail"]["run"], runs[0]["id"], "{err}");
    }
    for args in [
        vec!["branch", "delete", branch.as_str()],
        vec![
            "revert",
            "customer_totals",
            "--to",
            "main",
            "--into",
            &branch,
        ],
    ] {
        let out = sluice(&lake, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    std::fs::write(project.join("gate"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let run = json_of(&out, "gated run");
    assert!(out.status.success(), "{run}");
    let kept: Vec<String> = tables(&lake, "main").into_iter().map(|t| t.0).collect();
    assert_eq!(kept, ["customer_totals", "orders", "shares"]);
    assert_eq!(run["published_head"], run["nodes"][1]["commit"], "{run}");
}

#[test]
fn project_errors_stop_the_run_before_anything_executes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = tmp.path().join("broken");
    std::fs::create_dir(&project).unwrap();
    for f in ["schemas.py", "customer_totals.sql"] {
        std::fs::copy(fixture("orders").join(f), project.join(f)).unwrap();
    }
    std::fs::write(
        project.join("country_totals.sql"),
        "-- country_totals: CountryTotals <- customer_totals\nSELECT country, SUM(totl) AS total, COUNT(*) AS customers FROM customer_totals GROUP BY country\n",
    )
    .unwrap();
    let before = head(&lake, "main");
    let (out, report) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(1));
    // The same report as `sluice check --format json`.
    assert_eq!(report["diagnostics"][0]["code"], "E0501");
    assert_eq!(head(&lake, "main"), before);
    assert_eq!(ok_json(&lake, &["runs"]).as_array().unwrap().len(), 0);
    assert_eq!(
        ok_json(&lake, &["branch", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_rerun_reproduces_the_outputs_from_the_stored_code_and_base() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    // Run from a copy of the project, then change the copy: the rerun must use the
    // stored code, not the folder.
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).unwrap();
    for f in ["schemas.py", "customer_totals.sql", "country_totals.sql"] {
        std::fs::copy(fixture("orders").join(f), project.join(f)).unwrap();
    }
    let (_, run) = run_json(&lake, &project, &[]);
    assert_eq!(run["status"], "succeeded");
    std::fs::remove_dir_all(&project).unwrap();
    // Main moves on: the rerun still reads the original base.
    let more = tmp.path().join("more.csv");
    std::fs::write(&more, "id,customer,amount,country\n9,eve,100.0,FR\n").unwrap();
    ok_json(
        &lake,
        &[
            "import",
            more.to_str().unwrap(),
            "--table",
            "orders",
            "--mode",
            "append",
        ],
    );
    let id = run["id"].as_str().unwrap();
    let rerun = ok_json(&lake, &["rerun", &id[..12]]);
    assert_eq!(rerun["reproduced"], true, "{rerun}");
    assert_eq!(rerun["status"], "validated");
    assert_eq!(rerun["rerun_of"], run["id"]);
    assert_eq!(rerun["base_commit"], run["base_commit"]);
    let compared: Vec<&str> = rerun["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["table"].as_str().unwrap())
        .collect();
    assert_eq!(compared, ["customer_totals", "country_totals"]);
}

#[test]
fn revert_run_restores_every_table_of_the_run_in_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = tables(&lake, "main");
    let (_, run) = run_json(&lake, &fixture("orders"), &[]);
    let id = run["id"].as_str().unwrap();
    // Reverting one table of the run warns about atomicity.
    let single = sluice(
        &lake,
        &[
            "revert",
            "country_totals",
            "--to",
            run["base_commit"].as_str().unwrap(),
            "--into",
            "main",
        ],
    );
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let warning = String::from_utf8_lossy(&single.stderr);
    assert!(
        warning.contains("breaks the run's atomicity") && warning.contains("customer_totals"),
        "{warning}"
    );
    let reverted = ok_json(&lake, &["revert", "--run", &id[..12], "--into", "main"]);
    assert_eq!(
        reverted["tables"],
        serde_json::json!(["customer_totals", "country_totals"])
    );
    assert_eq!(tables(&lake, "main"), before);
}

#[test]
fn revert_run_is_refused_where_the_run_did_not_publish_and_a_repeat_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    ok_json(&lake, &["branch", "create", "dev2", "--from", "main"]);
    let (out, run) = run_json(&lake, &fixture("orders"), &["--ref", "dev2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = &run["id"].as_str().unwrap()[..12];
    let main_before = head(&lake, "main");
    // main never saw the run: refused, naming where it published; main unchanged.
    let refused = sluice(&lake, &["revert", "--run", id, "--into", "main"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("published to `dev2`") && stderr.contains("--into dev2"),
        "{stderr}"
    );
    assert_eq!(head(&lake, "main"), main_before);
    // Into dev2: one commit; the same revert again commits nothing.
    let before = tables(&lake, "main");
    let first = ok_json(&lake, &["revert", "--run", id, "--into", "dev2"]);
    assert_eq!(first["reverted"], true);
    assert_eq!(tables(&lake, "dev2"), before);
    let dev2_head = head(&lake, "dev2");
    assert_eq!(first["commit"], dev2_head.as_str());
    let again = sluice(&lake, &["revert", "--run", id, "--into", "dev2"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("already reverted on dev2"), "{text}");
    assert_eq!(head(&lake, "dev2"), dev2_head);
    // A branch that merged the run's publishing commit may revert it too.
    ok_json(
        &lake,
        &[
            "branch",
            "create",
            "dev3",
            "--from",
            run["result_commit"].as_str().unwrap(),
        ],
    );
    let merged = ok_json(&lake, &["revert", "--run", id, "--into", "dev3"]);
    assert_eq!(merged["reverted"], true);
    assert_eq!(tables(&lake, "dev3"), before);
}

/// A copy of a fixture project in `dir` (so a test may add files to it).
fn copy_project(name: &str, dir: &Path) -> PathBuf {
    let dest = dir.join(name);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
    dest
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(600),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Starts `sluice run` on a gated project and waits until its shares node runs.
fn start_gated_run(lake: &Path, project: &Path, scratch: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "run",
            project.to_str().unwrap(),
            "--format",
            "json",
            "--lake",
        ])
        .arg(lake)
        .env_remove("SLUICE_LAKE")
        .env("SLUICE_SCRATCH_DIR", scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the run to commit its first node", || {
        let runs = ok_json(lake, &["runs"]);
        runs.as_array().is_some_and(|r| {
            r.first()
                .is_some_and(|r| r["nodes"][0]["status"] == "succeeded")
        })
    });
    child
}

#[test]
fn a_python_node_runs_on_polars_between_sql_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (out, run) = run_json(&lake, &fixture("orders_py"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["nodes"][1]["name"], "shares");
    assert_eq!(run["nodes"][1]["kind"], "python");
    let rows = ok_json(
        &lake,
        &[
            "query",
            "SELECT customer, share FROM shares ORDER BY customer",
        ],
    );
    let total: f64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["share"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{rows}");
}

#[test]
fn namespaced_sources_run_in_sql_and_python_nodes() {
    // `orders = Source(Orders, name="raw.orders")`: SQL reads `raw.orders`, Python
    // code uses the variable `orders`.
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let csv = fixture("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "raw.orders"],
    );
    let (out, run) = run_json(&lake, &fixture("namespaced"), &[]);
    assert!(
        out.status.success(),
        "{run}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let totals = ok_json(
        &lake,
        &[
            "query",
            "SELECT country, total FROM country_totals ORDER BY country",
        ],
    );
    assert_eq!(
        totals,
        serde_json::json!([
            {"country": "DE", "total": 10.25},
            {"country": "FR", "total": 12.0},
            {"country": "IT", "total": 2.0}
        ])
    );
    let big = ok_json(&lake, &["query", "SELECT id FROM big_orders ORDER BY id"]);
    assert_eq!(big, serde_json::json!([{"id": 1}, {"id": 4}]));
    // The source itself is still read as `raw.orders`.
    let n = ok_json(&lake, &["query", "SELECT COUNT(*) AS n FROM raw.orders"]);
    assert_eq!(n[0]["n"], 5);
}

#[test]
fn the_shop_example_runs_on_data_typed_by_its_source_contracts() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let shop = shop.to_str().unwrap();
    for table in ["orders", "order_lines", "customers"] {
        let csv = format!("{shop}/data/{table}.csv");
        ok_json(
            &lake,
            &[
                "import",
                &csv,
                "--table",
                &format!("raw.{table}"),
                "--contract",
                shop,
            ],
        );
    }
    // Typed as the contracts say, not as inferred from the text.
    let show = ok_json(&lake, &["table", "show", "raw.order_lines"]);
    assert_eq!(
        show["schema"][3]["data_type"], "Decimal128(12, 2)",
        "{show}"
    );
    let show = ok_json(&lake, &["table", "show", "raw.orders"]);
    assert_eq!(show["schema"][2]["data_type"], "Timestamp(µs)", "{show}");
    assert_eq!(show["schema"][3]["nullable"], false, "{show}");

    let (out, run) = run_json(&lake, Path::new(shop), &[]);
    assert!(out.status.success(), "{run}");
    assert_eq!(run["nodes"].as_array().unwrap().len(), 4);
    let vip = ok_json(&lake, &["query", "SELECT * FROM vip_customers"]);
    assert_eq!(
        vip,
        serde_json::json!([
            {"customer_id": 10, "email": "ada@example.com", "lifetime_value": 1257.67}
        ])
    );

    // A file that breaks the contract is refused, naming the column; nothing is written.
    let bad = tmp.path().join("orders.csv");
    std::fs::write(
        &bad,
        "order_id,customer_id,ordered_at,status,coupon\n7,10,2026-03-04T10:00:00,,\n",
    )
    .unwrap();
    let before = head(&lake, "main");
    let out = sluice(
        &lake,
        &[
            "import",
            bad.to_str().unwrap(),
            "--table",
            "raw.orders",
            "--mode",
            "append",
            "--contract",
            shop,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("column `status` is declared non-null but 1 row(s) are null"),
        "{stderr}"
    );
    assert_eq!(head(&lake, "main"), before);
    let out = sluice(
        &lake,
        &[
            "import",
            bad.to_str().unwrap(),
            "--table",
            "raw.nope",
            "--contract",
            shop,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("declares no source `raw.nope`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lake_errors_of_a_run_have_the_lake_commands_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (out, err) = run_json(&lake, &fixture("orders"), &["--ref", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err["error"]["kind"], "ref_not_found", "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("nope"));
    // Nothing was recorded for a run that never started.
    assert_eq!(ok_json(&lake, &["runs"]), serde_json::json!([]));
}

#[test]
fn a_bauplan_model_filters_a_namespaced_table() {
    // `bauplan.Model("raw.orders", filter=...)`: the filter's session must name the
    // table as SQL does (schema `raw`, table `orders`).
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let csv = fixture("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "raw.orders"],
    );
    let (out, run) = run_json(&lake, &fixture("bauplan_namespaced"), &[]);
    assert!(out.status.success(), "{run}");
    let rows = ok_json(
        &lake,
        &["query", "SELECT id, amount FROM big_orders ORDER BY id"],
    );
    assert_eq!(
        rows,
        serde_json::json!([{"id": 1, "amount": 10.5}, {"id": 4, "amount": 7.25}])
    );
}

#[test]
fn a_wrong_physical_type_from_python_fails_before_publishing() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = head(&lake, "main");
    let out = sluice(&lake, &["run", fixture("wrong_type_py").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed in node `halves` (halves.py:6)")
            && stderr.contains(
                "table `halves`: column `n` is declared Int64 but the output's type is Float64"
            ),
        "{stderr}"
    );
    assert_eq!(head(&lake, "main"), before);
}

#[test]
fn a_python_node_cannot_open_a_socket_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (out, run) = run_json(&lake, &fixture("socket_py"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let error = &run["nodes"][1]["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("network access is disabled for Python nodes"),
        "{error}"
    );
    assert_eq!(error["location"]["file"], "shares.py");
    // PostgreSQL listens on 127.0.0.1:5432 on CI machines: with the network allowed
    // the same node connects and the run publishes.
    let (out, run) = run_json(&lake, &fixture("socket_py"), &["--allow-network"]);
    assert!(out.status.success(), "{run}");
    assert_eq!(run["allow_network"], true);
}

#[test]
fn a_concurrent_change_to_the_same_table_fails_the_run_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = copy_project("gated_py", tmp.path());
    let child = start_gated_run(&lake, &project, tmp.path());
    // Meanwhile, main gets its own `shares` table.
    let other = tmp.path().join("shares.csv");
    std::fs::write(&other, "customer,total,share\nzed,1.0,1.0\n").unwrap();
    ok_json(
        &lake,
        &["import", other.to_str().unwrap(), "--table", "shares"],
    );
    let before = head(&lake, "main");
    std::fs::write(project.join("gate"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run = json_of(&out, "gated run");
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in table(s) shares: nothing was published"),
        "{run}"
    );
    assert_eq!(head(&lake, "main"), before);
}

#[test]
fn a_run_killed_mid_way_leaves_the_target_unchanged_and_the_next_run_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = head(&lake, "main");
    let project = copy_project("gated_py", tmp.path());
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let mut child = start_gated_run(&lake, &project, &scratch);
    wait_for("the Python worker to start", || {
        std::fs::read_dir(&scratch).unwrap().next().is_some()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(head(&lake, "main"), before);
    // The worker dies with the run: no process is left waiting for the gate.
    let project_arg = project.to_str().unwrap().to_string();
    let killed = std::time::Instant::now();
    while processes_mentioning(&project_arg, &scratch) {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(10),
            "the killed run's Python worker is still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The killed run is recorded as failed, and its commits cannot be merged.
    let runs = ok_json(&lake, &["runs"]);
    assert_eq!(runs[0]["status"], "failed", "{runs}");
    let branch = runs[0]["branch"].as_str().unwrap();
    let out = sluice(&lake, &["merge", branch, "--into", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(head(&lake, "main"), before);
    std::fs::write(project.join("gate"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", &project_arg, "--format", "json", "--lake"])
        .arg(&lake)
        .env_remove("SLUICE_LAKE")
        .env("SLUICE_SCRATCH_DIR", &scratch)
        .output()
        .unwrap();
    let run = json_of(&out, "the next run");
    assert!(out.status.success(), "{run}");
    assert_eq!(run["base_commit"], before.as_str());
    // The next run removed the killed worker's scratch directory (and its own).
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Whether a live process has `needle` or `scratch` in its command line or working
/// directory (Linux /proc).
fn processes_mentioning(needle: &str, scratch: &Path) -> bool {
    let scratch = scratch.to_str().unwrap();
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let cwd = std::fs::read_link(p.path().join("cwd")).unwrap_or_default();
        (cmdline.contains(needle) || cmdline.contains(scratch) || cwd.starts_with(scratch))
            && !std::fs::read_to_string(p.path().join("stat"))
                .unwrap_or_default()
                .contains(") Z ")
    })
}

/// `(customer, total)` rows of `big_customers` on main.
fn big_customers(lake: &Path) -> Vec<(String, f64)> {
    let rows = ok_json(
        lake,
        &[
            "query",
            "SELECT customer, total FROM big_customers ORDER BY customer",
        ],
    );
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["customer"].as_str().unwrap().to_string(),
                r["total"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_bauplan_model_must_return_the_columns_it_lists() {
    // The body is not inferable (pyarrow), so only the runtime can check
    // `@bauplan.model(columns=[...])`: a listed column the output lacks fails the run.
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = tmp.path().join("bauplan_py");
    support::copy_tree(&fixture("bauplan_py"), &project);
    let model = project.join("models/big_customers.py");
    let text = std::fs::read_to_string(&model).unwrap();
    let changed = text.replace(
        r#"@bauplan.model(columns=["customer", "total"]"#,
        r#"@bauplan.model(columns=["customer", "total", "tier"]"#,
    );
    assert_ne!(text, changed);
    std::fs::write(&model, changed).unwrap();
    let before = head(&lake, "main");
    let (out, run) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(1), "{run}");
    let error = &run["nodes"][1]["error"];
    assert_eq!(error["violations"][0]["kind"], "missing_column", "{error}");
    assert_eq!(error["violations"][0]["column"], "tier", "{error}");
    assert_eq!(head(&lake, "main"), before);
}

#[test]
fn a_bauplan_project_runs_with_parameter_defaults_and_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = fixture("bauplan_py");
    // bauplan_project.yml: `min_total` defaults to 2.5.
    let (out, run) = run_json(&lake, &project, &[]);
    assert!(out.status.success(), "{run}");
    assert_eq!(run["nodes"][1]["name"], "big_customers");
    assert_eq!(run["nodes"][1]["kind"], "python");
    let checks = &run["nodes"][1]["expectations"];
    assert_eq!(
        checks,
        &serde_json::json!([
            {"name": "test_no_small_totals", "passed": true},
            {"name": "test_customer_count", "passed": true}
        ])
    );
    assert_eq!(
        big_customers(&lake),
        [
            ("ann".to_string(), 12.0),
            ("bob".to_string(), 3.0),
            ("cyd".to_string(), 7.25)
        ]
    );
    // The record keeps the plan, with the declared parameters and their defaults.
    let id = run["id"].as_str().unwrap();
    let shown = ok_json(&lake, &["runs", "show", &id[..12]]);
    assert_eq!(
        shown["plan"]["parameters"]["min_total"],
        serde_json::json!({"type": "float", "default": 2.5})
    );
    // `--param` overrides the default (converted to the declared float).
    let (out, run) = run_json(&lake, &project, &["--param", "min_total=5"]);
    assert!(out.status.success(), "{run}");
    assert_eq!(run["params"]["min_total"], "5");
    assert_eq!(
        big_customers(&lake),
        [("ann".to_string(), 12.0), ("cyd".to_string(), 7.25)]
    );
}

#[test]
fn a_failing_bauplan_expectation_fails_the_run_and_leaves_main_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before_head = head(&lake, "main");
    let before_tables = tables(&lake, "main");
    // Three customers pass the default `min_total`: more than `max_customers=1`.
    let (out, run) = run_json(
        &lake,
        &fixture("bauplan_py"),
        &["--param", "max_customers=1"],
    );
    assert_eq!(out.status.code(), Some(1), "{run}");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["nodes"][0]["status"], "succeeded");
    assert_eq!(run["nodes"][1]["status"], "failed");
    let error = &run["nodes"][1]["error"];
    assert_eq!(
        error["message"],
        "expectation `test_customer_count` (models/expectations.py:17) failed on `big_customers`"
    );
    assert_eq!(error["location"]["file"], "models/expectations.py");
    assert_eq!(head(&lake, "main"), before_head);
    assert_eq!(tables(&lake, "main"), before_tables);
}

#[test]
fn a_bauplan_parameter_without_a_value_stops_the_run_before_anything_executes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = head(&lake, "main");
    // A value that is not the declared type.
    let (out, err) = run_json(
        &lake,
        &fixture("bauplan_py"),
        &["--param", "max_customers=many"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err["error"]["kind"], "parameter");
    assert_eq!(
        err["error"]["message"],
        "--param max_customers=many: `max_customers` is declared `int` in bauplan_project.yml, and `many` is not one"
    );
    // A parameter with no default and no `--param`.
    let project = tmp.path().join("project");
    support::copy_tree(&fixture("bauplan_py"), &project);
    let yml = std::fs::read_to_string(project.join("bauplan_project.yml")).unwrap();
    std::fs::write(
        project.join("bauplan_project.yml"),
        yml.replace("    default: 2.5\n", ""),
    )
    .unwrap();
    let (out, err) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(2));
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "`big_customers` (models/big_customers.py:9): parameter `min_total` reads the run parameter `min_total`, which has no value"
        ) && message.contains("--param min_total=VALUE"),
        "{message}"
    );
    // The filter `total < $min_total` of an expectation needs it too.
    assert!(
        message.contains(
            "`test_no_small_totals` (models/expectations.py:9): the filter of parameter `data`"
        ),
        "{message}"
    );
    assert_eq!(head(&lake, "main"), before);
    assert_eq!(ok_json(&lake, &["runs"]).as_array().unwrap().len(), 0);
    // Given on the command line, it runs.
    let (out, run) = run_json(&lake, &project, &["--param", "min_total=7"]);
    assert!(out.status.success(), "{run}");
    assert_eq!(
        big_customers(&lake),
        [("ann".to_string(), 12.0), ("cyd".to_string(), 7.25)]
    );
}

#[test]
fn a_bauplan_projection_of_a_missing_column_fails_the_node_naming_table_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let before = head(&lake, "main");
    let project = tmp.path().join("project");
    support::copy_tree(&fixture("bauplan_py"), &project);
    let model = project.join("models/big_customers.py");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        text.replace(
            r#"columns=["customer", "total"], filter"#,
            r#"columns=["customer", "totl"], filter"#,
        ),
    )
    .unwrap();
    let (out, run) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(1), "{run}");
    let error = &run["nodes"][1]["error"];
    assert_eq!(
        error["message"],
        "`big_customers` reads column `totl` of table `customer_totals` (parameter `data`, \
         `bauplan.Model(\"customer_totals\", columns=[...])`), but `customer_totals` has no column \
         `totl`; its columns are customer, country, total, n"
    );
    assert_eq!(error["location"]["file"], "models/big_customers.py");
    assert_eq!(head(&lake, "main"), before);
}

/// Issue 14 (5): what a Python node prints is streamed to `sluice run`'s stderr as
/// `[node] line`, kept (bounded) in the run record, and shown by `runs show`. Text
/// that looks like the worker's result is only output.
#[test]
fn a_python_nodes_output_is_streamed_kept_and_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (out, run) = run_json(&lake, &fixture("printing_py"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(run["status"], "succeeded");
    for line in [
        "[shares] starting shares",
        "[shares] {\"status\": \"error\", \"phase\": \"internal\"",
        "[shares] a note on stderr",
        "[shares] filler line 0000 ",
        "[shares] done with shares",
    ] {
        assert!(stderr.contains(line), "{line:?} not in stderr:\n{stderr}");
    }
    // Kept in the record: the last 64 KiB, in order, and how much was dropped.
    let id = run["id"].as_str().unwrap();
    let shown = ok_json(&lake, &["runs", "show", &id[..12]]);
    let output = &shown["nodes"][1]["output"];
    let lines = output["lines"].as_array().unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(texts.last(), Some(&"done with shares"));
    assert!(
        !texts.contains(&"starting shares"),
        "the oldest lines are dropped"
    );
    let kept: usize = texts.iter().map(|t| t.len() + 1).sum();
    assert!(kept <= 64 * 1024 && kept > 60 * 1024, "{kept}");
    let dropped = output["dropped_lines"].as_u64().unwrap();
    assert_eq!(
        dropped as usize + texts.len(),
        2004,
        "every line is kept or counted"
    );
    // Each line is tagged with its stream. (Where the stderr line lands among the
    // stdout lines is a race between two pipes: it may be kept or dropped.)
    for line in lines {
        let stream = if line["text"] == "a note on stderr" {
            "stderr"
        } else {
            "stdout"
        };
        assert_eq!(line["stream"], stream, "{line}");
    }
    // The list of runs leaves it to `runs show`.
    let listed = ok_json(&lake, &["runs"]);
    assert!(
        listed[0]["nodes"][1].get("output").is_none(),
        "{}",
        listed[0]
    );
    // The SQL node printed nothing: no output in its record.
    assert!(
        shown["nodes"][0].get("output").is_none(),
        "{}",
        shown["nodes"][0]
    );
    // Text: each line prefixed by its node, and the truncation said.
    let text = sluice(&lake, &["runs", "show", &id[..12]]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("output of shares:"), "{text}");
    assert!(
        text.contains("earlier line(s)") && text.contains("not kept"),
        "{text}"
    );
    assert!(text.contains("  [shares] done with shares"), "{text}");
    // Streamed in the human format too (stderr is not a terminal here: no bars).
    let human = sluice(&lake, &["run", fixture("printing_py").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(human.status.success(), "{stderr}");
    assert!(
        stderr.contains("[shares] starting shares\n")
            && stderr.contains("[shares] done with shares\n"),
        "{stderr}"
    );
}

/// Issue 14 (5): a failing node's output is kept too, stderr marked as such.
#[test]
fn a_failed_python_nodes_output_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = copy_project("printing_py", tmp.path());
    std::fs::write(
        project.join("shares.py"),
        "import sys\nfrom schemas import CustomerTotals, Shares\n\n\
         def shares(totals: CustomerTotals = customer_totals) -> Shares:\n    \
         print('about to fail')\n    print('why: bad input', file=sys.stderr)\n    \
         raise ValueError('boom')\n",
    )
    .unwrap();
    let (out, run) = run_json(&lake, &project, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(run["status"], "failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[shares] why: bad input"), "{stderr}");
    // Each stream in order; the two streams are separate pipes, so lines printed on
    // both within a moment may arrive in either order.
    let mut lines: Vec<Value> = run["nodes"][1]["output"]["lines"]
        .as_array()
        .unwrap()
        .clone();
    lines.sort_by_key(|l| l["stream"].as_str().unwrap().to_string());
    assert_eq!(
        lines,
        [
            serde_json::json!({"stream": "stderr", "text": "why: bad input"}),
            serde_json::json!({"stream": "stdout", "text": "about to fail"}),
        ]
    );
    let text = sluice(&lake, &["runs", "show", &run["id"].as_str().unwrap()[..12]]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("  [shares] (stderr) why: bad input"),
        "{text}"
    );
}

/// Issue 14 (10): building a node's Python environment is its own step: announced
/// with its packages, timed apart, and not counted in the node's duration.
#[test]
fn an_environment_build_is_its_own_step() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let cache = tmp.path().join("cache");
    let run = |cache: &Path| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "run",
                fixture("orders_py").to_str().unwrap(),
                "--format",
                "json",
            ])
            .arg("--lake")
            .arg(&lake)
            .env("SLUICE_CACHE_DIR", cache)
            .env_remove("SLUICE_LAKE")
            .output()
            .unwrap()
    };
    let out = run(&cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("building Python environment for shares (")
            && stderr.contains("polars==")
            && stderr.contains("pyarrow=="),
        "{stderr}"
    );
    assert!(
        stderr.contains("built Python environment for shares in "),
        "{stderr}"
    );
    let v = json_of(&out, "sluice run");
    let node = &v["nodes"][1];
    let build = node["env_build_ms"].as_u64().unwrap();
    let duration = node["duration_ms"].as_u64().unwrap();
    assert!(
        build > duration,
        "a build ({build} ms) takes longer than the node ({duration} ms)"
    );
    // Cached: no build step, no build time.
    let again = run(&cache);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!stderr.contains("building Python environment"), "{stderr}");
    let v = json_of(&again, "sluice run");
    assert!(
        v["nodes"][1].get("env_build_ms").is_none(),
        "{}",
        v["nodes"][1]
    );
}

/// Issue 14 (9): every Python environment is resolved before any node executes, so
/// a requirement no index can satisfy fails the run while nothing has run, naming
/// the node, its file and the requirement, and the target stays as it was.
#[test]
fn an_unresolvable_requirement_fails_the_run_before_any_node_executes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = copy_project("orders_py", tmp.path());
    let shares = std::fs::read_to_string(project.join("shares.py")).unwrap();
    let shares = shares
        .replace("from sluice import col", "from sluice import col, python")
        .replace(
            "def shares(",
            "@python(pip={\"polars\": \"0.0.0.1\"})\ndef shares(",
        );
    std::fs::write(project.join("shares.py"), shares).unwrap();
    let before_head = head(&lake, "main");
    let before_tables = tables(&lake, "main");

    let (out, run) = run_json(&lake, &project, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(run["status"], "failed");
    // The SQL node upstream of `shares` never ran: it comes first in the order.
    assert_eq!(run["nodes"][0]["name"], "customer_totals");
    assert_eq!(run["nodes"][0]["status"], "skipped", "{}", run["nodes"][0]);
    assert!(run["nodes"][0]["commit"].is_null(), "{}", run["nodes"][0]);
    assert_eq!(run["nodes"][1]["status"], "failed");
    let message = run["error"]["message"].as_str().unwrap();
    assert_eq!(run["error"]["node"], "shares");
    assert!(
        message.contains("the Python environment of `shares` (shares.py:")
            && message.contains("so no node ran")
            && message.contains("polars==0.0.0.1"),
        "{message}"
    );
    assert_eq!(run["nodes"][1]["error"]["location"]["file"], "shares.py");
    // Its own progress step, which failed.
    assert!(
        stderr.contains("building Python environment for shares (")
            && stderr.contains("polars==0.0.0.1")
            && stderr.contains("failed to build Python environment for shares"),
        "{stderr}"
    );
    // Nothing was committed anywhere: not on main, not on the run's branch.
    assert_eq!(head(&lake, "main"), before_head);
    assert_eq!(tables(&lake, "main"), before_tables);
    let branch = run["branch"].as_str().unwrap();
    assert_eq!(head(&lake, branch), before_head);
}

fn branch_names(lake: &Path) -> Vec<String> {
    ok_json(lake, &["branch", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

fn files_of(lake: &Path, table: &str) -> usize {
    std::fs::read_dir(lake.join("data/tables").join(table))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The data files of `table` (paths relative to the lake's data folder), sorted.
fn file_paths(lake: &Path, table: &str) -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir(lake.join("data/tables").join(table))
        .map(|d| {
            d.map(|e| {
                format!(
                    "tables/{table}/{}",
                    e.unwrap().file_name().to_string_lossy()
                )
            })
            .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Issue 14 (13): once `runs prune` deleted a failed run's branch, nothing can read
/// what the run wrote (the write guard keeps it off every other ref), and `gc`
/// reclaims it; while the branch exists, and for everything main reads, gc keeps it.
#[test]
fn gc_reclaims_the_data_of_pruned_failed_runs_and_keeps_mains() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (out, published) = run_json(&lake, &fixture("orders"), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(published["status"], "succeeded");
    let tables = ["orders", "customer_totals", "country_totals"];
    let mains: Vec<Vec<String>> = tables.iter().map(|t| file_paths(&lake, t)).collect();
    let (_, failed) = run_json(&lake, &fixture("orders_fail_last"), &[]);
    assert_eq!(failed["status"], "failed");
    let branch = failed["branch"].as_str().unwrap().to_string();
    // The failed run wrote its first output and the rejected rows of its last.
    let written: Vec<String> = ["customer_totals", "country_totals"]
        .iter()
        .flat_map(|t| file_paths(&lake, t))
        .filter(|p| !mains.iter().flatten().any(|m| m == p))
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    let main_rows = ok_json(
        &lake,
        &["query", "SELECT count(*) AS n FROM country_totals"],
    );

    // Its branch still exists: gc keeps what the branch reads.
    let kept = ok_json(&lake, &["gc", "--older-than", "0s"]);
    assert_eq!(kept["deleted"], serde_json::json!([]), "{kept}");
    let rejected = ok_json(
        &lake,
        &[
            "query",
            "SELECT count(*) AS n FROM country_totals",
            "--ref",
            &branch,
        ],
    );
    assert_eq!(rejected[0]["n"], 3, "{rejected}");

    // Pruned: gc reclaims exactly the run's files.
    let pruned = ok_json(
        &lake,
        &["runs", "prune", "--older-than", "0s", "--keep", "0"],
    );
    assert_eq!(pruned["pruned"], serde_json::json!([branch]));
    let gc = ok_json(&lake, &["gc", "--older-than", "0s"]);
    let mut deleted: Vec<String> = gc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    let mut expected = written.clone();
    expected.sort();
    assert_eq!(deleted, expected, "{gc}");
    for path in &written {
        assert!(!lake.join("data").join(path).exists(), "{path}");
    }
    // main's files all stay, and main reads as before.
    let now: Vec<Vec<String>> = tables.iter().map(|t| file_paths(&lake, t)).collect();
    assert_eq!(now, mains);
    let after = ok_json(
        &lake,
        &["query", "SELECT count(*) AS n FROM country_totals"],
    );
    assert_eq!(after, main_rows);
    let fsck = sluice(&lake, &["fsck"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    // Nothing more to reclaim.
    let again = ok_json(&lake, &["gc", "--older-than", "0s"]);
    assert_eq!(again["deleted"], serde_json::json!([]), "{again}");
}

/// Issue 14 (13): `runs prune` deletes failed runs' branches by a retention rule,
/// never a live run's, and keeps the records.
#[test]
fn runs_prune_deletes_old_failed_run_branches_and_gc_frees_their_data() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let (_, first) = run_json(&lake, &fixture("orders_fail_last"), &[]);
    let (_, second) = run_json(&lake, &fixture("orders_fail_last"), &[]);
    let (first_branch, second_branch) = (
        first["branch"].as_str().unwrap(),
        second["branch"].as_str().unwrap(),
    );
    // A live run's branch is never pruned, whatever the rule.
    let project = copy_project("gated_py", tmp.path());
    let mut live = start_gated_run(&lake, &project, tmp.path());
    let mut live_branch = String::new();
    wait_for("the gated run to be recorded as running", || {
        let runs = ok_json(&lake, &["runs"]);
        let running = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "running");
        if let Some(r) = running {
            live_branch = r["branch"].as_str().unwrap().to_string();
        }
        running.is_some()
    });
    assert_eq!(
        files_of(&lake, "country_totals"),
        2,
        "each failed run kept its rejected output"
    );

    // The default rule (7 days, the 10 most recent) keeps them all.
    let default = ok_json(&lake, &["runs", "prune"]);
    assert_eq!(default["pruned"], serde_json::json!([]));
    // A dry run says what it would delete and deletes nothing.
    let dry = ok_json(
        &lake,
        &[
            "runs",
            "prune",
            "--older-than",
            "0s",
            "--keep",
            "1",
            "--dry-run",
        ],
    );
    assert_eq!(dry["pruned"], serde_json::json!([first_branch]));
    assert!(branch_names(&lake).contains(&first_branch.to_string()));
    // For real: the older failed run's branch goes, the newest stays (--keep 1).
    let pruned = ok_json(
        &lake,
        &["runs", "prune", "--older-than", "0s", "--keep", "1"],
    );
    assert_eq!(pruned["pruned"], serde_json::json!([first_branch]));
    let names = branch_names(&lake);
    assert!(!names.contains(&first_branch.to_string()), "{names:?}");
    assert!(names.contains(&second_branch.to_string()), "{names:?}");
    assert!(names.contains(&live_branch), "{names:?}");
    // --keep 0 takes the other failed one too, never the live run's.
    let pruned = ok_json(
        &lake,
        &["runs", "prune", "--older-than", "0s", "--keep", "0"],
    );
    assert_eq!(pruned["pruned"], serde_json::json!([second_branch]));
    assert!(
        branch_names(&lake).contains(&live_branch),
        "{:?} {}",
        branch_names(&lake),
        ok_json(&lake, &["runs"])
    );
    std::fs::write(project.join("gate"), "").unwrap();
    assert!(live.wait().unwrap().success());

    // The records stay, and say the branch is gone.
    let id = &first["id"].as_str().unwrap()[..12];
    let shown = ok_json(&lake, &["runs", "show", id]);
    assert_eq!(shown["branch_pruned"], true);
    let text = sluice(&lake, &["runs", "show", id]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("was pruned (sluice runs prune)"), "{text}");
    // Pruning again finds nothing left to prune.
    let again = ok_json(
        &lake,
        &["runs", "prune", "--older-than", "0s", "--keep", "0"],
    );
    assert_eq!(again["pruned"], serde_json::json!([]));
}

/// `sluice run` from a subfolder of a project (no folder given) runs the project and
/// records it as the absolute project folder, not as the `..` it found it by: the
/// record means the same to `sluice runs` from anywhere.
#[test]
fn a_run_from_a_subfolder_records_the_absolute_project_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_orders(tmp.path());
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("notes")).unwrap();
    for entry in std::fs::read_dir(fixture("orders")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, project.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        project.join("sluice.toml"),
        "[project]\nname = \"orders\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--format", "json", "--lake"])
        .arg(&lake)
        .current_dir(project.join("notes"))
        .env_remove("SLUICE_LAKE")
        .env_remove("SLUICE_DATA")
        .env("SLUICE_AUTHOR", "tester")
        .output()
        .unwrap();
    let run = json_of(&out, "sluice run");
    assert!(out.status.success(), "{run}");
    let record = ok_json(&lake, &["runs", "show", run["run_id"].as_str().unwrap()]);
    let canonical = std::fs::canonicalize(&project).unwrap();
    assert_eq!(record["project"], canonical.to_str().unwrap(), "{record}");
}
