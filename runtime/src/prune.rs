//! `sluice runs prune`: deleting the branches failed runs leave behind, by a
//! retention rule. A failed run keeps its `run/<id>` branch (with the output that
//! broke its contract, marked aborted) for inspection; pruning deletes the branch
//! and records that in the run's record. The record itself stays, and so do the
//! commits (the lake never forgets a commit); with the branch gone, no ref can
//! reach what the run wrote (the lake's write guard), so `sluice gc` reclaims
//! its data files.

use std::time::Duration;

use serde::Serialize;
use sluice_lake::{Lake, LakeError};

use crate::error::Result;
use crate::record::{self, RunStatus};

/// Which failed runs keep their branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// A failed run's branch is kept while the run ended less than this long ago.
    pub older_than: Duration,
    /// The branches of this many most recent failed runs are kept, however old.
    pub keep: usize,
}

impl Default for Retention {
    /// Branches of failed runs that ended in the last 7 days, and of the 10 most
    /// recent failed runs, are kept.
    fn default() -> Retention {
        Retention {
            older_than: DEFAULT_OLDER_THAN,
            keep: DEFAULT_KEEP,
        }
    }
}

/// The default age after which a failed run's branch may be pruned.
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default number of most recent failed runs whose branches are kept.
pub const DEFAULT_KEEP: usize = 10;

/// How many run records prune reads, newest first.
const RECORDS_READ: usize = 100_000;

/// One failed run's branch and what prune did with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrunedRun {
    pub run_id: String,
    pub branch: String,
    pub finished_ms: Option<i64>,
    /// Deleted (or, in a dry run, would be).
    pub pruned: bool,
    /// Why it is kept, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<String>,
}

/// Deletes the branches of failed runs outside `retention` (with `dry_run`, only
/// says which). Only runs whose status is `failed` are considered: a running run's
/// branch, or a succeeded or validated run's, is never touched (those are deleted
/// when the run ends). Stale runs whose process died are settled first.
pub async fn prune(lake: &Lake, retention: &Retention, dry_run: bool) -> Result<Vec<PrunedRun>> {
    crate::run::recover_stale_runs(lake).await?;
    let now = crate::run::now_ms();
    let limit_ms = i64::try_from(retention.older_than.as_millis()).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut failed_seen = 0usize;
    for mut rec in record::list(lake, RECORDS_READ).await? {
        if rec.status != RunStatus::Failed || rec.branch_pruned {
            continue;
        }
        failed_seen += 1;
        let ended = rec.finished_ms.unwrap_or(rec.started_ms);
        let kept_because = if failed_seen <= retention.keep {
            Some(format!(
                "one of the {} most recent failed runs",
                retention.keep
            ))
        } else if now.saturating_sub(ended) < limit_ms {
            Some(format!(
                "ended less than {} ago",
                humantime::format_duration(retention.older_than)
            ))
        } else {
            None
        };
        let pruned = kept_because.is_none();
        if pruned && !dry_run {
            match lake.delete_branch(&rec.branch).await {
                Ok(()) | Err(LakeError::BranchNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            rec.branch_pruned = true;
            record::save(lake, &rec).await?;
        }
        out.push(PrunedRun {
            run_id: rec.id.clone(),
            branch: rec.branch.clone(),
            finished_ms: rec.finished_ms,
            pruned,
            kept_because,
        });
    }
    Ok(out)
}
