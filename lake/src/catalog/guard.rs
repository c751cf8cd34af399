//! The one write guard of the lake, decided inside every ref update's
//! transaction by both backends (they only gather the rows it reads):
//!
//! * A sealed branch (a run's branch) takes commits and moves only from the
//!   run holding its lease; deletion and property changes also need the lease
//!   while the run is `running`.
//! * No snapshot written by a run that has not `succeeded` may enter the table
//!   map of any branch but that run's own branch, except through the run's own
//!   publishing merge, which presents the run's lease.
//!
//! Every door that changes what a branch holds goes through
//! [`check_incoming`]: commits (imports, drops, reverts), merge commits,
//! fast-forwards and branch creation.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{LakeError, Result};
use crate::model::{Commit, Lease, RUN_RUNNING, RUN_SUCCEEDED, SnapshotId};

/// A branch sealed by a run: the run and the hash of its lease.
#[derive(Clone, Debug)]
pub(crate) struct Seal {
    pub run_id: String,
    pub lease_hash: String,
}

/// The run that wrote a snapshot, its status (`None`: no record) and the
/// lease hash of its branch, if that branch still exists.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    pub run_id: String,
    pub status: Option<String>,
    pub lease_hash: Option<String>,
}

/// Schema step 2 -> 3: sealed run branches and the run that wrote each snapshot.
pub(crate) const MIGRATION: &str = "CREATE TABLE run_branches (
        branch TEXT PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        lease_hash TEXT NOT NULL);
     CREATE TABLE snapshot_runs (
        snapshot_id TEXT PRIMARY KEY REFERENCES snapshots(id),
        run_id TEXT NOT NULL);";

/// A run's status only moves from `running` to a final one, and only the run
/// holding its lease (while it has a sealed branch) may call itself
/// `succeeded`: the status decides whether its snapshots may leave its branch.
pub(crate) fn check_status_change(
    run_id: &str,
    old: Option<&str>,
    new: &str,
    seal: Option<(&str, &str)>,
    lease: Option<&Lease>,
) -> Result<()> {
    let Some(old) = old else {
        return Ok(());
    };
    if old == new {
        return Ok(());
    }
    if old != RUN_RUNNING {
        return Err(LakeError::RunFinished {
            run: run_id.to_string(),
            status: old.to_string(),
            new: new.to_string(),
        });
    }
    match seal {
        Some((branch, hash)) if new == RUN_SUCCEEDED => {
            if lease.is_some_and(|l| l.matches(run_id, hash)) {
                Ok(())
            } else {
                Err(LakeError::SealedBranch {
                    action: "mark the run succeeded through",
                    branch: branch.to_string(),
                    run: run_id.to_string(),
                })
            }
        }
        _ => Ok(()),
    }
}

/// The schema version that introduced [`MIGRATION`].
pub(crate) const SEALED_VERSION: i64 = 3;

/// For a lake migrated to [`SEALED_VERSION`]: the snapshots a commit made by a
/// run (property `run_id`, as runs wrote before branches were sealed) added
/// over its first parent's tables are that run's.
pub(crate) fn old_run_writes(
    commit: &Commit,
    parent: &BTreeMap<String, SnapshotId>,
) -> Vec<(SnapshotId, String)> {
    let Some(run) = commit.content.properties.get("run_id") else {
        return Vec::new();
    };
    incoming(parent, commit.tables())
        .into_iter()
        .map(|(_, s)| (s.clone(), run.clone()))
        .collect()
}

