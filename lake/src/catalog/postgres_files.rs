//! The data file lifecycle tables of the PostgreSQL catalog (see
//! `Catalog::register_pending`): helpers run inside the catalog's transactions.
//!
//! A commit holds [`GC_LOCK`] shared and gc's decision holds it exclusive, so
//! commits run side by side but never interleave with a condemnation (each
//! statement under READ COMMITTED then sees the other's committed rows). A
//! commit takes the lock first, before any row lock, so it cannot deadlock
//! with a waiting gc.

use std::collections::{BTreeSet, HashSet};

use tokio_postgres::Transaction;

use super::release::{FORGOTTEN_SNAPSHOTS, REF_HEADS, Release, files_of};
use super::{Condemned, lost_reason, snapshot_files};
use crate::error::{LakeError, Result};
use crate::model::Snapshot;

/// Advisory lock key of the data file lifecycle.
const GC_LOCK: i64 = 7_512_302;

/// Takes the lifecycle lock shared (a commit).
pub(super) async fn lock_shared(tx: &Transaction<'_>) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&GC_LOCK])
        .await?;
    Ok(())
}

/// Records the files of every snapshot in `data_files` (migration to
/// `FILES_VERSION`).
pub(super) async fn fill_data_files(tx: &Transaction<'_>) -> Result<()> {
    let rows = tx.query("SELECT id, body FROM snapshots", &[]).await?;
    let mut snapshots = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get(0)?;
        let body: String = r.try_get(1)?;
        snapshots.push(Snapshot::from_stored(&id, &body)?);
    }
    for path in snapshot_files(&snapshots) {
        tx.execute(
            "INSERT INTO data_files (path) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&path],
        )
        .await?;
    }
    Ok(())
}

async fn row_exists(tx: &Transaction<'_>, sql: &str, path: &str) -> Result<bool> {
    Ok(tx.query_opt(sql, &[&path]).await?.is_some())
}

/// In a commit's transaction (holding [`lock_shared`]): every file of
/// `snapshots` is either already referenced or a registered, uncondemned new
/// file, which becomes referenced.
pub(super) async fn adopt_files(tx: &Transaction<'_>, snapshots: &[Snapshot]) -> Result<()> {
    for path in snapshot_files(snapshots) {
        if row_exists(tx, "SELECT 1 FROM data_files WHERE path = $1", &path).await? {
            continue;
        }
        let condemned =
            row_exists(tx, "SELECT 1 FROM condemned_files WHERE path = $1", &path).await?;
        let pending = row_exists(tx, "SELECT 1 FROM pending_files WHERE path = $1", &path).await?;
        if let Some(reason) = lost_reason(condemned, pending) {
            return Err(LakeError::StagedFileLost {
                path,
                reason: reason.to_string(),
            });
        }
        tx.execute("DELETE FROM pending_files WHERE path = $1", &[&path])
            .await?;
        tx.execute(
            "INSERT INTO data_files (path) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&path],
        )
        .await?;
    }
    Ok(())
}

/// gc's decision (see `Catalog::condemn_files`), holding [`GC_LOCK`] exclusive.
pub(super) async fn condemn(
    tx: &Transaction<'_>,
    files: &[(String, i64)],
    cutoff_ms: i64,
) -> Result<Condemned> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&GC_LOCK])
        .await?;
    release_forgotten(tx).await?;
    let mut out = Condemned::default();
    for (path, modified_ms) in files {
        if row_exists(tx, "SELECT 1 FROM data_files WHERE path = $1", path).await? {
            out.referenced += 1;
            continue;
        }
        let registered: Option<i64> = tx
            .query_opt(
                "SELECT registered_ms FROM pending_files WHERE path = $1",
                &[path],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if !out.condemns(*modified_ms, registered, cutoff_ms) {
            continue;
        }
        tx.execute("DELETE FROM pending_files WHERE path = $1", &[path])
            .await?;
        tx.execute(
            "INSERT INTO condemned_files (path, condemned_ms) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[path, &cutoff_ms],
        )
        .await?;
    }
    // Expired registrations of files that were never written (a writer killed
    // before it wrote) are dropped too.
    let listed: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    tx.execute(
        "DELETE FROM pending_files WHERE registered_ms < $1 AND NOT (path = ANY($2))",
        &[&cutoff_ms, &listed],
    )
    .await?;
    let rows = tx
        .query("SELECT path FROM condemned_files ORDER BY path", &[])
        .await?;
    out.paths = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    Ok(out)
}

/// In gc's transaction (holding [`GC_LOCK`] exclusive): the files only unreachable
/// runs' snapshots reference stop being referenced (`catalog/release.rs`).
pub(super) async fn release_forgotten(tx: &Transaction<'_>) -> Result<()> {
    let forgotten: Vec<(String, String)> = tx
        .query(FORGOTTEN_SNAPSHOTS, &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let mut paths: Vec<String> = Vec::new();
    for (id, body) in &forgotten {
        paths.extend(files_of(id, body)?);
    }
    let referenced: HashSet<String> = tx
        .query(
            "SELECT path FROM data_files WHERE path = ANY($1)",
            &[&paths],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let Some(mut release) = Release::new(forgotten, |p| Ok(referenced.contains(p)))? else {
        return Ok(());
    };
    for r in tx.query("SELECT id, body FROM commits", &[]).await? {
        release.see_commit(&r.try_get::<_, String>(0)?, &r.try_get::<_, String>(1)?)?;
    }
    let heads: Vec<String> = tx
        .query(REF_HEADS, &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    release.reachable_from(heads);
    let mut kept = BTreeSet::new();
    for r in tx.query("SELECT id, body FROM snapshots", &[]).await? {
        let id: String = r.try_get(0)?;
        if !release.releases(&id) {
            kept.extend(files_of(&id, &r.try_get::<_, String>(1)?)?);
        }
    }
    let released = release.files(&kept);
    tx.execute("DELETE FROM data_files WHERE path = ANY($1)", &[&released])
        .await?;
    Ok(())
}
