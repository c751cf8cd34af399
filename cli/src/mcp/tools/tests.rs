//! The tools' argument handling and the guard, called as the server calls them.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use super::*;
use crate::mcp::guard::Guard;

/// A server over a lake in a fresh folder (not created until a write succeeds).
fn server(dir: &tempfile::TempDir, allow: &[&str]) -> Server {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let lake = dir.path().join("lake").display().to_string();
    Server::new(Some(lake), Guard::new(&[], &allow))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The `{"kind", "message"}` of a tool error.
fn error(r: &CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(true), "not an error: {r:?}");
    let doc = r
        .content
        .iter()
        .filter_map(|c| c.as_text())
        .find_map(|t| serde_json::from_str::<Value>(&t.text).ok())
        .expect("an error document");
    doc["error"].clone()
}

fn params<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[test]
fn arguments_are_checked_against_their_types() {
    let e = params::<MergeParams>(json!({ "source": "a" })).unwrap_err();
    assert!(e.contains("`into`"), "{e}");
    let e =
        params::<RunParams>(json!({ "project": ".", "branch": "b", "dryrun": true })).unwrap_err();
    assert!(e.contains("unknown field `dryrun`"), "{e}");
    let e = params::<ImportParams>(
        json!({ "path": "x.csv", "table": "t", "branch": "b", "mode": "upsert" }),
    )
    .unwrap_err();
    assert!(e.contains("create") && e.contains("append"), "{e}");
    let p = params::<QueryParams>(json!({ "sql": "SELECT 1", "ref": "dev" })).unwrap();
    assert_eq!(p.reference.as_deref(), Some("dev"));
    let p = params::<CheckParams>(json!({ "project": "." })).unwrap();
    assert!(p.files.is_empty());
}

#[test]
fn every_write_to_main_is_refused_before_the_lake_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &[]);
    let rt = rt();
    let results = rt.block_on(async {
        vec![
            s.merge(Parameters(MergeParams {
                source: "dev".into(),
                into: "main".into(),
                message: None,
            }))
            .await,
            s.revert(Parameters(RevertParams {
                into: "main".into(),
                table: Some("t".into()),
                to: Some("main~1".into()),
                run_id: None,
            }))
            .await,
            s.import(Parameters(ImportParams {
                path: "x.csv".into(),
                table: "t".into(),
                branch: "main".into(),
                mode: None,
            }))
            .await,
            s.run(Parameters(RunParams {
                project: ".".into(),
                branch: "main".into(),
                dry_run: false,
                params: BTreeMap::new(),
            }))
            .await,
            s.delete_branch(Parameters(NameParams {
                name: "main".into(),
            }))
            .await,
            s.create_tag(Parameters(CreateRefParams {
                name: "main".into(),
                from: None,
            }))
            .await,
        ]
    });
    for (r, tool) in results.iter().zip([
        "merge",
        "revert",
        "import",
        "run",
        "delete_branch",
        "create_tag",
    ]) {
        let e = error(r.as_ref().unwrap());
        assert_eq!(e["kind"], "protected_branch", "{tool}: {e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(&format!("`{tool}` into `main`")), "{m}");
        assert!(m.contains("--allow-writes-to main"), "{m}");
    }
    assert!(
        !dir.path().join("lake").exists(),
        "a refused write made the lake"
    );
}

#[test]
fn allowed_writes_reach_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &["main"]);
    let rt = rt();
    rt.block_on(async {
        // Merging main into itself is the lake's refusal now, not the guard's.
        let r = s
            .merge(Parameters(MergeParams {
                source: "main".into(),
                into: "main".into(),
                message: None,
            }))
            .await
            .unwrap();
        assert_eq!(error(&r)["kind"], "self_merge");
        let r = s
            .create_branch(Parameters(CreateRefParams {
                name: "agent/x".into(),
                from: None,
            }))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(false), "{r:?}");
        assert_eq!(r.structured_content.as_ref().unwrap()["name"], "agent/x");
        let r = s.list_branches(Parameters(NoParams {})).await.unwrap();
        let names: Vec<&str> = r.structured_content.as_ref().unwrap()["branches"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["name"].as_str())
            .collect();
        assert_eq!(names, ["agent/x", "main"]);
    });
}

#[test]
fn a_dry_run_on_main_is_not_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &[]);
    let r = rt()
        .block_on(s.run(Parameters(RunParams {
            project: dir.path().join("missing").display().to_string(),
            branch: "main".into(),
            dry_run: true,
            params: BTreeMap::new(),
        })))
        .unwrap();
    // Past the guard: the missing project is what fails.
    let e = error(&r);
    assert_ne!(e["kind"], "protected_branch", "{e}");
    assert!(e["message"].as_str().unwrap().contains("missing"), "{e}");
}

#[test]
fn bad_argument_combinations_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &[]);
    let rt = rt();
    rt.block_on(async {
        let r = s
            .revert(Parameters(RevertParams {
                into: "agent/x".into(),
                table: Some("t".into()),
                to: None,
                run_id: None,
            }))
            .await
            .unwrap();
        assert_eq!(error(&r)["kind"], "usage");
        let r = s
            .query(Parameters(QueryParams {
                sql: "SELECT 1".into(),
                reference: None,
                limit: Some(QUERY_MAX + 1),
            }))
            .await
            .unwrap();
        assert_eq!(error(&r)["kind"], "usage");
        let r = s
            .lineage(Parameters(LineageParams {
                project: ".".into(),
                column: "t.c".into(),
                direction: Some("sideways".into()),
            }))
            .await
            .unwrap();
        let e = error(&r);
        assert!(e["message"].as_str().unwrap().contains("sideways"), "{e}");
        let r = s
            .explain_code(Parameters(CodeParams {
                code: "nope".into(),
            }))
            .await
            .unwrap();
        assert_eq!(error(&r)["kind"], "usage");
    });
}

#[test]
fn queries_that_write_or_leave_the_lake_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir, &[]);
    let out = dir.path().join("out.csv");
    let rt = rt();
    rt.block_on(async {
        // A lake to query: made by a branch (a write the guard allows).
        s.create_branch(Parameters(CreateRefParams {
            name: "dev".into(),
            from: None,
        }))
        .await
        .unwrap();
        let ok = s
            .query(Parameters(QueryParams {
                sql: "SELECT 1 AS one UNION ALL SELECT 2".into(),
                reference: None,
                limit: Some(1),
            }))
            .await
            .unwrap();
        let ok = ok.structured_content.unwrap();
        assert_eq!(ok["rows"].as_array().map(Vec::len), Some(1), "{ok}");
        assert_eq!(ok["truncated"], true, "{ok}");
        for sql in [
            format!("COPY (SELECT 1) TO '{}'", out.display()),
            format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
                dir.path().display()
            ),
            "CREATE TABLE y AS SELECT 1".to_string(),
            "INSERT INTO y VALUES (1)".to_string(),
            "DROP TABLE y".to_string(),
            "SET datafusion.execution.batch_size = 1".to_string(),
        ] {
            let r = s
                .query(Parameters(QueryParams {
                    sql: sql.clone(),
                    reference: None,
                    limit: None,
                }))
                .await
                .unwrap();
            let e = error(&r);
            assert_eq!(e["kind"], "query", "{sql}: {e}");
        }
    });
    assert!(!out.exists(), "COPY ... TO wrote a file");
}
