//! Executable model (after the paper's Alloy model): random sequences of
//! writes, reverts, branches, tags, fast-forward and three-way merges and
//! bursts of concurrent writers run against the real lake and against a
//! small in-memory reference model.
//! After every step: the branch heads hold exactly the model's tables,
//! recorded commits never change, history is acyclic, at most one branch
//! moved, a merge keeps every one-sided change, and reading an old commit
//! returns what it returned before.
//!
//! A concurrent step issues 2-4 operations at once against one branch:
//! commits appending to or replacing one to three tables (a multi-table
//! commit is one atomic step) and merges of other branches or tags. Each runs
//! as its own task on a multi-threaded runtime, through its own lake handle
//! (its own catalog connection) or all through one, so the compare-and-swap
//! of the branch head races for real, while a reader polls the branch. The
//! lake serializes them: the branch's first-parent history gains exactly one
//! commit per operation that made one (a fast-forward moves it to the merged
//! commit instead), in an order the test reads back from the new commits
//! (each names its operation in a property) and replays on the model. Every
//! operation that returned `Ok` is in that order (no lost update); every new
//! commit, and every head the reader saw, holds exactly the model's state at
//! its point of the order (no half-applied commit); only that branch moved.
//! An operation may fail only as documented: `TableNotFound` for an append
//! to a table missing at some point of the order, `MergeConflict` for a merge
//! that conflicts at some point; an up-to-date merge names a head of the
//! order that contains the source.
//!
//! Runs (see `model/runs.rs`) start on sealed branches, write, and publish or
//! abort; after every step no branch but a run's own holds a snapshot of a
//! run that has not succeeded, and the lake refused exactly the steps the
//! model says it must (foreign writes to run branches, forks, merges and
//! reverts that would carry an unpublished run's snapshot elsewhere).
//!
//! The model runs on SQLite, and on PostgreSQL (fewer cases) when
//! `SLUICE_TEST_POSTGRES_URL` is set; `PROPTEST_CASES` overrides both counts.

mod common;
#[path = "model/runs.rs"]
mod runs;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Backend;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sluice_lake::{
    Commit, CommitId, CommitRequest, Lake, LakeError, MergeOutcome, MergeRequest, RefKind,
    SnapshotId, TableChange,
};

const TABLES: [&str; 3] = ["a", "b", "c"];
const BRANCH_NAMES: [&str; 4] = ["b1", "b2", "b3", "b4"];
const TAG_NAMES: [&str; 2] = ["t1", "t2"];
/// Extra lake handles, each with its own catalog connection, for the
/// operations of a concurrent step.
const WRITERS: usize = 4;
/// The commit property naming the concurrent operation (`<step>:<index>`)
/// that made a commit.
const OP_PROPERTY: &str = "model_op";

#[derive(Clone, Debug)]
enum Op {
    Write {
        branch: usize,
        table: usize,
        append: bool,
        rows: u8,
    },
    Drop {
        branch: usize,
        table: usize,
    },
    Branch {
        from: usize,
        name: usize,
    },
    Tag {
        from: usize,
        name: usize,
    },
    Revert {
        table: usize,
        commit: usize,
        into: usize,
    },
    Merge {
        source: usize,
        into: usize,
    },
    /// A run starts from a branch no run sealed, on its own sealed branch.
    RunStart {
        from: usize,
    },
    /// A run writes one table to its branch, with its lease.
    RunWrite {
        run: usize,
        table: usize,
        rows: u8,
    },
    /// A run publishes itself and succeeds (or fails on a conflict), or aborts.
    RunEnd {
        run: usize,
        succeed: bool,
    },
    /// 2-4 operations issued at once against one branch, through one lake
    /// handle each or (`shared_handle`) all through the same one.
    Concurrent {
        branch: usize,
        ops: Vec<Sub>,
        shared_handle: bool,
    },
}

/// An operation of a concurrent step.
#[derive(Clone, Debug)]
enum Sub {
    /// One commit of 1-3 distinct tables, `(table, append)` (else replace),
    /// each given `rows` new rows.
    Write {
        changes: Vec<(usize, bool)>,
        rows: u8,
    },
    /// A merge of another branch or a tag into the branch.
    Merge { source: usize },
}

