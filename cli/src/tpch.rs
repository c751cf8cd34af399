//! `sluice tpchgen`: TPC-H source tables generated straight into the lake with the
//! `tpchgen` crates, all in one commit.
//!
//! Each table is cut into parts (the generators are deterministic per part), the
//! parts are generated and encoded to Parquet in parallel on blocking threads, and
//! the staged files of every table are committed together: a reader sees all eight
//! tables or none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::Serialize;
use sluice_lake::{Commit, CommitRequest, Lake, LakeError, StagedTable, TableChange};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// The eight TPC-H tables, in the order they are reported.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// Rows per part by default: small enough that large tables split across every
/// core, large enough that each part is one well-sized Parquet file.
pub const DEFAULT_PART_ROWS: u64 = 1_000_000;

/// Approximate rows of a table at scale factor 1 (region and nation are fixed).
fn rows_at_sf1(table: &str) -> f64 {
    match table {
        "lineitem" => 6_001_215.0,
        "orders" => 1_500_000.0,
        "partsupp" => 800_000.0,
        "part" => 200_000.0,
        "customer" => 150_000.0,
        "supplier" => 10_000.0,
        _ => 0.0,
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct TpchOptions {
    pub scale: f64,
    pub branch: String,
    pub tables: Vec<String>,
    /// Parts generated at once.
    pub jobs: usize,
    /// Rows per part (each part is generated independently and becomes its own
    /// data files).
    pub part_rows: u64,
    /// Replace tables that exist on the branch instead of refusing.
    pub replace: bool,
}

/// One generated table.
#[derive(Clone, Debug, Serialize)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
}

/// The result of a generation: one commit with every table.
#[derive(Debug)]
pub struct TpchReport {
    pub commit: Commit,
    pub tables: Vec<TableReport>,
    pub elapsed: Duration,
}

/// Checks the options before anything is written.
pub fn validate(opts: &TpchOptions) -> Result<(), String> {
    if !(opts.scale.is_finite() && opts.scale > 0.0 && opts.scale <= 1000.0) {
        return Err(format!(
            "--scale must be a number above 0 and at most 1000, not {}",
            opts.scale
        ));
    }
    if let Some(bad) = opts.tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
        return Err(format!(
            "unknown TPC-H table `{bad}` (the tables are {})",
            TABLES.join(", ")
        ));
    }
    if opts.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    if opts.part_rows == 0 {
        return Err("--part-rows must be at least 1".into());
    }
    Ok(())
}

