//! Executing one node: SQL on DataFusion streaming into Parquet, Python in an
//! isolated worker; every output validated against its contract while it is
//! written, then its expectations, then one commit to the run's branch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use sluice_compiler::analysis::TableKind;
use sluice_compiler::plan::{PlanExpectation, PythonNode};
use sluice_lake::{CommitId, DataFile, Lake, StagedTable};

use crate::python::{DataFrameKind, EnvManager, EnvSpec, NodeJob, PythonError, WorkerInput};
use crate::record::{ExpectationResult, NodeError};
use crate::run::{commit_output, expectation_result, location};
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
    pub table_names: Vec<String>,
    pub params: BTreeMap<String, String>,
    pub allow_network: bool,
    pub envs: EnvManager,
    pub run_id: String,
    pub branch: String,
}

#[derive(Clone, Debug)]
pub struct PythonSpec {
    pub function: String,
    pub env: EnvSpec,
    pub dataframe: DataFrameKind,
    /// `(parameter, table)` in order.
    pub params: Vec<(String, String)>,
}

impl PythonSpec {
    pub fn from_plan(p: &PythonNode) -> PythonSpec {
        let dataframe = match p.dataframe.as_str() {
            "pyarrow" => DataFrameKind::PyArrow,
            "pandas" => DataFrameKind::Pandas,
            _ => DataFrameKind::Polars,
        };
        PythonSpec {
            function: p.function.clone(),
            env: EnvSpec::for_node(p.python_version.as_deref(), &p.packages, dataframe),
            dataframe,
            params: p
                .params
                .iter()
                .map(|p| (p.param.clone(), p.table.clone()))
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
}

/// A node's validated, committed output.
#[derive(Clone, Debug)]
pub struct NodeDone {
    pub staged: StagedTable,
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
    }
}

/// Executes, validates, checks and commits one node.
pub async fn run_node(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: Vec<(String, TableData)>,
    checks: Vec<PlanExpectation>,
    check_inputs: Vec<(String, TableData)>,
) -> Result<NodeDone, NodeError> {
    let start = Instant::now();
    let staged = match node.kind {
        TableKind::Sql => run_sql(ctx, node, &inputs).await?,
        TableKind::Python => run_python(ctx, node, &inputs).await?,
        TableKind::Source => return Err(node_error(node, "a source is not executed".into())),
    };
    let mut results = Vec::new();
    for check in &checks {
        let mut tables: Vec<(String, TableData)> = check_inputs.clone();
        tables.push((
            node.name.clone(),
            TableData {
                schema: Arc::new(staged.schema.clone()),
                files: staged.files.clone(),
            },
        ));
        let passed = run_expectation(ctx, check, &tables).await?;
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
            });
        }
    }
    let (commit, snapshot) = commit_output(
        &ctx.lake,
        &ctx.branch,
        &ctx.run_id,
        &node.name,
        staged.clone(),
    )
    .await
    .map_err(|e| node_error(node, format!("committing `{}` failed: {e}", node.name)))?;
    Ok(NodeDone {
        staged,
        commit,
        snapshot,
        duration_ms: start.elapsed().as_millis() as u64,
        expectations: results,
    })
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
    let text = ctx
        .texts
        .get(&node.file)
        .ok_or_else(|| node_error(node, format!("{} is not part of the project", node.file)))?;
    let session = SessionContext::new_with_config(sluice_compiler::sql_plan::session_config());
    let df_error = |e: datafusion::error::DataFusionError| {
        let mut err = node_error(node, format!("`{}` failed in DataFusion: {e}", node.name));
        err.detail = Some(e.to_string());
        err
    };
    let lake_error = |e: sluice_lake::LakeError| node_error(node, e.to_string());
    ctx.lake.register_store(&session).map_err(lake_error)?;
    for (name, table) in inputs {
        ctx.lake
            .register_files(&session, name, &table.schema, &table.files)
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
    let stream = df.execute_stream().await.map_err(df_error)?;
    let schema = stream.schema();
    let batches = stream.map(|b| b.map_err(|e| e.to_string()));
    write_validated(ctx, node, &schema, batches).await
}

async fn worker_inputs(
    ctx: &NodeContext,
    params: &[(String, String)],
    tables: &[(String, TableData)],
) -> Result<Vec<WorkerInput>, String> {
    let mut out = Vec::new();
    for (param, table) in params {
        let data = tables
            .iter()
            .find(|(n, _)| n == table)
            .map(|(_, d)| d)
            .ok_or_else(|| format!("input table `{table}` is not available"))?;
        let batches = ctx
            .lake
            .read_files(&data.files)
            .await
            .map_err(|e| e.to_string())?;
        out.push(WorkerInput {
            param: param.clone(),
            table: table.clone(),
            schema: data.schema.clone(),
            batches,
        });
    }
    Ok(out)
}

fn params_json(params: &BTreeMap<String, String>) -> BTreeMap<String, serde_json::Value> {
    params
        .iter()
        .map(|(k, v)| {
            let value = serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .filter(|v| v.is_number() || v.is_boolean())
                .unwrap_or_else(|| serde_json::Value::String(v.clone()));
            (k.clone(), value)
        })
        .collect()
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
    }
}

async fn run_python(
    ctx: &NodeContext,
    node: &NodeSpec,
    inputs: &[(String, TableData)],
) -> Result<StagedTable, NodeError> {
    let spec = node
        .python
        .as_ref()
        .ok_or_else(|| node_error(node, "a Python node without a function".into()))?;
    let env =
        ctx.envs.ensure(&spec.env).await.map_err(|e| {
            python_error(&node.file, node.line, "preparing its Python environment", e)
        })?;
    let inputs = worker_inputs(ctx, &spec.params, inputs)
        .await
        .map_err(|e| node_error(node, e))?;
    let job = NodeJob {
        project_root: &ctx.project_root,
        file: &node.file,
        function: &spec.function,
        inputs,
        params: params_json(&ctx.params),
        tables: ctx.table_names.clone(),
        dataframe: spec.dataframe,
        allow_network: ctx.allow_network,
    };
    let what = format!("`{}` raised an error", node.name);
    let output = crate::python::run_node(&env, job)
        .await
        .map_err(|e| python_error(&node.file, node.line, &what, e))?;
    let schema = output.schema.clone();
    let stream = futures::stream::iter(output.batches.into_iter().map(Ok));
    write_validated(ctx, node, &schema, stream).await
}

async fn run_expectation(
    ctx: &NodeContext,
    check: &PlanExpectation,
    tables: &[(String, TableData)],
) -> Result<bool, NodeError> {
    let spec = PythonSpec::from_plan(&check.python);
    let err = |message: String| NodeError {
        message,
        location: location(&check.file, Some(check.line)),
        violations: Vec::new(),
        detail: None,
    };
    let env = ctx.envs.ensure(&spec.env).await.map_err(|e| {
        python_error(
            &check.file,
            check.line,
            "preparing its Python environment",
            e,
        )
    })?;
    let inputs = worker_inputs(ctx, &spec.params, tables)
        .await
        .map_err(err)?;
    let job = NodeJob {
        project_root: &ctx.project_root,
        file: &check.file,
        function: &spec.function,
        inputs,
        params: params_json(&ctx.params),
        tables: ctx.table_names.clone(),
        dataframe: spec.dataframe,
        allow_network: ctx.allow_network,
    };
    let what = format!("expectation `{}` raised an error", check.name);
    crate::python::run_expectation(&env, job)
        .await
        .map(|o| o.passed)
        .map_err(|e| python_error(&check.file, check.line, &what, e))
}
