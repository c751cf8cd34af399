//! The baseline `sluice run` is measured against: the same project executed
//! directly, with no run branch, no validation, no commits and no merge.
//!
//! SQL nodes run on a plain DataFusion `SessionContext` (default configuration) over
//! the source snapshots' Parquet files and write their results as Parquet files into
//! a scratch folder; Python nodes run in the same worker `sluice run` uses, their
//! results also written as Parquet. Nodes whose inputs are ready run concurrently,
//! as in `sluice run`.
//!
//! ```sh
//! cargo run --release -p sluice-runtime --example run_baseline -- \
//!     examples/tpch --lake /tmp/lake --runs 5
//! ```
//! Prints the wall time of every repetition and the median (bench/run_vs_datafusion.sh
//! drives it).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use sluice_compiler::analysis::TableKind;
use sluice_compiler::plan::PlanNode;
use sluice_lake::{Lake, LakeConfig};
use sluice_runtime::python::{DataFrameKind, EnvManager, EnvSpec, NodeJob, WorkerInput};

struct Args {
    project: PathBuf,
    lake: String,
    reference: String,
    runs: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let mut project = None;
    let mut lake = None;
    let mut reference = "main".to_string();
    let mut runs = 5;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lake" => lake = args.next(),
            "--ref" => reference = args.next().context("--ref needs a value")?,
            "--runs" => runs = args.next().context("--runs needs a value")?.parse()?,
            _ if project.is_none() => project = Some(PathBuf::from(a)),
            other => bail!("unexpected argument {other}"),
        }
    }
    Ok(Args {
        project: project.context("usage: run_baseline PROJECT --lake URI [--runs N]")?,
        lake: lake.context("--lake is required")?,
        reference,
        runs,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let sources = sluice_compiler::load_project(&args.project)
        .map_err(|e| anyhow!("loading {}: {e}", args.project.display()))?;
    let analysis = sluice_compiler::check(&sources);
    let plan = sluice_compiler::plan::build(&analysis, &sources);
    let lake = Lake::open(&LakeConfig::from_env(Some(&args.lake))?).await?;
    let envs = EnvManager::new(EnvManager::default_cache_dir());

    // Source files as of the ref, resolved once (the catalog is not part of the
    // measured work).
    let mut source_files = HashMap::new();
    for node in plan.nodes.iter().filter(|n| n.kind == TableKind::Source) {
        let snap = lake.table_snapshot(&args.reference, &node.name).await?;
        source_files.insert(node.name.clone(), snap.content);
    }
    let nodes: Vec<&PlanNode> = plan
        .order
        .iter()
        .filter_map(|name| plan.nodes.iter().find(|n| &n.name == name))
        .filter(|n| n.kind != TableKind::Source)
        .collect();

    let all_tables = plan.python_names();
    let mut times = Vec::new();
    for i in 0..args.runs {
        let scratch = tempfile::tempdir()?;
        let session = SessionContext::new();
        lake.register_store(&session)?;
        for (name, snap) in &source_files {
            lake.register_files(&session, name, &snap.schema, &snap.files)?;
        }
        let started = Instant::now();
        execute(
            &session,
            &envs,
            &args.project,
            &nodes,
            &all_tables,
            scratch.path(),
        )
        .await?;
        let took = started.elapsed();
        eprintln!("run {}: {:.3} s", i + 1, took.as_secs_f64());
        times.push(took);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "baseline {}: median {:.3} s over {} runs (min {:.3} s, max {:.3} s)",
        args.project.display(),
        median.as_secs_f64(),
        times.len(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
    Ok(())
}

/// Runs every node once, each as soon as its inputs are written.
async fn execute(
    session: &SessionContext,
    envs: &EnvManager,
    project: &Path,
    nodes: &[&PlanNode],
    all_tables: &BTreeMap<String, String>,
    scratch: &Path,
) -> Result<()> {
    let mut done: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut pending: Vec<&PlanNode> = nodes.to_vec();
    while !pending.is_empty() {
        let (ready, rest): (Vec<&PlanNode>, Vec<&PlanNode>) = pending.into_iter().partition(|n| {
            n.inputs
                .iter()
                .all(|i| done.contains_key(i) || !nodes.iter().any(|m| &m.name == i))
        });
        if ready.is_empty() {
            bail!("the plan has a cycle");
        }
        let outputs = futures::future::try_join_all(
            ready
                .iter()
                .map(|node| run_node(session, envs, project, node, all_tables, scratch)),
        )
        .await?;
        for (node, path) in ready.iter().zip(outputs) {
            session
                .register_parquet(
                    &node.name,
                    path.to_str().context("scratch path")?,
                    ParquetReadOptions::default(),
                )
                .await?;
            done.insert(node.name.clone(), path);
        }
        pending = rest;
    }
    Ok(())
}

async fn run_node(
    session: &SessionContext,
    envs: &EnvManager,
    project: &Path,
    node: &PlanNode,
    all_tables: &BTreeMap<String, String>,
    scratch: &Path,
) -> Result<PathBuf> {
    let out = scratch.join(&node.name);
    match node.kind {
        TableKind::Sql => {
            let sql = std::fs::read_to_string(project.join(&node.file))?;
            std::fs::create_dir_all(&out)?;
            session
                .sql(&sql)
                .await?
                .write_parquet(
                    out.to_str().context("scratch path")?,
                    DataFrameWriteOptions::new(),
                    None,
                )
                .await?;
        }
        TableKind::Python => {
            let python = node
                .python
                .as_ref()
                .context("a Python node without python")?;
            let dataframe = python
                .dataframe
                .parse::<DataFrameKind>()
                .unwrap_or_default();
            let env = envs
                .ensure(&EnvSpec::for_node(
                    python.python_version.as_deref(),
                    &python.packages,
                    dataframe,
                ))
                .await?;
            let mut inputs = Vec::new();
            for p in &python.params {
                let table = session.table(p.table.as_str()).await?;
                let schema: SchemaRef = table.schema().inner().clone();
                let batches = table.collect().await?;
                inputs.push(WorkerInput {
                    param: p.param.clone(),
                    table: p.table.clone(),
                    schema,
                    batches,
                });
            }
            let result = sluice_runtime::python::run_node(
                &env,
                NodeJob {
                    project_root: project,
                    file: &node.file,
                    function: &python.function,
                    inputs,
                    params: Default::default(),
                    tables: all_tables.clone(),
                    dataframe,
                    isolation: Default::default(),
                    on_output: None,
                },
            )
            .await?;
            std::fs::create_dir_all(&out)?;
            write_parquet(&out.join("part-0.parquet"), &result.schema, &result.batches)?;
        }
        TableKind::Source => {}
    }
    Ok(out)
}

fn write_parquet(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), None)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(())
}
