//! The lake: refs, commits, merges and table data, over a [`Catalog`] and a
//! [`DataStore`].

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::catalog::postgres::PostgresCatalog;
use crate::catalog::sqlite::SqliteCatalog;
use crate::config::{CatalogConfig, LakeConfig};
use crate::error::{LakeError, Result};
use crate::model::{
    ColumnStats, Commit, CommitContent, CommitId, DataFile, RefEntry, RefKind, Snapshot,
    SnapshotContent, SnapshotId, validate_ref_name, validate_table_name,
};
use crate::store::{
    DataStore, ParquetEncoder, StagedTable, TableWriter, new_file_path, strip_metadata,
};

/// How many times an unconditional write re-reads the branch head and
/// retries after losing a compare-and-swap race.
const MAX_RETRIES: usize = 200;

/// The default grace period of `gc`.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What a ref string resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum RefTarget {
    Branch(String),
    Tag(String),
    Commit,
}

#[derive(Clone, Debug)]
pub struct Resolved {
    /// The ref as written by the user.
    pub reference: String,
    pub target: RefTarget,
    pub commit: Commit,
}

/// A change to one table in a commit.
#[derive(Clone, Debug)]
pub enum TableChange {
    /// A new table; the commit fails if the table exists.
    Create(StagedTable),
    /// Replace (or create) the table with these files.
    Replace(StagedTable),
    /// Add the files to the existing table (same schema required).
    Append(StagedTable),
    /// Remove the table.
    Drop,
    /// Point the table at an existing snapshot (`None` removes it).
    Restore(Option<SnapshotId>),
}

/// A request for one atomic commit of any number of tables.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    pub branch: String,
    /// `Some(head)`: strict compare-and-swap, fails with `Conflict` if the
    /// branch moved. `None`: re-read the head and retry on races (appends are
    /// re-applied to the newest snapshot, so no update is lost).
    pub expected_head: Option<CommitId>,
    pub changes: Vec<(String, TableChange)>,
    pub message: String,
    pub properties: BTreeMap<String, String>,
}

impl CommitRequest {
    pub fn new(branch: &str, message: &str) -> CommitRequest {
        CommitRequest {
            branch: branch.to_string(),
            expected_head: None,
            changes: Vec::new(),
            message: message.to_string(),
            properties: BTreeMap::new(),
        }
    }
    pub fn change(mut self, table: &str, change: TableChange) -> CommitRequest {
        self.changes.push((table.to_string(), change));
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    Create,
    Replace,
    Append,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Create => "create",
            ImportMode::Replace => "replace",
            ImportMode::Append => "append",
        }
    }
}

#[derive(Clone, Debug)]
pub struct MergeRequest {
    pub source: String,
    pub into: String,
    /// `Some(head)`: fail with `Conflict` unless `into` is at `head`.
    pub expected_into_head: Option<CommitId>,
    pub message: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// Commit mark keys (e.g. `aborted`) that block the merge: if any commit
    /// the merge would bring into `into` carries one, the merge is refused
    /// with `MarkedCommit` and nothing changes.
    pub refuse_marked: Vec<String>,
    /// Make a merge commit even when a fast-forward is possible, so that the
    /// target's first-parent history shows the merge as one commit.
    pub no_fast_forward: bool,
    /// Commits made by a run (property `run_id`) that did not succeed are never
    /// brought into another branch, unless this is set; the merge commit then
    /// records them under `allowed_unpublished_runs`.
    pub allow_unpublished_runs: bool,
    /// The run that is publishing itself with this merge: its own commits pass.
    pub publishing_run: Option<String>,
}

