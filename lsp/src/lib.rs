//! `sluice lsp`: the language server. It shows the diagnostics of `sluice check` live,
//! for every file of a project, computed on the unsaved buffers the editor holds.
//!
//! Architecture invariants (ARCHITECTURE.md): this crate depends on the compiler only;
//! the main loop (`server`) never waits on analysis, which runs on one worker thread
//! (`analysis`); a result computed from anything but the latest text is never
//! published; a panic in an analysis or a handler is caught, logged to the client with
//! `window/logMessage`, and the server keeps serving.
//!
//! The modules follow the data: `documents` holds the open buffers, `workspace`
//! decides which project a file belongs to, `project` is the one place that calls the
//! compiler, `convert` turns its diagnostics into LSP ones.

mod analysis;
mod convert;
mod documents;
mod project;
mod server;
mod workspace;

pub use convert::CODES_ANCHOR;
pub use server::run;

/// Failures that end the server: the transport broke. Nothing a client sends is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("language server protocol: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("language server I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `exit` after `shutdown`: the only clean ending (exit code 0).
    Exited,
    /// `exit` without `shutdown` first (the protocol asks for exit code 1).
    ExitedWithoutShutdown,
    /// The client closed the connection without `exit`.
    Disconnected,
}

impl Ending {
    /// Whether the process should exit with 0.
    pub fn is_clean(self) -> bool {
        self == Ending::Exited
    }
}

/// Serves one client over standard input and output until it exits.
pub fn run_stdio() -> Result<Ending, Error> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    let ending = run(connection)?;
    // The connection is dropped: the writer flushes and stops; the reader has stopped
    // at `exit` or at the end of its input.
    io_threads.join()?;
    Ok(ending)
}
