//! Operations on recorded runs: rerun (reproduce from the stored code and base
//! commit), revert a whole run, and the atomicity warning for single-table reverts.

use std::hash::{Hash, Hasher};

use arrow::row::{RowConverter, SortField};
use serde::Serialize;
use sluice_lake::{Commit, CommitId, CommitRequest, Lake, SnapshotId, TableChange};

use crate::error::{Result, RuntimeError};
use crate::record::{self, RunRecord, RunStatus};
use crate::run::{Observer, RunOptions, RunOutcome, run};

/// How one output of a rerun compares with the original run's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableComparison {
    pub table: String,
    pub original_rows: u64,
    pub rerun_rows: u64,
    pub same_schema: bool,
    /// Same rows (as a multiset: row order is not part of a table's contents).
    pub identical: bool,
}

#[derive(Debug)]
pub struct Rerun {
    pub original: RunRecord,
    pub outcome: RunOutcome,
    /// Empty unless the rerun finished with every node succeeded.
    pub comparisons: Vec<TableComparison>,
}

impl Rerun {
    pub fn reproduced(&self) -> bool {
        !self.comparisons.is_empty() && self.comparisons.iter().all(|c| c.identical)
    }
}

/// Runs a recorded run's code again against its base commit, on a fresh branch.
/// With `target`, the outputs are published there; without, nothing is published.
pub async fn rerun(
    lake: &Lake,
    run_id: &str,
    target: Option<&str>,
    cache_dir: Option<std::path::PathBuf>,
    observer: Observer,
) -> Result<Rerun> {
    let original = record::load(lake, run_id).await?;
    let bytes = lake.data().get(&original.code.path).await?;
    if crate::archive::sha256_hex(&bytes) != original.code.sha256 {
        return Err(RuntimeError::BadRecord {
            id: original.id.clone(),
            reason: format!(
                "the code archive {} does not match its recorded SHA-256",
                original.code.path
            ),
        });
    }
    let dir = tempfile::tempdir().map_err(|e| RuntimeError::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let into = dir.path().to_path_buf();
    crate::error::blocking("unpacking the code archive", move || {
        crate::archive::unpack(&bytes, &into)
    })
    .await?;
    let mut options = RunOptions::new(dir.path(), target.unwrap_or(&original.target));
    options.base = Some(CommitId(original.base_commit.clone()));
    options.rerun_of = Some(original.id.clone());
    options.params = original.params.clone();
    options.allow_network = original.allow_network;
    options.dry_run = target.is_none();
    options.cache_dir = cache_dir;
    let outcome = run(lake, options, observer).await?;
    let mut comparisons = Vec::new();
    if let RunOutcome::Finished(new) = &outcome
        && matches!(new.status, RunStatus::Succeeded | RunStatus::Validated)
    {
        for old in original.outputs() {
            let (Some(a), Some(b)) = (
                old.snapshot.as_ref(),
                new.node(&old.name).and_then(|n| n.snapshot.as_ref()),
            ) else {
                continue;
            };
            comparisons.push(compare(lake, &old.name, a, b).await?);
        }
    }
    Ok(Rerun {
        original,
        outcome,
        comparisons,
    })
}

/// An order-independent fingerprint of a table's rows: the row count and two
/// wrapping sums of per-row hashes of Arrow's row encoding.
async fn fingerprint(
    lake: &Lake,
    snapshot: &str,
) -> Result<(arrow_schema::Schema, u64, (u64, u64))> {
    let snap = lake.snapshot(&SnapshotId(snapshot.to_string())).await?;
    let schema = snap.content.schema.clone();
    let fields = schema
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let mut sums = (0u64, 0u64);
    let mut rows = 0u64;
    for batch in lake.read_files(&snap.content.files).await? {
        let encoded = converter.convert_columns(batch.columns())?;
        for row in encoded.iter() {
            let bytes = row.as_ref();
            let mut a = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut a);
            let mut b = std::collections::hash_map::DefaultHasher::new();
            (bytes, 0x5eed_u32).hash(&mut b);
            sums.0 = sums.0.wrapping_add(a.finish());
            sums.1 = sums.1.wrapping_add(b.finish());
            rows += 1;
        }
    }
    Ok((schema, rows, sums))
}

