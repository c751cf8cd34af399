//! Shared helpers: temporary lakes on SQLite, (when
//! `SLUICE_TEST_POSTGRES_URL` is set) on a fresh PostgreSQL database, and (when
//! `SLUICE_TEST_S3_ENDPOINT` is set) with their data in a fresh S3 bucket.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use sluice_lake::{CatalogConfig, Lake, LakeConfig, StagedTable};

pub const PG_ENV: &str = "SLUICE_TEST_POSTGRES_URL";
/// The S3-compatible endpoint of the S3 cases (e.g. a local `moto_server`).
pub const S3_ENV: &str = "SLUICE_TEST_S3_ENDPOINT";
/// Optional: an existing bucket to use (a unique prefix per test) instead of
/// creating a bucket per test with an unsigned `PUT` (which moto accepts).
pub const S3_BUCKET_ENV: &str = "SLUICE_TEST_S3_BUCKET";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// SQLite catalog, data in S3 (`s3://bucket/prefix`).
    S3,
}

/// A throw-away lake. Call `cleanup` at the end (drops the PG database).
pub struct TestLake {
    pub lake: Lake,
    pub config: LakeConfig,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    /// Where the data lives, for [`Backend::S3`].
    pub s3: Option<S3Location>,
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

    /// Every object of the lake's data store (local folder or S3 prefix),
    /// relative to the data root, sorted.
    pub async fn data_files(&self) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let mut out: Vec<String> = self
            .lake
            .data()
            .object_store()
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list the data store");
        out.sort();
        out
    }

    pub async fn cleanup(self) {
        if let Some(s3) = &self.s3 {
            assert!(
                !self.data_dir().exists(),
                "a lake with S3 data wrote a local data folder"
            );
            s3.remove().await;
        }
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
                s3: None,
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
                s3: None,
            })
        }
        Backend::S3 => {
            let s3 = new_s3_location()?;
            let config =
                LakeConfig::from_uri(dir.path().join("lake").to_str().unwrap(), Some(&s3.uri()))
                    .expect("config");
            let lake = Lake::open(&config).await.expect("open S3 lake");
            Some(TestLake {
                lake,
                config,
                dir,
                pg: None,
                s3: Some(s3),
            })
        }
    }
}

pub fn skip_message(test: &str) {
    println!("skipped {test} on PostgreSQL: {PG_ENV} is not set");
    eprintln!("skipped {test} on PostgreSQL: {PG_ENV} is not set");
}

/// Says that `test` did not run on `backend` (whose env var is unset).
pub fn skip_message_for(backend: Backend, test: &str) {
    match backend {
        Backend::Sqlite => {}
        Backend::Postgres => skip_message(test),
        Backend::S3 => {
            println!("skipped {test} on S3: {S3_ENV} is not set");
            eprintln!("skipped {test} on S3: {S3_ENV} is not set");
        }
    }
}

// ----- S3 ---------------------------------------------------------------

/// The S3 data location of one test lake.
#[derive(Clone, Debug)]
pub struct S3Location {
    pub endpoint: String,
    pub bucket: String,
    /// The lake's prefix inside the bucket (no slashes at either end).
    pub prefix: String,
    /// Whether the bucket was made for this test (and is removed with it).
    own_bucket: bool,
}

impl S3Location {
    /// The lake's data URI, `s3://bucket/prefix`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// A client on the whole bucket, configured like the lake's (from `AWS_*`).
    pub fn bucket_store(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .build()
            .expect("S3 client for the test bucket")
    }

