//! `sluice run`, `sluice runs [show]`, `sluice rerun`: transactional runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sluice_lake::Lake;
use sluice_runtime::prune::{PrunedRun, Retention};
use sluice_runtime::python::OutputStream;
use sluice_runtime::record::short;
use sluice_runtime::runs::Rerun;
use sluice_runtime::{
    NodeStatus, Observer, RunEvent, RunOptions, RunOutcome, RunRecord, RunStatus, RuntimeError,
};

use crate::lake_loc::{self, ProjectSettings};
use crate::{ColorChoice, Format, exit};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The project folder (default: the nearest folder from the current one upward
    /// that holds sluice.toml or bauplan_project.yml, else the current folder).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The branch to read sources from and publish to (default: `ref` in the
    /// project's sluice.toml, else main).
    #[arg(long = "ref", value_name = "BRANCH")]
    target: Option<String>,
    /// Execute and validate everything, publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// A run parameter, handed to Python functions with a parameter of that name or
    /// reading `bauplan.Parameter("KEY")` (overrides bauplan_project.yml defaults).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Let Python nodes reach the network (they run without it by default).
    #[arg(long)]
    allow_network: bool,
    /// Run Python nodes even when this host cannot provide every isolation layer
    /// (each run warns which are missing).
    #[arg(long)]
    allow_weaker_isolation: bool,
    /// Wall-clock limit of one Python node, e.g. 10m, 1h30m (default: node_timeout
    /// under `[python]` in sluice.toml, else 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    node_timeout: Option<Duration>,
    /// Memory limit of one Python node, e.g. 4GiB, 512MiB (default: node_memory
    /// under `[python]` in sluice.toml, else 3/4 of the machine's memory).
    #[arg(long, value_name = "SIZE", value_parser = sluice_runtime::python::parse_memory_size)]
    node_memory: Option<u64>,
    /// Where SQL nodes run: `local`, or `ballista://HOST:PORT`, a cluster (`sluice
    /// cluster`) whose processes all reach the lake's data; Python nodes, validation
    /// and commits stay in this process (default: $SLUICE_ENGINE, else local).
    #[arg(long, value_name = "ENGINE", value_parser = crate::cluster_cmds::Engine::parse)]
    engine: Option<crate::cluster_cmds::Engine>,
    #[command(flatten)]
    common: RunCommon,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("the time limit must be more than 0s".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected e.g. 90s, 10m, 1h30m)")),
    }
}

/// `--lake`, `--format` and `--color` of `run` and `rerun`.
#[derive(clap::Args)]
pub struct RunCommon {
    #[command(flatten)]
    lake: crate::lake_cmds::LakeArg,
    /// Output format: text (a live display on stderr, a summary on stdout) or json
    /// (one document on stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Color human output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
}

/// `--lake` and `--format` of `runs`, `runs show` and `runs prune`.
#[derive(clap::Args)]
pub struct RecordsCommon {
    #[command(flatten)]
    lake: crate::lake_cmds::LakeArg,
    /// Output format: text (one line per run; `show`: the run's nodes) or json.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsAction>,
    /// How many runs to list, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    common: RecordsCommon,
}

#[derive(clap::Subcommand)]
enum RunsAction {
    /// One run: its status, target and base, branch, code archive, nodes with rows
    /// and durations, errors and resulting commit.
    Show {
        /// The run's id or a unique prefix of it.
        run_id: String,
        #[command(flatten)]
        common: RecordsCommon,
    },
    /// Delete the `run/<id>` branches of failed runs outside the retention rule
    /// (their records and commits stay).
    Prune {
        /// Keep the branches of failed runs that ended less than this long ago
        /// (e.g. 12h, 7d, 0s).
        #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_age)]
        older_than: Duration,
        /// Keep the branches of the N most recent failed runs, however old.
        #[arg(long, value_name = "N", default_value_t = sluice_runtime::prune::DEFAULT_KEEP)]
        keep: usize,
        /// Say which branches would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        common: RecordsCommon,
    },
}

fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (expected e.g. 12h, 7d, 0s)"))
}

