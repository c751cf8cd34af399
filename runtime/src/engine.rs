//! Where a run's SQL nodes execute: in this process (the default), or on an engine
//! the caller supplies sessions for (a cluster), reading the lake's files by URL.
//! The runtime knows no engine itself: the caller hands it a session factory.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

/// Makes one session per query on the engine; `Err` is the reason it cannot.
pub type SessionFactory = Arc<dyn Fn() -> Result<SessionContext, String> + Send + Sync>;

/// Makes one watch per query on the engine: a future that resolves, with the
/// reason, once the engine can no longer finish the query (a cluster left with no
/// executor), and never while it can.
pub type WatchFactory = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// An engine for a run's SQL nodes ([`crate::RunOptions::sql_engine`]). Only the
/// query runs there: validation, the lake's writer, commits and the publishing
/// merge stay in this process, and run parameters are bound before the plan leaves
/// it. Python nodes, their `Model(filter=...)` inputs and expectations run here too.
#[derive(Clone)]
pub struct SqlEngine {
    /// How errors name the engine, e.g. `ballista://127.0.0.1:50050`.
    pub name: String,
    /// A new session for one query: it must plan with
    /// [`sluice_compiler::sql_plan::session_config`] (execution types equal checked
    /// types) and reach the files under `data_url`.
    pub session: SessionFactory,
    /// The lake's data store root as the engine's processes open it
    /// ([`sluice_lake::DataStore::root_url`]): a node's inputs, sources and the
    /// run's earlier outputs alike, are registered as their files under it.
    pub data_url: url::Url,
    /// Raced against each query: when it resolves first, the node fails with its
    /// reason instead of waiting on an engine that will not answer.
    pub watch: Option<WatchFactory>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("name", &self.name)
            .field("data_url", &self.data_url.as_str())
            .finish_non_exhaustive()
    }
}
