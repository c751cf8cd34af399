//! What the write guard ([`super::guard`]) reads, inside a SQLite transaction.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::guard::{self, Seal, Writer};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitId, Lease, SnapshotId};

pub(super) fn seal_of(tx: &Transaction<'_>, branch: &str) -> Result<Option<Seal>> {
    Ok(tx
        .query_row(
            "SELECT run_id, lease_hash FROM run_branches WHERE branch = ?1",
            params![branch],
            |r| {
                Ok(Seal {
                    run_id: r.get(0)?,
                    lease_hash: r.get(1)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn run_status(tx: &Transaction<'_>, run_id: &str) -> Result<Option<String>> {
    Ok(tx
        .query_row(
            "SELECT status FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Commits and moves of `branch`: its seal, checked against `lease` and its
/// run's status.
pub(super) fn check_write(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    lease: Option<&Lease>,
) -> Result<Option<Seal>> {
    let seal = seal_of(tx, branch)?;
    if let Some(seal) = &seal {
        let status = run_status(tx, &seal.run_id)?;
        guard::check_write(action, branch, Some(seal), status.as_deref(), lease)?;
    }
    Ok(seal)
}

/// Deleting `branch` or changing its properties: refused without the lease
/// while the run that sealed it is running.
pub(super) fn check_seal_while_running(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    lease: Option<&Lease>,
) -> Result<()> {
    if let Some(seal) = seal_of(tx, branch)? {
        let status = run_status(tx, &seal.run_id)?;
        guard::check_lease_while_running(action, branch, Some(&seal), status.as_deref(), lease)?;
    }
    Ok(())
}

/// Seals `branch` for the run holding `lease`.
pub(super) fn seal(tx: &Transaction<'_>, branch: &str, lease: &Lease) -> Result<Seal> {
    tx.execute(
        "INSERT INTO run_branches (branch, run_id, lease_hash) VALUES (?1, ?2, ?3)",
        params![branch, lease.run_id(), lease.hash()],
    )?;
    Ok(Seal {
        run_id: lease.run_id().to_string(),
        lease_hash: lease.hash(),
    })
}

pub(super) fn unseal(tx: &Transaction<'_>, branch: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM run_branches WHERE branch = ?1",
        params![branch],
    )?;
    Ok(())
}

/// Records `run_id` as the writer of a snapshot this transaction just recorded.
pub(super) fn record_writer(
    tx: &Transaction<'_>,
    snapshot: &SnapshotId,
    run_id: &str,
) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO snapshot_runs (snapshot_id, run_id) VALUES (?1, ?2)",
        params![snapshot.0, run_id],
    )?;
    Ok(())
}

pub(super) fn tables_of(
    tx: &Transaction<'_>,
    id: &CommitId,
) -> Result<BTreeMap<String, SnapshotId>> {
    let body: Option<String> = tx
        .query_row(
            "SELECT body FROM commits WHERE id = ?1",
            params![id.0],
            |r| r.get(0),
        )
        .optional()?;
    let body = body.ok_or_else(|| LakeError::CommitNotFound(id.0.clone()))?;
    Ok(Commit::from_stored(&id.0, &body)?.content.tables)
}

fn writer_of(tx: &Transaction<'_>, snapshot: &SnapshotId) -> Result<Option<Writer>> {
    Ok(tx
        .query_row(
            "SELECT w.run_id, r.status, b.lease_hash FROM snapshot_runs w
             LEFT JOIN runs r ON r.id = w.run_id
             LEFT JOIN run_branches b ON b.run_id = w.run_id
             WHERE w.snapshot_id = ?1",
            params![snapshot.0],
            |r| {
                Ok(Writer {
                    run_id: r.get(0)?,
                    status: r.get(1)?,
                    lease_hash: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Records the writers of the snapshots runs wrote before schema version 3.
pub(super) fn attribute_old_runs(tx: &Transaction<'_>) -> Result<()> {
    let mut stmt = tx.prepare("SELECT id, body FROM commits WHERE body LIKE '%\"run_id\"%'")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, body) in rows {
        let commit = Commit::from_stored(&id, &body)?;
        let parent = match commit.parents().first() {
            Some(p) => tables_of(tx, p)?,
            None => BTreeMap::new(),
        };
        for (snapshot, run) in guard::old_run_writes(&commit, &parent) {
            record_writer(tx, &snapshot, &run)?;
        }
    }
    Ok(())
}

/// Refuses moving `branch` from the table map `old` to `new` when `new` holds
/// a snapshot of an unpublished run that may not go there.
pub(super) fn check_update(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    lease: Option<&Lease>,
    old: &BTreeMap<String, SnapshotId>,
    new: &BTreeMap<String, SnapshotId>,
) -> Result<()> {
    for (table, snapshot) in guard::incoming(old, new) {
        if let Some(writer) = writer_of(tx, snapshot)? {
            guard::check_incoming(action, branch, seal, lease, table, &writer)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rusqlite::Connection;

    use super::super::sqlite::{MIGRATIONS, SqliteCatalog};
    use super::super::{Catalog, SCHEMA_VERSION};
    use crate::model::{Commit, CommitContent, RefKind, Snapshot, SnapshotContent};

    #[tokio::test]
    async fn a_version_2_lake_opens_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let root = Commit::new(CommitContent {
            parents: vec![],
            tables: BTreeMap::new(),
            message: "initialize lake".into(),
            author: "a".into(),
            time_ms: 1,
            properties: BTreeMap::new(),
        });
        let snapshot = Snapshot::new(SnapshotContent {
            schema: arrow_schema::Schema::empty(),
            files: vec![],
            rows: 0,
            bytes: 0,
            columns: vec![],
        });
        let old_run = Commit::new(CommitContent {
            parents: vec![root.id.clone()],
            tables: BTreeMap::from([("t".into(), snapshot.id.clone())]),
            message: "run output".into(),
            author: "a".into(),
            time_ms: 2,
            properties: BTreeMap::from([("run_id".into(), "old".into())]),
        });
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version BIGINT NOT NULL)")
                .unwrap();
            for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [i as i64 + 1],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO commits (id, body, time_ms) VALUES (?1, ?2, 1)",
                [&root.id.0, &root.content.canonical_json()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO refs (name, kind, commit_id) VALUES ('main', 'branch', ?1)",
                [&root.id.0],
            )
            .unwrap();
            // A run's output, committed the old way (a commit naming the run).
            conn.execute(
                "INSERT INTO snapshots (id, body) VALUES (?1, ?2)",
                [&snapshot.id.0, &snapshot.content.canonical_json()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO commits (id, body, time_ms) VALUES (?1, ?2, 2)",
                [&old_run.id.0, &old_run.content.canonical_json()],
            )
            .unwrap();
        }
        let catalog = SqliteCatalog::open(&path).unwrap();
        catalog.init(&root, &BTreeMap::new()).await.unwrap();
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // The old branch is unsealed and takes commits; new tables exist.
        let lease = crate::model::Lease::new("r1");
        catalog
            .create_ref("run/r1", RefKind::Branch, &root.id, Some(&lease))
            .await
            .unwrap();
        let sealed: i64 = conn
            .query_row("SELECT count(*) FROM run_branches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sealed, 1);
        let writer: String = conn
            .query_row(
                "SELECT run_id FROM snapshot_runs WHERE snapshot_id = ?1",
                [&snapshot.id.0],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(writer, "old", "an old run's snapshot is attributed to it");
        assert_eq!(
            catalog.get_ref("main").await.unwrap().unwrap().commit,
            root.id
        );
    }
}
