//! Benchmarks of the versioned lake (see BENCHMARKS.md).
//!
//! cargo run --release -p sluice-lake --example bench -- [SCALE_FACTOR] [LARGE_TABLES]
//!
//! 1. branch and tag creation on a small lake (10 tables, ~1 MB) and a large
//!    one (LARGE_TABLES tables, ~1 MB each; default 1000 -> ~1 GB);
//! 2. a three-way merge of a branch that changed 10 tables; a three-way merge
//!    and `log --limit 10` as the history grows to 10,000 commits;
//! 3. `import` of a TPC-H lineitem Parquet file vs copying the file;
//! 4. TPC-H Q1 and Q6 through `Lake::query` vs plain DataFusion over the
//!    same Parquet file.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Array, Int64Builder,
    RecordBatch, StringBuilder,
};
use arrow_schema::{DataType, Field, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sluice_lake::{CommitRequest, ImportMode, Lake, LakeConfig, MergeRequest, TableChange};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A table of `rows` pseudo-random (incompressible) Int64 values.
fn random_batch(rows: usize, seed: u64) -> RecordBatch {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let values: Vec<i64> = (0..rows)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values)) as ArrayRef])
        .expect("batch")
}

async fn build_lake(dir: &Path, tables: usize, rows_per_table: usize) -> Result<Lake> {
    let config = LakeConfig::from_uri(dir.to_str().unwrap_or("."), None)?;
    let lake = Lake::open(&config).await?;
    let mut req = CommitRequest::new("main", &format!("{tables} tables"));
    for i in 0..tables {
        let b = random_batch(rows_per_table, i as u64 + 1);
        let name = format!("t{i:04}");
        let staged = lake.stage_batches(&name, b.schema(), &[b]).await?;
        req = req.change(&name, TableChange::Create(staged));
    }
    lake.commit(req).await?;
    Ok(lake)
}

async fn bench_refs(lake: &Lake, label: &str) -> Result<()> {
    let bytes: u64 = lake
        .list_tables("main")
        .await?
        .iter()
        .map(|t| t.bytes)
        .sum();
    let tables = lake.list_tables("main").await?.len();
    let (mut b, mut t) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let start = Instant::now();
        lake.create_branch(&format!("b{i}"), "main").await?;
        b.push(start.elapsed());
        let start = Instant::now();
        lake.create_tag(&format!("v{i}"), "main").await?;
        t.push(start.elapsed());
    }
    println!(
        "| {label} | {tables} | {:.1} MB | {} | {} |",
        bytes as f64 / 1e6,
        ms(median(b)),
        ms(median(t))
    );
    Ok(())
}

async fn bench_merge(lake: &Lake) -> Result<()> {
    let mut three_way = Vec::new();
    let mut ff = Vec::new();
    for round in 0..10 {
        let branch = format!("m{round}");
        lake.create_branch(&branch, "main").await?;
        let mut req = CommitRequest::new(&branch, "change 10 tables");
        for i in 0..10 {
            let name = format!("t{:04}", i);
            let b = random_batch(1000, 1000 + round * 10 + i);
            let staged = lake.stage_batches(&name, b.schema(), &[b]).await?;
            req = req.change(&name, TableChange::Replace(staged));
        }
        lake.commit(req).await?;
        // make main move so that the merge is three-way
        let other = format!("t{:04}", 11);
        let b = random_batch(1000, 99_999 + round);
        let staged = lake.stage_batches(&other, b.schema(), &[b]).await?;
        lake.commit(
            CommitRequest::new("main", "other").change(&other, TableChange::Replace(staged)),
        )
        .await?;
        let start = Instant::now();
        lake.merge(MergeRequest::new(&branch, "main")).await?;
        three_way.push(start.elapsed());
        // and a fast-forward of a second branch
        let ffb = format!("f{round}");
        lake.create_branch(&ffb, "main").await?;
        let mut req = CommitRequest::new(&ffb, "change 10 tables");
        for i in 0..10 {
            let name = format!("t{:04}", 20 + i);
            let b = random_batch(1000, 5000 + round * 10 + i);
            let staged = lake.stage_batches(&name, b.schema(), &[b]).await?;
            req = req.change(&name, TableChange::Replace(staged));
        }
        lake.commit(req).await?;
        let start = Instant::now();
        lake.merge(MergeRequest::new(&ffb, "main")).await?;
        ff.push(start.elapsed());
    }
    println!(
        "| three-way merge, 10 tables changed | {} |",
        ms(median(three_way))
    );
    println!(
        "| fast-forward merge, 10 tables changed | {} |",
        ms(median(ff))
    );
    Ok(())
}

