//! `sluice serve`: the lake's tables as Apache Iceberg tables, through an Iceberg
//! REST catalog (sluice-iceberg), for Spark, Trino, DuckDB, pyiceberg, Polars...
//! (docs/interop.md).

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Args;
use sluice_iceberg::{BASE, IcebergCatalog, ServeOptions};

use crate::exit;
use crate::lake_loc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    lake: crate::lake_cmds::LakeArg,
    /// The port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8181)]
    port: u16,
    /// The address to listen on. The catalog has no authentication: anyone who
    /// can reach it reads every table at every ref.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

/// Runs the catalog until interrupted (SIGINT or SIGTERM).
pub fn run(args: ServeArgs) -> ExitCode {
    let Some(rt) = crate::async_runtime() else {
        return ExitCode::from(exit::USAGE);
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: sluice serve: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings =
        lake_loc::project_settings(&lake_loc::current_dir()).map_err(|e| anyhow::anyhow!(e))?;
    let lake = lake_loc::open(args.lake.lake.as_deref(), &settings).await?;
    let options = ServeOptions {
        table_config: s3_config(&lake),
    };
    let service = sluice_iceberg::router(IcebergCatalog::new(lake), options);
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let address = listener.local_addr()?;
    eprintln!("sluice serve: Iceberg REST catalog on http://{address}{BASE}");
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(service),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the default action (exit) still applies.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// For a lake on S3, what a client needs besides its own credentials to read the
/// files: the endpoint (an S3-compatible server) and region the lake uses, as
/// pyiceberg and Spark's S3FileIO name them. Credentials are never handed out.
fn s3_config(lake: &sluice_lake::Lake) -> HashMap<String, String> {
    let mut config = HashMap::new();
    if lake.data().is_local() {
        return config;
    }
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
    };
    if let Some(endpoint) = var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]) {
        config.insert("s3.endpoint".to_string(), endpoint);
        config.insert("s3.path-style-access".to_string(), "true".to_string());
    }
    if let Some(region) = var(&["AWS_REGION", "AWS_DEFAULT_REGION"]) {
        config.insert("s3.region".to_string(), region.clone());
        config.insert("client.region".to_string(), region);
    }
    config
}
