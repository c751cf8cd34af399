//! The one error type of the lake crate. Every variant names the table, ref,
//! commit or file it is about, so a caller can print it as is.

use std::path::PathBuf;

/// A result of the lake crate.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("invalid {what} name `{name}`: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
    #[error("invalid ref `{reference}`: {reason}")]
    InvalidRef { reference: String, reason: String },
    #[error("ref `{0}` does not exist (no branch, tag or commit has that name)")]
    RefNotFound(String),
    #[error("branch `{0}` does not exist")]
    BranchNotFound(String),
    #[error("tag `{0}` does not exist")]
    TagNotFound(String),
    #[error("commit `{0}` does not exist")]
    CommitNotFound(String),
    #[error("commit prefix `{prefix}` is ambiguous: it matches {matches}")]
    AmbiguousCommit { prefix: String, matches: String },
    #[error("commit `{commit}` is not in the history of branch `{branch}`")]
    CommitNotOnBranch { commit: String, branch: String },
    #[error("a {kind} named `{name}` already exists")]
    RefExists { kind: &'static str, name: String },
    #[error("`{reference}` is a {kind}, which is read-only: write to a branch instead")]
    ReadOnlyRef {
        reference: String,
        kind: &'static str,
    },
    #[error("the branch `main` cannot be deleted")]
    CannotDeleteMain,
    #[error("table `{table}` does not exist at `{reference}`")]
    TableNotFound { table: String, reference: String },
    #[error(
        "table `{table}` already exists on branch `{branch}` (use --mode replace or --mode append)"
    )]
    TableExists { table: String, branch: String },
    #[error(
        "cannot append to table `{table}`: schema differs ({detail}); to read the file as the \
         table's declared types, import it with `--contract DIR` (the project whose \
         `Source(...)` schema declares `{table}`), or replace the table with `--mode replace`"
    )]
    SchemaMismatch { table: String, detail: String },
    #[error("branch `{branch}` moved while committing: expected head {expected}, found {actual}")]
    Conflict {
        branch: String,
        expected: String,
        actual: String,
    },
    #[error("cannot merge `{source_ref}` into itself")]
    SelfMerge { source_ref: String },
    #[error(
        "merge of `{source_ref}` into `{into}` refused: table(s) changed on both sides since the merge base {base}: {}",
        tables.join(", ")
    )]
    MergeConflict {
        source_ref: String,
        into: String,
        base: String,
        tables: Vec<String>,
    },
    #[error(
        "merge of `{source_ref}` into `{into}` refused: it would bring in commit {commit}, marked {key}={value}"
    )]
    MarkedCommit {
        source_ref: String,
        into: String,
        commit: String,
        key: String,
        value: String,
    },
    #[error(
        "{action} `{branch}` refused: table `{table}` would hold a snapshot written by run {run}, which was never published (status: {status}); an unpublished run's output stays on its own branch: inspect it read-only (`sluice runs show {run}`, `sluice query --ref run/...`, or a tag)"
    )]
    UnpublishedRun {
        /// What was attempted: `commit to`, `move`, `create branch`.
        action: &'static str,
        branch: String,
        table: String,
        run: String,
        status: String,
    },
    #[error(
        "{action} `{branch}` refused: the branch is sealed by run {run}, and only that run may write to it (inspect it read-only: query it, or tag it)"
    )]
    SealedBranch {
        /// What was attempted: `commit to`, `move`, `delete`, `set a property of`.
        action: &'static str,
        branch: String,
        run: String,
    },
    #[error("run {run} already ended ({status}): its status cannot become {new}")]
    RunFinished {
        run: String,
        status: String,
        new: String,
    },
    #[error(
        "table `{table}` would collide with table `{existing}` at `{reference}`: SQL resolves both to the same table (names are case-insensitive and `public.` is the default schema); choose another name"
    )]
    TableNameCollision {
        table: String,
        existing: String,
        reference: String,
    },
    #[error("cannot read `{}`: {reason}", path.display())]
    Input { path: PathBuf, reason: String },
    #[error("malformed {format} file `{}`: {reason}", path.display())]
    MalformedInput {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("unsupported file type `{}`: expected .parquet, .csv, .jsonl or .ndjson", .0.display())]
    UnsupportedFormat(PathBuf),
    #[error("data file `{path}`: {source}")]
    Storage {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("parquet error in `{path}`: {reason}")]
    Parquet { path: String, reason: String },
    #[error("arrow error in table `{table}`: {reason}")]
    Arrow { table: String, reason: String },
    #[error("catalog ({backend}) error: {reason}")]
    Catalog {
        backend: &'static str,
        reason: String,
    },
    #[error("catalog is corrupt: {0}")]
    Corrupt(String),
    #[error("lake configuration: {0}")]
    Config(String),
    /// A read was asked of a lake that was never created (reads never create one).
    #[error("no lake at {location} (set --lake or SLUICE_LAKE, or run `sluice init`)")]
    NoLake { location: String },
    #[error("I/O error on `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("query failed: {0}")]
    Query(String),
    #[error(
        "table `{table}` at `{reference}`: data file `{path}` is missing from the data store \
         (`sluice fsck` lists every damaged file)"
    )]
    DataFileMissing {
        table: String,
        reference: String,
        path: String,
    },
    #[error(
        "table `{table}` at `{reference}`: data file `{path}` has {actual} bytes, the catalog \
         recorded {expected}: it was altered outside sluice (`sluice fsck` lists every damaged file)"
    )]
    DataFileAltered {
        table: String,
        reference: String,
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "staged data file `{path}` can no longer be committed: {reason}; nothing was committed, \
         write the data again"
    )]
    StagedFileLost { path: String, reason: String },
}

impl LakeError {
    /// True when the operation was refused because of the state of the lake
    /// (a conflict, an existing name, a read-only ref) rather than bad usage
    /// or an I/O failure. The CLI maps this to exit code 1.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            LakeError::Conflict { .. }
                | LakeError::MergeConflict { .. }
                | LakeError::MarkedCommit { .. }
                | LakeError::UnpublishedRun { .. }
                | LakeError::SealedBranch { .. }
                | LakeError::TableNameCollision { .. }
                | LakeError::RunFinished { .. }
                | LakeError::SelfMerge { .. }
                | LakeError::RefExists { .. }
                | LakeError::ReadOnlyRef { .. }
                | LakeError::TableExists { .. }
                | LakeError::SchemaMismatch { .. }
                | LakeError::CannotDeleteMain
                | LakeError::Query(_)
        )
    }
}

impl From<rusqlite::Error> for LakeError {
    fn from(e: rusqlite::Error) -> Self {
        LakeError::Catalog {
            backend: "sqlite",
            reason: e.to_string(),
        }
    }
}

impl From<tokio_postgres::Error> for LakeError {
    fn from(e: tokio_postgres::Error) -> Self {
        let reason = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        LakeError::Catalog {
            backend: "postgres",
            reason,
        }
    }
}
