//! `sluice-runtime`: executes a verified plan against the lake.
//!
//! A run compiles the project, branches from the target's head, executes the
//! nodes (SQL on DataFusion, Python in isolated worker processes), validates
//! every output against its contract before committing it to the run's
//! branch, and publishes all outputs with one merge, or none (docs/runs.md).

pub mod archive;
mod engine;
mod error;
mod exec;
mod params;
pub mod prune;
pub mod python;
pub mod record;
mod run;
pub mod runs;
pub mod validate;

pub use engine::{SessionFactory, SqlEngine, WatchFactory};
pub use error::{Result, RuntimeError};
pub use record::{NodeRecord, NodeStatus, RunRecord, RunStatus};
pub use run::{Observer, RunEvent, RunOptions, RunOutcome, recover_stale_runs, run};
