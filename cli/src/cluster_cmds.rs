//! `sluice cluster scheduler|executor`: the processes of a DataFusion Ballista
//! cluster, and `--engine ballista://HOST:PORT` for the commands that run SQL on one.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::lake_cmds::{CmdError, usage};

/// Where SQL runs: `local` (in this process) or `ballista://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    Local,
    /// A cluster's scheduler, as given (checked when it is used).
    Ballista(String),
}

impl Engine {
    /// `local`, or a `ballista://` URL.
    pub fn parse(value: &str) -> Result<Engine, String> {
        if value == "local" {
            return Ok(Engine::Local);
        }
        if value.starts_with("ballista://") {
            #[cfg(feature = "cluster")]
            sluice_cluster::EngineUrl::parse(value).map_err(|e| e.to_string())?;
            return Ok(Engine::Ballista(value.to_string()));
        }
        Err(format!(
            "unknown engine `{value}`: use `local` or ballista://HOST:PORT"
        ))
    }

    /// The engine a command uses: its `--engine`, else `$SLUICE_ENGINE` (empty: local),
    /// else `engine = "..."` in the project's sluice.toml, else local.
    pub(crate) fn chosen(
        flag: Option<Engine>,
        settings: &crate::lake_loc::ProjectSettings,
    ) -> Result<Engine, CmdError> {
        if let Some(engine) = flag {
            return Ok(engine);
        }
        match std::env::var(ENGINE_ENV) {
            Ok(value) if !value.is_empty() => {
                return Engine::parse(&value).map_err(|e| usage(format!("{ENGINE_ENV}: {e}")));
            }
            Ok(_) => return Ok(Engine::Local),
            Err(std::env::VarError::NotPresent) => {}
            Err(e) => return Err(usage(format!("{ENGINE_ENV}: {e}"))),
        }
        match &settings.engine {
            Some(value) => {
                Engine::parse(value).map_err(|e| usage(format!("sluice.toml `engine`: {e}")))
            }
            None => Ok(Engine::Local),
        }
    }
}

/// The environment variable naming the engine of `sluice query` and `sluice run`
/// when `--engine` is not given.
pub(crate) const ENGINE_ENV: &str = "SLUICE_ENGINE";

/// What `sluice run` hands the runtime for `engine`: `None` runs SQL nodes in this
/// process; a cluster gets a session factory and the lake's data URL.
pub(crate) async fn sql_engine(
    lake: &sluice_lake::Lake,
    engine: &Engine,
) -> Result<Option<sluice_runtime::SqlEngine>, CmdError> {
    let url = match engine {
        Engine::Local => return Ok(None),
        Engine::Ballista(url) => url,
    };
    #[cfg(feature = "cluster")]
    {
        let parsed = sluice_cluster::EngineUrl::parse(url).map_err(|e| usage(e.to_string()))?;
        sluice_cluster::ready(&parsed)
            .await
            .map_err(cluster_error)?;
        let data_url = lake.data().root_url()?;
        let watched = parsed.clone();
        let session: sluice_runtime::SessionFactory = std::sync::Arc::new(move || {
            sluice_cluster::connect(&parsed).map_err(|e| e.to_string())
        });
        let watch: sluice_runtime::WatchFactory = std::sync::Arc::new(move || {
            let engine = watched.clone();
            Box::pin(async move {
                sluice_cluster::watch(engine, sluice_cluster::LOST_PATIENCE)
                    .await
                    .to_string()
            })
        });
        Ok(Some(sluice_runtime::SqlEngine {
            name: url.clone(),
            session,
            data_url,
            watch: Some(watch),
        }))
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = lake;
        Err(without_cluster(url))
    }
}

/// Runs `sql` over the tables of `reference` on the cluster at `url`.
pub(crate) async fn query(
    lake: &sluice_lake::Lake,
    url: &str,
    sql: &str,
    reference: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), CmdError> {
    #[cfg(feature = "cluster")]
    {
        let engine = sluice_cluster::EngineUrl::parse(url).map_err(|e| usage(e.to_string()))?;
        sluice_cluster::query(lake, &engine, sql, reference)
            .await
            .map_err(cluster_error)
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = (lake, sql, reference);
        Err(without_cluster(url))
    }
}

#[cfg(not(feature = "cluster"))]
fn without_cluster(url: &str) -> CmdError {
    usage(format!(
        "engine `{url}`: this sluice was built without its `cluster` feature \
         (a default feature: build without --no-default-features)"
    ))
}

