//! The lake's immutable objects: commits and table snapshots, identified by
//! the SHA-256 of their canonical serialization, and the name rules.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{LakeError, Result};

/// Hex SHA-256 of a commit's canonical content.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommitId(pub String);

/// Hex SHA-256 of a snapshot's canonical content.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub String);

impl CommitId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The 12-character abbreviation used for display.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl SnapshotId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The hashed content of a commit. Field order and `BTreeMap`s make the JSON
/// serialization canonical, so the id is a pure function of the content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitContent {
    pub parents: Vec<CommitId>,
    /// table name -> snapshot
    pub tables: BTreeMap<String, SnapshotId>,
    pub message: String,
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Free-form properties, e.g. `run_id`.
    pub properties: BTreeMap<String, String>,
}

/// An immutable commit: a map from table names to snapshots plus history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: CommitId,
    #[serde(flatten)]
    pub content: CommitContent,
}

impl Commit {
    pub fn new(content: CommitContent) -> Commit {
        let id = CommitId(sha256_hex(&content.canonical_bytes()));
        Commit { id, content }
    }

    /// Rebuilds a commit from its stored canonical body and checks the id.
    pub fn from_stored(id: &str, body: &str) -> Result<Commit> {
        let content: CommitContent = serde_json::from_str(body)
            .map_err(|e| LakeError::Corrupt(format!("commit {id}: {e}")))?;
        let commit = Commit::new(content);
        if commit.id.0 != id {
            return Err(LakeError::Corrupt(format!(
                "commit {id} hashes to {}: its content was changed",
                commit.id
            )));
        }
        Ok(commit)
    }

    pub fn parents(&self) -> &[CommitId] {
        &self.content.parents
    }
    pub fn tables(&self) -> &BTreeMap<String, SnapshotId> {
        &self.content.tables
    }
    pub fn message(&self) -> &str {
        &self.content.message
    }
}

impl CommitContent {
    pub fn canonical_json(&self) -> String {
        // Serializing plain structs, strings and BTreeMaps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
    fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_json().into_bytes()
    }
}

/// One immutable Parquet file of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the lake's data root, e.g. `tables/orders/<uuid>.parquet`.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Statistics of one column of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub null_count: u64,
}

/// The hashed content of a table snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotContent {
    /// The Arrow schema (without metadata) of every file.
    pub schema: arrow_schema::Schema,
    pub files: Vec<DataFile>,
    pub rows: u64,
    pub bytes: u64,
    pub columns: Vec<ColumnStats>,
}

/// An immutable table snapshot: Parquet files + schema + statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    #[serde(flatten)]
    pub content: SnapshotContent,
}

impl Snapshot {
    pub fn new(content: SnapshotContent) -> Snapshot {
        let id = SnapshotId(sha256_hex(content.canonical_json().as_bytes()));
        Snapshot { id, content }
    }

    pub fn from_stored(id: &str, body: &str) -> Result<Snapshot> {
        let content: SnapshotContent = serde_json::from_str(body)
            .map_err(|e| LakeError::Corrupt(format!("snapshot {id}: {e}")))?;
        let snap = Snapshot::new(content);
        if snap.id.0 != id {
            return Err(LakeError::Corrupt(format!(
                "snapshot {id} hashes to {}: its content was changed",
                snap.id
            )));
        }
        Ok(snap)
    }
}

impl SnapshotContent {
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a ref is a movable branch or a fixed tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Branch,
    Tag,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
        }
    }
    pub fn parse(s: &str) -> Option<RefKind> {
        match s {
            "branch" => Some(RefKind::Branch),
            "tag" => Some(RefKind::Tag),
            _ => None,
        }
    }
}

/// A named ref as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefEntry {
    pub name: String,
    pub kind: RefKind,
    pub commit: CommitId,
    /// Mutable properties of a branch (e.g. `run_id`, `aborted`).
    pub properties: BTreeMap<String, String>,
}

