//! Running one node (or expectation) in a fresh worker process.
//!
//! Per call: a private scratch directory (on `/dev/shm` when it has room), the
//! inputs written there as uncompressed Arrow IPC files, a job JSON, then
//! `python -I -B -m sluice._worker job.json` with a cleared environment, the scratch
//! directory as working directory, inside the sandbox `isolate.rs` plans and
//! `sandbox.rs` applies (namespaces, read-only file system, no capabilities,
//! seccomp), under a wall-clock and a memory limit. The worker memory-maps the inputs, calls the function, writes
//! the output as an Arrow IPC file and a result JSON; the output is memory-mapped
//! back here without copying. The scratch directory is removed afterwards.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, RecordBatchIterator};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::env::PythonEnv;
use super::error::{
    BadReturnError, CrashError, ErrorPhase, Logs, PythonError, UserCodeError, tail_lines,
};
use super::exchange::{read_ipc_file, write_ipc_file};
use super::isolate::{Isolation, Prepared, format_memory_size, is_isolation_error};

/// At most this many bytes of the end of the worker's stdout and of its stderr are kept.
pub const LOG_LIMIT: usize = 256 * 1024;

/// How long the worker's output pipes are drained after it exited (a leftover
/// grandchild may hold them open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Room kept free on `/dev/shm` besides the inputs (and as much again for the output).
const SHM_RESERVE: u64 = 256 << 20;

/// A large input is written as several IPC files (parts) in parallel, at most one
/// per core, each of at least this many bytes (in memory); the worker concatenates
/// them without copying.
const PART_BYTES: u64 = 64 << 20;

const JOB_VERSION: u32 = 2;

/// How a node receives its input tables (`@python(dataframe=...)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DataFrameKind {
    /// `polars.DataFrame` (the default).
    #[default]
    Polars,
    /// `pyarrow.Table`.
    PyArrow,
    /// `pandas.DataFrame` (the environment needs pandas: [`EnvSpec::for_node`](super::EnvSpec::for_node)).
    Pandas,
}

impl DataFrameKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataFrameKind::Polars => "polars",
            DataFrameKind::PyArrow => "pyarrow",
            DataFrameKind::Pandas => "pandas",
        }
    }
}

impl FromStr for DataFrameKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "polars" => Ok(DataFrameKind::Polars),
            "pyarrow" => Ok(DataFrameKind::PyArrow),
            "pandas" => Ok(DataFrameKind::Pandas),
            other => Err(format!(
                "unknown dataframe kind {other:?}: expected \"polars\", \"pyarrow\" or \"pandas\""
            )),
        }
    }
}

/// One input table of a node: the parameter it is passed as, and its data.
#[derive(Debug, Clone)]
pub struct WorkerInput {
    pub param: String,
    pub table: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct NodeJob<'a> {
    pub project_root: &'a Path,
    /// The module's path relative to `project_root`: `"child.py"`, `"pkg/mod.py"`.
    pub file: &'a str,
    pub function: &'a str,
    pub inputs: Vec<WorkerInput>,
    /// Run parameters, passed as keyword arguments to the parameters of that name.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Every table of the project by the bare names code may use for it (bare-name
    /// defaults may refer to any of them): name -> table. A table's own name maps to
    /// itself; a `Source(...)` variable maps to the table it declares.
    pub tables: BTreeMap<String, String>,
    pub dataframe: DataFrameKind,
    /// How the worker is isolated and limited (docs/python-nodes.md).
    pub isolation: Isolation,
    /// Called with every line the function prints (stdout and stderr), as it is
    /// printed. The worker's protocol does not use either stream (it exchanges
    /// files), so nothing a function prints can be taken for a result.
    pub on_output: Option<OutputSink>,
}

/// Which stream of the worker a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Receives the lines a worker prints, live (see [`NodeJob::on_output`]). A line is
/// at most [`MAX_LINE`] bytes: a longer one arrives in pieces.
#[derive(Clone)]
pub struct OutputSink(pub Arc<OutputFn>);

/// What an [`OutputSink`] calls: the stream and the line (without its newline).
pub type OutputFn = dyn Fn(OutputStream, &str) + Send + Sync;

impl std::fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSink")
    }
}

/// The longest line handed to an [`OutputSink`] at once, in bytes.
pub const MAX_LINE: usize = 8 * 1024;

