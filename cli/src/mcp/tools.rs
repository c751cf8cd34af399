//! The tools of `sluice mcp`: arguments (with the JSON Schemas a model reads), the
//! guard check of every write, and the call into the CLI's own code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::guard::Write;
use super::{Server, ToolError, project, reply, schemas};
use crate::lake_cmds::{
    self, Common, Format, LakeArg, LakeCommand, ModeArg, QueryFormat, RefCommand, TableCommand,
};
use crate::lake_loc;
use crate::run_cmds;

/// `check`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    /// The project folder (absolute, or relative to the folder the server runs in).
    pub project: String,
    /// Unsaved texts laid over the project for this check only: project-relative path
    /// (e.g. `models/orders.py`) -> the file's full text. A path that exists is
    /// replaced, a new one added; nothing is written to disk.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// An argument naming only the project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectParams {
    /// The project folder (absolute, or relative to the folder the server runs in).
    pub project: String,
}

/// `lineage`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineageParams {
    /// The project folder (absolute, or relative to the folder the server runs in).
    pub project: String,
    /// The column, as `TABLE.COLUMN`.
    pub column: String,
    /// `upstream` (to the sources, the default) or `downstream` (what it reaches).
    pub direction: Option<String>,
}

/// `explain_code`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeParams {
    /// A diagnostic code, e.g. `E0501`.
    pub code: String,
}

/// No arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// A new ref.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefParams {
    /// The new branch's or tag's name (e.g. `agent/fix-orders`).
    pub name: String,
    /// The ref it starts at (default: main).
    pub from: Option<String>,
}

/// A ref by name.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    /// The branch's name.
    pub name: String,
}

/// `log`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// A branch, tag or commit, optionally with `~N` (default: main).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// At most this many commits, newest first.
    pub limit: Option<usize>,
}

/// An optional ref.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefParams {
    /// A branch, tag or commit, optionally with `~N` (default: main).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

/// `table_schema`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableParams {
    /// The table.
    pub table: String,
    /// A branch, tag or commit, optionally with `~N` (default: main).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

/// `diff`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// The ref to compare from.
    pub from: String,
    /// The ref to compare to.
    pub to: String,
}

/// `query`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// One SELECT statement (DataFusion SQL); tables are named as in the lake.
    pub sql: String,
    /// The ref to read (default: main).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Return at most this many rows (default 100).
    pub limit: Option<usize>,
}

/// What `import` does with the table.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// Create the table; refused if it exists.
    Create,
    /// Replace its rows and schema.
    Replace,
    /// Append rows; the schemas must match.
    Append,
}

/// `import`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// The file to import: .parquet, .csv or .jsonl/.ndjson (absolute, or relative to
    /// the folder the server runs in).
    pub path: String,
    /// The table to create, replace or append to.
    pub table: String,
    /// The branch to commit to.
    pub branch: String,
    /// `create` (the default), `replace` or `append`.
    pub mode: Option<ImportMode>,
}

/// `run`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    /// The project folder (absolute, or relative to the folder the server runs in).
    pub project: String,
    /// The branch the run reads its sources from and publishes its outputs to.
    pub branch: String,
    /// Execute and validate everything, publish nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Run parameters, KEY -> VALUE (as `--param KEY=VALUE`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// `runs`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// How many runs, newest first (default 20).
    pub limit: Option<usize>,
}

/// `run_status`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdParams {
    /// The run's id or a unique prefix of it.
    pub run_id: String,
}

/// `merge`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeParams {
    /// The ref to merge.
    pub source: String,
    /// The branch to merge into.
    pub into: String,
    /// A commit message (makes a merge commit even when a fast-forward would do).
    pub message: Option<String>,
}

/// `revert`'s arguments: `table` and `to`, or `run_id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertParams {
    /// The branch to commit the restored table(s) to.
    pub into: String,
    /// The table to restore (with `to`).
    pub table: Option<String>,
    /// The ref whose state of `table` to restore.
    pub to: Option<String>,
    /// Restore every table this run published to its state at the run's base.
    pub run_id: Option<String>,
}

