//! Executing one node: SQL on DataFusion streaming into Parquet, Python in an
//! isolated worker; every output validated against its contract while it is
//! written, then its expectations, then one commit to the run's branch.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;
use sluice_compiler::analysis::TableKind;
use sluice_compiler::bauplan::Materialization;
use sluice_compiler::plan::{PlanExpectation, PythonNode};
use sluice_lake::{CommitId, DataFile, Lake, StagedTable, TableChange};

use crate::python::{
    DataFrameKind, EnvManager, EnvSpec, NodeJob, OutputStream, PythonEnv, PythonError, WorkerInput,
};
use crate::record::{ExpectationResult, NodeError, NodeOutputLog, OUTPUT_LIMIT, OutputLine};
use crate::run::{Observer, RunEvent, commit_output, expectation_result, location};
use crate::validate::{Contract, OutputValidator, Violation};

/// A table's data as a node reads it: a source's snapshot at the base commit or an
/// output of this run.
#[derive(Clone, Debug)]
pub struct TableData {
    pub schema: SchemaRef,
    pub files: Vec<DataFile>,
}

/// What every node of a run shares.
pub struct NodeContext {
    pub lake: Lake,
    pub project_root: PathBuf,
    /// Project files by relative path.
    pub texts: BTreeMap<String, String>,
    /// Every table by the bare names Python code may use for it (`Plan::python_names`).
    pub table_names: BTreeMap<String, String>,
    /// Run parameters by key, typed: `--param` values and declared defaults
    /// (`crate::params::resolve`).
    pub params: BTreeMap<String, serde_json::Value>,
    /// How Python workers are isolated and limited.
    pub isolation: crate::python::Isolation,
    pub envs: EnvManager,
    pub run_id: String,
    pub branch: String,
    /// Progress: environment builds and what nodes print, live.
    pub observer: Observer,
    /// Where SQL nodes execute (`None`: in this process).
    pub sql_engine: Option<crate::engine::SqlEngine>,
}

/// What a node leaves besides its output, kept whether it succeeds or fails: the
/// lines its Python code printed (the last [`OUTPUT_LIMIT`] bytes) and the time its
/// environment took to build.
#[derive(Default)]
pub struct NodeTrace {
    inner: Mutex<TraceInner>,
}

#[derive(Default)]
struct TraceInner {
    lines: VecDeque<OutputLine>,
    bytes: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
    env_build: Duration,
    env_built: bool,
}

impl NodeTrace {
    fn push(&self, stream: OutputStream, text: &str) {
        let Ok(mut t) = self.inner.lock() else { return };
        t.bytes += text.len() + 1;
        t.lines.push_back(OutputLine {
            stream,
            text: text.to_string(),
        });
        while t.bytes > OUTPUT_LIMIT {
            let Some(old) = t.lines.pop_front() else {
                break;
            };
            t.bytes -= old.text.len() + 1;
            t.dropped_lines += 1;
            t.dropped_bytes += old.text.len() as u64 + 1;
        }
    }

    fn add_env_build(&self, took: Duration) {
        if let Ok(mut t) = self.inner.lock() {
            t.env_build += took;
            t.env_built = true;
        }
    }

    /// Time spent building environments (excluded from the node's duration).
    pub fn env_build(&self) -> Option<Duration> {
        self.inner
            .lock()
            .ok()
            .filter(|t| t.env_built)
            .map(|t| t.env_build)
    }

    /// The output kept for the run record (`None` when the node printed nothing).
    pub fn output(&self) -> Option<NodeOutputLog> {
        let t = self.inner.lock().ok()?;
        if t.lines.is_empty() && t.dropped_lines == 0 {
            return None;
        }
        Some(NodeOutputLog {
            lines: t.lines.iter().cloned().collect(),
            dropped_lines: t.dropped_lines,
            dropped_bytes: t.dropped_bytes,
        })
    }
}

#[derive(Clone, Debug)]
pub struct PythonSpec {
    pub function: String,
    pub env: EnvSpec,
    pub dataframe: DataFrameKind,
    /// The table parameters, in order.
    pub params: Vec<InputSpec>,
}

/// One table parameter of a Python function and what it receives.
#[derive(Clone, Debug)]
pub struct InputSpec {
    pub param: String,
    pub table: String,
    /// Bauplan's `Model("t", columns=[...])`: only these columns (`*`: all).
    pub columns: Option<Vec<String>>,
    /// Bauplan's `Model("t", filter="...")`: a SQL predicate the rows must satisfy.
    pub filter: Option<String>,
}