/// Where the time of one call went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// The whole call, scratch directory creation to clean-up.
    pub total: Duration,
    /// Process start, interpreter start-up, importing the DataFrame library and the
    /// node's module, process exit: the fixed cost of a worker.
    pub spawn_import: Duration,
    /// The node function (including `LazyFrame.collect()`).
    pub compute: Duration,
    /// `write_inputs + read_inputs + write_output + read_output`.
    pub exchange: Duration,
    /// Rust: input batches to IPC files.
    pub write_inputs: Duration,
    /// Python: IPC files to DataFrames.
    pub read_inputs: Duration,
    /// Python: the returned table to an IPC file.
    pub write_output: Duration,
    /// Rust: memory-mapping and decoding the output.
    pub read_output: Duration,
}

/// The table a node returned.
#[derive(Debug)]
pub struct NodeOutput {
    pub schema: SchemaRef,
    /// Zero-copy views of the memory-mapped output file (which is already unlinked:
    /// the memory is freed when the last batch is dropped).
    pub batches: Vec<RecordBatch>,
    pub num_rows: usize,
    /// Size of the input IPC files.
    pub bytes_in: u64,
    /// Size of the output IPC file.
    pub bytes_out: u64,
    pub timings: Timings,
    pub logs: Logs,
}

impl NodeOutput {
    /// The output as a `RecordBatchReader`.
    pub fn into_reader(
        self,
    ) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, ArrowError>>> {
        let batches: Vec<_> = self.batches.into_iter().map(Ok).collect();
        RecordBatchIterator::new(batches.into_iter(), self.schema)
    }
}

/// The verdict of an expectation.
#[derive(Debug, Clone)]
pub struct ExpectationOutcome {
    /// What the function returned: `true` passed, `false` failed.
    pub passed: bool,
    pub timings: Timings,
    pub logs: Logs,
}

/// Runs a node: returns the table its function returned.
pub async fn run_node(env: &PythonEnv, job: NodeJob<'_>) -> Result<NodeOutput, PythonError> {
    let finished = run_worker(env, job, JobKind::Node).await?;
    let mut timings = finished.timings;
    let output = finished
        .output
        .ok_or_else(|| PythonError::Exchange("the worker reported no output".into()))?;
    timings.read_output = output.read_time;
    timings.exchange += output.read_time;
    timings.total += output.read_time;
    let num_rows = output.mapped.batches.iter().map(|b| b.num_rows()).sum();
    Ok(NodeOutput {
        schema: output.mapped.schema,
        batches: output.mapped.batches,
        num_rows,
        bytes_in: finished.bytes_in,
        bytes_out: output.mapped.bytes,
        timings,
        logs: finished.logs,
    })
}

/// Runs an expectation: the function must return a bool (`numpy.bool_` too).
pub async fn run_expectation(
    env: &PythonEnv,
    job: NodeJob<'_>,
) -> Result<ExpectationOutcome, PythonError> {
    let function = job.function.to_string();
    let finished = run_worker(env, job, JobKind::Expectation).await?;
    let passed = finished.passed.ok_or_else(|| {
        PythonError::Crashed(Box::new(CrashError {
            function,
            status: "exit status: 0".into(),
            code: Some(0),
            signal: None,
            detail: Some("the worker reported no verdict".into()),
            logs: finished.logs.clone(),
        }))
    })?;
    Ok(ExpectationOutcome {
        passed,
        timings: finished.timings,
        logs: finished.logs,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Node,
    Expectation,
}

#[derive(Serialize)]
struct JobFile<'a> {
    version: u32,
    kind: &'a str,
    project_root: &'a Path,
    file: &'a str,
    function: &'a str,
    inputs: Vec<JobInput<'a>>,
    params: &'a BTreeMap<String, serde_json::Value>,
    tables: &'a BTreeMap<String, String>,
    dataframe: &'a str,
    allow_network: bool,
    output: &'a Path,
    result: &'a Path,
}

#[derive(Serialize)]
struct JobInput<'a> {
    param: &'a str,
    table: &'a str,
    /// The input's parts, in order (at least one).
    paths: &'a [PathBuf],
}

#[derive(Deserialize)]
struct ResultFile {
    status: String,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    error: Option<ErrorReport>,
    #[serde(default)]
    passed: Option<bool>,
    #[serde(default)]
    timings: PyTimings,
}

