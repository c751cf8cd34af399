//! Benchmark of Python nodes run by sluice-runtime workers (see BENCHMARKS.md,
//! "Python nodes").
//!
//! ```sh
//! cargo build --release --workspace --example python_bench
//! target/release/examples/python_bench --kind polars --gb 1.5 --runs 5
//! ```
//!
//! Uses the public API only (`EnvManager::ensure`, `run_node`), with the default
//! environment for the DataFrame kind (built on first use in the usual cache,
//! `$SLUICE_CACHE_DIR` or `~/.cache/sluice`) and the worker's usual scratch
//! directory (`/dev/shm` when it has room, `$SLUICE_SCRATCH_DIR` overrides).
//!
//! 1. **Fixed cost**: an identity node (`def node(df): return df`) on a 3-row input,
//!    warm (environment ready, one untimed warm-up call); the median wall time of
//!    `run_node` over `--runs` calls.
//! 2. **Throughput**: the same node on about `--gb` GB of Arrow data (four numeric
//!    columns and one string column, batches of 65,536 rows, generated once up front
//!    and not timed); the median wall time of `run_node` over `--runs` calls (after
//!    one untimed warm-up call), the input and output IPC sizes, `(in + out) / time`
//!    and the medians of the worker's [`Timings`].
//!
//! GB are 10^9 bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow::array::{
    Array, ArrayRef, Float64Builder, Int32Builder, Int64Array, Int64Builder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use sluice_runtime::python::{
    DataFrameKind, EnvManager, EnvSpec, NodeJob, NodeOutput, PythonEnv, Timings, WorkerInput,
    run_node,
};

const USAGE: &str = "usage: python_bench [--kind polars|pyarrow|pandas] [--gb F] [--runs N]";
const BATCH_ROWS: usize = 65_536;
const GB: f64 = 1e9;
const NODE_FILE: &str = "bench_node.py";
const NODE_SOURCE: &str = "def node(df):\n    return df\n";

struct Args {
    kind: DataFrameKind,
    gb: f64,
    runs: usize,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        kind: DataFrameKind::Polars,
        gb: 1.5,
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--kind" => args.kind = value()?.parse()?,
            "--gb" => {
                let v = value()?;
                args.gb = v
                    .parse::<f64>()
                    .ok()
                    .filter(|g| g.is_finite() && *g > 0.0 && *g <= 1000.0)
                    .ok_or_else(|| {
                        format!("--gb: expected a size in GB (0 < F <= 1000), not {v:?}")
                    })?;
            }
            "--runs" => {
                let v = value()?;
                args.runs = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| format!("--runs: expected a count (1 to 1000), not {v:?}"))?;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Int32, false),
        Field::new("price", DataType::Float64, false),
        Field::new("score", DataType::Float64, true),
        Field::new("name", DataType::Utf8, false),
    ]))
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Rows `first..first + rows` of the benchmark table (deterministic, mostly
/// incompressible): `score` is null in about 1% of the rows, `name` is 10 to 25
/// bytes long.
fn make_batch(schema: &SchemaRef, first: u64, rows: usize) -> Result<RecordBatch> {
    let mut id = Int64Builder::with_capacity(rows);
    let mut key = Int32Builder::with_capacity(rows);
    let mut price = Float64Builder::with_capacity(rows);
    let mut score = Float64Builder::with_capacity(rows);
    let mut name = StringBuilder::with_capacity(rows, rows * 18);
    for row in first..first + rows as u64 {
        let r = splitmix(row);
        id.append_value(row as i64);
        key.append_value((r % 100_000) as i32);
        price.append_value((r >> 11) as f64 / (1u64 << 53) as f64 * 1000.0);
        if r.is_multiple_of(100) {
            score.append_null();
        } else {
            score.append_value(((r >> 7) % 1_000_000) as f64 / 7.0);
        }
        let hex = splitmix(r);
        write!(name, "customer-{:x}", hex >> ((r >> 40) % 16 * 4))?;
        name.append_value("");
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(key.finish()),
        Arc::new(price.finish()),
        Arc::new(score.finish()),
        Arc::new(name.finish()),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The bytes of Arrow data in `batch` (buffers as sliced, without spare capacity).
fn data_bytes(batch: &RecordBatch) -> Result<u64> {
    let mut total = 0;
    for column in batch.columns() {
        total += column.to_data().get_slice_memory_size()? as u64;
    }
    Ok(total)
}

/// About `gb` GB of Arrow data in batches of [`BATCH_ROWS`] rows, generated on all
/// cores.
fn generate(schema: &SchemaRef, gb: f64) -> Result<(Vec<RecordBatch>, u64)> {
    let probe = make_batch(schema, 0, BATCH_ROWS)?;
    let per_batch = data_bytes(&probe)?.max(1);
    let count = ((gb * GB) / per_batch as f64).ceil().max(1.0) as usize;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads);
    let batches = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(count))
                        .map(|i| make_batch(schema, (i * BATCH_ROWS) as u64, BATCH_ROWS))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for handle in handles {
            match handle.join() {
                Ok(part) => all.extend(part?),
                Err(_) => bail!("a generator thread panicked"),
            }
        }
        Ok(all)
    })?;
    let mut bytes = 0;
    for batch in &batches {
        bytes += data_bytes(batch)?;
    }
    Ok((batches, bytes))
}

