//! gc's release of the data of runs that can never be read again: a run that did
//! not succeed (`failed`, or a dry run's `validated`) and whose branch is gone
//! (`sluice runs prune`, or the end of a dry run). The write guard keeps every
//! snapshot such a run wrote off every other branch for good, so once its own
//! branch is deleted, only a tag could still reach those snapshots. Their files stop being
//! referenced (`data_files`), and gc treats them as any unreferenced file (grace
//! period, condemnation). Both backends gather the rows; the decision is here.
//!
//! Checked, not assumed: a tag may still point into such a run's history (tags are
//! read-only, so the guard lets one name a failed run's commit), and a run from
//! before the guard existed may have been merged. So whatever a branch's or tag's
//! head or any of its ancestors holds is never released, nor is a file any other
//! snapshot references.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::error::{LakeError, Result};
use crate::model::{CommitContent, Snapshot};

/// Every branch's and tag's head.
pub(crate) const REF_HEADS: &str = "SELECT commit_id FROM refs";

/// The rows that select the snapshots of such runs: `(snapshot id, body)`.
pub(crate) const FORGOTTEN_SNAPSHOTS: &str = "SELECT s.id, s.body
     FROM snapshot_runs w
     JOIN snapshots s ON s.id = w.snapshot_id
     JOIN runs r ON r.id = w.run_id
     LEFT JOIN run_branches b ON b.run_id = w.run_id
     WHERE r.status <> 'running' AND r.status <> 'succeeded' AND b.run_id IS NULL";

/// The decision in progress: the snapshots that may be released, by id, with their
/// files, and the history gathered to check that no ref reaches them.
pub(crate) struct Release {
    snapshots: HashMap<String, Vec<String>>,
    /// Every recorded commit's parents.
    parents: HashMap<String, Vec<String>>,
    /// The commits holding a releasable snapshot, with those snapshots.
    holders: HashMap<String, Vec<String>>,
}

impl Release {
    /// From the forgotten snapshots `(id, body)`, keeping only those with a
    /// file still referenced (`referenced`); `None` when there is nothing to release.
    pub(crate) fn new(
        forgotten: Vec<(String, String)>,
        mut referenced: impl FnMut(&str) -> Result<bool>,
    ) -> Result<Option<Release>> {
        let mut snapshots = HashMap::new();
        for (id, body) in forgotten {
            let files = files_of(&id, &body)?;
            let mut live = false;
            for f in &files {
                live |= referenced(f)?;
            }
            if live {
                snapshots.insert(id, files);
            }
        }
        Ok((!snapshots.is_empty()).then_some(Release {
            snapshots,
            parents: HashMap::new(),
            holders: HashMap::new(),
        }))
    }

    /// One recorded commit (`body`): its parents and the releasable snapshots it
    /// holds, for [`Release::reachable_from`].
    pub(crate) fn see_commit(&mut self, id: &str, body: &str) -> Result<()> {
        let content: CommitContent = serde_json::from_str(body)
            .map_err(|e| LakeError::Corrupt(format!("commit {id}: {e}")))?;
        let held: Vec<String> = content
            .tables
            .values()
            .filter(|s| self.snapshots.contains_key(&s.0))
            .map(|s| s.0.clone())
            .collect();
        if !held.is_empty() {
            self.holders.insert(id.to_string(), held);
        }
        self.parents.insert(
            id.to_string(),
            content.parents.into_iter().map(|p| p.0).collect(),
        );
        Ok(())
    }

    /// After every commit was seen: what the commits `heads` (every branch's and
    /// tag's) and their ancestors hold stays.
    pub(crate) fn reachable_from(&mut self, heads: Vec<String>) {
        let mut seen: HashSet<String> = HashSet::new();
        let mut todo = heads;
        while let Some(commit) = todo.pop() {
            if !seen.insert(commit.clone()) {
                continue;
            }
            if let Some(held) = self.holders.get(&commit) {
                for snapshot in held {
                    self.snapshots.remove(snapshot);
                }
            }
            if let Some(parents) = self.parents.get(&commit) {
                todo.extend(parents.iter().cloned());
            }
        }
    }

    /// Whether a snapshot is released (the others' files are kept).
    pub(crate) fn releases(&self, snapshot: &str) -> bool {
        self.snapshots.contains_key(snapshot)
    }

    /// The released snapshots' files, less those `kept` (every file of a snapshot
    /// that is not released).
    pub(crate) fn files(self, kept: &BTreeSet<String>) -> Vec<String> {
        let files: BTreeSet<String> = self
            .snapshots
            .into_values()
            .flatten()
            .filter(|f| !kept.contains(f))
            .collect();
        files.into_iter().collect()
    }
}

/// The files of a stored snapshot.
pub(crate) fn files_of(id: &str, body: &str) -> Result<Vec<String>> {
    Ok(Snapshot::from_stored(id, body)?
        .content
        .files
        .into_iter()
        .map(|f| f.path)
        .collect())
}
