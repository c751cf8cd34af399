//! End-to-end tests of sluice's command-line conventions: closed pipes, usage
//! errors and help, lakes only created by writes, scaffolding and completions, and
//! the CI output formats of `sluice check`.

#[path = "../support/mod.rs"]
mod support;

mod ci;
mod init;
mod no_lake;
mod pipe;
mod smaller;
mod usage;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `sluice ARGS` in `cwd` with a clean environment (no `SLUICE_LAKE`, no color).
pub fn sluice_in(cwd: &Path, args: &[&str]) -> Output {
    command(cwd, args).output().expect("run sluice")
}

/// The command `sluice ARGS` in `cwd`, environment cleaned.
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("SLUICE_LAKE")
        .env_remove("SLUICE_DATA")
        .env("SLUICE_AUTHOR", "tester")
        .env("NO_COLOR", "1");
    cmd
}

/// A fixture project of `tests/fixtures/check`.
pub fn check_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/check")
        .join(name)
}

/// Text of a process' stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Text of a process' stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
