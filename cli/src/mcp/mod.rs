//! `sluice mcp`: a Model Context Protocol server for coding agents (docs/agents.md).
//!
//! The tools call the same code as the CLI's commands (`lake_cmds::execute`,
//! `run_cmds::execute_run`, the compiler calls of `check`/`plan`/`lineage`) and
//! return their `--format json` documents as structured content; every write to a
//! protected branch is refused first by the [`guard::Guard`].

mod guard;
mod project;
mod prompts;
mod schemas;
mod tools;

use std::process::ExitCode;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use crate::exit;
use crate::lake_cmds::CmdError;

/// `sluice mcp`'s options.
#[derive(clap::Args, Debug)]
pub struct McpArgs {
    #[command(flatten)]
    lake: crate::lake_cmds::LakeArg,
    /// Protect BRANCH too (besides main): tools refuse to write to it (repeatable).
    #[arg(long = "protect", value_name = "BRANCH")]
    protect: Vec<String>,
    /// Let tools write to BRANCH even though it is protected (main included;
    /// repeatable). For a person supervising the agent, not for the agent itself.
    #[arg(long = "allow-writes-to", value_name = "BRANCH")]
    allow_writes_to: Vec<String>,
    /// Serve MCP's streamable HTTP transport on 127.0.0.1:PORT (endpoint `/mcp`)
    /// instead of stdio.
    #[arg(long = "http", value_name = "PORT")]
    http: Option<u16>,
}

/// A tool's failure: what the CLI's `--format json` prints as `{"error": {...}}`.
#[derive(Debug)]
pub struct ToolError {
    pub kind: &'static str,
    pub message: String,
    pub detail: Value,
}

impl ToolError {
    fn new(kind: &'static str, message: String) -> ToolError {
        ToolError {
            kind,
            message,
            detail: Value::Null,
        }
    }

    /// A bad argument.
    fn usage(message: String) -> ToolError {
        ToolError::new("usage", message)
    }

    /// The error document, as the CLI prints it.
    fn to_json(&self) -> Value {
        let mut err = json!({ "kind": self.kind, "message": self.message });
        if !self.detail.is_null() {
            err["detail"] = self.detail.clone();
        }
        json!({ "error": err })
    }

    /// The tool result (`isError`): the message first, for a model to read, then the
    /// JSON document.
    fn into_result(self) -> CallToolResult {
        let doc = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        CallToolResult::error(vec![
            ContentBlock::text(format!("error ({}): {}", self.kind, self.message)),
            ContentBlock::text(doc),
        ])
    }
}

impl From<CmdError> for ToolError {
    fn from(e: CmdError) -> ToolError {
        ToolError {
            kind: e.kind,
            message: e.message,
            detail: e.detail,
        }
    }
}

/// A tool's outcome as MCP wants it: structured content, or a tool error.
fn reply(result: Result<Value, ToolError>) -> CallToolResult {
    match result {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => e.into_result(),
    }
}

/// The server: where the lake is, which branches are protected, and the tools.
#[derive(Clone)]
pub struct Server {
    lake: Option<String>,
    guard: guard::Guard,
    tool_router: ToolRouter<Server>,
}

impl Server {
    /// A server over the lake `lake` (`None`: as the CLI finds it) with this guard.
    fn new(lake: Option<String>, guard: guard::Guard) -> Server {
        Server {
            lake,
            guard,
            tool_router: Server::tool_router(),
        }
    }
}

/// Serves the streamable HTTP transport on 127.0.0.1 only (a local agent's server, not a
/// network service): each client session gets the same server (lake, guard).
async fn serve_http(server: Server, port: u16) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = listener.local_addr()?;
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        std::sync::Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    eprintln!("sluice mcp: serving MCP on http://{address}/mcp");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            // A client that goes away mid-request ends its connection, not the server.
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Runs `sluice mcp` on stdin/stdout until the client goes away, or on
/// `http://127.0.0.1:PORT/mcp` until interrupted.
pub fn run(args: McpArgs) -> ExitCode {
    let guard = guard::Guard::new(&args.protect, &args.allow_writes_to);
    let server = Server::new(args.lake.lake.clone(), guard);
    let Some(rt) = crate::async_runtime() else {
        return ExitCode::from(exit::USAGE);
    };
    let served = rt.block_on(async move {
        if let Some(port) = args.http {
            return serve_http(server, port).await;
        }
        use rmcp::ServiceExt;
        let running = server.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        anyhow::Ok(())
    });
    match served {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: sluice mcp: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}
