//! Import paths: Parquet with and without footer statistics (stored as is,
//! null counts either read from the footer or computed by decoding), CSV
//! and JSON Lines schema inference.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sluice_lake::ImportMode;
use sluice_lake::import::{Decoded, read_file};

fn write_parquet(path: &std::path::Path, stats: EnabledStatistics) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None]));
    let b: ArrayRef = Arc::new(StringArray::from(vec![
        Some("x"),
        Some("y"),
        None,
        Some("z"),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![a, b]).unwrap();
    let props = WriterProperties::builder()
        .set_statistics_enabled(stats)
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_null_counts_with_and_without_footer_statistics() {
    let dir = tempfile::tempdir().unwrap();
    for (name, stats) in [
        ("with.parquet", EnabledStatistics::Chunk),
        ("without.parquet", EnabledStatistics::None),
    ] {
        let p = dir.path().join(name);
        write_parquet(&p, stats);
        let Decoded::Parquet {
            len,
            footer,
            rows,
            null_counts,
            ..
        } = read_file(&p).unwrap()
        else {
            panic!("parquet is stored as is");
        };
        assert_eq!(rows, 4, "{name}");
        assert_eq!(null_counts, vec![2, 1], "{name}");
        let raw = std::fs::read(&p).unwrap();
        assert_eq!(len, raw.len() as u64);
        assert!(
            raw.ends_with(&footer) && footer.ends_with(b"PAR1"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn imported_parquet_is_byte_identical_and_csv_types_are_inferred() {
    let t = common::new_lake(common::Backend::Sqlite).await.unwrap();
    let p = t.dir.path().join("x.parquet");
    write_parquet(&p, EnabledStatistics::None);
    t.lake
        .import_file(&p, "x", "main", ImportMode::Create)
        .await
        .unwrap();
    let show = t.lake.show_table("main", "x").await.unwrap();
    let stored = t.lake.data().get(&show.files[0].path).await.unwrap();
    assert_eq!(stored.as_ref(), std::fs::read(&p).unwrap().as_slice());
    assert_eq!(show.schema[0].null_count, 2);

    let csv = common::write_file(
        t.dir.path(),
        "types.csv",
        "i,f,s,b,d\n1,1.5,x,true,2024-01-02\n2,,y,false,2024-02-03\n",
    );
    t.lake
        .import_file(&csv, "types", "main", ImportMode::Create)
        .await
        .unwrap();
    let show = t.lake.show_table("main", "types").await.unwrap();
    let types: Vec<&str> = show.schema.iter().map(|c| c.data_type.as_str()).collect();
    assert_eq!(types, ["Int64", "Float64", "Utf8", "Boolean", "Date32"]);
    assert_eq!(show.schema[1].null_count, 1);
    t.cleanup().await;
}

#[test]
fn a_contract_types_text_columns_as_declared_and_checks_nulls() {
    use sluice_lake::import::read_file_as;
    let dir = tempfile::tempdir().unwrap();
    let csv = common::write_file(
        dir.path(),
        "codes.csv",
        "code,price,at,note\n00123,9.99,2026-03-01T09:15:00,x\n00045,10.00,2026-03-02T10:00:00,\n",
    );
    let contract = Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("price", DataType::Decimal128(12, 2), false),
        Field::new(
            "at",
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
            false,
        ),
    ]);
    let Decoded::Batches { schema, batches } = read_file_as(&csv, Some(&contract)).unwrap() else {
        panic!("text is decoded");
    };
    // Contract columns have its types and nullability; `note` keeps its inferred type.
    let typed: Vec<(String, DataType, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    assert_eq!(typed[0], ("code".into(), DataType::Utf8, false));
    assert_eq!(
        typed[1],
        ("price".into(), DataType::Decimal128(12, 2), false)
    );
    assert_eq!(typed[3], ("note".into(), DataType::Utf8, true));
    // Parsed as text, not inferred as a number: leading zeros survive.
    let codes = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(codes.value(0), "00123");

    // A null in a non-null column of the contract, and a missing column, are errors.
    let nulls = common::write_file(
        dir.path(),
        "nulls.csv",
        "code,price,at\n1,,2026-03-01T00:00:00\n2,3.5,2026-03-01T00:00:00\n",
    );
    let err = read_file_as(&nulls, Some(&contract))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`price` is declared non-null but 1 row(s) are null"),
        "{err}"
    );
    let missing = common::write_file(
        dir.path(),
        "missing.csv",
        "code,at\n1,2026-03-01T00:00:00\n",
    );
    let err = read_file_as(&missing, Some(&contract))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`price` are missing"), "{err}");
    // A value that does not fit the declared type is an error, never a null.
    let bad = common::write_file(
        dir.path(),
        "bad.csv",
        "code,price,at\n1,cheap,2026-03-01T00:00:00\n",
    );
    assert!(read_file_as(&bad, Some(&contract)).is_err());
}

/// Issue 10: a FIFO as input hung the import. It is refused at once, naming
/// the path, as are directories; nothing is written.
#[tokio::test]
async fn non_regular_inputs_are_refused_without_blocking() {
    let t = common::new_lake(common::Backend::Sqlite).await.unwrap();
    let fifo = t.dir.path().join("pipe.csv");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let dir = t.dir.path().join("folder.csv");
    std::fs::create_dir(&dir).unwrap();
    for (path, what) in [(&fifo, "FIFO"), (&dir, "directory")] {
        let started = std::time::Instant::now();
        let lake = t.lake.clone();
        let p = path.clone();
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            lake.import_file(&p, "x", "main", ImportMode::Create),
        )
        .await
        .expect("the import of a non-regular file must not block")
        .unwrap_err()
        .to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(err.contains(what), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
    assert!(t.data_files().await.is_empty());
    t.cleanup().await;
}

/// Issue 10: a CSV overwritten while it was imported committed 0 rows. A file
/// that changes between being opened and being fully read is refused.
#[test]
fn a_file_changed_while_it_is_read_is_refused() {
    use sluice_lake::import::read_file_checked;
    let dir = tempfile::tempdir().unwrap();
    let csv = common::write_file(dir.path(), "t.csv", "a,b\n1,x\n2,y\n");
    // Unchanged: accepted.
    read_file_checked(&csv, None, || {}).unwrap();
    // Truncated and rewritten in place while being read.
    let err = read_file_checked(&csv, None, || {
        std::fs::write(&csv, "a,b\n").unwrap();
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("changed while it was being imported"), "{err}");
    assert!(err.contains("t.csv"), "{err}");
    // Replaced by another file (rename over it).
    let pq = dir.path().join("x.parquet");
    write_parquet(&pq, EnabledStatistics::Chunk);
    let other = dir.path().join("other.parquet");
    write_parquet(&other, EnabledStatistics::None);
    let err = read_file_checked(&pq, None, || {
        std::fs::rename(&other, &pq).unwrap();
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("changed while it was being imported"), "{err}");
}