/// Generates the tables and commits them to the branch in one commit.
pub async fn generate(lake: &Lake, opts: &TpchOptions) -> Result<TpchReport, LakeError> {
    let started = Instant::now();
    let tables: Vec<&str> = if opts.tables.is_empty() {
        TABLES.to_vec()
    } else {
        TABLES
            .into_iter()
            .filter(|t| opts.tables.iter().any(|w| w == t))
            .collect()
    };
    // Check the target before generating: a wrong branch or an existing table
    // writes nothing.
    let head = lake.branch_head(&opts.branch).await?;
    if !opts.replace
        && let Some(t) = tables.iter().find(|t| head.tables().contains_key(**t))
    {
        return Err(LakeError::TableExists {
            table: (*t).to_string(),
            branch: opts.branch.clone(),
        });
    }

    let mut jobs = Vec::new();
    for table in &tables {
        let parts = (rows_at_sf1(table) * opts.scale / opts.part_rows as f64)
            .ceil()
            .clamp(1.0, f64::from(i32::MAX)) as i32;
        jobs.extend((1..=parts).map(|part| (*table, part, parts)));
    }
    // Largest first, so the long parts do not end up last on one core.
    jobs.sort_by(|a, b| {
        (rows_at_sf1(b.0) / f64::from(b.2)).total_cmp(&(rows_at_sf1(a.0) / f64::from(a.2)))
    });

    let semaphore = Arc::new(tokio::sync::Semaphore::new(opts.jobs));
    let mut set = tokio::task::JoinSet::new();
    for (table, part, parts) in jobs {
        let permit = semaphore.clone();
        let lake = lake.clone();
        let scale = opts.scale;
        set.spawn(async move {
            let _permit = permit.acquire_owned().await;
            let handle = tokio::runtime::Handle::current();
            // Generating and encoding is CPU work: a blocking thread each.
            let staged = tokio::task::spawn_blocking(move || {
                handle
                    .block_on(write_part(&lake, table, scale, part, parts))
                    .map_err(Box::new)
            })
            .await
            .map_err(|e| LakeError::Corrupt(format!("a generator thread failed: {e}")))?
            .map_err(|e| *e)?;
            Ok::<_, LakeError>((table, part, staged))
        });
    }
    let mut parts: BTreeMap<&str, Vec<(i32, StagedTable)>> = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        let (table, part, staged) =
            done.map_err(|e| LakeError::Corrupt(format!("a generator task failed: {e}")))??;
        parts.entry(table).or_default().push((part, staged));
    }

    let mut request = CommitRequest::new(
        &opts.branch,
        &format!("tpchgen: TPC-H scale factor {}", opts.scale),
    );
    request
        .properties
        .insert("tpch_scale_factor".into(), opts.scale.to_string());
    let mut reports = Vec::new();
    for table in &tables {
        let mut table_parts = parts.remove(table).unwrap_or_default();
        table_parts.sort_by_key(|(part, _)| *part);
        let mut staged = table_parts.into_iter().map(|(_, s)| s);
        let mut whole = staged.next().ok_or_else(|| {
            LakeError::Corrupt(format!("no data was generated for table `{table}`"))
        })?;
        for more in staged {
            whole.files.extend(more.files);
            whole.rows += more.rows;
            for (total, n) in whole.null_counts.iter_mut().zip(more.null_counts) {
                *total += n;
            }
        }
        reports.push(TableReport {
            table: (*table).to_string(),
            rows: whole.rows,
            bytes: whole.bytes(),
            files: whole.files.len(),
        });
        let change = if opts.replace {
            TableChange::Replace(whole)
        } else {
            TableChange::Create(whole)
        };
        request = request.change(table, change);
    }
    let commit = lake.commit(request).await?;
    Ok(TpchReport {
        commit,
        tables: reports,
        elapsed: started.elapsed(),
    })
}

/// Generates one part of one table into new Parquet files (not yet committed).
async fn write_part(
    lake: &Lake,
    table: &'static str,
    scale: f64,
    part: i32,
    parts: i32,
) -> Result<StagedTable, LakeError> {
    type Batches = Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + Send>;
    let (generated, batches): (SchemaRef, Batches) = match table {
        "region" => (
            RegionArrow::schema_ref(),
            Box::new(RegionArrow::new(RegionGenerator::new(scale, part, parts))),
        ),
        "nation" => (
            NationArrow::schema_ref(),
            Box::new(NationArrow::new(NationGenerator::new(scale, part, parts))),
        ),
        "supplier" => (
            SupplierArrow::schema_ref(),
            Box::new(SupplierArrow::new(SupplierGenerator::new(
                scale, part, parts,
            ))),
        ),
        "customer" => (
            CustomerArrow::schema_ref(),
            Box::new(CustomerArrow::new(CustomerGenerator::new(
                scale, part, parts,
            ))),
        ),
        "part" => (
            PartArrow::schema_ref(),
            Box::new(PartArrow::new(PartGenerator::new(scale, part, parts))),
        ),
        "partsupp" => (
            PartSuppArrow::schema_ref(),
            Box::new(PartSuppArrow::new(PartSuppGenerator::new(
                scale, part, parts,
            ))),
        ),
        "orders" => (
            OrderArrow::schema_ref(),
            Box::new(OrderArrow::new(OrderGenerator::new(scale, part, parts))),
        ),
        _ => (
            LineItemArrow::schema_ref(),
            Box::new(LineItemArrow::new(LineItemGenerator::new(
                scale, part, parts,
            ))),
        ),
    };
    let arrow_err = |e: arrow::error::ArrowError| LakeError::Arrow {
        table: table.to_string(),
        reason: e.to_string(),
    };
    // The generators produce `Utf8View` strings; the lake's tables (and the
    // contracts of `str` columns) use `Utf8`.
    let schema = Arc::new(sluice_lake::without_view_types(&generated));
    let mut writer = lake.table_writer(table, &schema)?;
    for batch in batches {
        let batch =
            sluice_lake::cast_batch(&batch.map_err(arrow_err)?, &schema).map_err(arrow_err)?;
        writer.write(&batch).await?;
    }
    writer.finish().await
}
