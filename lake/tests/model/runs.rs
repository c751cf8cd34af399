//! Runs in the executable model: a run starts on a sealed branch of its own,
//! writes through the handle holding its lease, and either publishes itself
//! into its target (and succeeds) or aborts. Every other step may pick a run
//! branch as its target or source (foreign writes, forks, merges, reverts to
//! a run's commit), and the model predicts which the lake must refuse:
//! `SealedBranch` for a write to a run's branch without its lease (or after
//! the run ended), `UnpublishedRun` for a new head holding a snapshot of a
//! run that has not succeeded anywhere but on its own branch.

use std::collections::{BTreeMap, BTreeSet};

use sluice_lake::{CommitRequest, LakeError, Lease, MergeOutcome, MergeRequest, RunRow};

use super::{Harness, MergeModel, Model, Version, count, pick};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunState {
    Running,
    Succeeded,
    Aborted,
}

#[derive(Clone, Debug)]
pub(crate) struct MRun {
    pub id: String,
    pub branch: String,
    pub target: String,
    pub state: RunState,
}

/// A refusal the lake must give.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    Sealed,
    Unpublished,
}

fn row(id: &str, status: &str) -> RunRow {
    RunRow {
        id: id.to_string(),
        status: status.to_string(),
        started_ms: 0,
        body: "{}".to_string(),
    }
}

impl Model {
    pub(crate) fn sealed_by(&self, branch: &str) -> Option<usize> {
        self.runs.iter().position(|r| r.branch == branch)
    }

    /// Branches no run sealed.
    pub(crate) fn free_branches(&self) -> Vec<String> {
        self.branches
            .keys()
            .filter(|b| self.sealed_by(b).is_none())
            .cloned()
            .collect()
    }

    /// Whether commit `c` holds a version of a run that has not succeeded.
    pub(crate) fn holds_unpublished(&self, c: usize) -> bool {
        self.commits[c].tables.values().any(|v| {
            self.version_run
                .get(&v.0)
                .is_some_and(|r| self.runs[*r].state != RunState::Succeeded)
        })
    }

    /// What the lake must refuse when `branch` moves from `old` to `new`
    /// tables, through a handle holding the lease of run `lease`.
    pub(crate) fn refusal(
        &self,
        branch: &str,
        old: &BTreeMap<String, Version>,
        new: &BTreeMap<String, Version>,
        lease: Option<usize>,
    ) -> Option<Refusal> {
        if let Some(r) = self.sealed_by(branch)
            && (lease != Some(r) || self.runs[r].state != RunState::Running)
        {
            return Some(Refusal::Sealed);
        }
        let held: BTreeSet<u64> = old.values().map(|v| v.0).collect();
        for v in new.values().filter(|v| !held.contains(&v.0)) {
            if let Some(&w) = self.version_run.get(&v.0) {
                let run = &self.runs[w];
                let allowed = run.state == RunState::Succeeded
                    || run.branch == branch
                    || (lease == Some(w) && run.state == RunState::Running);
                if !allowed {
                    return Some(Refusal::Unpublished);
                }
            }
        }
        None
    }
}

/// Checks that `res` is the refusal the model predicts (if it predicts one);
/// true when refused.
pub(crate) fn refused<T: std::fmt::Debug>(
    res: &Result<T, LakeError>,
    expected: Option<Refusal>,
) -> bool {
    match expected {
        None => false,
        Some(Refusal::Sealed) => {
            count("guard: sealed branch");
            assert!(
                matches!(res, Err(LakeError::SealedBranch { .. })),
                "{res:?}"
            );
            true
        }
        Some(Refusal::Unpublished) => {
            count("guard: unpublished run");
            assert!(
                matches!(res, Err(LakeError::UnpublishedRun { .. })),
                "{res:?}"
            );
            true
        }
    }
}

impl Harness {
    pub(crate) async fn run_start(&mut self, from: usize) {
        let target = pick(&self.model.free_branches(), from);
        let r = self.model.runs.len();
        let id = format!("run{r:04}");
        let branch = format!("run/{id}");
        self.lake.put_run(&row(&id, "running")).await.unwrap();
        let handle = self.lake.clone().with_lease(Lease::new(&id));
        let head = self.model.branches[&target];
        handle
            .create_run_branch(&branch, &self.model.commits[head].real)
            .await
            .unwrap();
        self.model.branches.insert(branch.clone(), head);
        self.model.runs.push(MRun {
            id,
            branch,
            target,
            state: RunState::Running,
        });
        self.run_lakes.push(handle);
    }

