//! End-to-end behaviour of the `sluice` binary that is not tied to one fixture.

use std::path::PathBuf;
use std::process::Command;

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sluice")
}

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/check")
        .join(name);
    dir.to_string_lossy().into_owned()
}

#[test]
fn missing_folder_is_a_usage_error_with_one_line() {
    let out = sluice(&["check", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/definitely/not/here"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_file_instead_of_a_folder_is_a_usage_error() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = sluice(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a folder"));
}

#[test]
fn unknown_flag_is_a_usage_error_rendered_by_clap() {
    let out = sluice(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: unexpected argument '--no-such-flag' found"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: sluice check"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn help_is_not_an_error() {
    let out = sluice(&["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--format"));
}

#[test]
fn json_report_has_exactly_the_documented_shape() {
    let out = sluice(&[
        "check",
        &fixture("err_unknown_table_python"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&report), ["diagnostics", "summary"]);
    assert_eq!(
        keys(&report["summary"]),
        ["edges", "errors", "nodes", "warnings"]
    );
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        assert_eq!(
            keys(d),
            [
                "code",
                "column",
                "end_column",
                "end_line",
                "file",
                "fixes",
                "help",
                "line",
                "message",
                "severity"
            ]
        );
        for fix in d["fixes"].as_array().unwrap() {
            assert_eq!(keys(fix), ["edits", "preferred", "title"]);
            for edit in fix["edits"].as_array().unwrap() {
                assert_eq!(
                    keys(edit),
                    [
                        "column",
                        "end_byte",
                        "end_column",
                        "end_line",
                        "file",
                        "line",
                        "replacement",
                        "start_byte"
                    ]
                );
            }
        }
        assert!(matches!(d["severity"].as_str(), Some("error" | "warning")));
        assert!(d["line"].as_u64().unwrap() >= 1 && d["column"].as_u64().unwrap() >= 1);
        assert!(d["help"].is_null() || d["help"].is_string());
        assert!(
            !d["file"].as_str().unwrap().starts_with('/'),
            "paths are relative"
        );
    }
    // The fixture's typos have did-you-mean fixes: the loop above saw their shape.
    assert!(
        diagnostics
            .iter()
            .any(|d| !d["fixes"].as_array().unwrap().is_empty())
    );
}

#[test]
fn check_defaults_to_the_current_folder() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--format", "json"])
        .current_dir(fixture("ok_paper_listings"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["nodes"].as_u64().unwrap() >= 4);
}

#[test]
fn every_example_project_checks_clean() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let out = sluice(&["check", dir.to_str().unwrap(), "--format", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{}: {report:#}", dir.display());
        assert_eq!(
            report["diagnostics"],
            serde_json::json!([]),
            "{}",
            dir.display()
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no example projects found in {}",
        examples.display()
    );
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

#[test]
fn plan_of_the_paper_project() {
    let dir = fixture("ok_paper_listings");
    let json = sluice(&["plan", &dir, "--format", "json"]);
    assert_eq!(
        json.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(plan["version"], 1);
    assert_eq!(
        plan["order"],
        serde_json::json!([
            "raw_table",
            "parent_table",
            "child_table",
            "grand_child",
            "family_friend"
        ])
    );
    // SUM(col3) is nullable by the engine's typing: `_S: int` is a runtime null check.
    let deferred = plan["obligations"]["deferred"].as_array().unwrap();
    assert!(
        deferred.iter().any(|o| o["table"] == "parent_table"
            && o["column"] == "_S"
            && o["fact"] == "non_null")
    );
    insta::assert_snapshot!("plan_paper_json", stdout(&json));
    insta::assert_snapshot!("plan_paper_text", stdout(&sluice(&["plan", &dir])));
    insta::assert_snapshot!(
        "plan_paper_dot",
        stdout(&sluice(&["plan", &dir, "--format", "dot"]))
    );
    insta::assert_snapshot!(
        "plan_paper_mermaid",
        stdout(&sluice(&["plan", &dir, "--format", "mermaid"]))
    );
}

#[test]
fn no_plan_for_an_ill_typed_project() {
    let out = sluice(&[
        "plan",
        &fixture("err_edge_float_to_int"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["summary"]["errors"].as_u64().unwrap() > 0,
        "the check report explains why"
    );
}

#[test]
fn lineage_upstream_and_downstream() {
    let dir = fixture("ok_paper_listings");
    let up = sluice(&["lineage", &dir, "family_friend.col2"]);
    assert_eq!(up.status.code(), Some(0));
    let text = stdout(&up);
    assert!(text.contains("raw_table.col2 (copy)"), "{text}");
    insta::assert_snapshot!("lineage_family_friend_col2_upstream", text);
    let down = sluice(&[
        "lineage",
        &dir,
        "raw_table.col3",
        "--downstream",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    let edges = report["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["table"] == "parent_table"
            && e["column"] == "_S"
            && e["kind"] == "transform"),
        "{report:#}"
    );
    let missing = sluice(&["lineage", &dir, "family_friend.nope"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// A generated project nested far deeper than the checker accepts, in every front end:
/// `sluice check` exits 1 with `E0007` for each deep file (never a signal), in both
/// output formats, and the human output of a diagnostic far into a long line names its
/// location instead of drawing it.
#[test]
fn deeply_nested_project_is_reported_not_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "schemas.py",
        "from sluice import Schema, Source\n\nclass S(Schema):\n    a: int\n\nsrc = Source(S, name=\"raw.t\")\n".to_owned(),
    );
    write(
        "chain.py",
        format!(
            "import polars as pl\nfrom schemas import S, src\n\ndef chain(df: S = src) -> S:\n    return df{}\n",
            ".filter(pl.col(\"a\") > 1)".repeat(n)
        ),
    );
    write(
        "parens.py",
        format!(
            "from schemas import S, src\n\ndef parens(df: S = src) -> S:\n    return {}df{}\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    );
    // 2,500 terms; the 1,001st level is about 19,000 columns into the line.
    let terms = vec!["CAST(a AS BIGINT)"; 2_500].join(" + ");
    write(
        "plus.sql",
        format!("-- plus <- raw.t\nSELECT {terms} AS a FROM raw.t\n"),
    );
    write(
        "nested.sql",
        format!(
            "-- nested <- raw.t\nSELECT {}a{} AS a FROM raw.t\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    );
    let path = dir.path().to_str().unwrap();

    let out = sluice(&["check", "--format", "json", path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deep: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "E0007")
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        deep,
        ["chain.py", "nested.sql", "parens.py", "plus.sql"],
        "{report:#}"
    );

    let out = sluice(&["check", path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let codes = text.lines().filter(|l| l.trim() == "E0007").count();
    assert_eq!(codes, 4, "{text}");
    // miette wraps the message: compare it without line breaks.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("(at plus.sql:2:"), "{text}");
}

/// Runs `sluice lsp` with `messages` (framed by lsp-server) on stdin, then closes it.
fn lsp_session(messages: Vec<lsp_server::Message>) -> (Option<i32>, Vec<lsp_server::Message>) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("lsp")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sluice lsp");
    let mut stdin = child.stdin.take().unwrap();
    for message in messages {
        message.write(&mut stdin).unwrap();
    }
    stdin.flush().unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let mut replies = Vec::new();
    let mut reader = std::io::BufReader::new(&out.stdout[..]);
    while let Some(message) = lsp_server::Message::read(&mut reader).unwrap() {
        replies.push(message);
    }
    (out.status.code(), replies)
}

fn lsp_request(id: i32, method: &str, params: serde_json::Value) -> lsp_server::Message {
    lsp_server::Request::new(id.into(), method.to_owned(), params).into()
}

fn lsp_notification(method: &str) -> lsp_server::Message {
    lsp_server::Notification::new(method.to_owned(), serde_json::json!({})).into()
}

#[test]
fn lsp_exits_0_only_after_shutdown_and_exit() {
    let init = || lsp_request(1, "initialize", serde_json::json!({ "capabilities": {} }));
    let (code, replies) = lsp_session(vec![
        init(),
        lsp_notification("initialized"),
        lsp_request(2, "shutdown", serde_json::Value::Null),
        lsp_notification("exit"),
    ]);
    assert_eq!(code, Some(0), "{replies:?}");
    let responses: Vec<_> = replies
        .iter()
        .filter_map(|m| match m {
            lsp_server::Message::Response(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(responses.len(), 2, "{replies:?}");
    let result = responses[0].response_result.as_ref().unwrap();
    assert_eq!(result["serverInfo"]["name"], "sluice");
    assert_eq!(result["capabilities"]["textDocumentSync"]["change"], 2);

    // `exit` without `shutdown`, and a client that just goes away: exit code 1.
    let (code, _) = lsp_session(vec![
        init(),
        lsp_notification("initialized"),
        lsp_notification("exit"),
    ]);
    assert_eq!(code, Some(1));
    let (code, _) = lsp_session(vec![init()]);
    assert_eq!(code, Some(1));
}
