//! Front ends: each turns one file's text into an item tree plus diagnostics, and never
//! fails on any input.

pub mod py_tokens;
pub mod python;
mod python_errors;
pub mod sql;
