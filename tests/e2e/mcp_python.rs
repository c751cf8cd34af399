//! `sluice mcp` driven by the official MCP Python SDK (PyPI `mcp`): the agent session
//! of tests/e2e/mcp/client_session.py over stdio — list tools, check a broken project,
//! check it with a fixing overlay, run on a branch, query, a refused merge into main,
//! then a merge by a server started with `--allow-writes-to main`; and
//! tests/e2e/mcp/http_session.py over streamable HTTP (`--http PORT`).
//!
//! The interpreter is `$SLUICE_TEST_MCP_PYTHON` (`.ci/run` points it at a cached
//! virtualenv with `mcp` pinned); when it is set the session must run and pass in
//! full. Without it the test says loudly that it was skipped.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How long the whole session may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn python_sdk_client_session_against_sluice_mcp() {
    client_session("client_session.py");
}

/// The same server over streamable HTTP (`--http PORT`, 127.0.0.1): tools, a branch of
/// the agent's own, and the guard refusing a merge into main.
#[test]
fn python_sdk_session_over_streamable_http() {
    client_session("http_session.py");
}

/// Runs tests/e2e/mcp/SCRIPT with the SDK's Python, and checks it passed in full.
fn client_session(script: &str) {
    let Some(python) = std::env::var_os("SLUICE_TEST_MCP_PYTHON") else {
        eprintln!(
            "SKIPPED mcp_python: SLUICE_TEST_MCP_PYTHON is not set (a Python with the `mcp` \
             package; .ci/run provides one), so tests/e2e/mcp/{script} did not run"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = tempfile::tempdir().expect("temp dir");
    let done = support::run_until(
        Command::new(&python)
            .arg(root.join("tests/e2e/mcp").join(script))
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .arg(root.join("tests/fixtures/run"))
            .arg(work.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("SLUICE_LAKE"),
        DEADLINE,
        &format!("SLUICE_TEST_MCP_PYTHON={python:?}"),
    );
    done.assert_passed_in_full("the MCP client session");
}