#[cfg(feature = "cluster")]
fn cluster_error(e: sluice_cluster::ClusterError) -> CmdError {
    match e {
        sluice_cluster::ClusterError::Lake(l) => l.into(),
        sluice_cluster::ClusterError::EngineUrl { .. } => usage(e.to_string()),
        other => CmdError {
            code: 1,
            kind: "cluster",
            message: other.to_string(),
            detail: serde_json::Value::Null,
        },
    }
}

#[cfg(feature = "cluster")]
pub use process::{ClusterCommand, run};

#[cfg(feature = "cluster")]
mod process {
    use std::net::SocketAddr;
    use std::time::Duration;

    use clap::Subcommand;

    use crate::exit;
    use std::process::ExitCode;

    #[derive(Subcommand, Debug)]
    pub enum ClusterCommand {
        /// Run a scheduler: clients send it queries, executors pull tasks from it.
        /// Prints its address on stderr and serves until SIGINT or SIGTERM.
        Scheduler {
            /// The address to listen on (port 0: any free port). It has no
            /// authentication: anyone who reaches it runs queries with the
            /// executors' access to the data.
            #[arg(long, default_value = "127.0.0.1:50050")]
            bind: SocketAddr,
            /// Seconds an executor may go unheard before its tasks run again on
            /// the others (at least 10: busy executors report every 5 s). A
            /// cluster that lost its last executor fails its running queries after
            /// as long again, unless one registers.
            #[arg(long, value_name = "SECONDS", default_value_t = 30)]
            executor_timeout: u64,
        },
        /// Run an executor of the scheduler at `--scheduler`: it runs query tasks,
        /// reading the lake's files (a local lake folder must be on its machine, S3
        /// is reached with the `AWS_*` environment). Prints its address on stderr
        /// and serves until SIGINT or SIGTERM.
        Executor {
            /// The scheduler's HOST:PORT.
            #[arg(long, value_name = "HOST:PORT")]
            scheduler: String,
            /// Where its Arrow Flight service (shuffle data, results) listens
            /// (port 0: any free port).
            #[arg(long, default_value = "127.0.0.1:0")]
            bind: SocketAddr,
            /// The host other processes reach it by (default: the bound address).
            #[arg(long)]
            external_host: Option<String>,
            /// Tasks run at once (default: one per CPU).
            #[arg(long, default_value_t = 0)]
            concurrency: usize,
            /// Seconds to wait for the scheduler to accept connections.
            #[arg(long, default_value_t = 30)]
            connect_timeout: u64,
        },
    }

    /// Runs a cluster process until it is stopped.
    pub fn run(cmd: ClusterCommand) -> ExitCode {
        let Some(rt) = crate::async_runtime() else {
            return ExitCode::from(exit::USAGE);
        };
        let result = match cmd {
            ClusterCommand::Scheduler {
                bind,
                executor_timeout,
            } => rt.block_on(scheduler(bind, Duration::from_secs(executor_timeout))),
            ClusterCommand::Executor {
                scheduler,
                bind,
                external_host,
                concurrency,
                connect_timeout,
            } => rt.block_on(executor(
                &scheduler,
                bind,
                external_host,
                concurrency,
                connect_timeout,
            )),
        };
        match result {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("error: sluice cluster: {e:#}");
                ExitCode::from(exit::USAGE)
            }
        }
    }

    async fn scheduler(bind: SocketAddr, executor_timeout: Duration) -> anyhow::Result<()> {
        let scheduler = sluice_cluster::Scheduler::bind(bind)
            .await?
            .with_executor_timeout(executor_timeout)?;
        eprintln!(
            "sluice cluster scheduler: listening on {} (engine ballista://{})",
            scheduler.local_addr(),
            scheduler.local_addr()
        );
        scheduler.serve(crate::serve::shutdown()).await?;
        Ok(())
    }

    async fn executor(
        scheduler: &str,
        bind: SocketAddr,
        external_host: Option<String>,
        concurrency: usize,
        connect_timeout: u64,
    ) -> anyhow::Result<()> {
        // The scheduler's address is an engine's, without the scheme.
        let at = sluice_cluster::EngineUrl::parse(&format!("ballista://{scheduler}"))
            .map_err(|_| anyhow::anyhow!("--scheduler `{scheduler}`: expected HOST:PORT"))?;
        let options = sluice_cluster::ExecutorOptions {
            scheduler_host: at.host,
            scheduler_port: at.port,
            bind,
            external_host,
            concurrency,
            connect_timeout: Duration::from_secs(connect_timeout),
        };
        sluice_cluster::run_executor(&options, |addr| {
            eprintln!("sluice cluster executor: serving on {addr}, scheduler {scheduler}");
        })
        .await?;
        Ok(())
    }
}
