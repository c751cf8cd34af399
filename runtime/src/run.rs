//! The run protocol: check, branch, execute, validate, publish all or nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_compiler::analysis::{Analysis, TableKind};
use sluice_compiler::bauplan::Materialization;
use sluice_compiler::plan::{Plan, PlanExpectation, PlanNode};
use sluice_compiler::source::SourceSet;
use sluice_lake::{
    Commit, CommitId, CommitRequest, Lake, LakeError, Lease, MergeRequest, SnapshotId, TableChange,
};
use tokio::task::JoinSet;

use crate::archive;
use crate::error::{Result, RuntimeError};
use crate::exec::{self, NodeContext, TableData};
use crate::record::{
    self, CodeSnapshot, ExpectationResult, Location, NodeError, NodeRecord, NodeStatus, RunError,
    RunRecord, RunStatus,
};
use crate::validate::{Contract, check_source};

/// What to run and how.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub project: PathBuf,
    /// The branch to publish to (and, unless `base` is set, to start from).
    pub target: String,
    /// Execute and validate everything, publish nothing.
    pub dry_run: bool,
    /// `--param k=v`: handed to Python functions that have a parameter `k` or read
    /// `bauplan.Parameter("k")`, typed by the project's declaration of `k`
    /// (`bauplan_project.yml`), which also gives the defaults of the others.
    pub params: BTreeMap<String, String>,
    pub allow_network: bool,
    /// Python environments' cache (default: [`crate::python::EnvManager::default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Start from this commit instead of the target's head (reruns).
    pub base: Option<CommitId>,
    pub rerun_of: Option<String>,
    /// How many nodes may execute at once (default: the number of CPUs).
    pub parallelism: Option<usize>,
    /// Wall-clock limit of one Python node (default: `node_timeout` under
    /// `[python]` in sluice.toml, else [`crate::python::DEFAULT_NODE_TIMEOUT`]).
    pub node_timeout: Option<Duration>,
    /// Memory limit of one Python node in bytes (default: `node_memory` in
    /// sluice.toml, else [`crate::python::default_node_memory`]).
    pub node_memory: Option<u64>,
    /// Run Python nodes without the isolation layers this host cannot provide
    /// (also `allow_weaker_isolation` in sluice.toml); the run warns.
    pub allow_weaker_isolation: bool,
    /// Where SQL nodes execute (`None`: in this process, with DataFusion).
    pub sql_engine: Option<crate::engine::SqlEngine>,
}

impl RunOptions {
    pub fn new(project: impl Into<PathBuf>, target: &str) -> RunOptions {
        RunOptions {
            project: project.into(),
            target: target.to_string(),
            dry_run: false,
            params: BTreeMap::new(),
            allow_network: false,
            cache_dir: None,
            base: None,
            rerun_of: None,
            parallelism: None,
            node_timeout: None,
            node_memory: None,
            allow_weaker_isolation: false,
            sql_engine: None,
        }
    }
}

/// Progress, for live displays.
#[derive(Clone, Debug)]
pub enum RunEvent {
    /// The plan checked and the run's branch exists; `nodes` will execute.
    Started {
        run_id: String,
        branch: String,
        base: String,
        nodes: Vec<(String, String)>,
    },
    NodeStarted {
        node: String,
    },
    NodeFinished {
        node: String,
        status: NodeStatus,
        rows: Option<u64>,
        duration_ms: u64,
    },
    /// A Python environment is being built for `node` before it runs (its own step:
    /// not part of the node's duration).
    EnvBuilding {
        node: String,
        /// The Python version asked for (`None`: the system's `python3`).
        python: Option<String>,
        /// The requirements installed (`polars==2.1.0`, ...).
        packages: Vec<String>,
    },
    /// The environment of [`RunEvent::EnvBuilding`] is built (or failed to build).
    EnvBuilt {
        node: String,
        ok: bool,
        duration_ms: u64,
    },
    /// A line a node's Python code printed, as it printed it.
    NodeOutput {
        node: String,
        stream: crate::python::OutputStream,
        line: String,
    },
    Publishing {
        target: String,
    },
    /// Something the user must know: Python nodes run with weaker isolation.
    Warning {
        message: String,
    },
}

