//! The shared catalog: PostgreSQL, for teams and machines sharing one lake.
//! Branch updates lock the ref row (`SELECT ... FOR UPDATE`) and compare the
//! head inside the same transaction that records the commit.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Transaction};

use super::postgres_files::{adopt_files, condemn, fill_data_files, lock_shared};
use super::postgres_guard as g;
use super::sqlite::MIGRATIONS;
use super::{
    Catalog, Condemned, FILES_VERSION, SCHEMA_VERSION, guard, props_from_json, props_to_json,
};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitId, Lease, RefEntry, RefKind, RunRow, Snapshot, SnapshotId};

/// Advisory lock key serializing schema creation/migration.
const INIT_LOCK: i64 = 7_512_301;

pub struct PostgresCatalog {
    client: Mutex<Client>,
}

impl PostgresCatalog {
    /// Connects to `url` (`postgres://user@host:port/db?...`).
    pub async fn connect(url: &str) -> Result<PostgresCatalog> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            // The error surfaces on the next query through the client.
            let _ = connection.await;
        });
        Ok(PostgresCatalog {
            client: Mutex::new(client),
        })
    }
}

fn to_ref_entry(row: &tokio_postgres::Row) -> Result<RefEntry> {
    let name: String = row.try_get(0)?;
    let kind: String = row.try_get(1)?;
    let commit: String = row.try_get(2)?;
    let props: String = row.try_get(3)?;
    let kind = RefKind::parse(&kind)
        .ok_or_else(|| LakeError::Corrupt(format!("ref {name} has unknown kind {kind}")))?;
    Ok(RefEntry {
        name,
        kind,
        commit: CommitId(commit),
        properties: props_from_json(&props)?,
    })
}

async fn commit_exists(tx: &Transaction<'_>, id: &CommitId) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM commits WHERE id = $1", &[&id.0])
        .await?
        .is_some())
}

