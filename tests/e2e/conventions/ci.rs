//! Item: the CI formats of `sluice check` (github, sarif, junit, gitlab), snapshotted
//! on a fixture with errors and warnings, plus the fields each consumer requires.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{sluice_in, stderr, stdout};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/check")
}

/// `sluice check DIR --format FORMAT` run from the fixtures folder (so paths are
/// `DIR/file`, as from a repository root): exit code and stdout.
fn check(dir: &str, format: &str) -> (Option<i32>, String) {
    let out = sluice_in(&fixtures(), &["check", dir, "--format", format]);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    (out.status.code(), stdout(&out))
}

#[test]
fn every_ci_format_of_a_project_with_errors_and_warnings() {
    for format in ["github", "sarif", "junit", "gitlab"] {
        let (code, out) = check("err_many_errors", format);
        assert_eq!(code, Some(1), "--format {format}");
        insta::assert_snapshot!(format!("ci_{format}"), out);
    }
}

#[test]
fn a_clean_project_in_ci_formats() {
    let (code, out) = check("ok_paper_listings", "github");
    assert_eq!((code, out.as_str()), (Some(0), ""));
    let (code, out) = check("ok_paper_listings", "gitlab");
    assert_eq!((code, out.trim()), (Some(0), "[]"));
    let (code, out) = check("ok_paper_listings", "junit");
    assert_eq!(code, Some(0));
    assert!(out.contains("tests=\"1\" failures=\"0\""), "{out}");
    // Warnings alone do not fail the check, in any format.
    let (code, out) = check("warn_unused_source", "github");
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("::warning file=warn_unused_source/"),
        "{out}"
    );
}

#[test]
fn github_escapes_what_would_break_a_workflow_command() {
    let (_, out) = check("err_many_errors", "github");
    for line in out.lines() {
        let (props, message) = line.split_once("::").unwrap().1.split_once("::").unwrap();
        assert!(props.starts_with("error file=") || props.starts_with("warning file="));
        assert!(!message.contains('\n'));
        // Each property is `key=value` with no raw `,` or `:` inside a value.
        for p in props.split_once(' ').unwrap().1.split(',') {
            let (k, v) = p.split_once('=').unwrap();
            assert!(
                ["file", "line", "col", "endLine", "endColumn", "title"].contains(&k),
                "{line}"
            );
            assert!(!v.contains(':'), "{line}");
        }
    }
}

#[test]
fn sarif_has_the_fields_code_scanning_requires() {
    let (_, out) = check("err_many_errors", "sarif");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "sluice");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "rule ids are unique");
    for r in rules {
        assert!(r["helpUri"].as_str().unwrap().contains("docs/language.md#"));
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        assert!(["error", "warning"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("err_many_errors/"), "{uri}");
        assert!(Path::new(&fixtures()).join(uri).is_file(), "{uri}");
        let region = &loc["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["endLine"].as_u64() >= region["startLine"].as_u64());
    }
}

#[test]
fn gitlab_fingerprints_are_unique_and_stable_across_runs() {
    let (_, first) = check("err_many_errors", "gitlab");
    let (_, second) = check("err_many_errors", "gitlab");
    assert_eq!(first, second);
    let issues: Vec<Value> = serde_json::from_str(&first).unwrap();
    let mut prints: Vec<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), issues.len());
    for i in &issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(i[key].is_string(), "{key} in {i}");
        }
        assert!(["major", "minor"].contains(&i["severity"].as_str().unwrap()));
        assert!(i["location"]["path"].is_string());
        assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
    }
}
