//! Immutable data files in an object store (a local folder or S3).
//!
//! Files are written once under a fresh UUID name and never modified; the
//! only deletion is garbage collection of files no snapshot references.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use crate::error::{LakeError, Result};
use crate::model::DataFile;

/// Where the lake's data files live.
#[derive(Clone)]
pub struct DataStore {
    store: Arc<dyn ObjectStore>,
    uri: String,
    /// The folder of a local store (files are copied into it in the kernel).
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for DataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStore").field("uri", &self.uri).finish()
    }
}

impl DataStore {
    /// Opens a data store from a URI: `s3://bucket/prefix` (configured from
    /// the usual `AWS_*` environment variables), `file:///abs/path`, or a
    /// plain path (relative paths are resolved against `base_dir`).
    pub fn open(uri: &str, base_dir: &Path) -> Result<DataStore> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LakeError::Config(format!("data URI `{uri}` has no bucket")));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| LakeError::Config(format!("S3 data store `{uri}`: {e}")))?;
            let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(Prefixed::new(s3, prefix.trim_matches('/')))
            };
            return Ok(DataStore {
                store,
                uri: uri.to_string(),
                local_root: None,
            });
        }
        if uri.contains("://") && !uri.starts_with("file://") {
            return Err(LakeError::Config(format!(
                "unsupported data URI `{uri}`: use a path, file:///path or s3://bucket/prefix"
            )));
        }
        let path = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        let dir = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        };
        std::fs::create_dir_all(&dir).map_err(|source| LakeError::Io {
            path: dir.clone(),
            source,
        })?;
        let local = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| LakeError::Config(format!("data folder {}: {e}", dir.display())))?;
        Ok(DataStore {
            store: Arc::new(local),
            uri: dir.display().to_string(),
            local_root: Some(dir),
        })
    }

    /// Whether the data lives in a local folder.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The data root as a URL another process can open, ending in `/`:
    /// `file:///abs/dir/` for a local folder (readable on this machine),
    /// `s3://bucket/prefix/` for S3 (readable wherever the `AWS_*`
    /// environment reaches the bucket). A file `path` of the lake is this URL
    /// joined with `path`.
    pub fn root_url(&self) -> Result<url::Url> {
        let bad = |e: &dyn std::fmt::Display| {
            LakeError::Config(format!("data store `{}` as a URL: {e}", self.uri))
        };
        match &self.local_root {
            Some(dir) => {
                url::Url::from_directory_path(dir).map_err(|()| bad(&"not an absolute folder path"))
            }
            None => {
                let trimmed = self.uri.trim_end_matches('/');
                url::Url::parse(&format!("{trimmed}/")).map_err(|e| bad(&e))
            }
        }
    }

    /// The underlying object store (paths are relative to the data root).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let p = ObjPath::from(path);
        self.store
            .put(&p, PutPayload::from_bytes(bytes))
            .await
            .map_err(|source| LakeError::Storage {
                path: path.to_string(),
                source,
            })?;
        Ok(())
    }

    /// Stores the file `src` as `path` without holding it in memory: copied in
    /// the kernel (`copy_file_range`) into a local store, streamed as a
    /// multipart upload to any other. As with [`DataStore::put`], the object
    /// appears whole or not at all (a local copy is renamed into place).
    /// Returns the bytes stored.
    pub async fn put_file(&self, path: &str, src: &Path) -> Result<u64> {
        let io = |at: &Path, source: std::io::Error| LakeError::Io {
            path: at.to_path_buf(),
            source,
        };
        if let Some(root) = &self.local_root {
            let dest = root.join(path);
            let partial = dest.with_extension("parquet.partial");
            let src = src.to_path_buf();
            return tokio::task::spawn_blocking(move || {
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                }
                // An interrupted copy leaves a `.partial` file under tables/,
                // which gc removes after its grace period like any orphan.
                let n = std::fs::copy(&src, &partial).map_err(|e| io(&src, e))?;
                std::fs::rename(&partial, &dest).map_err(|e| io(&dest, e))?;
                Ok(n)
            })
            .await
            .map_err(|e| LakeError::Corrupt(format!("copying {path} failed: {e}")))?;
        }
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::open(src).await.map_err(|e| io(src, e))?;
        let mut upload =
            object_store::buffered::BufWriter::new(self.store.clone(), ObjPath::from(path));
        let copied = tokio::io::copy(&mut file, &mut upload).await;
        let n = match copied {
            Ok(n) => n,
            Err(e) => {
                let _ = upload.abort().await;
                return Err(io(src, e));
            }
        };
        upload.shutdown().await.map_err(|e| LakeError::Storage {
            path: path.to_string(),
            source: object_store::Error::Generic {
                store: "data",
                source: Box::new(e),
            },
        })?;
        Ok(n)
    }

    /// The bytes `range` of a stored file.
    pub async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&ObjPath::from(path), range)
            .await
            .map_err(|source| LakeError::Storage {
                path: path.to_string(),
                source,
            })
    }

    /// The Parquet metadata (footer) of the stored file `path` of `len` bytes, read
    /// with two ranged reads; `Err(reason)` when the file does not read as Parquet.
    pub async fn parquet_footer(
        &self,
        path: &str,
        len: u64,
    ) -> Result<std::result::Result<ParquetMetaData, String>> {
        if len < 12 {
            return Ok(Err(format!("{len} bytes is too short for a Parquet file")));
        }
        let tail = self.get_range(path, len - 8..len).await?;
        if &tail[4..] != b"PAR1" {
            return Ok(Err("it does not end with the Parquet magic `PAR1`".into()));
        }
        let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        if meta_len + 12 > len {
            return Ok(Err(format!(
                "its footer claims {meta_len} bytes of metadata in a {len}-byte file"
            )));
        }
        let meta = self.get_range(path, len - 8 - meta_len..len - 8).await?;
        Ok(ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| e.to_string()))
    }

    pub async fn get(&self, path: &str) -> Result<Bytes> {
        let p = ObjPath::from(path);
        let res = self
            .store
            .get(&p)
            .await
            .map_err(|source| LakeError::Storage {
                path: path.to_string(),
                source,
            })?;
        res.bytes().await.map_err(|source| LakeError::Storage {
            path: path.to_string(),
            source,
        })
    }

    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.store.head(&ObjPath::from(path)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(LakeError::Storage {
                path: path.to_string(),
                source,
            }),
        }
    }

    /// The size of a stored file, `None` if it does not exist.
    pub async fn size(&self, path: &str) -> Result<Option<u64>> {
        match self.store.head(&ObjPath::from(path)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(LakeError::Storage {
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Every data file under `tables/`.
    pub async fn list_data_files(&self) -> Result<Vec<ObjectMeta>> {
        let prefix = ObjPath::from("tables");
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| LakeError::Storage {
                path: "tables/".into(),
                source,
            })
    }

    /// Temporary files of interrupted writes in a local store, with their
    /// modification times: object_store's upload names (`<file>#<n>`, which
    /// its listings hide) and [`DataStore::put_file`]'s `<file>.partial`.
    /// Paths are relative to the data root. An S3 store has none (an
    /// interrupted multipart upload leaves no object).
    pub fn list_temporary_files(&self) -> Result<Vec<(String, std::time::SystemTime)>> {
        let Some(root) = &self.local_root else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut dirs = vec![root.join("tables")];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(LakeError::Io { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| LakeError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = entry.path();
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    // Renamed into place (or removed) by a concurrent write since the
                    // folder was read: not a temporary file any more.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(LakeError::Io { path, source }),
                };
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Some(rel) = path.strip_prefix(root).ok().and_then(|p| p.to_str()) else {
                    continue;
                };
                if temporary_target(rel).is_some() {
                    let modified = meta.modified().map_err(|source| LakeError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    out.push((rel.replace(std::path::MAIN_SEPARATOR, "/"), modified));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes a temporary file of [`DataStore::list_temporary_files`].
    pub fn delete_temporary_file(&self, rel: &str) -> Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LakeError::Io { path, source }),
        }
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&ObjPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(LakeError::Storage {
                path: path.to_string(),
                source,
            }),
        }
    }
}

/// A [`PrefixStore`] whose `get`/`head` results carry paths relative to the
/// prefix, like its listings do. object_store 0.13's `PrefixStore::get_opts`
/// (hence `head`) returns the location *with* the prefix
/// (apache/arrow-rs-object-store#664, fixed in 0.14); DataFusion `head`s each
/// file of a query and keeps it only if that location matches the file's URL,
/// so over `s3://bucket/prefix` every table read as empty.
#[derive(Debug)]
struct Prefixed<T: ObjectStore> {
    inner: PrefixStore<T>,
    prefix: ObjPath,
}

impl<T: ObjectStore> Prefixed<T> {
    fn new(store: T, prefix: &str) -> Prefixed<T> {
        Prefixed {
            inner: PrefixStore::new(store, prefix),
            prefix: ObjPath::from(prefix),
        }
    }
}

impl<T: ObjectStore> std::fmt::Display for Prefixed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait::async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore> ObjectStore for Prefixed<T> {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let mut result = self.inner.get_opts(location, options).await?;
        let relative: Option<ObjPath> = result
            .meta
            .location
            .prefix_match(&self.prefix)
            .map(|rest| rest.collect());
        if let Some(relative) = relative {
            result.meta.location = relative;
        }
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The data file a temporary file is being written as: `x.parquet` for
/// `x.parquet#3` or `x.parquet.partial`; `None` for any other name.
pub fn temporary_target(path: &str) -> Option<&str> {
    if let Some(base) = path.strip_suffix(".partial") {
        return Some(base);
    }
    let (base, n) = path.rsplit_once('#')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

/// A fresh, never reused data file path for `table`.
pub fn new_file_path(table: &str) -> String {
    format!("tables/{table}/{}.parquet", uuid::Uuid::new_v4())
}

/// The schema with all metadata removed (metadata does not take part in
/// snapshot identity and schema comparison).
pub fn strip_metadata(schema: &Schema) -> Schema {
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_metadata(Default::default()))
        .collect();
    Schema::new(fields)
}

/// The schema with `Utf8View`/`BinaryView` columns as `Utf8`/`Binary`: the types
/// the lake stores the same values as (DataFusion and generators produce views).
pub fn without_view_types(schema: &Schema) -> Schema {
    use arrow_schema::DataType;
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// `batch` with each column cast to the type of the same column of `schema`
/// (columns already of that type are shared, not copied).
pub fn cast_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// Encodes record batches as one Parquet file in memory, counting rows and
/// nulls per column on the way.
pub struct ParquetEncoder {
    table: String,
    schema: SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
    null_counts: Vec<u64>,
}

impl ParquetEncoder {
    pub fn new(table: &str, schema: SchemaRef) -> Result<ParquetEncoder> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).map_err(|e| {
                LakeError::Parquet {
                    path: table.to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(ParquetEncoder {
            table: table.to_string(),
            null_counts: vec![0; schema.fields().len()],
            schema,
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(LakeError::Arrow {
                table: self.table.clone(),
                reason: format!(
                    "batch schema {:?} differs from the table schema {:?}",
                    batch.schema(),
                    self.schema
                ),
            });
        }
        self.rows += batch.num_rows() as u64;
        for (i, col) in batch.columns().iter().enumerate() {
            self.null_counts[i] += col.logical_null_count() as u64;
        }
        self.writer.write(batch).map_err(|e| LakeError::Parquet {
            path: self.table.clone(),
            reason: e.to_string(),
        })
    }

    /// Bytes encoded so far, including the row group in progress.
    pub fn buffered_bytes(&self) -> usize {
        self.writer.inner().len() + self.writer.in_progress_size()
    }

    /// The encoded file, its row count and per-column null counts.
    pub fn finish(self) -> Result<(Vec<u8>, u64, Vec<u64>)> {
        let bytes = self.writer.into_inner().map_err(|e| LakeError::Parquet {
            path: self.table.clone(),
            reason: e.to_string(),
        })?;
        Ok((bytes, self.rows, self.null_counts))
    }
}

/// Table data written to the store but not yet committed: the input of a
/// commit. Files of a staged table that never gets committed are orphans
/// which `gc` removes after its grace period.
#[derive(Clone, Debug)]
pub struct StagedTable {
    pub schema: Schema,
    pub files: Vec<DataFile>,
    pub rows: u64,
    pub null_counts: Vec<u64>,
}

impl StagedTable {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// Roll over to a new data file once the current one holds this many bytes.
const TARGET_FILE_BYTES: usize = 128 * 1024 * 1024;

/// Streams record batches of one table into immutable Parquet files of about
/// `TARGET_FILE_BYTES` each, counting rows and nulls on the way; memory stays
/// bounded by one file. Nothing is visible until the [`StagedTable`] from
/// [`TableWriter::finish`] is committed.
pub struct TableWriter {
    store: DataStore,
    catalog: Arc<dyn crate::catalog::Catalog>,
    table: String,
    schema: SchemaRef,
    encoder: Option<ParquetEncoder>,
    staged: StagedTable,
}

impl TableWriter {
    /// A writer of `table` files into `store`, registering each file in
    /// `catalog` before writing it (see [`crate::catalog::Catalog::register_pending`]).
    pub fn new(
        store: DataStore,
        catalog: Arc<dyn crate::catalog::Catalog>,
        table: &str,
        schema: &Schema,
    ) -> Result<TableWriter> {
        crate::model::validate_table_name(table)?;
        let schema = Arc::new(strip_metadata(schema));
        Ok(TableWriter {
            store,
            catalog,
            table: table.to_string(),
            staged: StagedTable {
                schema: schema.as_ref().clone(),
                files: Vec::new(),
                rows: 0,
                null_counts: vec![0; schema.fields().len()],
            },
            schema,
            encoder: None,
        })
    }

    /// The schema every batch must have (metadata stripped).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.staged.rows + self.encoder.as_ref().map_or(0, |e| e.rows)
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = batch
            .clone()
            .with_schema(self.schema.clone())
            .map_err(|e| LakeError::Arrow {
                table: self.table.clone(),
                reason: e.to_string(),
            })?;
        let encoder = match &mut self.encoder {
            Some(e) => e,
            None => self
                .encoder
                .insert(ParquetEncoder::new(&self.table, self.schema.clone())?),
        };
        encoder.write(&batch)?;
        if encoder.buffered_bytes() >= TARGET_FILE_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let (bytes, rows, null_counts) = encoder.finish()?;
        let path = new_file_path(&self.table);
        let size = bytes.len() as u64;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.catalog
            .register_pending(std::slice::from_ref(&path), now_ms)
            .await?;
        self.store.put(&path, Bytes::from(bytes)).await?;
        self.staged.files.push(DataFile {
            path,
            rows,
            bytes: size,
        });
        self.staged.rows += rows;
        for (total, n) in self.staged.null_counts.iter_mut().zip(null_counts) {
            *total += n;
        }
        Ok(())
    }

    /// Writes the last file and returns the staged table (no files for an empty
    /// table).
    pub async fn finish(mut self) -> Result<StagedTable> {
        self.flush().await?;
        Ok(self.staged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_urls_reach_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let local = DataStore::open("data dir", dir.path()).unwrap();
        let url = local.root_url().unwrap();
        assert_eq!(url.scheme(), "file");
        assert!(url.as_str().ends_with("/data%20dir/"), "{url}");
        let file = url.join("tables/t/a.parquet").unwrap();
        assert_eq!(
            file.to_file_path().unwrap(),
            dir.path().join("data dir/tables/t/a.parquet")
        );
        for (uri, root) in [
            ("s3://bucket", "s3://bucket/"),
            ("s3://bucket/", "s3://bucket/"),
            ("s3://bucket/lakes/prod", "s3://bucket/lakes/prod/"),
            ("s3://bucket/lakes/prod/", "s3://bucket/lakes/prod/"),
        ] {
            let s3 = DataStore::open(uri, dir.path()).unwrap();
            assert_eq!(s3.root_url().unwrap().as_str(), root, "{uri}");
        }
    }

    #[tokio::test]
    async fn prefixed_store_paths_are_relative_everywhere() {
        let store = Prefixed::new(object_store::memory::InMemory::new(), "lakes/prod");
        let path = ObjPath::from("tables/t/a.parquet");
        store
            .put(&path, PutPayload::from_static(b"data"))
            .await
            .unwrap();
        assert_eq!(store.head(&path).await.unwrap().location, path);
        assert_eq!(store.get(&path).await.unwrap().meta.location, path);
        let listed: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].location, path);
    }
}
