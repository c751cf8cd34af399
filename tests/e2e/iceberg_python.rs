//! `sluice serve` read by real Iceberg clients from PyPI: pyiceberg's REST catalog,
//! Polars and DuckDB's iceberg extension, in the session of
//! tests/e2e/iceberg/session.py — a lake built with the CLI (imports, a branch with an
//! append, a tag, a schema change on a branch named with a `/`, a namespaced table),
//! then every kind of ref read through the catalog and compared row for row with
//! `sluice query`, each table's snapshots against its commits, the field ids across the
//! schema change, the data files (the lake's own, none written), the errors for unknown
//! refs, namespaces and tables, and the refused writes.
//!
//! tests/e2e/iceberg/s3_session.py does the same, more briefly, over a lake whose data
//! is in S3 (`$SLUICE_TEST_S3_ENDPOINT`, moto in CI): pyiceberg and Polars read the
//! bucket's objects with the endpoint the catalog hands out and their own `AWS_*`
//! credentials.
//!
//! The interpreter is `$SLUICE_TEST_ICEBERG_PYTHON` (`.ci/run` points it at a cached
//! virtualenv with the clients pinned); when it is set the session must run and pass in
//! full. Without it the test says loudly that it was skipped.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long the whole session may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn iceberg_clients_read_the_lake_through_sluice_serve() {
    client_session("session.py");
}

#[test]
fn iceberg_clients_read_a_lake_on_s3_through_sluice_serve() {
    if std::env::var_os("SLUICE_TEST_S3_ENDPOINT").is_none() {
        eprintln!(
            "SKIPPED iceberg_python (S3): SLUICE_TEST_S3_ENDPOINT is not set (an \
             S3-compatible server; .ci/run starts moto), so tests/e2e/iceberg/s3_session.py \
             did not run"
        );
        return;
    }
    client_session("s3_session.py");
}

/// Runs tests/e2e/iceberg/SCRIPT with the clients' Python, and checks it passed in full.
fn client_session(script: &str) {
    let Some(python) = std::env::var_os("SLUICE_TEST_ICEBERG_PYTHON") else {
        eprintln!(
            "SKIPPED iceberg_python: SLUICE_TEST_ICEBERG_PYTHON is not set (a Python with \
             pyiceberg, Polars and DuckDB's iceberg extension; .ci/run provides one), so \
             tests/e2e/iceberg/{script} did not run"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = tempfile::tempdir().expect("temp dir");
    let done = support::run_until(
        Command::new(&python)
            .arg(root.join("tests/e2e/iceberg").join(script))
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .arg(work.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("SLUICE_LAKE"),
        DEADLINE,
        &format!("SLUICE_TEST_ICEBERG_PYTHON={python:?}"),
    );
    done.assert_passed_in_full("the Iceberg client session");
}
