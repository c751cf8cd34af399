//! Client sessions on a cluster, and queries over the lake through them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::extension::SessionStateExt;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use sluice_lake::Lake;

use crate::error::{ClusterError, Result};
use crate::stores::LakeStores;

/// A cluster engine: `ballista://HOST:PORT`, the scheduler's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineUrl {
    pub host: String,
    pub port: u16,
}

impl EngineUrl {
    /// Parses `ballista://HOST:PORT` (the port is required: a cluster has no
    /// default address).
    pub fn parse(url: &str) -> Result<EngineUrl> {
        let bad = |reason: &str| ClusterError::EngineUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("ballista://")
            .ok_or_else(|| bad("not a ballista:// URL"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err(bad("no host"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        Ok(EngineUrl {
            host: host.to_string(),
            port,
        })
    }

    /// `HOST:PORT`, an IPv6 host in brackets (as `--bind` and `--scheduler` take it).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The scheduler's gRPC endpoint.
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }
}

impl std::fmt::Display for EngineUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ballista://{}", self.addr())
    }
}

/// A session whose queries run on the cluster at `engine`, configured as the
/// checker plans ([`sluice_compiler::sql_plan::session_config`]), reading data
/// through [`LakeStores`]. Nothing is sent to the scheduler until a query runs.
pub fn connect(engine: &EngineUrl) -> Result<SessionContext> {
    let stores = Arc::new(LakeStores::default());
    let state = SessionStateBuilder::new()
        .with_config(sluice_compiler::sql_plan::session_config())
        .with_default_features()
        .with_runtime_env(stores.runtime_env(None)?)
        .build()
        .upgrade_for_ballista(engine.endpoint())?;
    Ok(SessionContext::new_with_state(state))
}

/// How long one question to the scheduler's `/readyz` waits for its answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`watch`] asks.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// How long [`watch`] lets a cluster go without an executor (or a scheduler that
/// answers) before it gives a query up.
pub const LOST_PATIENCE: Duration = Duration::from_secs(30);

/// What the scheduler's `/readyz` said.
enum Probe {
    /// At least one executor is registered.
    Ready,
    /// It answers, but no executor is registered: what it said.
    NoExecutor(String),
    /// Nothing listens at its address: why.
    Refused(String),
    /// No answer: why.
    Unreachable(String),
}

async fn probe(client: &reqwest::Client, engine: &EngineUrl) -> Probe {
    let response = match client
        .get(format!("{}/readyz", engine.endpoint()))
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) if e.is_connect() => {
            // reqwest's own message is only "error sending request": the innermost
            // cause says what happened (connection refused, no route to host).
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            return Probe::Refused(cause.to_string());
        }
        Err(e) => return Probe::Unreachable(e.to_string()),
    };
    if response.status().is_success() {
        return Probe::Ready;
    }
    let status = response.status();
    match response.text().await {
        Ok(said) if !said.trim().is_empty() => Probe::NoExecutor(said.trim().to_string()),
        _ => Probe::NoExecutor(status.to_string()),
    }
}

fn http_client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(READY_TIMEOUT)
        .build()
        .ok()
}

/// Checks that a scheduler listens at `engine` and has an executor registered (its
/// `/readyz`), so that a query is not sent to a cluster that would hold it until one
/// registers. A scheduler that answers in some other way is left to the query itself
/// to report.
pub async fn ready(engine: &EngineUrl) -> Result<()> {
    // Only a preflight: where it cannot ask, the query itself reports what is wrong.
    let Some(client) = http_client() else {
        return Ok(());
    };
    match probe(&client, engine).await {
        Probe::Ready | Probe::Unreachable(_) => Ok(()),
        Probe::Refused(why) => Err(ClusterError::NoScheduler {
            engine: engine.to_string(),
            addr: engine.addr(),
            why,
        }),
        Probe::NoExecutor(said) => Err(ClusterError::NoExecutor {
            engine: engine.to_string(),
            addr: engine.addr(),
            said,
        }),
    }
}

/// Resolves, with the reason, once the cluster at `engine` has had no executor
/// registered, or its scheduler has not answered, for `patience` without a break;
/// never while it can run queries. Raced against a query on the cluster, it bounds
/// the query's wait: Ballista fails a job whose executors were all lost, but holds
/// one sent to a cluster that already had none until an executor registers.
pub async fn watch(engine: EngineUrl, patience: Duration) -> ClusterError {
    let client = http_client();
    let mut since: Option<Instant> = None;
    loop {
        let probe = match &client {
            Some(client) => probe(client, &engine).await,
            None => Probe::Unreachable("no HTTP client".to_string()),
        };
        let lost = match probe {
            Probe::Ready => None,
            Probe::NoExecutor(said) => Some(("it had no executor", said)),
            Probe::Refused(said) | Probe::Unreachable(said) => {
                Some(("its scheduler did not answer", said))
            }
        };
        match lost {
            None => since = None,
            Some((why, said)) => {
                if since.get_or_insert_with(Instant::now).elapsed() >= patience {
                    return ClusterError::Lost {
                        engine: engine.to_string(),
                        addr: engine.addr(),
                        why,
                        seconds: patience.as_secs(),
                        said,
                    };
                }
            }
        }
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

/// [`Lake::query`] on the cluster at `engine`: the tables of `reference` are
/// registered as their files under the data store's URL
/// ([`sluice_lake::DataStore::root_url`]), which every process of the cluster
/// must reach.
pub async fn query(
    lake: &Lake,
    engine: &EngineUrl,
    sql: &str,
    reference: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    ready(engine).await?;
    let ctx = connect(engine)?;
    let data_url = lake.data().root_url()?;
    tokio::select! {
        answer = lake.query_in(&ctx, &data_url, sql, reference) => Ok(answer?),
        lost = watch(engine.clone(), LOST_PATIENCE) => Err(lost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_urls() {
        let ok = EngineUrl::parse("ballista://127.0.0.1:50050").unwrap();
        assert_eq!((ok.host.as_str(), ok.port), ("127.0.0.1", 50050));
        assert_eq!(ok.to_string(), "ballista://127.0.0.1:50050");
        assert_eq!(ok.endpoint(), "http://127.0.0.1:50050");
        let v6 = EngineUrl::parse("ballista://[::1]:7/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 7));
        assert_eq!(v6.endpoint(), "http://[::1]:7");
        assert_eq!(v6.addr(), "[::1]:7");
        assert_eq!(v6.to_string(), "ballista://[::1]:7");
        for bad in [
            "df://h:1",
            "ballista://h",
            "ballista://:1",
            "ballista://h:0",
            "ballista://h:x",
            "ballista://h:70000",
            "ballista://u@h:1",
            "ballista://h/p:1",
        ] {
            assert!(EngineUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
