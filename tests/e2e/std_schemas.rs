//! The `sluice` Python package (std-schemas/) that pipeline code imports: its own
//! unittest suite runs under the machine's Python, from the source tree.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_package_test_suite_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../std-schemas");
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&root)
        .env("PYTHONPATH", root.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 is required to test the sluice Python package");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python unittest failed:\n{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}
