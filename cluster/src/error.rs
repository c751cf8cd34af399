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
    /// Nothing listens at a client's engine address.
    #[error(
        "no scheduler at {engine} ({why}); start one with \
         `sluice cluster scheduler --bind {addr}`, or check the engine's address"
    )]
    NoScheduler {
        engine: String,
        addr: String,
        why: String,
    },
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
    /// An executor timeout too short for executors' heartbeats.
    #[error(
        "an executor timeout of {seconds} s is too short: busy executors report every 5 s, \
         so it must be at least {min} s"
    )]
    ExecutorTimeout { seconds: u64, min: u64 },
    /// The cluster lost its executors (or its scheduler stopped answering) while a
    /// query was on it, for longer than the client waits.
    #[error(
        "the cluster at {engine} could not run the query: {why} for {seconds} s \
         (its scheduler said: {said}); start an executor with \
         `sluice cluster executor --scheduler {addr}`"
    )]
    Lost {
        engine: String,
        addr: String,
        why: &'static str,
        seconds: u64,
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