/// A run record as the catalog stores it: the runtime owns `body` (JSON); the
/// lake reads `status` to keep commits of unpublished runs out of other branches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    /// `running`, `succeeded`, `failed`, ...; only `succeeded` runs are published.
    pub status: String,
    pub started_ms: i64,
    pub body: String,
}

/// The status of a run whose commits may be merged anywhere.
pub const RUN_SUCCEEDED: &str = "succeeded";

/// The status of a run that is still executing: only while a run is running is
/// its branch closed to deletion and property changes by others.
pub const RUN_RUNNING: &str = "running";

/// The write lease of a run: a random secret only the run's process holds.
/// The catalog stores just its SHA-256 ([`Lease::hash`]) next to the run's
/// branch, and refuses every write to that branch that does not present it.
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    run_id: String,
    secret: String,
}

impl Lease {
    /// A fresh lease for `run_id` (244 random bits from the OS generator).
    pub fn new(run_id: &str) -> Lease {
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Lease {
            run_id: run_id.to_string(),
            secret,
        }
    }
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
    /// What the catalog stores and compares: the hex SHA-256 of the secret.
    pub fn hash(&self) -> String {
        sha256_hex(self.secret.as_bytes())
    }
    /// Whether this lease is the one recorded for `run_id` as `hash`.
    pub fn matches(&self, run_id: &str, hash: &str) -> bool {
        self.run_id == run_id && self.hash() == hash
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Lease")
            .field("run_id", &self.run_id)
            .finish()
    }
}

const MAX_NAME: usize = 128;