    pub(crate) async fn run_write(&mut self, run: usize, table: &str, rows: u8) {
        if self.model.runs.is_empty() {
            return;
        }
        let r = run % self.model.runs.len();
        let branch = self.model.runs[r].branch.clone();
        let head = self.model.branches[&branch];
        let keys = self.model.take_keys(rows);
        let staged = super::common::stage(&self.lake, table, &keys, "run").await;
        let req = CommitRequest::new(&branch, "run output")
            .change(table, sluice_lake::TableChange::Replace(staged));
        let res = self.run_lakes[r].commit(req).await;
        let tables = self
            .model
            .write(head, &[(table.to_string(), false, keys)])
            .unwrap();
        let old = self.model.commits[head].tables.clone();
        if refused(&res, self.model.refusal(&branch, &old, &tables, Some(r))) {
            return;
        }
        let commit = res.unwrap();
        self.model.version_run.insert(tables[table].0, r);
        self.written.insert(commit.tables()[table].clone(), r);
        let i = self.model.add_commit(vec![head], tables, commit.id.clone());
        self.model.branches.insert(branch, i);
    }

    pub(crate) async fn run_end(&mut self, run: usize, succeed: bool) {
        if self.model.runs.is_empty() {
            return;
        }
        let r = run % self.model.runs.len();
        let MRun {
            id,
            branch,
            target,
            state,
        } = self.model.runs[r].clone();
        if state != RunState::Running {
            // A finished run's status is final.
            let res = self.lake.put_run(&row(&id, "running")).await;
            assert!(matches!(res, Err(LakeError::RunFinished { .. })), "{res:?}");
            return;
        }
        let published = succeed && self.publish(r, &branch, &target).await;
        if published {
            self.run_lakes[r]
                .put_run(&row(&id, "succeeded"))
                .await
                .unwrap();
            self.model.runs[r].state = RunState::Succeeded;
            count("run: published");
        } else {
            // Without the lease, as the stale-run recovery of another process does.
            self.lake.put_run(&row(&id, "failed")).await.unwrap();
            self.model.runs[r].state = RunState::Aborted;
            count("run: aborted");
        }
    }

    /// The run's publishing merge (one merge commit) with its lease.
    async fn publish(&mut self, r: usize, branch: &str, target: &str) -> bool {
        let (ours, theirs) = (self.model.branches[target], self.model.branches[branch]);
        let mut req = MergeRequest::new(branch, target);
        req.no_fast_forward = true;
        req.expected_source_head = Some(self.model.commits[theirs].real.clone());
        let res = self.run_lakes[r].merge(req).await;
        let tables = match self.model.merge(ours, theirs) {
            MergeModel::UpToDate => {
                assert!(matches!(res, Ok(MergeOutcome::UpToDate { .. })), "{res:?}");
                return true;
            }
            MergeModel::Conflict(_) => {
                assert!(
                    matches!(res, Err(LakeError::MergeConflict { .. })),
                    "{res:?}"
                );
                return false;
            }
            MergeModel::FastForward => self.model.commits[theirs].tables.clone(),
            MergeModel::Merged { tables, .. } => tables,
        };
        let old = self.model.commits[ours].tables.clone();
        if refused(&res, self.model.refusal(target, &old, &tables, Some(r))) {
            return false;
        }
        let Ok(MergeOutcome::Merged { commit, .. }) = res else {
            panic!("expected a merge commit, got {res:?}");
        };
        let i = self.model.add_commit(vec![ours, theirs], tables, commit);
        self.model.branches.insert(target.to_string(), i);
        true
    }

    /// The guarantee, on the real lake: no branch but a run's own holds a
    /// snapshot the run wrote unless the run succeeded.
    pub(crate) async fn check_runs(&self) {
        for entry in self
            .lake
            .list_refs(sluice_lake::RefKind::Branch)
            .await
            .unwrap()
        {
            let head = self.lake.commit_by_id(&entry.commit).await.unwrap();
            for (table, snapshot) in head.tables() {
                if let Some(&r) = self.written.get(snapshot) {
                    let run = &self.model.runs[r];
                    assert!(
                        run.state == RunState::Succeeded || run.branch == entry.name,
                        "branch {} holds table {table} of run {} ({:?})",
                        entry.name,
                        run.id,
                        run.state
                    );
                }
            }
        }
    }
}
