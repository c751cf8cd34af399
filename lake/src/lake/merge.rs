//! Merging branches: fast-forward or three-way at table granularity, and the
//! guard on the commits a merge brings in.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Lake, MAX_RETRIES, RefTarget, backoff, now_ms};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitContent, CommitId, SnapshotId};

#[derive(Clone, Debug)]
pub struct MergeRequest {
    pub source: String,
    pub into: String,
    /// `Some(head)`: fail with `Conflict` unless `into` is at `head`.
    pub expected_into_head: Option<CommitId>,
    pub message: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// Commit mark keys (e.g. `aborted`) that block the merge: if any commit
    /// the merge would bring into `into` carries one, the merge is refused
    /// with `MarkedCommit` and nothing changes.
    pub refuse_marked: Vec<String>,
    /// Make a merge commit even when a fast-forward is possible, so that the
    /// target's first-parent history shows the merge as one commit.
    pub no_fast_forward: bool,
    /// Commits made by a run (property `run_id`) that did not succeed are never
    /// brought into another branch, unless this is set; the merge commit then
    /// records them under `allowed_unpublished_runs`.
    pub allow_unpublished_runs: bool,
    /// The run that is publishing itself with this merge: its own commits pass.
    pub publishing_run: Option<String>,
}

impl MergeRequest {
    pub fn new(source: &str, into: &str) -> MergeRequest {
        MergeRequest {
            source: source.to_string(),
            into: into.to_string(),
            expected_into_head: None,
            message: None,
            properties: BTreeMap::new(),
            refuse_marked: Vec::new(),
            no_fast_forward: false,
            allow_unpublished_runs: false,
            publishing_run: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The source is already contained in the target.
    UpToDate { head: CommitId },
    /// The target branch moved forward to the source commit.
    FastForward { from: CommitId, to: CommitId },
    /// A merge commit with two parents was made.
    Merged {
        commit: CommitId,
        base: CommitId,
        /// Tables taken from the source side.
        tables_from_source: Vec<String>,
    },
}

impl MergeOutcome {
    pub fn head(&self) -> &CommitId {
        match self {
            MergeOutcome::UpToDate { head } => head,
            MergeOutcome::FastForward { to, .. } => to,
            MergeOutcome::Merged { commit, .. } => commit,
        }
    }
}

impl Lake {
    // ----- merging -------------------------------------------------------

    /// Merges `source` into branch `into`: fast-forward when possible, else a
    /// three-way merge at table granularity that refuses (changing nothing)
    /// when a table changed on both sides since the merge base.
    pub async fn merge(&self, req: MergeRequest) -> Result<MergeOutcome> {
        let source = self.resolve(&req.source).await?;
        if source.target == RefTarget::Branch(req.into.clone()) {
            return Err(LakeError::SelfMerge {
                source_ref: req.source.clone(),
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ours = self.branch_head(&req.into).await?;
            if let Some(expected) = &req.expected_into_head
                && expected != &ours.id
            {
                return Err(LakeError::Conflict {
                    branch: req.into.clone(),
                    expected: expected.0.clone(),
                    actual: ours.id.0.clone(),
                });
            }
            let theirs = &source.commit;
            if self.is_ancestor(&theirs.id, &ours.id).await? {
                return Ok(MergeOutcome::UpToDate { head: ours.id });
            }
            let allowed = self.check_incoming(&req, &ours.id, &theirs.id).await?;
            let mut properties = req.properties.clone();
            if !allowed.is_empty() {
                properties.insert("allowed_unpublished_runs".into(), allowed.join(","));
            }
            let result = if !req.no_fast_forward
                && properties == req.properties
                && self.is_ancestor(&ours.id, &theirs.id).await?
            {
                self.catalog
                    .move_branch(&req.into, &ours.id, &theirs.id)
                    .await
                    .map(|()| MergeOutcome::FastForward {
                        from: ours.id.clone(),
                        to: theirs.id.clone(),
                    })
            } else {
                let base = self
                    .merge_base(&ours.id, &theirs.id)
                    .await?
                    .ok_or_else(|| {
                        LakeError::Corrupt(format!(
                            "commits {} and {} share no history",
                            ours.id.short(),
                            theirs.id.short()
                        ))
                    })?;
                let (tables, from_source, conflicts) =
                    three_way(base.tables(), ours.tables(), theirs.tables());
                if !conflicts.is_empty() {
                    return Err(LakeError::MergeConflict {
                        source_ref: req.source.clone(),
                        into: req.into.clone(),
                        base: base.id.short().to_string(),
                        tables: conflicts,
                    });
                }
                let message = req
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("merge {} into {}", req.source, req.into));
                let commit = Commit::new(CommitContent {
                    parents: vec![ours.id.clone(), theirs.id.clone()],
                    tables,
                    message,
                    author: self.author.clone(),
                    time_ms: now_ms()
                        .max(ours.content.time_ms + 1)
                        .max(theirs.content.time_ms + 1),
                    properties,
                });
                self.catalog
                    .commit(&req.into, &ours.id, &commit, &[])
                    .await
                    .map(|()| MergeOutcome::Merged {
                        commit: commit.id.clone(),
                        base: base.id.clone(),
                        tables_from_source: from_source,
                    })
            };
            match result {
                Err(LakeError::Conflict { .. })
                    if req.expected_into_head.is_none() && attempt < MAX_RETRIES =>
                {
                    backoff(attempt).await;
                }
                other => return other,
            }
        }
    }

    /// Checks the commits that merging `theirs` would bring into `ours`: refuses
    /// when one carries a mark of `req.refuse_marked`, or was made by a run that
    /// was never published (unless `req.allow_unpublished_runs`). Returns the
    /// unpublished runs let through.
    async fn check_incoming(
        &self,
        req: &MergeRequest,
        ours: &CommitId,
        theirs: &CommitId,
    ) -> Result<Vec<String>> {
        let mut incoming = self.paint(ours, theirs, true).await?.incoming;
        incoming.reverse(); // oldest first
        let mut status: BTreeMap<String, String> = BTreeMap::new();
        let mut allowed = Vec::new();
        for c in incoming {
            if !req.refuse_marked.is_empty() {
                let marks = self.catalog.commit_marks(&c.id).await?;
                for key in &req.refuse_marked {
                    if let Some(value) = marks.get(key) {
                        return Err(LakeError::MarkedCommit {
                            source_ref: req.source.clone(),
                            into: req.into.clone(),
                            commit: c.id.short().to_string(),
                            key: key.clone(),
                            value: value.clone(),
                        });
                    }
                }
            }
            let Some(run) = c.content.properties.get("run_id") else {
                continue;
            };
            if req.publishing_run.as_deref() == Some(run.as_str()) {
                continue;
            }
            if !status.contains_key(run) {
                let found = self.catalog.runs(run, 1).await?;
                let s = match found.first() {
                    Some(r) if &r.id == run => r.status.clone(),
                    _ => "unknown".to_string(),
                };
                status.insert(run.clone(), s);
            }
            let s = &status[run];
            if s == crate::model::RUN_SUCCEEDED {
                continue;
            }
            if !req.allow_unpublished_runs {
                return Err(LakeError::UnpublishedRun {
                    source_ref: req.source.clone(),
                    into: req.into.clone(),
                    commit: c.id.short().to_string(),
                    run: run.clone(),
                    status: s.clone(),
                });
            }
            if !allowed.contains(run) {
                allowed.push(run.clone());
            }
        }
        Ok(allowed)
    }
}

/// The three-way merge of table maps. Returns the merged map, the tables
/// taken from `theirs`, and the tables changed on both sides differently.
pub fn three_way(
    base: &BTreeMap<String, SnapshotId>,
    ours: &BTreeMap<String, SnapshotId>,
    theirs: &BTreeMap<String, SnapshotId>,
) -> (BTreeMap<String, SnapshotId>, Vec<String>, Vec<String>) {
    let names: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    let mut merged = BTreeMap::new();
    let mut from_theirs = Vec::new();
    let mut conflicts = Vec::new();
    for name in names {
        let (b, o, t) = (base.get(name), ours.get(name), theirs.get(name));
        let pick = if o == t || t == b {
            o
        } else if o == b {
            from_theirs.push(name.clone());
            t
        } else {
            conflicts.push(name.clone());
            o
        };
        if let Some(s) = pick {
            merged.insert(name.clone(), s.clone());
        }
    }
    (merged, from_theirs, conflicts)
}
