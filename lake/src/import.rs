//! Reading user files (Parquet, CSV, JSON Lines) into Arrow, validating them
//! completely before anything is written to the lake.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, TimestampNanosecondArray};
use arrow::csv::reader::Format;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{LakeError, Result};
use crate::store::strip_metadata;

/// A decoded input file.
pub enum Decoded {
    /// A valid Parquet file, to be stored unchanged (no re-encoding), streamed
    /// from `path`.
    Parquet {
        path: std::path::PathBuf,
        /// The file's size when it was validated.
        len: u64,
        /// The file as it was validated (checked again after it is stored).
        stamp: FileStamp,
        /// Its footer (metadata, its length and the magic), to check that the
        /// stored copy is the file that was validated.
        footer: Bytes,
        schema: Schema,
        rows: u64,
        null_counts: Vec<u64>,
    },
    /// Rows to encode as Parquet.
    Batches {
        schema: Schema,
        batches: Vec<RecordBatch>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    JsonLines,
}

impl FileFormat {
    pub fn from_path(path: &Path) -> Result<FileFormat> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(FileFormat::JsonLines),
            _ => Err(LakeError::UnsupportedFormat(path.to_path_buf())),
        }
    }
    fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "Parquet",
            FileFormat::Csv => "CSV",
            FileFormat::JsonLines => "JSON Lines",
        }
    }
}

/// What identifies one version of an input file: if any of it differs after
/// the file was read, the file changed while it was being imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

fn input_error(path: &Path, e: impl std::fmt::Display) -> LakeError {
    LakeError::Input {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Opens an input file for reading, refusing anything but a regular file. The
/// open does not block (`O_NONBLOCK`), so a FIFO is refused at once instead of
/// waiting for a writer; the type is checked on the opened descriptor.
fn open(path: &Path) -> Result<(File, FileStamp)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| input_error(path, e))?;
    let meta = file.metadata().map_err(|e| input_error(path, e))?;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(input_error(
            path,
            format!("it is {what}; only regular files can be imported"),
        ));
    }
    // Reads of a regular file never block; clear the flag anyway.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())
        .map_err(|e| input_error(path, e))?;
    Ok((file, FileStamp::of(&meta)))
}

/// Fails if `path` is no longer the file `stamp` describes (rewritten,
/// truncated, appended to or replaced).
pub fn check_unchanged(path: &Path, stamp: &FileStamp) -> Result<()> {
    let now = std::fs::metadata(path).map_err(|e| input_error(path, e))?;
    if FileStamp::of(&now) != *stamp {
        return Err(LakeError::Input {
            path: path.to_path_buf(),
            reason: "the file changed while it was being imported; nothing was imported".into(),
        });
    }
    Ok(())
}

