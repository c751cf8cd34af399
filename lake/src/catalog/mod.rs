//! The catalog: commits, snapshots, branches and tags in a database.
//!
//! One trait, two backends ([`sqlite::SqliteCatalog`], the default, and
//! [`postgres::PostgresCatalog`]) that pass the same test suite. Every write
//! is one database transaction; ref updates are compare-and-swap.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Commit, CommitId, RefEntry, RefKind, RunRow, Snapshot, SnapshotId};

pub mod postgres;
pub mod sqlite;

/// The catalog schema version this code writes; see `MIGRATIONS` in each backend.
pub const SCHEMA_VERSION: i64 = 2;

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
    /// `CommitNotFound` if `commit` is not recorded.
    async fn create_ref(&self, name: &str, kind: RefKind, commit: &CommitId) -> Result<()>;

    /// Deletes a ref of the given kind; `BranchNotFound`/`TagNotFound` if absent.
    async fn delete_ref(&self, name: &str, kind: RefKind) -> Result<()>;

    /// Sets (or with `None` removes) a property of a branch.
    async fn set_branch_property(&self, branch: &str, key: &str, value: Option<&str>)
    -> Result<()>;

    /// The atomic write: in ONE transaction, records `snapshots` and `commit`
    /// (both idempotent by content id) and moves `branch` from `expected` to
    /// `commit.id`. If the branch is no longer at `expected`, nothing is
    /// written and `Conflict` is returned.
    async fn commit(
        &self,
        branch: &str,
        expected: &CommitId,
        commit: &Commit,
        snapshots: &[Snapshot],
    ) -> Result<()>;

    /// Compare-and-swap of a branch to an already recorded commit (used by
    /// fast-forward merges). `Conflict` if the branch is not at `expected`.
    async fn move_branch(&self, branch: &str, expected: &CommitId, new: &CommitId) -> Result<()>;

    /// Adds a mutable mark to a commit (outside its hashed content), e.g.
    /// `aborted = <run id>`.
    async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()>;

    async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>>;

    /// Records (or replaces) a run record. The lake reads only `status`; the
    /// body is the runtime's.
    async fn put_run(&self, run: &RunRow) -> Result<()>;

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