fn sub_strategy() -> impl Strategy<Value = Sub> {
    prop_oneof![
        4 => (
            proptest::collection::btree_map(0..TABLES.len(), any::<bool>(), 1..=3),
            0u8..4
        )
            .prop_map(|(changes, rows)| Sub::Write {
                changes: changes.into_iter().collect(),
                rows
            }),
        1 => any::<usize>().prop_map(|source| Sub::Merge { source }),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 0..TABLES.len(), any::<bool>(), 0u8..4).prop_map(
            |(branch, table, append, rows)| Op::Write { branch, table, append, rows }
        ),
        1 => (any::<usize>(), 0..TABLES.len()).prop_map(|(branch, table)| Op::Drop { branch, table }),
        2 => (any::<usize>(), 0..BRANCH_NAMES.len()).prop_map(|(from, name)| Op::Branch { from, name }),
        1 => (any::<usize>(), 0..TAG_NAMES.len()).prop_map(|(from, name)| Op::Tag { from, name }),
        1 => (0..TABLES.len(), any::<usize>(), any::<usize>())
            .prop_map(|(table, commit, into)| Op::Revert { table, commit, into }),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(source, into)| Op::Merge { source, into }),
        1 => any::<usize>().prop_map(|from| Op::RunStart { from }),
        2 => (any::<usize>(), 0..TABLES.len(), 0u8..4)
            .prop_map(|(run, table, rows)| Op::RunWrite { run, table, rows }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(run, succeed)| Op::RunEnd { run, succeed }),
        2 => (
            any::<usize>(),
            proptest::collection::vec(sub_strategy(), 2..=4),
            proptest::bool::weighted(0.25)
        )
            .prop_map(|(branch, ops, shared_handle)| Op::Concurrent { branch, ops, shared_handle }),
    ]
}

/// A table value in the model: a version (identity, like a snapshot id)
/// plus the rows it holds.
type Version = (u64, Vec<i64>);

/// A write in the model: `(table, append, new keys)`.
type Change = (String, bool, Vec<i64>);

#[derive(Clone, Debug)]
struct MCommit {
    parents: Vec<usize>,
    tables: BTreeMap<String, Version>,
    real: CommitId,
}

/// What merging `theirs` into `ours` does in the model.
#[derive(Debug)]
enum MergeModel {
    UpToDate,
    FastForward,
    Merged {
        base: usize,
        tables: BTreeMap<String, Version>,
    },
    Conflict(Vec<String>),
}

#[derive(Default)]
struct Model {
    commits: Vec<MCommit>,
    branches: BTreeMap<String, usize>,
    tags: BTreeMap<String, usize>,
    next_version: u64,
    next_key: i64,
    by_real: HashMap<CommitId, usize>,
    runs: Vec<runs::MRun>,
    /// The run that wrote each version it wrote.
    version_run: HashMap<u64, usize>,
}

