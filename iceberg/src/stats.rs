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
use parquet::file::statistics::Statistics;
use sluice_lake::DataFile as LakeFile;
use sluice_lake::DataStore;

use crate::error::{IcebergError, Result};

/// Reads the Parquet footer of a lake data file.
pub async fn read_footer(
    store: &DataStore,
    table: &str,
    file: &LakeFile,
) -> Result<Arc<ParquetMetaData>> {
    use parquet::file::FOOTER_SIZE;
    use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    let fail = |reason: String| IcebergError::Footer {
        table: table.to_string(),
        path: file.path.clone(),
        reason,
    };
    let size = file.bytes;
    let footer = FOOTER_SIZE as u64;
    if size < footer {
        return Err(fail(format!(
            "the file has {size} bytes, too few for Parquet"
        )));
    }
    let tail = store.get_range(&file.path, size - footer..size).await?;
    let tail: [u8; FOOTER_SIZE] = tail[..]
        .try_into()
        .map_err(|_| fail("short read of the footer".into()))?;
    let tail = FooterTail::try_new(&tail).map_err(|e| fail(e.to_string()))?;
    let len = tail.metadata_length() as u64;
    if len + footer > size {
        return Err(fail(format!(
            "its footer claims {len} bytes of a {size}-byte file"
        )));
    }
    let start = size - footer - len;
    let bytes = store.get_range(&file.path, start..size - footer).await?;
    ParquetMetaDataReader::decode_metadata(&bytes)
        .map(Arc::new)
        .map_err(|e| fail(e.to_string()))
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
    let pair = |min: Datum, max: Datum, exact: bool| Some((min, max, exact));
    match (s, ty) {
        (Statistics::Boolean(v), PrimitiveType::Boolean) => pair(
            Datum::bool(*v.min_opt()?),
            Datum::bool(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::Int32(v), PrimitiveType::Int) if !unsigned => pair(
            Datum::int(*v.min_opt()?),
            Datum::int(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::Int32(v), PrimitiveType::Date) => pair(
            Datum::date(*v.min_opt()?),
            Datum::date(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::Int64(v), PrimitiveType::Long) if !unsigned => pair(
            Datum::long(*v.min_opt()?),
            Datum::long(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::Int64(v), PrimitiveType::Timestamp) => match logical {
            Some(LogicalType::Timestamp(t)) if micros(&t.unit) => pair(
                Datum::timestamp_micros(*v.min_opt()?),
                Datum::timestamp_micros(*v.max_opt()?),
                v.max_is_exact(),
            ),
            _ => None,
        },
        (Statistics::Int64(v), PrimitiveType::Timestamptz) => match logical {
            Some(LogicalType::Timestamp(t)) if micros(&t.unit) => pair(
                Datum::timestamptz_micros(*v.min_opt()?),
                Datum::timestamptz_micros(*v.max_opt()?),
                v.max_is_exact(),
            ),
            _ => None,
        },
        (Statistics::Int64(v), PrimitiveType::Time) => match logical {
            Some(LogicalType::Time(t)) if micros(&t.unit) => pair(
                Datum::time_micros(*v.min_opt()?).ok()?,
                Datum::time_micros(*v.max_opt()?).ok()?,
                v.max_is_exact(),
            ),
            _ => None,
        },
        (Statistics::Float(v), PrimitiveType::Float) => pair(
            Datum::float(*v.min_opt()?),
            Datum::float(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::Double(v), PrimitiveType::Double) => pair(
            Datum::double(*v.min_opt()?),
            Datum::double(*v.max_opt()?),
            v.max_is_exact(),
        ),
        (Statistics::ByteArray(v), PrimitiveType::String) => pair(
            Datum::string(std::str::from_utf8(v.min_opt()?.data()).ok()?),
            Datum::string(std::str::from_utf8(v.max_opt()?.data()).ok()?),
            v.max_is_exact(),
        ),
        (Statistics::ByteArray(v), PrimitiveType::Binary) => pair(
            Datum::binary(v.min_opt()?.data().iter().copied()),
            Datum::binary(v.max_opt()?.data().iter().copied()),
            v.max_is_exact(),
        ),
        _ => None,
    }
}