/// The default and largest `query` limits.
const QUERY_LIMIT: usize = 100;
const QUERY_MAX: usize = 10_000;

type ToolResult = Result<CallToolResult, ErrorData>;

impl Server {
    fn common(&self) -> Common {
        Common {
            lake: self.lake_arg(),
            format: Format::Json,
        }
    }

    fn lake_arg(&self) -> LakeArg {
        LakeArg {
            lake: self.lake.clone(),
        }
    }

    /// Refuses a write to a protected branch.
    fn guard(&self, tool: &str, branch: &str) -> Result<(), ToolError> {
        self.guard
            .check(Write { tool, branch })
            .map_err(|m| ToolError::new("protected_branch", m))
    }

    /// Runs a lake command as `sluice ... --format json` and parses its document.
    async fn lake(&self, cmd: LakeCommand) -> Result<Value, ToolError> {
        let (out, _) = lake_cmds::execute(cmd).await?;
        serde_json::from_str(&out)
            .map_err(|e| ToolError::new("internal", format!("unreadable command output: {e}")))
    }

    /// The same, with the array the command prints under `key`.
    async fn lake_list(&self, key: &str, cmd: LakeCommand) -> Result<Value, ToolError> {
        let v = self.lake(cmd).await?;
        Ok(json!({ key: v }))
    }

    /// The lake as the CLI opens it for a read, with the current folder's settings.
    async fn open_lake(&self) -> Result<sluice_lake::Lake, ToolError> {
        let settings = lake_loc::project_settings(&lake_loc::current_dir())
            .map_err(|m| ToolError::new("project", m))?;
        lake_loc::open(self.lake.as_deref(), &settings)
            .await
            .map_err(|e| ToolError::from(lake_cmds::CmdError::from(e)))
    }
}

fn runtime_error(e: sluice_runtime::RuntimeError) -> ToolError {
    let (_, kind) = run_cmds::classify_runtime(&e);
    ToolError::new(kind, e.to_string())
}

/// Runs compiler work off the async threads.
async fn blocking(
    f: impl FnOnce() -> Result<Value, ToolError> + Send + 'static,
) -> Result<Value, ToolError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ToolError::new("internal", format!("the check failed: {e}"))))
}