pub type Observer = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// The result of [`run`].
#[derive(Debug)]
pub enum RunOutcome {
    /// The project has errors: nothing executed, no run was recorded.
    Rejected {
        sources: Box<SourceSet>,
        analysis: Box<Analysis>,
    },
    /// The run executed: see its status (succeeded, failed or validated).
    Finished(Box<RunRecord>),
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The isolation and limits of the run's Python nodes: flags, else `[python]` in
/// sluice.toml, else the defaults; the lake's catalog and data folders hidden.
fn isolation(
    options: &RunOptions,
    sources: &SourceSet,
    lake: &Lake,
) -> Result<crate::python::Isolation> {
    use sluice_compiler::source::FileKind;
    let config = sources
        .files()
        .find(|(_, f)| f.kind == FileKind::Config && f.path == "sluice.toml")
        .map(|(id, f)| sluice_compiler::config::parse(id, &f.text).0)
        .unwrap_or_default()
        .python;
    let bad = |key: &str, value: &str, e: String| {
        RuntimeError::Project(format!("sluice.toml: [python] {key} = {value:?}: {e}"))
    };
    let mut isolation = crate::python::Isolation {
        allow_network: options.allow_network,
        allow_weaker: options.allow_weaker_isolation
            || config.allow_weaker_isolation.unwrap_or(false),
        ..Default::default()
    };
    if let Some(t) = options.node_timeout {
        isolation.timeout = t;
    } else if let Some(text) = &config.node_timeout {
        isolation.timeout = humantime::parse_duration(text)
            .map_err(|e| bad("node_timeout", text, e.to_string()))?;
    }
    if isolation.timeout.is_zero() {
        return Err(RuntimeError::Project(
            "the time limit of Python nodes must be more than 0s".into(),
        ));
    }
    if let Some(m) = options.node_memory {
        isolation.memory = m;
    } else if let Some(text) = &config.node_memory {
        isolation.memory =
            crate::python::parse_memory_size(text).map_err(|e| bad("node_memory", text, e))?;
    }
    // The catalog's folder (SQLite) and the data folder (a local lake).
    let data = lake.data().uri();
    let data = data.strip_prefix("file://").unwrap_or(data);
    for place in [lake.location(), data] {
        if !place.contains("://") {
            let path = Path::new(place);
            if path.is_dir() {
                isolation.hidden.push(path.to_path_buf());
            }
        }
    }
    Ok(isolation)
}

/// Compiles, checks and runs a project (docs/runs.md).
pub async fn run(lake: &Lake, options: RunOptions, observer: Observer) -> Result<RunOutcome> {
    let project = options.project.clone();
    let (sources, analysis) = crate::error::blocking("compiling the project", move || {
        let sources = sluice_compiler::load_project(&project)
            .map_err(|e| RuntimeError::Project(e.to_string()))?;
        let analysis = sluice_compiler::check(&sources);
        Ok((sources, analysis))
    })
    .await?;
    if analysis.summary.errors > 0 {
        return Ok(RunOutcome::Rejected {
            sources: Box::new(sources),
            analysis: Box::new(analysis),
        });
    }
    let plan = sluice_compiler::plan::build(&analysis, &sources);
    // A materialization sluice cannot honour stops the run before anything runs.
    unsupported_materializations(&plan)?;
    // Fail before recording anything when a parameter has no usable value...
    let parameters = crate::params::resolve(&plan, &options.params, &sources)
        .map_err(RuntimeError::Parameter)?;
    // ... or when Python nodes cannot be isolated as asked ...
    let isolation = isolation(&options, &sources, lake)?;
    let has_python = plan.nodes.iter().any(|n| n.python.is_some()) || !plan.expectations.is_empty();
    if has_python {
        let probe = isolation.clone();
        let warnings =
            tokio::task::spawn_blocking(move || crate::python::isolation_warnings(&probe))
                .await
                .map_err(|e| RuntimeError::Internal(e.to_string()))??;
        for message in warnings {
            observer(&RunEvent::Warning { message });
        }
    }
    // ... or when the target does not exist.
    let target_head = lake.branch_head(&options.target).await?;
    recover_stale_runs(lake).await?;

    let id = uuid::Uuid::new_v4().simple().to_string();
    let branch = format!("run/{}", record::short(&id));
    // From here on every write presents the run's lease: its branch is sealed
    // for it, and only it may publish the branch's snapshots or succeed.
    let lake = &lake.clone().with_lease(Lease::new(&id));
    let base = match &options.base {
        Some(c) => lake.commit_by_id(c).await?,
        None => target_head,
    };
    let project = options.project.clone();
    let (archive, sha, files) =
        crate::error::blocking("archiving the code", move || archive::pack(&project)).await?;
    let code_path = format!("runs/{id}/code.tar.gz");
    let code_bytes = archive.len() as u64;
    lake.data().put(&code_path, Bytes::from(archive)).await?;

    let executable: Vec<&PlanNode> = plan
        .order
        .iter()
        .filter_map(|name| plan.nodes.iter().find(|n| &n.name == name))
        .filter(|n| n.kind != TableKind::Source)
        .collect();
    let mut rec = RunRecord {
        id: id.clone(),
        status: RunStatus::Running,
        // The folder as a path that means the same from anywhere (`sluice run` from a
        // subfolder spells it `..`).
        project: std::fs::canonicalize(&options.project)
            .or_else(|_| std::path::absolute(&options.project))
            .unwrap_or_else(|_| options.project.clone())
            .display()
            .to_string(),
        target: options.target.clone(),
        base_commit: base.id.0.clone(),
        branch: branch.clone(),
        dry_run: options.dry_run,
        rerun_of: options.rerun_of.clone(),
        params: options.params.clone(),
        allow_network: options.allow_network,
        code: CodeSnapshot {
            path: code_path,
            sha256: sha,
            files,
            bytes: code_bytes,
        },
        plan: serde_json::to_value(&plan).map_err(|e| RuntimeError::Internal(e.to_string()))?,
        started_ms: now_ms(),
        finished_ms: None,
        host: hostname(),
        pid: std::process::id(),
        nodes: executable
            .iter()
            .map(|n| NodeRecord {
                name: n.name.clone(),
                kind: kind_name(n.kind).to_string(),
                file: n.file.clone(),
                line: n.line,
                status: NodeStatus::Pending,
                rows: None,
                bytes: None,
                files: None,
                duration_ms: None,
                commit: None,
                snapshot: None,
                expectations: Vec::new(),
                error: None,
                env_build_ms: None,
                output: None,
                materialization: materialization_name(&n.materialization).to_string(),
                published: None,
            })
            .collect(),
        result_commit: None,
        published_head: None,
        withheld_commit: None,
        error: None,
        branch_pruned: false,
    };
    record::save(lake, &rec).await?;
    lake.create_run_branch(&branch, &base.id).await?;
    lake.set_branch_property(&branch, "run_id", Some(&id))
        .await?;
    observer(&RunEvent::Started {
        run_id: id.clone(),
        branch: branch.clone(),
        base: base.id.0.clone(),
        nodes: executable
            .iter()
            .map(|n| (n.name.clone(), kind_name(n.kind).to_string()))
            .collect(),
    });

    let result = execute(
        lake, &options, parameters, isolation, &sources, &plan, &base, &mut rec, &observer,
    )
    .await;
    let result = match result {
        Ok(()) if options.dry_run => Ok(None),
        Ok(()) => {
            observer(&RunEvent::Publishing {
                target: options.target.clone(),
            });
            publish(lake, &mut rec).await.map(Some)
        }
        Err(e) => Err(e),
    };
    rec.finished_ms = Some(now_ms());
    let published = matches!(result, Ok(Some(_)));
    for node in &mut rec.nodes {
        node.published =
            Some(published && node.status == NodeStatus::Succeeded && node.publishes());
    }
    match result {
        Ok(Some(commit)) => {
            rec.status = RunStatus::Succeeded;
            rec.result_commit = Some(commit.0);
            record::save(lake, &rec).await?;
            lake.delete_branch(&branch).await?;
        }
        Ok(None) => {
            rec.status = RunStatus::Validated;
            record::save(lake, &rec).await?;
            lake.delete_branch(&branch).await?;
        }
        Err(failure) => {
            rec.status = RunStatus::Failed;
            rec.error = Some(failure);
            abort(lake, &rec).await?;
            record::save(lake, &rec).await?;
        }
    }
    Ok(RunOutcome::Finished(Box::new(rec)))
}

/// The record's name of a materialization (`replace`, `append`, `none`,
/// `overwrite_partitions`).
fn materialization_name(m: &Materialization) -> &'static str {
    match m {
        Materialization::Replace => "replace",
        Materialization::Append => "append",
        Materialization::None => "none",
        Materialization::OverwritePartitions { .. } => "overwrite_partitions",
    }
}

