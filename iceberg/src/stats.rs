//! A lake data file as an Iceberg `DataFile`: its row count and size from the
//! lake's snapshot, its per-column statistics (sizes, value and null counts,
//! lower and upper bounds) from its own Parquet footer, keyed by field id.
//!
//! Statistics are only ever left out, never guessed: a bound is given only for a
//! top-level column whose every row group has one, in a physical type whose order
//! is the Iceberg type's (not unsigned integers, not millisecond timestamps), and
//! an upper bound only when the footer says it is exact (not truncated).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PrimitiveType, Schema, Type,
};
use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::{Statistics, ValueStatistics};
use sluice_lake::DataFile as LakeFile;
use sluice_lake::DataStore;

use crate::error::{IcebergError, Result};

/// Reads the Parquet footer of a lake data file.
pub async fn read_footer(
    store: &DataStore,
    table: &str,
    file: &LakeFile,
) -> Result<Arc<ParquetMetaData>> {
    store
        .parquet_footer(&file.path, file.bytes)
        .await?
        .map(Arc::new)
        .map_err(|reason| IcebergError::Footer {
            table: table.to_string(),
            path: file.path.clone(),
            reason,
        })
}

/// The Iceberg entry of `file` (stored at `location`), with `schema`'s field ids.
pub fn data_file(
    location: String,
    file: &LakeFile,
    footer: &ParquetMetaData,
    schema: &Schema,
) -> Result<DataFile> {
    let mut sizes: HashMap<i32, u64> = HashMap::new();
    let mut values: HashMap<i32, u64> = HashMap::new();
    let mut nulls: HashMap<i32, u64> = HashMap::new();
    let mut lower: HashMap<i32, Datum> = HashMap::new();
    let mut upper: HashMap<i32, Datum> = HashMap::new();
    let top: HashMap<&str, (i32, Option<&PrimitiveType>)> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| {
            let primitive = match &*f.field_type {
                Type::Primitive(p) => Some(p),
                _ => None,
            };
            (f.name.as_str(), (f.id, primitive))
        })
        .collect();
    let descr = footer.file_metadata().schema_descr();
    for (i, column) in descr.columns().iter().enumerate() {
        let parts = column.path().parts();
        let Some(&(id, primitive)) = top.get(parts[0].as_str()) else {
            continue;
        };
        // Nested leaves have no field of their own here: their sizes add up to
        // the top-level column's; counts and bounds are per leaf, so left out.
        let chunks = footer.row_groups().iter().map(|rg| rg.column(i));
        *sizes.entry(id).or_default() += chunks
            .clone()
            .map(|c| u64::try_from(c.compressed_size()).unwrap_or(0))
            .sum::<u64>();
        let (Some(primitive), 1) = (primitive, parts.len()) else {
            continue;
        };
        values.insert(
            id,
            chunks.clone().map(|c| c.num_values().max(0) as u64).sum(),
        );
        let stats: Option<Vec<&Statistics>> = chunks.clone().map(|c| c.statistics()).collect();
        let Some(stats) = stats else { continue };
        if let Some(n) = stats
            .iter()
            .map(|s| s.null_count_opt())
            .sum::<Option<u64>>()
        {
            nulls.insert(id, n);
        }
        let logical = column.logical_type_ref();
        if let Some((lo, hi)) = bounds(&stats, primitive, logical) {
            if let Some(lo) = lo {
                lower.insert(id, lo);
            }
            if let Some(hi) = hi {
                upper.insert(id, hi);
            }
        }
    }
    let split_offsets: Vec<i64> = footer
        .row_groups()
        .iter()
        .filter_map(|rg| rg.file_offset())
        .collect();
    let mut builder = DataFileBuilder::default();
    builder
        .content(DataContentType::Data)
        .file_path(location)
        .file_format(DataFileFormat::Parquet)
        .record_count(file.rows)
        .file_size_in_bytes(file.bytes)
        .column_sizes(sizes)
        .value_counts(values)
        .null_value_counts(nulls)
        .lower_bounds(lower)
        .upper_bounds(upper)
        .partition_spec_id(0);
    if split_offsets.len() == footer.row_groups().len() {
        builder.split_offsets(Some(split_offsets));
    }
    builder
        .build()
        .map_err(|e| IcebergError::Internal(format!("data file entry: {e}")))
}

