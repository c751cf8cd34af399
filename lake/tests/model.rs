//! Executable model (after the paper's Alloy model): random sequences of
//! writes, reverts, branches, tags, fast-forward and three-way merges run
//! against the real lake and against a small in-memory reference model.
//! After every step: the branch heads hold exactly the model's tables,
//! recorded commits never change, history is acyclic, at most one branch
//! moved, a merge keeps every one-sided change, and reading an old commit
//! returns what it returned before.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use sluice_lake::{
    Commit, CommitId, CommitRequest, Lake, LakeError, MergeOutcome, MergeRequest, RefKind,
    TableChange,
};

const TABLES: [&str; 3] = ["a", "b", "c"];
const BRANCH_NAMES: [&str; 4] = ["b1", "b2", "b3", "b4"];
const TAG_NAMES: [&str; 2] = ["t1", "t2"];

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
    ]
}

/// A table value in the model: a version (identity, like a snapshot id)
/// plus the rows it holds.
type Version = (u64, Vec<i64>);

#[derive(Clone, Debug)]
struct MCommit {
    parents: Vec<usize>,
    tables: BTreeMap<String, Version>,
    real: CommitId,
}

#[derive(Default)]
struct Model {
    commits: Vec<MCommit>,
    branches: BTreeMap<String, usize>,
    tags: BTreeMap<String, usize>,
    next_version: u64,
    next_key: i64,
    by_real: HashMap<CommitId, usize>,
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
}

fn pick(list: &[String], i: usize) -> String {
    list[i % list.len()].clone()
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
/// generator reaches every kind of merge.
static STATS: std::sync::Mutex<BTreeMap<&'static str, usize>> =
    std::sync::Mutex::new(BTreeMap::new());

fn count(what: &'static str) {
    if let Ok(mut s) = STATS.lock() {
        *s.entry(what).or_default() += 1;
    }
}

struct Harness {
    lake: Lake,
    model: Model,
    /// Every real commit seen, as first loaded.
    seen: HashMap<CommitId, Commit>,
    /// What reading each commit returned the first time.
    reads: HashMap<CommitId, BTreeMap<String, Vec<i64>>>,
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
                let keys: Vec<i64> = (0..*rows as i64).map(|i| self.model.next_key + i).collect();
                self.model.next_key += *rows as i64;
                let exists = self.model.commits[head].tables.contains_key(t);
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
                if *append && !exists {
                    assert!(
                        matches!(res, Err(LakeError::TableNotFound { .. })),
                        "{res:?}"
                    );
                    return;
                }
                let commit = res.unwrap();
                let mut tables = self.model.commits[head].tables.clone();
                let mut content = if *append {
                    tables[t].1.clone()
                } else {
                    Vec::new()
                };
                content.extend(keys);
                self.model.next_version += 1;
                tables.insert(t.to_string(), (self.model.next_version, content));
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
                let commit = res.unwrap();
                let mut tables = self.model.commits[head].tables.clone();
                tables.remove(t);
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
                res.unwrap();
                let head = self.model.branches[&from];
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
                let c = res.unwrap();
                let mut tables = self.model.commits[head].tables.clone();
                match old {
                    Some(v) => tables.insert(t.to_string(), v),
                    None => tables.remove(t),
                };
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
                let ours_anc = self.model.ancestors(ours);
                let theirs_anc = self.model.ancestors(theirs);
                if ours_anc.contains(&theirs) {
                    assert!(matches!(res, Ok(MergeOutcome::UpToDate { .. })), "{res:?}");
                    count("merge: up to date");
                    return;
                }
                if theirs_anc.contains(&ours) {
                    assert!(
                        matches!(res, Ok(MergeOutcome::FastForward { .. })),
                        "{res:?}"
                    );
                    count("merge: fast-forward");
                    self.model.branches.insert(into, theirs);
                    return;
                }
                let base = *ours_anc.intersection(&theirs_anc).max().unwrap();
                let (b, o, t) = (
                    &self.model.commits[base].tables,
                    &self.model.commits[ours].tables,
                    &self.model.commits[theirs].tables,
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
                    count("merge: conflict");
                    match res {
                        Err(LakeError::MergeConflict { tables, .. }) => {
                            assert_eq!(tables, conflicts)
                        }
                        other => panic!("expected conflict on {conflicts:?}, got {other:?}"),
                    }
                    return;
                }
                let Ok(MergeOutcome::Merged {
                    commit, base: rb, ..
                }) = res
                else {
                    panic!("expected a merge commit, got {res:?}");
                };
                assert_eq!(rb, self.model.commits[base].real, "merge base");
                // No one-sided change is dropped.
                for (n, v) in t {
                    if b.get(n).map(|x| x.0) != Some(v.0)
                        && o.get(n).map(|x| x.0) == b.get(n).map(|x| x.0)
                    {
                        assert_eq!(
                            merged.get(n).map(|x| x.0),
                            Some(v.0),
                            "change of {n} from {src} kept"
                        );
                    }
                }
                for (n, v) in o {
                    if b.get(n).map(|x| x.0) != Some(v.0) {
                        assert_eq!(
                            merged.get(n).map(|x| x.0),
                            Some(v.0),
                            "change of {n} on {into} kept"
                        );
                    }
                }
                count("merge: three-way");
                let i = self.model.add_commit(vec![ours, theirs], merged, commit);
                self.model.branches.insert(into, i);
            }
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

async fn run_case(ops: Vec<Op>) {
    let t = common::new_lake(common::Backend::Sqlite).await.unwrap();
    let lake = t.lake.clone();
    let root = lake.branch_head("main").await.unwrap();
    let mut model = Model::default();
    let i = model.add_commit(vec![], BTreeMap::new(), root.id.clone());
    model.branches.insert("main".into(), i);
    let mut h = Harness {
        lake,
        model,
        seen: HashMap::new(),
        reads: HashMap::new(),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn lake_matches_reference_model(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_case(ops));
    }
}