fn median<T: Copy + Ord>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        ms(d)
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / GB)
}

fn rate(bytes: u64, d: Duration) -> String {
    format!("{:.2} GB/s", bytes as f64 / GB / d.as_secs_f64().max(1e-9))
}

/// Where the worker will put its scratch directory (the rule of
/// `docs/python-nodes.md`: `$SLUICE_SCRATCH_DIR`, else `/dev/shm` when it has room
/// for the inputs and as much again for the output, else the temp directory).
fn scratch_location(input_bytes: u64) -> String {
    if let Some(dir) = std::env::var_os("SLUICE_SCRATCH_DIR").filter(|v| !v.is_empty()) {
        return format!("{} ($SLUICE_SCRATCH_DIR)", Path::new(&dir).display());
    }
    let free = rustix::fs::statvfs("/dev/shm")
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0);
    if free >= input_bytes.saturating_mul(2).saturating_add(256 << 20) {
        format!("/dev/shm (tmpfs, {} free)", gb(free))
    } else {
        format!(
            "{} (/dev/shm has only {} free)",
            std::env::temp_dir().display(),
            gb(free)
        )
    }
}

/// One timed `run_node` call; checks that the node returned its input.
async fn call(
    env: &PythonEnv,
    root: &Path,
    kind: DataFrameKind,
    input: &WorkerInput,
    expected: &Expected,
) -> Result<(Duration, NodeOutput)> {
    let job = NodeJob {
        project_root: root,
        file: NODE_FILE,
        function: "node",
        inputs: vec![input.clone()],
        params: BTreeMap::new(),
        tables: ["bench_input", "bench_output"]
            .map(|t| (t.to_string(), t.to_string()))
            .into(),
        dataframe: kind,
        isolation: Default::default(),
        on_output: None,
    };
    let start = Instant::now();
    let out = run_node(env, job).await?;
    let elapsed = start.elapsed();
    expected.check(&out)?;
    Ok((elapsed, out))
}

/// What the identity node must return: as many rows and columns, the same ids.
struct Expected {
    rows: usize,
    columns: usize,
    id_sum: i64,
}

impl Expected {
    fn of(input: &WorkerInput) -> Result<Expected> {
        let mut id_sum = 0i64;
        for batch in &input.batches {
            id_sum = id_sum.wrapping_add(id_sum_of(batch)?);
        }
        Ok(Expected {
            rows: input.batches.iter().map(|b| b.num_rows()).sum(),
            columns: input.schema.fields().len(),
            id_sum,
        })
    }

    fn check(&self, out: &NodeOutput) -> Result<()> {
        if out.num_rows != self.rows || out.schema.fields().len() != self.columns {
            bail!(
                "the node returned {} rows x {} columns, expected {} x {}",
                out.num_rows,
                out.schema.fields().len(),
                self.rows,
                self.columns
            );
        }
        let mut id_sum = 0i64;
        for batch in &out.batches {
            id_sum = id_sum.wrapping_add(id_sum_of(batch)?);
        }
        if id_sum != self.id_sum {
            bail!("the node returned different ids than it was given");
        }
        Ok(())
    }
}

fn id_sum_of(batch: &RecordBatch) -> Result<i64> {
    let ids = batch
        .column_by_name("id")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .context("no Int64 column `id`")?;
    Ok(arrow::compute::sum::<Int64Type>(ids).unwrap_or(0))
}

fn median_timings(all: &[Timings]) -> Timings {
    let pick = |f: fn(&Timings) -> Duration| median(&all.iter().map(f).collect::<Vec<_>>());
    Timings {
        total: pick(|t| t.total),
        spawn_import: pick(|t| t.spawn_import),
        compute: pick(|t| t.compute),
        exchange: pick(|t| t.exchange),
        write_inputs: pick(|t| t.write_inputs),
        read_inputs: pick(|t| t.read_inputs),
        write_output: pick(|t| t.write_output),
        read_output: pick(|t| t.read_output),
    }
}