impl MergeRequest {
    pub fn new(source: &str, into: &str) -> MergeRequest {
        MergeRequest {
            source: source.to_string(),
            into: into.to_string(),
            expected_into_head: None,
            message: None,
            properties: BTreeMap::new(),
            refuse_marked: Vec::new(),
            no_fast_forward: false,
            allow_unpublished_runs: false,
            publishing_run: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The source is already contained in the target.
    UpToDate { head: CommitId },
    /// The target branch moved forward to the source commit.
    FastForward { from: CommitId, to: CommitId },
    /// A merge commit with two parents was made.
    Merged {
        commit: CommitId,
        base: CommitId,
        /// Tables taken from the source side.
        tables_from_source: Vec<String>,
    },
}

impl MergeOutcome {
    pub fn head(&self) -> &CommitId {
        match self {
            MergeOutcome::UpToDate { head } => head,
            MergeOutcome::FastForward { to, .. } => to,
            MergeOutcome::Merged { commit, .. } => commit,
        }
    }
}

/// A column of a table schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub null_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    pub name: String,
    pub snapshot: SnapshotId,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub columns: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub commit: CommitId,
    pub time: String,
    pub message: String,
    /// `None` when the table was removed by this commit.
    pub snapshot: Option<SnapshotId>,
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableDetails {
    pub name: String,
    pub reference: String,
    pub commit: CommitId,
    pub snapshot: SnapshotId,
    pub rows: u64,
    pub bytes: u64,
    pub schema: Vec<ColumnInfo>,
    pub files: Vec<DataFile>,
    /// Newest first, along the first-parent history of the ref.
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ColumnChange {
    Added {
        name: String,
        data_type: String,
        nullable: bool,
    },
    Removed {
        name: String,
    },
    TypeChanged {
        name: String,
        from: String,
        to: String,
    },
    NullabilityChanged {
        name: String,
        from: bool,
        to: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TableDiff {
    Added {
        table: String,
        rows: u64,
    },
    Removed {
        table: String,
        rows: u64,
    },
    Changed {
        table: String,
        rows_before: u64,
        rows_after: u64,
        schema_changes: Vec<ColumnChange>,
    },
}

impl TableDiff {
    pub fn table(&self) -> &str {
        match self {
            TableDiff::Added { table, .. }
            | TableDiff::Removed { table, .. }
            | TableDiff::Changed { table, .. } => table,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Files deleted (paths relative to the data root).
    pub deleted: Vec<String>,
    pub deleted_bytes: u64,
    /// Files kept because a snapshot references them.
    pub referenced: usize,
    /// Unreferenced files kept because they are younger than the grace period.
    pub too_recent: usize,
}

/// A commit as shown by `log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub hash: CommitId,
    pub parents: Vec<CommitId>,
    pub author: String,
    pub time: String,
    pub time_ms: i64,
    pub message: String,
    pub properties: BTreeMap<String, String>,
    pub marks: BTreeMap<String, String>,
}

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

fn default_author() -> String {
    std::env::var("SLUICE_AUTHOR")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// A commit ordered by time, then id: a max-heap of them pops history newest
/// first (a commit is strictly newer than its parents).
struct NewestFirst(Commit);

impl NewestFirst {
    fn key(&self) -> (i64, &CommitId) {
        (self.0.content.time_ms, &self.0.id)
    }
}

impl PartialEq for NewestFirst {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for NewestFirst {}

impl PartialOrd for NewestFirst {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NewestFirst {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// What [`Lake::paint`] found.
struct Painted {
    /// The merge base.
    base: Option<Commit>,
    /// Commits only `theirs` reaches, newest first.
    incoming: Vec<Commit>,
}

/// The versioned lake.
#[derive(Clone)]
pub struct Lake {
    catalog: Arc<dyn Catalog>,
    data: DataStore,
    author: String,
    location: String,
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
        })
    }

    /// Uses `author` for the commits made through this handle.
    pub fn with_author(mut self, author: &str) -> Lake {
        self.author = author.to_string();
        self
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

    // ----- reading commits and refs -------------------------------------

    pub async fn commit_by_id(&self, id: &CommitId) -> Result<Commit> {
        self.catalog
            .get_commit(id)
            .await?
            .ok_or_else(|| LakeError::CommitNotFound(id.0.clone()))
    }

    pub async fn snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        self.catalog
            .get_snapshot(id)
            .await?
            .ok_or_else(|| LakeError::Corrupt(format!("snapshot {id} is not recorded")))
    }

    async fn commit_by_prefix(&self, reference: &str, prefix: &str) -> Result<Commit> {
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(LakeError::InvalidRef {
                reference: reference.to_string(),
                reason: format!("`{prefix}` is not a commit hash (at least 4 hexadecimal digits)"),
            });
        }
        let prefix = prefix.to_ascii_lowercase();
        let ids = self.catalog.commits_with_prefix(&prefix, 3).await?;
        match ids.as_slice() {
            [] => Err(LakeError::CommitNotFound(prefix)),
            [one] => self.commit_by_id(one).await,
            many => Err(LakeError::AmbiguousCommit {
                prefix,
                matches: many
                    .iter()
                    .map(|c| c.short().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Resolves `main`, `main@<hash prefix>`, `@<hash prefix>`, a tag name,
    /// or a bare hash prefix.
    pub async fn resolve(&self, reference: &str) -> Result<Resolved> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(LakeError::InvalidRef {
                reference: String::new(),
                reason: "it is empty".into(),
            });
        }
        if let Some((name, hash)) = reference.split_once('@') {
            let commit = self.commit_by_prefix(reference, hash).await?;
            if !name.is_empty() {
                let entry = self
                    .catalog
                    .get_ref(name)
                    .await?
                    .ok_or_else(|| LakeError::RefNotFound(name.to_string()))?;
                if !self.is_ancestor(&commit.id, &entry.commit).await? {
                    return Err(LakeError::CommitNotOnBranch {
                        commit: commit.id.short().to_string(),
                        branch: name.to_string(),
                    });
                }
            }
            return Ok(Resolved {
                reference: reference.to_string(),
                target: RefTarget::Commit,
                commit,
            });
        }
        if let Some(entry) = self.catalog.get_ref(reference).await? {
            let commit = self.commit_by_id(&entry.commit).await?;
            let target = match entry.kind {
                RefKind::Branch => RefTarget::Branch(entry.name),
                RefKind::Tag => RefTarget::Tag(entry.name),
            };
            return Ok(Resolved {
                reference: reference.to_string(),
                target,
                commit,
            });
        }
        if reference.len() >= 4 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            let commit = self.commit_by_prefix(reference, reference).await?;
            return Ok(Resolved {
                reference: reference.to_string(),
                target: RefTarget::Commit,
                commit,
            });
        }
        Err(LakeError::RefNotFound(reference.to_string()))
    }

    /// The head of a branch, or `ReadOnlyRef`/`RefNotFound` for anything
    /// that is not a branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Commit> {
        let resolved = match self.resolve(branch).await {
            Err(LakeError::RefNotFound(_)) => {
                return Err(LakeError::BranchNotFound(branch.to_string()));
            }
            r => r?,
        };
        match resolved.target {
            RefTarget::Branch(_) => Ok(resolved.commit),
            RefTarget::Tag(_) => Err(LakeError::ReadOnlyRef {
                reference: branch.to_string(),
                kind: "tag",
            }),
            RefTarget::Commit => Err(LakeError::ReadOnlyRef {
                reference: branch.to_string(),
                kind: "commit",
            }),
        }
    }

    pub async fn list_refs(&self, kind: RefKind) -> Result<Vec<RefEntry>> {
        self.catalog.list_refs(Some(kind)).await
    }

    /// Creates a branch at the commit `from` resolves to. Copies no data.
    pub async fn create_branch(&self, name: &str, from: &str) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Branch, from).await
    }

    /// Creates a branch at a known commit (e.g. a run's base commit).
    pub async fn create_branch_at(&self, name: &str, commit: &CommitId) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Branch, &format!("@{commit}"))
            .await
    }

    /// Creates a tag (an immutable ref) at the commit `from` resolves to.
    pub async fn create_tag(&self, name: &str, from: &str) -> Result<RefEntry> {
        self.create_ref(name, RefKind::Tag, from).await
    }

    async fn create_ref(&self, name: &str, kind: RefKind, from: &str) -> Result<RefEntry> {
        validate_ref_name(kind.as_str(), name)?;
        let from = self.resolve(from).await?;
        self.catalog.create_ref(name, kind, &from.commit.id).await?;
        Ok(RefEntry {
            name: name.to_string(),
            kind,
            commit: from.commit.id,
            properties: BTreeMap::new(),
        })
    }

    pub async fn delete_branch(&self, name: &str) -> Result<()> {
        if name == "main" {
            return Err(LakeError::CannotDeleteMain);
        }
        self.catalog.delete_ref(name, RefKind::Branch).await
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.catalog.delete_ref(name, RefKind::Tag).await
    }

    /// Sets (`Some`) or removes (`None`) a mutable property of a branch,
    /// e.g. `run_id` or `aborted`.
    pub async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<()> {
        self.catalog.set_branch_property(branch, key, value).await
    }

    /// Adds a mutable mark (outside the hashed content) to a commit.
    pub async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()> {
        self.catalog.mark_commit(id, key, value).await
    }

    pub async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>> {
        self.catalog.commit_marks(id).await
    }

    // ----- history -------------------------------------------------------

    /// All ancestors of `id`, including itself.
    pub async fn ancestors(&self, id: &CommitId) -> Result<HashMap<CommitId, Commit>> {
        let mut seen: HashMap<CommitId, Commit> = HashMap::new();
        let mut stack = vec![id.clone()];
        while let Some(c) = stack.pop() {
            if seen.contains_key(&c) {
                continue;
            }
            let commit = self.commit_by_id(&c).await?;
            for p in commit.parents() {
                if !seen.contains_key(p) {
                    stack.push(p.clone());
                }
            }
            seen.insert(c, commit);
        }
        Ok(seen)
    }

    /// Is `a` an ancestor of (or equal to) `b`?
    pub async fn is_ancestor(&self, a: &CommitId, b: &CommitId) -> Result<bool> {
        if a == b {
            return Ok(true);
        }
        let a_time = self.commit_by_id(a).await?.content.time_ms;
        // Commit times increase strictly along history, so the search can
        // stop below `a`'s time.
        let mut seen = HashSet::new();
        let mut stack = vec![b.clone()];
        while let Some(c) = stack.pop() {
            if &c == a {
                return Ok(true);
            }
            if !seen.insert(c.clone()) {
                continue;
            }
            let commit = self.commit_by_id(&c).await?;
            if commit.content.time_ms <= a_time {
                continue;
            }
            stack.extend(commit.parents().iter().cloned());
        }
        Ok(false)
    }

    /// The best common ancestor of two commits: the common ancestor with the
    /// latest time, which (times increasing strictly along history) is not
    /// an ancestor of any other common ancestor.
    pub async fn merge_base(&self, a: &CommitId, b: &CommitId) -> Result<Option<Commit>> {
        Ok(self.paint(a, b, false).await?.base)
    }

    /// Walks the histories of `ours` and `theirs` together, newest commit
    /// first, marking each commit with the side(s) it is reachable from.
    /// Because a commit is strictly newer than its parents, the first commit
    /// reached from both sides is the merge base, and everything newer than it
    /// has been seen: the walk reads only the commits above the merge base (and
    /// with `incoming`, every commit only `theirs` reaches), never the whole
    /// ancestry.
    async fn paint(&self, ours: &CommitId, theirs: &CommitId, incoming: bool) -> Result<Painted> {
        const OURS: u8 = 1;
        const THEIRS: u8 = 2;
        let mut flags: HashMap<CommitId, u8> = HashMap::new();
        let mut queue: BinaryHeap<NewestFirst> = BinaryHeap::new();
        // Queued commits that `ours` does not reach (yet): while there are none,
        // nothing only `theirs` reaches is left to find.
        let mut theirs_only = 0usize;
        let mut painted = Painted {
            base: None,
            incoming: Vec::new(),
        };
        let mark = |id: &CommitId, side: u8, flags: &mut HashMap<CommitId, u8>| {
            let entry = flags.entry(id.clone()).or_insert(0);
            let before = *entry;
            *entry |= side;
            (before, *entry)
        };
        for (id, side) in [(ours, OURS), (theirs, THEIRS)] {
            let (before, after) = mark(id, side, &mut flags);
            if before == 0 {
                queue.push(NewestFirst(self.commit_by_id(id).await?));
            }
            theirs_only =
                theirs_only + usize::from(after == THEIRS) - usize::from(before == THEIRS);
        }
        while let Some(NewestFirst(commit)) = queue.pop() {
            let side = flags[&commit.id];
            if side == THEIRS {
                theirs_only -= 1;
            }
            for p in commit.parents() {
                let (before, after) = mark(p, side, &mut flags);
                if before == 0 {
                    queue.push(NewestFirst(self.commit_by_id(p).await?));
                }
                theirs_only =
                    theirs_only + usize::from(after == THEIRS) - usize::from(before == THEIRS);
            }
            if side == OURS | THEIRS && painted.base.is_none() {
                painted.base = Some(commit);
                if !incoming {
                    break;
                }
            } else if side == THEIRS {
                painted.incoming.push(commit);
            }
            if incoming && painted.base.is_some() && theirs_only == 0 {
                break;
            }
        }
        Ok(painted)
    }

    /// History of a ref, newest first (all parents, by time).
    pub async fn log(&self, reference: &str, limit: Option<usize>) -> Result<Vec<LogEntry>> {
        let head = self.resolve(reference).await?.commit;
        // Newest first: a commit is newer than its parents, so popping the newest
        // queued commit yields history in time order, and `--limit N` reads only
        // about N commits.
        let limit = limit.unwrap_or(usize::MAX);
        let mut all: Vec<Commit> = Vec::new();
        let mut seen: HashSet<CommitId> = HashSet::from([head.id.clone()]);
        let mut queue = BinaryHeap::from([NewestFirst(head)]);
        while all.len() < limit
            && let Some(NewestFirst(commit)) = queue.pop()
        {
            for p in commit.parents() {
                if seen.insert(p.clone()) {
                    queue.push(NewestFirst(self.commit_by_id(p).await?));
                }
            }
            all.push(commit);
        }
        let mut out = Vec::with_capacity(all.len());
        for c in all {
            let marks = self.catalog.commit_marks(&c.id).await?;
            out.push(LogEntry {
                time: format_time(c.content.time_ms),
                time_ms: c.content.time_ms,
                hash: c.id,
                parents: c.content.parents,
                author: c.content.author,
                message: c.content.message,
                properties: c.content.properties,
                marks,
            });
        }
        Ok(out)
    }

    // ----- writing data --------------------------------------------------

    /// Writes record batches as a new immutable Parquet file of `table`.
    /// Nothing is visible until the returned table is committed.
    pub async fn stage_batches(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<StagedTable> {
        validate_table_name(table)?;
        let stripped = Arc::new(strip_metadata(&schema));
        let mut enc = ParquetEncoder::new(table, stripped.clone())?;
        for b in batches {
            let b = b
                .clone()
                .with_schema(stripped.clone())
                .map_err(|e| LakeError::Arrow {
                    table: table.to_string(),
                    reason: e.to_string(),
                })?;
            enc.write(&b)?;
        }
        let (bytes, rows, null_counts) = enc.finish()?;
        let path = new_file_path(table);
        let size = bytes.len() as u64;
        self.data.put(&path, Bytes::from(bytes)).await?;
        Ok(StagedTable {
            schema: stripped.as_ref().clone(),
            files: vec![DataFile {
                path,
                rows,
                bytes: size,
            }],
            rows,
            null_counts,
        })
    }

    /// A streaming writer of new data files for `table` (see [`TableWriter`]).
    pub fn table_writer(&self, table: &str, schema: &Schema) -> Result<TableWriter> {
        TableWriter::new(self.data.clone(), table, schema)
    }

    /// Reads a Parquet, CSV or JSON Lines file (by extension), validates it
    /// completely, and only then writes it to the store as `table` data.
    pub async fn stage_file(&self, path: &Path, table: &str) -> Result<StagedTable> {
        self.stage_file_as(path, table, None).await
    }

    /// [`Lake::stage_file`], typed by a contract (see [`crate::import::read_file_as`]).
    pub async fn stage_file_as(
        &self,
        path: &Path,
        table: &str,
        contract: Option<&Schema>,
    ) -> Result<StagedTable> {
        validate_table_name(table)?;
        let decoded = crate::import::read_file_as(path, contract)?;
        match decoded {
            crate::import::Decoded::Parquet {
                path: src,
                len,
                footer,
                schema,
                rows,
                null_counts,
            } => {
                let file = new_file_path(table);
                let stored = self.data.put_file(&file, &src).await?;
                // What is stored must be the file that was validated: a file
                // changed in between is refused (and its copy removed).
                let tail = if stored == len {
                    Some(
                        self.data
                            .get_range(&file, len - footer.len() as u64..len)
                            .await?,
                    )
                } else {
                    None
                };
                if tail.as_ref() != Some(&footer) {
                    self.data.delete(&file).await?;
                    return Err(LakeError::MalformedInput {
                        path: src,
                        format: "Parquet",
                        reason: "the file changed while it was being imported".into(),
                    });
                }
                Ok(StagedTable {
                    schema,
                    files: vec![DataFile {
                        path: file,
                        rows,
                        bytes: len,
                    }],
                    rows,
                    null_counts,
                })
            }
            crate::import::Decoded::Batches { schema, batches } => {
                self.stage_batches(table, Arc::new(schema), &batches).await
            }
        }
    }

    /// Imports a file into `table` on `branch` as one commit.
    pub async fn import_file(
        &self,
        path: &Path,
        table: &str,
        branch: &str,
        mode: ImportMode,
    ) -> Result<Commit> {
        self.import_file_as(path, table, branch, mode, None).await
    }

    /// [`Lake::import_file`], with the columns of `contract` read as its types
    /// and checked against its nullability.
    pub async fn import_file_as(
        &self,
        path: &Path,
        table: &str,
        branch: &str,
        mode: ImportMode,
        contract: Option<&Schema>,
    ) -> Result<Commit> {
        validate_table_name(table)?;
        // Check the target before reading: a wrong ref writes nothing.
        let head = self.branch_head(branch).await?;
        match mode {
            ImportMode::Create if head.tables().contains_key(table) => {
                return Err(LakeError::TableExists {
                    table: table.to_string(),
                    branch: branch.to_string(),
                });
            }
            ImportMode::Append if !head.tables().contains_key(table) => {
                return Err(LakeError::TableNotFound {
                    table: table.to_string(),
                    reference: branch.to_string(),
                });
            }
            _ => {}
        }
        let staged = self.stage_file_as(path, table, contract).await?;
        let change = match mode {
            ImportMode::Create => TableChange::Create(staged),
            ImportMode::Replace => TableChange::Replace(staged),
            ImportMode::Append => TableChange::Append(staged),
        };
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let req = CommitRequest::new(
            branch,
            &format!("import {file_name} into {table} ({})", mode.as_str()),
        )
        .change(table, change);
        self.commit(req).await
    }

    fn snapshot_from_staged(staged: &StagedTable) -> Snapshot {
        let columns = staged
            .schema
            .fields()
            .iter()
            .zip(staged.null_counts.iter())
            .map(|(f, n)| ColumnStats {
                name: f.name().clone(),
                null_count: *n,
            })
            .collect();
        Snapshot::new(SnapshotContent {
            schema: staged.schema.clone(),
            files: staged.files.clone(),
            rows: staged.rows,
            bytes: staged.bytes(),
            columns,
        })
    }

    async fn apply_change(
        &self,
        branch: &str,
        table: &str,
        change: &TableChange,
        tables: &mut BTreeMap<String, SnapshotId>,
        new_snapshots: &mut Vec<Snapshot>,
    ) -> Result<()> {
        match change {
            TableChange::Create(staged) => {
                if tables.contains_key(table) {
                    return Err(LakeError::TableExists {
                        table: table.to_string(),
                        branch: branch.to_string(),
                    });
                }
                let s = Self::snapshot_from_staged(staged);
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Replace(staged) => {
                let s = Self::snapshot_from_staged(staged);
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Append(staged) => {
                let Some(old_id) = tables.get(table) else {
                    return Err(LakeError::TableNotFound {
                        table: table.to_string(),
                        reference: branch.to_string(),
                    });
                };
                let old = self.snapshot(old_id).await?;
                if let Some(detail) = schema_mismatch(&old.content.schema, &staged.schema) {
                    return Err(LakeError::SchemaMismatch {
                        table: table.to_string(),
                        detail,
                    });
                }
                let mut files = old.content.files.clone();
                files.extend(staged.files.iter().cloned());
                let columns = old
                    .content
                    .columns
                    .iter()
                    .zip(staged.null_counts.iter())
                    .map(|(c, n)| ColumnStats {
                        name: c.name.clone(),
                        null_count: c.null_count + n,
                    })
                    .collect();
                let s = Snapshot::new(SnapshotContent {
                    schema: old.content.schema.clone(),
                    files,
                    rows: old.content.rows + staged.rows,
                    bytes: old.content.bytes + staged.bytes(),
                    columns,
                });
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Drop => {
                if tables.remove(table).is_none() {
                    return Err(LakeError::TableNotFound {
                        table: table.to_string(),
                        reference: branch.to_string(),
                    });
                }
            }
            TableChange::Restore(Some(id)) => {
                // Must be a recorded snapshot.
                self.snapshot(id).await?;
                tables.insert(table.to_string(), id.clone());
            }
            TableChange::Restore(None) => {
                tables.remove(table);
            }
        }
        Ok(())
    }

    /// Commits any number of table changes to a branch as ONE atomic step.
    pub async fn commit(&self, req: CommitRequest) -> Result<Commit> {
        for (t, _) in &req.changes {
            validate_table_name(t)?;
        }
        // Staged files must still exist (a gc with a too short grace period
        // could have removed them): never commit a dangling file.
        for (_, change) in &req.changes {
            if let TableChange::Create(s) | TableChange::Replace(s) | TableChange::Append(s) =
                change
            {
                for f in &s.files {
                    if !self.data.exists(&f.path).await? {
                        return Err(LakeError::Corrupt(format!(
                            "staged data file {} is missing (removed by gc?)",
                            f.path
                        )));
                    }
                }
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let head = self.branch_head(&req.branch).await?;
            if let Some(expected) = &req.expected_head
                && expected != &head.id
            {
                return Err(LakeError::Conflict {
                    branch: req.branch.clone(),
                    expected: expected.0.clone(),
                    actual: head.id.0.clone(),
                });
            }
            let mut tables = head.tables().clone();
            let mut snapshots = Vec::new();
            for (t, change) in &req.changes {
                self.apply_change(&req.branch, t, change, &mut tables, &mut snapshots)
                    .await?;
            }
            let commit = Commit::new(CommitContent {
                parents: vec![head.id.clone()],
                tables,
                message: req.message.clone(),
                author: self.author.clone(),
                time_ms: now_ms().max(head.content.time_ms + 1),
                properties: req.properties.clone(),
            });
            match self
                .catalog
                .commit(&req.branch, &head.id, &commit, &snapshots)
                .await
            {
                Ok(()) => return Ok(commit),
                Err(LakeError::Conflict { .. })
                    if req.expected_head.is_none() && attempt < MAX_RETRIES =>
                {
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops a table from a branch in one commit.
    pub async fn drop_table(&self, table: &str, branch: &str) -> Result<Commit> {
        self.commit(
            CommitRequest::new(branch, &format!("drop table {table}"))
                .change(table, TableChange::Drop),
        )
        .await
    }

    /// A new commit on `into` that restores `table` as it was at `to`
    /// (removing it if it did not exist there).
    pub async fn revert(&self, table: &str, to: &str, into: &str) -> Result<Commit> {
        validate_table_name(table)?;
        let target = self.resolve(to).await?;
        let head = self.branch_head(into).await?;
        let snap = target.commit.tables().get(table).cloned();
        if snap.is_none() && !head.tables().contains_key(table) {
            return Err(LakeError::TableNotFound {
                table: table.to_string(),
                reference: format!("{to} or {into}"),
            });
        }
        let mut req = CommitRequest::new(
            into,
            &format!("revert {table} to {to} ({})", target.commit.id.short()),
        )
        .change(table, TableChange::Restore(snap));
        req.properties
            .insert("reverted_to".into(), target.commit.id.0.clone());
        self.commit(req).await
    }

    // ----- merging -------------------------------------------------------

    /// Merges `source` into branch `into`: fast-forward when possible, else a
    /// three-way merge at table granularity that refuses (changing nothing)
    /// when a table changed on both sides since the merge base.
    pub async fn merge(&self, req: MergeRequest) -> Result<MergeOutcome> {
        let source = self.resolve(&req.source).await?;
        if source.target == RefTarget::Branch(req.into.clone()) {
            return Err(LakeError::SelfMerge {
                source_ref: req.source.clone(),
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ours = self.branch_head(&req.into).await?;
            if let Some(expected) = &req.expected_into_head
                && expected != &ours.id
            {
                return Err(LakeError::Conflict {
                    branch: req.into.clone(),
                    expected: expected.0.clone(),
                    actual: ours.id.0.clone(),
                });
            }
            let theirs = &source.commit;
            if self.is_ancestor(&theirs.id, &ours.id).await? {
                return Ok(MergeOutcome::UpToDate { head: ours.id });
            }
            let allowed = self.check_incoming(&req, &ours.id, &theirs.id).await?;
            let mut properties = req.properties.clone();
            if !allowed.is_empty() {
                properties.insert("allowed_unpublished_runs".into(), allowed.join(","));
            }
            let result = if !req.no_fast_forward
                && properties == req.properties
                && self.is_ancestor(&ours.id, &theirs.id).await?
            {
                self.catalog
                    .move_branch(&req.into, &ours.id, &theirs.id)
                    .await
                    .map(|()| MergeOutcome::FastForward {
                        from: ours.id.clone(),
                        to: theirs.id.clone(),
                    })
            } else {
                let base = self
                    .merge_base(&ours.id, &theirs.id)
                    .await?
                    .ok_or_else(|| {
                        LakeError::Corrupt(format!(
                            "commits {} and {} share no history",
                            ours.id.short(),
                            theirs.id.short()
                        ))
                    })?;
                let (tables, from_source, conflicts) =
                    three_way(base.tables(), ours.tables(), theirs.tables());
                if !conflicts.is_empty() {
                    return Err(LakeError::MergeConflict {
                        source_ref: req.source.clone(),
                        into: req.into.clone(),
                        base: base.id.short().to_string(),
                        tables: conflicts,
                    });
                }
                let message = req
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("merge {} into {}", req.source, req.into));
                let commit = Commit::new(CommitContent {
                    parents: vec![ours.id.clone(), theirs.id.clone()],
                    tables,
                    message,
                    author: self.author.clone(),
                    time_ms: now_ms()
                        .max(ours.content.time_ms + 1)
                        .max(theirs.content.time_ms + 1),
                    properties,
                });
                self.catalog
                    .commit(&req.into, &ours.id, &commit, &[])
                    .await
                    .map(|()| MergeOutcome::Merged {
                        commit: commit.id.clone(),
                        base: base.id.clone(),
                        tables_from_source: from_source,
                    })
            };
            match result {
                Err(LakeError::Conflict { .. })
                    if req.expected_into_head.is_none() && attempt < MAX_RETRIES =>
                {
                    backoff(attempt).await;
                }
                other => return other,
            }
        }
    }

    /// Checks the commits that merging `theirs` would bring into `ours`: refuses
    /// when one carries a mark of `req.refuse_marked`, or was made by a run that
    /// was never published (unless `req.allow_unpublished_runs`). Returns the
    /// unpublished runs let through.
    async fn check_incoming(
        &self,
        req: &MergeRequest,
        ours: &CommitId,
        theirs: &CommitId,
    ) -> Result<Vec<String>> {
        let mut incoming = self.paint(ours, theirs, true).await?.incoming;
        incoming.reverse(); // oldest first
        let mut status: BTreeMap<String, String> = BTreeMap::new();
        let mut allowed = Vec::new();
        for c in incoming {
            if !req.refuse_marked.is_empty() {
                let marks = self.catalog.commit_marks(&c.id).await?;
                for key in &req.refuse_marked {
                    if let Some(value) = marks.get(key) {
                        return Err(LakeError::MarkedCommit {
                            source_ref: req.source.clone(),
                            into: req.into.clone(),
                            commit: c.id.short().to_string(),
                            key: key.clone(),
                            value: value.clone(),
                        });
                    }
                }
            }
            let Some(run) = c.content.properties.get("run_id") else {
                continue;
            };
            if req.publishing_run.as_deref() == Some(run.as_str()) {
                continue;
            }
            if !status.contains_key(run) {
                let found = self.catalog.runs(run, 1).await?;
                let s = match found.first() {
                    Some(r) if &r.id == run => r.status.clone(),
                    _ => "unknown".to_string(),
                };
                status.insert(run.clone(), s);
            }
            let s = &status[run];
            if s == crate::model::RUN_SUCCEEDED {
                continue;
            }
            if !req.allow_unpublished_runs {
                return Err(LakeError::UnpublishedRun {
                    source_ref: req.source.clone(),
                    into: req.into.clone(),
                    commit: c.id.short().to_string(),
                    run: run.clone(),
                    status: s.clone(),
                });
            }
            if !allowed.contains(run) {
                allowed.push(run.clone());
            }
        }
        Ok(allowed)
    }

    // ----- run records -----------------------------------------------------

    /// Records (or replaces) a run record.
    pub async fn put_run(&self, run: &crate::model::RunRow) -> Result<()> {
        self.catalog.put_run(run).await
    }

    /// Run records whose id starts with `id_prefix`, newest first.
    pub async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<crate::model::RunRow>> {
        self.catalog.runs(id_prefix, limit).await
    }

    // ----- inspecting ----------------------------------------------------

    pub async fn list_tables(&self, reference: &str) -> Result<Vec<TableSummary>> {
        let r = self.resolve(reference).await?;
        let mut out = Vec::new();
        for (name, sid) in r.commit.tables() {
            let s = self.snapshot(sid).await?;
            out.push(TableSummary {
                name: name.clone(),
                snapshot: sid.clone(),
                rows: s.content.rows,
                bytes: s.content.bytes,
                files: s.content.files.len(),
                columns: s.content.schema.fields().len(),
            });
        }
        Ok(out)
    }

    /// The snapshot of `table` as of `reference`.
    pub async fn table_snapshot(&self, reference: &str, table: &str) -> Result<Snapshot> {
        let r = self.resolve(reference).await?;
        let sid = r
            .commit
            .tables()
            .get(table)
            .ok_or_else(|| LakeError::TableNotFound {
                table: table.to_string(),
                reference: reference.to_string(),
            })?;
        self.snapshot(sid).await
    }

    pub async fn show_table(&self, reference: &str, table: &str) -> Result<TableDetails> {
        let r = self.resolve(reference).await?;
        let sid =
            r.commit
                .tables()
                .get(table)
                .cloned()
                .ok_or_else(|| LakeError::TableNotFound {
                    table: table.to_string(),
                    reference: reference.to_string(),
                })?;
        let snap = self.snapshot(&sid).await?;
        let nulls: HashMap<&str, u64> = snap
            .content
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.null_count))
            .collect();
        let schema = snap
            .content
            .schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
                null_count: nulls.get(f.name().as_str()).copied().unwrap_or(0),
            })
            .collect();
        // First-parent history: every commit that changed this table.
        let mut history = Vec::new();
        let mut cur = Some(r.commit.clone());
        while let Some(c) = cur {
            let parent = match c.parents().first() {
                Some(p) => Some(self.commit_by_id(p).await?),
                None => None,
            };
            let mine = c.tables().get(table);
            let before = parent.as_ref().and_then(|p| p.tables().get(table));
            if mine != before {
                let rows = match mine {
                    Some(s) => Some(self.snapshot(s).await?.content.rows),
                    None => None,
                };
                history.push(HistoryEntry {
                    commit: c.id.clone(),
                    time: format_time(c.content.time_ms),
                    message: c.content.message.clone(),
                    snapshot: mine.cloned(),
                    rows,
                });
            }
            cur = parent;
        }
        Ok(TableDetails {
            name: table.to_string(),
            reference: reference.to_string(),
            commit: r.commit.id.clone(),
            snapshot: sid,
            rows: snap.content.rows,
            bytes: snap.content.bytes,
            schema,
            files: snap.content.files.clone(),
            history,
        })
    }

    /// Reads every row of `table` as of `reference` (files in order).
    pub async fn read_table(
        &self,
        reference: &str,
        table: &str,
    ) -> Result<(Schema, Vec<RecordBatch>)> {
        let snap = self.table_snapshot(reference, table).await?;
        let batches = self.read_files(&snap.content.files).await?;
        Ok((snap.content.schema.clone(), batches))
    }

    /// Reads data files completely, in order.
    pub async fn read_files(&self, files: &[DataFile]) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for f in files {
            let bytes = self.data.get(&f.path).await?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.with_batch_size(64 * 1024).build())
                .map_err(|e| LakeError::Parquet {
                    path: f.path.clone(),
                    reason: e.to_string(),
                })?;
            for b in reader {
                batches.push(b.map_err(|e| LakeError::Parquet {
                    path: f.path.clone(),
                    reason: e.to_string(),
                })?);
            }
        }
        Ok(batches)
    }

    /// Tables added, removed and changed from `from` to `to`.
    pub async fn diff(&self, from: &str, to: &str) -> Result<Vec<TableDiff>> {
        let a = self.resolve(from).await?.commit;
        let b = self.resolve(to).await?.commit;
        let names: BTreeSet<&String> = a.tables().keys().chain(b.tables().keys()).collect();
        let mut out = Vec::new();
        for name in names {
            match (a.tables().get(name), b.tables().get(name)) {
                (None, Some(s)) => out.push(TableDiff::Added {
                    table: name.clone(),
                    rows: self.snapshot(s).await?.content.rows,
                }),
                (Some(s), None) => out.push(TableDiff::Removed {
                    table: name.clone(),
                    rows: self.snapshot(s).await?.content.rows,
                }),
                (Some(x), Some(y)) if x != y => {
                    let sx = self.snapshot(x).await?;
                    let sy = self.snapshot(y).await?;
                    out.push(TableDiff::Changed {
                        table: name.clone(),
                        rows_before: sx.content.rows,
                        rows_after: sy.content.rows,
                        schema_changes: schema_changes(&sx.content.schema, &sy.content.schema),
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    // ----- garbage collection -------------------------------------------

    /// Deletes data files that no recorded snapshot references and that are
    /// older than `grace`. Every commit ever recorded (hence every branch,
    /// tag and old commit) keeps its files; the grace period protects files
    /// of writers that have written data but not yet committed.
    pub async fn gc(&self, grace: Duration) -> Result<GcReport> {
        // List files BEFORE reading the catalog: a file committed in between
        // is then seen as referenced.
        let files = self.data.list_data_files().await?;
        let referenced: HashSet<String> = self
            .catalog
            .all_snapshots()
            .await?
            .into_iter()
            .flat_map(|s| s.content.files.into_iter().map(|f| f.path))
            .collect();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        let mut report = GcReport::default();
        for meta in files {
            let path = meta.location.to_string();
            if referenced.contains(&path) {
                report.referenced += 1;
                continue;
            }
            let modified: SystemTime = meta.last_modified.into();
            if modified > cutoff {
                report.too_recent += 1;
                continue;
            }
            self.data.delete(&path).await?;
            report.deleted_bytes += meta.size;
            report.deleted.push(path);
        }
        report.deleted.sort();
        Ok(report)
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

/// The three-way merge of table maps. Returns the merged map, the tables
/// taken from `theirs`, and the tables changed on both sides differently.
pub fn three_way(
    base: &BTreeMap<String, SnapshotId>,
    ours: &BTreeMap<String, SnapshotId>,
    theirs: &BTreeMap<String, SnapshotId>,
) -> (BTreeMap<String, SnapshotId>, Vec<String>, Vec<String>) {
    let names: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    let mut merged = BTreeMap::new();
    let mut from_theirs = Vec::new();
    let mut conflicts = Vec::new();
    for name in names {
        let (b, o, t) = (base.get(name), ours.get(name), theirs.get(name));
        let pick = if o == t || t == b {
            o
        } else if o == b {
            from_theirs.push(name.clone());
            t
        } else {
            conflicts.push(name.clone());
            o
        };
        if let Some(s) = pick {
            merged.insert(name.clone(), s.clone());
        }
    }
    (merged, from_theirs, conflicts)
}

fn schema_mismatch(old: &Schema, new: &Schema) -> Option<String> {
    let changes = schema_changes(old, new);
    let order_differs = changes.is_empty()
        && old
            .fields()
            .iter()
            .map(|f| f.name())
            .ne(new.fields().iter().map(|f| f.name()));
    if changes.is_empty() && !order_differs {
        return None;
    }
    if order_differs {
        return Some("the columns are in a different order".into());
    }
    Some(
        changes
            .iter()
            .map(|c| match c {
                ColumnChange::Added {
                    name, data_type, ..
                } => format!("new column `{name}` {data_type}"),
                ColumnChange::Removed { name } => format!("missing column `{name}`"),
                ColumnChange::TypeChanged { name, from, to } => {
                    format!("column `{name}` is {to}, the table has {from}")
                }
                ColumnChange::NullabilityChanged { name, from, to } => format!(
                    "column `{name}` is {}, the table has it {}",
                    if *to { "nullable" } else { "non-null" },
                    if *from { "nullable" } else { "non-null" }
                ),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Column-level differences between two schemas.
pub fn schema_changes(before: &Schema, after: &Schema) -> Vec<ColumnChange> {
    let mut out = Vec::new();
    for f in before.fields() {
        match after.field_with_name(f.name()) {
            Err(_) => out.push(ColumnChange::Removed {
                name: f.name().clone(),
            }),
            Ok(g) => {
                if f.data_type() != g.data_type() {
                    out.push(ColumnChange::TypeChanged {
                        name: f.name().clone(),
                        from: f.data_type().to_string(),
                        to: g.data_type().to_string(),
                    });
                }
                if f.is_nullable() != g.is_nullable() {
                    out.push(ColumnChange::NullabilityChanged {
                        name: f.name().clone(),
                        from: f.is_nullable(),
                        to: g.is_nullable(),
                    });
                }
            }
        }
    }
    for g in after.fields() {
        if before.field_with_name(g.name()).is_err() {
            out.push(ColumnChange::Added {
                name: g.name().clone(),
                data_type: g.data_type().to_string(),
                nullable: g.is_nullable(),
            });
        }
    }
    out
}