impl Model {
    fn ancestors(&self, c: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(self.commits[x].parents.iter().copied());
            }
        }
        seen
    }
    fn add_commit(
        &mut self,
        parents: Vec<usize>,
        tables: BTreeMap<String, Version>,
        real: CommitId,
    ) -> usize {
        self.commits.push(MCommit {
            parents,
            tables,
            real: real.clone(),
        });
        let i = self.commits.len() - 1;
        self.by_real.insert(real, i);
        i
    }
    fn branch_list(&self) -> Vec<String> {
        self.branches.keys().cloned().collect()
    }
    /// `n` fresh keys.
    fn take_keys(&mut self, n: u8) -> Vec<i64> {
        let keys = (0..n as i64).map(|i| self.next_key + i).collect();
        self.next_key += n as i64;
        keys
    }
    /// The first table `changes` appends to that `state` lacks (the lake
    /// applies the changes in order and refuses the whole commit on it).
    fn missing_append(&self, state: usize, changes: &[Change]) -> Option<String> {
        changes
            .iter()
            .find(|(t, append, _)| *append && !self.commits[state].tables.contains_key(t))
            .map(|(t, _, _)| t.clone())
    }
    /// The tables after committing `changes` on `state`, or the table an
    /// append finds missing.
    fn write(
        &mut self,
        state: usize,
        changes: &[Change],
    ) -> Result<BTreeMap<String, Version>, String> {
        if let Some(t) = self.missing_append(state, changes) {
            return Err(t);
        }
        let mut tables = self.commits[state].tables.clone();
        for (t, append, keys) in changes {
            let mut content = if *append {
                tables[t].1.clone()
            } else {
                Vec::new()
            };
            content.extend(keys.iter().copied());
            self.next_version += 1;
            tables.insert(t.clone(), (self.next_version, content));
        }
        Ok(tables)
    }
    /// Merging `theirs` into `ours`. A three-way merge is checked to keep
    /// every one-sided change.
    fn merge(&self, ours: usize, theirs: usize) -> MergeModel {
        let ours_anc = self.ancestors(ours);
        if ours_anc.contains(&theirs) {
            return MergeModel::UpToDate;
        }
        let theirs_anc = self.ancestors(theirs);
        if theirs_anc.contains(&ours) {
            return MergeModel::FastForward;
        }
        let base = *ours_anc.intersection(&theirs_anc).max().unwrap();
        let (b, o, t) = (
            &self.commits[base].tables,
            &self.commits[ours].tables,
            &self.commits[theirs].tables,
        );
        let names: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
        let mut merged = BTreeMap::new();
        let mut conflicts = Vec::new();
        for n in names {
            let (vb, vo, vt) = (
                b.get(n).map(|v| v.0),
                o.get(n).map(|v| v.0),
                t.get(n).map(|v| v.0),
            );
            let pick = if vo == vt || vt == vb {
                o.get(n)
            } else if vo == vb {
                t.get(n)
            } else {
                conflicts.push(n.clone());
                None
            };
            if let Some(v) = pick {
                merged.insert(n.clone(), v.clone());
            }
        }
        if !conflicts.is_empty() {
            return MergeModel::Conflict(conflicts);
        }
        // No one-sided change is dropped.
        for (n, v) in t {
            if b.get(n).map(|x| x.0) != Some(v.0) && o.get(n).map(|x| x.0) == b.get(n).map(|x| x.0)
            {
                assert_eq!(
                    merged.get(n).map(|x| x.0),
                    Some(v.0),
                    "change of {n} on the source kept"
                );
            }
        }
        for (n, v) in o {
            if b.get(n).map(|x| x.0) != Some(v.0) {
                assert_eq!(
                    merged.get(n).map(|x| x.0),
                    Some(v.0),
                    "change of {n} on the target kept"
                );
            }
        }
        MergeModel::Merged {
            base,
            tables: merged,
        }
    }
}

