//! Ballista's scheduler, in process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::SessionStateBuilder;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;

use crate::error::{ClusterError, Result};
use crate::stores::LakeStores;

/// A scheduler bound to its address, not yet serving. Executors pull their tasks
/// from it (Ballista's pull-staged policy: an executor needs no inbound port but
/// its Arrow Flight one, which serves shuffle data).
pub struct Scheduler {
    listener: TcpListener,
    addr: SocketAddr,
    executor_timeout: Duration,
}

/// The shortest [`Scheduler::with_executor_timeout`]: a busy executor reports to
/// the scheduler every 5 s, so a shorter timeout would declare healthy executors
/// lost.
pub const MIN_EXECUTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// The default [`Scheduler::with_executor_timeout`].
pub const DEFAULT_EXECUTOR_TIMEOUT: Duration = Duration::from_secs(30);

impl Scheduler {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> Result<Scheduler> {
        let net = |source| ClusterError::Net {
            what: "binding the scheduler to",
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(net)?;
        let addr = listener.local_addr().map_err(net)?;
        Ok(Scheduler {
            listener,
            addr,
            executor_timeout: DEFAULT_EXECUTOR_TIMEOUT,
        })
    }

    /// How long an executor may go unheard before the scheduler declares it lost
    /// and runs its tasks again elsewhere (and how long a cluster that lost its
    /// last executor waits for one before failing its running jobs). At least
    /// [`MIN_EXECUTOR_TIMEOUT`].
    pub fn with_executor_timeout(mut self, timeout: Duration) -> Result<Scheduler> {
        if timeout < MIN_EXECUTOR_TIMEOUT {
            return Err(ClusterError::ExecutorTimeout {
                seconds: timeout.as_secs(),
                min: MIN_EXECUTOR_TIMEOUT.as_secs(),
            });
        }
        self.executor_timeout = timeout;
        Ok(self)
    }

    /// The address it listens on (gRPC for clients and executors, and HTTP
    /// `/healthz` and `/readyz`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes (or the server fails).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let stores = Arc::new(LakeStores::default());
        let timeout = self.executor_timeout.as_secs();
        let mut config = SchedulerConfig::default()
            .with_hostname(self.addr.ip().to_string())
            .with_port(self.addr.port())
            .with_scheduler_policy(TaskSchedulingPolicy::PullStaged)
            // A lost executor's tasks run again elsewhere; a cluster left with no
            // executor fails its running jobs after the same time instead of
            // holding them forever.
            .with_no_executors_grace_period_seconds(timeout)
            .with_override_session_builder(Arc::new(move |config| {
                // Ballista's own session (its optimizer rules and functions), reading
                // the lake's files through `LakeStores`: the scheduler lists and
                // plans the files of every scan.
                let state = ballista_core::utils::default_session_builder(config)?;
                Ok(SessionStateBuilder::new_from_existing(state)
                    .with_runtime_env(stores.runtime_env(None)?)
                    .build())
            }));
        config.bind_host = self.addr.ip().to_string();
        config.executor_timeout_seconds = timeout;
        // Looked for three times per timeout (Ballista's default: every 15 s).
        config.expire_dead_executor_interval_seconds = (timeout / 3).clamp(1, 15);
        let config = Arc::new(config);
        let cluster = BallistaCluster::new_from_config(&config).await?;
        let scheduler =
            create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config).await?;
        tokio::select! {
            served = start_grpc_service_with_listener(self.listener, scheduler) => Ok(served?),
            () = shutdown => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_executor_timeout_shorter_than_two_heartbeats_is_refused() {
        let any = "127.0.0.1:0".parse().unwrap();
        let short = Scheduler::bind(any)
            .await
            .unwrap()
            .with_executor_timeout(Duration::from_secs(9));
        let Err(e) = short else {
            panic!("a 9 s executor timeout was accepted");
        };
        assert!(e.to_string().contains("at least 10 s"), "{e}");
        let ok = Scheduler::bind(any)
            .await
            .unwrap()
            .with_executor_timeout(MIN_EXECUTOR_TIMEOUT)
            .unwrap();
        assert_eq!(ok.executor_timeout, MIN_EXECUTOR_TIMEOUT);
    }
}