/// Writes to a sealed branch need its lease.
pub(crate) fn check_lease(
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    lease: Option<&Lease>,
) -> Result<()> {
    match seal {
        Some(seal) if !lease.is_some_and(|l| l.matches(&seal.run_id, &seal.lease_hash)) => {
            Err(LakeError::SealedBranch {
                action,
                branch: branch.to_string(),
                run: seal.run_id.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Commits and moves of a sealed branch need its lease, and its run still
/// running: once the run ended, its branch is frozen.
pub(crate) fn check_write(
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    run_status: Option<&str>,
    lease: Option<&Lease>,
) -> Result<()> {
    let ended = run_status != Some(RUN_RUNNING);
    check_lease(action, branch, seal.filter(|_| !ended), lease)?;
    // An ended run's branch: no lease opens it.
    check_lease(action, branch, seal.filter(|_| ended), None)
}

/// Deleting a sealed branch or changing its properties needs the lease while
/// its run is running; once the run ended, anyone may (its content can reach
/// no other branch either way).
pub(crate) fn check_lease_while_running(
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    run_status: Option<&str>,
    lease: Option<&Lease>,
) -> Result<()> {
    if run_status == Some(RUN_RUNNING) {
        check_lease(action, branch, seal, lease)
    } else {
        Ok(())
    }
}

/// The snapshots of `new` that `old` does not hold, with a table naming each.
pub(crate) fn incoming<'a>(
    old: &BTreeMap<String, SnapshotId>,
    new: &'a BTreeMap<String, SnapshotId>,
) -> Vec<(&'a String, &'a SnapshotId)> {
    let held: BTreeSet<&SnapshotId> = old.values().collect();
    new.iter().filter(|(_, s)| !held.contains(s)).collect()
}

/// Decides whether a snapshot of `table` written by `writer` may enter `branch`.
pub(crate) fn check_incoming(
    action: &'static str,
    branch: &str,
    seal: Option<&Seal>,
    lease: Option<&Lease>,
    table: &str,
    writer: &Writer,
) -> Result<()> {
    let published = writer.status.as_deref() == Some(RUN_SUCCEEDED);
    let own_branch = seal.is_some_and(|s| s.run_id == writer.run_id);
    // The run's publishing merge: it presents its lease while still running.
    let publishing = match (lease, &writer.lease_hash) {
        (Some(lease), Some(hash)) => {
            writer.status.as_deref() == Some(RUN_RUNNING) && lease.matches(&writer.run_id, hash)
        }
        _ => false,
    };
    if published || own_branch || publishing {
        return Ok(());
    }
    Err(LakeError::UnpublishedRun {
        action,
        branch: branch.to_string(),
        table: table.to_string(),
        run: writer.run_id.clone(),
        status: writer
            .status
            .clone()
            .unwrap_or_else(|| "no run record".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(status: Option<&str>, lease: Option<&Lease>) -> Writer {
        Writer {
            run_id: "r1".into(),
            status: status.map(str::to_string),
            lease_hash: lease.map(Lease::hash),
        }
    }

    #[test]
    fn only_the_lease_holder_writes_a_sealed_branch() {
        let lease = Lease::new("r1");
        let seal = Seal {
            run_id: "r1".into(),
            lease_hash: lease.hash(),
        };
        assert!(check_lease("commit to", "run/r1", Some(&seal), Some(&lease)).is_ok());
        assert!(check_lease("commit to", "run/r1", Some(&seal), None).is_err());
        let other = Lease::new("r1");
        assert!(check_lease("commit to", "run/r1", Some(&seal), Some(&other)).is_err());
        assert!(check_lease("commit to", "main", None, None).is_ok());
        let write = |status| check_write("commit to", "run/r1", Some(&seal), status, Some(&lease));
        assert!(write(Some("running")).is_ok());
        assert!(
            write(Some("failed")).is_err(),
            "an ended run's branch is frozen"
        );
        assert!(
            check_lease_while_running("delete", "run/r1", Some(&seal), Some("running"), None)
                .is_err()
        );
        assert!(
            check_lease_while_running("delete", "run/r1", Some(&seal), Some("failed"), None)
                .is_ok()
        );
    }

    #[test]
    fn unpublished_snapshots_stay_on_their_run_branch() {
        let lease = Lease::new("r1");
        let snap = SnapshotId("s".into());
        let seal = Seal {
            run_id: "r1".into(),
            lease_hash: lease.hash(),
        };
        let running = writer(Some("running"), Some(&lease));
        let check = |seal: Option<&Seal>, lease: Option<&Lease>, w: &Writer| {
            check_incoming("commit to", "main", seal, lease, "t", w)
        };
        assert!(
            check(Some(&seal), Some(&lease), &running).is_ok(),
            "own branch"
        );
        assert!(check(None, Some(&lease), &running).is_ok(), "publishing");
        assert!(check(None, None, &running).is_err());
        assert!(check(None, Some(&Lease::new("r1")), &running).is_err());
        assert!(check(None, None, &writer(Some("failed"), None)).is_err());
        let failed = writer(Some("failed"), Some(&lease));
        assert!(
            check(None, Some(&lease), &failed).is_err(),
            "a failed run publishes nothing"
        );
        assert!(check(None, None, &writer(None, None)).is_err());
        assert!(check(None, None, &writer(Some("succeeded"), None)).is_ok());
        let old = BTreeMap::from([("a".to_string(), snap.clone())]);
        let new = BTreeMap::from([
            ("a".to_string(), snap.clone()),
            ("b".to_string(), snap.clone()),
            ("c".to_string(), SnapshotId("x".into())),
        ]);
        let got: Vec<&str> = incoming(&old, &new)
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(got, ["c"]);
    }
}