#[derive(Deserialize)]
struct ErrorReport {
    #[serde(rename = "type")]
    type_name: String,
    message: String,
    #[serde(default)]
    traceback: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    line: Option<u32>,
}

#[derive(Deserialize, Default)]
struct PyTimings {
    #[serde(default)]
    read_s: f64,
    #[serde(default)]
    compute_s: f64,
    #[serde(default)]
    write_s: f64,
}

struct Finished {
    timings: Timings,
    logs: Logs,
    bytes_in: u64,
    passed: Option<bool>,
    output: Option<ReadOutput>,
}

struct ReadOutput {
    mapped: super::exchange::MappedIpc,
    read_time: Duration,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn exchange_err(what: &str, e: impl std::fmt::Display) -> PythonError {
    PythonError::Exchange(format!("{what}: {e}"))
}

async fn run_worker(
    env: &PythonEnv,
    job: NodeJob<'_>,
    kind: JobKind,
) -> Result<Finished, PythonError> {
    let started = Instant::now();
    let function = job.function.to_string();
    let input_bytes: u64 = job
        .inputs
        .iter()
        .flat_map(|i| &i.batches)
        .map(|b| b.get_array_memory_size() as u64)
        .sum();
    let scratch = tokio::task::spawn_blocking(move || make_scratch(input_bytes))
        .await
        .map_err(|e| exchange_err("scratch directory", e))??;
    let dir = scratch.path().to_path_buf();
    let project_root =
        std::path::absolute(job.project_root).map_err(|e| exchange_err("project root", e))?;

    // Inputs: one or more IPC files each, written in parallel.
    let t = Instant::now();
    let inputs = job.inputs;
    let meta: Vec<(String, String)> = inputs
        .iter()
        .map(|i| (i.param.clone(), i.table.clone()))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<Vec<Range<usize>>> = inputs
        .iter()
        .map(|i| split_parts(&i.batches, threads))
        .collect();
    let paths: Vec<Vec<PathBuf>> = parts
        .iter()
        .enumerate()
        .map(|(i, ranges)| {
            (0..ranges.len())
                .map(|p| dir.join(format!("in-{i}-{p}.arrow")))
                .collect()
        })
        .collect();
    let bytes_in = {
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || write_inputs(&paths, &inputs, &parts, threads))
            .await
            .map_err(|e| exchange_err("writing inputs", e))??
    };
    let write_inputs_time = t.elapsed();

    let output_path = dir.join("out.arrow");
    let result_path = dir.join("result.json");
    let job_path = dir.join("job.json");
    let job_file = JobFile {
        version: JOB_VERSION,
        kind: match kind {
            JobKind::Node => "node",
            JobKind::Expectation => "expectation",
        },
        project_root: &project_root,
        file: job.file,
        function: job.function,
        inputs: meta
            .iter()
            .zip(&paths)
            .map(|((param, table), paths)| JobInput {
                param,
                table,
                paths,
            })
            .collect(),
        params: &job.params,
        tables: &job.tables,
        dataframe: job.dataframe.as_str(),
        allow_network: job.isolation.allow_network,
        output: &output_path,
        result: &result_path,
    };
    let json = serde_json::to_vec(&job_file).map_err(|e| exchange_err("job file", e))?;
    std::fs::write(&job_path, json).map_err(|e| exchange_err("job file", e))?;

