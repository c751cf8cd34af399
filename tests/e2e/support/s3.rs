//! A lake whose data is in an S3-compatible store (moto in CI) and whose catalog is
//! a local folder, for the end-to-end tests that need one. It exists when
//! `SLUICE_TEST_S3_ENDPOINT` is set (`.ci/run` starts a local `moto_server` and
//! sets it); the test is skipped with a message otherwise. As in production, the
//! S3 client of `sluice` is configured only by the `AWS_*` environment variables,
//! which must point at that endpoint. Each lake gets a fresh bucket (an unsigned
//! `PUT`, which moto accepts) or, with `SLUICE_TEST_S3_BUCKET`, a fresh prefix in
//! that existing bucket.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sluice_lake::DataStore;

const S3_ENV: &str = "SLUICE_TEST_S3_ENDPOINT";
const S3_BUCKET_ENV: &str = "SLUICE_TEST_S3_BUCKET";

/// A lake whose catalog is a local folder and whose data is in S3.
pub struct S3Lake {
    /// The lake folder (`--lake`): holds only the SQLite catalog.
    pub dir: PathBuf,
    endpoint: String,
    bucket: String,
    /// The data prefix inside the bucket.
    prefix: String,
    own_bucket: bool,
    pub rt: tokio::runtime::Runtime,
}

impl S3Lake {
    /// A fresh S3 location under `tmp`; `None` (after saying so) when no S3
    /// endpoint is configured.
    pub fn new(tmp: &Path, test: &str) -> Option<S3Lake> {
        let Some(endpoint) = std::env::var(S3_ENV)
            .ok()
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
        else {
            println!("skipped {test}: {S3_ENV} is not set");
            eprintln!("skipped {test}: {S3_ENV} is not set");
            return None;
        };
        check_s3_env(&endpoint);
        let id = uuid_like();
        let (bucket, prefix, own_bucket) =
            match std::env::var(S3_BUCKET_ENV).ok().filter(|s| !s.is_empty()) {
                Some(bucket) => (bucket, format!("sluice-e2e/{id}/lake"), false),
                None => {
                    let bucket = format!("sluice-e2e-{id}");
                    let status = http_request(&endpoint, "PUT", &format!("/{bucket}"))
                        .unwrap_or_else(|e| panic!("create bucket {bucket} at {endpoint}: {e}"));
                    assert!(
                        (200..300).contains(&status),
                        "create bucket {bucket}: HTTP {status} (set {S3_BUCKET_ENV} to an \
                         existing bucket if the server needs signed bucket creation)"
                    );
                    (bucket, "lakes/prod".to_string(), true)
                }
            };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Some(S3Lake {
            dir: tmp.join("lake"),
            endpoint,
            bucket,
            prefix,
            own_bucket,
            rt,
        })
    }

    pub fn data_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Runs `sluice ARGS --lake DIR` with `SLUICE_DATA` set to the S3 URI, as
    /// when the lake is created (the URI is then recorded in the catalog, so
    /// later commands run through `support` without `SLUICE_DATA`). The
    /// `AWS_*` variables are inherited.
    pub fn run_with_data(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .arg("--lake")
            .arg(&self.dir)
            .env_remove("SLUICE_LAKE")
            .env("SLUICE_DATA", self.data_uri())
            .env("SLUICE_AUTHOR", "tester")
            .output()
            .expect("run sluice")
    }

    /// Runs a command with `--format json` that must succeed.
    pub fn ok_json(&self, args: &[&str]) -> Value {
        super::ok_json(&self.dir, args)
    }

    /// The lake's data store, opened in this process as `sluice` opens it.
    pub fn store(&self) -> DataStore {
        DataStore::open(&self.data_uri(), &self.dir).expect("open the S3 data store")
    }

    /// The data files of the lake (`tables/...`), sorted.
    pub fn data_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .rt
            .block_on(self.store().list_data_files())
            .expect("list data files")
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
        files.sort();
        files
    }

    /// Checks that the data went to S3 (no local data folder, nothing written
    /// at the bucket's top level), then deletes what the test wrote.
    pub fn finish(self, extra: &[String]) {
        assert!(
            !self.dir.join("data").exists(),
            "a lake with S3 data wrote a local data folder"
        );
        assert!(self.dir.join("catalog.db").exists());
        if self.own_bucket {
            let root = DataStore::open(&format!("s3://{}", self.bucket), &self.dir).unwrap();
            let top = self.rt.block_on(root.list_data_files()).unwrap();
            assert!(top.is_empty(), "files outside the prefix: {top:?}");
        }
        let store = self.store();
        for f in self.data_files().iter().chain(extra) {
            self.rt.block_on(store.delete(f)).unwrap();
        }
        if self.own_bucket {
            let _ = http_request(&self.endpoint, "DELETE", &format!("/{}", self.bucket));
        }
    }
}

/// `sluice` configures its S3 client from the environment only: the `AWS_*`
/// variables it inherits must point at the test endpoint.
fn check_s3_env(endpoint: &str) {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let configured = var("AWS_ENDPOINT_URL_S3")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .or_else(|| var("AWS_ENDPOINT"));
    let ok = configured
        .as_deref()
        .is_some_and(|c| c.trim_end_matches('/') == endpoint)
        && var("AWS_ACCESS_KEY_ID").is_some()
        && var("AWS_SECRET_ACCESS_KEY").is_some();
    assert!(
        ok,
        "{S3_ENV}={endpoint} needs the S3 client configured for it: export \
         AWS_ENDPOINT_URL={endpoint} AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
         AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 (endpoint now: {configured:?})"
    );
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}

/// An unsigned HTTP/1.1 request without a body to a plain-HTTP endpoint (moto
/// accepts these); the response's status code.
fn http_request(endpoint: &str, method: &str, path: &str) -> std::io::Result<u16> {
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