async fn bench(args: Args) -> Result<()> {
    let kind = args.kind;
    let runs = args.runs;
    let schema = schema();

    let manager = EnvManager::new(EnvManager::default_cache_dir());
    let t = Instant::now();
    let env = manager
        .ensure(&EnvSpec::for_node(None, &BTreeMap::new(), kind))
        .await?;
    println!(
        "environment: {} (ready in {})",
        env.root.display(),
        secs(t.elapsed())
    );
    let project = tempfile::tempdir()?;
    std::fs::write(project.path().join(NODE_FILE), NODE_SOURCE)?;
    let root = project.path();

    // Fixed cost: 3 rows.
    let tiny = WorkerInput {
        param: "df".into(),
        table: "bench_input".into(),
        schema: schema.clone(),
        batches: vec![make_batch(&schema, 0, 3)?],
    };
    let expected = Expected::of(&tiny)?;
    call(&env, root, kind, &tiny, &expected).await?; // warm-up
    let mut fixed = Vec::with_capacity(runs);
    let mut fixed_timings = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (elapsed, out) = call(&env, root, kind, &tiny, &expected).await?;
        fixed.push(elapsed);
        fixed_timings.push(out.timings);
    }
    let fixed_median = median(&fixed);
    let fixed_breakdown = median_timings(&fixed_timings);
    println!(
        "fixed cost ({}, 3 rows, median of {runs}): {} (min {}, max {}; spawn + import {})",
        kind.as_str(),
        ms(fixed_median),
        ms(*fixed.iter().min().unwrap_or(&Duration::ZERO)),
        ms(*fixed.iter().max().unwrap_or(&Duration::ZERO)),
        ms(fixed_breakdown.spawn_import),
    );

    // Throughput: ~gb GB.
    let t = Instant::now();
    let (batches, data) = generate(&schema, args.gb)?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    println!(
        "input: {rows} rows in {} batches, {} of Arrow data (generated in {}, not timed)",
        batches.len(),
        gb(data),
        secs(t.elapsed())
    );
    println!("scratch: {}", scratch_location(data));
    let big = WorkerInput {
        param: "df".into(),
        table: "bench_input".into(),
        schema: schema.clone(),
        batches,
    };
    let expected = Expected::of(&big)?;
    drop(call(&env, root, kind, &big, &expected).await?); // warm-up
    let mut walls = Vec::with_capacity(runs);
    let mut timings = Vec::with_capacity(runs);
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for run in 1..=runs {
        let (elapsed, out) = call(&env, root, kind, &big, &expected).await?;
        bytes_in = out.bytes_in;
        bytes_out = out.bytes_out;
        let t = out.timings;
        println!(
            "run {run}: {} -> {} (write inputs {}, read inputs {}, compute {}, write output {}, read output {}, spawn + import {})",
            secs(elapsed),
            rate(bytes_in + bytes_out, elapsed),
            ms(t.write_inputs),
            ms(t.read_inputs),
            ms(t.compute),
            ms(t.write_output),
            ms(t.read_output),
            ms(t.spawn_import),
        );
        walls.push(elapsed);
        timings.push(t);
        drop(out);
    }
    let wall = median(&walls);
    let m = median_timings(&timings);

    println!();
    println!(
        "| kind | fixed cost (3 rows) | input (IPC) | output (IPC) | identity node, wall time | (in + out) / time |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        kind.as_str(),
        ms(fixed_median),
        gb(bytes_in),
        gb(bytes_out),
        secs(wall),
        rate(bytes_in + bytes_out, wall),
    );
    println!();
    println!(
        "| {} identity node, {} in / {} out (medians of {runs}) | time | rate |",
        kind.as_str(),
        gb(bytes_in),
        gb(bytes_out)
    );
    println!("| --- | --- | --- |");
    let accounted = m.write_inputs
        + m.read_inputs
        + m.compute
        + m.write_output
        + m.read_output
        + m.spawn_import;
    let rows_table = [
        (
            "write inputs (Rust, IPC files)",
            m.write_inputs,
            Some(bytes_in),
        ),
        ("read inputs (Python)", m.read_inputs, Some(bytes_in)),
        ("node function", m.compute, None),
        (
            "write output (Python, IPC file)",
            m.write_output,
            Some(bytes_out),
        ),
        (
            "read output (Rust, memory map)",
            m.read_output,
            Some(bytes_out),
        ),
        ("process start, imports, exit", m.spawn_import, None),
        (
            "scratch directory set-up and removal",
            m.total.saturating_sub(accounted),
            None,
        ),
        ("total (`Timings::total`)", m.total, None),
    ];
    for (label, time, bytes) in rows_table {
        let r = bytes.map_or(String::new(), |b| rate(b, time));
        println!("| {label} | {} | {r} |", ms(time));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("python_bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("python_bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
