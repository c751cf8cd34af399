//! The catalog: commits, snapshots, branches and tags in a database.
//!
//! One trait, two backends ([`sqlite::SqliteCatalog`], the default, and
//! [`postgres::PostgresCatalog`]) that pass the same test suite. Every write
//! is one database transaction; ref updates are compare-and-swap, and every
//! ref update runs the write guard (`catalog/guard.rs`) inside its transaction: a
//! run's sealed branch takes writes only with the run's [`Lease`], and no
//! snapshot of an unpublished run enters any other branch.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Commit, CommitId, Lease, RefEntry, RefKind, RunRow, Snapshot, SnapshotId};

mod column_ids;
mod guard;
pub mod postgres;
mod postgres_files;
mod postgres_guard;
mod release;
pub mod sqlite;
mod sqlite_files;
mod sqlite_guard;

/// The catalog schema version this code writes; see `MIGRATIONS` in each backend.
pub const SCHEMA_VERSION: i64 = 5;

/// The first schema version with the data file tables (`data_files`,
/// `pending_files`, `condemned_files`); opening an older lake fills
/// `data_files` from its snapshots.
pub(crate) const FILES_VERSION: i64 = 4;

/// gc's decision, taken in one catalog transaction ([`Catalog::condemn_files`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condemned {
    /// Files now condemned: gc deletes them, then [`Catalog::clear_condemned`].
    /// Includes files condemned by an earlier gc that did not finish.
    pub paths: Vec<String>,
    /// Candidates kept because a recorded snapshot references them.
    pub referenced: usize,
    /// Unreferenced candidates kept because they are younger than the grace period.
    pub too_recent: usize,
    /// Candidates kept because a writer registered them within the grace period.
    pub pending: usize,
}

impl Condemned {
    /// Counts an unreferenced file modified at `modified_ms` and registered by a
    /// writer at `registered_ms` (if at all) as kept, or returns true: condemn it.
    pub(crate) fn condemns(
        &mut self,
        modified_ms: i64,
        registered_ms: Option<i64>,
        cutoff_ms: i64,
    ) -> bool {
        if modified_ms > cutoff_ms {
            self.too_recent += 1;
            false
        } else if registered_ms.is_some_and(|ms| ms >= cutoff_ms) {
            self.pending += 1;
            false
        } else {
            true
        }
    }
}

