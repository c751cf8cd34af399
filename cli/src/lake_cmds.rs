//! `sluice` commands of the versioned lake: branch, tag, log, import, table,
//! query, diff, merge, revert, gc, fsck. Every command takes `--lake URI` and
//! `--format json`.
//!
//! Exit codes: 0 success; 1 the operation was refused or failed (merge
//! conflict, existing name, read-only ref, catalog/storage failure);
//! 2 usage or input errors (bad name, unknown ref or table, unreadable or
//! malformed file, bad configuration).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::lake_loc::{self, Access, ProjectSettings};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use sluice_lake::{ImportMode, Lake, LakeError, MergeOutcome, MergeRequest, RefKind, TableDiff};
use sluice_runtime::runs::RevertOutcome;

/// How a lake command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[value(alias = "table")]
    Text,
    /// One JSON document on stdout, for programs and agents.
    Json,
}

/// How `sluice query` prints its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// An aligned table.
    #[value(alias = "text")]
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// A JSON array of row objects.
    Json,
}

/// Where the lake is (the `--lake` option of every lake command).
#[derive(Args, Clone, Debug)]
pub struct LakeArg {
    /// The lake: a folder or postgres://... (default: $SLUICE_LAKE, else `lake` in
    /// sluice.toml, else ./.sluice).
    #[arg(long, value_name = "URI")]
    pub lake: Option<String>,
}

