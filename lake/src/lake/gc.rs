//! Garbage collection of data files no recorded snapshot references.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Lake;
use crate::error::Result;

/// The default grace period of `gc`.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Files deleted (paths relative to the data root).
    pub deleted: Vec<String>,
    pub deleted_bytes: u64,
    /// Files kept because a snapshot references them.
    pub referenced: usize,
    /// Unreferenced files kept because they are younger than the grace period.
    pub too_recent: usize,
}

impl Lake {
    // ----- garbage collection -------------------------------------------

    /// Deletes data files that no recorded snapshot references and that are
    /// older than `grace`. Every commit ever recorded (hence every branch,
    /// tag and old commit) keeps its files; the grace period protects files
    /// of writers that have written data but not yet committed.
    pub async fn gc(&self, grace: Duration) -> Result<GcReport> {
        // List files BEFORE reading the catalog: a file committed in between
        // is then seen as referenced.
        let files = self.data.list_data_files().await?;
        let referenced: HashSet<String> = self
            .catalog
            .all_snapshots()
            .await?
            .into_iter()
            .flat_map(|s| s.content.files.into_iter().map(|f| f.path))
            .collect();
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        let mut report = GcReport::default();
        for meta in files {
            let path = meta.location.to_string();
            if referenced.contains(&path) {
                report.referenced += 1;
                continue;
            }
            let modified: SystemTime = meta.last_modified.into();
            if modified > cutoff {
                report.too_recent += 1;
                continue;
            }
            self.data.delete(&path).await?;
            report.deleted_bytes += meta.size;
            report.deleted.push(path);
        }
        report.deleted.sort();
        Ok(report)
    }
}