/// `sluice runs prune`.
async fn prune(lake: &Lake, retention: Retention, dry_run: bool, format: Format) -> ExitCode {
    let list = match sluice_runtime::prune::prune(lake, &retention, dry_run).await {
        Ok(l) => l,
        Err(e) => return runtime_error(format, e),
    };
    let pruned: Vec<&PrunedRun> = list.iter().filter(|p| p.pruned).collect();
    if format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "dry_run": dry_run,
                "pruned": pruned.iter().map(|p| &p.branch).collect::<Vec<_>>(),
                "runs": list,
            }))
            .unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    for p in &list {
        match &p.kept_because {
            None if dry_run => {
                crate::outln!("would delete {} (run {})", p.branch, short(&p.run_id))
            }
            None => crate::outln!("deleted {} (run {})", p.branch, short(&p.run_id)),
            Some(why) => crate::outln!("kept {} (run {}): {why}", p.branch, short(&p.run_id)),
        }
    }
    crate::outln!(
        "{} {} failed run branch(es), kept {}",
        if dry_run { "would delete" } else { "deleted" },
        pruned.len(),
        list.len() - pruned.len(),
    );
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
pub struct RerunArgs {
    /// The run to reproduce: its id or a unique prefix of it.
    run_id: String,
    /// Publish the reproduced outputs to this branch (default: publish nothing).
    #[arg(long = "ref", value_name = "BRANCH")]
    target: Option<String>,
    #[command(flatten)]
    common: RunCommon,
}

fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Opens the existing lake of a command that reads (`settings`: the project's
/// sluice.toml, for its `lake`).
async fn open(
    lake: Option<&str>,
    settings: &ProjectSettings,
) -> Result<Lake, sluice_lake::LakeError> {
    lake_loc::open(lake, settings).await
}

/// A lake that cannot be opened: exit 2 (usage, configuration or a missing lake)
/// or as its lake error says.
fn open_failed(format: Format, e: sluice_lake::LakeError) -> ExitCode {
    let (code, kind) = crate::lake_cmds::classify(&e);
    fail(format, code.max(exit::USAGE), kind, e.to_string())
}

/// Live per-node status on stderr (hidden when stderr is not a terminal), and
/// what nodes print, as `[node] line` on stderr (always).
struct Live {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    bars_shown: bool,
}

impl Live {
    fn observer(enabled: bool) -> (Arc<Live>, Observer) {
        let multi = if enabled {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
        };
        // indicatif hides the bars (and its `println`) when stderr is not a terminal.
        let multi_hidden = multi.is_hidden();
        let live = Arc::new(Live {
            multi,
            bars: Mutex::new(BTreeMap::new()),
            bars_shown: !multi_hidden,
        });
        let l = live.clone();
        (live, Arc::new(move |e: &RunEvent| l.event(e)))
    }

    /// A line on stderr: above the bars when they are drawn, else plainly.
    fn line(&self, text: String) {
        if self.bars_shown {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn event(&self, event: &RunEvent) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let style = |t: &str| {
            ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_spinner())
        };
        match event {
            RunEvent::Started {
                run_id,
                branch,
                nodes,
                ..
            } => {
                let _ = self
                    .multi
                    .println(format!("run {} on branch {branch}", short(run_id)));
                for (name, kind) in nodes {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(style("  {prefix:<28} {msg}"));
                    bar.set_prefix(format!("{name} ({kind})"));
                    bar.set_message("waiting");
                    bars.insert(name.clone(), bar);
                }
            }
            RunEvent::NodeStarted { node } => {
                if let Some(bar) = bars.get(node) {
                    bar.set_style(style("  {prefix:<28} {spinner} running {elapsed}"));
                    bar.reset_elapsed();
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }
            RunEvent::EnvBuilding {
                node,
                python,
                packages,
            } => {
                let python = python
                    .as_deref()
                    .map(|v| format!("Python {v}, "))
                    .unwrap_or_default();
                self.line(format!(
                    "building Python environment for {node} ({python}{})",
                    packages.join(", ")
                ));
                if let Some(bar) = bars.get(node) {
                    bar.set_style(style(
                        "  {prefix:<28} {spinner} building environment {elapsed}",
                    ));
                    bar.reset_elapsed();
                }
            }
            RunEvent::EnvBuilt {
                node,
                ok,
                duration_ms,
            } => {
                self.line(format!(
                    "{} Python environment for {node} in {}",
                    if *ok { "built" } else { "failed to build" },
                    seconds(*duration_ms)
                ));
                // Environments are built before any node runs: the node waits.
                if let Some(bar) = bars.get(node) {
                    bar.set_style(style("  {prefix:<28} {msg}"));
                    bar.set_message(if *ok {
                        "environment ready, waiting"
                    } else {
                        "environment failed"
                    });
                }
            }
            RunEvent::NodeOutput { node, line, .. } => self.line(format!("[{node}] {line}")),
            RunEvent::NodeFinished {
                node,
                status,
                rows,
                duration_ms,
            } => {
                if let Some(bar) = bars.get(node) {
                    bar.set_style(style("  {prefix:<28} {msg}"));
                    bar.finish_with_message(match status {
                        NodeStatus::Succeeded => {
                            format!("ok, {} rows, {}", rows.unwrap_or(0), seconds(*duration_ms))
                        }
                        other => other.as_str().to_string(),
                    });
                }
            }
            RunEvent::Publishing { target } => {
                let _ = self.multi.println(format!("publishing to {target}"));
            }
            // Before any bar is drawn; on stderr in every format (JSON goes to stdout).
            RunEvent::Warning { message } => eprintln!("warning: {message}"),
        }
    }

    fn clear(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
        let _ = self.multi.clear();
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

pub(crate) fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for p in raw {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!("--param `{p}` is not KEY=VALUE"));
        };
        if k.is_empty() {
            return Err(format!("--param `{p}` has an empty key"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn fail(format: Format, code: u8, kind: &str, message: String) -> ExitCode {
    if format == Format::Json {
        crate::outln!(
            "{}",
            json!({ "error": { "kind": kind, "message": message } })
        );
    }
    eprintln!("error: {message}");
    ExitCode::from(code)
}

fn runtime_error(format: Format, e: RuntimeError) -> ExitCode {
    let (code, kind) = classify_runtime(&e);
    fail(format, code, kind, e.to_string())
}

/// The exit code and JSON error `kind` of a runtime error.
pub(crate) fn classify_runtime(e: &RuntimeError) -> (u8, &'static str) {
    match e {
        RuntimeError::RunNotFound(_) | RuntimeError::AmbiguousRun { .. } => {
            (exit::USAGE, "run_not_found")
        }
        RuntimeError::Project(_) | RuntimeError::Io { .. } => (exit::USAGE, "project"),
        RuntimeError::Parameter(_) => (exit::USAGE, "parameter"),
        RuntimeError::Refused(_) => (exit::FAILED, "refused"),
        RuntimeError::Unsupported(_) => (exit::FAILED, "unsupported"),
        RuntimeError::Lake(l) => crate::lake_cmds::classify(l),
        _ => (exit::FAILED, "runtime"),
    }
}

/// The run as one JSON document (the plan is left to `sluice runs show`).
pub(crate) fn run_json(rec: &RunRecord) -> Value {
    let mut v = serde_json::to_value(rec).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("plan");
        o.insert("run_id".into(), json!(rec.id));
    }
    v
}

/// `sluice runs --format json`: the runs without what their nodes printed (that is
/// left to `runs show`, up to 64 KiB a node).
pub(crate) fn runs_json(list: &[RunRecord]) -> Vec<Value> {
    list.iter()
        .map(|r| {
            let mut v = run_json(r);
            if let Some(nodes) = v["nodes"].as_array_mut() {
                for n in nodes.iter_mut().filter_map(Value::as_object_mut) {
                    n.remove("output");
                }
            }
            v
        })
        .collect()
}

fn summary_table(rec: &RunRecord) -> String {
    let mut out = String::new();
    let width = rec
        .nodes
        .iter()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "  {:<width$}  {:<6}  {:>12}  {:>9}  {}\n",
        "node", "kind", "rows", "duration", "status"
    ));
    for n in &rec.nodes {
        out.push_str(&format!(
            "  {:<width$}  {:<6}  {:>12}  {:>9}  {}\n",
            n.name,
            n.kind,
            n.rows
                .map(sluice_runtime::validate::thousands)
                .unwrap_or_default(),
            n.duration_ms.map(seconds).unwrap_or_default(),
            node_status(n)
        ));
    }
    out
}

/// A node's status in the summary, with how its output reaches the target when that
/// is not by replacing the table.
fn node_status(n: &sluice_runtime::record::NodeRecord) -> String {
    match (n.status, n.materialization.as_str()) {
        (NodeStatus::Succeeded, "none") => format!("{} (not published: NONE)", n.status.as_str()),
        (NodeStatus::Succeeded, "append") => format!("{} (appended)", n.status.as_str()),
        (status, _) => status.as_str().to_string(),
    }
}

/// What the nodes printed, as kept in the record: `[node] line` per line.
fn output_text(rec: &RunRecord) -> String {
    let mut out = String::new();
    for n in &rec.nodes {
        let Some(log) = &n.output else { continue };
        out.push_str(&format!("output of {}:\n", n.name));
        if log.dropped_lines > 0 {
            out.push_str(&format!(
                "  ({} earlier line(s), {} bytes, not kept: a record keeps the last {} KiB of a node's output)\n",
                log.dropped_lines,
                log.dropped_bytes,
                sluice_runtime::record::OUTPUT_LIMIT / 1024
            ));
        }
        for line in &log.lines {
            let mark = match line.stream {
                OutputStream::Stdout => "",
                OutputStream::Stderr => " (stderr)",
            };
            out.push_str(&format!("  [{}]{mark} {}\n", n.name, line.text));
        }
    }
    out
}

fn print_finished(rec: &RunRecord, format: Format) -> u8 {
    if format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&run_json(rec)).unwrap_or_default()
        );
    } else {
        crate::out!("{}", summary_table(rec));
        match rec.status {
            RunStatus::Succeeded => crate::outln!(
                "run {} succeeded: published {} table(s) to {} in commit {}{}",
                rec.short_id(),
                rec.published_outputs().count(),
                rec.target,
                rec.result_commit.as_deref().map(short_hash).unwrap_or("?"),
                withheld_note(rec)
            ),
            RunStatus::Validated => crate::outln!(
                "run {} validated {} table(s); nothing was published (dry run)",
                rec.short_id(),
                rec.outputs().count()
            ),
            RunStatus::Failed | RunStatus::Running => {}
        }
    }
    if rec.status == RunStatus::Failed {
        eprint!("{}", failure_text(rec));
        return exit::FAILED;
    }
    exit::OK
}

