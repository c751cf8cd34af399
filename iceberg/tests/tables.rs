//! Lake tables read back as Iceberg tables by apache iceberg-rust itself: its
//! scan planner and Arrow reader over the metadata sluice-iceberg makes, on a
//! real SQLite lake in a temporary folder. (tests/e2e/iceberg_python.rs reads
//! the same through `sluice serve` with pyiceberg and Polars.)

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use iceberg::io::FileIO;
use iceberg::spec::{FormatVersion, ManifestList, ManifestStatus, TableMetadata};
use iceberg::table::{StaticTable, Table};
use iceberg::{NamespaceIdent, TableIdent};
use sluice_iceberg::{IcebergCatalog, IcebergError};
use sluice_lake::{CommitRequest, ImportMode, Lake, LakeConfig, TableChange};

struct Fixture {
    dir: tempfile::TempDir,
    lake: Lake,
}

async fn lake() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = LakeConfig::from_uri(dir.path().join("lake").to_str().unwrap(), None).unwrap();
    let lake = Lake::open(&config).await.unwrap();
    Fixture { dir, lake }
}

impl Fixture {
    async fn import(&self, csv: &str, table: &str, branch: &str, mode: ImportMode) {
        let path = self.dir.path().join(format!("{}.csv", uuid()));
        std::fs::write(&path, csv).unwrap();
        self.lake
            .import_file(&path, table, branch, mode)
            .await
            .unwrap();
    }

    /// Every file of the data store under `prefix`, relative to the data root.
    fn files(&self, prefix: &str) -> BTreeSet<String> {
        let root = self.dir.path().join("lake/data");
        walk(&root.join(prefix))
            .into_iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect()
    }
}