/// The footer of a Parquet file of `len` bytes: its metadata, the metadata's
/// length and the closing magic `PAR1`.
fn read_footer(file: &mut File, len: u64) -> std::result::Result<Bytes, String> {
    use std::io::Read;
    if len < 12 {
        return Err(format!("{len} bytes is too short for a Parquet file"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    if &tail[4..] != b"PAR1" {
        return Err("it does not end with the Parquet magic `PAR1`".into());
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let footer_len = meta_len + 8;
    if footer_len + 4 > len {
        return Err(format!(
            "its footer claims {meta_len} bytes of metadata in a {len}-byte file"
        ));
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.seek(SeekFrom::End(-(footer_len as i64)))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| e.to_string())?;
    Ok(Bytes::from(footer))
}

/// Reads and fully validates `path`, inferring its schema.
pub fn read_file(path: &Path) -> Result<Decoded> {
    read_file_as(path, None)
}

/// Reads and fully validates `path`. With a `contract`, the columns it names are
/// read as its types (CSV and JSON text parsed straight into them, Parquet cast
/// without loss of a value) and must hold no nulls where it says non-null; other
/// columns keep their inferred types.
pub fn read_file_as(path: &Path, contract: Option<&Schema>) -> Result<Decoded> {
    read_file_checked(path, contract, || {})
}

/// [`read_file_as`], calling `after_read` once the file has been read and
/// before it is checked for changes (a test seam for a concurrent writer).
/// A file changed while it was read is an error.
#[doc(hidden)]
pub fn read_file_checked(
    path: &Path,
    contract: Option<&Schema>,
    after_read: impl FnOnce(),
) -> Result<Decoded> {
    let (decoded, stamp) = read_inferred(path, contract)?;
    let decoded = match contract {
        Some(contract) => conform(path, decoded, contract)?,
        None => decoded,
    };
    after_read();
    check_unchanged(path, &stamp)?;
    Ok(decoded)
}

fn read_inferred(path: &Path, contract: Option<&Schema>) -> Result<(Decoded, FileStamp)> {
    let format = FileFormat::from_path(path)?;
    let (file, stamp) = open(path)?;
    let malformed = |reason: String| LakeError::MalformedInput {
        path: path.to_path_buf(),
        format: format.name(),
        reason,
    };
    match format {
        FileFormat::Parquet => {
            // Only the footer is read here (and the data only when the footer
            // lacks statistics): the file is then streamed into the store.
            let input = |e: std::io::Error| LakeError::Input {
                path: path.to_path_buf(),
                reason: e.to_string(),
            };
            let mut file = file;
            let len = file.metadata().map_err(input)?.len();
            let footer = read_footer(&mut file, len).map_err(&malformed)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| malformed(e.to_string()))?;
            let schema = strip_metadata(builder.schema());
            if schema.fields().is_empty() {
                return Err(malformed("the file has no columns".into()));
            }
            let (rows, null_counts) = match footer_stats(builder.metadata(), &schema) {
                // Fast path: the footer has row counts and per-column null counts.
                Some(stats) => stats,
                None => {
                    let reader = builder.build().map_err(|e| malformed(e.to_string()))?;
                    let mut rows = 0u64;
                    let mut null_counts = vec![0u64; schema.fields().len()];
                    for batch in reader {
                        let batch = batch.map_err(|e| malformed(e.to_string()))?;
                        rows += batch.num_rows() as u64;
                        for (i, c) in batch.columns().iter().enumerate() {
                            null_counts[i] += c.logical_null_count() as u64;
                        }
                    }
                    (rows, null_counts)
                }
            };
            Ok((
                Decoded::Parquet {
                    path: path.to_path_buf(),
                    len,
                    stamp,
                    footer,
                    schema,
                    rows,
                    null_counts,
                },
                stamp,
            ))
        }
        FileFormat::Csv => {
            let mut file = file;
            let fmt = Format::default().with_header(true);
            let (schema, _) = fmt
                .infer_schema(&mut file, None)
                .map_err(|e| malformed(e.to_string()))?;
            if schema.fields().is_empty() {
                return Err(malformed("the file is empty (no header line)".into()));
            }
            check_column_names(path, format, &schema)?;
            let schema = csv_lake_types(&schema);
            let schema = with_contract_types(path, format, &schema, contract)?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| LakeError::Input {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            let schema = Arc::new(schema);
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_format(fmt)
                .build(file)
                .map_err(|e| malformed(e.to_string()))?;
            let batches = reader
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| malformed(e.to_string()))?;
            let (schema, batches) =
                timestamps_as_micros(&schema, batches, contract).map_err(malformed)?;
            Ok((
                Decoded::Batches {
                    schema: schema.as_ref().clone(),
                    batches,
                },
                stamp,
            ))
        }
        FileFormat::JsonLines => {
            let mut reader = BufReader::new(file);
            let (schema, _) =
                arrow::json::reader::infer_json_schema_from_seekable(&mut reader, None)
                    .map_err(|e| malformed(e.to_string()))?;
            if schema.fields().is_empty() {
                return Err(malformed("no JSON objects with fields found".into()));
            }
            check_column_names(path, format, &schema)?;
            let schema = with_contract_types(path, format, &schema, contract)?;
            reader
                .seek(SeekFrom::Start(0))
                .map_err(|e| LakeError::Input {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            let schema = Arc::new(schema);
            let json = arrow::json::ReaderBuilder::new(schema.clone())
                .build(reader)
                .map_err(|e| malformed(e.to_string()))?;
            let batches = json
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| malformed(e.to_string()))?;
            Ok((
                Decoded::Batches {
                    schema: schema.as_ref().clone(),
                    batches,
                },
                stamp,
            ))
        }
    }
}

/// The lake's types for what CSV inference found: a column without a single value
/// (a header-only file, or a column empty on every line) is `Utf8`, not `Null` (a
/// `Null` column could never take a value later). Timestamps are read in the unit
/// the file's digits need and brought to microseconds afterwards
/// ([`timestamps_as_micros`]).
fn csv_lake_types(inferred: &Schema) -> Schema {
    Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Null => Field::new(f.name(), DataType::Utf8, true),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// Every timestamp column of a CSV file that the contract does not type, as
/// `Timestamp(µs)` (same time zone): the lake's one timestamp unit, which
/// `datetime` columns of schemas mean. Seconds and milliseconds convert exactly;
/// nanoseconds only when every value is a whole microsecond, else the file is
/// refused naming the column (declare it `Timestamp(ns)` with `--contract`).
fn timestamps_as_micros(
    schema: &Arc<Schema>,
    batches: Vec<RecordBatch>,
    contract: Option<&Schema>,
) -> std::result::Result<(Arc<Schema>, Vec<RecordBatch>), String> {
    let converts = |f: &Field| {
        matches!(f.data_type(), DataType::Timestamp(unit, _) if *unit != TimeUnit::Microsecond)
            && contract.is_none_or(|c| c.field_with_name(f.name()).is_err())
    };
    if !schema.fields().iter().any(|f| converts(f)) {
        return Ok((schema.clone(), batches));
    }
    let target = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(_, tz) if converts(f) => Field::new(
                    f.name(),
                    DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    f.is_nullable(),
                ),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let mut out = Vec::with_capacity(batches.len());
    for batch in &batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            let column = batch.column(i);
            if !converts(field) {
                columns.push(column.clone());
                continue;
            }
            if let Some(nanos) = column.as_any().downcast_ref::<TimestampNanosecondArray>()
                && let Some(v) = nanos.iter().flatten().find(|v| v % 1_000 != 0)
            {
                return Err(format!(
                    "column `{}` has a timestamp with nanoseconds ({v} ns since the epoch); the lake stores \
                     timestamps in microseconds: declare the column `Timestamp(ns)` in the table's \
                     `Source(...)` schema and import with `--contract DIR`",
                    field.name()
                ));
            }
            let converted = arrow::compute::cast(column, target.field(i).data_type())
                .map_err(|e| format!("column `{}`: {e}", field.name()))?;
            columns.push(converted);
        }
        out.push(RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())?);
    }
    Ok((target, out))
}

/// The inferred schema of a text file with the contract's columns typed as the
/// contract says (all nullable while parsing: nulls are counted afterwards).
fn with_contract_types(
    path: &Path,
    format: FileFormat,
    inferred: &Schema,
    contract: Option<&Schema>,
) -> Result<Schema> {
    let Some(contract) = contract else {
        return Ok(inferred.clone());
    };
    missing_columns(path, format, inferred, contract)?;
    Ok(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| match contract.field_with_name(f.name()) {
                Ok(c) => arrow_schema::Field::new(f.name(), c.data_type().clone(), true),
                Err(_) => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

fn missing_columns(
    path: &Path,
    format: FileFormat,
    found: &Schema,
    contract: &Schema,
) -> Result<()> {
    let missing: Vec<&str> = contract
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| found.field_with_name(n).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let has: Vec<&str> = found.fields().iter().map(|f| f.name().as_str()).collect();
    Err(LakeError::MalformedInput {
        path: path.to_path_buf(),
        format: format.name(),
        reason: format!(
            "the contract's column(s) `{}` are missing (the file has `{}`)",
            missing.join("`, `"),
            has.join("`, `")
        ),
    })
}

/// Brings decoded data to the contract: its columns cast to its types where they
/// differ (an error, never a silent null, when a value does not fit), its
/// non-null columns checked, its nullability recorded in the schema.
fn conform(path: &Path, decoded: Decoded, contract: &Schema) -> Result<Decoded> {
    let format = FileFormat::from_path(path)?;
    let malformed = |reason: String| LakeError::MalformedInput {
        path: path.to_path_buf(),
        format: format.name(),
        reason,
    };
    let (schema, batches) = match decoded {
        Decoded::Parquet {
            path: ref src,
            ref schema,
            ref null_counts,
            ..
        } => {
            missing_columns(path, format, schema, contract)?;
            let same_types = contract.fields().iter().all(|c| {
                schema
                    .field_with_name(c.name())
                    .is_ok_and(|f| f.data_type() == c.data_type())
            });
            if same_types {
                // Stored as is: only nullability to check, from the counts.
                let mut fields = Vec::new();
                for (i, f) in schema.fields().iter().enumerate() {
                    let declared = contract.field_with_name(f.name()).ok();
                    let nullable = declared.is_none_or(|c| c.is_nullable());
                    if !nullable && null_counts[i] > 0 {
                        return Err(null_error(path, format, f.name(), null_counts[i]));
                    }
                    fields.push(f.as_ref().clone().with_nullable(nullable));
                }
                let mut decoded = decoded;
                if let Decoded::Parquet { schema, .. } = &mut decoded {
                    *schema = Schema::new(fields);
                }
                return Ok(decoded);
            }
            let (file, _) = open(src)?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.build())
                .map_err(|e| malformed(e.to_string()))?;
            let batches = reader
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| malformed(e.to_string()))?;
            (schema.clone(), batches)
        }
        Decoded::Batches { schema, batches } => {
            missing_columns(path, format, &schema, contract)?;
            (schema, batches)
        }
    };
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| match contract.field_with_name(f.name()) {
            Ok(c) => arrow_schema::Field::new(f.name(), c.data_type().clone(), c.is_nullable()),
            Err(_) => f.as_ref().clone(),
        })
        .collect();
    let target = Arc::new(Schema::new(fields));
    let options = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut nulls = vec![0u64; target.fields().len()];
    let mut cast = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (i, (column, field)) in batch.columns().iter().zip(target.fields()).enumerate() {
            let column = if column.data_type() == field.data_type() {
                column.clone()
            } else {
                arrow::compute::cast_with_options(column, field.data_type(), &options).map_err(
                    |e| {
                        malformed(format!(
                            "column `{}` does not fit the contract's {}: {e}",
                            field.name(),
                            field.data_type()
                        ))
                    },
                )?
            };
            nulls[i] += column.logical_null_count() as u64;
            columns.push(column);
        }
        cast.push(columns);
    }
    if let Some((i, f)) = target
        .fields()
        .iter()
        .enumerate()
        .find(|(i, f)| !f.is_nullable() && nulls[*i] > 0)
    {
        return Err(null_error(path, format, f.name(), nulls[i]));
    }
    let out = cast
        .into_iter()
        .map(|columns| RecordBatch::try_new(target.clone(), columns))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| malformed(e.to_string()))?;
    Ok(Decoded::Batches {
        schema: target.as_ref().clone(),
        batches: out,
    })
}