#[tool_router(vis = "pub(super)")]
impl Server {
    #[tool(
        description = "Check a sluice pipeline project (syntax, names, the DAG and every column contract) without running it. Pass `files` to check unsaved edits: a map of project-relative path to full file text, laid over the project on disk for this check only — check code before writing it. Returns the `sluice check --format json` report: `diagnostics` (severity, code, message, file, line, column, help) and `summary` (errors, warnings, nodes). A project with errors is still a successful call; read `summary.errors`.",
        output_schema = schemas::check(),
        annotations(read_only_hint = true)
    )]
    async fn check(&self, Parameters(p): Parameters<CheckParams>) -> ToolResult {
        let dir = PathBuf::from(p.project);
        Ok(reply(
            blocking(move || project::check(&dir, &p.files)).await,
        ))
    }

    #[tool(
        description = "The typed plan of a project that checks clean (`sluice plan --format json`): nodes with their schemas, edges, execution order, deferred obligations. A project with errors gives a tool error whose detail is the check report.",
        output_schema = schemas::plan(),
        annotations(read_only_hint = true)
    )]
    async fn plan(&self, Parameters(p): Parameters<ProjectParams>) -> ToolResult {
        let dir = PathBuf::from(p.project);
        Ok(reply(blocking(move || project::plan(&dir)).await))
    }

    #[tool(
        description = "Column lineage in a project: where `table.col` comes from (direction `upstream`, the default) or every column it reaches (`downstream`). Returns the `sluice lineage --format json` document.",
        output_schema = schemas::lineage(),
        annotations(read_only_hint = true)
    )]
    async fn lineage(&self, Parameters(p): Parameters<LineageParams>) -> ToolResult {
        let dir = PathBuf::from(p.project);
        Ok(reply(
            blocking(move || project::lineage(&dir, &p.column, p.direction.as_deref())).await,
        ))
    }

    #[tool(
        description = "Explain a diagnostic code (e.g. E0501): its meaning, where its span points, and an example with its fix, from the language reference.",
        output_schema = schemas::explain(),
        annotations(read_only_hint = true)
    )]
    async fn explain_code(&self, Parameters(p): Parameters<CodeParams>) -> ToolResult {
        Ok(reply(project::explain(&p.code)))
    }

    #[tool(
        description = "List the lake's branches with their head commits.",
        output_schema = schemas::refs("branches"),
        annotations(read_only_hint = true)
    )]
    async fn list_branches(&self, Parameters(_): Parameters<NoParams>) -> ToolResult {
        let cmd = LakeCommand::Branch(RefCommand::List {
            common: self.common(),
        });
        Ok(reply(self.lake_list("branches", cmd).await))
    }

    #[tool(
        description = "Create a branch (default: from main). Work on your own branch (e.g. `agent/<task>`): runs, imports and reverts there never touch main.",
        output_schema = schemas::created_ref()
    )]
    async fn create_branch(&self, Parameters(p): Parameters<CreateRefParams>) -> ToolResult {
        if let Err(e) = self.guard("create_branch", &p.name) {
            return Ok(e.into_result());
        }
        let cmd = LakeCommand::Branch(RefCommand::Create {
            name: p.name,
            from: p.from,
            common: self.common(),
        });
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "Delete a branch (its commits stay until garbage collection). Protected branches (main by default) are refused.",
        output_schema = schemas::deleted_ref(),
        annotations(destructive_hint = true)
    )]
    async fn delete_branch(&self, Parameters(p): Parameters<NameParams>) -> ToolResult {
        if let Err(e) = self.guard("delete_branch", &p.name) {
            return Ok(e.into_result());
        }
        let cmd = LakeCommand::Branch(RefCommand::Delete {
            name: p.name,
            common: self.common(),
        });
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "List the lake's tags (immutable refs) with their commits.",
        output_schema = schemas::refs("tags"),
        annotations(read_only_hint = true)
    )]
    async fn list_tags(&self, Parameters(_): Parameters<NoParams>) -> ToolResult {
        let cmd = LakeCommand::Tag(RefCommand::List {
            common: self.common(),
        });
        Ok(reply(self.lake_list("tags", cmd).await))
    }

    #[tool(
        description = "Create a tag (an immutable name for a commit; default: main's head). An existing name is refused.",
        output_schema = schemas::created_ref()
    )]
    async fn create_tag(&self, Parameters(p): Parameters<CreateRefParams>) -> ToolResult {
        if let Err(e) = self.guard("create_tag", &p.name) {
            return Ok(e.into_result());
        }
        let cmd = LakeCommand::Tag(RefCommand::Create {
            name: p.name,
            from: p.from,
            common: self.common(),
        });
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "The commit history of a ref (default main), newest first: hash, parents, author, time, message.",
        output_schema = schemas::log(),
        annotations(read_only_hint = true)
    )]
    async fn log(&self, Parameters(p): Parameters<LogParams>) -> ToolResult {
        let cmd = LakeCommand::Log {
            reference: p.reference,
            limit: p.limit,
            common: self.common(),
        };
        Ok(reply(self.lake_list("commits", cmd).await))
    }

    #[tool(
        description = "List the tables of a ref (default main) with rows, bytes, files and column counts.",
        output_schema = schemas::tables(),
        annotations(read_only_hint = true)
    )]
    async fn list_tables(&self, Parameters(p): Parameters<RefParams>) -> ToolResult {
        let cmd = LakeCommand::Table(TableCommand::List {
            reference: p.reference,
            common: self.common(),
        });
        Ok(reply(self.lake_list("tables", cmd).await))
    }

    #[tool(
        description = "One table of a ref (default main): its schema (name, Arrow type, nullable, null count), data files and history.",
        output_schema = schemas::table(),
        annotations(read_only_hint = true)
    )]
    async fn table_schema(&self, Parameters(p): Parameters<TableParams>) -> ToolResult {
        let cmd = LakeCommand::Table(TableCommand::Show {
            name: p.table,
            reference: p.reference,
            common: self.common(),
        });
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "Tables added, removed and changed (rows, schema) between two refs.",
        output_schema = schemas::diff(),
        annotations(read_only_hint = true)
    )]
    async fn diff(&self, Parameters(p): Parameters<DiffParams>) -> ToolResult {
        let cmd = LakeCommand::Diff {
            from: p.from,
            to: p.to,
            common: self.common(),
        };
        Ok(reply(self.lake_list("changes", cmd).await))
    }

    #[tool(
        description = "Run one read-only SELECT (DataFusion SQL) over the tables of a ref (default main). Statements that write or reach outside the lake (INSERT, DROP, CREATE, COPY ... TO, CREATE EXTERNAL TABLE, SET, ...) are refused. Returns the rows as objects, at most `limit` (default 100, at most 10000); `truncated` says whether more were cut.",
        output_schema = schemas::query(),
        annotations(read_only_hint = true)
    )]
    async fn query(&self, Parameters(p): Parameters<QueryParams>) -> ToolResult {
        let limit = p.limit.unwrap_or(QUERY_LIMIT);
        if limit > QUERY_MAX {
            return Ok(ToolError::usage(format!(
                "limit: {limit} is more than {QUERY_MAX} rows; narrow the query instead"
            ))
            .into_result());
        }
        let cmd = LakeCommand::Query {
            sql: p.sql,
            reference: p.reference,
            lake: self.lake_arg(),
            format: QueryFormat::Json,
            engine: None,
        };
        let result = self.lake(cmd).await.map(|rows| {
            let mut rows = match rows {
                Value::Array(rows) => rows,
                other => vec![other],
            };
            let truncated = rows.len() > limit;
            rows.truncate(limit);
            json!({ "rows": rows, "truncated": truncated })
        });
        Ok(reply(result))
    }

    #[tool(
        description = "Import a Parquet, CSV or JSON Lines file as a table on a branch, in one commit (mode `create`, `replace` or `append`). Writes to protected branches (main by default) are refused: import into your own branch.",
        output_schema = schemas::import()
    )]
    async fn import(&self, Parameters(p): Parameters<ImportParams>) -> ToolResult {
        if let Err(e) = self.guard("import", &p.branch) {
            return Ok(e.into_result());
        }
        let mode = match p.mode.unwrap_or(ImportMode::Create) {
            ImportMode::Create => ModeArg::Create,
            ImportMode::Replace => ModeArg::Replace,
            ImportMode::Append => ModeArg::Append,
        };
        let cmd = LakeCommand::Import {
            file: PathBuf::from(p.path),
            table: p.table,
            branch: Some(p.branch),
            mode,
            contract: None,
            common: self.common(),
        };
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "Run a project as `sluice run`: check it, execute every node on a fresh run branch, validate every output against its contract, then publish all outputs to `branch` in one merge (or nothing: `dry_run` validates and publishes nothing). Runs that publish into a protected branch (main by default) are refused: create your own branch and run there. Returns the run record (run_id, status, result_commit, nodes with rows); a failed run is a tool error whose detail is the record.",
        output_schema = schemas::run()
    )]
    async fn run(&self, Parameters(p): Parameters<RunParams>) -> ToolResult {
        if !p.dry_run
            && let Err(e) = self.guard("run", &p.branch)
        {
            return Ok(e.into_result());
        }
        let req = run_cmds::RunRequest {
            lake: self.lake.clone(),
            dir: PathBuf::from(p.project),
            target: Some(p.branch),
            dry_run: p.dry_run,
            params: p.params,
            allow_network: false,
            allow_weaker_isolation: false,
            node_timeout: None,
            node_memory: None,
            engine: None,
        };
        let observer: sluice_runtime::Observer = Arc::new(|_| {});
        let result = match run_cmds::execute_run(req, observer).await {
            Err(f) => Err(ToolError::new(f.kind, f.message)),
            Ok(sluice_runtime::RunOutcome::Rejected { sources, analysis }) => {
                let report = sluice_compiler::JsonReport::new(
                    &analysis.diagnostics,
                    &sources,
                    analysis.summary,
                );
                let mut e = ToolError::new(
                    "check_failed",
                    format!(
                        "the project has {} error(s): nothing was executed (the check tool shows them)",
                        analysis.summary.errors
                    ),
                );
                e.detail = serde_json::to_value(&report).unwrap_or(Value::Null);
                Err(e)
            }
            Ok(sluice_runtime::RunOutcome::Finished(rec)) => {
                if rec.status == sluice_runtime::RunStatus::Failed {
                    let mut e = ToolError::new(
                        "run_failed",
                        run_cmds::failure_text(&rec).trim().to_string(),
                    );
                    e.detail = run_cmds::run_json(&rec);
                    Err(e)
                } else {
                    Ok(run_cmds::run_json(&rec))
                }
            }
        };
        Ok(reply(result))
    }

    #[tool(
        description = "Recorded runs, newest first (id, status, project, target, nodes, result commit).",
        output_schema = schemas::runs(),
        annotations(read_only_hint = true)
    )]
    async fn runs(&self, Parameters(p): Parameters<RunsParams>) -> ToolResult {
        let result = async {
            let lake = self.open_lake().await?;
            sluice_runtime::recover_stale_runs(&lake)
                .await
                .map_err(runtime_error)?;
            let list = sluice_runtime::record::list(&lake, p.limit.unwrap_or(20))
                .await
                .map_err(runtime_error)?;
            Ok(json!({ "runs": run_cmds::runs_json(&list) }))
        };
        Ok(reply(result.await))
    }

    #[tool(
        description = "One recorded run by id (or unique prefix): status, target and base, run branch, nodes with rows, durations and errors, what they printed, result commit.",
        output_schema = schemas::run(),
        annotations(read_only_hint = true)
    )]
    async fn run_status(&self, Parameters(p): Parameters<RunIdParams>) -> ToolResult {
        let result = async {
            let lake = self.open_lake().await?;
            sluice_runtime::recover_stale_runs(&lake)
                .await
                .map_err(runtime_error)?;
            let rec = sluice_runtime::record::load(&lake, &p.run_id)
                .await
                .map_err(runtime_error)?;
            let mut v = serde_json::to_value(&rec).unwrap_or(Value::Null);
            v["run_id"] = json!(rec.id);
            Ok(v)
        };
        Ok(reply(result.await))
    }

    #[tool(
        description = "Merge a ref into a branch (fast-forward, or three-way by table). Merging into a protected branch (main by default) is refused: a person merges into main.",
        output_schema = schemas::merge()
    )]
    async fn merge(&self, Parameters(p): Parameters<MergeParams>) -> ToolResult {
        if let Err(e) = self.guard("merge", &p.into) {
            return Ok(e.into_result());
        }
        let cmd = LakeCommand::Merge {
            source: p.source,
            into: p.into,
            message: p.message,
            common: self.common(),
        };
        Ok(reply(self.lake(cmd).await))
    }

    #[tool(
        description = "Restore one table on a branch to its state at a ref (`table` and `to`), or every table a run published to its state before the run (`run_id`), as one new commit on `into`. Protected branches (main by default) are refused.",
        output_schema = schemas::revert()
    )]
    async fn revert(&self, Parameters(p): Parameters<RevertParams>) -> ToolResult {
        if let Err(e) = self.guard("revert", &p.into) {
            return Ok(e.into_result());
        }
        let arguments = match (&p.run_id, &p.table, &p.to) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => Ok(()),
            _ => Err(ToolError::usage(
                "revert takes `table` and `to`, or `run_id` alone".to_string(),
            )),
        };
        if let Err(e) = arguments {
            return Ok(e.into_result());
        }
        let cmd = LakeCommand::Revert {
            table: p.table,
            to: p.to,
            run: p.run_id,
            into: p.into,
            common: self.common(),
        };
        Ok(reply(self.lake(cmd).await))
    }
}

#[cfg(test)]
mod tests;
