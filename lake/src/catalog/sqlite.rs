//! The embedded catalog: one SQLite file in the lake folder (WAL mode, busy
//! timeout, `BEGIN IMMEDIATE` for every write so writers of several processes
//! serialize on the database lock).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sqlite_guard as g;
use super::{Catalog, SCHEMA_VERSION, guard, props_from_json, props_to_json};
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
];

pub struct SqliteCatalog {
    path: PathBuf,
    conn: Mutex<Connection>,
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
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| LakeError::Catalog {
            backend: "sqlite",
            reason: "connection lock poisoned".into(),
        })
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
        let mut conn = self.conn()?;
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
                self.path.display()
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
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    async fn get_commit(&self, id: &CommitId) -> Result<Option<Commit>> {
        let conn = self.conn()?;
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM commits WHERE id = ?1",
                params![id.0],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| Commit::from_stored(&id.0, &b)).transpose()
    }

    async fn commits_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<CommitId>> {
        // Prefixes are validated hex by the caller; escape anyway.
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT id FROM commits WHERE id LIKE ?1 ORDER BY id LIMIT ?2")?;
        let rows = stmt.query_map(params![pattern, limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(CommitId(r?));
        }
        Ok(out)
    }

    async fn get_snapshot(&self, id: &SnapshotId) -> Result<Option<Snapshot>> {
        let conn = self.conn()?;
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM snapshots WHERE id = ?1",
                params![id.0],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| Snapshot::from_stored(&id.0, &b)).transpose()
    }

    async fn all_snapshots(&self) -> Result<Vec<Snapshot>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, body FROM snapshots")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, body) = r?;
            out.push(Snapshot::from_stored(&id, &body)?);
        }
        Ok(out)
    }

    async fn get_ref(&self, name: &str) -> Result<Option<RefEntry>> {
        let conn = self.conn()?;
        let row = conn
            .query_row(
                "SELECT name, kind, commit_id, properties FROM refs WHERE name = ?1",
                params![name],
                read_ref,
            )
            .optional()?;
        row.map(to_ref_entry).transpose()
    }

    async fn list_refs(&self, kind: Option<RefKind>) -> Result<Vec<RefEntry>> {
        let conn = self.conn()?;
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
    }

    async fn create_ref(
        &self,
        name: &str,
        kind: RefKind,
        commit: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn delete_ref(&self, name: &str, kind: RefKind, lease: Option<&Lease>) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn commit(
        &self,
        branch: &str,
        expected: &CommitId,
        commit: &Commit,
        snapshots: &[Snapshot],
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Check the CAS and the seal first so a refused commit writes nothing.
        check_head(&tx, branch, expected)?;
        let seal = g::check_write(&tx, "commit to", branch, lease)?;
        // New snapshots of a sealed branch are recorded as its run's.
        let writer = seal.as_ref().map(|s| s.run_id.as_str());
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
    }

    async fn move_branch(
        &self,
        branch: &str,
        expected: &CommitId,
        new: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT key, value FROM commit_marks WHERE commit_id = ?1")?;
        let rows = stmt.query_map(params![id.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let (k, v) = r?;
            out.insert(k, v);
        }
        Ok(out)
    }

    async fn put_run(&self, run: &RunRow, lease: Option<&Lease>) -> Result<()> {
        let mut conn = self.conn()?;
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
    }

    async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<RunRow>> {
        let conn = self.conn()?;
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
    }
}