    let mut cmd = worker_command(env, &dir, &job_path);
    let Prepared {
        plan,
        cgroup,
        landlock,
    } = super::isolate::prepare(&job.isolation, &dir, &env.root, &project_root)?;
    let mut landlock = landlock;
    // SAFETY: `apply` only makes async-signal-safe system calls on data prepared
    // before the fork (sandbox.rs).
    unsafe {
        cmd.pre_exec(move || plan.apply(landlock.take()));
    }
    let spawned = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            drop_cgroup(cgroup).await;
            return Err(if env.python.is_file() && is_isolation_error(&e) {
                PythonError::Isolation {
                    function: function.clone(),
                    message: format!("setting up its sandbox failed ({e})"),
                }
            } else {
                PythonError::Spawn {
                    function: function.clone(),
                    message: format!("{}: {e}", env.python.display()),
                }
            });
        }
    };
    let sink = job.on_output.clone();
    let stdout = Capture::start(child.stdout.take(), OutputStream::Stdout, sink.clone());
    let stderr = Capture::start(child.stderr.take(), OutputStream::Stderr, sink);
    // The child is the process outside the worker's PID namespace: killing it
    // kills the worker (parent-death signal), and with it the whole namespace.
    let status = match tokio::time::timeout(job.isolation.timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            drop_cgroup(cgroup).await;
            drop_scratch(scratch).await;
            return Err(PythonError::Timeout {
                function,
                limit: humantime::format_duration(job.isolation.timeout).to_string(),
            });
        }
    };
    let process_time = spawned.elapsed();
    let (out, out_cut) = stdout.finish().await;
    let (err, err_cut) = stderr.finish().await;
    let logs = Logs {
        stdout: out,
        stderr: err,
        truncated: out_cut || err_cut,
    };
    let oom_killed = cgroup.as_ref().is_some_and(|c| c.oom_killed());
    let memory_by_rlimit = cgroup.is_none();
    drop_cgroup(cgroup).await;
    if oom_killed {
        drop_scratch(scratch).await;
        return Err(PythonError::MemoryLimit {
            function,
            limit: format_memory_size(job.isolation.memory),
        });
    }
    let status = status.map_err(|e| PythonError::Spawn {
        function: function.clone(),
        message: format!("waiting for the worker: {e}"),
    })?;

    let result = std::fs::read(&result_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ResultFile>(&bytes).ok());
    let Some(result) = result else {
        drop_scratch(scratch).await;
        // Under RLIMIT_DATA an allocator that cannot grow aborts (Rust, C++).
        const ALLOCATION_FAILED: [&str; 3] =
            ["memory allocation of", "std::bad_alloc", "MemoryError"];
        if memory_by_rlimit && ALLOCATION_FAILED.iter().any(|m| logs.stderr.contains(m)) {
            return Err(PythonError::MemoryLimit {
                function,
                limit: format_memory_size(job.isolation.memory),
            });
        }
        return Err(crashed(function, status, None, logs));
    };
    let py = &result.timings;
    let in_python = secs(py.read_s) + secs(py.compute_s) + secs(py.write_s);
    let mut timings = Timings {
        total: Duration::ZERO,
        spawn_import: process_time.saturating_sub(in_python),
        compute: secs(py.compute_s),
        exchange: write_inputs_time + secs(py.read_s) + secs(py.write_s),
        write_inputs: write_inputs_time,
        read_inputs: secs(py.read_s),
        write_output: secs(py.write_s),
        read_output: Duration::ZERO,
    };

    if result.status != "ok" {
        drop_scratch(scratch).await;
        let out_of_memory = result
            .error
            .as_ref()
            .is_some_and(|e| e.type_name == "MemoryError");
        if memory_by_rlimit && out_of_memory {
            return Err(PythonError::MemoryLimit {
                function,
                limit: format_memory_size(job.isolation.memory),
            });
        }
        return Err(failure(function, status, result, logs));
    }
    let output = if kind == JobKind::Node {
        let t = Instant::now();
        let path = output_path.clone();
        let mapped = tokio::task::spawn_blocking(move || read_ipc_file(&path))
            .await
            .map_err(|e| exchange_err("reading the output", e))??;
        Some(ReadOutput {
            mapped,
            read_time: t.elapsed(),
        })
    } else {
        None
    };
    drop_scratch(scratch).await;
    // `read_output` is added by `run_node`; everything else is in.
    timings.total = started.elapsed() - output.as_ref().map_or(Duration::ZERO, |o| o.read_time);
    Ok(Finished {
        timings,
        logs,
        bytes_in,
        passed: result.passed,
        output,
    })
}

