//! End-to-end tests of the lake commands of the `sluice` binary.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{ok_json, sluice};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn branch_import_merge_log_diff_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let orders = write(tmp.path(), "orders.csv", "id,amount\n1,10\n2,20\n");
    let imported = ok_json(&lake, &["import", &orders, "--table", "orders"]);
    assert_eq!(imported["rows"], 2);
    assert!(
        lake.join("catalog.db").exists(),
        "lake created on first use"
    );

    let branch = ok_json(&lake, &["branch", "create", "dev", "--from", "main"]);
    assert_eq!(branch["name"], "dev");
    let more = write(tmp.path(), "more.csv", "id,amount\n3,30\n");
    ok_json(
        &lake,
        &[
            "import", &more, "--table", "orders", "--branch", "dev", "--mode", "append",
        ],
    );
    let users = write(tmp.path(), "users.jsonl", "{\"id\":1,\"name\":\"a\"}\n");
    ok_json(
        &lake,
        &["import", &users, "--table", "users", "--branch", "dev"],
    );

    let tables = ok_json(&lake, &["table", "list", "--ref", "main"]);
    assert_eq!(tables.as_array().unwrap().len(), 1);
    let diff = ok_json(&lake, &["diff", "main", "dev"]);
    let diff = diff.as_array().unwrap();
    assert_eq!(diff.len(), 2);
    assert_eq!(diff[0]["table"], "orders");
    assert_eq!(diff[0]["status"], "changed");
    assert_eq!(diff[0]["rows_before"], 2);
    assert_eq!(diff[0]["rows_after"], 3);
    assert_eq!(diff[1]["status"], "added");

    let merged = ok_json(&lake, &["merge", "dev", "--into", "main"]);
    assert_eq!(merged["kind"], "fast_forward");
    let show = ok_json(&lake, &["table", "show", "orders"]);
    assert_eq!(show["rows"], 3);
    assert_eq!(show["schema"][0]["name"], "id");
    assert_eq!(show["schema"][0]["nullable"], true);
    assert_eq!(show["history"].as_array().unwrap().len(), 2);

    let log = ok_json(&lake, &["log", "main"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4);
    for entry in log {
        assert!(entry["hash"].as_str().unwrap().len() == 64);
        assert!(entry["parents"].is_array());
        assert!(entry["message"].is_string());
        assert_eq!(entry["author"], "tester");
    }
    let first = log[3]["hash"].as_str().unwrap();
    let limited = ok_json(&lake, &["log", "main", "--limit", "2"]);
    assert_eq!(limited.as_array().unwrap().len(), 2);

    // time travel through a commit ref
    let old = ok_json(
        &lake,
        &[
            "table",
            "list",
            "--ref",
            &format!("@{}", &log[2]["hash"].as_str().unwrap()[..8]),
        ],
    );
    assert_eq!(old[0]["rows"], 2);
    let root_tables = ok_json(&lake, &["table", "list", "--ref", &format!("main@{first}")]);
    assert!(root_tables.as_array().unwrap().is_empty());

    // text output works too
    let out = sluice(&lake, &["branch", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dev") && text.contains("main"), "{text}");

    // tags are read-only: exit 1, nothing changes
    ok_json(&lake, &["tag", "create", "v1"]);
    let out = sluice(
        &lake,
        &[
            "import", &more, "--table", "orders", "--branch", "v1", "--mode", "append",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    let tags = ok_json(&lake, &["tag", "list"]);
    assert_eq!(tags[0]["name"], "v1");
    ok_json(&lake, &["tag", "delete", "v1"]);
    ok_json(&lake, &["branch", "delete", "dev"]);
    let branches = ok_json(&lake, &["branch", "list"]);
    assert_eq!(branches.as_array().unwrap().len(), 1);
}

#[test]
fn merge_conflict_exits_1_and_names_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let a = write(tmp.path(), "a.csv", "x\n1\n");
    let b = write(tmp.path(), "b.csv", "x\n2\n");
    ok_json(&lake, &["import", &a, "--table", "t"]);
    ok_json(&lake, &["branch", "create", "dev"]);
    ok_json(
        &lake,
        &[
            "import", &b, "--table", "t", "--branch", "dev", "--mode", "replace",
        ],
    );
    ok_json(&lake, &["import", &b, "--table", "t", "--mode", "append"]);
    let head_before = ok_json(&lake, &["log", "main", "--limit", "1"])[0]["hash"].clone();

    let out = sluice(
        &lake,
        &["merge", "dev", "--into", "main", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "merge_conflict");
    assert_eq!(err["error"]["detail"]["tables"][0], "t");
    assert!(String::from_utf8_lossy(&out.stderr).contains("t"));
    let head_after = ok_json(&lake, &["log", "main", "--limit", "1"])[0]["hash"].clone();
    assert_eq!(head_before, head_after);

    // self-merge: refused
    let out = sluice(&lake, &["merge", "main", "--into", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("into itself"));

    // revert t on main to dev's version, then merging dev is a clean no-conflict merge
    let reverted = ok_json(&lake, &["revert", "t", "--to", "dev", "--into", "main"]);
    assert!(reverted["commit"].is_string());
    let merged = ok_json(&lake, &["merge", "dev", "--into", "main"]);
    assert_eq!(merged["kind"], "merged");
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    // A write creates the lake (reads never do).
    ok_json(&lake, &["branch", "create", "scratch"]);
    let bad = write(tmp.path(), "bad.csv", "a,b\n1,2\n3\n");
    let out = sluice(&lake, &["import", &bad, "--table", "t", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "bad_input");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad.csv")
    );

    let good = write(tmp.path(), "good.csv", "a\n1\n");
    let out = sluice(&lake, &["import", &good, "--table", "bad-name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'-'"));
    let out = sluice(&lake, &["branch", "create", "no way"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sluice(&lake, &["table", "list", "--ref", "ghost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
    let out = sluice(&lake, &["gc", "--older-than", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sluice(&lake, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let log = ok_json(&lake, &["log"]);
    assert_eq!(log.as_array().unwrap().len(), 1);
    let data = lake.join("data");
    let files = std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "no data written");
}

#[test]
fn gc_removes_orphans_only() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let a = write(tmp.path(), "a.csv", "x\n1\n");
    ok_json(&lake, &["import", &a, "--table", "t"]);
    ok_json(&lake, &["import", &a, "--table", "t", "--mode", "replace"]);
    // an orphan file left by a crashed writer
    let dir = lake.join("data/tables/t");
    let orphan = dir.join("00000000-orphan.parquet");
    std::fs::write(&orphan, b"partial").unwrap();
    let kept = ok_json(&lake, &["gc"]);
    assert_eq!(kept["deleted"].as_array().unwrap().len(), 0);
    assert_eq!(kept["too_recent"], 1);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let r = ok_json(&lake, &["gc", "--older-than", "10ms"]);
    assert_eq!(r["deleted"][0], "tables/t/00000000-orphan.parquet");
    assert_eq!(r["referenced"], 2);
    assert!(!orphan.exists());
    let show = ok_json(&lake, &["table", "show", "t"]);
    assert_eq!(show["rows"], 1);
}

#[test]
fn query_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let a = write(tmp.path(), "a.csv", "id,name\n1,x\n2,y\n3,\n");
    ok_json(&lake, &["import", &a, "--table", "people"]);
    let rows = ok_json(
        &lake,
        &[
            "query",
            "SELECT id, name FROM people WHERE id >= 2 ORDER BY id",
        ],
    );
    assert_eq!(
        rows,
        serde_json::json!([{"id": 2, "name": "y"}, {"id": 3, "name": null}])
    );
    let out = sluice(
        &lake,
        &[
            "query",
            "SELECT id, name FROM people ORDER BY id",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "id,name\n1,x\n2,y\n3,\n"
    );
    let out = sluice(&lake, &["query", "SELECT count(*) AS n FROM people"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| n ") && text.contains("| 3 "), "{text}");
    let empty = ok_json(&lake, &["query", "SELECT * FROM people WHERE id > 100"]);
    assert_eq!(empty, serde_json::json!([]));
    // time travel: before the import there is no table
    let log = ok_json(&lake, &["log"]);
    let root = log[1]["hash"].as_str().unwrap().to_string();
    let out = sluice(
        &lake,
        &[
            "query",
            "SELECT * FROM people",
            "--ref",
            &format!("@{root}"),
        ],
    );
    // An unknown table is a usage error naming it (issue 14, item 15).
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("table `people` does not exist"), "{err}");
    let out = sluice(&lake, &["branch", "list", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The data files of `table` in a local lake.
fn table_files(lake: &Path, table: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(lake.join("data/tables").join(table))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Issue 10: a missing data file read as an empty table, exit 0. Now query,
/// run and fsck all fail naming the table, the ref and the file.
#[test]
fn a_missing_or_truncated_file_fails_query_run_and_fsck() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/run");
    let csv = fixtures.join("data/orders.csv");
    ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "orders"],
    );
    let clean = ok_json(&lake, &["fsck"]);
    assert_eq!(clean["faults"], serde_json::json!([]));
    assert_eq!(clean["files"], 1);
    let out = sluice(&lake, &["fsck"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 1 data file(s)"));

    let file = table_files(&lake, "orders").remove(0);
    let rel = file
        .strip_prefix(lake.join("data"))
        .unwrap()
        .display()
        .to_string();
    let original = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();

    let out = sluice(&lake, &["query", "SELECT count(*) AS n FROM orders"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("table `orders` at `main`") && err.contains(&rel) && err.contains("missing"),
        "{err}"
    );
    let before = support::head(&lake, "main");
    let out = sluice(&lake, &["run", fixtures.join("orders").to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a run over a missing source file succeeded"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains(&rel) && all.contains("orders"), "{all}");
    assert_eq!(support::head(&lake, "main"), before);

    let out = sluice(&lake, &["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("main: table `orders`: file {rel}: missing")),
        "{text}"
    );
    let (out, report) = support::json(&lake, &["fsck", "main"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["faults"][0]["fault"]["kind"], "missing");
    assert_eq!(report["faults"][0]["path"], rel.as_str());

    // Truncated: a size mismatch, also an error.
    std::fs::write(&file, &original[..original.len() - 5]).unwrap();
    let out = sluice(&lake, &["query", "SELECT count(*) AS n FROM orders"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("altered"));
    let (_, report) = support::json(&lake, &["fsck"]);
    assert_eq!(report["faults"][0]["fault"]["kind"], "size_mismatch");

    // Restored: clean again.
    std::fs::write(&file, &original).unwrap();
    ok_json(&lake, &["fsck"]);
}

/// Issue 10: a FIFO as input hung the import.
#[test]
fn importing_a_fifo_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let fifo = tmp.path().join("in.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = std::time::Instant::now();
    let out = sluice(&lake, &["import", fifo.to_str().unwrap(), "--table", "t"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FIFO") && err.contains("in.csv"), "{err}");
}

#[test]
fn a_table_name_sql_would_confuse_with_another_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let raw = write(tmp.path(), "raw.csv", "id\n1\n2\n");
    ok_json(&lake, &["import", &raw, "--table", "raw"]);
    for alias in ["public.raw", "RAW"] {
        let out = sluice(
            &lake,
            &["import", &raw, "--table", alias, "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(1), "{alias}");
        let err: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(err["error"]["kind"], "name_collision", "{alias}: {err}");
        assert_eq!(err["error"]["detail"]["existing"], "raw", "{alias}");
    }
    // Queries on the ref keep working.
    for sql in ["SELECT 1 AS one", "SELECT count(*) AS n FROM raw"] {
        let out = ok_json(&lake, &["query", sql]);
        assert_eq!(out.as_array().map(Vec::len), Some(1), "{sql}: {out}");
    }
}

/// Every file under the lake's data folder (relative paths, sorted).
fn data_files(lake: &Path) -> Vec<String> {
    let root = lake.join("data");
    let mut out: Vec<String> = walk(&root)
        .into_iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

fn query_one(lake: &Path, sql: &str) -> Value {
    ok_json(lake, &["query", sql])[0].clone()
}

/// Issue 14 (8): CSV timestamps are microseconds, whatever digits the file has, so
/// files with and without fractions append to each other (and match `datetime`).
#[test]
fn csv_timestamps_are_imported_as_microseconds() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let seconds = write(
        tmp.path(),
        "a.csv",
        "id,at\n1,2024-01-01T10:00:00\n2,2024-01-02 11:30:00\n",
    );
    let millis = write(tmp.path(), "b.csv", "id,at\n3,2024-01-03T00:00:00.250\n");
    let nanos_whole = write(
        tmp.path(),
        "c.csv",
        "id,at\n4,2024-01-04T00:00:00.000001000\n",
    );
    ok_json(&lake, &["import", &seconds, "--table", "events"]);
    let t = query_one(&lake, "SELECT arrow_typeof(at) AS t FROM events LIMIT 1");
    assert_eq!(t["t"], "Timestamp(µs)", "{t}");
    for file in [&millis, &nanos_whole] {
        ok_json(
            &lake,
            &["import", file, "--table", "events", "--mode", "append"],
        );
    }
    let rows = ok_json(
        &lake,
        &[
            "query",
            "SELECT id, CAST(at AS VARCHAR) AS at FROM events ORDER BY id",
        ],
    );
    let ats: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        ats,
        [
            "2024-01-01T10:00:00",
            "2024-01-02T11:30:00",
            "2024-01-03T00:00:00.250",
            "2024-01-04T00:00:00.000001"
        ]
    );
    // Sub-microsecond digits would be lost: refused, naming the column and the fix.
    let nanos = write(
        tmp.path(),
        "d.csv",
        "id,at\n5,2024-01-05T00:00:00.123456789\n",
    );
    let before = data_files(&lake);
    let out = sluice(
        &lake,
        &["import", &nanos, "--table", "events", "--mode", "append"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column `at`") && err.contains("--contract"),
        "{err}"
    );
    assert_eq!(data_files(&lake), before);
}

/// Issue 14 (8): a refused append says how to fix it and leaves no data file.
#[test]
fn a_refused_append_names_the_fix_and_leaves_no_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let good = write(tmp.path(), "a.csv", "id,amount\n1,10\n");
    let bad = write(tmp.path(), "b.csv", "id,amount\nx,10\n");
    ok_json(&lake, &["import", &good, "--table", "t"]);
    let before = data_files(&lake);
    assert_eq!(before.len(), 1, "{before:?}");
    let out = sluice(&lake, &["import", &bad, "--table", "t", "--mode", "append"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column `id` is Utf8, the table has Int64") && err.contains("--contract DIR"),
        "{err}"
    );
    assert_eq!(data_files(&lake), before, "the refused file was removed");
}

/// Issue 14 (8): a header-only CSV makes a table of nullable `Utf8` columns, never
/// `Null` ones; so does a column without a single value.
#[test]
fn a_header_only_csv_makes_utf8_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let empty = write(tmp.path(), "e.csv", "id,name\n");
    let imported = ok_json(&lake, &["import", &empty, "--table", "e"]);
    assert_eq!(imported["rows"], 0);
    let show = ok_json(&lake, &["table", "show", "e"]);
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
    assert_eq!(types, [("id", "Utf8", true), ("name", "Utf8", true)]);
    let blank = write(tmp.path(), "b.csv", "id,note\n1,\n2,\n");
    ok_json(&lake, &["import", &blank, "--table", "b"]);
    let show = ok_json(&lake, &["table", "show", "b"]);
    assert_eq!(show["schema"][1]["data_type"], "Utf8", "{}", show["schema"]);
    // Strings append to it.
    let more = write(tmp.path(), "m.csv", "id,name\na,b\n");
    ok_json(
        &lake,
        &["import", &more, "--table", "e", "--mode", "append"],
    );
}