fn pick(list: &[String], i: usize) -> String {
    list[i % list.len()].clone()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Awaits a task, re-raising its panic.
async fn join<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn table_rows(lake: &Lake, reference: &str, table: &str) -> Vec<i64> {
    common::rows(lake, reference, table)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect()
}

/// Reads every table of a real commit: table -> keys.
async fn read_commit(lake: &Lake, id: &CommitId) -> BTreeMap<String, Vec<i64>> {
    let c = lake.commit_by_id(id).await.unwrap();
    let mut out = BTreeMap::new();
    for t in c.tables().keys() {
        out.insert(t.clone(), table_rows(lake, &format!("@{id}"), t).await);
    }
    out
}

fn model_contents(c: &MCommit) -> BTreeMap<String, Vec<i64>> {
    c.tables
        .iter()
        .map(|(k, v)| (k.clone(), v.1.clone()))
        .collect()
}

/// Outcome counts, printed with `SLUICE_MODEL_STATS=1` to check that the
/// generator reaches every kind of merge and of concurrent outcome.
static STATS: std::sync::Mutex<BTreeMap<&'static str, usize>> =
    std::sync::Mutex::new(BTreeMap::new());

fn count(what: &'static str) {
    if let Ok(mut s) = STATS.lock() {
        *s.entry(what).or_default() += 1;
    }
}

/// An operation of a concurrent step, ready to run, as the model sees it.
enum Prepared {
    Write(Vec<Change>),
    /// Source ref name and its (fixed during the step) model commit.
    Merge(String, usize),
}

/// What an operation of a concurrent step returned.
#[derive(Debug)]
enum Done {
    Write(Result<Commit, LakeError>),
    Merge(Result<MergeOutcome, LakeError>),
}

impl Done {
    /// The commit this operation added, if any.
    fn made(&self) -> Option<&CommitId> {
        match self {
            Done::Write(Ok(c)) => Some(&c.id),
            Done::Merge(Ok(MergeOutcome::Merged { commit, .. })) => Some(commit),
            _ => None,
        }
    }
    /// Did this operation move the branch?
    fn moved(&self) -> bool {
        matches!(
            self,
            Done::Write(Ok(_))
                | Done::Merge(Ok(
                    MergeOutcome::Merged { .. } | MergeOutcome::FastForward { .. }
                ))
        )
    }
}

struct Harness {
    lake: Lake,
    /// Independent handles on the same lake, for concurrent operations.
    writers: Vec<Lake>,
    model: Model,
    /// Every real commit seen, as first loaded.
    seen: HashMap<CommitId, Commit>,
    /// What reading each commit returned the first time.
    reads: HashMap<CommitId, BTreeMap<String, Vec<i64>>>,
    /// Concurrent steps so far (names their operations' commits).
    bursts: usize,
    /// Each run's handle, holding its lease.
    run_lakes: Vec<Lake>,
    /// The run that wrote each snapshot a run wrote.
    written: HashMap<SnapshotId, usize>,
}

impl Harness {
    async fn heads(&self) -> BTreeMap<String, CommitId> {
        self.lake
            .list_refs(RefKind::Branch)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.commit))
            .collect()
    }

    async fn record(&mut self, id: &CommitId) {
        if !self.seen.contains_key(id) {
            let c = self.lake.commit_by_id(id).await.unwrap();
            self.seen.insert(id.clone(), c);
            let read = read_commit(&self.lake, id).await;
            self.reads.insert(id.clone(), read);
        }
    }

    async fn step(&mut self, op: &Op) {
        let branches = self.model.branch_list();
        match op {
            Op::Write {
                branch,
                table,
                append,
                rows,
            } => {
                let b = pick(&branches, *branch);
                let t = TABLES[*table];
                let head = self.model.branches[&b];
                let keys = self.model.take_keys(*rows);
                let staged = common::stage(&self.lake, t, &keys, "m").await;
                let change = if *append {
                    TableChange::Append(staged)
                } else {
                    TableChange::Replace(staged)
                };
                let res = self
                    .lake
                    .commit(CommitRequest::new(&b, "write").change(t, change))
                    .await;
                let Ok(tables) = self.model.write(head, &[(t.to_string(), *append, keys)]) else {
                    assert!(
                        matches!(res, Err(LakeError::TableNotFound { .. })),
                        "{res:?}"
                    );
                    return;
                };
                if self.refused(&res, &b, head, &tables) {
                    return;
                }
                let commit = res.unwrap();
                let i = self.model.add_commit(vec![head], tables, commit.id.clone());
                self.model.branches.insert(b, i);
            }
            Op::Drop { branch, table } => {
                let b = pick(&branches, *branch);
                let t = TABLES[*table];
                let head = self.model.branches[&b];
                let res = self.lake.drop_table(t, &b).await;
                if !self.model.commits[head].tables.contains_key(t) {
                    assert!(
                        matches!(res, Err(LakeError::TableNotFound { .. })),
                        "{res:?}"
                    );
                    return;
                }
                let mut tables = self.model.commits[head].tables.clone();
                tables.remove(t);
                if self.refused(&res, &b, head, &tables) {
                    return;
                }
                let commit = res.unwrap();
                let i = self.model.add_commit(vec![head], tables, commit.id.clone());
                self.model.branches.insert(b, i);
            }
            Op::Branch { from, name } => {
                let from = pick(&branches, *from);
                let name = BRANCH_NAMES[*name];
                let res = self.lake.create_branch(name, &from).await;
                if self.model.branches.contains_key(name) {
                    assert!(matches!(res, Err(LakeError::RefExists { .. })), "{res:?}");
                    return;
                }
                let head = self.model.branches[&from];
                let tables = &self.model.commits[head].tables;
                let expected = self.model.refusal(name, &BTreeMap::new(), tables, None);
                if runs::refused(&res, expected) {
                    return;
                }
                res.unwrap();
                self.model.branches.insert(name.to_string(), head);
            }
            Op::Tag { from, name } => {
                let from = pick(&branches, *from);
                let name = TAG_NAMES[*name];
                let res = self.lake.create_tag(name, &from).await;
                if self.model.tags.contains_key(name) {
                    assert!(matches!(res, Err(LakeError::RefExists { .. })), "{res:?}");
                    return;
                }
                res.unwrap();
                let head = self.model.branches[&from];
                self.model.tags.insert(name.to_string(), head);
            }
            Op::Revert {
                table,
                commit,
                into,
            } => {
                let t = TABLES[*table];
                let into = pick(&branches, *into);
                let target = *commit % self.model.commits.len();
                let head = self.model.branches[&into];
                let reference = format!("@{}", self.model.commits[target].real);
                let res = self.lake.revert(t, &reference, &into).await;
                let old = self.model.commits[target].tables.get(t).cloned();
                if old.is_none() && !self.model.commits[head].tables.contains_key(t) {
                    assert!(
                        matches!(res, Err(LakeError::TableNotFound { .. })),
                        "{res:?}"
                    );
                    return;
                }
                let mut tables = self.model.commits[head].tables.clone();
                match old {
                    Some(v) => tables.insert(t.to_string(), v),
                    None => tables.remove(t),
                };
                if self.refused(&res, &into, head, &tables) {
                    return;
                }
                let c = res.unwrap();
                let i = self.model.add_commit(vec![head], tables, c.id.clone());
                self.model.branches.insert(into, i);
            }
            Op::Merge { source, into } => {
                // sources: branches and tags
                let mut sources: Vec<(String, usize)> = self
                    .model
                    .branches
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                sources.extend(self.model.tags.iter().map(|(k, v)| (k.clone(), *v)));
                let (src, theirs) = sources[*source % sources.len()].clone();
                let into = pick(&branches, *into);
                let ours = self.model.branches[&into];
                let res = self.lake.merge(MergeRequest::new(&src, &into)).await;
                if src == into {
                    assert!(matches!(res, Err(LakeError::SelfMerge { .. })), "{res:?}");
                    return;
                }
                match self.model.merge(ours, theirs) {
                    MergeModel::UpToDate => {
                        assert!(matches!(res, Ok(MergeOutcome::UpToDate { .. })), "{res:?}");
                        count("merge: up to date");
                    }
                    MergeModel::FastForward => {
                        let tables = &self.model.commits[theirs].tables;
                        if self.refused(&res, &into, ours, tables) {
                            return;
                        }
                        assert!(
                            matches!(res, Ok(MergeOutcome::FastForward { .. })),
                            "{res:?}"
                        );
                        count("merge: fast-forward");
                        self.model.branches.insert(into, theirs);
                    }
                    MergeModel::Conflict(conflicts) => {
                        count("merge: conflict");
                        match res {
                            Err(LakeError::MergeConflict { tables, .. }) => {
                                assert_eq!(tables, conflicts)
                            }
                            other => panic!("expected conflict on {conflicts:?}, got {other:?}"),
                        }
                    }
                    MergeModel::Merged { base, tables } => {
                        if self.refused(&res, &into, ours, &tables) {
                            return;
                        }
                        let Ok(MergeOutcome::Merged {
                            commit, base: rb, ..
                        }) = res
                        else {
                            panic!("expected a merge commit, got {res:?}");
                        };
                        assert_eq!(rb, self.model.commits[base].real, "merge base");
                        count("merge: three-way");
                        let i = self.model.add_commit(vec![ours, theirs], tables, commit);
                        self.model.branches.insert(into, i);
                    }
                }
            }
            Op::Concurrent {
                branch,
                ops,
                shared_handle,
            } => {
                let b = pick(&self.model.free_branches(), *branch);
                self.concurrent(b, ops, *shared_handle).await;
            }
            Op::RunStart { from } => self.run_start(*from).await,
            Op::RunWrite { run, table, rows } => self.run_write(*run, TABLES[*table], *rows).await,
            Op::RunEnd { run, succeed } => self.run_end(*run, *succeed).await,
        }
    }

    /// Checks a refusal the model predicts for moving `branch` from commit
    /// `old` to `new` tables without a lease; true when refused.
    fn refused<T: std::fmt::Debug>(
        &self,
        res: &Result<T, LakeError>,
        branch: &str,
        old: usize,
        new: &BTreeMap<String, Version>,
    ) -> bool {
        let old = &self.model.commits[old].tables;
        runs::refused(res, self.model.refusal(branch, old, new, None))
    }

    /// Runs `ops` at once against branch `b`, then checks the order the lake
    /// serialized them in against the model and replays them on it.
    async fn concurrent(&mut self, b: String, ops: &[Sub], shared_handle: bool) {
        self.bursts += 1;
        let step = self.bursts;
        let h0 = self.model.branches[&b];
        let h0_real = self.model.commits[h0].real.clone();
        // A merge takes any other branch or a tag: none of them moves here.
        // (Refs holding an unpublished run's output are left to `Op::Merge`.)
        let mut sources: Vec<(String, usize)> = self
            .model
            .branches
            .iter()
            .filter(|(k, _)| **k != b)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        sources.extend(self.model.tags.iter().map(|(k, v)| (k.clone(), *v)));
        sources.retain(|(_, c)| !self.model.holds_unpublished(*c));
        // Prefer sources with something to merge, so three-way merges and
        // fast-forwards race with the writes (up-to-date merges are common
        // enough anyway).
        let contained = self.model.ancestors(h0);
        let live: Vec<(String, usize)> = sources
            .iter()
            .filter(|(_, c)| !contained.contains(c))
            .cloned()
            .collect();
        if !live.is_empty() {
            sources = live;
        }

        // A reader polling the branch throughout: every head it sees, and what
        // that head holds.
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (lake, b, done) = (self.lake.clone(), b.clone(), done.clone());
            tokio::spawn(async move {
                let mut saw: HashMap<CommitId, BTreeMap<String, Vec<i64>>> = HashMap::new();
                loop {
                    let last = done.load(Ordering::SeqCst);
                    let head = lake.branch_head(&b).await.unwrap();
                    if let Entry::Vacant(e) = saw.entry(head.id) {
                        let read = read_commit(&lake, e.key()).await;
                        e.insert(read);
                    }
                    if last {
                        return saw;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        // Stage all data first, then release every operation at once.
        let barrier = Arc::new(tokio::sync::Barrier::new(ops.len()));
        let mut prepared = Vec::new();
        let mut tasks = Vec::new();
        for (j, sub) in ops.iter().enumerate() {
            let tag = format!("{step}:{j}");
            let lake = if shared_handle {
                self.lake.clone()
            } else {
                self.writers[j % self.writers.len()].clone()
            };
            let barrier = barrier.clone();
            match sub {
                Sub::Write { changes, rows } => {
                    let mut req = CommitRequest::new(&b, &format!("concurrent write {tag}"));
                    req.properties.insert(OP_PROPERTY.into(), tag.clone());
                    let mut model_changes = Vec::new();
                    for (t, append) in changes {
                        let t = TABLES[*t];
                        let keys = self.model.take_keys(*rows);
                        let staged = common::stage(&self.lake, t, &keys, "c").await;
                        let change = if *append {
                            TableChange::Append(staged)
                        } else {
                            TableChange::Replace(staged)
                        };
                        req = req.change(t, change);
                        model_changes.push((t.to_string(), *append, keys));
                    }
                    prepared.push(Prepared::Write(model_changes));
                    tasks.push(tokio::spawn(async move {
                        barrier.wait().await;
                        Done::Write(lake.commit(req).await)
                    }));
                }
                Sub::Merge { source } => {
                    let (src, theirs) = sources[*source % sources.len()].clone();
                    let mut req = MergeRequest::new(&src, &b);
                    req.message = Some(format!("concurrent merge {tag}"));
                    req.properties.insert(OP_PROPERTY.into(), tag.clone());
                    prepared.push(Prepared::Merge(src, theirs));
                    tasks.push(tokio::spawn(async move {
                        barrier.wait().await;
                        Done::Merge(lake.merge(req).await)
                    }));
                }
            }
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(join(task).await);
        }
        done.store(true, Ordering::SeqCst);
        let saw = join(reader).await;

        // The serial order: walk the first-parent history of the branch back
        // to where it was. Each step is a commit naming its operation, or a
        // fast-forward some merge reported.
        let prefix = format!("{step}:");
        let head = self.lake.branch_head(&b).await.unwrap();
        let mut order: Vec<usize> = Vec::new();
        let mut cur = head.id.clone();
        while cur != h0_real {
            let c = self.lake.commit_by_id(&cur).await.unwrap();
            let named = c
                .content
                .properties
                .get(OP_PROPERTY)
                .and_then(|p| p.strip_prefix(&prefix))
                .and_then(|j| j.parse::<usize>().ok());
            let ff = (0..ops.len()).find(|j| {
                !order.contains(j)
                    && matches!(&results[*j],
                        Done::Merge(Ok(MergeOutcome::FastForward { to, .. })) if *to == cur)
            });
            let j = if let Some(j) = named {
                assert!(
                    j < ops.len() && results[j].made() == Some(&cur),
                    "commit {cur} on {b} names operation {j}, which returned {:?}",
                    results.get(j)
                );
                cur = c
                    .parents()
                    .first()
                    .unwrap_or_else(|| panic!("the history of {b} does not pass {h0_real}"))
                    .clone();
                j
            } else if let Some(j) = ff {
                let Done::Merge(Ok(MergeOutcome::FastForward { from, .. })) = &results[j] else {
                    unreachable!()
                };
                cur = from.clone();
                j
            } else {
                panic!(
                    "commit {cur} in the first-parent history of {b} since {h0_real} was made by \
                     no operation of the concurrent step: {results:?}"
                );
            };
            assert!(!order.contains(&j), "operation {j} moved {b} twice");
            order.push(j);
        }
        order.reverse();
        // No lost update: exactly the operations that moved the branch did.
        for (j, r) in results.iter().enumerate() {
            assert_eq!(
                r.moved(),
                order.contains(&j),
                "operation {j} returned {r:?}; the lake serialized {b} as {order:?}"
            );
        }
        if order.windows(2).any(|w| w[0] > w[1]) {
            count("concurrent: serialized out of issue order");
        }

        // Replay the order on the model; each new head holds the model's
        // state at its point.
        let mut state = h0;
        let mut states = vec![h0];
        for &j in &order {
            let prev = self.model.commits[state].real.clone();
            state = match (&prepared[j], &results[j]) {
                (Prepared::Write(changes), Done::Write(Ok(commit))) => {
                    count("concurrent: commit");
                    if changes.len() > 1 {
                        count("concurrent: multi-table commit");
                    }
                    assert_eq!(commit.parents(), [prev], "parents of operation {j}");
                    let tables = self.model.write(state, changes).unwrap_or_else(|t| {
                        panic!("operation {j} appended to {t}, missing at its point of {order:?}")
                    });
                    self.model
                        .add_commit(vec![state], tables, commit.id.clone())
                }
                (Prepared::Merge(src, theirs), Done::Merge(Ok(outcome))) => {
                    match (self.model.merge(state, *theirs), outcome) {
                        (MergeModel::FastForward, MergeOutcome::FastForward { from, to }) => {
                            count("concurrent: fast-forward");
                            assert_eq!((from, to), (&prev, &self.model.commits[*theirs].real));
                            *theirs
                        }
                        (
                            MergeModel::Merged { base, tables },
                            MergeOutcome::Merged {
                                commit, base: rb, ..
                            },
                        ) => {
                            count("concurrent: three-way merge");
                            assert_eq!(rb, &self.model.commits[base].real, "merge base");
                            let c = self.lake.commit_by_id(commit).await.unwrap();
                            let theirs_real = self.model.commits[*theirs].real.clone();
                            assert_eq!(c.parents(), [prev, theirs_real], "merge parents");
                            self.model
                                .add_commit(vec![state, *theirs], tables, commit.clone())
                        }
                        (m, o) => panic!(
                            "merge of {src} (operation {j}) at its point of {order:?}: the \
                             model says {m:?}, the lake {o:?}"
                        ),
                    }
                }
                _ => unreachable!("only operations that moved the branch are in the order"),
            };
            states.push(state);
            let mc = self.model.commits[state].clone();
            self.record(&mc.real).await;
            assert_eq!(
                self.reads[&mc.real],
                model_contents(&mc),
                "contents after operation {j} of {order:?}"
            );
        }
        // The others failed as documented, or found the source merged, at
        // some point of the order.
        for (j, r) in results.iter().enumerate() {
            if r.moved() {
                continue;
            }
            let ok = match (&prepared[j], r) {
                (
                    Prepared::Write(changes),
                    Done::Write(Err(LakeError::TableNotFound { table, .. })),
                ) => {
                    count("concurrent: table not found");
                    states
                        .iter()
                        .any(|s| self.model.missing_append(*s, changes).as_ref() == Some(table))
                }
                (Prepared::Merge(_, theirs), Done::Merge(Ok(MergeOutcome::UpToDate { head }))) => {
                    count("concurrent: merge up to date");
                    states.iter().any(|s| {
                        &self.model.commits[*s].real == head
                            && matches!(self.model.merge(*s, *theirs), MergeModel::UpToDate)
                    })
                }
                (
                    Prepared::Merge(_, theirs),
                    Done::Merge(Err(LakeError::MergeConflict { tables, .. })),
                ) => {
                    count("concurrent: merge conflict");
                    states.iter().any(|s| {
                        matches!(self.model.merge(*s, *theirs),
                            MergeModel::Conflict(c) if &c == tables)
                    })
                }
                _ => false,
            };
            assert!(
                ok,
                "operation {j} of the concurrent step on {b} returned {r:?}, which no point of \
                 the serial order {order:?} explains"
            );
        }
        // The reader saw only whole states of the order.
        if saw.keys().any(|id| *id != h0_real && *id != head.id) {
            count("concurrent: reader saw an intermediate head");
        }
        for (id, read) in saw {
            let s = states
                .iter()
                .find(|s| self.model.commits[**s].real == id)
                .unwrap_or_else(|| panic!("a reader saw {b} at {id}, not a state of {order:?}"));
            assert_eq!(
                read,
                model_contents(&self.model.commits[*s]),
                "a reader of {b} at {id}"
            );
        }
        self.model.branches.insert(b, state);
        // Commit times along a branch may run ahead of the clock after a
        // burst; let the clock pass them (see `run_case`).
        while now_ms() <= head.content.time_ms {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn check(&mut self, before: &BTreeMap<String, CommitId>) {
        let after = self.heads().await;
        // at most one existing branch moved
        let moved = before
            .iter()
            .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
            .count();
        assert!(moved <= 1, "{moved} branches moved in one operation");
        // branch heads match the model, and hold the model's rows
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            self.model.branches.keys().collect::<Vec<_>>()
        );
        let branches: Vec<(String, usize)> = self
            .model
            .branches
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (name, idx) in branches {
            let mc = self.model.commits[idx].clone();
            assert_eq!(&after[&name], &mc.real, "head of {name}");
            self.record(&mc.real).await;
            assert_eq!(
                self.reads[&mc.real],
                model_contents(&mc),
                "contents of {name}"
            );
        }
        for (name, idx) in &self.model.tags {
            let r = self.lake.resolve(name).await.unwrap();
            assert_eq!(
                r.commit.id, self.model.commits[*idx].real,
                "tag {name} never moves"
            );
        }
        // recorded commits never change; history is acyclic (parents are
        // strictly older and the walk from every head terminates)
        for (id, c) in &self.seen {
            let now = self.lake.commit_by_id(id).await.unwrap();
            assert_eq!(&now, c, "commit {id} changed");
            for p in now.parents() {
                let parent = self.lake.commit_by_id(p).await.unwrap();
                assert!(parent.content.time_ms < now.content.time_ms, "parent older");
                assert_ne!(p, id);
            }
        }
        for head in after.values() {
            let anc = self.lake.ancestors(head).await.unwrap();
            assert!(anc.len() <= self.model.commits.len());
        }
        self.check_runs().await;
    }

    /// Time travel: every commit ever seen reads as it did the first time.
    async fn check_time_travel(&self) {
        for (id, first) in &self.reads {
            assert_eq!(
                &read_commit(&self.lake, id).await,
                first,
                "reading {id} changed"
            );
        }
        for (i, mc) in self.model.commits.iter().enumerate() {
            assert_eq!(
                read_commit(&self.lake, &mc.real).await,
                model_contents(mc),
                "model commit {i}"
            );
        }
    }
}

async fn run_case(backend: Backend, ops: Vec<Op>) {
    let t = common::new_lake(backend).await.expect("a test lake");
    let lake = t.lake.clone();
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        writers.push(t.reopen().await);
    }
    let root = lake.branch_head("main").await.unwrap();
    let mut model = Model::default();
    let i = model.add_commit(vec![], BTreeMap::new(), root.id.clone());
    model.branches.insert("main".into(), i);
    let mut h = Harness {
        lake,
        writers,
        model,
        seen: HashMap::new(),
        reads: HashMap::new(),
        bursts: 0,
        run_lakes: Vec::new(),
        written: HashMap::new(),
    };
    // Start with two branches besides main so merges have material.
    for op in [
        Op::Branch { from: 0, name: 0 },
        Op::Branch { from: 0, name: 1 },
    ]
    .iter()
    .chain(ops.iter())
    {
        let before = h.heads().await;
        h.step(op).await;
        h.check(&before).await;
        // Keep commit times distinct so "latest common ancestor" is the
        // same in the model (creation order) and the lake (commit time).
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.check_time_travel().await;
    count("cases");
    if std::env::var("SLUICE_MODEL_STATS").is_ok() {
        eprintln!("model stats: {:?}", STATS.lock().map(|s| s.clone()));
    }
    drop(h);
    t.cleanup().await;
}

/// Runs the model on `backend`: `PROPTEST_CASES` cases, else `cases`.
fn run_model(backend: Backend, cases: u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    let config = ProptestConfig {
        cases,
        max_shrink_iters: 200,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op_strategy(), 1..40), |ops| {
        // Several worker threads, so concurrent operations really race.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_case(backend, ops));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

#[test]
fn lake_matches_reference_model() {
    run_model(Backend::Sqlite, 32);
}

#[test]
fn lake_matches_reference_model_on_postgres() {
    if std::env::var(common::PG_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .is_none()
    {
        common::skip_message("lake_matches_reference_model_on_postgres");
        return;
    }
    run_model(Backend::Postgres, 8);
}