fn worker_command(env: &PythonEnv, scratch: &Path, job_path: &Path) -> Command {
    let home = scratch.join("home");
    let tmp = scratch.join("tmp");
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        env.root.join("bin").display()
    );
    let mut cmd = Command::new(&env.python);
    // -I: isolated mode (no PYTHON* variables, no user site-packages, no script
    // directory on sys.path); -B: write no bytecode; -u: unbuffered stdout and
    // stderr, so what a node prints is streamed as it prints it.
    cmd.args(["-I", "-B", "-u", "-m", "sluice._worker"])
        .arg(job_path)
        .env_clear()
        .env("PATH", path)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("PYTHONNOUSERSITE", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("VIRTUAL_ENV", &env.root)
        .current_dir(scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Scratch directories are named `sluice-worker-<pid>-<random>` after the process
/// that owns them, so that those of a process that was killed can be found.
const SCRATCH_PREFIX: &str = "sluice-worker-";

/// Removes the scratch directories under `root` whose owning process is gone (a
/// run killed mid-node leaves its worker's directory behind, on `/dev/shm` in
/// memory). A directory of a live process, or of a name this version did not
/// make, is left alone.
fn sweep_stale_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let gone = owner_is_gone(&entry.file_name(), SCRATCH_PREFIX);
        if gone && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `name` is `<prefix><pid>-<anything>` and process `pid` no longer
/// exists (what this process names after itself: scratch folders, cgroups).
pub(crate) fn owner_is_gone(name: &std::ffi::OsStr, prefix: &str) -> bool {
    let owner = name
        .to_str()
        .and_then(|n| n.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('-'))
        .and_then(|(pid, _)| pid.parse::<i32>().ok())
        .and_then(rustix::process::Pid::from_raw);
    owner.is_some_and(|pid| {
        matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    })
}

/// A private directory for one worker: `$SLUICE_SCRATCH_DIR`, else `/dev/shm` when
/// it has room for the inputs and an output of the same size, else the temp dir.
fn make_scratch(input_bytes: u64) -> Result<tempfile::TempDir, PythonError> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("SLUICE_SCRATCH_DIR").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(dir));
    } else {
        let shm = Path::new("/dev/shm");
        let room = rustix::fs::statvfs(shm)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        if room >= input_bytes.saturating_mul(2).saturating_add(SHM_RESERVE) {
            candidates.push(shm.to_path_buf());
        }
        candidates.push(std::env::temp_dir());
    }
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        for root in &candidates {
            sweep_stale_scratch(root);
        }
    });
    let prefix = format!("{SCRATCH_PREFIX}{}-", std::process::id());
    let mut last = None;
    for root in candidates {
        match tempfile::Builder::new().prefix(&prefix).tempdir_in(&root) {
            Ok(dir) => {
                for sub in ["home", "tmp"] {
                    std::fs::create_dir(dir.path().join(sub))
                        .map_err(|e| exchange_err("scratch directory", e))?;
                }
                return Ok(dir);
            }
            Err(e) => last = Some(format!("{}: {e}", root.display())),
        }
    }
    Err(exchange_err(
        "cannot create a scratch directory",
        last.unwrap_or_default(),
    ))
}

async fn drop_cgroup(cgroup: Option<super::cgroup::MemoryCgroup>) {
    if let Some(cgroup) = cgroup {
        let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
    }
}

async fn drop_scratch(scratch: tempfile::TempDir) {
    let _ = tokio::task::spawn_blocking(move || drop(scratch)).await;
}

/// The batch ranges of an input's parts: `bytes / PART_BYTES` parts (at least one,
/// at most `threads` and one per batch) of about equal size. Parts hold whole
/// batches, in order: a batch goes to the part its middle byte falls in.
fn split_parts(batches: &[RecordBatch], threads: usize) -> Vec<Range<usize>> {
    let sizes: Vec<u64> = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .collect();
    let total: u64 = sizes.iter().sum();
    let parts = usize::try_from(total / PART_BYTES)
        .unwrap_or(usize::MAX)
        .clamp(1, threads.max(1))
        .min(batches.len().max(1));
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let (mut before, mut current) = (0u64, 0);
    for (i, size) in sizes.iter().enumerate() {
        let middle_x2 = u128::from(before) * 2 + u128::from(*size);
        let part = (middle_x2 * parts as u128 / (u128::from(total.max(1)) * 2))
            .min(parts as u128 - 1) as usize;
        before += size;
        match ranges.last_mut() {
            Some(last) if part == current => last.end = i + 1,
            _ => {
                ranges.push(i..i + 1);
                current = part;
            }
        }
    }
    if ranges.is_empty() {
        ranges.push(0..0);
    }
    ranges
}

