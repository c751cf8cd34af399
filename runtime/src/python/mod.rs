//! Python nodes: cached `uv` environments and isolated worker processes that
//! exchange Arrow IPC with the runtime (docs/python-nodes.md).
//!
//! ```no_run
//! # async fn f(batches: Vec<arrow::array::RecordBatch>, schema: arrow::datatypes::SchemaRef)
//! # -> Result<(), sluice_runtime::python::PythonError> {
//! use sluice_runtime::python::*;
//! let envs = EnvManager::new(EnvManager::default_cache_dir());
//! let env = envs.ensure(&EnvSpec::default()).await?;
//! let out = run_node(&env, NodeJob {
//!     project_root: std::path::Path::new("."),
//!     file: "child.py",
//!     function: "child_table",
//!     inputs: vec![WorkerInput { param: "df".into(), table: "parent_table".into(), schema, batches }],
//!     params: Default::default(),
//!     tables: [("parent_table", "parent_table"), ("child_table", "child_table")]
//!         .map(|(n, t)| (n.to_string(), t.to_string()))
//!         .into(),
//!     dataframe: DataFrameKind::Polars,
//!     isolation: Isolation::default(),
//!     on_output: None,
//! }).await?;
//! println!("{} rows in {:?}", out.num_rows, out.timings.total);
//! # Ok(()) }
//! ```

mod cgroup;
mod embedded;
mod env;
mod error;
mod exchange;
mod isolate;
mod sandbox;
mod seccomp;
mod worker;

pub use embedded::{PACKAGE_FILES, package_digest};
pub use env::{
    DEFAULT_PACKAGES, EnvManager, EnvSpec, PANDAS_VERSION, PythonEnv, UV_VERSION, requirement,
};
pub use error::{
    BadReturnError, CrashError, EnvBuildError, ErrorPhase, Logs, PythonError, UserCodeError,
};
pub use isolate::{
    DEFAULT_NODE_TIMEOUT, Isolation, Layer, default_node_memory, format_memory_size,
    isolation_warnings, parse_memory_size,
};
pub use worker::{
    DataFrameKind, ExpectationOutcome, LOG_LIMIT, MAX_LINE, NodeJob, NodeOutput, OutputSink,
    OutputStream, Timings, WorkerInput, run_expectation, run_node,
};

/// The message a node sees when it tries to reach the network without
/// `--allow-network` (raised by the worker's audit hook).
pub const NETWORK_DISABLED_MESSAGE: &str =
    "network access is disabled for Python nodes (sluice run --allow-network lifts it)";

#[cfg(test)]
mod tests {
    #[test]
    fn network_message_matches_the_worker() {
        let worker = super::PACKAGE_FILES
            .iter()
            .find(|(n, _)| *n == "_worker.py")
            .unwrap()
            .1;
        assert!(worker.contains(super::NETWORK_DISABLED_MESSAGE));
    }
}
