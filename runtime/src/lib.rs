//! `sluice-runtime`: executes a verified plan against the lake.
//!
//! A run compiles the project, branches from the target's head, executes the
//! nodes (SQL on DataFusion, Python in isolated worker processes), validates
//! every output against its contract before committing it to the run's
//! branch, and publishes all outputs with one merge, or none.

pub mod python;
