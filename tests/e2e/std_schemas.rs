//! The `sluice` Python package (std-schemas/) that pipeline code imports: its own
//! unittest suite runs from the source tree.
//!
//! The interpreter is `$SLUICE_TEST_PYTHON` when set (`.ci/run` points it at a
//! virtualenv with the optional dependencies, pyarrow and polars, installed), and
//! then no test may be skipped; otherwise the machine's `python3`, where tests that
//! need a missing optional dependency say they were skipped.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_package_test_suite_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../std-schemas");
    let pinned = std::env::var("SLUICE_TEST_PYTHON").ok();
    let python = pinned.clone().unwrap_or_else(|| "python3".to_string());
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&root)
        .env("PYTHONPATH", root.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{python} is required to test the sluice Python package: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python unittest failed:\n{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
    if pinned.is_some() {
        assert!(
            !stderr.contains("skipped="),
            "with SLUICE_TEST_PYTHON={python} every test must run, but some were skipped:\n{stderr}"
        );
    }
}
