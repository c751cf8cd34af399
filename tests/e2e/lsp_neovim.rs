//! `sluice lsp` in a real editor: Neovim's built-in client runs
//! tests/e2e/editors/neovim_lsp.lua against a copy of examples/shop (break a column in
//! the unsaved schema buffer, see the error in the SQL file that reads it, fix it, see
//! it clear; hover, go to definition and rename the column from the SQL file; exit 0).
//!
//! Runs when `nvim` is on PATH, or when `SLUICE_TEST_NVIM` is set (to `1`, or to the
//! path of an `nvim`): then a missing Neovim or a failed run fails the test. Without
//! either, it says loudly that it skipped.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn neovim_shows_an_unsaved_break_in_the_dependent_sql_file_and_clears_it() {
    let pinned = std::env::var("SLUICE_TEST_NVIM")
        .ok()
        .filter(|v| !v.is_empty());
    let nvim = match pinned.as_deref() {
        Some("1") | None => "nvim".to_owned(),
        Some(path) => path.to_owned(),
    };
    let found = Command::new(&nvim).arg("--version").output();
    if found.is_err() {
        assert!(
            pinned.is_none(),
            "SLUICE_TEST_NVIM is set but `{nvim}` cannot be run: {found:?}"
        );
        eprintln!(
            "\n*** SKIPPED lsp_neovim: `nvim` is not on PATH (set SLUICE_TEST_NVIM=1 to require it) ***\n"
        );
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("shop");
    support::copy_tree(&repo.join("examples/shop"), &project);
    let script = repo.join("tests/e2e/editors/neovim_lsp.lua");
    let mut child = Command::new(&nvim)
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("SLUICE_BIN", env!("CARGO_BIN_EXE_sluice"))
        .env("SLUICE_PROJECT", &project)
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {nvim}: {e}"));
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        stderr
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("Neovim did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap();
    assert!(
        status.success(),
        "the Neovim script failed ({status}):\n{stderr}"
    );
    assert!(stderr.contains("ok: the error appeared"), "{stderr}");
}
