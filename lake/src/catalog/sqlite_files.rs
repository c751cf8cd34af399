//! The data file lifecycle tables of the SQLite catalog (see
//! `Catalog::register_pending`): helpers run inside the catalog's transactions.

use rusqlite::{OptionalExtension, params};

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
