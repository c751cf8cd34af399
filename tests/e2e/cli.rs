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
fn unknown_flag_is_a_usage_error_with_one_line() {
    let out = sluice(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
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
                "help",
                "line",
                "message",
                "severity"
            ]
        );
        assert!(matches!(d["severity"].as_str(), Some("error" | "warning")));
        assert!(d["line"].as_u64().unwrap() >= 1 && d["column"].as_u64().unwrap() >= 1);
        assert!(d["help"].is_null() || d["help"].is_string());
        assert!(
            !d["file"].as_str().unwrap().starts_with('/'),
            "paths are relative"
        );
    }
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
