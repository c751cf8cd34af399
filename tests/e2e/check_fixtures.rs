//! `sluice check` over every fixture project in tests/fixtures/check/.
//!
//! A case is a folder holding a small project and a CASE.md saying what it tests. The
//! binary's human and JSON output are kept as insta snapshots beside it (`check.snap`,
//! `check_json.snap`); adding a case is adding a folder. The folder's prefix states the
//! expected outcome: `ok_` checks clean, `warn_` has warnings but no errors, `err_` fails.

use std::path::Path;
use std::process::Command;

fn check_case(case_md: &Path) -> datatest_stable::Result<()> {
    let dir = case_md.parent().expect("CASE.md is inside its case folder");
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 case name");

    let human = sluice(dir, &["--color", "never"]);
    let json = sluice(dir, &["--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).map_err(|e| {
        format!(
            "{name}: --format json printed invalid JSON ({e}):\n{}",
            json.stdout
        )
    })?;
    let errors = report["summary"]["errors"]
        .as_u64()
        .ok_or("summary.errors missing")?;
    let warnings = report["summary"]["warnings"]
        .as_u64()
        .ok_or("summary.warnings missing")?;

    // The two formats agree, and the exit code follows the errors.
    if human.code != json.code {
        return Err(format!(
            "{name}: exit code {} (text) vs {} (json)",
            human.code, json.code
        )
        .into());
    }
    let expected_code = if errors > 0 { 1 } else { 0 };
    if json.code != expected_code {
        return Err(format!("{name}: exit code {} with {errors} errors", json.code).into());
    }
    // The folder prefix states the expected outcome.
    let outcome_ok = match name.split('_').next() {
        Some("ok") => errors == 0 && warnings == 0,
        Some("warn") => errors == 0 && warnings > 0,
        Some("err") => errors > 0,
        _ => return Err(format!("{name}: case folders start with ok_, warn_ or err_").into()),
    };
    if !outcome_ok {
        return Err(format!(
            "{name}: {errors} errors and {warnings} warnings contradict the folder prefix:\n{}",
            human.stdout
        )
        .into());
    }
    // Every diagnostic's location lies inside its file.
    for d in report["diagnostics"]
        .as_array()
        .ok_or("diagnostics missing")?
    {
        let file = d["file"].as_str().ok_or("file missing")?;
        let text =
            std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{name}: {file}: {e}"))?;
        let lines = text.split('\n').count() as u64;
        let line = d["line"].as_u64().ok_or("line missing")?;
        let end_line = d["end_line"].as_u64().ok_or("end_line missing")?;
        if line == 0 || line > lines || end_line < line || end_line > lines {
            return Err(format!("{name}: diagnostic outside {file}: {d}").into());
        }
    }

    let mut settings = insta::Settings::clone_current();
    // Snapshot paths are relative to this source file unless absolute.
    settings.set_snapshot_path(std::path::absolute(dir)?);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!("sluice check tests/fixtures/check/{name}"));
    settings.bind(|| {
        insta::assert_snapshot!("check", format!("exit: {}\n{}", human.code, human.stdout));
        insta::assert_snapshot!("check_json", json.stdout);
    });
    Ok(())
}

struct Output {
    code: i32,
    stdout: String,
}

fn sluice(dir: &Path, extra: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check")
        .arg(".")
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sluice");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 output"),
    }
}

datatest_stable::harness! {
    { test = check_case, root = "../tests/fixtures/check", pattern = r"^[^/]+/CASE\.md$" },
}