async fn compare(lake: &Lake, table: &str, a: &str, b: &str) -> Result<TableComparison> {
    let (schema_a, rows_a, sum_a) = fingerprint(lake, a).await?;
    let (schema_b, rows_b, sum_b) = fingerprint(lake, b).await?;
    let same_schema = schema_a == schema_b;
    Ok(TableComparison {
        table: table.to_string(),
        original_rows: rows_a,
        rerun_rows: rows_b,
        same_schema,
        identical: a == b || (same_schema && rows_a == rows_b && sum_a == sum_b),
    })
}

/// What [`revert_run`] did.
#[derive(Debug)]
pub enum RevertOutcome {
    /// One new commit on the branch restored the run's tables.
    Reverted(Commit),
    /// Every table the run published is already as it was at the run's base on the
    /// branch (an earlier revert, or later commits, put it back): nothing was
    /// committed. `head` is the branch's unchanged head.
    AlreadyReverted { head: CommitId },
}

/// One commit on `into` that restores every table a published run wrote to its
/// state at the run's base commit.
///
/// Refused unless the run's publishing merge is in `into`'s history (the run's
/// target, or a branch that merged it): a run that published elsewhere never
/// changed `into`. A revert whose tables are all already at their base state on
/// `into` commits nothing ([`RevertOutcome::AlreadyReverted`]).
pub async fn revert_run(
    lake: &Lake,
    run_id: &str,
    into: &str,
) -> Result<(RunRecord, RevertOutcome)> {
    let rec = record::load(lake, run_id).await?;
    let published = match (&rec.status, &rec.result_commit) {
        (RunStatus::Succeeded, Some(c)) => CommitId(c.clone()),
        _ => {
            return Err(RuntimeError::Refused(format!(
                "run {} was never published (status: {}): there is nothing to revert",
                rec.short_id(),
                rec.status.as_str()
            )));
        }
    };
    let head = lake.branch_head(into).await?;
    if !lake.is_ancestor(&published, &head.id).await? {
        return Err(RuntimeError::Refused(format!(
            "run {} published to `{}` (commit {}), not to `{into}`, and `{into}` has not merged that commit: \
             the run changed nothing on `{into}` (revert it where it published: \
             sluice revert --run {} --into {})",
            rec.short_id(),
            rec.target,
            published.short(),
            rec.short_id(),
            rec.target
        )));
    }
    let base = lake
        .commit_by_id(&CommitId(rec.base_commit.clone()))
        .await?;
    // Withheld outputs (`materialization_strategy = NONE`) never changed `into`.
    let tables: Vec<String> = rec.published_outputs().map(|n| n.name.clone()).collect();
    if tables
        .iter()
        .all(|t| head.tables().get(t) == base.tables().get(t))
    {
        return Ok((rec, RevertOutcome::AlreadyReverted { head: head.id }));
    }
    let mut req = CommitRequest::new(
        into,
        &format!(
            "revert run {} ({}) to {}",
            rec.short_id(),
            tables.join(", "),
            base.id.short()
        ),
    );
    for t in &tables {
        req = req.change(t, TableChange::Restore(base.tables().get(t).cloned()));
    }
    // Only an unchanged head is reverted: what was compared above is what changes.
    req.expected_head = Some(head.id.clone());
    req.properties.insert("reverted_run".into(), rec.id.clone());
    let commit = lake.commit(req).await?;
    Ok((rec, RevertOutcome::Reverted(commit)))
}

/// When `table`'s current version on `branch` was published by a run together with
/// other tables: that run, and the other tables. Reverting `table` alone breaks
/// the run's atomicity.
pub async fn published_with(
    lake: &Lake,
    table: &str,
    branch: &str,
) -> Result<Option<(RunRecord, Vec<String>)>> {
    let mut commit = lake.branch_head(branch).await?;
    // Walk first parents to the commit that last changed the table.
    loop {
        let Some(parent) = commit.parents().first().cloned() else {
            return Ok(None);
        };
        let parent = lake.commit_by_id(&parent).await?;
        if commit.tables().get(table) != parent.tables().get(table) {
            break;
        }
        commit = parent;
    }
    let Some(run_id) = commit.content.properties.get("published_run") else {
        return Ok(None);
    };
    let rec = record::load(lake, run_id).await?;
    let others: Vec<String> = rec
        .published_outputs()
        .map(|n| n.name.clone())
        .filter(|n| n != table)
        .collect();
    if others.is_empty() {
        return Ok(None);
    }
    Ok(Some((rec, others)))
}
