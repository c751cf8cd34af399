//! Item: a reader that closes stdout early (`sluice log | head -1`) ends the
//! command quietly: no "failed printing to stdout", no panic exit 101.

use std::process::Stdio;

use crate::{check_fixture, command, support};

/// Runs `sluice ARGS --lake LAKE` with its stdout a pipe whose reading end is
/// closed before sluice writes (the deterministic form of `| head -0`): the exit
/// code and stderr.
fn with_closed_stdout(cwd: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = command(cwd, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for sluice");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A lake with one imported table (`people`) and a run-less history.
fn lake_with_a_table() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let csv = dir.path().join("people.csv");
    let mut text = String::from("id,name\n");
    for i in 0..2000 {
        text.push_str(&format!("{i},person {i}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    support::ok_json(
        &lake,
        &["import", csv.to_str().unwrap(), "--table", "people"],
    );
    dir
}

#[test]
fn log_query_and_runs_exit_quietly_when_the_reader_goes() {
    let dir = lake_with_a_table();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    for args in [
        vec!["log", "--lake", lake],
        vec!["log", "--lake", lake, "--format", "json"],
        vec!["query", "SELECT * FROM people", "--lake", lake],
        vec![
            "query",
            "SELECT * FROM people",
            "--lake",
            lake,
            "--format",
            "csv",
        ],
        vec!["table", "list", "--lake", lake],
        vec!["runs", "--lake", lake, "--format", "json"],
        vec!["runs", "--lake", lake],
    ] {
        let (code, stderr) = with_closed_stdout(dir.path(), &args);
        assert_eq!(code, Some(0), "sluice {args:?}: {stderr}");
        assert_eq!(stderr, "", "sluice {args:?}");
    }
}

#[test]
fn check_keeps_its_verdict_when_the_reader_goes() {
    let cwd = std::env::temp_dir();
    for (fixture, verdict) in [("err_many_errors", 1), ("ok_paper_listings", 0)] {
        let dir = check_fixture(fixture);
        for format in ["text", "json"] {
            let args = ["check", dir.to_str().unwrap(), "--format", format];
            let (code, stderr) = with_closed_stdout(&cwd, &args);
            assert_eq!(code, Some(verdict), "sluice {args:?}: {stderr}");
            assert_eq!(stderr, "", "sluice {args:?}");
        }
    }
}

#[test]
fn plan_and_help_exit_quietly_when_the_reader_goes() {
    let cwd = std::env::temp_dir();
    let dir = check_fixture("ok_paper_listings");
    for args in [
        vec!["plan", dir.to_str().unwrap()],
        vec!["plan", dir.to_str().unwrap(), "--format", "json"],
        vec!["--help"],
    ] {
        let (code, stderr) = with_closed_stdout(&cwd, &args);
        assert_eq!(code, Some(0), "sluice {args:?}: {stderr}");
        assert_eq!(stderr, "", "sluice {args:?}");
    }
}
