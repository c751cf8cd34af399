//! Garbage collection of data files no recorded snapshot references, safe
//! against concurrent writers by construction (see [`Lake::gc`]).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Lake;
use crate::error::Result;
use crate::store::{StagedTable, temporary_target};

/// The default grace period of `gc`.
pub const DEFAULT_GC_GRACE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Files deleted (paths relative to the data root), including temporary
    /// files of interrupted writes.
    pub deleted: Vec<String>,
    pub deleted_bytes: u64,
    /// Files kept because a snapshot references them.
    pub referenced: usize,
    /// Unreferenced files kept because they are younger than the grace period.
    pub too_recent: usize,
    /// Unreferenced files kept because a writer registered them within the
    /// grace period (it has not committed or given up yet).
    pub pending: usize,
}

/// gc's decision ([`Lake::gc_plan`]): the files it condemned in the catalog.
#[derive(Clone, Debug, Default)]
pub struct GcPlan {
    condemned: Vec<String>,
    sizes: BTreeMap<String, u64>,
    temporary: Vec<String>,
    report: GcReport,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Lake {
    // ----- garbage collection -------------------------------------------

    /// Deletes data files that no recorded snapshot references, that are
    /// older than `grace`, and that no writer registered within `grace`.
    /// Every commit ever recorded (hence every branch, tag and old commit)
    /// keeps its files. Safe with concurrent writers whatever `grace`: a
    /// file is condemned in the catalog first, in one transaction that
    /// excludes commits, and a commit refuses a condemned or unregistered
    /// new file; a writer slower than `grace` then fails instead of
    /// committing a file gc deletes.
    pub async fn gc(&self, grace: Duration) -> Result<GcReport> {
        let plan = self.gc_plan(grace).await?;
        self.gc_sweep(plan).await
    }

    /// gc's decision: lists the data store, then condemns in ONE catalog
    /// transaction the old files nothing references or protects. Nothing is
    /// deleted yet ([`Lake::gc_sweep`] does).
    pub async fn gc_plan(&self, grace: Duration) -> Result<GcPlan> {
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
        let cutoff_ms = millis(cutoff);
        let mut plan = GcPlan::default();
        let mut candidates = Vec::new();
        for meta in self.data.list_data_files().await? {
            let path = meta.location.to_string();
            if temporary_target(&path).is_some() && self.data.is_local() {
                continue; // handled with the other temporary files below
            }
            let modified: SystemTime = meta.last_modified.into();
            plan.sizes.insert(path.clone(), meta.size);
            candidates.push((path, millis(modified)));
        }
        let condemned = self.catalog.condemn_files(&candidates, cutoff_ms).await?;
        plan.report.referenced = condemned.referenced;
        plan.report.too_recent = condemned.too_recent;
        plan.report.pending = condemned.pending;
        plan.condemned = condemned.paths;
        // Temporary files of interrupted writes: never referenced; kept while
        // young or while the file they become is registered within `grace`.
        let live: HashSet<String> = self
            .catalog
            .pending_files(cutoff_ms)
            .await?
            .into_iter()
            .collect();
        for (path, modified) in self.data.list_temporary_files()? {
            let target = temporary_target(&path).unwrap_or(&path);
            if modified > cutoff || live.contains(target) {
                plan.report.too_recent += 1;
                continue;
            }
            plan.temporary.push(path);
        }
        Ok(plan)
    }

    /// gc's action: deletes the condemned files, then clears them from the
    /// catalog, and deletes the planned temporary files.
    pub async fn gc_sweep(&self, plan: GcPlan) -> Result<GcReport> {
        let mut report = plan.report;
        for path in &plan.condemned {
            self.data.delete(path).await?;
            report.deleted_bytes += plan.sizes.get(path).copied().unwrap_or(0);
            report.deleted.push(path.clone());
        }
        self.catalog.clear_condemned(&plan.condemned).await?;
        for path in plan.temporary {
            self.data.delete_temporary_file(&path)?;
            report.deleted.push(path);
        }
        report.deleted.sort();
        Ok(report)
    }

    /// Gives up a staged table that will not be committed: its files are
    /// deleted and their registrations dropped.
    pub async fn discard(&self, staged: &StagedTable) -> Result<()> {
        let paths: Vec<String> = staged.files.iter().map(|f| f.path.clone()).collect();
        for p in &paths {
            self.data.delete(p).await?;
        }
        self.catalog.release_pending(&paths).await
    }
}