/// Writes every part of every input, on up to `threads` threads; returns the bytes
/// written.
fn write_inputs(
    paths: &[Vec<PathBuf>],
    inputs: &[WorkerInput],
    parts: &[Vec<Range<usize>>],
    threads: usize,
) -> Result<u64, PythonError> {
    let mut tasks = Vec::new();
    for ((input, ranges), paths) in inputs.iter().zip(parts).zip(paths) {
        for (range, path) in ranges.iter().zip(paths) {
            let batches = input.batches.get(range.clone()).unwrap_or_default();
            tasks.push((path.as_path(), &input.schema, batches));
        }
    }
    let next = AtomicUsize::new(0);
    let work = || -> Result<u64, PythonError> {
        let mut total = 0;
        while let Some((path, schema, batches)) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
            total += write_ipc_file(path, schema, batches)?;
        }
        Ok(total)
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(tasks.len()))
            .map(|_| scope.spawn(work))
            .collect();
        let mut result = work();
        for helper in helpers {
            let written = helper
                .join()
                .map_err(|_| PythonError::Exchange("writing an input panicked".into()))
                .and_then(|r| r);
            result = match (result, written) {
                (Ok(a), Ok(b)) => Ok(a + b),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
        }
        result
    })
}

/// Reads a pipe to its end, keeping at most [`LOG_LIMIT`] bytes of its tail, and
/// hands each line to the sink as it arrives.
struct Capture {
    buffer: Arc<Mutex<(Vec<u8>, bool)>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes for a sink.
struct Lines {
    stream: OutputStream,
    sink: OutputSink,
    partial: Vec<u8>,
}

impl Lines {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.partial.extend_from_slice(bytes);
        while self.partial.len() > MAX_LINE {
            // Cut at a character boundary where the text is UTF-8.
            let mut cut = MAX_LINE;
            while cut > MAX_LINE - 4 && std::str::from_utf8(&self.partial[..cut]).is_err() {
                cut -= 1;
            }
            let rest = self.partial.split_off(cut);
            self.emit();
            self.partial = rest;
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.partial);
        (self.sink.0)(self.stream, line.strip_suffix('\r').unwrap_or(&line));
        self.partial.clear();
    }

    fn finish(mut self) {
        if !self.partial.is_empty() {
            self.emit();
        }
    }
}

impl Capture {
    fn start<R: AsyncRead + Unpin + Send + 'static>(
        pipe: Option<R>,
        stream: OutputStream,
        sink: Option<OutputSink>,
    ) -> Capture {
        let buffer = Arc::new(Mutex::new((Vec::new(), false)));
        let task = pipe.map(|mut pipe| {
            let buffer = buffer.clone();
            let mut lines = sink.map(|sink| Lines {
                stream,
                sink,
                partial: Vec::new(),
            });
            tokio::spawn(async move {
                let mut chunk = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    if let Some(lines) = &mut lines {
                        lines.push(&chunk[..n]);
                    }
                    let Ok(mut guard) = buffer.lock() else { return };
                    let (buf, truncated) = &mut *guard;
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > 2 * LOG_LIMIT {
                        buf.drain(..buf.len() - LOG_LIMIT);
                        *truncated = true;
                    }
                }
                if let Some(lines) = lines {
                    lines.finish();
                }
            })
        });
        Capture { buffer, task }
    }

    async fn finish(mut self) -> (String, bool) {
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(DRAIN_AFTER_EXIT, task).await.is_err() {
                abort.abort();
            }
        }
        let (mut buf, mut truncated) = self
            .buffer
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default();
        if buf.len() > LOG_LIMIT {
            buf.drain(..buf.len() - LOG_LIMIT);
            truncated = true;
        }
        (String::from_utf8_lossy(&buf).into_owned(), truncated)
    }
}

fn crashed(
    function: String,
    status: ExitStatus,
    detail: Option<String>,
    logs: Logs,
) -> PythonError {
    use std::os::unix::process::ExitStatusExt;
    let signal = status.signal();
    let status_text = match signal {
        Some(9) => format!("{status} (killed: out of memory?)"),
        _ => status.to_string(),
    };
    PythonError::Crashed(Box::new(CrashError {
        function,
        status: status_text,
        code: status.code(),
        signal,
        detail,
        logs,
    }))
}

