//! Walking history newest-first: ancestry, merge bases, the commits a merge
//! brings in, and `log`.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde::Serialize;

use super::{Lake, format_time};
use crate::error::Result;
use crate::model::{Commit, CommitId};

/// A commit as shown by `log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub hash: CommitId,
    pub parents: Vec<CommitId>,
    pub author: String,
    pub time: String,
    pub time_ms: i64,
    pub message: String,
    pub properties: BTreeMap<String, String>,
    pub marks: BTreeMap<String, String>,
}

/// A commit ordered by time, then id: a max-heap of them pops history newest
/// first (a commit is strictly newer than its parents).
struct NewestFirst(Commit);

impl NewestFirst {
    fn key(&self) -> (i64, &CommitId) {
        (self.0.content.time_ms, &self.0.id)
    }
}

impl PartialEq for NewestFirst {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for NewestFirst {}

impl PartialOrd for NewestFirst {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NewestFirst {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// What [`Lake::paint`] found.
pub(super) struct Painted {
    /// The merge base.
    pub(super) base: Option<Commit>,
    /// Commits only `theirs` reaches, newest first.
    pub(super) incoming: Vec<Commit>,
}

impl Lake {
    // ----- history -------------------------------------------------------

    /// All ancestors of `id`, including itself.
    pub async fn ancestors(&self, id: &CommitId) -> Result<HashMap<CommitId, Commit>> {
        let mut seen: HashMap<CommitId, Commit> = HashMap::new();
        let mut stack = vec![id.clone()];
        while let Some(c) = stack.pop() {
            if seen.contains_key(&c) {
                continue;
            }
            let commit = self.commit_by_id(&c).await?;
            for p in commit.parents() {
                if !seen.contains_key(p) {
                    stack.push(p.clone());
                }
            }
            seen.insert(c, commit);
        }
        Ok(seen)
    }

    /// Is `a` an ancestor of (or equal to) `b`?
    pub async fn is_ancestor(&self, a: &CommitId, b: &CommitId) -> Result<bool> {
        if a == b {
            return Ok(true);
        }
        let a_time = self.commit_by_id(a).await?.content.time_ms;
        // Commit times increase strictly along history, so the search can
        // stop below `a`'s time.
        let mut seen = HashSet::new();
        let mut stack = vec![b.clone()];
        while let Some(c) = stack.pop() {
            if &c == a {
                return Ok(true);
            }
            if !seen.insert(c.clone()) {
                continue;
            }
            let commit = self.commit_by_id(&c).await?;
            if commit.content.time_ms <= a_time {
                continue;
            }
            stack.extend(commit.parents().iter().cloned());
        }
        Ok(false)
    }

    /// The best common ancestor of two commits: the common ancestor with the
    /// latest time, which (times increasing strictly along history) is not
    /// an ancestor of any other common ancestor.
    pub async fn merge_base(&self, a: &CommitId, b: &CommitId) -> Result<Option<Commit>> {
        Ok(self.paint(a, b, false).await?.base)
    }

    /// Walks the histories of `ours` and `theirs` together, newest commit
    /// first, marking each commit with the side(s) it is reachable from.
    /// Because a commit is strictly newer than its parents, the first commit
    /// reached from both sides is the merge base, and everything newer than it
    /// has been seen: the walk reads only the commits above the merge base (and
    /// with `incoming`, every commit only `theirs` reaches), never the whole
    /// ancestry.
    pub(super) async fn paint(
        &self,
        ours: &CommitId,
        theirs: &CommitId,
        incoming: bool,
    ) -> Result<Painted> {
        const OURS: u8 = 1;
        const THEIRS: u8 = 2;
        let mut flags: HashMap<CommitId, u8> = HashMap::new();
        let mut queue: BinaryHeap<NewestFirst> = BinaryHeap::new();
        // Queued commits that `ours` does not reach (yet): while there are none,
        // nothing only `theirs` reaches is left to find.
        let mut theirs_only = 0usize;
        let mut painted = Painted {
            base: None,
            incoming: Vec::new(),
        };
        let mark = |id: &CommitId, side: u8, flags: &mut HashMap<CommitId, u8>| {
            let entry = flags.entry(id.clone()).or_insert(0);
            let before = *entry;
            *entry |= side;
            (before, *entry)
        };
        for (id, side) in [(ours, OURS), (theirs, THEIRS)] {
            let (before, after) = mark(id, side, &mut flags);
            if before == 0 {
                queue.push(NewestFirst(self.commit_by_id(id).await?));
            }
            theirs_only =
                theirs_only + usize::from(after == THEIRS) - usize::from(before == THEIRS);
        }
        while let Some(NewestFirst(commit)) = queue.pop() {
            let side = flags[&commit.id];
            if side == THEIRS {
                theirs_only -= 1;
            }
            for p in commit.parents() {
                let (before, after) = mark(p, side, &mut flags);
                if before == 0 {
                    queue.push(NewestFirst(self.commit_by_id(p).await?));
                }
                theirs_only =
                    theirs_only + usize::from(after == THEIRS) - usize::from(before == THEIRS);
            }
            if side == OURS | THEIRS && painted.base.is_none() {
                painted.base = Some(commit);
                if !incoming {
                    break;
                }
            } else if side == THEIRS {
                painted.incoming.push(commit);
            }
            if incoming && painted.base.is_some() && theirs_only == 0 {
                break;
            }
        }
        Ok(painted)
    }

    /// History of a ref, newest first (all parents, by time).
    pub async fn log(&self, reference: &str, limit: Option<usize>) -> Result<Vec<LogEntry>> {
        let head = self.resolve(reference).await?.commit;
        // Newest first: a commit is newer than its parents, so popping the newest
        // queued commit yields history in time order, and `--limit N` reads only
        // about N commits.
        let limit = limit.unwrap_or(usize::MAX);
        let mut all: Vec<Commit> = Vec::new();
        let mut seen: HashSet<CommitId> = HashSet::from([head.id.clone()]);
        let mut queue = BinaryHeap::from([NewestFirst(head)]);
        while all.len() < limit
            && let Some(NewestFirst(commit)) = queue.pop()
        {
            for p in commit.parents() {
                if seen.insert(p.clone()) {
                    queue.push(NewestFirst(self.commit_by_id(p).await?));
                }
            }
            all.push(commit);
        }
        let mut out = Vec::with_capacity(all.len());
        for c in all {
            let marks = self.catalog.commit_marks(&c.id).await?;
            out.push(LogEntry {
                time: format_time(c.content.time_ms),
                time_ms: c.content.time_ms,
                hash: c.id,
                parents: c.content.parents,
                author: c.content.author,
                message: c.content.message,
                properties: c.content.properties,
                marks,
            });
        }
        Ok(out)
    }
}
