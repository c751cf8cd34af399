//! The cluster's errors.

/// Why a cluster process or a cluster query failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// An engine URL that is not `ballista://HOST:PORT`.
    #[error("engine `{url}`: {reason} (expected ballista://HOST:PORT)")]
    EngineUrl { url: String, reason: String },
    /// A socket could not be bound or reached.
    #[error("{what} {addr}: {source}")]
    Net {
        what: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The scheduler did not accept connections in time.
    #[error("no scheduler answered at {addr} within {seconds} s")]
    SchedulerUnreachable { addr: String, seconds: u64 },
    /// The scheduler answers but has no executor to run anything: a query sent to
    /// it would wait until one registers.
    #[error(
        "the cluster at {engine} has no executor to run on (its scheduler says: {said}); \
         start one with `sluice cluster executor --scheduler {addr}`"
    )]
    NoExecutor {
        engine: String,
        addr: String,
        said: String,
    },
    /// Ballista's scheduler or executor failed.
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// DataFusion failed to set up a session.
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// The lake refused or failed the query.
    #[error(transparent)]
    Lake(#[from] sluice_lake::LakeError),
    /// The executor's working folder could not be made.
    #[error("executor work folder: {0}")]
    WorkDir(#[source] std::io::Error),
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
