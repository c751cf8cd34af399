//! What the end-to-end tests of lake-backed commands share: running the real
//! `sluice` binary against a lake folder and reading its JSON output.

#![allow(dead_code)] // each test binary uses a different subset

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
