//! The embedded catalog: one SQLite file in the lake folder (WAL mode, busy
//! timeout, `BEGIN IMMEDIATE` for every write so writers of several processes
//! serialize on the database lock).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite_files::{adopt_files, fill_data_files, release_forgotten, row_exists};
use super::sqlite_guard as g;
use super::{
    Catalog, Condemned, FILES_VERSION, SCHEMA_VERSION, guard, props_from_json, props_to_json,
};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitId, Lease, RefEntry, RefKind, RunRow, Snapshot, SnapshotId};

/// Schema migrations; entry `i` moves the schema from version `i` to `i + 1`.
/// The same SQL serves PostgreSQL.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE commits (id TEXT PRIMARY KEY, body TEXT NOT NULL, time_ms BIGINT NOT NULL);
     CREATE TABLE snapshots (id TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE refs (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
        commit_id TEXT NOT NULL REFERENCES commits(id),
        properties TEXT NOT NULL DEFAULT '{}');
     CREATE TABLE commit_marks (
        commit_id TEXT NOT NULL REFERENCES commits(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (commit_id, key));",
    // 1 -> 2: run records (the runtime's runs; the lake keeps them opaque).
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        started_ms BIGINT NOT NULL,
        body TEXT NOT NULL);
     CREATE INDEX runs_by_start ON runs (started_ms);",
    // 2 -> 3: sealed run branches, and which run wrote each snapshot.
    super::guard::MIGRATION,
    // 3 -> 4: the data file lifecycle (see `Catalog::register_pending`):
    // every file a recorded snapshot references (filled from the snapshots
    // when an older lake is opened), files registered by in-flight writers,
    // and files gc condemned but has not finished deleting.
    "CREATE TABLE data_files (path TEXT PRIMARY KEY);
     CREATE TABLE pending_files (path TEXT PRIMARY KEY, registered_ms BIGINT NOT NULL);
     CREATE TABLE condemned_files (path TEXT PRIMARY KEY, condemned_ms BIGINT NOT NULL);",
    // 4 -> 5: stable column ids per table name (`Catalog::column_ids`).
    super::column_ids::MIGRATION,
];

pub struct SqliteCatalog {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteCatalog {
    /// Opens (creating if needed) the catalog file at `path`.
    pub fn open(path: &Path) -> Result<SqliteCatalog> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(60))?;
        // journal_mode returns a row; read it.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        Ok(SqliteCatalog {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on tokio's blocking pool: SQLite calls block
    /// (up to the busy timeout while another process holds the write lock), and
    /// must never stall a runtime worker that other tasks (parallel nodes) need.
    async fn call<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| LakeError::Catalog {
                backend: "sqlite",
                reason: "connection lock poisoned".into(),
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| LakeError::Catalog {
            backend: "sqlite",
            reason: format!("catalog call did not finish: {e}"),
        })?
    }
}

fn read_ref(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_ref_entry((name, kind, commit, props): (String, String, String, String)) -> Result<RefEntry> {
    let kind = RefKind::parse(&kind)
        .ok_or_else(|| LakeError::Corrupt(format!("ref {name} has unknown kind {kind}")))?;
    Ok(RefEntry {
        name,
        kind,
        commit: CommitId(commit),
        properties: props_from_json(&props)?,
    })
}

fn current_head(tx: &rusqlite::Transaction<'_>, branch: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row(
            "SELECT commit_id FROM refs WHERE name = ?1 AND kind = 'branch'",
            params![branch],
            |r| r.get::<_, String>(0),
        )
        .optional()?)
}

/// `Conflict` unless `branch` is at `expected`.
fn check_head(tx: &rusqlite::Transaction<'_>, branch: &str, expected: &CommitId) -> Result<()> {
    match current_head(tx, branch)? {
        None => Err(LakeError::BranchNotFound(branch.to_string())),
        Some(actual) if actual != expected.0 => Err(LakeError::Conflict {
            branch: branch.to_string(),
            expected: expected.0.clone(),
            actual,
        }),
        Some(_) => Ok(()),
    }
}

