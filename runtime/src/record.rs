//! Run records: what ran, on what, and what came of it. Stored in the lake's
//! catalog (`runs` table) as JSON; the code archive lives in the object store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_lake::{Lake, RunRow};

use crate::error::{Result, RuntimeError};
pub use crate::python::OutputStream;
use crate::validate::Violation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Executing (or its process died: see [`crate::recover_stale_runs`]).
    Running,
    /// Every output validated and published to the target in one merge.
    Succeeded,
    /// A node, a validation, an expectation or the publishing merge failed; the
    /// target is unchanged and the run's branch is kept, marked aborted.
    Failed,
    /// `--dry-run`, or a rerun without a target: everything executed and
    /// validated, nothing published.
    Validated,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => sluice_lake::RUN_SUCCEEDED,
            RunStatus::Failed => "failed",
            RunStatus::Validated => "validated",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Not started because another node failed.
    Skipped,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Succeeded => "ok",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
        }
    }
}

/// Where an error points in the project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Contract facts the output broke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// A traceback or engine detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The output that broke the contract, kept as it was produced on the run's
    /// branch (in a commit marked aborted: it can never be merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_output: Option<RejectedOutput>,
}

/// Where the rows that broke a node's contract can be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedOutput {
    /// The commit of the run's branch holding them (marked `aborted`).
    pub commit: String,
    pub snapshot: String,
    pub rows: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationResult {
    pub name: String,
    pub passed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    /// `sql` or `python`.
    pub kind: String,
    pub file: String,
    pub line: u32,
    pub status: NodeStatus,
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub files: Option<usize>,
    pub duration_ms: Option<u64>,
    /// The commit of the run's branch that holds this output.
    pub commit: Option<String>,
    /// The output's snapshot id.
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<ExpectationResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeError>,
    /// Time spent building the node's Python environment before it ran (not part
    /// of `duration_ms`); absent when the environment was cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_build_ms: Option<u64>,
    /// What the node's Python code printed (and its expectations'), bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<NodeOutputLog>,
    /// How the output reaches the target (Bauplan's `materialization_strategy`):
    /// `replace` (the table becomes the output), `append` (the output's rows are added
    /// to the table as it is at the run's base) or `none` (computed, validated and read
    /// by the run's other nodes, never published).
    #[serde(default = "replace")]
    pub materialization: String,
    /// Whether the output reached the target in the run's publishing merge (set when
    /// the run ends; absent in records of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<bool>,
}

fn replace() -> String {
    "replace".to_string()
}

impl NodeRecord {
    /// Whether the run publishes this node's output when it succeeds (every
    /// materialization but `none`).
    pub fn publishes(&self) -> bool {
        self.materialization != "none"
    }
}

/// The lines a node printed on stdout and stderr, in the order they arrived. A
/// record keeps the last [`OUTPUT_LIMIT`] bytes of a node's output; what came
/// before is counted, not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeOutputLog {
    pub lines: Vec<OutputLine>,
    /// Lines dropped from the start to respect [`OUTPUT_LIMIT`].
    #[serde(default)]
    pub dropped_lines: u64,
    #[serde(default)]
    pub dropped_bytes: u64,
}

/// One line a node printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub text: String,
}

/// At most this many bytes of a node's output are kept in its run record (the
/// most recent ones).
pub const OUTPUT_LIMIT: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSnapshot {
    /// Object-store path of the `.tar.gz` in the lake's data store.
    pub path: String,
    pub sha256: String,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// The failed node, when one failed.
    pub node: Option<String>,
    pub message: String,
}

/// A run, as stored and as printed by `sluice runs show --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub status: RunStatus,
    /// The project folder as given.
    pub project: String,
    /// The branch the run publishes to.
    pub target: String,
    /// The target's head when the run started: every source is read as of it.
    pub base_commit: String,
    /// The transactional branch.
    pub branch: String,
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<String>,
    pub params: BTreeMap<String, String>,
    pub allow_network: bool,
    pub code: CodeSnapshot,
    /// The typed plan the run executed (docs/plan.md).
    pub plan: serde_json::Value,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub host: String,
    pub pid: u32,
    pub nodes: Vec<NodeRecord>,
    /// The merge commit on the target (`Succeeded` only).
    pub result_commit: Option<String>,
    /// The head of the run's branch that was published: the run's own last
    /// commit, holding the base's tables and exactly the validated outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_head: Option<String>,
    /// The run's last commit on its branch when it has `materialization_strategy =
    /// NONE` outputs: it sets those tables back to the base's before the publishing
    /// merge, so the target's tables of that name stay exactly as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld_commit: Option<String>,
    pub error: Option<RunError>,
    /// A failed run's branch was deleted by `sluice runs prune`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub branch_pruned: bool,
}

impl RunRecord {
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }

    pub fn node(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub(crate) fn node_mut(&mut self, name: &str) -> Option<&mut NodeRecord> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Tables the run wrote (its nodes that succeeded), on its branch.
    pub fn outputs(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Succeeded)
    }

    /// The outputs the run publishes (or published): its succeeded nodes but those
    /// with `materialization_strategy = NONE`.
    pub fn published_outputs(&self) -> impl Iterator<Item = &NodeRecord> {
        self.outputs().filter(|n| n.publishes())
    }

    /// The outputs the run computed and validated but never publishes
    /// (`materialization_strategy = NONE`).
    pub fn withheld_outputs(&self) -> impl Iterator<Item = &NodeRecord> {
        self.outputs().filter(|n| !n.publishes())
    }
}

/// The first 12 hex digits of a run id: what people type and read.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub async fn save(lake: &Lake, record: &RunRecord) -> Result<()> {
    let body = serde_json::to_string(record).map_err(|e| RuntimeError::Internal(e.to_string()))?;
    lake.put_run(&RunRow {
        id: record.id.clone(),
        status: record.status.as_str().to_string(),
        started_ms: record.started_ms,
        body,
    })
    .await?;
    Ok(())
}

fn parse(row: &RunRow) -> Result<RunRecord> {
    serde_json::from_str(&row.body).map_err(|e| RuntimeError::BadRecord {
        id: row.id.clone(),
        reason: e.to_string(),
    })
}

/// The run whose id starts with `prefix` (at least 4 hex digits).
pub async fn load(lake: &Lake, prefix: &str) -> Result<RunRecord> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(RuntimeError::RunNotFound(prefix));
    }
    let rows = lake.runs(&prefix, 3).await?;
    match rows.as_slice() {
        [] => Err(RuntimeError::RunNotFound(prefix)),
        [one] => parse(one),
        many => Err(RuntimeError::AmbiguousRun {
            prefix,
            matches: many
                .iter()
                .map(|r| short(&r.id).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The newest runs first.
pub async fn list(lake: &Lake, limit: usize) -> Result<Vec<RunRecord>> {
    lake.runs("", limit).await?.iter().map(parse).collect()
}
