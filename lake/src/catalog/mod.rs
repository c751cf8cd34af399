//! The catalog: commits, snapshots, branches and tags in a database.
//!
//! One trait, two backends ([`sqlite::SqliteCatalog`], the default, and
//! [`postgres::PostgresCatalog`]) that pass the same test suite. Every write
//! is one database transaction; ref updates are compare-and-swap, and every
//! ref update runs the write guard ([`guard`]) inside its transaction: a
//! run's sealed branch takes writes only with the run's [`Lease`], and no
//! snapshot of an unpublished run enters any other branch.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Commit, CommitId, Lease, RefEntry, RefKind, RunRow, Snapshot, SnapshotId};

mod guard;
pub mod postgres;
mod postgres_guard;
pub mod sqlite;
mod sqlite_guard;

/// The catalog schema version this code writes; see `MIGRATIONS` in each backend.
pub const SCHEMA_VERSION: i64 = 3;

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
}

pub(crate) fn props_to_json(p: &BTreeMap<String, String>) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn props_from_json(s: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(s)
        .map_err(|e| crate::error::LakeError::Corrupt(format!("properties: {e}")))
}