fn cas_branch(
    tx: &rusqlite::Transaction<'_>,
    branch: &str,
    expected: &CommitId,
    new: &CommitId,
) -> Result<()> {
    check_head(tx, branch, expected)?;
    tx.execute(
        "UPDATE refs SET commit_id = ?1 WHERE name = ?2 AND kind = 'branch' AND commit_id = ?3",
        params![new.0, branch, expected.0],
    )?;
    Ok(())
}

#[async_trait]
impl Catalog for SqliteCatalog {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn init(&self, root: &Commit, settings: &BTreeMap<String, String>) -> Result<()> {
        let root = root.clone();
        let settings = settings.clone();
        let path = self.path.clone();
        self.call(move |conn| {
            let root = &root;
            let settings = &settings;
            // Fast path without the write lock: an up-to-date, initialized lake.
            let ready: Option<i64> = conn
                .query_row(
                    "SELECT (SELECT MAX(version) FROM schema_version)
                     WHERE EXISTS (SELECT 1 FROM refs WHERE name = 'main')",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .ok()
                .flatten();
            if ready == Some(SCHEMA_VERSION) {
                return Ok(());
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
            let version: Option<i64> = tx
                .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                .optional()?
                .flatten();
            let version = version.unwrap_or(0);
            if version > SCHEMA_VERSION {
                return Err(LakeError::Config(format!(
                    "catalog {} has schema version {version}, newer than this sluice ({SCHEMA_VERSION}): upgrade sluice",
                    path.display()
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    params![i as i64 + 1],
                )?;
            }
            if version > 0 && version < guard::SEALED_VERSION {
                g::attribute_old_runs(&tx)?;
            }
            if version < FILES_VERSION {
                fill_data_files(&tx)?;
            }
            let has_main: bool = tx
                .query_row("SELECT 1 FROM refs WHERE name = 'main'", [], |_| Ok(()))
                .optional()?
                .is_some();
            let has_any_commit: bool = tx
                .query_row("SELECT 1 FROM commits LIMIT 1", [], |_| Ok(()))
                .optional()?
                .is_some();
            if !has_main && !has_any_commit {
                for (k, v) in settings {
                    tx.execute(
                        "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )?;
                }
                tx.execute(
                    "INSERT INTO commits (id, body, time_ms) VALUES (?1, ?2, ?3)",
                    params![
                        root.id.0,
                        root.content.canonical_json(),
                        root.content.time_ms
                    ],
                )?;
                tx.execute(
                    "INSERT INTO refs (name, kind, commit_id) VALUES ('main', 'branch', ?1)",
                    params![root.id.0],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.call(move |conn| {
            let key = key.as_str();
            Ok(conn
                .query_row(
                    "SELECT value FROM settings WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn get_commit(&self, id: &CommitId) -> Result<Option<Commit>> {
        let id = id.clone();
        self.call(move |conn| {
            let id = &id;
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM commits WHERE id = ?1",
                    params![id.0],
                    |r| r.get(0),
                )
                .optional()?;
            body.map(|b| Commit::from_stored(&id.0, &b)).transpose()
        })
        .await
    }

    async fn commits_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<CommitId>> {
        let prefix = prefix.to_owned();
        self.call(move |conn| {
            let prefix = prefix.as_str();
            // Prefixes are validated hex by the caller; escape anyway.
            let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
            let mut stmt =
                conn.prepare("SELECT id FROM commits WHERE id LIKE ?1 ORDER BY id LIMIT ?2")?;
            let rows = stmt.query_map(params![pattern, limit as i64], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(CommitId(r?));
            }
            Ok(out)
        })
        .await
    }

    async fn get_snapshot(&self, id: &SnapshotId) -> Result<Option<Snapshot>> {
        let id = id.clone();
        self.call(move |conn| {
            let id = &id;
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM snapshots WHERE id = ?1",
                    params![id.0],
                    |r| r.get(0),
                )
                .optional()?;
            body.map(|b| Snapshot::from_stored(&id.0, &b)).transpose()
        })
        .await
    }

    async fn all_snapshots(&self) -> Result<Vec<Snapshot>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare("SELECT id, body FROM snapshots")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = Vec::new();
            for r in rows {
                let (id, body) = r?;
                out.push(Snapshot::from_stored(&id, &body)?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_ref(&self, name: &str) -> Result<Option<RefEntry>> {
        let name = name.to_owned();
        self.call(move |conn| {
            let name = name.as_str();
            let row = conn
                .query_row(
                    "SELECT name, kind, commit_id, properties FROM refs WHERE name = ?1",
                    params![name],
                    read_ref,
                )
                .optional()?;
            row.map(to_ref_entry).transpose()
        })
        .await
    }

    async fn list_refs(&self, kind: Option<RefKind>) -> Result<Vec<RefEntry>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT name, kind, commit_id, properties FROM refs
                 WHERE ?1 IS NULL OR kind = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![kind.map(|k| k.as_str())], read_ref)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(to_ref_entry(r?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn create_ref(
        &self,
        name: &str,
        kind: RefKind,
        commit: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let name = name.to_owned();
        let commit = commit.clone();
        let lease = lease.cloned();
        self.call(move |conn| {
            let name = name.as_str();
            let commit = &commit;
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT kind FROM refs WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(k) = existing {
                return Err(LakeError::RefExists {
                    kind: RefKind::parse(&k).map_or("ref", |k| k.as_str()),
                    name: name.to_string(),
                });
            }
            let known = tx
                .query_row(
                    "SELECT 1 FROM commits WHERE id = ?1",
                    params![commit.0],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Err(LakeError::CommitNotFound(commit.0.clone()));
            }
            tx.execute(
                "INSERT INTO refs (name, kind, commit_id) VALUES (?1, ?2, ?3)",
                params![name, kind.as_str(), commit.0],
            )?;
            if kind == RefKind::Branch {
                let seal = lease.map(|l| g::seal(&tx, name, l)).transpose()?;
                let tables = g::tables_of(&tx, commit)?;
                let none = BTreeMap::new();
                g::check_update(
                    &tx,
                    "create branch",
                    name,
                    seal.as_ref(),
                    lease,
                    &none,
                    &tables,
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn delete_ref(&self, name: &str, kind: RefKind, lease: Option<&Lease>) -> Result<()> {
        let name = name.to_owned();
        let lease = lease.cloned();
        self.call(move |conn| {
            let name = name.as_str();
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if kind == RefKind::Branch {
                g::check_seal_while_running(&tx, "delete", name, lease)?;
                g::unseal(&tx, name)?;
            }
            let n = tx.execute(
                "DELETE FROM refs WHERE name = ?1 AND kind = ?2",
                params![name, kind.as_str()],
            )?;
            if n == 0 {
                return Err(match kind {
                    RefKind::Branch => LakeError::BranchNotFound(name.to_string()),
                    RefKind::Tag => LakeError::TagNotFound(name.to_string()),
                });
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let branch = branch.to_owned();
        let key = key.to_owned();
        let value = value.map(str::to_owned);
        let lease = lease.cloned();
        self.call(move |conn| {
            let branch = branch.as_str();
            let key = key.as_str();
            let value = value.as_deref();
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            g::check_seal_while_running(&tx, "set a property of", branch, lease)?;
            let props: Option<String> = tx
                .query_row(
                    "SELECT properties FROM refs WHERE name = ?1 AND kind = 'branch'",
                    params![branch],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(props) = props else {
                return Err(LakeError::BranchNotFound(branch.to_string()));
            };
            let mut props = props_from_json(&props)?;
            match value {
                Some(v) => props.insert(key.to_string(), v.to_string()),
                None => props.remove(key),
            };
            tx.execute(
                "UPDATE refs SET properties = ?1 WHERE name = ?2 AND kind = 'branch'",
                params![props_to_json(&props), branch],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn commit(
        &self,
        branch: &str,
        expected: &CommitId,
        commit: &Commit,
        snapshots: &[Snapshot],
        lease: Option<&Lease>,
    ) -> Result<()> {
        let branch = branch.to_owned();
        let expected = expected.clone();
        let commit = commit.clone();
        let snapshots = snapshots.to_vec();
        let lease = lease.cloned();
        self.call(move |conn| {
            let branch = branch.as_str();
            let expected = &expected;
            let commit = &commit;
            let snapshots = snapshots.as_slice();
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Check the CAS and the seal first so a refused commit writes nothing.
            check_head(&tx, branch, expected)?;
            let seal = g::check_write(&tx, "commit to", branch, lease)?;
            // New snapshots of a sealed branch are recorded as its run's.
            let writer = seal.as_ref().map(|s| s.run_id.as_str());
            adopt_files(&tx, snapshots)?;
            for s in snapshots {
                let new = tx.execute(
                    "INSERT OR IGNORE INTO snapshots (id, body) VALUES (?1, ?2)",
                    params![s.id.0, s.content.canonical_json()],
                )?;
                if let Some(run) = writer
                    && new == 1
                {
                    g::record_writer(&tx, &s.id, run)?;
                }
            }
            for p in commit.parents() {
                let known = tx
                    .query_row("SELECT 1 FROM commits WHERE id = ?1", params![p.0], |_| {
                        Ok(())
                    })
                    .optional()?
                    .is_some();
                if !known {
                    return Err(LakeError::CommitNotFound(p.0.clone()));
                }
            }
            for s in commit.tables().values() {
                let known = tx
                    .query_row(
                        "SELECT 1 FROM snapshots WHERE id = ?1",
                        params![s.0],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !known {
                    return Err(LakeError::Corrupt(format!(
                        "commit {} references unknown snapshot {s}",
                        commit.id
                    )));
                }
            }
            let old = g::tables_of(&tx, expected)?;
            g::check_update(
                &tx,
                "commit to",
                branch,
                seal.as_ref(),
                lease,
                &old,
                commit.tables(),
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO commits (id, body, time_ms) VALUES (?1, ?2, ?3)",
                params![
                    commit.id.0,
                    commit.content.canonical_json(),
                    commit.content.time_ms
                ],
            )?;
            cas_branch(&tx, branch, expected, &commit.id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn move_branch(
        &self,
        branch: &str,
        expected: &CommitId,
        new: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let branch = branch.to_owned();
        let expected = expected.clone();
        let new = new.clone();
        let lease = lease.cloned();
        self.call(move |conn| {
            let branch = branch.as_str();
            let expected = &expected;
            let new = &new;
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx
                .query_row(
                    "SELECT 1 FROM commits WHERE id = ?1",
                    params![new.0],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Err(LakeError::CommitNotFound(new.0.clone()));
            }
            check_head(&tx, branch, expected)?;
            let seal = g::check_write(&tx, "move", branch, lease)?;
            let (old, to) = (g::tables_of(&tx, expected)?, g::tables_of(&tx, new)?);
            g::check_update(&tx, "move", branch, seal.as_ref(), lease, &old, &to)?;
            cas_branch(&tx, branch, expected, new)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()> {
        let id = id.clone();
        let key = key.to_owned();
        let value = value.to_owned();
        self.call(move |conn| {
            let id = &id;
            let key = key.as_str();
            let value = value.as_str();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx
                .query_row("SELECT 1 FROM commits WHERE id = ?1", params![id.0], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if !known {
                return Err(LakeError::CommitNotFound(id.0.clone()));
            }
            tx.execute(
                "INSERT INTO commit_marks (commit_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (commit_id, key) DO UPDATE SET value = excluded.value",
                params![id.0, key, value],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>> {
        let id = id.clone();
        self.call(move |conn| {
            let id = &id;
            let mut stmt =
                conn.prepare("SELECT key, value FROM commit_marks WHERE commit_id = ?1")?;
            let rows = stmt.query_map(params![id.0], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = BTreeMap::new();
            for r in rows {
                let (k, v) = r?;
                out.insert(k, v);
            }
            Ok(out)
        })
        .await
    }

    async fn put_run(&self, run: &RunRow, lease: Option<&Lease>) -> Result<()> {
        let run = run.clone();
        let lease = lease.cloned();
        self.call(move |conn| {
            let run = &run;
            let lease = lease.as_ref();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old = g::run_status(&tx, &run.id)?;
            let seal: Option<(String, String)> = tx
                .query_row(
                    "SELECT branch, lease_hash FROM run_branches WHERE run_id = ?1",
                    params![run.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let seal = seal.as_ref().map(|(b, h)| (b.as_str(), h.as_str()));
            guard::check_status_change(&run.id, old.as_deref(), &run.status, seal, lease)?;
            tx.execute(
                "INSERT INTO runs (id, status, started_ms, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
                params![run.id, run.status, run.started_ms, run.body],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<RunRow>> {
        let id_prefix = id_prefix.to_owned();
        self.call(move |conn| {
            let id_prefix = id_prefix.as_str();
            let mut stmt = conn.prepare(
                "SELECT id, status, started_ms, body FROM runs WHERE substr(id, 1, length(?1)) = ?1
                 ORDER BY started_ms DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![id_prefix, limit as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    status: r.get(1)?,
                    started_ms: r.get(2)?,
                    body: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn register_pending(&self, paths: &[String], now_ms: i64) -> Result<()> {
        let paths = paths.to_vec();
        self.call(move |conn| {
            let paths = paths.as_slice();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for p in paths {
                tx.execute(
                    "INSERT INTO pending_files (path, registered_ms) VALUES (?1, ?2)
                     ON CONFLICT (path) DO UPDATE SET registered_ms = excluded.registered_ms",
                    params![p, now_ms],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn release_pending(&self, paths: &[String]) -> Result<()> {
        let paths = paths.to_vec();
        self.call(move |conn| {
            let paths = paths.as_slice();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for p in paths {
                tx.execute("DELETE FROM pending_files WHERE path = ?1", params![p])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn condemn_files(&self, files: &[(String, i64)], cutoff_ms: i64) -> Result<Condemned> {
        let files = files.to_vec();
        self.call(move |conn| {
            let files = files.as_slice();
            // IMMEDIATE: the write lock, so no commit interleaves with the decision.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            release_forgotten(&tx)?;
            let mut out = Condemned::default();
            for (path, modified_ms) in files {
                if row_exists(&tx, "SELECT 1 FROM data_files WHERE path = ?1", path)? {
                    out.referenced += 1;
                    continue;
                }
                let registered: Option<i64> = tx
                    .query_row(
                        "SELECT registered_ms FROM pending_files WHERE path = ?1",
                        params![path],
                        |r| r.get(0),
                    )
                    .optional()?;
                if !out.condemns(*modified_ms, registered, cutoff_ms) {
                    continue;
                }
                tx.execute("DELETE FROM pending_files WHERE path = ?1", params![path])?;
                tx.execute(
                    "INSERT INTO condemned_files (path, condemned_ms) VALUES (?1, ?2)
                     ON CONFLICT (path) DO NOTHING",
                    params![path, cutoff_ms],
                )?;
            }
            // Expired registrations of files that were never written (a writer
            // killed before it wrote) are dropped too.
            let expired: Vec<String> = {
                let mut stmt =
                    tx.prepare("SELECT path FROM pending_files WHERE registered_ms < ?1")?;
                let rows = stmt.query_map(params![cutoff_ms], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let listed: std::collections::HashSet<&str> =
                files.iter().map(|(p, _)| p.as_str()).collect();
            for p in expired.iter().filter(|p| !listed.contains(p.as_str())) {
                tx.execute("DELETE FROM pending_files WHERE path = ?1", params![p])?;
            }
            {
                let mut stmt = tx.prepare("SELECT path FROM condemned_files ORDER BY path")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                out.paths = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn clear_condemned(&self, paths: &[String]) -> Result<()> {
        let paths = paths.to_vec();
        self.call(move |conn| {
            let paths = paths.as_slice();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for p in paths {
                tx.execute("DELETE FROM condemned_files WHERE path = ?1", params![p])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn pending_files(&self, since_ms: i64) -> Result<Vec<String>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT path FROM pending_files WHERE registered_ms >= ?1 ORDER BY path",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn column_ids(&self, table: &str, keys: &[String]) -> Result<Vec<i32>> {
        let table = table.to_owned();
        let keys = keys.to_vec();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids = super::column_ids::sqlite(&tx, &table, &keys)?;
            tx.commit()?;
            Ok(ids)
        })
        .await
    }
}