/// Branch and tag names: ASCII letters, digits, `_`, `-`, `.` and `/`; they
/// start with a letter, digit or `_`; no `..`, `//`, trailing `/` or `.`.
pub fn validate_ref_name(what: &'static str, name: &str) -> Result<()> {
    let err = |reason: String| {
        Err(LakeError::InvalidName {
            what,
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return err("it is empty".into());
    }
    if name.len() > MAX_NAME {
        return err(format!("it is longer than {MAX_NAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
    {
        return err(format!(
            "character {c:?} is not allowed (use letters, digits, `_`, `-`, `.` and `/`)"
        ));
    }
    let first = name.chars().next().unwrap_or('_');
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return err(format!(
            "it must start with a letter, a digit or `_`, not {first:?}"
        ));
    }
    if name.contains("..") || name.contains("//") {
        return err("`..` and `//` are not allowed".into());
    }
    if name.ends_with('/') || name.ends_with('.') {
        return err("it must not end with `/` or `.`".into());
    }
    if name.len() >= 4 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return err("it looks like a commit hash (all hexadecimal digits)".into());
    }
    Ok(())
}

/// Table names are SQL identifiers (ASCII letters, digits and `_`, starting
/// with a letter or `_`), optionally qualified by one namespace:
/// `orders`, `raw.orders`. SQL reads `raw.orders` as table `orders` of schema
/// `raw`.
pub fn validate_table_name(name: &str) -> Result<()> {
    let err = |reason: String| {
        Err(LakeError::InvalidName {
            what: "table",
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return err("it is empty".into());
    }
    if name.len() > MAX_NAME {
        return err(format!("it is longer than {MAX_NAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
    {
        return err(format!(
            "character {c:?} is not allowed (use letters, digits and `_`, and one `.` after a namespace)"
        ));
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 {
        return err("it has more than one `.` (use `table` or `namespace.table`)".into());
    }
    for part in parts {
        if part.is_empty() {
            return err("`.` must separate a namespace and a table name (`raw.orders`)".into());
        }
        if part.starts_with(|c: char| c.is_ascii_digit()) {
            return err(if part.len() == name.len() {
                "it must not start with a digit".into()
            } else {
                format!("`{part}` must not start with a digit")
            });
        }
    }
    Ok(())
}

/// The name the query engine resolves a table name to: SQL folds unquoted
/// identifiers to lower case, and `public` is DataFusion's default schema, so
/// `Orders`, `orders` and `public.orders` all mean the same table.
pub fn engine_table_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.strip_prefix("public.") {
        Some(bare) => bare.to_string(),
        None => lower,
    }
}

/// Refuses a table map in which one of `changed` would resolve, in SQL, to the
/// same table as another entry (see [`engine_table_name`]).
pub fn check_table_collisions<'a>(
    tables: &BTreeMap<String, SnapshotId>,
    changed: impl IntoIterator<Item = &'a String>,
    reference: &str,
) -> Result<()> {
    for table in changed {
        if !tables.contains_key(table) {
            continue;
        }
        let key = engine_table_name(table);
        if let Some(existing) = tables
            .keys()
            .find(|other| *other != table && engine_table_name(other) == key)
        {
            return Err(LakeError::TableNameCollision {
                table: table.clone(),
                existing: existing.clone(),
                reference: reference.to_string(),
            });
        }
    }
    Ok(())
}

/// A table name as namespace and table: `("raw", "orders")` for `raw.orders`.
pub fn split_table_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once('.') {
        Some((ns, table)) => (Some(ns), table),
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_id_is_content_hash() {
        let content = CommitContent {
            parents: vec![],
            tables: BTreeMap::from([("t".into(), SnapshotId("s".into()))]),
            message: "m".into(),
            author: "a".into(),
            time_ms: 1,
            properties: BTreeMap::new(),
        };
        let c = Commit::new(content.clone());
        assert_eq!(c.id, Commit::new(content.clone()).id);
        let body = content.canonical_json();
        assert!(Commit::from_stored(&c.id.0, &body).is_ok());
        let tampered = body.replace("\"m\"", "\"x\"");
        assert!(Commit::from_stored(&c.id.0, &tampered).is_err());
    }

    #[test]
    fn names() {
        assert!(validate_ref_name("branch", "feature/x-1.2").is_ok());
        assert!(validate_ref_name("branch", "a b").is_err());
        assert!(validate_ref_name("branch", "a@b").is_err());
        assert!(validate_ref_name("branch", "-a").is_err());
        assert!(validate_ref_name("branch", "a..b").is_err());
        assert!(validate_ref_name("branch", "deadbeef").is_err());
        assert!(validate_table_name("orders_2").is_ok());
        assert!(validate_table_name("2orders").is_err());
        assert!(validate_table_name("a-b").is_err());
        assert!(validate_table_name("raw.orders").is_ok());
        assert!(validate_table_name("_raw.orders_2").is_ok());
        for bad in ["a.b.c", "a..b", ".a", "a.", "raw.2orders", "a.b-c"] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
        assert_eq!(split_table_name("raw.orders"), (Some("raw"), "orders"));
        assert_eq!(split_table_name("orders"), (None, "orders"));
    }

    #[test]
    fn engine_names_fold_case_and_the_default_schema() {
        assert_eq!(engine_table_name("public.Raw"), "raw");
        assert_eq!(engine_table_name("RAW.orders"), "raw.orders");
        let s = SnapshotId("s".into());
        let tables: BTreeMap<String, SnapshotId> = ["raw", "public.raw", "x"]
            .iter()
            .map(|t| (t.to_string(), s.clone()))
            .collect();
        assert!(check_table_collisions(&tables, [&"x".to_string()], "main").is_ok());
        let err = check_table_collisions(&tables, [&"public.raw".to_string()], "main");
        assert!(
            matches!(&err, Err(LakeError::TableNameCollision { existing, .. }) if existing == "raw"),
            "{err:?}"
        );
    }

    #[test]
    fn a_lease_matches_only_its_own_hash() {
        let a = Lease::new("r1");
        let b = Lease::new("r1");
        assert!(a.matches("r1", &a.hash()));
        assert!(!a.matches("r1", &b.hash()));
        assert!(!a.matches("r2", &a.hash()));
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