#[async_trait]
pub trait Catalog: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Creates or migrates the schema. On a new catalog, records `settings`,
    /// stores `root` and points branch `main` at it; on an existing one does
    /// nothing else. Safe to call concurrently from several processes.
    async fn init(&self, root: &Commit, settings: &BTreeMap<String, String>) -> Result<()>;

    /// A setting recorded at creation (e.g. `data_uri`).
    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn get_commit(&self, id: &CommitId) -> Result<Option<Commit>>;

    /// Ids of commits whose id starts with `prefix` (at most `limit`).
    async fn commits_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<CommitId>>;

    async fn get_snapshot(&self, id: &SnapshotId) -> Result<Option<Snapshot>>;

    /// Every snapshot ever recorded (they are all referenced by some commit).
    async fn all_snapshots(&self) -> Result<Vec<Snapshot>>;

    async fn get_ref(&self, name: &str) -> Result<Option<RefEntry>>;

    /// Refs sorted by name, optionally only one kind.
    async fn list_refs(&self, kind: Option<RefKind>) -> Result<Vec<RefEntry>>;

    /// Creates a branch or tag; `RefExists` if any ref has that name;
    /// `CommitNotFound` if `commit` is not recorded. A branch created with a
    /// `lease` is sealed: only that lease's run may write to it. A branch whose
    /// head would hold a snapshot of an unpublished run (other than the
    /// lease's own) is refused with `UnpublishedRun`; tags are not checked.
    async fn create_ref(
        &self,
        name: &str,
        kind: RefKind,
        commit: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Deletes a ref of the given kind; `BranchNotFound`/`TagNotFound` if absent;
    /// `SealedBranch` for a running run's branch without its lease.
    async fn delete_ref(&self, name: &str, kind: RefKind, lease: Option<&Lease>) -> Result<()>;

    /// Sets (or with `None` removes) a property of a branch; `SealedBranch` for
    /// a running run's branch without its lease.
    async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// The atomic write: in ONE transaction, records `snapshots` and `commit`
    /// (both idempotent by content id) and moves `branch` from `expected` to
    /// `commit.id`. If the branch is no longer at `expected`, nothing is
    /// written and `Conflict` is returned. A sealed branch needs its `lease`
    /// (`SealedBranch`); new snapshots of a sealed branch are recorded as
    /// written by its run; the guard
    /// refuses snapshots of unpublished runs (`UnpublishedRun`).
    async fn commit(
        &self,
        branch: &str,
        expected: &CommitId,
        commit: &Commit,
        snapshots: &[Snapshot],
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Compare-and-swap of a branch to an already recorded commit (used by
    /// fast-forward merges). `Conflict` if the branch is not at `expected`;
    /// the same guard as [`Catalog::commit`].
    async fn move_branch(
        &self,
        branch: &str,
        expected: &CommitId,
        new: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()>;

    /// Adds a mutable mark to a commit (outside its hashed content), e.g.
    /// `aborted = <run id>`.
    async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()>;

    async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>>;

    /// Records (or replaces) a run record. The lake reads only `status`; the
    /// body is the runtime's. A status only moves from `running` to another
    /// (`RunFinished`), and to `succeeded` only with the lease of the run's
    /// sealed branch, if it has one (`SealedBranch`).
    async fn put_run(&self, run: &RunRow, lease: Option<&Lease>) -> Result<()>;

    /// Runs whose id starts with `id_prefix` (`""`: all), newest first.
    async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<RunRow>>;

    // ----- data file lifecycle (gc safety) -------------------------------
    // A writer registers a file BEFORE writing it; `commit` turns the
    // registrations of its new files into references in the same transaction
    // (refusing with `StagedFileLost` if one is gone or condemned); gc
    // condemns, in one transaction, only unreferenced files whose
    // registration is absent or older than its grace period, deletes them,
    // and then clears them. A commit and a condemnation of the same file
    // therefore exclude each other.

    /// Registers files an in-flight writer is about to write, at `now_ms`.
    async fn register_pending(&self, paths: &[String], now_ms: i64) -> Result<()>;

    /// Drops registrations of files a writer abandoned (gc then removes the
    /// files after its grace period).
    async fn release_pending(&self, paths: &[String]) -> Result<()>;

    /// gc's decision in ONE transaction: of `files` (path, modification time
    /// in ms), condemns those no snapshot references, modified at or before
    /// `cutoff_ms`, and registered by no writer at or after `cutoff_ms`,
    /// dropping their expired registrations.
    async fn condemn_files(&self, files: &[(String, i64)], cutoff_ms: i64) -> Result<Condemned>;

    /// Forgets condemned files once gc has deleted them.
    async fn clear_condemned(&self, paths: &[String]) -> Result<()>;

    /// Files registered at or after `since_ms` and not yet committed.
    async fn pending_files(&self, since_ms: i64) -> Result<Vec<String>>;

    // ----- column identity ----------------------------------------------

    /// The ids of the columns `keys` of the table named `table` (see
    /// the `column_ids` module), in ONE transaction: a key seen before keeps its id on
    /// every branch and commit; new keys get the table's next ids, in order.
    async fn column_ids(&self, table: &str, keys: &[String]) -> Result<Vec<i32>>;
}

/// Why a commit cannot adopt a new file, `None` if it can.
pub(crate) fn lost_reason(condemned: bool, pending: bool) -> Option<&'static str> {
    if condemned {
        Some("gc condemned it (it was registered longer ago than gc's grace period)")
    } else if !pending {
        Some("no writer registered it, or its registration expired and gc removed it")
    } else {
        None
    }
}

/// The distinct files of `snapshots`.
pub(crate) fn snapshot_files(snapshots: &[Snapshot]) -> Vec<String> {
    let mut paths: Vec<String> = snapshots
        .iter()
        .flat_map(|s| s.content.files.iter().map(|f| f.path.clone()))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

pub(crate) fn props_to_json(p: &BTreeMap<String, String>) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn props_from_json(s: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(s)
        .map_err(|e| crate::error::LakeError::Corrupt(format!("properties: {e}")))
}