async fn cas_branch(
    tx: &Transaction<'_>,
    branch: &str,
    expected: &CommitId,
    new: Option<&CommitId>,
) -> Result<()> {
    let row = tx
        .query_opt(
            "SELECT commit_id FROM refs WHERE name = $1 AND kind = 'branch' FOR UPDATE",
            &[&branch],
        )
        .await?;
    let Some(row) = row else {
        return Err(LakeError::BranchNotFound(branch.to_string()));
    };
    let actual: String = row.try_get(0)?;
    if actual != expected.0 {
        return Err(LakeError::Conflict {
            branch: branch.to_string(),
            expected: expected.0.clone(),
            actual,
        });
    }
    if let Some(new) = new {
        tx.execute(
            "UPDATE refs SET commit_id = $1 WHERE name = $2 AND kind = 'branch'",
            &[&new.0, &branch],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Catalog for PostgresCatalog {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn init(&self, root: &Commit, settings: &BTreeMap<String, String>) -> Result<()> {
        let mut client = self.client.lock().await;
        // Fast path without locks: an up-to-date, initialized lake.
        let ready = client
            .query_opt(
                "SELECT (SELECT MAX(version) FROM schema_version)
                 WHERE EXISTS (SELECT 1 FROM refs WHERE name = 'main')",
                &[],
            )
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<_, Option<i64>>(0).ok().flatten());
        if ready == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await?;
        let version: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .await?
            .try_get(0)?;
        let version = version.unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(LakeError::Config(format!(
                "catalog has schema version {version}, newer than this sluice ({SCHEMA_VERSION}): upgrade sluice"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&(i as i64 + 1)],
            )
            .await?;
        }
        if version > 0 && version < guard::SEALED_VERSION {
            g::attribute_old_runs(&tx).await?;
        }
        if version < FILES_VERSION {
            fill_data_files(&tx).await?;
        }
        let has_main = tx
            .query_opt("SELECT 1 FROM refs WHERE name = 'main'", &[])
            .await?
            .is_some();
        let has_any_commit = tx
            .query_opt("SELECT 1 FROM commits LIMIT 1", &[])
            .await?
            .is_some();
        if !has_main && !has_any_commit {
            for (k, v) in settings {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[k, v],
                )
                .await?;
            }
            tx.execute(
                "INSERT INTO commits (id, body, time_ms) VALUES ($1, $2, $3)",
                &[
                    &root.id.0,
                    &root.content.canonical_json(),
                    &root.content.time_ms,
                ],
            )
            .await?;
            tx.execute(
                "INSERT INTO refs (name, kind, commit_id) VALUES ('main', 'branch', $1)",
                &[&root.id.0],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let client = self.client.lock().await;
        let row = client
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn get_commit(&self, id: &CommitId) -> Result<Option<Commit>> {
        let client = self.client.lock().await;
        let row = client
            .query_opt("SELECT body FROM commits WHERE id = $1", &[&id.0])
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let body: String = r.try_get(0)?;
                Commit::from_stored(&id.0, &body).map(Some)
            }
        }
    }

    async fn commits_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<CommitId>> {
        let pattern = format!("{}%", prefix.replace(['%', '_', '\\'], ""));
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT id FROM commits WHERE id LIKE $1 ORDER BY id LIMIT $2",
                &[&pattern, &(limit as i64)],
            )
            .await?;
        rows.iter().map(|r| Ok(CommitId(r.try_get(0)?))).collect()
    }

    async fn get_snapshot(&self, id: &SnapshotId) -> Result<Option<Snapshot>> {
        let client = self.client.lock().await;
        let row = client
            .query_opt("SELECT body FROM snapshots WHERE id = $1", &[&id.0])
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let body: String = r.try_get(0)?;
                Snapshot::from_stored(&id.0, &body).map(Some)
            }
        }
    }

    async fn all_snapshots(&self) -> Result<Vec<Snapshot>> {
        let client = self.client.lock().await;
        let rows = client.query("SELECT id, body FROM snapshots", &[]).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                let body: String = r.try_get(1)?;
                Snapshot::from_stored(&id, &body)
            })
            .collect()
    }

    async fn get_ref(&self, name: &str) -> Result<Option<RefEntry>> {
        let client = self.client.lock().await;
        let row = client
            .query_opt(
                "SELECT name, kind, commit_id, properties FROM refs WHERE name = $1",
                &[&name],
            )
            .await?;
        row.as_ref().map(to_ref_entry).transpose()
    }

    async fn list_refs(&self, kind: Option<RefKind>) -> Result<Vec<RefEntry>> {
        let client = self.client.lock().await;
        let kind = kind.map(|k| k.as_str().to_string());
        let rows = client
            .query(
                "SELECT name, kind, commit_id, properties FROM refs
                 WHERE $1::TEXT IS NULL OR kind = $1 ORDER BY name COLLATE \"C\"",
                &[&kind],
            )
            .await?;
        rows.iter().map(to_ref_entry).collect()
    }

    async fn create_ref(
        &self,
        name: &str,
        kind: RefKind,
        commit: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        if !commit_exists(&tx, commit).await? {
            return Err(LakeError::CommitNotFound(commit.0.clone()));
        }
        let n = tx
            .execute(
                "INSERT INTO refs (name, kind, commit_id) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &kind.as_str(), &commit.0],
            )
            .await?;
        if n == 0 {
            let row = tx
                .query_opt("SELECT kind FROM refs WHERE name = $1", &[&name])
                .await?;
            let existing: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
            return Err(LakeError::RefExists {
                kind: existing
                    .as_deref()
                    .and_then(RefKind::parse)
                    .map_or("ref", |k| k.as_str()),
                name: name.to_string(),
            });
        }
        if kind == RefKind::Branch {
            let seal = match lease {
                Some(l) => Some(g::seal(&tx, name, l).await?),
                None => None,
            };
            let tables = g::tables_of(&tx, commit).await?;
            let none = BTreeMap::new();
            g::check_update(
                &tx,
                "create branch",
                name,
                seal.as_ref(),
                lease,
                &none,
                &tables,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_ref(&self, name: &str, kind: RefKind, lease: Option<&Lease>) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.query_opt(
            "SELECT 1 FROM refs WHERE name = $1 AND kind = $2 FOR UPDATE",
            &[&name, &kind.as_str()],
        )
        .await?;
        if kind == RefKind::Branch {
            g::check_seal_while_running(&tx, "delete", name, lease).await?;
            g::unseal(&tx, name).await?;
        }
        let n = tx
            .execute(
                "DELETE FROM refs WHERE name = $1 AND kind = $2",
                &[&name, &kind.as_str()],
            )
            .await?;
        if n == 0 {
            return Err(match kind {
                RefKind::Branch => LakeError::BranchNotFound(name.to_string()),
                RefKind::Tag => LakeError::TagNotFound(name.to_string()),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_branch_property(
        &self,
        branch: &str,
        key: &str,
        value: Option<&str>,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT properties FROM refs WHERE name = $1 AND kind = 'branch' FOR UPDATE",
                &[&branch],
            )
            .await?;
        let Some(row) = row else {
            return Err(LakeError::BranchNotFound(branch.to_string()));
        };
        g::check_seal_while_running(&tx, "set a property of", branch, lease).await?;
        let props: String = row.try_get(0)?;
        let mut props = props_from_json(&props)?;
        match value {
            Some(v) => props.insert(key.to_string(), v.to_string()),
            None => props.remove(key),
        };
        tx.execute(
            "UPDATE refs SET properties = $1 WHERE name = $2 AND kind = 'branch'",
            &[&props_to_json(&props), &branch],
        )
        .await?;
        tx.commit().await?;
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
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        lock_shared(&tx).await?;
        // Lock and compare the head and the seal first: a refused commit
        // writes nothing.
        cas_branch(&tx, branch, expected, None).await?;
        let seal = g::check_write(&tx, "commit to", branch, lease).await?;
        // New snapshots of a sealed branch are recorded as its run's.
        let writer = seal.as_ref().map(|s| s.run_id.as_str());
        adopt_files(&tx, snapshots).await?;
        for s in snapshots {
            let new = tx
                .execute(
                    "INSERT INTO snapshots (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    &[&s.id.0, &s.content.canonical_json()],
                )
                .await?;
            if let Some(run) = writer
                && new == 1
            {
                g::record_writer(&tx, &s.id, run).await?;
            }
        }
        for p in commit.parents() {
            if !commit_exists(&tx, p).await? {
                return Err(LakeError::CommitNotFound(p.0.clone()));
            }
        }
        for s in commit.tables().values() {
            let known = tx
                .query_opt("SELECT 1 FROM snapshots WHERE id = $1", &[&s.0])
                .await?
                .is_some();
            if !known {
                return Err(LakeError::Corrupt(format!(
                    "commit {} references unknown snapshot {s}",
                    commit.id
                )));
            }
        }
        let old = g::tables_of(&tx, expected).await?;
        let (seal, new) = (seal.as_ref(), commit.tables());
        g::check_update(&tx, "commit to", branch, seal, lease, &old, new).await?;
        tx.execute(
            "INSERT INTO commits (id, body, time_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            &[
                &commit.id.0,
                &commit.content.canonical_json(),
                &commit.content.time_ms,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE refs SET commit_id = $1 WHERE name = $2 AND kind = 'branch'",
            &[&commit.id.0, &branch],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn move_branch(
        &self,
        branch: &str,
        expected: &CommitId,
        new: &CommitId,
        lease: Option<&Lease>,
    ) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        if !commit_exists(&tx, new).await? {
            return Err(LakeError::CommitNotFound(new.0.clone()));
        }
        // Lock and compare the head, then check the seal and the guard.
        cas_branch(&tx, branch, expected, None).await?;
        let seal = g::check_write(&tx, "move", branch, lease).await?;
        let (old, to) = (
            g::tables_of(&tx, expected).await?,
            g::tables_of(&tx, new).await?,
        );
        g::check_update(&tx, "move", branch, seal.as_ref(), lease, &old, &to).await?;
        cas_branch(&tx, branch, expected, Some(new)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_commit(&self, id: &CommitId, key: &str, value: &str) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        if !commit_exists(&tx, id).await? {
            return Err(LakeError::CommitNotFound(id.0.clone()));
        }
        tx.execute(
            "INSERT INTO commit_marks (commit_id, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (commit_id, key) DO UPDATE SET value = excluded.value",
            &[&id.0, &key, &value],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn commit_marks(&self, id: &CommitId) -> Result<BTreeMap<String, String>> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT key, value FROM commit_marks WHERE commit_id = $1",
                &[&id.0],
            )
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(out)
    }

    async fn put_run(&self, run: &RunRow, lease: Option<&Lease>) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let old = tx
            .query_opt(
                "SELECT status FROM runs WHERE id = $1 FOR UPDATE",
                &[&run.id],
            )
            .await?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()?;
        let seal = tx
            .query_opt(
                "SELECT branch, lease_hash FROM run_branches WHERE run_id = $1",
                &[&run.id],
            )
            .await?
            .map(|r| Ok::<_, LakeError>((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)))
            .transpose()?;
        let seal = seal.as_ref().map(|(b, h)| (b.as_str(), h.as_str()));
        guard::check_status_change(&run.id, old.as_deref(), &run.status, seal, lease)?;
        tx.execute(
            "INSERT INTO runs (id, status, started_ms, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body",
            &[&run.id, &run.status, &run.started_ms, &run.body],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<RunRow>> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT id, status, started_ms, body FROM runs WHERE starts_with(id, $1)
                 ORDER BY started_ms DESC, id DESC LIMIT $2",
                &[&id_prefix, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RunRow {
                    id: r.try_get(0)?,
                    status: r.try_get(1)?,
                    started_ms: r.try_get(2)?,
                    body: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn register_pending(&self, paths: &[String], now_ms: i64) -> Result<()> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        for p in paths {
            tx.execute(
                "INSERT INTO pending_files (path, registered_ms) VALUES ($1, $2)
                 ON CONFLICT (path) DO UPDATE SET registered_ms = excluded.registered_ms",
                &[p, &now_ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn release_pending(&self, paths: &[String]) -> Result<()> {
        let client = self.client.lock().await;
        client
            .execute("DELETE FROM pending_files WHERE path = ANY($1)", &[&paths])
            .await?;
        Ok(())
    }

    async fn condemn_files(&self, files: &[(String, i64)], cutoff_ms: i64) -> Result<Condemned> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let out = condemn(&tx, files, cutoff_ms).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn clear_condemned(&self, paths: &[String]) -> Result<()> {
        let client = self.client.lock().await;
        client
            .execute(
                "DELETE FROM condemned_files WHERE path = ANY($1)",
                &[&paths],
            )
            .await?;
        Ok(())
    }

    async fn pending_files(&self, since_ms: i64) -> Result<Vec<String>> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT path FROM pending_files WHERE registered_ms >= $1 ORDER BY path",
                &[&since_ms],
            )
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect()
    }

    async fn column_ids(&self, table: &str, keys: &[String]) -> Result<Vec<i32>> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let ids = super::column_ids::postgres(&tx, table, keys).await?;
        tx.commit().await?;
        Ok(ids)
    }
}
