//! `sluice-lake`: a versioned lake with Git semantics over immutable Parquet
//! files.
//!
//! * Data: every table snapshot is a set of immutable Parquet files (plus its
//!   Arrow schema and statistics) in an object store ([`store::DataStore`]).
//! * Catalog: commits, snapshots, branches and tags in a database behind the
//!   [`catalog::Catalog`] trait (SQLite by default, PostgreSQL for teams).
//! * [`Lake`]: refs, atomic multi-table commits, merges, reverts, diffs,
//!   time travel and garbage collection.

pub mod catalog;
pub mod config;
pub mod error;
pub mod import;
mod lake;
pub mod model;
mod query;
pub mod store;

pub use config::{CatalogConfig, LakeConfig};
pub use error::{LakeError, Result};
pub use lake::{
    ColumnChange, ColumnInfo, CommitRequest, DEFAULT_GC_GRACE, FileFault, FsckFault, FsckReport,
    GcPlan, GcReport, HistoryEntry, ImportMode, Lake, LogEntry, MergeOutcome, MergeRequest,
    RefTarget, Resolved, TableChange, TableDetails, TableDiff, TableSummary, format_time,
    schema_changes, three_way,
};
pub use model::{
    ColumnStats, Commit, CommitContent, CommitId, DataFile, Lease, RUN_RUNNING, RUN_SUCCEEDED,
    RefEntry, RefKind, RunRow, Snapshot, SnapshotContent, SnapshotId,
};
pub use query::table_reference;
pub use store::{DataStore, StagedTable, TableWriter, cast_batch, without_view_types};
