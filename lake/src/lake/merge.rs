//! Merging branches: fast-forward or three-way at table granularity. Which
//! snapshots may reach `into` is decided by the catalog's write guard inside
//! the ref update (see `catalog::guard`), like for every other write.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Lake, MAX_RETRIES, RefTarget, backoff, now_ms};
use crate::error::{LakeError, Result};
use crate::model::{Commit, CommitContent, CommitId, SnapshotId, check_table_collisions};

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
    /// `Some(head)`: fail with `Conflict` unless `source` resolves to `head`
    /// (a run publishes exactly the head it committed last).
    pub expected_source_head: Option<CommitId>,
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
            expected_source_head: None,
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
        if let Some(expected) = &req.expected_source_head
            && expected != &source.commit.id
        {
            return Err(LakeError::Conflict {
                branch: req.source.clone(),
                expected: expected.0.clone(),
                actual: source.commit.id.0.clone(),
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
            self.check_marks(&req, &ours.id, &theirs.id).await?;
            let properties = req.properties.clone();
            let result = if !req.no_fast_forward && self.is_ancestor(&ours.id, &theirs.id).await? {
                self.catalog
                    .move_branch(&req.into, &ours.id, &theirs.id, self.lease.as_ref())
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
                check_table_collisions(&tables, &from_source, &req.into)?;
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
                    .commit(&req.into, &ours.id, &commit, &[], self.lease.as_ref())
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

    /// Refuses (`MarkedCommit`) when a commit that merging `theirs` would bring
    /// into `ours` carries a mark of `req.refuse_marked`.
    async fn check_marks(
        &self,
        req: &MergeRequest,
        ours: &CommitId,
        theirs: &CommitId,
    ) -> Result<()> {
        if req.refuse_marked.is_empty() {
            return Ok(());
        }
        let mut incoming = self.paint(ours, theirs, true).await?.incoming;
        incoming.reverse(); // oldest first
        for c in incoming {
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
        Ok(())
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