/// The file's lower and upper bound of one column from its row groups' statistics
/// (`None`: not given).
fn bounds(
    stats: &[&Statistics],
    ty: &PrimitiveType,
    logical: Option<&LogicalType>,
) -> Option<(Option<Datum>, Option<Datum>)> {
    let mut lo: Option<Datum> = None;
    let mut hi: Option<Datum> = None;
    let mut hi_exact = true;
    for s in stats {
        let (min, max, exact) = datums(s, ty, logical)?;
        hi_exact &= exact;
        lo = Some(match lo {
            Some(l) if l <= min => l,
            _ => min,
        });
        hi = Some(match hi {
            Some(h) if h >= max => h,
            _ => max,
        });
    }
    Some((lo, hi.filter(|_| hi_exact)))
}

/// One row group's (min, max, max is exact) of `v`, each converted by `to`.
fn pair<T>(
    v: &ValueStatistics<T>,
    to: impl Fn(&T) -> Option<Datum>,
) -> Option<(Datum, Datum, bool)> {
    Some((to(v.min_opt()?)?, to(v.max_opt()?)?, v.max_is_exact()))
}

/// One row group's (min, max, max is exact) as Iceberg values of type `ty`.
fn datums(
    s: &Statistics,
    ty: &PrimitiveType,
    logical: Option<&LogicalType>,
) -> Option<(Datum, Datum, bool)> {
    let micros = |unit: &TimeUnit| matches!(unit, TimeUnit::MICROS);
    let unsigned = matches!(
        logical,
        Some(LogicalType::Integer(t)) if !t.is_signed
    );
    match (s, ty) {
        (Statistics::Boolean(v), PrimitiveType::Boolean) => pair(v, |x| Some(Datum::bool(*x))),
        (Statistics::Int32(v), PrimitiveType::Int) if !unsigned => {
            pair(v, |x| Some(Datum::int(*x)))
        }
        (Statistics::Int32(v), PrimitiveType::Date) => pair(v, |x| Some(Datum::date(*x))),
        (Statistics::Int64(v), PrimitiveType::Long) if !unsigned => {
            pair(v, |x| Some(Datum::long(*x)))
        }
        (Statistics::Int64(v), PrimitiveType::Timestamp) => match logical {
            Some(LogicalType::Timestamp(t)) if micros(&t.unit) => {
                pair(v, |x| Some(Datum::timestamp_micros(*x)))
            }
            _ => None,
        },
        (Statistics::Int64(v), PrimitiveType::Timestamptz) => match logical {
            Some(LogicalType::Timestamp(t)) if micros(&t.unit) => {
                pair(v, |x| Some(Datum::timestamptz_micros(*x)))
            }
            _ => None,
        },
        (Statistics::Int64(v), PrimitiveType::Time) => match logical {
            Some(LogicalType::Time(t)) if micros(&t.unit) => {
                pair(v, |x| Datum::time_micros(*x).ok())
            }
            _ => None,
        },
        (Statistics::Float(v), PrimitiveType::Float) => pair(v, |x| Some(Datum::float(*x))),
        (Statistics::Double(v), PrimitiveType::Double) => pair(v, |x| Some(Datum::double(*x))),
        (Statistics::ByteArray(v), PrimitiveType::String) => {
            pair(v, |x| std::str::from_utf8(x.data()).ok().map(Datum::string))
        }
        (Statistics::ByteArray(v), PrimitiveType::Binary) => {
            pair(v, |x| Some(Datum::binary(x.data().iter().copied())))
        }
        _ => None,
    }
}
