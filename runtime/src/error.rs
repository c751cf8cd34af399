//! Errors of the runtime. A failed *run* is not an error of the API: it is a
//! [`crate::RunRecord`] with status [`crate::RunStatus::Failed`]. These are the failures that stop
//! the runtime from producing a report at all (or that a node reports).

use std::path::PathBuf;

use sluice_lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Lake(Box<LakeError>),
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Project(String),
    /// A run parameter without a value, or with a value that is not its declared type:
    /// nothing was recorded or executed.
    #[error("{0}")]
    Parameter(String),
    /// An operation on a recorded run that does not apply to it (reverting a run
    /// into a branch it never reached, pruning a branch a live run uses).
    #[error("{0}")]
    Refused(String),
    /// The project asks for something sluice does not implement (a materialization
    /// strategy): nothing was recorded or executed.
    #[error("{0}")]
    Unsupported(String),
    #[error("run `{0}` not found (see `sluice runs`)")]
    RunNotFound(String),
    #[error("run id prefix `{prefix}` is ambiguous: {matches}")]
    AmbiguousRun { prefix: String, matches: String },
    #[error("run record {id} is unreadable: {reason}")]
    BadRecord { id: String, reason: String },
    #[error(transparent)]
    Python(Box<crate::python::PythonError>),
    #[error("SQL execution failed: {0}")]
    DataFusion(Box<datafusion::error::DataFusionError>),
    #[error("Arrow: {0}")]
    Arrow(Box<arrow_schema::ArrowError>),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Runs blocking work (file system walks, compilation, archiving) on tokio's
/// blocking pool, so it never stalls a runtime worker that other nodes' tasks need.
pub(crate) async fn blocking<T, F>(what: &'static str, f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Internal(format!("{what} did not finish: {e}")))?
}

macro_rules! boxed_from {
    ($($variant:ident($t:ty)),*) => {
        $(impl From<$t> for RuntimeError {
            fn from(e: $t) -> Self {
                RuntimeError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    Lake(LakeError),
    Python(crate::python::PythonError),
    DataFusion(datafusion::error::DataFusionError),
    Arrow(arrow_schema::ArrowError)
);
