//! Standard output. Everything sluice prints on stdout goes through [`write()`] (the
//! [`outln!`](crate::outln) and [`out!`](crate::out) macros), never `println!`, which
//! panics ("failed printing to stdout") when the reader has gone.
//!
//! A closed pipe (`sluice log | head -1`) is not an error: like ripgrep, sluice stops
//! printing and exits quietly with the exit code the command would have had (so
//! `sluice check | head` still exits 1 when the project has errors). SIGPIPE stays
//! ignored (Rust's default), so the language server and child processes (Python
//! workers, which get the default disposition back when spawned) are unaffected.
//! Any other write failure (a full disk behind a redirect) is reported once by
//! `main` as an I/O error, exit 2.

use std::io::{ErrorKind, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout can take no more output (closed by the reader, or failed).
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write failure that was not a closed pipe.
static FAILURE: OnceLock<String> = OnceLock::new();

/// Writes `bytes` to stdout and flushes. After the reader closed the pipe (or a
/// write failed) it writes nothing.
pub fn write(bytes: &[u8]) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => CLOSED.store(true, Ordering::Relaxed),
        Err(e) => {
            CLOSED.store(true, Ordering::Relaxed);
            let _ = FAILURE.set(e.to_string());
        }
    }
}

/// The write failure to report, if stdout failed for another reason than a closed
/// pipe.
pub fn failure() -> Option<&'static str> {
    FAILURE.get().map(String::as_str)
}

/// `print!` through [`write()`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format!($($arg)*).as_bytes())
    };
}

/// `println!` through [`write()`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write(b"\n")
    };
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::output::write(line.as_bytes())
    }};
}
