//! Shared helpers: temporary lakes on SQLite and (when
//! `SLUICE_TEST_POSTGRES_URL` is set) on a fresh PostgreSQL database.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use sluice_lake::{CatalogConfig, Lake, LakeConfig, StagedTable};

pub const PG_ENV: &str = "SLUICE_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A throw-away lake. Call `cleanup` at the end (drops the PG database).
pub struct TestLake {
    pub lake: Lake,
    pub config: LakeConfig,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestLake {
    pub fn data_dir(&self) -> PathBuf {
        match &self.config.catalog {
            CatalogConfig::Sqlite(_) => self.dir.path().join("lake").join("data"),
            CatalogConfig::Postgres(_) => self.dir.path().join("data"),
        }
    }

    /// A second, independent handle on the same lake (own connection).
    pub async fn reopen(&self) -> Lake {
        Lake::open(&self.config).await.expect("reopen lake")
    }

    pub async fn cleanup(self) {
        if let Some((admin, db)) = &self.pg {
            drop(self.lake);
            if let Ok((client, conn)) = tokio_postgres::connect(admin, tokio_postgres::NoTls).await
            {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await;
            }
        }
    }
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let host = rest.split_once('/').map_or(rest, |(h, _)| h);
    match query {
        Some(q) => format!("{scheme}://{host}/{db}?{q}"),
        None => format!("{scheme}://{host}/{db}"),
    }
}

pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh PostgreSQL database; `None` when the env var is unset.
pub async fn new_pg_database() -> Option<(String, String, String)> {
    let admin = std::env::var(PG_ENV).ok().filter(|s| !s.is_empty())?;
    let db = unique_name("sluice_lake_test");
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to SLUICE_TEST_POSTGRES_URL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .await
        .expect("create test database");
    let url = with_database(&admin, &db);
    Some((admin, db, url))
}

pub async fn new_lake(backend: Backend) -> Option<TestLake> {
    let dir = tempfile::tempdir().expect("tempdir");
    match backend {
        Backend::Sqlite => {
            let config = LakeConfig::from_uri(dir.path().join("lake").to_str().unwrap(), None)
                .expect("config");
            let lake = Lake::open(&config).await.expect("open sqlite lake");
            Some(TestLake {
                lake,
                config,
                dir,
                pg: None,
            })
        }
        Backend::Postgres => {
            let (admin, db, url) = new_pg_database().await?;
            let config = LakeConfig {
                catalog: CatalogConfig::Postgres(url),
                data: Some(dir.path().join("data").display().to_string()),
                base_dir: dir.path().to_path_buf(),
            };
            let lake = Lake::open(&config).await.expect("open postgres lake");
            Some(TestLake {
                lake,
                config,
                dir,
                pg: Some((admin, db)),
            })
        }
    }
}

pub fn skip_message(test: &str) {
    println!("skipped {test} on PostgreSQL: {PG_ENV} is not set");
    eprintln!("skipped {test} on PostgreSQL: {PG_ENV} is not set");
}

pub fn schema_kv() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]))
}

pub fn batch_kv(keys: &[i64], tag: &str) -> RecordBatch {
    let k: ArrayRef = Arc::new(Int64Array::from(keys.to_vec()));
    let v: ArrayRef = Arc::new(StringArray::from(
        keys.iter()
            .map(|k| {
                if k % 3 == 0 {
                    None
                } else {
                    Some(format!("{tag}{k}"))
                }
            })
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema_kv(), vec![k, v]).unwrap()
}

pub async fn stage(lake: &Lake, table: &str, keys: &[i64], tag: &str) -> StagedTable {
    lake.stage_batches(table, schema_kv(), &[batch_kv(keys, tag)])
        .await
        .expect("stage")
}

/// All rows of a table as `(k, v)` pairs, in file order.
pub async fn rows(lake: &Lake, reference: &str, table: &str) -> Vec<(i64, Option<String>)> {
    let (_, batches) = lake.read_table(reference, table).await.expect("read table");
    let mut out = Vec::new();
    for b in batches {
        let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                k.value(i),
                if v.is_null(i) {
                    None
                } else {
                    Some(v.value(i).to_string())
                },
            ));
        }
    }
    out
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
