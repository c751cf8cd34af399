//! The data file lifecycle tables of the SQLite catalog (see
//! `Catalog::register_pending`): helpers run inside the catalog's transactions.

use rusqlite::{OptionalExtension, params};

use std::collections::BTreeSet;

use super::release::{FORGOTTEN_SNAPSHOTS, REF_HEADS, Release, files_of};
use super::{lost_reason, snapshot_files};
use crate::error::{LakeError, Result};
use crate::model::Snapshot;

/// Records the files of every snapshot in `data_files` (migration to
/// [`super::FILES_VERSION`]).
pub(super) fn fill_data_files(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let mut snapshots = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT id, body FROM snapshots")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for r in rows {
            let (id, body) = r?;
            snapshots.push(Snapshot::from_stored(&id, &body)?);
        }
    }
    for path in snapshot_files(&snapshots) {
        tx.execute(
            "INSERT OR IGNORE INTO data_files (path) VALUES (?1)",
            params![path],
        )?;
    }
    Ok(())
}

pub(super) fn row_exists(tx: &rusqlite::Transaction<'_>, sql: &str, path: &str) -> Result<bool> {
    Ok(tx
        .query_row(sql, params![path], |_| Ok(()))
        .optional()?
        .is_some())
}

/// In a commit's transaction: every file of `snapshots` is either already
/// referenced or a registered, uncondemned new file, which becomes referenced.
pub(super) fn adopt_files(tx: &rusqlite::Transaction<'_>, snapshots: &[Snapshot]) -> Result<()> {
    for path in snapshot_files(snapshots) {
        if row_exists(tx, "SELECT 1 FROM data_files WHERE path = ?1", &path)? {
            continue;
        }
        let condemned = row_exists(tx, "SELECT 1 FROM condemned_files WHERE path = ?1", &path)?;
        let pending = row_exists(tx, "SELECT 1 FROM pending_files WHERE path = ?1", &path)?;
        if let Some(reason) = lost_reason(condemned, pending) {
            return Err(LakeError::StagedFileLost {
                path,
                reason: reason.to_string(),
            });
        }
        tx.execute("DELETE FROM pending_files WHERE path = ?1", params![path])?;
        tx.execute("INSERT INTO data_files (path) VALUES (?1)", params![path])?;
    }
    Ok(())
}

/// In gc's transaction: the files only unreachable runs' snapshots reference stop
/// being referenced (`catalog/release.rs`).
pub(super) fn release_forgotten(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let forgotten = {
        let mut stmt = tx.prepare(FORGOTTEN_SNAPSHOTS)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<Vec<(String, String)>>>()?
    };
    let Some(mut release) = Release::new(forgotten, |path| {
        row_exists(tx, "SELECT 1 FROM data_files WHERE path = ?1", path)
    })?
    else {
        return Ok(());
    };
    {
        let mut stmt = tx.prepare("SELECT id, body FROM commits")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            release.see_commit(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?)?;
        }
    }
    let heads = {
        let mut stmt = tx.prepare(REF_HEADS)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    release.reachable_from(heads);
    let mut kept = BTreeSet::new();
    {
        let mut stmt = tx.prepare("SELECT id, body FROM snapshots")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            if !release.releases(&id) {
                kept.extend(files_of(&id, &r.get::<_, String>(1)?)?);
            }
        }
    }
    for path in release.files(&kept) {
        tx.execute("DELETE FROM data_files WHERE path = ?1", params![path])?;
    }
    Ok(())
}