/// `--lake` and `--format` of a lake command.
#[derive(Args, Clone, Debug)]
pub struct Common {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum LakeCommand {
    /// Create, list or delete branches.
    #[command(subcommand)]
    Branch(RefCommand),
    /// Create, list or delete tags (immutable refs).
    #[command(subcommand)]
    Tag(RefCommand),
    /// Show the commit history of a ref, newest first.
    Log {
        /// The ref to start from: a branch, tag or commit, optionally with `~N`
        /// (default: `ref` in sluice.toml, else main).
        #[arg(value_name = "REF")]
        reference: Option<String>,
        /// Show at most N commits.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Import a Parquet, CSV or JSON Lines file as a table, in one commit.
    Import {
        /// The file to import (.parquet, .csv, .jsonl/.ndjson).
        file: PathBuf,
        /// The table to create, replace or append to.
        #[arg(long, value_name = "TABLE")]
        table: String,
        /// The branch to commit to (default: `ref` in sluice.toml, else main).
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// Create a new table, replace an existing one, or append rows to it.
        #[arg(long, value_enum, default_value = "create")]
        mode: ModeArg,
        /// Read the columns the project in DIR declares for this table (its
        /// `Source(...)` contract) as their declared types, and check its non-null
        /// columns, instead of inferring them.
        #[arg(long, value_name = "DIR")]
        contract: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List tables or show one table.
    #[command(subcommand)]
    Table(TableCommand),
    /// Run read-only SQL (DataFusion) over every table as of a ref.
    Query {
        /// One SELECT statement; tables are named as in the lake.
        sql: String,
        /// The ref to read: a branch, tag or commit, optionally with `~N` (default:
        /// `ref` in sluice.toml, else main).
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
        #[command(flatten)]
        lake: LakeArg,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: QueryFormat,
        /// Where the query runs: `local`, or `ballista://HOST:PORT`, a cluster
        /// (`sluice cluster`) whose processes all reach the lake's data (default:
        /// $SLUICE_ENGINE, else local).
        #[arg(long, value_name = "ENGINE", value_parser = crate::cluster_cmds::Engine::parse)]
        engine: Option<crate::cluster_cmds::Engine>,
    },
    /// Tables added, removed and changed between two refs.
    Diff {
        /// The ref to compare from.
        from: String,
        /// The ref to compare to.
        to: String,
        #[command(flatten)]
        common: Common,
    },
    /// Merge a ref into a branch (fast-forward or three-way by table).
    Merge {
        /// The ref to merge.
        source: String,
        /// The branch to merge into.
        #[arg(long, value_name = "BRANCH")]
        into: String,
        /// The commit message. With a message, a merge that could fast-forward makes a
        /// merge commit instead (like `git merge --no-ff -m`).
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Restore one table as of a ref, or every table a run published (`--run`), as
    /// one new commit on a branch.
    Revert {
        /// The table to restore.
        #[arg(required_unless_present = "run", conflicts_with = "run")]
        table: Option<String>,
        /// The ref whose state of TABLE to restore.
        #[arg(long = "to", value_name = "REF", required_unless_present = "run")]
        to: Option<String>,
        /// Restore every table this run published to its state at the run's base.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// The branch to commit the restored tables to.
        #[arg(long, value_name = "BRANCH")]
        into: String,
        #[command(flatten)]
        common: Common,
    },
    /// Generate the TPC-H tables (tpchgen) into a branch, all in one commit.
    Tpchgen(TpchArgs),
    /// Verify every data file reachable from the refs (or from REF): it exists,
    /// has its recorded size, and its Parquet footer holds its recorded rows.
    /// Exits 1 on any fault.
    Fsck {
        /// Only the files reachable from this ref (default: every branch and tag).
        #[arg(value_name = "REF")]
        reference: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Delete data files no commit references, older than a grace period.
    Gc {
        /// Grace period, e.g. 30m, 24h, 7d (default 24h).
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        older_than: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug)]
pub struct TpchArgs {
    /// TPC-H scale factor (1 is about 8.7 million rows, 1 GB of CSV).
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// The branch to commit to (default: `ref` in sluice.toml, else main).
    #[arg(long, value_name = "BRANCH")]
    branch: Option<String>,
    /// Only these tables (comma-separated; default all eight).
    #[arg(long, value_delimiter = ',', value_name = "TABLE,...")]
    tables: Vec<String>,
    /// Parts generated at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Rows per generated part (each part becomes its own data files).
    #[arg(long, value_name = "N", default_value_t = crate::tpch::DEFAULT_PART_ROWS)]
    part_rows: u64,
    /// Replace tables that already exist on the branch.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    common: Common,
}

impl TpchArgs {
    /// The validated options.
    fn options(&self, settings: &ProjectSettings) -> Result<crate::tpch::TpchOptions, CmdError> {
        let opts = crate::tpch::TpchOptions {
            scale: self.scale,
            branch: lake_loc::reference(self.branch.clone(), settings),
            tables: self.tables.clone(),
            jobs: self
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            part_rows: self.part_rows,
            replace: self.replace,
        };
        crate::tpch::validate(&opts).map_err(usage)?;
        Ok(opts)
    }
}

#[derive(Subcommand, Debug)]
pub enum RefCommand {
    /// Create a ref at the commit another ref points to.
    Create {
        /// The name of the new ref.
        name: String,
        /// The ref whose commit the new one points to (default: `ref` in
        /// sluice.toml, else main).
        #[arg(long, value_name = "REF")]
        from: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List the refs of this kind with their commits.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Delete a ref (its commits stay until `sluice gc` finds them unreferenced).
    Delete {
        /// The ref to delete.
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum TableCommand {
    /// List the tables of a ref with rows, bytes, files and columns.
    List {
        /// The ref to read: a branch, tag or commit, optionally with `~N` (default:
        /// `ref` in sluice.toml, else main).
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Show one table: schema with null counts, data files and history.
    Show {
        /// The table.
        name: String,
        /// The ref to read: a branch, tag or commit, optionally with `~N` (default:
        /// `ref` in sluice.toml, else main).
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// What `sluice import` does with the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Create the table; refused if it exists.
    Create,
    /// Replace the table's rows (and schema).
    Replace,
    /// Append rows to the table; the schemas must match.
    Append,
}

impl LakeCommand {
    /// Whether the command writes (and so may create the lake).
    fn access(&self) -> Access {
        match self {
            LakeCommand::Branch(RefCommand::Create { .. })
            | LakeCommand::Tag(RefCommand::Create { .. })
            | LakeCommand::Import { .. }
            | LakeCommand::Merge { .. }
            | LakeCommand::Revert { .. }
            | LakeCommand::Tpchgen(_) => Access::Write,
            LakeCommand::Branch(_)
            | LakeCommand::Tag(_)
            | LakeCommand::Log { .. }
            | LakeCommand::Table(_)
            | LakeCommand::Query { .. }
            | LakeCommand::Diff { .. }
            | LakeCommand::Fsck { .. }
            | LakeCommand::Gc { .. } => Access::Read,
        }
    }

    /// Where the lake is and whether the result is printed as JSON.
    fn target(&self) -> (&LakeArg, bool) {
        let common = match self {
            LakeCommand::Query { lake, format, .. } => return (lake, *format == QueryFormat::Json),
            LakeCommand::Branch(r) | LakeCommand::Tag(r) => match r {
                RefCommand::Create { common, .. }
                | RefCommand::List { common }
                | RefCommand::Delete { common, .. } => common,
            },
            LakeCommand::Table(t) => match t {
                TableCommand::List { common, .. } | TableCommand::Show { common, .. } => common,
            },
            LakeCommand::Log { common, .. }
            | LakeCommand::Import { common, .. }
            | LakeCommand::Diff { common, .. }
            | LakeCommand::Merge { common, .. }
            | LakeCommand::Revert { common, .. }
            | LakeCommand::Tpchgen(TpchArgs { common, .. })
            | LakeCommand::Fsck { common, .. }
            | LakeCommand::Gc { common, .. } => common,
        };
        (&common.lake, common.format == Format::Json)
    }
}

/// An error of a command, with its exit code: what `--format json` prints as
/// `{"error": {"kind", "message", "detail"?}}` (and `sluice mcp` returns as a tool error).
pub(crate) struct CmdError {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
    pub detail: Value,
}

impl CmdError {
    /// The error as the JSON document `--format json` prints.
    pub(crate) fn to_json(&self) -> Value {
        let mut err = json!({ "kind": self.kind, "message": self.message });
        if !self.detail.is_null() {
            err["detail"] = self.detail.clone();
        }
        json!({ "error": err })
    }
}

impl From<LakeError> for CmdError {
    fn from(e: LakeError) -> Self {
        let (code, kind) = classify(&e);
        let detail = match &e {
            LakeError::MergeConflict { tables, base, .. } => {
                json!({ "tables": tables, "base": base })
            }
            LakeError::UnpublishedRun {
                branch,
                table,
                run,
                status,
                ..
            } => json!({
                "run": run, "status": status, "branch": branch, "table": table
            }),
            LakeError::SealedBranch { branch, run, .. } => json!({ "run": run, "branch": branch }),
            LakeError::TableNameCollision {
                table, existing, ..
            } => json!({ "table": table, "existing": existing }),
            _ => Value::Null,
        };
        CmdError {
            code,
            kind,
            message: e.to_string(),
            detail,
        }
    }
}

fn runtime_error(e: sluice_runtime::RuntimeError) -> CmdError {
    match e {
        sluice_runtime::RuntimeError::Lake(l) => (*l).into(),
        other => CmdError {
            code: 1,
            kind: "refused",
            message: other.to_string(),
            detail: Value::Null,
        },
    }
}

pub(crate) fn usage(message: String) -> CmdError {
    CmdError {
        code: 2,
        kind: "usage",
        message,
        detail: Value::Null,
    }
}

/// The exit code and the JSON error `kind` of a lake error (shared by every command
/// that touches the lake).
pub(crate) fn classify(e: &LakeError) -> (u8, &'static str) {
    match e {
        LakeError::MergeConflict { .. } => (1, "merge_conflict"),
        LakeError::MarkedCommit { .. } => (1, "marked_commit"),
        LakeError::UnpublishedRun { .. } => (1, "unpublished_run"),
        LakeError::SealedBranch { .. } => (1, "sealed_branch"),
        LakeError::TableNameCollision { .. } => (1, "name_collision"),
        LakeError::RunFinished { .. } => (1, "refused"),
        LakeError::Conflict { .. } => (1, "conflict"),
        LakeError::SelfMerge { .. } => (1, "self_merge"),
        LakeError::RefExists { .. } => (1, "exists"),
        LakeError::TableExists { .. } => (1, "exists"),
        LakeError::ReadOnlyRef { .. } => (1, "read_only"),
        LakeError::CannotDeleteMain => (1, "refused"),
        LakeError::SchemaMismatch { .. } => (1, "schema_mismatch"),
        LakeError::Query(_) => (1, "query"),
        LakeError::DataFileMissing { .. } | LakeError::DataFileAltered { .. } => (1, "damaged"),
        LakeError::StagedFileLost { .. } => (1, "staged_file_lost"),
        LakeError::Catalog { .. } | LakeError::Corrupt(_) => (1, "catalog"),
        LakeError::Storage { .. } | LakeError::Parquet { .. } | LakeError::Arrow { .. } => {
            (1, "storage")
        }
        LakeError::InvalidName { .. } => (2, "invalid_name"),
        LakeError::InvalidRef { .. } | LakeError::AmbiguousCommit { .. } => (2, "invalid_ref"),
        LakeError::RefNotFound(_)
        | LakeError::BranchNotFound(_)
        | LakeError::TagNotFound(_)
        | LakeError::CommitNotFound(_)
        | LakeError::CommitNotOnBranch { .. } => (2, "ref_not_found"),
        LakeError::TableNotFound { .. } => (2, "table_not_found"),
        LakeError::Input { .. } | LakeError::Io { .. } => (2, "io"),
        LakeError::MalformedInput { .. } | LakeError::UnsupportedFormat(_) => (2, "bad_input"),
        LakeError::Config(_) => (2, "config"),
        LakeError::NoLake { .. } => (2, "no_lake"),
    }
}

/// Runs one lake command and returns the process exit code.
pub fn run(cmd: LakeCommand) -> ExitCode {
    let json = cmd.target().1;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cmd)) {
        Ok((output, code)) => {
            if !output.is_empty() {
                crate::outln!("{output}");
            }
            ExitCode::from(code)
        }
        Err(e) => {
            if json {
                crate::outln!("{}", e.to_json());
            }
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Opens the existing lake of a command that reads.
async fn open(lake: &LakeArg, settings: &ProjectSettings) -> Result<Lake, CmdError> {
    Ok(lake_loc::open(lake.lake.as_deref(), settings).await?)
}

/// The Arrow schema the project in `dir` declares for the source table `table`
/// (columns of unknown type are left to inference).
fn source_contract(
    dir: &std::path::Path,
    table: &str,
) -> Result<arrow::datatypes::Schema, CmdError> {
    use std::str::FromStr;
    let sources = sluice_compiler::load_project(dir)
        .map_err(|e| usage(format!("--contract {}: {e}", dir.display())))?;
    let analysis = sluice_compiler::check(&sources);
    let plan = sluice_compiler::plan::build(&analysis, &sources);
    let node = plan
        .nodes
        .iter()
        .find(|n| n.name == table && n.kind == sluice_compiler::analysis::TableKind::Source)
        .ok_or_else(|| {
            let sources: Vec<&str> = plan
                .nodes
                .iter()
                .filter(|n| n.kind == sluice_compiler::analysis::TableKind::Source)
                .map(|n| n.name.as_str())
                .collect();
            usage(format!(
                "--contract {}: the project declares no source `{table}` (its sources: {})",
                dir.display(),
                if sources.is_empty() {
                    "none".to_string()
                } else {
                    sources.join(", ")
                }
            ))
        })?;
    let columns = node.output_schema.as_ref().ok_or_else(|| {
        usage(format!(
            "--contract {}: source `{table}` ({}:{}) has no valid schema",
            dir.display(),
            node.file,
            node.line
        ))
    })?;
    let mut fields = Vec::new();
    for c in columns {
        let Some(spelled) = &c.data_type else {
            continue;
        };
        let data_type = arrow::datatypes::DataType::from_str(spelled).map_err(|e| {
            usage(format!(
                "--contract: column `{}`: type {spelled}: {e}",
                c.name
            ))
        })?;
        fields.push(arrow::datatypes::Field::new(
            &c.name,
            data_type,
            c.nullable.unwrap_or(true),
        ));
    }
    Ok(arrow::datatypes::Schema::new(fields))
}

fn pretty(v: Value) -> String {
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs one lake command: its output and exit code (0, or 1 for `fsck` faults).
pub(crate) async fn execute(cmd: LakeCommand) -> Result<(String, u8), CmdError> {
    if let LakeCommand::Fsck { reference, common } = &cmd {
        let settings = lake_loc::project_settings(&lake_loc::current_dir()).map_err(usage)?;
        let lake = open(&common.lake, &settings).await?;
        let report = lake.fsck(reference.as_deref()).await?;
        let code = if report.is_clean() { 0 } else { 1 };
        if common.format == Format::Json {
            return Ok((pretty(to_json(&report)), code));
        }
        return Ok((render_fsck(&report), code));
    }
    Ok((execute_command(cmd).await?, 0))
}

/// One line per fault, then a summary line.
fn render_fsck(report: &sluice_lake::FsckReport) -> String {
    let mut out = String::new();
    for f in &report.faults {
        out.push_str(&format!(
            "{}: table `{}`: file {}: {}\n",
            f.reference, f.table, f.path, f.fault
        ));
    }
    let summary = if report.is_clean() {
        format!(
            "ok: {} data file(s) reachable from {} ref(s) verified",
            report.files,
            report.refs.len()
        )
    } else {
        format!(
            "{} fault(s) among {} data file(s) reachable from {} ref(s)",
            report.faults.len(),
            report.files,
            report.refs.len()
        )
    };
    out.push_str(&summary);
    out
}

async fn execute_command(cmd: LakeCommand) -> Result<String, CmdError> {
    let (lake_arg, json) = cmd.target();
    let lake_arg = lake_arg.clone();
    let settings = lake_loc::project_settings(&lake_loc::current_dir()).map_err(usage)?;
    if let LakeCommand::Tpchgen(args) = &cmd {
        // Bad options are refused before the lake is opened (or created).
        args.options(&settings)?;
    }
    if cmd.access() == Access::Read {
        let lake = open(&lake_arg, &settings).await?;
        return execute_on(&lake, cmd, &settings, json).await;
    }
    // A write may create the lake; if it fails, the lake it created goes again.
    let opened = lake_loc::open_for_write(lake_arg.lake.as_deref(), &settings).await?;
    let result = execute_on(&opened.lake, cmd, &settings, json).await;
    opened.finish(result.is_ok()).await;
    result
}

/// Runs one lake command on its opened lake.
async fn execute_on(
    lake: &Lake,
    cmd: LakeCommand,
    settings: &ProjectSettings,
    json: bool,
) -> Result<String, CmdError> {
    let resolve = |given: Option<String>| lake_loc::reference(given, settings);
    match cmd {
        LakeCommand::Branch(r) => ref_command(lake, RefKind::Branch, r, settings, json).await,
        LakeCommand::Tag(r) => ref_command(lake, RefKind::Tag, r, settings, json).await,
        LakeCommand::Log {
            reference, limit, ..
        } => {
            let reference = resolve(reference);
            let log = lake.log(&reference, limit).await?;
            if json {
                return Ok(pretty(to_json(&log)));
            }
            let mut out = String::new();
            for e in log {
                out.push_str(&format!("commit {}\n", e.hash));
                if e.parents.len() > 1 {
                    let ps: Vec<&str> = e.parents.iter().map(|p| p.short()).collect();
                    out.push_str(&format!("Merge:  {}\n", ps.join(" ")));
                }
                out.push_str(&format!("Author: {}\nDate:   {}\n", e.author, e.time));
                for (k, v) in &e.properties {
                    out.push_str(&format!("Property: {k}={v}\n"));
                }
                for (k, v) in &e.marks {
                    out.push_str(&format!("Mark:   {k}={v}\n"));
                }
                out.push_str(&format!("\n    {}\n\n", e.message));
            }
            Ok(out.trim_end().to_string())
        }
        LakeCommand::Import {
            file,
            table,
            branch,
            mode,
            contract,
            ..
        } => {
            let branch = resolve(branch);
            let mode = match mode {
                ModeArg::Create => ImportMode::Create,
                ModeArg::Replace => ImportMode::Replace,
                ModeArg::Append => ImportMode::Append,
            };
            let contract = match &contract {
                Some(dir) => Some(source_contract(dir, &table)?),
                None => None,
            };
            let commit = lake
                .import_file_as(&file, &table, &branch, mode, contract.as_ref())
                .await?;
            let snap = lake.snapshot(&commit.tables()[&table]).await?;
            if json {
                return Ok(pretty(json!({
                    "commit": commit.id,
                    "branch": branch,
                    "table": table,
                    "mode": mode,
                    "rows": snap.content.rows,
                    "bytes": snap.content.bytes,
                    "files": snap.content.files.len(),
                })));
            }
            Ok(format!(
                "imported {} ({}) into table {table} on {branch}: {} rows in total, commit {}",
                file.display(),
                mode.as_str(),
                snap.content.rows,
                commit.id.short()
            ))
        }
        LakeCommand::Table(TableCommand::List { reference, .. }) => {
            let reference = resolve(reference);
            let tables = lake.list_tables(&reference).await?;
            if json {
                return Ok(pretty(to_json(&tables)));
            }
            let mut out = format!(
                "{:<32} {:>12} {:>14} {:>6} {:>8}  SNAPSHOT\n",
                "TABLE", "ROWS", "BYTES", "FILES", "COLUMNS"
            );
            for t in tables {
                out.push_str(&format!(
                    "{:<32} {:>12} {:>14} {:>6} {:>8}  {}\n",
                    t.name,
                    t.rows,
                    t.bytes,
                    t.files,
                    t.columns,
                    t.snapshot.short()
                ));
            }
            Ok(out.trim_end().to_string())
        }
        LakeCommand::Table(TableCommand::Show {
            name, reference, ..
        }) => {
            let reference = resolve(reference);
            let t = lake.show_table(&reference, &name).await?;
            if json {
                return Ok(pretty(to_json(&t)));
            }
            let mut out = format!(
                "table {} at {} (commit {})\nsnapshot {}\nrows {}, bytes {}, files {}\n\nschema:\n",
                t.name,
                t.reference,
                t.commit.short(),
                t.snapshot.short(),
                t.rows,
                t.bytes,
                t.files.len()
            );
            for c in &t.schema {
                out.push_str(&format!(
                    "  {:<24} {:<20} {:<9} nulls: {}\n",
                    c.name,
                    c.data_type,
                    if c.nullable { "NULL" } else { "NOT NULL" },
                    c.null_count
                ));
            }
            out.push_str("\nfiles:\n");
            for f in &t.files {
                out.push_str(&format!(
                    "  {} ({} rows, {} bytes)\n",
                    f.path, f.rows, f.bytes
                ));
            }
            out.push_str("\nhistory:\n");
            for h in &t.history {
                out.push_str(&format!(
                    "  {} {} {:<10} {}\n",
                    h.commit.short(),
                    h.time,
                    h.rows
                        .map_or_else(|| "removed".to_string(), |r| format!("{r} rows")),
                    h.message
                ));
            }
            Ok(out.trim_end().to_string())
        }
        LakeCommand::Query {
            sql,
            reference,
            format,
            engine,
            ..
        } => {
            let reference = resolve(reference);
            let (schema, batches) = match crate::cluster_cmds::Engine::chosen(engine, settings)? {
                crate::cluster_cmds::Engine::Ballista(url) => {
                    crate::cluster_cmds::query(lake, &url, &sql, &reference).await?
                }
                crate::cluster_cmds::Engine::Local => lake.query(&sql, &reference).await?,
            };
            render_batches(&schema, &batches, format)
        }
        LakeCommand::Diff { from, to, .. } => {
            let diff = lake.diff(&from, &to).await?;
            if json {
                return Ok(pretty(to_json(&diff)));
            }
            if diff.is_empty() {
                return Ok(format!("no table differs between {from} and {to}"));
            }
            let mut out = String::new();
            for d in diff {
                match d {
                    TableDiff::Added { table, rows } => {
                        out.push_str(&format!("+ {table} (added, {rows} rows)\n"))
                    }
                    TableDiff::Removed { table, rows } => {
                        out.push_str(&format!("- {table} (removed, had {rows} rows)\n"))
                    }
                    TableDiff::Changed {
                        table,
                        rows_before,
                        rows_after,
                        schema_changes,
                    } => {
                        let delta = rows_after as i128 - rows_before as i128;
                        out.push_str(&format!(
                            "~ {table} (rows {rows_before} -> {rows_after}, {delta:+})\n"
                        ));
                        for c in schema_changes {
                            out.push_str(&format!("    {}\n", describe_column_change(&c)));
                        }
                    }
                }
            }
            Ok(out.trim_end().to_string())
        }
        LakeCommand::Merge {
            source,
            into,
            message,
            ..
        } => {
            let mut req = MergeRequest::new(&source, &into);
            // With a message, a merge that could fast-forward makes a merge commit
            // that carries it (git's `merge --no-ff -m`), instead of dropping it.
            req.no_fast_forward = message.is_some();
            req.message = message;
            let out = lake.merge(req).await?;
            if json {
                return Ok(pretty(to_json(&out)));
            }
            Ok(match out {
                MergeOutcome::UpToDate { head } => {
                    format!("{into} already contains {source} (head {})", head.short())
                }
                MergeOutcome::FastForward { from, to } => format!(
                    "fast-forwarded {into} from {} to {}",
                    from.short(),
                    to.short()
                ),
                MergeOutcome::Merged {
                    commit,
                    base,
                    tables_from_source,
                } => format!(
                    "merged {source} into {into}: commit {} (base {}), tables from {source}: {}",
                    commit.short(),
                    base.short(),
                    if tables_from_source.is_empty() {
                        "none".to_string()
                    } else {
                        tables_from_source.join(", ")
                    }
                ),
            })
        }
        LakeCommand::Revert {
            table,
            to,
            run,
            into,
            ..
        } => {
            if let Some(run) = run {
                let (rec, outcome) = sluice_runtime::runs::revert_run(lake, &run, &into)
                    .await
                    .map_err(runtime_error)?;
                let tables: Vec<&str> = rec.published_outputs().map(|n| n.name.as_str()).collect();
                let base = &rec.base_commit[..12.min(rec.base_commit.len())];
                let (commit, reverted) = match &outcome {
                    RevertOutcome::Reverted(c) => (&c.id, true),
                    RevertOutcome::AlreadyReverted { head } => (head, false),
                };
                if json {
                    return Ok(pretty(json!({
                        "commit": commit,
                        "reverted": reverted,
                        "run": rec.id,
                        "tables": tables,
                        "to": rec.base_commit,
                        "into": into,
                    })));
                }
                return Ok(if reverted {
                    format!(
                        "reverted run {} on {into}: {} restored to {base} in commit {}",
                        rec.short_id(),
                        tables.join(", "),
                        commit.short()
                    )
                } else {
                    format!(
                        "run {} is already reverted on {into}: {} are as at {base}; nothing to commit (head {})",
                        rec.short_id(),
                        tables.join(", "),
                        commit.short()
                    )
                });
            }
            let (Some(table), Some(to)) = (table, to) else {
                return Err(usage("revert needs TABLE --to REF, or --run RUN_ID".into()));
            };
            let warning = sluice_runtime::runs::published_with(lake, &table, &into)
                .await
                .ok()
                .flatten();
            let c = lake.revert(&table, &to, &into).await?;
            if let Some((rec, others)) = &warning {
                eprintln!(
                    "warning: `{table}` was published by run {} together with {}; reverting it alone breaks the run's atomicity (revert all of them with `sluice revert --run {} --into {into}`)",
                    rec.short_id(),
                    others.join(", "),
                    rec.short_id()
                );
            }
            if json {
                return Ok(pretty(json!({
                    "commit": c.id,
                    "table": table,
                    "to": to,
                    "into": into,
                    "snapshot": c.tables().get(&table),
                    "breaks_run": warning.as_ref().map(|(r, _)| r.id.clone()),
                })));
            }
            Ok(format!(
                "reverted {table} on {into} to its state at {to}: commit {}",
                c.id.short()
            ))
        }
        LakeCommand::Tpchgen(args) => {
            let opts = args.options(settings)?;
            let report = crate::tpch::generate(lake, &opts).await?;
            let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
            let bytes: u64 = report.tables.iter().map(|t| t.bytes).sum();
            if json {
                return Ok(pretty(json!({
                    "commit": report.commit.id,
                    "branch": opts.branch,
                    "scale": opts.scale,
                    "tables": report.tables,
                    "rows": rows,
                    "bytes": bytes,
                    "seconds": report.elapsed.as_secs_f64(),
                })));
            }
            let mut out = format!(
                "{:<10} {:>12} {:>14} {:>6}\n",
                "TABLE", "ROWS", "BYTES", "FILES"
            );
            for t in &report.tables {
                out.push_str(&format!(
                    "{:<10} {:>12} {:>14} {:>6}\n",
                    t.table, t.rows, t.bytes, t.files
                ));
            }
            out.push_str(&format!(
                "generated TPC-H scale factor {} into {}: {} tables, {rows} rows, {bytes} bytes in {:.1} s, commit {}",
                opts.scale,
                opts.branch,
                report.tables.len(),
                report.elapsed.as_secs_f64(),
                report.commit.id.short()
            ));
            Ok(out)
        }
        LakeCommand::Gc { older_than, .. } => {
            let grace: Duration = humantime::parse_duration(&older_than)
                .map_err(|e| usage(format!("invalid --older-than `{older_than}`: {e}")))?;
            let r = lake.gc(grace).await?;
            if json {
                return Ok(pretty(to_json(&r)));
            }
            Ok(format!(
                "deleted {} unreferenced file(s) ({} bytes); kept {} referenced, {} younger than {older_than}, {} of writers still in progress",
                r.deleted.len(),
                r.deleted_bytes,
                r.referenced,
                r.too_recent,
                r.pending
            ))
        }
        // `execute` runs fsck itself (it has its own exit code).
        LakeCommand::Fsck { .. } => Err(usage("fsck is run by `execute`".into())),
    }
}

fn render_batches(
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::array::RecordBatch],
    format: QueryFormat,
) -> Result<String, CmdError> {
    let failed = |e: arrow::error::ArrowError| CmdError {
        code: 1,
        kind: "query",
        message: format!("cannot format the result: {e}"),
        detail: Value::Null,
    };
    match format {
        QueryFormat::Table => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Ok(format!("{}\n(0 rows)", names.join(" | ")));
            }
            Ok(arrow::util::pretty::pretty_format_batches(batches)
                .map_err(failed)?
                .to_string())
        }
        QueryFormat::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                if batches.is_empty() {
                    let empty = arrow::array::RecordBatch::new_empty(schema.clone());
                    w.write(&empty).map_err(failed)?;
                }
                for b in batches {
                    w.write(b).map_err(failed)?;
                }
            }
            Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
        }
        QueryFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(&mut buf);
                for b in batches {
                    w.write(b).map_err(failed)?;
                }
                w.finish().map_err(failed)?;
            }
            if buf.is_empty() {
                return Ok("[]".into());
            }
            Ok(String::from_utf8_lossy(&buf).to_string())
        }
    }
}

fn describe_column_change(c: &sluice_lake::ColumnChange) -> String {
    use sluice_lake::ColumnChange::*;
    match c {
        Added {
            name,
            data_type,
            nullable,
        } => format!(
            "column {name} added: {data_type}{}",
            if *nullable { "" } else { " NOT NULL" }
        ),
        Removed { name } => format!("column {name} removed"),
        TypeChanged { name, from, to } => format!("column {name}: type {from} -> {to}"),
        NullabilityChanged { name, from, to } => format!(
            "column {name}: {} -> {}",
            if *from { "NULL" } else { "NOT NULL" },
            if *to { "NULL" } else { "NOT NULL" }
        ),
    }
}

async fn ref_command(
    lake: &Lake,
    kind: RefKind,
    cmd: RefCommand,
    settings: &ProjectSettings,
    json: bool,
) -> Result<String, CmdError> {
    let what = kind.as_str();
    match cmd {
        RefCommand::Create { name, from, .. } => {
            let from = lake_loc::reference(from, settings);
            let r = match kind {
                RefKind::Branch => lake.create_branch(&name, &from).await?,
                RefKind::Tag => lake.create_tag(&name, &from).await?,
            };
            if json {
                return Ok(pretty(to_json(&r)));
            }
            Ok(format!(
                "created {what} {name} at {} (from {from})",
                r.commit.short()
            ))
        }
        RefCommand::List { .. } => {
            let refs = lake.list_refs(kind).await?;
            if json {
                return Ok(pretty(to_json(&refs)));
            }
            let mut out = String::new();
            for r in refs {
                let props: Vec<String> = r
                    .properties
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                out.push_str(&format!(
                    "{:<32} {}{}\n",
                    r.name,
                    r.commit.short(),
                    if props.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", props.join(", "))
                    }
                ));
            }
            Ok(out.trim_end().to_string())
        }
        RefCommand::Delete { name, .. } => {
            match kind {
                RefKind::Branch => lake.delete_branch(&name).await?,
                RefKind::Tag => lake.delete_tag(&name).await?,
            }
            if json {
                return Ok(pretty(json!({ "deleted": name, "kind": what })));
            }
            Ok(format!("deleted {what} {name}"))
        }
    }
}
