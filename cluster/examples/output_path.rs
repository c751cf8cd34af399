//! Where a cluster run's output path spends its time (bench/cluster_output_path.sh):
//! one large result, `SELECT * FROM TABLE` at `main` of the lake at LAKE, taken out of
//! the cluster at ENGINE three ways:
//!
//! * `stream`: streamed back to this process and dropped (the cluster's part alone);
//! * `stream+write`: streamed back and written by the lake's own writer here (what
//!   `sluice run --engine` does, less validation and the commit);
//! * `copy+verify`: written as Parquet by the executors themselves (`COPY ... TO`),
//!   then read back once here, as a client would have to verify files it did not
//!   write.
//!
//! Usage: `cargo run --release -p sluice-cluster --example output_path -- LAKE ENGINE
//! [TABLE]`. Prints one line per way: rows, seconds, and Parquet bytes written.

use std::time::Instant;

use datafusion::prelude::SessionContext;
use futures::StreamExt;
use sluice_cluster::EngineUrl;
use sluice_lake::{Lake, LakeConfig};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lake_dir, engine, rest @ ..] = args.as_slice() else {
        return Err("usage: output_path LAKE ENGINE [TABLE]".into());
    };
    let table = rest.first().map_or("lineitem", String::as_str);
    let lake = Lake::open_existing(&LakeConfig::from_uri(lake_dir, None)?, lake_dir).await?;
    let engine = EngineUrl::parse(engine)?;
    sluice_cluster::ready(&engine).await?;
    let data_url = lake.data().root_url()?;
    let commit = lake.resolve("main").await?.commit;
    let sid = commit
        .tables()
        .get(table)
        .ok_or_else(|| format!("no table {table} at main"))?;
    let snapshot = lake.snapshot(sid).await?;
    let session = || -> Result<SessionContext, Error> {
        let ctx = sluice_cluster::connect(&engine)?;
        lake.register_files_at(
            &ctx,
            &data_url,
            table,
            &snapshot.content.schema,
            &snapshot.content.files,
        )?;
        Ok(ctx)
    };
    let select = format!("SELECT * FROM {table}");

    // Streamed back and dropped.
    let started = Instant::now();
    let mut stream = session()?.sql(&select).await?.execute_stream().await?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows();
    }
    println!(
        "stream        {rows} rows {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Streamed back and written here by the lake's writer (left staged, never
    // committed: `sluice gc` removes it).
    let started = Instant::now();
    let mut stream = session()?.sql(&select).await?.execute_stream().await?;
    let mut writer = lake.table_writer("bench_output_path", &stream.schema())?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?).await?;
    }
    let staged = writer.finish().await?;
    println!(
        "stream+write  {} rows {:.2} s, {} bytes",
        staged.rows,
        started.elapsed().as_secs_f64(),
        staged.bytes()
    );

    // Written by the executors, then read back once here.
    let out = tempfile::tempdir()?;
    let out_url = url::Url::from_directory_path(out.path())
        .map_err(|()| format!("{} is not a folder", out.path().display()))?;
    let started = Instant::now();
    session()?
        .sql(&format!("COPY ({select}) TO '{out_url}' STORED AS PARQUET"))
        .await?
        .collect()
        .await?;
    let copied = started.elapsed().as_secs_f64();
    let local = SessionContext::new();
    local
        .register_parquet("written", out_url.as_str(), Default::default())
        .await?;
    let mut stream = local
        .sql("SELECT * FROM written")
        .await?
        .execute_stream()
        .await?;
    let mut read = 0;
    while let Some(batch) = stream.next().await {
        read += batch?.num_rows();
    }
    let bytes: u64 = walk(out.path())?;
    println!(
        "copy+verify   {read} rows {:.2} s ({copied:.2} s writing on the executors), {bytes} bytes",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The bytes of every file under `dir`.
fn walk(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
