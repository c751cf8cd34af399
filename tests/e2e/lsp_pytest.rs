//! A second, independent LSP client for `sluice lsp`: pytest-lsp (on pygls) runs
//! tests/e2e/editors/test_lsp_pytest.py against the built binary — UTF-16-only
//! position encoding with non-ASCII text before an error, incremental edits in
//! UTF-16, and the exit codes of shutdown/exit.
//!
//! The interpreter is `$SLUICE_TEST_LSP_PYTHON` (`.ci/run` points it at a cached
//! virtualenv with pytest-lsp installed); when it is set the suite must run and pass
//! in full. Without it the test says loudly that it was skipped.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long the whole suite may take before it counts as hung (each of its own
/// waits is bounded at 60 s).
const DEADLINE: Duration = Duration::from_secs(600);

#[test]
fn pytest_lsp_suite_passes_against_sluice_lsp() {
    let Some(python) = std::env::var_os("SLUICE_TEST_LSP_PYTHON") else {
        eprintln!(
            "SKIPPED lsp_pytest: SLUICE_TEST_LSP_PYTHON is not set (a Python with pytest-lsp; \
             .ci/run provides one), so tests/e2e/editors/test_lsp_pytest.py did not run"
        );
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/editors");
    let basetemp = tempfile::tempdir().expect("temp dir");
    let done = support::run_until(
        Command::new(&python)
            .args([
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-rA",
                "-o",
                "asyncio_default_fixture_loop_scope=function",
                "test_lsp_pytest.py",
            ])
            .arg("--basetemp")
            .arg(basetemp.path().join("pytest"))
            .current_dir(&dir)
            .env("SLUICE_BIN", env!("CARGO_BIN_EXE_sluice"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        DEADLINE,
        &format!("SLUICE_TEST_LSP_PYTHON={python:?}"),
    );
    let summary = done.assert_success("the pytest-lsp suite");
    let report = done.report();
    // Exit 0 with nothing run, or with tests skipped, would prove nothing.
    assert!(summary.contains(" passed"), "no test passed\n{report}");
    for word in ["skipped", "xfail", "xpass", "deselected"] {
        assert!(!summary.contains(word), "{word} tests\n{report}");
    }
}