    /// Every key of the bucket (or, for a shared bucket, under the prefix).
    pub async fn keys(&self) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let prefix = object_store::path::Path::from(self.prefix.as_str());
        let scope = if self.own_bucket { None } else { Some(&prefix) };
        let mut out: Vec<String> = self
            .bucket_store()
            .list(scope)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("list the test bucket");
        out.sort();
        out
    }

    /// Checks that the lake wrote only under its prefix, then deletes what it
    /// wrote (and the bucket, if it was made for the test).
    pub async fn remove(&self) {
        use object_store::ObjectStoreExt;
        let keys = self.keys().await;
        let under = format!("{}/", self.prefix);
        let outside: Vec<&String> = keys.iter().filter(|k| !k.starts_with(&under)).collect();
        assert!(
            outside.is_empty(),
            "the lake wrote outside its prefix {under}: {outside:?}"
        );
        let store = self.bucket_store();
        for k in &keys {
            let _ = store
                .delete(&object_store::path::Path::from(k.as_str()))
                .await;
        }
        if self.own_bucket {
            let _ = s3_request(&self.endpoint, "DELETE", &format!("/{}", self.bucket));
        }
    }
}

/// `SLUICE_TEST_S3_ENDPOINT`, without a trailing slash; `None` when unset.
pub fn s3_endpoint() -> Option<String> {
    std::env::var(S3_ENV)
        .ok()
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
}

/// The lake's S3 client is configured only by the process environment, as in
/// production: the `AWS_*` variables must point at the test endpoint.
fn check_s3_env(endpoint: &str) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let configured = var("AWS_ENDPOINT_URL_S3")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .or_else(|| var("AWS_ENDPOINT"));
    let help = format!(
        "{S3_ENV}={endpoint} needs the S3 client configured for it: export \
         AWS_ENDPOINT_URL={endpoint} AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
         AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1"
    );
    match configured {
        Some(c) if c.trim_end_matches('/') == endpoint => {}
        Some(c) => panic!("{help} (the endpoint is set to {c})"),
        None => panic!("{help} (no AWS_ENDPOINT_URL)"),
    }
    if var("AWS_ACCESS_KEY_ID").is_none() || var("AWS_SECRET_ACCESS_KEY").is_none() {
        panic!("{help} (no AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)");
    }
}

/// A fresh S3 location: a new bucket (or, with `SLUICE_TEST_S3_BUCKET`, a new
/// prefix in that bucket); `None` when `SLUICE_TEST_S3_ENDPOINT` is unset.
pub fn new_s3_location() -> Option<S3Location> {
    let endpoint = s3_endpoint()?;
    check_s3_env(&endpoint);
    let id = uuid::Uuid::new_v4().simple().to_string();
    if let Some(bucket) = std::env::var(S3_BUCKET_ENV).ok().filter(|s| !s.is_empty()) {
        return Some(S3Location {
            endpoint,
            bucket,
            prefix: format!("sluice-test/{id}/lake"),
            own_bucket: false,
        });
    }
    let bucket = format!("sluice-test-{id}");
    let status = s3_request(&endpoint, "PUT", &format!("/{bucket}"))
        .unwrap_or_else(|e| panic!("create bucket {bucket} at {endpoint}: {e}"));
    assert!(
        (200..300).contains(&status),
        "create bucket {bucket} at {endpoint}: HTTP {status} (set {S3_BUCKET_ENV} \
         to an existing bucket if the server needs signed bucket creation)"
    );
    Some(S3Location {
        endpoint,
        bucket,
        prefix: "lakes/test".to_string(),
        own_bucket: true,
    })
}

/// An unsigned HTTP/1.1 request without a body to a plain-HTTP endpoint (moto
/// accepts these); the response's status code.
pub fn s3_request(endpoint: &str, method: &str, path: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("{endpoint}: only http:// endpoints are supported")))?
        .trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad HTTP response: {text:.200}")))
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

/// Every data file a recorded snapshot references.
pub async fn referenced_files(lake: &Lake) -> std::collections::BTreeSet<String> {
    lake.catalog()
        .all_snapshots()
        .await
        .expect("read snapshots")
        .into_iter()
        .flat_map(|s| s.content.files.into_iter().map(|f| f.path))
        .collect()
}
