//! `sluice-cluster`: SQL on an Apache DataFusion Ballista cluster.
//!
//! The one `sluice` binary is the client, the scheduler and every executor:
//! [`Scheduler`] and [`run_executor`] embed Ballista's own scheduler and executor
//! processes, and [`connect`] makes a client session whose queries run on the
//! cluster, planned with the checker's DataFusion configuration
//! ([`sluice_compiler::sql_plan::session_config`]).
//!
//! Every process reads the lake's data files by URL through [`LakeStores`]:
//! `file://` on the machine that holds the lake folder, `s3://bucket/…` configured
//! from the `AWS_*` environment, as the lake itself opens S3.

mod client;
mod error;
mod executor;
mod scheduler;
mod stores;

pub use client::{EngineUrl, LOST_PATIENCE, connect, query, ready, watch};
pub use error::{ClusterError, Result};
pub use executor::{ExecutorOptions, run_executor};
pub use scheduler::{DEFAULT_EXECUTOR_TIMEOUT, MIN_EXECUTOR_TIMEOUT, Scheduler};
pub use stores::LakeStores;