fn uuid() -> String {
    format!("{:x}", rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn default_ns() -> Vec<String> {
    vec!["default".to_string()]
}

/// iceberg-rust's table from the metadata JSON sluice-iceberg wrote, reading
/// local files.
async fn iceberg_table(loaded: &sluice_iceberg::TableAt, name: &str) -> Table {
    StaticTable::from_metadata_file(
        &loaded.metadata_location,
        TableIdent::new(NamespaceIdent::new("default".into()), name.into()),
        FileIO::new_with_fs(),
    )
    .await
    .unwrap()
    .into_table()
}

/// (rows, data file paths) of a full scan by iceberg-rust.
async fn scan(table: &Table) -> (usize, BTreeSet<String>) {
    let scan = table.scan().build().unwrap();
    let files: BTreeSet<String> = scan
        .plan_files()
        .await
        .unwrap()
        .map_ok(|task| task.data_file_path.clone())
        .try_collect()
        .await
        .unwrap();
    let batches: Vec<_> = scan.to_arrow().await.unwrap().try_collect().await.unwrap();
    (batches.iter().map(|b| b.num_rows()).sum(), files)
}

fn field_ids(metadata: &TableMetadata) -> Vec<(String, i32)> {
    metadata
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_reads_as_iceberg_over_the_lakes_own_files() {
    let f = lake().await;
    f.import(
        "id,amount\n1,9.5\n2,3.25\n",
        "orders",
        "main",
        ImportMode::Create,
    )
    .await;
    let data_before = f.files("tables");
    let catalog = IcebergCatalog::new(f.lake.clone());
    let loaded = catalog.load("main", &default_ns(), "orders").await.unwrap();
    let (rows, files) = scan(&iceberg_table(&loaded, "orders").await).await;
    assert_eq!(rows, 2);
    let root = format!("file://{}", f.dir.path().join("lake/data").display());
    let expected: BTreeSet<String> = data_before.iter().map(|p| format!("{root}/{p}")).collect();
    assert_eq!(files, expected, "the scan reads the lake's files, no copy");
    // Nothing under tables/ was written; all that is new is under iceberg/, and
    // the metadata location is one of those files.
    assert_eq!(f.files("tables"), data_before);
    let written = f.files("iceberg");
    assert!(
        written
            .iter()
            .any(|p| loaded.metadata_location.ends_with(p.as_str())),
        "{} not among {written:?}",
        loaded.metadata_location
    );
    assert!(written.iter().any(|p| p.ends_with(".avro")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_ids_stay_across_branches_and_schema_changes() {
    let f = lake().await;
    f.import("id,amount\n1,9.5\n", "orders", "main", ImportMode::Create)
        .await;
    f.lake.create_branch("dev", "main").await.unwrap();
    f.lake.create_branch("typed", "main").await.unwrap();
    f.import(
        "id,amount,note\n1,9.5,x\n",
        "orders",
        "dev",
        ImportMode::Replace,
    )
    .await;
    // `amount` becomes a string on `typed`: for Iceberg a new column.
    f.import(
        "id,amount\n1,nine\n",
        "orders",
        "typed",
        ImportMode::Replace,
    )
    .await;
    let catalog = IcebergCatalog::new(f.lake.clone());
    let ids = |r: &'static str| {
        let catalog = &catalog;
        async move {
            field_ids(
                &catalog
                    .load(r, &default_ns(), "orders")
                    .await
                    .unwrap()
                    .metadata,
            )
        }
    };
    let main = ids("main").await;
    assert_eq!(main, vec![("id".into(), 1), ("amount".into(), 2)]);
    assert_eq!(
        ids("dev").await,
        vec![("id".into(), 1), ("amount".into(), 2), ("note".into(), 3)]
    );
    assert_eq!(
        ids("typed").await,
        vec![("id".into(), 1), ("amount".into(), 4)]
    );
    // Asked again, in another order, by another catalog: the same ids.
    let again = IcebergCatalog::new(f.lake.clone());
    let dev = again.load("dev", &default_ns(), "orders").await.unwrap();
    assert_eq!(field_ids(&dev.metadata)[2], ("note".into(), 3));
    // The old schema is in the metadata too, with its ids, for the old snapshot.
    let schemas: Vec<usize> = dev
        .metadata
        .schemas_iter()
        .map(|s| s.as_struct().fields().len())
        .collect();
    assert_eq!(schemas.len(), 2, "{schemas:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_is_a_snapshot_and_an_append_adds_to_existing_files() {
    let f = lake().await;
    f.import("id,amount\n1,9.5\n", "orders", "main", ImportMode::Create)
        .await;
    f.lake.create_branch("dev", "main").await.unwrap();
    f.import("id,amount\n2,1.5\n", "orders", "dev", ImportMode::Append)
        .await;
    let catalog = IcebergCatalog::new(f.lake.clone());
    let dev = catalog.load("dev", &default_ns(), "orders").await.unwrap();
    let metadata = &dev.metadata;
    assert_eq!(metadata.snapshots().count(), 2);
    let current = metadata.current_snapshot().unwrap();
    let parent = current.parent_snapshot_id().unwrap();
    assert!(metadata.snapshot_by_id(parent).is_some());
    let io = FileIO::new_with_fs();
    let list = io
        .new_input(current.manifest_list())
        .unwrap()
        .read()
        .await
        .unwrap();
    let list = ManifestList::parse_with_version(&list, FormatVersion::V2).unwrap();
    let mut statuses = Vec::new();
    for m in list.entries() {
        let manifest = m.load_manifest(&io).await.unwrap();
        for e in manifest.entries() {
            statuses.push((e.status(), e.snapshot_id(), e.data_file().record_count()));
        }
    }
    statuses.sort_by_key(|s| s.2);
    assert_eq!(
        statuses,
        vec![
            (ManifestStatus::Existing, Some(parent), 1),
            (ManifestStatus::Added, Some(current.snapshot_id()), 1),
        ]
    );
    let (rows, files) = scan(&iceberg_table(&dev, "orders").await).await;
    assert_eq!((rows, files.len()), (2, 2));
    // The version at main is the parent snapshot, on its own.
    let main = catalog.load("main", &default_ns(), "orders").await.unwrap();
    assert_eq!(main.metadata.current_snapshot_id(), Some(parent));
    assert_eq!(main.metadata.snapshots().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_made_once_and_named_by_its_content() {
    let f = lake().await;
    f.import("id\n1\n", "orders", "main", ImportMode::Create)
        .await;
    let first = IcebergCatalog::new(f.lake.clone())
        .load("main", &default_ns(), "orders")
        .await
        .unwrap();
    let files = f.files("iceberg");
    let bytes: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(f.dir.path().join("lake/data").join(p)).unwrap())
        .collect();
    // A fresh catalog (no memory of the first) finds the same files and
    // rewrites none of them.
    let second = IcebergCatalog::new(f.lake.clone())
        .load("main", &default_ns(), "orders")
        .await
        .unwrap();
    assert_eq!(first.metadata_location, second.metadata_location);
    assert_eq!(f.files("iceberg"), files);
    for (p, b) in files.iter().zip(&bytes) {
        assert_eq!(
            &std::fs::read(f.dir.path().join("lake/data").join(p)).unwrap(),
            b,
            "{p} was rewritten"
        );
    }
    // A new version of the table is new files; the old ones stay.
    f.import("id\n2\n", "orders", "main", ImportMode::Append)
        .await;
    let third = IcebergCatalog::new(f.lake.clone())
        .load("main", &default_ns(), "orders")
        .await
        .unwrap();
    assert_ne!(third.metadata_location, first.metadata_location);
    assert!(f.files("iceberg").is_superset(&files));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_refs_namespaces_and_tables_are_named() {
    let f = lake().await;
    f.import("id\n1\n", "raw.orders", "main", ImportMode::Create)
        .await;
    let catalog = IcebergCatalog::new(f.lake.clone());
    assert_eq!(
        catalog.namespaces("main").await.unwrap(),
        vec!["default".to_string(), "raw".to_string()]
    );
    let raw = vec!["raw".to_string()];
    assert_eq!(catalog.tables("main", &raw).await.unwrap(), vec!["orders"]);
    let err = catalog.load("nope", &raw, "orders").await.unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
    let err = catalog
        .load("main", &["staging".to_string()], "orders")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IcebergError::NoSuchNamespace { namespace, .. } if namespace == "staging"),
        "{err}"
    );
    let err = catalog.load("main", &raw, "ordrs").await.unwrap_err();
    assert!(
        matches!(&err, IcebergError::NoSuchTable { table, .. } if table == "raw.ordrs"),
        "{err}"
    );
    // `orders` is in `raw`, not in `default`.
    assert!(catalog.load("main", &default_ns(), "orders").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_iceberg_cannot_type_is_named() {
    let f = lake().await;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "big",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(UInt64Array::from(vec![u64::MAX]))],
    )
    .unwrap();
    let staged = f
        .lake
        .stage_batches("counters", schema, &[batch])
        .await
        .unwrap();
    f.lake
        .commit(
            CommitRequest::new("main", "counters").change("counters", TableChange::Create(staged)),
        )
        .await
        .unwrap();
    let err = IcebergCatalog::new(f.lake.clone())
        .load("main", &default_ns(), "counters")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`counters`") && message.contains("`big`") && message.contains("UInt64"),
        "{message}"
    );
}
