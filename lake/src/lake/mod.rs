//! The lake: refs, commits, merges and table data, over a [`Catalog`] and a
//! [`DataStore`]. One `impl Lake` block per concern, each in its own file:
//! [`refs`], [`history`], [`write`](mod@write), [`merge`], [`inspect`], [`gc`], [`fsck`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::catalog::Catalog;
use crate::catalog::postgres::PostgresCatalog;
use crate::catalog::sqlite::SqliteCatalog;
use crate::config::{CatalogConfig, LakeConfig};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitContent, Lease};
use crate::store::DataStore;

/// How many times an unconditional write re-reads the branch head and
/// retries after losing a compare-and-swap race.
const MAX_RETRIES: usize = 200;

mod fsck;
mod gc;
mod history;
mod inspect;
mod merge;
mod refs;
mod write;

pub use fsck::{FileFault, FsckFault, FsckReport};
pub use gc::{DEFAULT_GC_GRACE, GcPlan, GcReport};
pub use history::LogEntry;
pub use inspect::{
    ColumnChange, ColumnInfo, HistoryEntry, TableDetails, TableDiff, TableSummary, schema_changes,
};
pub use merge::{MergeOutcome, MergeRequest, three_way};
pub use refs::{RefTarget, Resolved};
pub use write::{CommitRequest, ImportMode, TableChange};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// RFC 3339 rendering of a commit time.
pub fn format_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The author of this process' commits: `$SLUICE_AUTHOR`, else git's `user.name`
/// (`git config user.name`, when git is installed and it is set), else `$USER`,
/// else `unknown`.
fn default_author() -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|s| !s.trim().is_empty());
    env("SLUICE_AUTHOR")
        .or_else(git_user_name)
        .or_else(|| env("USER"))
        .unwrap_or_else(|| "unknown".to_string())
}

/// `git config user.name`, if git runs and the name is set.
fn git_user_name() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "user.name"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// The versioned lake.
#[derive(Clone)]
pub struct Lake {
    catalog: Arc<dyn Catalog>,
    data: DataStore,
    author: String,
    location: String,
    /// The run lease this handle presents on every write (see [`Lake::with_lease`]).
    lease: Option<Lease>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("location", &self.location)
            .field("catalog", &self.catalog.backend())
            .field("data", &self.data)
            .finish()
    }
}

impl Lake {
    /// Opens the lake described by `config`, creating it on first use.
    pub async fn open(config: &LakeConfig) -> Result<Lake> {
        let catalog: Arc<dyn Catalog> = match &config.catalog {
            CatalogConfig::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| LakeError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                Arc::new(SqliteCatalog::open(path)?)
            }
            CatalogConfig::Postgres(url) => Arc::new(PostgresCatalog::connect(url).await?),
        };
        Lake::open_with_catalog(catalog, config).await
    }

    /// Opens the lake described by `config` if it exists, and never creates one: a
    /// missing SQLite catalog file, or a PostgreSQL catalog that holds no lake, is
    /// [`LakeError::NoLake`] naming `location` (how the user spelled the lake).
    pub async fn open_existing(config: &LakeConfig, location: &str) -> Result<Lake> {
        let no_lake = || LakeError::NoLake {
            location: location.to_string(),
        };
        let catalog: Arc<dyn Catalog> = match &config.catalog {
            CatalogConfig::Sqlite(path) => {
                if !path.is_file() {
                    return Err(no_lake());
                }
                Arc::new(SqliteCatalog::open(path)?)
            }
            CatalogConfig::Postgres(url) => {
                let catalog = PostgresCatalog::connect(url).await?;
                // A database without sluice's tables (the query fails) or without a
                // recorded data location holds no lake.
                if !matches!(catalog.setting("data_uri").await, Ok(Some(_))) {
                    return Err(no_lake());
                }
                Arc::new(catalog)
            }
        };
        Lake::open_with_catalog(catalog, config).await
    }

    /// Opens a lake over an already connected catalog.
    pub async fn open_with_catalog(catalog: Arc<dyn Catalog>, config: &LakeConfig) -> Result<Lake> {
        let author = default_author();
        let mut settings = BTreeMap::new();
        if let Some(d) = &config.data {
            settings.insert("data_uri".to_string(), d.clone());
        }
        let exists = catalog.setting("data_uri").await.ok().flatten().is_some();
        if !exists && config.data.is_none() {
            return Err(LakeError::Config(
                "a new lake with a PostgreSQL catalog needs a data location: set SLUICE_DATA \
                 (a folder or s3://bucket/prefix)"
                    .into(),
            ));
        }
        // Creates the lake on first use, migrates an older schema, and is a
        // no-op otherwise (the root commit is only recorded for a new lake).
        let root = Commit::new(CommitContent {
            parents: vec![],
            tables: BTreeMap::new(),
            message: "initialize lake".into(),
            author: author.clone(),
            time_ms: now_ms(),
            properties: BTreeMap::new(),
        });
        catalog.init(&root, &settings).await?;
        let data_uri = catalog.setting("data_uri").await?.ok_or_else(|| {
            LakeError::Corrupt("the catalog records no data location (data_uri)".into())
        })?;
        let data = DataStore::open(&data_uri, &config.base_dir)?;
        Ok(Lake {
            catalog,
            data,
            author,
            location: config.describe(),
            lease: None,
        })
    }

    /// Uses `author` for the commits made through this handle.
    pub fn with_author(mut self, author: &str) -> Lake {
        self.author = author.to_string();
        self
    }

    /// A handle that presents `lease` on every write: the handle of the run
    /// that holds it. Its [`Lake::create_run_branch`] seals a branch for the
    /// run, and only writes through such a handle reach that branch.
    pub fn with_lease(mut self, lease: Lease) -> Lake {
        self.lease = Some(lease);
        self
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }
    pub fn data(&self) -> &DataStore {
        &self.data
    }
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The stable ids of the columns `keys` of table `table`, assigning the
    /// table's next ids to keys never seen ([`Catalog::column_ids`]).
    pub async fn column_ids(&self, table: &str, keys: &[String]) -> Result<Vec<i32>> {
        crate::model::validate_table_name(table)?;
        self.catalog.column_ids(table, keys).await
    }
}

async fn backoff(attempt: usize) {
    // Small randomized exponential backoff (1..=64 ms, jittered by the
    // uuid's randomness) so racing writers do not retry in lockstep.
    let cap = 1u64 << attempt.min(6);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u64;
    let ms = 1 + (cap * jitter) / 1000;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