fn failure(function: String, status: ExitStatus, result: ResultFile, logs: Logs) -> PythonError {
    let Some(error) = result.error else {
        return crashed(
            function,
            status,
            Some(format!("the worker reported status {:?}", result.status)),
            logs,
        );
    };
    match result.phase.as_deref() {
        Some(phase @ ("load" | "call")) => PythonError::UserCode(Box::new(UserCodeError {
            function,
            phase: if phase == "load" {
                ErrorPhase::Load
            } else {
                ErrorPhase::Call
            },
            type_name: error.type_name,
            message: error.message,
            file: error.file,
            line: error.line,
            traceback: error.traceback,
            logs,
        })),
        Some("return") => PythonError::BadReturn(Box::new(BadReturnError {
            function,
            type_name: error.type_name,
            message: error.message,
            traceback: error.traceback,
            logs,
        })),
        Some("input") => PythonError::Exchange(format!(
            "the worker for {function} could not read its inputs: {}: {}",
            error.type_name, error.message
        )),
        _ => {
            let detail = format!(
                "internal worker error: {}: {}\n{}",
                error.type_name,
                error.message,
                tail_lines(&error.traceback, 20)
            );
            crashed(function, status, Some(detail), logs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batches(rows: &[usize]) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        rows.iter()
            .map(|&n| {
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![0; n]))])
                    .unwrap()
            })
            .collect()
    }

    /// What a sink receives for the given chunks of a stream.
    fn lines_of(chunks: &[&[u8]]) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            OutputSink(Arc::new(move |_, line: &str| {
                seen.lock().unwrap().push(line.to_string())
            }))
        };
        let mut lines = Lines {
            stream: OutputStream::Stdout,
            sink,
            partial: Vec::new(),
        };
        for chunk in chunks {
            lines.push(chunk);
        }
        lines.finish();
        seen.lock().unwrap().clone()
    }

    #[test]
    fn output_is_split_into_bounded_lines_across_chunks() {
        assert_eq!(
            lines_of(&[b"a\nb", b"c\r\n\nd"]),
            ["a", "bc", "", "d"],
            "lines join across chunks, CRLF and a last line without newline"
        );
        let long = "é".repeat(MAX_LINE); // 2 bytes each
        let pieces = lines_of(&[long.as_bytes(), b"\n"]);
        assert!(pieces.iter().all(|p| p.len() <= MAX_LINE), "bounded");
        assert_eq!(
            pieces.concat(),
            long,
            "cut at character boundaries, nothing lost"
        );
        assert_eq!(
            lines_of(&[b"\xff\n"]),
            ["\u{fffd}"],
            "invalid UTF-8 is replaced"
        );
    }

    #[test]
    fn stale_scratch_of_dead_processes_is_swept_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let names = [
            format!("{SCRATCH_PREFIX}{dead}-abc"),
            format!("{SCRATCH_PREFIX}{}-xyz", std::process::id()),
            format!("{SCRATCH_PREFIX}notapid"),
            "unrelated".to_string(),
        ];
        for n in &names {
            std::fs::create_dir(root.path().join(n)).unwrap();
            std::fs::write(root.path().join(n).join("f"), b"x").unwrap();
        }
        sweep_stale_scratch(root.path());
        let left: Vec<bool> = names.iter().map(|n| root.path().join(n).exists()).collect();
        assert_eq!(left, [false, true, true, true]);
    }

    /// `split_parts` as `(start, end)` pairs.
    fn split(batches: &[RecordBatch], threads: usize) -> Vec<(usize, usize)> {
        split_parts(batches, threads)
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect()
    }

    #[test]
    fn inputs_are_split_into_parts_of_whole_batches() {
        let big = (PART_BYTES / 8) as usize; // rows of one part's worth of Int64
        // Small inputs, few batches or one core: one part.
        assert_eq!(split(&[], 4), [(0, 0)]);
        assert_eq!(split(&batches(&[10, 10]), 4), [(0, 2)]);
        assert_eq!(split(&batches(&[big, big]), 1), [(0, 2)]);
        assert_eq!(split(&batches(&[4 * big]), 4), [(0, 1)]);
        // Large inputs: up to one part per core, in order, of about equal size.
        let b = batches(&[big / 2; 8]);
        assert_eq!(split(&b, 2), [(0, 4), (4, 8)]);
        assert_eq!(split(&b, 4), [(0, 2), (2, 4), (4, 6), (6, 8)]);
        assert_eq!(split(&b, 16), [(0, 2), (2, 4), (4, 6), (6, 8)]);
        // Uneven batches: as even as whole batches allow, no empty part.
        let b = batches(&[big / 8, big / 8, 2 * big]);
        assert_eq!(split(&b, 2), [(0, 2), (2, 3)]);
        let b = batches(&[2 * big, big / 8, big / 8]);
        assert_eq!(split(&b, 2), [(0, 1), (1, 3)]);
        let b = batches(&[big, big, 0]);
        assert_eq!(split(&b, 2), [(0, 1), (1, 3)]);
    }
}
