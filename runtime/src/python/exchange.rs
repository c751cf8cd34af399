//! Arrow IPC files between the runtime and a worker: inputs written here, the
//! output read back zero-copy from a memory map.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::convert::fb_to_schema;
use arrow::ipc::reader::{FileDecoder, read_footer_length};
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use arrow::ipc::{Block, root_as_footer};

use super::PythonError;

const WRITE_BUFFER: usize = 4 << 20;

/// Writes `batches` as an uncompressed Arrow IPC file; returns its size in bytes.
///
/// A batch whose schema differs from `schema` only in metadata or field names is
/// written under `schema`; an incompatible one is an error.
pub(crate) fn write_ipc_file(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, PythonError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        PythonError::Exchange(format!("writing {}: {what}: {e}", path.display()))
    };
    let file = File::create(path).map_err(|e| fail("create", &e))?;
    let mut writer = FileWriter::try_new_with_options(
        BufWriter::with_capacity(WRITE_BUFFER, file),
        schema,
        IpcWriteOptions::default(),
    )
    .map_err(|e| fail("schema", &e))?;
    for batch in batches {
        if batch.schema_ref() == schema {
            writer.write(batch)
        } else {
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .and_then(|b| writer.write(&b))
        }
        .map_err(|e| fail("batch", &e))?;
    }
    writer.finish().map_err(|e| fail("finish", &e))?;
    let mut inner = writer.into_inner().map_err(|e| fail("finish", &e))?;
    inner.flush().map_err(|e| fail("flush", &e))?;
    let file = inner.into_inner().map_err(|e| fail("flush", &e.error()))?;
    let len = file.metadata().map_err(|e| fail("stat", &e))?.len();
    Ok(len)
}

/// An Arrow IPC file read through a memory map: the batches borrow the mapping
/// (no copy), which stays alive as long as any of them does.
pub(crate) struct MappedIpc {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub bytes: u64,
}

pub(crate) fn read_ipc_file(path: &Path) -> Result<MappedIpc, PythonError> {
    let fail = |e: &dyn std::fmt::Display| {
        PythonError::Exchange(format!("reading the output {}: {e}", path.display()))
    };
    let file = File::open(path).map_err(|e| fail(&e))?;
    let len = file.metadata().map_err(|e| fail(&e))?.len();
    if len < 16 {
        return Err(fail(&format!("not an Arrow IPC file ({len} bytes)")));
    }
    // SAFETY: the file lives in the worker's private scratch directory and the
    // worker has exited: nothing modifies it while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| fail(&e))?;
    let buffer = Buffer::from(bytes::Bytes::from_owner(map));
    // The decoder trusts offsets less than we would like; a malformed file must be
    // an error, never a panic.
    catch_unwind(AssertUnwindSafe(|| decode(&buffer)))
        .unwrap_or_else(|_| Err("malformed Arrow IPC file".to_string()))
        .map(|(schema, batches)| MappedIpc {
            schema,
            batches,
            bytes: len,
        })
        .map_err(|e| fail(&e))
}

fn decode(buffer: &Buffer) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let len = buffer.len();
    let trailer: [u8; 10] = buffer[len - 10..].try_into().map_err(|_| "short file")?;
    let footer_len = read_footer_length(trailer).map_err(|e| e.to_string())?;
    if footer_len + 10 > len {
        return Err("footer longer than the file".into());
    }
    let footer = root_as_footer(&buffer[len - 10 - footer_len..len - 10])
        .map_err(|e| format!("invalid footer: {e}"))?;
    let fb_schema = footer.schema().ok_or("no schema in the footer")?;
    if !fb_schema.endianness().equals_to_target_endianness() {
        return Err("the file's endianness differs from this machine's".into());
    }
    let schema = Arc::new(fb_to_schema(fb_schema));
    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    let block_data = |block: &Block| -> Result<Buffer, String> {
        let offset = usize::try_from(block.offset()).map_err(|_| "negative block offset")?;
        let meta =
            usize::try_from(block.metaDataLength()).map_err(|_| "negative metadata length")?;
        let body = usize::try_from(block.bodyLength()).map_err(|_| "negative body length")?;
        let size = meta.checked_add(body).ok_or("block too large")?;
        if offset.checked_add(size).is_none_or(|end| end > len) {
            return Err("a block lies outside the file".into());
        }
        Ok(buffer.slice_with_length(offset, size))
    };
    for block in footer.dictionaries().iter().flatten() {
        decoder
            .read_dictionary(block, &block_data(block)?)
            .map_err(|e| e.to_string())?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        if let Some(batch) = decoder
            .read_record_batch(block, &block_data(block)?)
            .map_err(|e| e.to_string())?
        {
            batches.push(batch);
        }
    }
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn round_trip_through_a_memory_map() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, false),
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(Float64Array::from(vec![Some(0.5), None, Some(2.0)])),
                Arc::new(StringArray::from(vec![Some("a"), Some("bé"), None])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.arrow");
        let batches = [batch.clone(), batch.slice(1, 2)];
        let written = write_ipc_file(&path, &schema, &batches).unwrap();
        let read = read_ipc_file(&path).unwrap();
        assert_eq!(read.bytes, written);
        assert_eq!(read.schema, schema);
        assert_eq!(read.batches, batches);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.arrow");
        for contents in [
            b"".to_vec(),
            b"ARROW1\0\0garbage garbage garbage".to_vec(),
            [
                b"ARROW1\0\0".as_slice(),
                &[0xff; 64],
                b"\xff\xff\xff\x7fARROW1",
            ]
            .concat(),
        ] {
            std::fs::write(&path, &contents).unwrap();
            assert!(matches!(
                read_ipc_file(&path),
                Err(PythonError::Exchange(_))
            ));
        }
    }
}