impl PythonSpec {
    pub fn from_plan(p: &PythonNode) -> PythonSpec {
        let dataframe = p.dataframe.parse::<DataFrameKind>().unwrap_or_default();
        PythonSpec {
            function: p.function.clone(),
            env: EnvSpec::for_node(p.python_version.as_deref(), &p.packages, dataframe),
            dataframe,
            params: p
                .params
                .iter()
                .map(|p| InputSpec {
                    param: p.param.clone(),
                    table: p.table.clone(),
                    columns: p.columns.clone(),
                    filter: p.filter.clone(),
                })
                .collect(),
        }
    }
}

/// One node to execute.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub kind: TableKind,
    pub file: String,
    pub line: u32,
    pub contract: Contract,
    pub python: Option<PythonSpec>,
    /// How the output reaches the table (Bauplan's `materialization_strategy`).
    pub materialization: Materialization,
    /// An APPEND node's table as it is at the run's base (`None`: the run creates it).
    pub existing: Option<TableData>,
}

/// A node's validated, committed output.
#[derive(Clone, Debug)]
pub struct NodeDone {
    /// The rows the node produced.
    pub staged: StagedTable,
    /// The table the run's other nodes read: the output, or for an APPEND node the
    /// base's rows and the output's.
    pub data: TableData,
    pub commit: CommitId,
    pub snapshot: String,
    pub duration_ms: u64,
    pub expectations: Vec<ExpectationResult>,
}

fn node_error(node: &NodeSpec, message: String) -> NodeError {
    NodeError {
        message,
        location: location(&node.file, Some(node.line)),
        violations: Vec::new(),
        detail: None,
        rejected_output: None,
    }
}

/// Executes, validates, checks and commits one node; what it prints and its
/// environment build go to `trace`. Its duration excludes environment builds.
pub async fn run_node(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: Vec<(String, TableData)>,
    checks: Vec<PlanExpectation>,
    check_inputs: Vec<(String, TableData)>,
    trace: &Arc<NodeTrace>,
) -> Result<NodeDone, NodeError> {
    let start = Instant::now();
    // Builds before this call (the run's environment step) are not in `start`'s span.
    let built_before = trace.env_build().unwrap_or_default();
    let staged = match node.kind {
        TableKind::Sql => run_sql(ctx, node, &inputs).await?,
        TableKind::Python => run_python(ctx, node, &inputs, trace).await?,
        TableKind::Source => return Err(node_error(node, "a source is not executed".into())),
    };
    let mut staged = staged;
    let (change, data) = match (&node.materialization, &node.existing) {
        (Materialization::Append, Some(existing)) => {
            // Non-null output columns go into nullable table columns as they are: the
            // rows are the table's rows too.
            if only_nullability_widened(&existing.schema, &staged.schema) {
                staged.schema = existing.schema.as_ref().clone();
            }
            if let Some(differences) = schema_differences(&existing.schema, &staged.schema) {
                return Err(node_error(
                    node,
                    format!(
                        "`{}` ({}:{}) has materialization_strategy APPEND, but its output's schema differs \
                         from table `{}` at the run's base: {differences}; APPEND adds rows to a table of \
                         the same schema (use REPLACE to replace the table)",
                        node.name, node.file, node.line, node.name
                    ),
                ));
            }
            let mut files = existing.files.clone();
            files.extend(staged.files.iter().cloned());
            let data = TableData {
                schema: existing.schema.clone(),
                files,
            };
            (TableChange::Append(staged.clone()), data)
        }
        _ => {
            let data = TableData {
                schema: Arc::new(staged.schema.clone()),
                files: staged.files.clone(),
            };
            (TableChange::Replace(staged.clone()), data)
        }
    };
    let mut results = Vec::new();
    for check in &checks {
        let mut tables: Vec<(String, TableData)> = check_inputs.clone();
        tables.push((node.name.clone(), data.clone()));
        let passed = run_expectation(ctx, node, check, &tables, trace).await?;
        results.push(expectation_result(&check.name, passed));
        if !passed {
            return Err(NodeError {
                message: format!(
                    "expectation `{}` ({}:{}) failed on `{}`",
                    check.name,
                    check.file,
                    check.line,
                    check.inputs.join("`, `")
                ),
                location: location(&check.file, Some(check.line)),
                violations: Vec::new(),
                detail: None,
                rejected_output: None,
            });
        }
    }
    let (commit, snapshot) = commit_output(&ctx.lake, &ctx.branch, &ctx.run_id, &node.name, change)
        .await
        .map_err(|e| node_error(node, format!("committing `{}` failed: {e}", node.name)))?;
    Ok(NodeDone {
        staged,
        data,
        commit,
        snapshot,
        duration_ms: start
            .elapsed()
            .saturating_sub(
                trace
                    .env_build()
                    .unwrap_or_default()
                    .saturating_sub(built_before),
            )
            .as_millis() as u64,
        expectations: results,
    })
}