/// A three-way merge and `log --limit 10` on a lake whose history grows to
/// 10,000 commits: both read only the commits above the merge base (or the
/// first few), so their time must not grow with the history.
async fn bench_history(dir: &Path) -> Result<()> {
    let lake = Lake::open(&LakeConfig::from_env(Some(dir.to_str().unwrap()))?).await?;
    let b = random_batch(10, 1);
    let one = lake.stage_batches("h", b.schema(), &[b]).await?;
    let b = random_batch(10, 2);
    let two = lake.stage_batches("h", b.schema(), &[b]).await?;
    let first = lake
        .commit(CommitRequest::new("main", "h").change("h", TableChange::Create(one)))
        .await?;
    let second = lake
        .commit(CommitRequest::new("main", "h").change("h", TableChange::Replace(two)))
        .await?;
    let snaps = [first.tables()["h"].clone(), second.tables()["h"].clone()];
    let mut commits = 2usize;
    println!(
        "| history (commits) | three-way merge (median of 5) | log --limit 10 (median of 5) |\n| --- | --- | --- |"
    );
    for target in [10usize, 1_000, 10_000] {
        // Grow main's history without writing data: flip the table between two
        // snapshots.
        while commits < target {
            let snap = snaps[commits % 2].clone();
            lake.commit(
                CommitRequest::new("main", "flip").change("h", TableChange::Restore(Some(snap))),
            )
            .await?;
            commits += 1;
        }
        let (mut merges, mut logs) = (Vec::new(), Vec::new());
        for round in 0..5 {
            let branch = format!("h{target}_{round}");
            lake.create_branch(&branch, "main").await?;
            let b = random_batch(10, 10 + round);
            let staged = lake.stage_batches("side", b.schema(), &[b]).await?;
            lake.commit(
                CommitRequest::new(&branch, "side").change("side", TableChange::Replace(staged)),
            )
            .await?;
            let snap = snaps[commits % 2].clone();
            lake.commit(
                CommitRequest::new("main", "flip").change("h", TableChange::Restore(Some(snap))),
            )
            .await?;
            commits += 1;
            let start = Instant::now();
            lake.merge(MergeRequest::new(&branch, "main")).await?;
            merges.push(start.elapsed());
            commits += 1;
            let start = Instant::now();
            let log = lake.log("main", Some(10)).await?;
            logs.push(start.elapsed());
            assert_eq!(log.len(), 10);
        }
        println!(
            "| {commits} | {} | {} |",
            ms(median(merges)),
            ms(median(logs))
        );
    }
    Ok(())
}

