//! What the write guard ([`super::guard`]) reads, inside a PostgreSQL
//! transaction (the branch's ref row is locked by the caller first).

use std::collections::BTreeMap;

use tokio_postgres::Transaction;

use super::guard::{self, Seal, Writer};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitId, Lease, SnapshotId};

pub(super) async fn seal_of(tx: &Transaction<'_>, branch: &str) -> Result<Option<Seal>> {
    let row = tx
        .query_opt(
            "SELECT run_id, lease_hash FROM run_branches WHERE branch = $1",
            &[&branch],
        )
        .await?;
    row.map(|r| {
        Ok(Seal {
            run_id: r.try_get(0)?,
            lease_hash: r.try_get(1)?,
        })
    })
    .transpose()
}

pub(super) async fn run_status(tx: &Transaction<'_>, run_id: &str) -> Result<Option<String>> {
    let row = tx
        .query_opt("SELECT status FROM runs WHERE id = $1", &[&run_id])
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Commits and moves of `branch`: its seal, checked against `lease` and its
/// run's status.
pub(super) async fn check_write(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    lease: Option<&Lease>,
) -> Result<Option<Seal>> {
    let seal = seal_of(tx, branch).await?;
    if let Some(seal) = &seal {
        let status = run_status(tx, &seal.run_id).await?;
        guard::check_write(action, branch, Some(seal), status.as_deref(), lease)?;
    }
    Ok(seal)
}

/// Deleting `branch` or changing its properties: refused without the lease
/// while the run that sealed it is running.
pub(super) async fn check_seal_while_running(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    lease: Option<&Lease>,
) -> Result<()> {
    if let Some(seal) = seal_of(tx, branch).await? {
        let status = run_status(tx, &seal.run_id).await?;
        guard::check_lease_while_running(action, branch, Some(&seal), status.as_deref(), lease)?;
    }
    Ok(())
}

/// Seals `branch` for the run holding `lease`.
pub(super) async fn seal(tx: &Transaction<'_>, branch: &str, lease: &Lease) -> Result<Seal> {
    let hash = lease.hash();
    tx.execute(
        "INSERT INTO run_branches (branch, run_id, lease_hash) VALUES ($1, $2, $3)",
        &[&branch, &lease.run_id(), &hash],
    )
    .await?;
    Ok(Seal {
        run_id: lease.run_id().to_string(),
        lease_hash: hash,
    })
}

pub(super) async fn unseal(tx: &Transaction<'_>, branch: &str) -> Result<()> {
    tx.execute("DELETE FROM run_branches WHERE branch = $1", &[&branch])
        .await?;
    Ok(())
}

/// Records `run_id` as the writer of a snapshot this transaction just recorded.
pub(super) async fn record_writer(
    tx: &Transaction<'_>,
    snapshot: &SnapshotId,
    run_id: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO snapshot_runs (snapshot_id, run_id) VALUES ($1, $2)
         ON CONFLICT (snapshot_id) DO NOTHING",
        &[&snapshot.0, &run_id],
    )
    .await?;
    Ok(())
}

pub(super) async fn tables_of(
    tx: &Transaction<'_>,
    id: &CommitId,
) -> Result<BTreeMap<String, SnapshotId>> {
    let row = tx
        .query_opt("SELECT body FROM commits WHERE id = $1", &[&id.0])
        .await?
        .ok_or_else(|| LakeError::CommitNotFound(id.0.clone()))?;
    let body: String = row.try_get(0)?;
    Ok(Commit::from_stored(&id.0, &body)?.content.tables)
}

async fn writer_of(tx: &Transaction<'_>, snapshot: &SnapshotId) -> Result<Option<Writer>> {
    let row = tx
        .query_opt(
            "SELECT w.run_id, r.status, b.lease_hash FROM snapshot_runs w
             LEFT JOIN runs r ON r.id = w.run_id
             LEFT JOIN run_branches b ON b.run_id = w.run_id
             WHERE w.snapshot_id = $1",
            &[&snapshot.0],
        )
        .await?;
    row.map(|r| {
        Ok(Writer {
            run_id: r.try_get(0)?,
            status: r.try_get(1)?,
            lease_hash: r.try_get(2)?,
        })
    })
    .transpose()
}

/// Records the writers of the snapshots runs wrote before schema version 3.
pub(super) async fn attribute_old_runs(tx: &Transaction<'_>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT id, body FROM commits WHERE body LIKE '%\"run_id\"%'",
            &[],
        )
        .await?;
    for row in rows {
        let commit =
            Commit::from_stored(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?)?;
        let parent = match commit.parents().first() {
            Some(p) => tables_of(tx, p).await?,
            None => BTreeMap::new(),
        };
        for (snapshot, run) in guard::old_run_writes(&commit, &parent) {
            record_writer(tx, &snapshot, &run).await?;
        }
    }
    Ok(())
}

/// Refuses moving `branch` from the table map `old` to `new` when `new` holds
/// a snapshot of an unpublished run that may not go there.
pub(super) async fn check_update(
    tx: &Transaction<'_>,
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    lease: Option<&Lease>,
    old: &BTreeMap<String, SnapshotId>,
    new: &BTreeMap<String, SnapshotId>,
) -> Result<()> {
    for (table, snapshot) in guard::incoming(old, new) {
        if let Some(writer) = writer_of(tx, snapshot).await? {
            guard::check_incoming(action, branch, seal, lease, table, &writer)?;
        }
    }
    Ok(())
}