/// Whether `output` is `table` but for columns the table has nullable and the output
/// non-null (same names, order and types).
fn only_nullability_widened(table: &arrow_schema::Schema, output: &arrow_schema::Schema) -> bool {
    table.fields().len() == output.fields().len()
        && table.fields().iter().zip(output.fields()).all(|(t, o)| {
            t.name() == o.name()
                && t.data_type() == o.data_type()
                && (t.is_nullable() || !o.is_nullable())
        })
}

/// How an APPEND output's schema differs from its table's (`None`: it does not):
/// each column that is missing, extra, of another type or nullability, or the order.
fn schema_differences(
    table: &arrow_schema::Schema,
    output: &arrow_schema::Schema,
) -> Option<String> {
    use sluice_lake::ColumnChange;
    let changes = sluice_lake::schema_changes(table, output);
    if changes.is_empty() {
        let same_order = table
            .fields()
            .iter()
            .map(|f| f.name())
            .eq(output.fields().iter().map(|f| f.name()));
        return (!same_order).then(|| "the columns are in another order".to_string());
    }
    let nullability = |nullable: bool| if nullable { "nullable" } else { "non-null" };
    Some(
        changes
            .iter()
            .map(|c| match c {
                ColumnChange::Added {
                    name, data_type, ..
                } => format!("the output has column `{name}` ({data_type}), the table has not"),
                ColumnChange::Removed { name } => {
                    format!("the output lacks the table's column `{name}`")
                }
                ColumnChange::TypeChanged { name, from, to } => {
                    format!("column `{name}` is {to} in the output, {from} in the table")
                }
                ColumnChange::NullabilityChanged { name, from, to } => format!(
                    "column `{name}` is {} in the output, {} in the table",
                    nullability(*to),
                    nullability(*from)
                ),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The failure of an output that broke its contract.
fn contract_error(node: &NodeSpec, violations: Vec<Violation>) -> NodeError {
    let list = violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    NodeError {
        message: format!("the output of `{}` breaks its contract: {list}", node.name),
        location: location(&node.file, Some(node.line)),
        violations,
        detail: None,
        rejected_output: None,
    }
}

/// Streams batches through the validator into new data files of the node's table.
async fn write_validated<S>(
    ctx: &NodeContext,
    node: &NodeSpec,
    produced: &arrow_schema::Schema,
    mut batches: S,
) -> Result<StagedTable, NodeError>
where
    S: futures::Stream<Item = Result<RecordBatch, String>> + Unpin,
{
    let mut validator = OutputValidator::new(node.contract.clone(), produced)
        .map_err(|v| contract_error(node, v))?;
    let mut writer = ctx
        .lake
        .table_writer(&node.name, validator.schema())
        .map_err(|e| node_error(node, e.to_string()))?;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| node_error(node, format!("`{}` failed: {e}", node.name)))?;
        let converted = validator.apply(&batch).map_err(|e| {
            node_error(
                node,
                format!("converting the output of `{}`: {e}", node.name),
            )
        })?;
        if let Some(b) = converted {
            writer
                .write(&b)
                .await
                .map_err(|e| node_error(node, e.to_string()))?;
        }
    }
    validator.finish().map_err(|v| contract_error(node, v))?;
    writer
        .finish()
        .await
        .map_err(|e| node_error(node, e.to_string()))
}

async fn run_sql(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: &[(String, TableData)],
) -> Result<StagedTable, NodeError> {
    let (schema, batches) = sql_stream(ctx, node, inputs).await?;
    match write_validated(ctx, node, &schema, batches).await {
        Err(e) if !e.violations.is_empty() => {
            // Run the query again to keep what it produced, unvalidated.
            let kept = match sql_stream(ctx, node, inputs).await {
                Ok((schema, batches)) => keep_rejected(ctx, node, &schema, batches).await,
                Err(_) => None,
            };
            Err(NodeError {
                rejected_output: kept,
                ..e
            })
        }
        other => other,
    }
}

/// The node's query, planned and started on its inputs.
async fn sql_stream(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: &[(String, TableData)],
) -> Result<
    (
        SchemaRef,
        futures::stream::BoxStream<'static, Result<RecordBatch, String>>,
    ),
    NodeError,
> {
    let text = ctx
        .texts
        .get(&node.file)
        .ok_or_else(|| node_error(node, format!("{} is not part of the project", node.file)))?;
    let engine_name = ctx.sql_engine.as_ref().map(|e| e.name.as_str());
    let df_error = |e: datafusion::error::DataFusionError| {
        let message = match engine_name {
            Some(engine) => format!("`{}` failed on {engine}: {e}", node.name),
            None => format!("`{}` failed in DataFusion: {e}", node.name),
        };
        let mut err = node_error(node, message);
        err.detail = Some(e.to_string());
        err
    };
    let lake_error = |e: sluice_lake::LakeError| node_error(node, e.to_string());
    // On an engine, the inputs are read by URL: sources' snapshots and this run's
    // uncommitted outputs are files of the data store alike.
    let (session, data_url) = match &ctx.sql_engine {
        Some(engine) => {
            let session = (engine.session)().map_err(|e| {
                node_error(
                    node,
                    format!("`{}`: no session on {}: {e}", node.name, engine.name),
                )
            })?;
            (session, Some(&engine.data_url))
        }
        None => {
            let session =
                SessionContext::new_with_config(sluice_compiler::sql_plan::session_config());
            ctx.lake.register_store(&session).map_err(lake_error)?;
            (session, None)
        }
    };
    for (name, table) in inputs {
        match data_url {
            Some(url) => {
                ctx.lake
                    .register_files_at(&session, url, name, &table.schema, &table.files)
            }
            None => ctx
                .lake
                .register_files(&session, name, &table.schema, &table.files),
        }
        .map_err(lake_error)?;
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = session
        .sql_with_options(text, options)
        .await
        .map_err(df_error)?;
    // `$key` in the query: the run parameter `key`, bound as a typed literal.
    let df = bind_parameters(&ctx.params, df).map_err(|e| match e {
        BindError::DataFusion(e) => df_error(e),
        BindError::Missing(key) => node_error(
            node,
            format!(
                "`{}` ({}:{}) uses `${key}`, the run parameter `{key}`, which has no value: {}",
                node.name,
                node.file,
                node.line,
                how_to_give(&key)
            ),
        ),
    })?;
    let stream = df.execute_stream().await.map_err(df_error)?;
    let schema = stream.schema();
    let watch = ctx
        .sql_engine
        .as_ref()
        .and_then(|e| e.watch.as_ref())
        .map(|watch| watch());
    let engine = ctx.sql_engine.as_ref().map(|e| e.name.clone());
    let stream = watched(stream.map(|b| b.map_err(|e| e.to_string())), watch);
    Ok((
        schema,
        stream
            .map(move |b| {
                b.map_err(|e| match &engine {
                    Some(engine) => format!("{e} (on {engine})"),
                    None => e,
                })
            })
            .boxed(),
    ))
}

/// `stream`, ended by an error when `watch` (the engine's watch) resolves before it
/// does: a query on an engine that can no longer finish it fails instead of waiting
/// forever.
fn watched<S>(
    stream: S,
    watch: Option<futures::future::BoxFuture<'static, String>>,
) -> futures::stream::BoxStream<'static, Result<RecordBatch, String>>
where
    S: futures::Stream<Item = Result<RecordBatch, String>> + Send + Unpin + 'static,
{
    let Some(watch) = watch else {
        return stream.boxed();
    };
    // The query's items until the watch resolves; then the watch's reason, as the
    // last item.
    futures::stream::unfold(Some(stream.take_until(watch)), |state| async move {
        let mut query = state?;
        match query.next().await {
            Some(item) => Some((item, Some(query))),
            None => {
                let reason = std::pin::Pin::new(&mut query).take_result()?;
                Some((Err(reason), None))
            }
        }
    })
    .boxed()
}

/// Keeps an output that broke its contract on the run's branch, as produced (no
/// validation), in its own commit: the run's failure marks that commit aborted, so
/// its rows can be read (`sluice query --ref run/<id>`) but never merged. `None`
/// when it cannot be written (the failure is reported either way).
async fn keep_rejected<S>(
    ctx: &NodeContext,
    node: &NodeSpec,
    schema: &arrow_schema::Schema,
    mut batches: S,
) -> Option<crate::record::RejectedOutput>
where
    S: futures::Stream<Item = Result<RecordBatch, String>> + Unpin,
{
    let mut writer = ctx.lake.table_writer(&node.name, schema).ok()?;
    while let Some(batch) = batches.next().await {
        writer.write(&batch.ok()?).await.ok()?;
    }
    let staged = writer.finish().await.ok()?;
    let rows = staged.rows;
    let (commit, snapshot) = commit_output(
        &ctx.lake,
        &ctx.branch,
        &ctx.run_id,
        &node.name,
        TableChange::Replace(staged),
    )
    .await
    .ok()?;
    Some(crate::record::RejectedOutput {
        commit: commit.0,
        snapshot,
        rows,
    })
}

async fn worker_inputs(
    ctx: &NodeContext,
    spec: &PythonSpec,
    tables: &[(String, TableData)],
) -> Result<Vec<WorkerInput>, String> {
    let function = spec.function.as_str();
    let mut out = Vec::new();
    for input in &spec.params {
        let table = &input.table;
        let data = tables
            .iter()
            .find(|(n, _)| n == table)
            .map(|(_, d)| d)
            .ok_or_else(|| format!("input table `{table}` is not available"))?;
        let (schema, batches) = if input.columns.is_some() || input.filter.is_some() {
            read_projected(ctx, function, input, data).await?
        } else {
            let batches = ctx
                .lake
                .read_files(&data.files)
                .await
                .map_err(|e| e.to_string())?;
            (data.schema.clone(), batches)
        };
        let (schema, batches) = match spec.dataframe {
            DataFrameKind::Polars => (schema, batches),
            // pyarrow's compute kernels do not all take view types (`take` on
            // `string_view`): hand pyarrow and pandas the classic layouts.
            DataFrameKind::PyArrow | DataFrameKind::Pandas => without_views(schema, batches)
                .map_err(|e| format!("converting `{table}` for `{function}`: {e}"))?,
        };
        out.push(WorkerInput {
            param: input.param.clone(),
            table: table.clone(),
            schema,
            batches,
        });
    }
    Ok(out)
}

/// An input read through Bauplan's `Model("t", columns=[...], filter="...")`: only the
/// listed columns, only the rows the filter keeps. The filter is a SQL expression over
/// the table's columns, planned and run by DataFusion (with the checker's
/// configuration); `$key` in it is the run parameter `key`. Column types stay the
/// table's.
async fn read_projected(
    ctx: &NodeContext,
    function: &str,
    input: &InputSpec,
    data: &TableData,
) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let table = &input.table;
    let param = &input.param;
    let indices: Vec<usize> = match &input.columns {
        Some(columns) if !columns.iter().any(|c| c == "*") => columns
            .iter()
            .map(|c| {
                data.schema.index_of(c).map_err(|_| {
                    let have: Vec<&str> =
                        data.schema.fields().iter().map(|f| f.name().as_str()).collect();
                    format!(
                        "`{function}` reads column `{c}` of table `{table}` (parameter `{param}`, \
                         `bauplan.Model(\"{table}\", columns=[...])`), but `{table}` has no column `{c}`; \
                         its columns are {}",
                        have.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => (0..data.schema.fields().len()).collect(),
    };
    let schema = Arc::new(
        data.schema
            .project(&indices)
            .map_err(|e| format!("projecting `{table}`: {e}"))?,
    );
    let Some(filter) = &input.filter else {
        let batches = ctx
            .lake
            .read_files(&data.files)
            .await
            .map_err(|e| e.to_string())?;
        let batches = batches
            .iter()
            .map(|b| b.project(&indices))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("projecting `{table}`: {e}"))?;
        return Ok((schema, batches));
    };
    let failed = |e: &dyn std::fmt::Display| {
        format!(
            "the filter of parameter `{param}` of `{function}` on table `{table}` \
             (`filter=\"{filter}\"`) failed: {e}"
        )
    };
    let session = SessionContext::new_with_config(sluice_compiler::sql_plan::session_config());
    ctx.lake.register_store(&session).map_err(|e| failed(&e))?;
    ctx.lake
        .register_files(&session, table, &data.schema, &data.files)
        .map_err(|e| failed(&e))?;
    let df = session
        .table(sluice_lake::table_reference(table))
        .await
        .map_err(|e| failed(&e))?;
    let predicate = df.parse_sql_expr(filter).map_err(|e| failed(&e))?;
    let df = df.filter(predicate).map_err(|e| failed(&e))?;
    // `$key`: the run parameter `key`, bound as a typed literal (never spliced as text).
    let df = bind_parameters(&ctx.params, df).map_err(|e| match e {
        BindError::DataFusion(e) => failed(&e),
        BindError::Missing(key) => failed(&format!(
            "`${key}` is not a run parameter: {}",
            how_to_give(&key)
        )),
    })?;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let batches = df
        .select_columns(&names)
        .map_err(|e| failed(&e))?
        .collect()
        .await
        .map_err(|e| failed(&e))?;
    // DataFusion reads strings as views: back to the table's own types.
    let batches = batches
        .iter()
        .map(|b| sluice_lake::cast_batch(b, &schema))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(&e))?;
    Ok((schema, batches))
}

/// `Utf8View`/`BinaryView` columns as `Utf8`/`Binary` (same values); other columns as
/// they are.
fn without_views(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    let target = Arc::new(sluice_lake::without_view_types(&schema));
    if target == schema {
        return Ok((schema, batches));
    }
    let batches = batches
        .iter()
        .map(|b| sluice_lake::cast_batch(b, &target))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((target, batches))
}

/// Why a query's `$key` placeholders could not be bound.
enum BindError {
    /// No run parameter `key` has a value.
    Missing(String),
    DataFusion(datafusion::error::DataFusionError),
}

/// What to do about a run parameter without a value.
fn how_to_give(key: &str) -> String {
    format!(
        "pass `--param {key}=VALUE`, or declare it with a default under `parameters:` in bauplan_project.yml"
    )
}

/// Binds every `$key` placeholder of `df`'s plan to the run parameter `key`, as a
/// typed literal (DataFusion's `ParamValues::Map`; values are never spliced into the
/// text). A query without placeholders is returned as it is.
fn bind_parameters(
    params: &BTreeMap<String, serde_json::Value>,
    df: DataFrame,
) -> Result<DataFrame, BindError> {
    let mut placeholders: Vec<String> = df
        .logical_plan()
        .get_parameter_names()
        .map_err(BindError::DataFusion)?
        .into_iter()
        .collect();
    if placeholders.is_empty() {
        return Ok(df);
    }
    placeholders.sort();
    let mut values = Vec::new();
    for placeholder in placeholders {
        let key = placeholder.trim_start_matches('$');
        let value = params
            .get(key)
            .ok_or_else(|| BindError::Missing(key.to_string()))?;
        values.push((key.to_string(), scalar(value)));
    }
    df.with_param_values(values).map_err(BindError::DataFusion)
}

/// A run parameter's value as a SQL literal's value.
fn scalar(value: &serde_json::Value) -> ScalarValue {
    match value {
        serde_json::Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int64(Some(i)),
            None => ScalarValue::Float64(n.as_f64()),
        },
        serde_json::Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        other => ScalarValue::Utf8(Some(other.to_string())),
    }
}

/// An environment that could not be prepared, as the error of the node at `file:line`.
pub(crate) fn env_error(file: &str, line: u32, e: PythonError) -> NodeError {
    python_error(file, line, "preparing its Python environment", e)
}

/// A Python error as a node error, pointing into the user's code when it can.
fn python_error(file: &str, line: u32, what: &str, e: PythonError) -> NodeError {
    let (loc, detail) = match &e {
        PythonError::UserCode(u) => (
            match (&u.file, u.line) {
                (Some(f), l) => location(f, l),
                (None, _) => location(file, Some(line)),
            },
            Some(u.traceback.clone()),
        ),
        PythonError::BadReturn(b) => (location(file, Some(line)), Some(b.traceback.clone())),
        PythonError::Crashed(c) => (
            location(file, Some(line)),
            Some(c.logs.stderr.clone()).filter(|s| !s.is_empty()),
        ),
        PythonError::EnvBuild(b) => (location(file, Some(line)), Some(b.stderr_tail.clone())),
        _ => (location(file, Some(line)), None),
    };
    NodeError {
        message: format!("{what}: {e}"),
        location: loc,
        violations: Vec::new(),
        detail,
        rejected_output: None,
    }
}

/// The environment of a Python function, built (as its own step: announced, timed
/// into `trace`, not part of a node's duration) or found in the cache. A run builds
/// every environment before its first node ([`crate::run()`]), so at a node this is
/// normally the two `stat`s of a cached one.
pub(crate) async fn ensure_env(
    ctx: &NodeContext,
    node: &str,
    env: &EnvSpec,
    trace: &NodeTrace,
) -> Result<PythonEnv, PythonError> {
    if ctx.envs.is_built(env)? {
        return ctx.envs.ensure(env).await;
    }
    (ctx.observer)(&RunEvent::EnvBuilding {
        node: node.to_string(),
        python: env.python_version.clone(),
        packages: env.requirements()?,
    });
    let started = Instant::now();
    let built = ctx.envs.ensure(env).await;
    let took = started.elapsed();
    trace.add_env_build(took);
    (ctx.observer)(&RunEvent::EnvBuilt {
        node: node.to_string(),
        ok: built.is_ok(),
        duration_ms: took.as_millis() as u64,
    });
    built
}

/// A Python function's environment (built or cached) and its worker job over
/// `tables`; errors point at `file:line`.
async fn python_job<'a>(
    ctx: &'a NodeContext,
    node: &str,
    spec: &'a PythonSpec,
    file: &'a str,
    line: u32,
    tables: &[(String, TableData)],
    trace: &Arc<NodeTrace>,
) -> Result<(PythonEnv, NodeJob<'a>), NodeError> {
    let env = ensure_env(ctx, node, &spec.env, trace)
        .await
        .map_err(|e| env_error(file, line, e))?;
    let on_output: crate::python::OutputSink = {
        let (observer, trace, node) = (ctx.observer.clone(), trace.clone(), node.to_string());
        crate::python::OutputSink(Arc::new(move |stream, text: &str| {
            trace.push(stream, text);
            observer(&RunEvent::NodeOutput {
                node: node.clone(),
                stream,
                line: text.to_string(),
            });
        }))
    };
    let inputs = worker_inputs(ctx, spec, tables)
        .await
        .map_err(|message| NodeError {
            message,
            location: location(file, Some(line)),
            violations: Vec::new(),
            detail: None,
            rejected_output: None,
        })?;
    let job = NodeJob {
        project_root: &ctx.project_root,
        file,
        function: &spec.function,
        inputs,
        params: ctx.params.clone(),
        tables: ctx.table_names.clone(),
        dataframe: spec.dataframe,
        isolation: ctx.isolation.clone(),
        on_output: Some(on_output),
    };
    Ok((env, job))
}

async fn run_python(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: &[(String, TableData)],
    trace: &Arc<NodeTrace>,
) -> Result<StagedTable, NodeError> {
    let spec = node
        .python
        .as_ref()
        .ok_or_else(|| node_error(node, "a Python node without a function".into()))?;
    let (env, job) =
        python_job(ctx, &node.name, spec, &node.file, node.line, inputs, trace).await?;
    let what = format!("`{}` raised an error", node.name);
    let output = crate::python::run_node(&env, job)
        .await
        .map_err(|e| python_error(&node.file, node.line, &what, e))?;
    let schema = output.schema.clone();
    let batches = output.batches;
    let stream = futures::stream::iter(batches.clone().into_iter().map(Ok));
    match write_validated(ctx, node, &schema, stream).await {
        Err(e) if !e.violations.is_empty() => {
            let all = futures::stream::iter(batches.into_iter().map(Ok));
            Err(NodeError {
                rejected_output: keep_rejected(ctx, node, &schema, all).await,
                ..e
            })
        }
        other => other,
    }
}

async fn run_expectation(
    ctx: &NodeContext,
    node: &NodeSpec,
    check: &PlanExpectation,
    tables: &[(String, TableData)],
    trace: &Arc<NodeTrace>,
) -> Result<bool, NodeError> {
    let spec = PythonSpec::from_plan(&check.python);
    let (env, job) = python_job(
        ctx,
        &node.name,
        &spec,
        &check.file,
        check.line,
        tables,
        trace,
    )
    .await?;
    let what = format!("expectation `{}` raised an error", check.name);
    crate::python::run_expectation(&env, job)
        .await
        .map(|o| o.passed)
        .map_err(|e| python_error(&check.file, check.line, &what, e))
}