/// Refuses a plan with a materialization sluice does not implement
/// (`OVERWRITE_PARTITIONS`), naming every such node, its file and line.
fn unsupported_materializations(plan: &Plan) -> Result<()> {
    let refused: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| matches!(n.materialization, Materialization::OverwritePartitions { .. }))
        .map(|n| {
            format!(
                "`{}` ({}:{}): materialization_strategy OVERWRITE_PARTITIONS is not supported by sluice yet; use REPLACE or APPEND",
                n.name, n.file, n.line
            )
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::Unsupported(refused.join("\n")))
    }
}

fn kind_name(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Source => "source",
        TableKind::Python => "python",
        TableKind::Sql => "sql",
    }
}

/// Marks the commits of a failed run and its branch as aborted (for `log` and
/// people; the merge guard refuses them by the run's status anyway).
async fn abort(lake: &Lake, rec: &RunRecord) -> Result<()> {
    let commits = rec.nodes.iter().filter_map(|n| n.commit.as_ref());
    for c in commits.chain(rec.withheld_commit.as_ref()) {
        lake.mark_commit(&CommitId(c.clone()), "aborted", &rec.id)
            .await?;
    }
    match lake
        .set_branch_property(&rec.branch, "aborted", Some(&rec.id))
        .await
    {
        Ok(()) | Err(LakeError::BranchNotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The head the run itself committed last, checked against its branch: the
/// branch must be exactly there, and hold the base's tables with exactly the
/// validated outputs of the record. Anything else wrote to it: nothing is
/// published.
async fn verified_head(lake: &Lake, rec: &RunRecord) -> Result<CommitId, RunError> {
    let refuse = |message: String| RunError {
        node: None,
        message: format!("{message}: nothing was published"),
    };
    let lake_err = |e: LakeError| refuse(e.to_string());
    let base = lake
        .commit_by_id(&CommitId(rec.base_commit.clone()))
        .await
        .map_err(lake_err)?;
    let mut expected = base.tables().clone();
    let mut last: Commit = base;
    for node in rec.outputs() {
        let (Some(commit), Some(snapshot)) = (&node.commit, &node.snapshot) else {
            return Err(refuse(format!(
                "output `{}` has no recorded commit",
                node.name
            )));
        };
        // A withheld output (`none`) must be back at the base's state.
        if node.publishes() {
            expected.insert(node.name.clone(), SnapshotId(snapshot.clone()));
        }
        let commit = lake
            .commit_by_id(&CommitId(commit.clone()))
            .await
            .map_err(lake_err)?;
        // The run's commits form one chain, each strictly newer than its parent.
        if commit.content.time_ms > last.content.time_ms {
            last = commit;
        }
    }
    if let Some(withheld) = &rec.withheld_commit {
        let commit = lake
            .commit_by_id(&CommitId(withheld.clone()))
            .await
            .map_err(lake_err)?;
        if commit.content.time_ms > last.content.time_ms {
            last = commit;
        }
    }
    let head = lake.branch_head(&rec.branch).await.map_err(lake_err)?;
    if head.id != last.id {
        return Err(refuse(format!(
            "the run's branch `{}` is at {}, not at the run's last commit {}",
            rec.branch,
            head.id.short(),
            last.id.short()
        )));
    }
    if head.tables() != &expected {
        return Err(refuse(format!(
            "the run's branch `{}` holds other tables than the base's and the validated outputs",
            rec.branch
        )));
    }
    Ok(head.id)
}

/// Merges the run's branch into the target as one merge commit: exactly the
/// head [`verified_head`] checked (the merge refuses if the branch moved), with
/// the run's lease, which is what lets its snapshots leave its branch.
async fn publish(lake: &Lake, rec: &mut RunRecord) -> Result<CommitId, RunError> {
    withhold(lake, rec).await?;
    let head = verified_head(lake, rec).await?;
    let tables: Vec<&str> = rec.published_outputs().map(|n| n.name.as_str()).collect();
    let mut req = MergeRequest::new(&rec.branch, &rec.target);
    req.no_fast_forward = true;
    req.expected_source_head = Some(head.clone());
    req.message = Some(format!(
        "run {}: publish {}",
        rec.short_id(),
        if tables.is_empty() {
            "no tables".to_string()
        } else {
            tables.join(", ")
        }
    ));
    req.properties
        .insert("published_run".into(), rec.id.clone());
    match lake.merge(req).await {
        Ok(outcome) => {
            rec.published_head = Some(head.0);
            Ok(outcome.head().clone())
        }
        Err(LakeError::MergeConflict { tables, .. }) => Err(RunError {
            node: None,
            message: format!(
                "`{}` changed since the run started ({}), and so did this run, in table(s) {}: nothing was published",
                rec.target,
                sluice_lake::CommitId(rec.base_commit.clone()).short(),
                tables.join(", ")
            ),
        }),
        Err(e) => Err(RunError {
            node: None,
            message: format!("publishing to `{}` failed: {e}", rec.target),
        }),
    }
}

/// Sets the tables of the run's `materialization_strategy = NONE` outputs back to
/// the base's (absent stays absent) in one last commit on the run's branch, so the
/// publishing merge leaves the target's tables of those names exactly as they are.
/// The outputs stay in the run's earlier commits, which every later read of them
/// (`sluice query --ref <commit>`) and gc's rule (a file any recorded commit
/// references is never deleted) keep.
async fn withhold(lake: &Lake, rec: &mut RunRecord) -> Result<(), RunError> {
    let tables: Vec<String> = rec.withheld_outputs().map(|n| n.name.clone()).collect();
    if tables.is_empty() {
        return Ok(());
    }
    let refuse = |e: LakeError| RunError {
        node: None,
        message: format!(
            "setting back the unpublished output(s) {} (materialization_strategy NONE) failed: {e}: nothing was published",
            tables.join(", ")
        ),
    };
    let base = lake
        .commit_by_id(&CommitId(rec.base_commit.clone()))
        .await
        .map_err(refuse)?;
    let mut req = CommitRequest::new(
        &rec.branch,
        &format!(
            "run {}: withhold {} (materialization_strategy NONE)",
            rec.short_id(),
            tables.join(", ")
        ),
    );
    for t in &tables {
        req = req.change(t, TableChange::Restore(base.tables().get(t).cloned()));
    }
    req.properties.insert("run_id".into(), rec.id.clone());
    req.properties.insert("withheld".into(), tables.join(","));
    let commit = lake.commit(req).await.map_err(refuse)?;
    rec.withheld_commit = Some(commit.id.0);
    Ok(())
}

/// Runs whose process died (same host, pid gone) while `running`: published if
/// their branch is gone and a merge commit on the target names them, else failed.
pub async fn recover_stale_runs(lake: &Lake) -> Result<()> {
    let host = hostname();
    for mut rec in record::list(lake, 50).await? {
        if rec.status != RunStatus::Running || rec.host != host || process_alive(rec.pid) {
            continue;
        }
        rec.status = RunStatus::Failed;
        rec.finished_ms = Some(now_ms());
        rec.error = Some(RunError {
            node: None,
            message: format!(
                "the run's process ({}) ended before the run finished",
                rec.pid
            ),
        });
        for n in &mut rec.nodes {
            if matches!(n.status, NodeStatus::Pending | NodeStatus::Running) {
                n.status = NodeStatus::Skipped;
            }
        }
        // Failed first: without the run's lease, its sealed branch can only be
        // marked once the run has ended.
        record::save(lake, &rec).await?;
        abort(lake, &rec).await?;
    }
    Ok(())
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Checks the sources, then executes every node in topological order, independent
/// nodes in parallel, committing each validated output to the run's branch.
#[allow(clippy::too_many_arguments)]
async fn execute(
    lake: &Lake,
    options: &RunOptions,
    parameters: BTreeMap<String, serde_json::Value>,
    isolation: crate::python::Isolation,
    sources: &SourceSet,
    plan: &Plan,
    base: &sluice_lake::Commit,
    rec: &mut RunRecord,
    observer: &Observer,
) -> Result<(), RunError> {
    let fail = |node: Option<&str>, message: String| RunError {
        node: node.map(str::to_string),
        message,
    };
    // Sources: read as of the base commit, checked from the snapshot's recorded
    // schema and statistics (no scan).
    let mut tables: HashMap<String, TableData> = HashMap::new();
    for node in plan.nodes.iter().filter(|n| n.kind == TableKind::Source) {
        let Some(sid) = base.tables().get(&node.name) else {
            return Err(fail(
                None,
                format!(
                    "source table `{}` ({}:{}) does not exist on `{}` at commit {}: load it first (sluice import FILE --table {})",
                    node.name,
                    node.file,
                    node.line,
                    rec.target,
                    base.id.short(),
                    node.name
                ),
            ));
        };
        let snap = at_base(lake, &base.id, &node.name, sid)
            .await
            .map_err(|e| fail(None, e.to_string()))?;
        let contract = Contract::from_plan(&node.name, node.output_schema.as_deref());
        let null_counts: Vec<u64> = snap.content.columns.iter().map(|c| c.null_count).collect();
        let violations = check_source(
            &contract,
            &snap.content.schema,
            &null_counts,
            snap.content.rows,
        );
        if !violations.is_empty() {
            return Err(fail(
                None,
                format!(
                    "source table `{}` ({}:{}) does not match its declared schema at commit {}: {}",
                    node.name,
                    node.file,
                    node.line,
                    base.id.short(),
                    violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        tables.insert(node.name.clone(), table_data(&snap));
    }

    // APPEND outputs: the table as it is at the base (what the rows are added to).
    let mut existing: HashMap<String, TableData> = HashMap::new();
    for node in plan
        .nodes
        .iter()
        .filter(|n| n.materialization == Materialization::Append)
    {
        let Some(sid) = base.tables().get(&node.name) else {
            continue; // created by this run
        };
        let snap = at_base(lake, &base.id, &node.name, sid)
            .await
            .map_err(|e| fail(None, e.to_string()))?;
        existing.insert(node.name.clone(), table_data(&snap));
    }

    let ctx = Arc::new(NodeContext {
        lake: lake.clone(),
        project_root: sources.root.clone(),
        texts: sources
            .files()
            .map(|(_, f)| (f.path.clone(), f.text.clone()))
            .collect(),
        table_names: plan.python_names(),
        params: parameters,
        isolation,
        envs: crate::python::EnvManager::new(
            options
                .cache_dir
                .clone()
                .unwrap_or_else(crate::python::EnvManager::default_cache_dir),
        ),
        run_id: rec.id.clone(),
        branch: rec.branch.clone(),
        observer: observer.clone(),
        sql_engine: options.sql_engine.clone(),
    });
    let traces: HashMap<String, Arc<exec::NodeTrace>> = rec
        .nodes
        .iter()
        .map(|n| (n.name.clone(), Arc::default()))
        .collect();
    // Every Python environment before the first node: one that cannot be built
    // fails the run while nothing has executed.
    let mut failure: Option<RunError> = prepare_environments(&ctx, plan, rec, &traces, observer)
        .await
        .err();
    let parallelism = options.parallelism.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });

    // Dependency counting over the plan's edges.
    let nodes: Vec<&PlanNode> = rec
        .nodes
        .iter()
        .filter_map(|r| plan.nodes.iter().find(|n| n.name == r.name))
        .collect();
    let mut waiting: HashMap<&str, usize> = nodes
        .iter()
        .map(|n| {
            let deps = n.inputs.iter().filter(|i| !tables.contains_key(*i)).count();
            (n.name.as_str(), deps)
        })
        .collect();
    let mut ready: Vec<&PlanNode> = nodes
        .iter()
        .copied()
        .filter(|n| waiting[n.name.as_str()] == 0)
        .collect();
    let mut running: JoinSet<(String, Result<exec::NodeDone, NodeError>)> = JoinSet::new();
    let mut checked: Vec<bool> = vec![false; plan.expectations.len()];

    loop {
        while failure.is_none() && running.len() < parallelism && !ready.is_empty() {
            let node = ready.remove(0);
            let inputs: Vec<(String, TableData)> = node
                .inputs
                .iter()
                .filter_map(|i| tables.get(i).map(|t| (i.clone(), t.clone())))
                .collect();
            // Expectations that become checkable once this node's output exists.
            let mut checks: Vec<PlanExpectation> = Vec::new();
            for (k, e) in plan.expectations.iter().enumerate() {
                if !checked[k]
                    && e.inputs.contains(&node.name)
                    && e.inputs
                        .iter()
                        .all(|i| i == &node.name || tables.contains_key(i))
                {
                    checked[k] = true;
                    checks.push(e.clone());
                }
            }
            let check_inputs: Vec<(String, TableData)> = checks
                .iter()
                .flat_map(|e| e.inputs.iter())
                .filter_map(|i| tables.get(i).map(|t| (i.clone(), t.clone())))
                .collect();
            if let Some(r) = rec.node_mut(&node.name) {
                r.status = NodeStatus::Running;
            }
            observer(&RunEvent::NodeStarted {
                node: node.name.clone(),
            });
            let ctx = ctx.clone();
            let node = clone_node(node, existing.get(&node.name).cloned());
            let trace = traces.get(&node.name).cloned().unwrap_or_default();
            running.spawn(async move {
                let name = node.name.clone();
                let result =
                    exec::run_node(&ctx, &node, inputs, checks, check_inputs, &trace).await;
                (name, result)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, result) = match joined {
            Ok(r) => r,
            Err(e) => {
                failure.get_or_insert(fail(None, format!("a node task failed: {e}")));
                continue;
            }
        };
        let Some(record) = rec.node_mut(&name) else {
            failure.get_or_insert(fail(
                None,
                format!("internal error: no record for `{name}`"),
            ));
            continue;
        };
        if let Some(trace) = traces.get(&name) {
            record.env_build_ms = trace.env_build().map(|d| d.as_millis() as u64);
            record.output = trace.output();
        }
        match result {
            Ok(done) => {
                record.status = NodeStatus::Succeeded;
                record.rows = Some(done.staged.rows);
                record.bytes = Some(done.staged.bytes());
                record.files = Some(done.staged.files.len());
                record.duration_ms = Some(done.duration_ms);
                record.commit = Some(done.commit.0.clone());
                record.snapshot = Some(done.snapshot.clone());
                record.expectations = done.expectations.clone();
                observer(&RunEvent::NodeFinished {
                    node: name.clone(),
                    status: NodeStatus::Succeeded,
                    rows: Some(done.staged.rows),
                    duration_ms: done.duration_ms,
                });
                // What the run's other nodes read: the whole table (an APPEND
                // output with the base's rows).
                tables.insert(name.clone(), done.data.clone());
                for n in &nodes {
                    if n.inputs.contains(&name)
                        && let Some(w) = waiting.get_mut(n.name.as_str())
                    {
                        *w -= n.inputs.iter().filter(|i| **i == name).count();
                        if *w == 0 {
                            ready.push(n);
                        }
                    }
                }
            }
            Err(error) => {
                record.status = NodeStatus::Failed;
                // The output that broke its contract: on the run's branch, marked
                // aborted with the run's other commits.
                if let Some(kept) = &error.rejected_output {
                    record.commit = Some(kept.commit.clone());
                    record.snapshot = Some(kept.snapshot.clone());
                }
                let message = error.message.clone();
                record.error = Some(error);
                observer(&RunEvent::NodeFinished {
                    node: name.clone(),
                    status: NodeStatus::Failed,
                    rows: None,
                    duration_ms: 0,
                });
                failure.get_or_insert(fail(Some(&name), message));
            }
        }
        // The record follows progress (`sluice runs show` during a run).
        if let Err(e) = record::save(lake, rec).await {
            failure.get_or_insert(fail(None, format!("saving the run record failed: {e}")));
        }
    }
    for r in &mut rec.nodes {
        if matches!(r.status, NodeStatus::Pending | NodeStatus::Running) {
            r.status = NodeStatus::Skipped;
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The snapshot `sid` of table `table` at the run's base commit, its files checked: a
/// missing or altered file fails the run, never reads as no rows.
async fn at_base(
    lake: &Lake,
    base: &CommitId,
    table: &str,
    sid: &SnapshotId,
) -> Result<sluice_lake::Snapshot, LakeError> {
    let snap = lake.snapshot(sid).await?;
    lake.check_files(table, &format!("@{base}"), &snap.content.files)
        .await?;
    Ok(snap)
}

/// What a node reads of a table: its schema and files.
fn table_data(snap: &sluice_lake::Snapshot) -> TableData {
    TableData {
        schema: Arc::new(snap.content.schema.clone()),
        files: snap.content.files.clone(),
    }
}

/// Builds (or finds cached) the Python environment of every Python node and
/// expectation of the plan, each distinct environment once and the distinct ones
/// concurrently, announced for the first node that needs it. The first failure, in
/// the plan's order, is the run's: that node is marked failed with the error
/// (naming its file, line and the requirements), and nothing has executed.
async fn prepare_environments(
    ctx: &Arc<NodeContext>,
    plan: &Plan,
    rec: &mut RunRecord,
    traces: &HashMap<String, Arc<exec::NodeTrace>>,
    observer: &Observer,
) -> Result<(), RunError> {
    struct Need {
        /// The node it is announced and recorded for (an expectation: its own name).
        node: String,
        file: String,
        line: u32,
        env: crate::python::EnvSpec,
    }
    let mut needs: Vec<Need> = Vec::new();
    for r in &rec.nodes {
        let Some(python) = plan
            .nodes
            .iter()
            .find(|n| n.name == r.name)
            .and_then(|n| n.python.as_ref())
        else {
            continue;
        };
        needs.push(Need {
            node: r.name.clone(),
            file: r.file.clone(),
            line: r.line,
            env: exec::PythonSpec::from_plan(python).env,
        });
    }
    for e in &plan.expectations {
        needs.push(Need {
            node: e.name.clone(),
            file: e.file.clone(),
            line: e.line,
            env: exec::PythonSpec::from_plan(&e.python).env,
        });
    }
    // One build per distinct environment (an invalid spec has no hash: its own entry).
    let mut seen = std::collections::HashSet::new();
    needs.retain(|n| n.env.hash().map_or(true, |h| seen.insert(h)));
    let builds = needs.iter().map(|need| {
        let ctx = ctx.clone();
        let trace = traces.get(&need.node).cloned().unwrap_or_default();
        async move {
            let result = exec::ensure_env(&ctx, &need.node, &need.env, &trace).await;
            (trace.env_build(), result)
        }
    });
    let results = futures::future::join_all(builds).await;
    let mut failure = None;
    for (need, (took, result)) in needs.iter().zip(results) {
        let record = rec.node_mut(&need.node);
        // An expectation is not a node: the run's error names no node then.
        let node = record.as_ref().map(|_| need.node.clone());
        match result {
            Ok(_) => {
                if let Some(record) = record {
                    record.env_build_ms = took.map(|d| d.as_millis() as u64);
                }
            }
            Err(e) if failure.is_none() => {
                // The tool's output goes to the node error's detail, once.
                let what = e.to_string();
                let message = format!(
                    "the Python environment of `{}` ({}:{}) could not be built, so no node ran: {}",
                    need.node,
                    need.file,
                    need.line,
                    what.lines().next().unwrap_or_default()
                );
                let error = exec::env_error(&need.file, need.line, e);
                if let Some(record) = record {
                    record.status = NodeStatus::Failed;
                    record.env_build_ms = took.map(|d| d.as_millis() as u64);
                    record.error = Some(NodeError {
                        message: message.clone(),
                        ..error
                    });
                    observer(&RunEvent::NodeFinished {
                        node: need.node.clone(),
                        status: NodeStatus::Failed,
                        rows: None,
                        duration_ms: 0,
                    });
                }
                failure = Some(RunError { node, message });
            }
            Err(_) => {}
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// The node to execute; `existing`: an APPEND node's table at the run's base.
fn clone_node(n: &PlanNode, existing: Option<TableData>) -> exec::NodeSpec {
    exec::NodeSpec {
        name: n.name.clone(),
        kind: n.kind,
        file: n.file.clone(),
        line: n.line,
        contract: Contract::from_plan(&n.name, n.output_schema.as_deref()),
        python: n.python.as_ref().map(exec::PythonSpec::from_plan),
        materialization: n.materialization.clone(),
        existing,
    }
}

/// Commits one validated output to the run's branch: the table's new state
/// (`Replace`), or its rows added to the table on the branch (`Append`).
pub(crate) async fn commit_output(
    lake: &Lake,
    branch: &str,
    run_id: &str,
    table: &str,
    change: TableChange,
) -> Result<(CommitId, String), LakeError> {
    let mut req = CommitRequest::new(branch, &format!("run {}: {table}", record::short(run_id)))
        .change(table, change);
    req.properties.insert("run_id".into(), run_id.to_string());
    req.properties.insert("node".into(), table.to_string());
    let commit = lake.commit(req).await?;
    let snapshot = commit
        .tables()
        .get(table)
        .map(|s| s.0.clone())
        .unwrap_or_default();
    Ok((commit.id, snapshot))
}

/// Where a node's error points.
pub(crate) fn location(file: &str, line: Option<u32>) -> Option<Location> {
    Some(Location {
        file: file.to_string(),
        line,
    })
}

pub(crate) fn expectation_result(name: &str, passed: bool) -> ExpectationResult {
    ExpectationResult {
        name: name.to_string(),
        passed,
    }
}