fn null_error(path: &Path, format: FileFormat, column: &str, nulls: u64) -> LakeError {
    LakeError::MalformedInput {
        path: path.to_path_buf(),
        format: format.name(),
        reason: format!("column `{column}` is declared non-null but {nulls} row(s) are null"),
    }
}

/// Row count and per-column null counts from the Parquet footer, when the
/// schema is flat and every column chunk records its null count.
fn footer_stats(
    meta: &parquet::file::metadata::ParquetMetaData,
    schema: &Schema,
) -> Option<(u64, Vec<u64>)> {
    let descr = meta.file_metadata().schema_descr();
    if descr.num_columns() != schema.fields().len() {
        return None;
    }
    for (i, f) in schema.fields().iter().enumerate() {
        let col = descr.column(i);
        if col.path().parts().len() != 1 || col.name() != f.name() {
            return None;
        }
    }
    let mut rows = 0u64;
    let mut nulls = vec![0u64; schema.fields().len()];
    for rg in meta.row_groups() {
        rows += u64::try_from(rg.num_rows()).ok()?;
        for (i, c) in rg.columns().iter().enumerate() {
            nulls[i] += c.statistics()?.null_count_opt()?;
        }
    }
    Some((rows, nulls))
}

fn check_column_names(path: &Path, format: FileFormat, schema: &Schema) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        if f.name().is_empty() {
            return Err(LakeError::MalformedInput {
                path: path.to_path_buf(),
                format: format.name(),
                reason: "a column has an empty name".into(),
            });
        }
        if !seen.insert(f.name().as_str()) {
            return Err(LakeError::MalformedInput {
                path: path.to_path_buf(),
                format: format.name(),
                reason: format!("column `{}` appears twice", f.name()),
            });
        }
    }
    Ok(())
}
