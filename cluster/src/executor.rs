//! Ballista's executor, in process.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::RuntimeProducer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

use crate::error::{ClusterError, Result};
use crate::stores::LakeStores;

/// How an executor joins a cluster.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The scheduler's `HOST:PORT`.
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Where its Arrow Flight service (shuffle data for other executors and
    /// results for clients) listens; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The host other processes reach it by (default: the bound IP).
    pub external_host: Option<String>,
    /// Tasks run at once (0: one per CPU).
    pub concurrency: usize,
    /// How long to wait for the scheduler to accept connections.
    pub connect_timeout: Duration,
}

/// The Flight address an executor with `options` will serve on: a port of 0 is
/// replaced by a port free now.
fn resolve_bind(options: &ExecutorOptions) -> Result<SocketAddr> {
    if options.bind.port() != 0 {
        return Ok(options.bind);
    }
    let net = |source| ClusterError::Net {
        what: "finding a free port on",
        addr: options.bind.to_string(),
        source,
    };
    let probe = std::net::TcpListener::bind(options.bind).map_err(net)?;
    probe.local_addr().map_err(net)
}

/// Waits until the scheduler accepts a TCP connection, for at most `timeout`.
async fn wait_for_scheduler(host: &str, port: u16, timeout: Duration) -> Result<()> {
    let addr = format!("{host}:{port}");
    let deadline = Instant::now() + timeout;
    loop {
        let probe = addr.clone();
        let reached = tokio::task::spawn_blocking(move || {
            use std::net::ToSocketAddrs;
            let addrs = probe.to_socket_addrs()?;
            let mut last = std::io::Error::other("no address");
            for a in addrs {
                match TcpStream::connect_timeout(&a, Duration::from_secs(1)) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
        .await
        .map_err(|e| ClusterError::Net {
            what: "reaching the scheduler at",
            addr: addr.clone(),
            source: std::io::Error::other(e),
        })?;
        if reached.is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::SchedulerUnreachable {
                addr,
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs an executor until SIGINT, SIGTERM or a stop request from the scheduler:
/// waits for the scheduler (at most `options.connect_timeout`), calls `ready` with
/// the Flight address it is about to serve on, and joins the cluster. Its shuffle
/// files live in a temporary folder removed when it returns.
pub async fn run_executor(options: &ExecutorOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    wait_for_scheduler(
        &options.scheduler_host,
        options.scheduler_port,
        options.connect_timeout,
    )
    .await?;
    let bind = resolve_bind(options)?;
    let work_dir = tempfile::Builder::new()
        .prefix("sluice-executor-")
        .tempdir()
        .map_err(ClusterError::WorkDir)?;
    let work_path = work_dir.path().to_path_buf();
    let stores = Arc::new(LakeStores::default());
    let temp = work_path.clone();
    let runtime: RuntimeProducer = Arc::new(move |_config| stores.runtime_env(Some(&temp)));
    let config = ExecutorProcessConfig {
        bind_host: bind.ip().to_string(),
        external_host: Some(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| bind.ip().to_string()),
        ),
        port: bind.port(),
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        vcores: options.concurrency,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(work_path.display().to_string()),
        override_runtime_producer: Some(runtime),
        ..ExecutorProcessConfig::default()
    };
    ready(bind);
    let ran = start_executor_process(Arc::new(config)).await;
    drop(work_dir);
    Ok(ran?)
}
