//! The one error type of Python nodes.

use std::fmt;

/// What the worker printed, bounded: at most [`LOG_LIMIT`](super::worker::LOG_LIMIT)
/// bytes of the end of each stream are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logs {
    pub stdout: String,
    pub stderr: String,
    /// True when the beginning of a stream was dropped to respect the bound.
    pub truncated: bool,
}

/// Where a user-code error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPhase {
    /// Importing the node's module (or a project module it imports).
    Load,
    /// Calling the node function.
    Call,
}

/// An exception raised by user code.
#[derive(Debug, Clone)]
pub struct UserCodeError {
    pub function: String,
    pub phase: ErrorPhase,
    /// The exception type, qualified by its module unless it is a builtin
    /// (`ZeroDivisionError`, `polars.exceptions.ColumnNotFoundError`).
    pub type_name: String,
    pub message: String,
    /// The innermost frame inside the project: a path relative to the project root.
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Python's formatted traceback, without the worker's own frames.
    pub traceback: String,
    pub logs: Logs,
}

/// A node returned something that is not a table (or an expectation not a bool), or
/// the returned table could not be written as Arrow.
#[derive(Debug, Clone)]
pub struct BadReturnError {
    pub function: String,
    pub type_name: String,
    pub message: String,
    pub traceback: String,
    pub logs: Logs,
}

/// The worker process ended without a result: killed, crashed, or a worker bug.
#[derive(Debug, Clone)]
pub struct CrashError {
    pub function: String,
    /// Human-readable exit status (`exit status: 3`, `signal: 9 (SIGKILL)`).
    pub status: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// What went wrong, when the worker could tell (an internal error report).
    pub detail: Option<String>,
    pub logs: Logs,
}

/// Building a Python environment failed.
#[derive(Debug, Clone)]
pub struct EnvBuildError {
    pub message: String,
    /// The requirements of the environment (`polars==2.1.0`, ...).
    pub packages: Vec<String>,
    /// The end of the failing tool's stderr (uv, pip).
    pub stderr_tail: String,
}

/// Errors of Python environments and workers. No variant is produced by a panic:
/// user input (code, return values, package specs) always ends in one of these.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The environment could not be built (uv bootstrap, `uv venv`, `uv pip install`).
    #[error("{0}")]
    EnvBuild(Box<EnvBuildError>),
    /// The requested Python version is not installed (sluice never downloads one).
    #[error(
        "Python {requested} is not installed on this machine (sluice uses system interpreters only and never downloads one){}",
        detail_suffix(.detail)
    )]
    InterpreterNotFound { requested: String, detail: String },
    /// A package name or version in `@python(pip=...)` is not valid.
    #[error("invalid package requirement {name:?} = {version:?}: {reason}")]
    InvalidRequirement {
        name: String,
        version: String,
        reason: String,
    },
    /// The worker process could not be started.
    #[error("could not start the Python worker for {function}: {message}")]
    Spawn { function: String, message: String },
    /// Isolating the worker failed when it started; the node is not run (fail closed).
    #[error("could not isolate the Python worker for {function}: {message}")]
    Isolation { function: String, message: String },
    /// This host cannot provide a layer of isolation; no Python node runs.
    #[error(
        "cannot run Python nodes with {layer} on this host: {reason}; run with \
         --allow-weaker-isolation (or `allow_weaker_isolation = true` under [python] in \
         sluice.toml) to run them without it{}",
        network_hint(.layer)
    )]
    IsolationUnavailable { layer: String, reason: String },
    /// The node ran past its wall-clock limit; its processes were killed.
    #[error(
        "Python node {function} ran longer than its time limit of {limit} and was stopped \
         (raise it with --node-timeout or `node_timeout` under [python] in sluice.toml)"
    )]
    Timeout { function: String, limit: String },
    /// The node used more memory than its limit; its processes were killed.
    #[error(
        "Python node {function} exceeded its memory limit of {limit} and was stopped \
         (raise it with --node-memory or `node_memory` under [python] in sluice.toml)"
    )]
    MemoryLimit { function: String, limit: String },
    /// User code raised an exception.
    #[error("{0}")]
    UserCode(Box<UserCodeError>),
    /// The node returned a value that is not a table (an expectation: not a bool).
    #[error("{0}")]
    BadReturn(Box<BadReturnError>),
    /// The worker died without reporting a result.
    #[error("{0}")]
    Crashed(Box<CrashError>),
    /// Writing the inputs, reading the output, or the scratch directory failed.
    #[error("Python data exchange failed: {0}")]
    Exchange(String),
}

fn network_hint(layer: &str) -> &'static str {
    if layer.starts_with("network") {
        " (or with --allow-network, which lifts only the network layer)"
    } else {
        ""
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl fmt::Display for UserCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.phase {
            ErrorPhase::Load => "while loading the module of",
            ErrorPhase::Call => "in",
        };
        write!(
            f,
            "{}: {} ({at} {}",
            self.type_name, self.message, self.function
        )?;
        if let Some(file) = &self.file {
            write!(f, ", {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        f.write_str(")")
    }
}

impl fmt::Display for BadReturnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad return value of {}: {}", self.function, self.message)
    }
}

impl fmt::Display for CrashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Python worker for {} ended without a result ({})",
            self.function, self.status
        )?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        let tail = tail_lines(&self.logs.stderr, 20);
        if !tail.is_empty() {
            write!(f, "\nstderr (end):\n{tail}")?;
        }
        Ok(())
    }
}

impl fmt::Display for EnvBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not build the Python environment [{}]: {}",
            self.packages.join(", "),
            self.message
        )?;
        if !self.stderr_tail.is_empty() {
            write!(f, "\n{}", self.stderr_tail)?;
        }
        Ok(())
    }
}

impl PythonError {
    /// What the worker printed before the error, when it ran.
    pub fn logs(&self) -> Option<&Logs> {
        match self {
            PythonError::UserCode(e) => Some(&e.logs),
            PythonError::BadReturn(e) => Some(&e.logs),
            PythonError::Crashed(e) => Some(&e.logs),
            _ => None,
        }
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> &str {
    let text = text.trim_end();
    let mut start = text.len();
    for _ in 0..n {
        match text[..start].rfind('\n') {
            Some(i) => start = i,
            None => return text,
        }
    }
    &text[start + 1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines_keeps_the_end() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a\nb", 5), "a\nb");
        assert_eq!(tail_lines("", 5), "");
    }

    #[test]
    fn errors_stay_small() {
        assert!(std::mem::size_of::<PythonError>() <= 80);
    }
}