/// `; not published (materialization_strategy NONE): a, b` when the run withheld
/// outputs, else nothing.
fn withheld_note(rec: &RunRecord) -> String {
    let withheld: Vec<&str> = rec.withheld_outputs().map(|n| n.name.as_str()).collect();
    if withheld.is_empty() {
        String::new()
    } else {
        format!(
            "; not published (materialization_strategy NONE): {}",
            withheld.join(", ")
        )
    }
}

fn short_hash(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// The error of a failed run: the node, where, what was expected and found, and
/// how to inspect it.
pub(crate) fn failure_text(rec: &RunRecord) -> String {
    let mut out = String::new();
    let err = rec.error.as_ref();
    let node = err
        .and_then(|e| e.node.as_deref())
        .and_then(|n| rec.node(n));
    match node {
        Some(n) => {
            let e = n.error.as_ref();
            let loc = e
                .and_then(|e| e.location.as_ref())
                .map(|l| match l.line {
                    Some(line) => format!(" ({}:{line})", l.file),
                    None => format!(" ({})", l.file),
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "error: run {} failed in node `{}`{loc}\n",
                rec.short_id(),
                n.name
            ));
            if let Some(e) = e {
                if e.violations.is_empty() {
                    out.push_str(&format!("  {}\n", e.message));
                } else {
                    for v in &e.violations {
                        out.push_str(&format!("  table `{}`: {v}\n", n.name));
                    }
                }
                if let Some(d) = &e.detail {
                    for line in d
                        .trim_end()
                        .lines()
                        .rev()
                        .take(12)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                    {
                        out.push_str(&format!("  | {line}\n"));
                    }
                }
            }
        }
        None => out.push_str(&format!(
            "error: run {} failed: {}\n",
            rec.short_id(),
            err.map(|e| e.message.as_str()).unwrap_or("unknown error")
        )),
    }
    if rec.branch_pruned {
        out.push_str(&format!(
            "  `{}` is unchanged (nothing was published). The run's branch `{}` was pruned (sluice runs prune).\n",
            rec.target, rec.branch
        ));
        return out;
    }
    out.push_str(&format!(
        "  `{}` is unchanged (nothing was published). The run's branch `{}` is kept for inspection:\n    sluice table list --ref {}\n    sluice runs show {}\n",
        rec.target,
        rec.branch,
        rec.branch,
        rec.short_id()
    ));
    let rejected = node.and_then(|n| {
        let kept = n.error.as_ref()?.rejected_output.as_ref()?;
        Some((n, kept))
    });
    if let Some((n, kept)) = rejected {
        out.push_str(&format!(
            "  The output that broke the contract ({} rows) is kept on `{}` in commit {}, marked aborted (it can never be merged):\n    sluice query --ref {} \"SELECT * FROM {} LIMIT 20\"\n",
            kept.rows,
            rec.branch,
            short_hash(&kept.commit),
            rec.branch,
            n.name
        ));
    }
    out
}

/// What a run is asked to do: the part of `sluice run`'s arguments that `sluice mcp`'s
/// `run` tool shares ([`execute_run`]).
pub(crate) struct RunRequest {
    /// `--lake`.
    pub lake: Option<String>,
    /// The project folder (already resolved).
    pub dir: PathBuf,
    /// `--ref`: the branch to read from and publish to.
    pub target: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--param`s, parsed.
    pub params: BTreeMap<String, String>,
    /// `--allow-network`.
    pub allow_network: bool,
    /// `--allow-weaker-isolation`.
    pub allow_weaker_isolation: bool,
    /// `--node-timeout`.
    pub node_timeout: Option<Duration>,
    /// `--node-memory`.
    pub node_memory: Option<u64>,
    /// `--engine` (`None`: `$SLUICE_ENGINE`, else local).
    pub engine: Option<crate::cluster_cmds::Engine>,
}

/// A run that could not start or failed outside its nodes: exit code, JSON `kind` and
/// message, as `sluice run --format json` reports them.
pub(crate) struct RunFailure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
}

/// Runs a project as `sluice run` does (opening, or creating, the lake; a lake it
/// created is removed again unless the run finished): the one implementation behind
/// `sluice run` and `sluice mcp`'s `run` tool.
pub(crate) async fn execute_run(
    req: RunRequest,
    observer: Observer,
) -> Result<RunOutcome, RunFailure> {
    let settings = lake_loc::project_settings(&req.dir).map_err(|message| RunFailure {
        code: exit::USAGE,
        kind: "project",
        message,
    })?;
    let target = lake_loc::reference(req.target.clone(), &settings);
    let engine =
        crate::cluster_cmds::Engine::chosen(req.engine.clone(), &settings).map_err(cmd_failure)?;
    // A run may create the lake; one that does not run removes it again.
    let opened = lake_loc::open_for_write(req.lake.as_deref(), &settings)
        .await
        .map_err(|e| {
            let (code, kind) = crate::lake_cmds::classify(&e);
            RunFailure {
                code: code.max(exit::USAGE),
                kind,
                message: e.to_string(),
            }
        })?;
    let sql_engine = match crate::cluster_cmds::sql_engine(&opened.lake, &engine).await {
        Ok(e) => e,
        Err(e) => {
            opened.finish(false).await;
            return Err(cmd_failure(e));
        }
    };
    let mut options = RunOptions::new(&req.dir, &target);
    options.sql_engine = sql_engine;
    options.dry_run = req.dry_run;
    options.params = req.params;
    options.allow_network = req.allow_network;
    options.allow_weaker_isolation = req.allow_weaker_isolation;
    options.node_timeout = req.node_timeout;
    options.node_memory = req.node_memory;
    let outcome = sluice_runtime::run(&opened.lake, options, observer).await;
    opened
        .finish(matches!(outcome, Ok(RunOutcome::Finished(_))))
        .await;
    outcome.map_err(|e| {
        let (code, kind) = classify_runtime(&e);
        RunFailure {
            code,
            kind,
            message: e.to_string(),
        }
    })
}

fn cmd_failure(e: crate::lake_cmds::CmdError) -> RunFailure {
    RunFailure {
        code: e.code,
        kind: e.kind,
        message: e.message,
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    let format = args.common.format;
    let params = match parse_params(&args.params) {
        Ok(p) => p,
        Err(m) => return fail(format, exit::USAGE, "usage", m),
    };
    let rt = match tokio() {
        Ok(rt) => rt,
        Err(e) => return fail(format, exit::USAGE, "runtime", e.to_string()),
    };
    let req = RunRequest {
        lake: args.common.lake.lake.clone(),
        dir: lake_loc::project_dir(args.dir.clone()),
        target: args.target.clone(),
        dry_run: args.dry_run,
        params,
        allow_network: args.allow_network,
        allow_weaker_isolation: args.allow_weaker_isolation,
        node_timeout: args.node_timeout,
        node_memory: args.node_memory,
        engine: args.engine.clone(),
    };
    rt.block_on(async {
        if args.allow_network && format != Format::Json {
            eprintln!("note: --allow-network: Python nodes of this run may use the network");
        }
        let (live, observer) = Live::observer(format != Format::Json);
        let outcome = execute_run(req, observer).await;
        live.clear();
        match outcome {
            Ok(RunOutcome::Rejected { sources, analysis }) => {
                if let Err(e) =
                    crate::check::print_report(&sources, &analysis, format, args.common.color)
                {
                    return fail(format, exit::USAGE, "io", e.to_string());
                }
                if format != Format::Json {
                    eprintln!("error: the project has errors: nothing was executed");
                }
                ExitCode::from(exit::FAILED)
            }
            Ok(RunOutcome::Finished(rec)) => ExitCode::from(print_finished(&rec, format)),
            Err(f) => fail(format, f.code, f.kind, f.message),
        }
    })
}

pub fn runs(args: RunsArgs) -> ExitCode {
    let rt = match tokio() {
        Ok(rt) => rt,
        Err(e) => return fail(args.common.format, exit::USAGE, "runtime", e.to_string()),
    };
    let (common, show) = match &args.action {
        Some(RunsAction::Show { run_id, common }) => (common, Some(run_id.clone())),
        Some(RunsAction::Prune { common, .. }) => (common, None),
        None => (&args.common, None),
    };
    let format = common.format;
    let settings = match lake_loc::project_settings(&lake_loc::current_dir()) {
        Ok(s) => s,
        Err(m) => return fail(format, exit::USAGE, "project", m),
    };
    rt.block_on(async {
        let lake = match open(common.lake.lake.as_deref(), &settings).await {
            Ok(l) => l,
            Err(e) => return open_failed(format, e),
        };
        if let Some(RunsAction::Prune {
            older_than,
            keep,
            dry_run,
            ..
        }) = &args.action
        {
            let retention = Retention {
                older_than: *older_than,
                keep: *keep,
            };
            return prune(&lake, retention, *dry_run, format).await;
        }
        if let Err(e) = sluice_runtime::recover_stale_runs(&lake).await {
            return runtime_error(format, e);
        }
        match show {
            Some(id) => match sluice_runtime::record::load(&lake, &id).await {
                Ok(rec) => {
                    if format == Format::Json {
                        crate::outln!("{}", serde_json::to_string_pretty(&rec).unwrap_or_default());
                    } else {
                        crate::outln!(
                            "run {}  {}\n  project  {}\n  target   {} (base {})\n  branch   {}\n  started  {}\n  code     {} files, sha256 {}",
                            rec.id,
                            rec.status.as_str(),
                            rec.project,
                            rec.target,
                            short_hash(&rec.base_commit),
                            rec.branch,
                            sluice_lake::format_time(rec.started_ms),
                            rec.code.files,
                            short_hash(&rec.code.sha256),
                        );
                        if let Some(c) = &rec.result_commit {
                            crate::outln!("  result   {c}");
                        }
                        crate::out!("{}", summary_table(&rec));
                        for n in &rec.nodes {
                            if let Some(ms) = n.env_build_ms {
                                crate::outln!(
                                    "  {}: its Python environment was built first, in {} (not in its duration)",
                                    n.name,
                                    seconds(ms)
                                );
                            }
                        }
                        crate::out!("{}", output_text(&rec));
                        if rec.status == RunStatus::Failed {
                            crate::out!("{}", failure_text(&rec));
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => runtime_error(format, e),
            },
            None => match sluice_runtime::record::list(&lake, args.limit).await {
                Ok(list) => {
                    if format == Format::Json {
                        let v = runs_json(&list);
                        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                    } else if list.is_empty() {
                        crate::outln!("no runs yet");
                    } else {
                        for r in &list {
                            crate::outln!(
                                "{}  {:<9}  {}  {} -> {}  {} node(s)  {}",
                                r.short_id(),
                                r.status.as_str(),
                                sluice_lake::format_time(r.started_ms),
                                r.project,
                                r.target,
                                r.nodes.len(),
                                r.result_commit.as_deref().map(short_hash).unwrap_or("")
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => runtime_error(format, e),
            },
        }
    })
}

pub fn rerun(args: RerunArgs) -> ExitCode {
    let format = args.common.format;
    let rt = match tokio() {
        Ok(rt) => rt,
        Err(e) => return fail(format, exit::USAGE, "runtime", e.to_string()),
    };
    let settings = match lake_loc::project_settings(&lake_loc::current_dir()) {
        Ok(s) => s,
        Err(m) => return fail(format, exit::USAGE, "project", m),
    };
    rt.block_on(async {
        // A rerun needs a recorded run: the lake must exist.
        let lake = match open(args.common.lake.lake.as_deref(), &settings).await {
            Ok(l) => l,
            Err(e) => return open_failed(format, e),
        };
        let (live, observer) = Live::observer(format != Format::Json);
        let result = sluice_runtime::runs::rerun(
            &lake,
            &args.run_id,
            args.target.as_deref(),
            None,
            observer,
        )
        .await;
        live.clear();
        match result {
            Ok(rerun) => report_rerun(&rerun, format, args.common.color),
            Err(e) => runtime_error(format, e),
        }
    })
}

fn report_rerun(rerun: &Rerun, format: Format, color: ColorChoice) -> ExitCode {
    let rec = match &rerun.outcome {
        RunOutcome::Finished(rec) => rec,
        RunOutcome::Rejected { sources, analysis } => {
            let _ = crate::check::print_report(sources, analysis, format, color);
            return ExitCode::from(exit::FAILED);
        }
    };
    if format == Format::Json {
        let mut v = run_json(rec);
        v["rerun_of"] = json!(rerun.original.id);
        v["reproduced"] = json!(rerun.reproduced());
        v["comparisons"] = serde_json::to_value(&rerun.comparisons).unwrap_or(Value::Null);
        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        crate::out!("{}", summary_table(rec));
        for c in &rerun.comparisons {
            crate::outln!(
                "  {:<28} {}",
                c.table,
                if c.identical {
                    format!("identical ({} rows)", c.rerun_rows)
                } else if !c.same_schema {
                    "DIFFERENT schema".to_string()
                } else {
                    format!(
                        "DIFFERENT rows ({} originally, {} now)",
                        c.original_rows, c.rerun_rows
                    )
                }
            );
        }
    }
    if rec.status == RunStatus::Failed {
        eprint!("{}", failure_text(rec));
        return ExitCode::from(exit::FAILED);
    }
    if rerun.reproduced() {
        if format != Format::Json {
            crate::outln!(
                "rerun {} of run {} reproduced all {} output table(s)",
                rec.short_id(),
                rerun.original.short_id(),
                rerun.comparisons.len()
            );
        }
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: rerun {} did not reproduce run {}'s outputs",
            rec.short_id(),
            rerun.original.short_id()
        );
        ExitCode::from(exit::FAILED)
    }
}
