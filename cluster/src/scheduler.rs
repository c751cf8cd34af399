//! Ballista's scheduler, in process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

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
}

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
        Ok(Scheduler { listener, addr })
    }

    /// The address it listens on (gRPC for clients and executors, and HTTP
    /// `/healthz` and `/readyz`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes (or the server fails).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let stores = Arc::new(LakeStores::default());
        let mut config = SchedulerConfig::default()
            .with_hostname(self.addr.ip().to_string())
            .with_port(self.addr.port())
            .with_scheduler_policy(TaskSchedulingPolicy::PullStaged)
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