/// Writes TPC-H lineitem at `sf` as one Parquet file.
fn write_lineitem(path: &Path, sf: f64) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("l_orderkey", DataType::Int64, false),
        Field::new("l_partkey", DataType::Int64, false),
        Field::new("l_suppkey", DataType::Int64, false),
        Field::new("l_linenumber", DataType::Int32, false),
        Field::new("l_quantity", DataType::Decimal128(15, 2), false),
        Field::new("l_extendedprice", DataType::Decimal128(15, 2), false),
        Field::new("l_discount", DataType::Decimal128(15, 2), false),
        Field::new("l_tax", DataType::Decimal128(15, 2), false),
        Field::new("l_returnflag", DataType::Utf8, false),
        Field::new("l_linestatus", DataType::Utf8, false),
        Field::new("l_shipdate", DataType::Date32, false),
        Field::new("l_commitdate", DataType::Date32, false),
        Field::new("l_receiptdate", DataType::Date32, false),
        Field::new("l_shipinstruct", DataType::Utf8, false),
        Field::new("l_shipmode", DataType::Utf8, false),
        Field::new("l_comment", DataType::Utf8, false),
    ]));
    let file = std::fs::File::create(path)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let generator = tpchgen::generators::LineItemGenerator::new(sf, 1, 1);
    let mut iter = generator.iter().peekable();
    let mut rows = 0u64;
    while iter.peek().is_some() {
        let mut ok = Int64Builder::new();
        let mut pk = Int64Builder::new();
        let mut sk = Int64Builder::new();
        let mut ln = Int32Builder::new();
        let dec = || Decimal128Builder::new().with_precision_and_scale(15, 2);
        let (mut qty, mut price, mut disc, mut tax) = (dec()?, dec()?, dec()?, dec()?);
        let (mut rf, mut ls) = (StringBuilder::new(), StringBuilder::new());
        let (mut sd, mut cd, mut rd) = (
            Date32Builder::new(),
            Date32Builder::new(),
            Date32Builder::new(),
        );
        let (mut si, mut sm, mut cm) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for l in iter.by_ref().take(65536) {
            ok.append_value(l.l_orderkey);
            pk.append_value(l.l_partkey);
            sk.append_value(l.l_suppkey);
            ln.append_value(l.l_linenumber);
            qty.append_value(l.l_quantity as i128 * 100);
            price.append_value(l.l_extendedprice.0 as i128);
            disc.append_value(l.l_discount.0 as i128);
            tax.append_value(l.l_tax.0 as i128);
            rf.append_value(l.l_returnflag);
            ls.append_value(l.l_linestatus);
            sd.append_value(l.l_shipdate.to_unix_epoch());
            cd.append_value(l.l_commitdate.to_unix_epoch());
            rd.append_value(l.l_receiptdate.to_unix_epoch());
            si.append_value(l.l_shipinstruct);
            sm.append_value(l.l_shipmode);
            cm.append_value(l.l_comment);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(ok.finish()),
            Arc::new(pk.finish()),
            Arc::new(sk.finish()),
            Arc::new(ln.finish()),
            Arc::new(qty.finish()),
            Arc::new(price.finish()),
            Arc::new(disc.finish()),
            Arc::new(tax.finish()),
            Arc::new(rf.finish()),
            Arc::new(ls.finish()),
            Arc::new(sd.finish()),
            Arc::new(cd.finish()),
            Arc::new(rd.finish()),
            Arc::new(si.finish()),
            Arc::new(sm.finish()),
            Arc::new(cm.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols)?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(rows)
}

const Q1: &str = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
    sum(l_extendedprice) AS sum_base_price,
    sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
    avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price,
    avg(l_discount) AS avg_disc, count(*) AS count_order
  FROM lineitem WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
  GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus";

const Q6: &str = "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
  WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
    AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24";

async fn bench_import_and_query(dir: &Path, sf: f64) -> Result<()> {
    let src = dir.join("lineitem.parquet");
    let start = Instant::now();
    let rows = write_lineitem(&src, sf)?;
    let size = std::fs::metadata(&src)?.len();
    println!(
        "\ngenerated lineitem SF {sf}: {rows} rows, {:.1} MB in {:.1} s\n",
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let config = LakeConfig::from_uri(dir.join("lake").to_str().unwrap_or("."), None)?;
    let lake = Lake::open(&config).await?;
    // warm the page cache for both
    std::fs::read(&src)?;
    let start = Instant::now();
    std::fs::copy(&src, dir.join("copy.parquet"))?;
    let copy = start.elapsed();
    // read + write through user space, like any program that copies a file
    let start = Instant::now();
    let bytes = std::fs::read(&src)?;
    std::fs::write(dir.join("copy2.parquet"), &bytes)?;
    drop(bytes);
    let rw = start.elapsed();
    let start = Instant::now();
    lake.import_file(&src, "lineitem", "main", ImportMode::Create)
        .await?;
    let import = start.elapsed();
    println!("| operation | time | throughput |\n| --- | --- | --- |");
    println!(
        "| std::fs::copy (copy_file_range, in kernel) | {} | {:.0} MB/s |",
        ms(copy),
        size as f64 / 1e6 / copy.as_secs_f64()
    );
    println!(
        "| read file + write copy (user space) | {} | {:.0} MB/s |",
        ms(rw),
        size as f64 / 1e6 / rw.as_secs_f64()
    );
    println!(
        "| sluice import lineitem.parquet (validate + store + commit) | {} | {:.0} MB/s |",
        ms(import),
        size as f64 / 1e6 / import.as_secs_f64()
    );

    let show = lake.show_table("main", "lineitem").await?;
    let stored = dir.join("lake").join("data").join(&show.files[0].path);
    println!(
        "\n| query | plain DataFusion | sluice query (catalog + ref) | ratio |\n| --- | --- | --- | --- |"
    );
    for (name, sql) in [("TPC-H Q1", Q1), ("TPC-H Q6", Q6)] {
        let (mut plain, mut lakeq) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let start = Instant::now();
            let ctx = SessionContext::new();
            ctx.register_parquet(
                "lineitem",
                stored.to_str().unwrap_or(""),
                ParquetReadOptions::default(),
            )
            .await?;
            let n = ctx.sql(sql).await?.collect().await?;
            plain.push(start.elapsed());
            let start = Instant::now();
            let (_, m) = lake.query(sql, "main").await?;
            lakeq.push(start.elapsed());
            assert_eq!(
                n.iter().map(|b| b.num_rows()).sum::<usize>(),
                m.iter().map(|b| b.num_rows()).sum::<usize>()
            );
        }
        let (p, l) = (median(plain), median(lakeq));
        println!(
            "| {name} | {} | {} | {:.2} |",
            ms(p),
            ms(l),
            l.as_secs_f64() / p.as_secs_f64()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sf: f64 = args.get(1).map_or(Ok(1.0), |s| s.parse())?;
    let large: usize = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let tmp = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into()))?;

    println!("| lake | tables | data | branch create (median of 50) | tag create (median of 50) |");
    println!("| --- | --- | --- | --- | --- |");
    let small = build_lake(&tmp.path().join("small"), 10, 12_500).await?;
    bench_refs(&small, "small").await?;
    let start = Instant::now();
    let big = build_lake(&tmp.path().join("large"), large, 131_072).await?;
    eprintln!(
        "built the large lake in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    bench_refs(&big, "large").await?;

    println!("\n| merge (large lake, median of 10) | time |\n| --- | --- |");
    bench_merge(&big).await?;
    drop(big);
    std::fs::remove_dir_all(tmp.path().join("large"))?;

    println!();
    bench_history(&tmp.path().join("history")).await?;

    bench_import_and_query(tmp.path(), sf).await?;
    Ok(())
}
