//! What the end-to-end tests of lake-backed commands share: running the real
//! `sluice` binary against a lake folder and reading its JSON output.

#![allow(dead_code)] // each test binary uses a different subset

pub mod cluster;
pub mod s3;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `sluice ARGS --lake LAKE` with a clean environment (no `SLUICE_LAKE`, a
/// fixed author).
pub fn sluice(lake: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg("--lake")
        .arg(lake)
        .env_remove("SLUICE_LAKE")
        .env_remove("SLUICE_DATA")
        .env("SLUICE_AUTHOR", "tester")
        .output()
        .expect("run sluice")
}

/// The JSON document a command printed on stdout.
pub fn json_of(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs a command with `--format json`: its output and JSON document.
pub fn json(lake: &Path, args: &[&str]) -> (Output, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = sluice(lake, &all);
    let v = json_of(&out, &format!("sluice {args:?}"));
    (out, v)
}

/// Runs a command with `--format json` that must succeed.
pub fn ok_json(lake: &Path, args: &[&str]) -> Value {
    let (out, v) = json(lake, args);
    assert!(
        out.status.success(),
        "sluice {args:?} failed: {}\n{v}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// The commit a ref points to.
pub fn head(lake: &Path, reference: &str) -> String {
    ok_json(lake, &["log", reference, "--limit", "1"])[0]["hash"]
        .as_str()
        .expect("log has a hash")
        .to_string()
}

/// A recursive copy of a fixture project (Bauplan projects keep models in folders).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// What a client process printed, and how it ended (`None`: still running at the
/// deadline, so it was killed).
pub struct Finished {
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// The deadline it ran to.
    pub deadline: std::time::Duration,
}

impl Finished {
    /// Both streams, for a failure message.
    pub fn report(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// Panics unless `what` (the client) exited 0 before its deadline; the last line it
    /// printed on stdout.
    pub fn assert_success(&self, what: &str) -> &str {
        let report = self.report();
        let Some(status) = self.status else {
            panic!(
                "{what} still ran after {:?}: killed\n{report}",
                self.deadline
            );
        };
        assert!(status.success(), "{what} failed ({status})\n{report}");
        self.stdout.lines().last().unwrap_or_default()
    }

    /// Panics unless `what` exited 0 and closed with the summary "N passed, 0 failed"
    /// for some N > 0 (a session of checks that each print `ok ...`).
    pub fn assert_passed_in_full(&self, what: &str) {
        let summary = self.assert_success(what);
        assert!(
            summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 "),
            "{what}: no closing summary\n{}",
            self.report()
        );
    }
}

/// Runs `command` (its output to files, so a chatty client never blocks on a full
/// pipe) until it exits or `deadline` passes, when it is killed.
pub fn run_until(command: &mut Command, deadline: std::time::Duration, what: &str) -> Finished {
    use std::process::Stdio;
    let logs = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        deadline,
    }
}
