//! Writing data: staging Parquet files, imports, and the one atomic commit of
//! any number of table changes (and drop and revert, which are commits).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use serde::Serialize;

use super::{ColumnChange, Lake, MAX_RETRIES, backoff, now_ms, schema_changes};
use crate::error::{LakeError, Result};
use crate::model::{
    ColumnStats, Commit, CommitContent, CommitId, DataFile, Snapshot, SnapshotContent, SnapshotId,
    check_table_collisions, validate_table_name,
};
use crate::store::{ParquetEncoder, StagedTable, TableWriter, new_file_path, strip_metadata};

/// A change to one table in a commit.
#[derive(Clone, Debug)]
pub enum TableChange {
    /// A new table; the commit fails if the table exists.
    Create(StagedTable),
    /// Replace (or create) the table with these files.
    Replace(StagedTable),
    /// Add the files to the existing table (same schema required).
    Append(StagedTable),
    /// Remove the table.
    Drop,
    /// Point the table at an existing snapshot (`None` removes it).
    Restore(Option<SnapshotId>),
}

/// A request for one atomic commit of any number of tables.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    pub branch: String,
    /// `Some(head)`: strict compare-and-swap, fails with `Conflict` if the
    /// branch moved. `None`: re-read the head and retry on races (appends are
    /// re-applied to the newest snapshot, so no update is lost).
    pub expected_head: Option<CommitId>,
    pub changes: Vec<(String, TableChange)>,
    pub message: String,
    pub properties: BTreeMap<String, String>,
}

impl CommitRequest {
    pub fn new(branch: &str, message: &str) -> CommitRequest {
        CommitRequest {
            branch: branch.to_string(),
            expected_head: None,
            changes: Vec::new(),
            message: message.to_string(),
            properties: BTreeMap::new(),
        }
    }
    pub fn change(mut self, table: &str, change: TableChange) -> CommitRequest {
        self.changes.push((table.to_string(), change));
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    Create,
    Replace,
    Append,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::Create => "create",
            ImportMode::Replace => "replace",
            ImportMode::Append => "append",
        }
    }
}

impl Lake {
    // ----- writing data --------------------------------------------------

    /// Writes record batches as a new immutable Parquet file of `table`.
    /// Nothing is visible until the returned table is committed.
    pub async fn stage_batches(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<StagedTable> {
        validate_table_name(table)?;
        let stripped = Arc::new(strip_metadata(&schema));
        let mut enc = ParquetEncoder::new(table, stripped.clone())?;
        for b in batches {
            let b = b
                .clone()
                .with_schema(stripped.clone())
                .map_err(|e| LakeError::Arrow {
                    table: table.to_string(),
                    reason: e.to_string(),
                })?;
            enc.write(&b)?;
        }
        let (bytes, rows, null_counts) = enc.finish()?;
        let path = new_file_path(table);
        let size = bytes.len() as u64;
        // Registered before it exists, so gc never condemns it while pending.
        self.catalog
            .register_pending(std::slice::from_ref(&path), now_ms())
            .await?;
        self.data.put(&path, Bytes::from(bytes)).await?;
        Ok(StagedTable {
            schema: stripped.as_ref().clone(),
            files: vec![DataFile {
                path,
                rows,
                bytes: size,
            }],
            rows,
            null_counts,
        })
    }

    /// A streaming writer of new data files for `table` (see [`TableWriter`]).
    pub fn table_writer(&self, table: &str, schema: &Schema) -> Result<TableWriter> {
        TableWriter::new(self.data.clone(), self.catalog.clone(), table, schema)
    }

    /// Reads a Parquet, CSV or JSON Lines file (by extension), validates it
    /// completely, and only then writes it to the store as `table` data.
    pub async fn stage_file(&self, path: &Path, table: &str) -> Result<StagedTable> {
        self.stage_file_as(path, table, None).await
    }

    /// [`Lake::stage_file`], typed by a contract (see [`crate::import::read_file_as`]).
    pub async fn stage_file_as(
        &self,
        path: &Path,
        table: &str,
        contract: Option<&Schema>,
    ) -> Result<StagedTable> {
        validate_table_name(table)?;
        let decoded = crate::import::read_file_as(path, contract)?;
        match decoded {
            crate::import::Decoded::Parquet {
                path: src,
                len,
                stamp,
                footer,
                schema,
                rows,
                null_counts,
            } => {
                let file = new_file_path(table);
                self.catalog
                    .register_pending(std::slice::from_ref(&file), now_ms())
                    .await?;
                let stored = self.data.put_file(&file, &src).await?;
                // What is stored must be the file that was validated: a file
                // changed in between is refused (and its copy removed).
                let tail = if stored == len {
                    Some(
                        self.data
                            .get_range(&file, len - footer.len() as u64..len)
                            .await?,
                    )
                } else {
                    None
                };
                let unchanged = crate::import::check_unchanged(&src, &stamp);
                if tail.as_ref() != Some(&footer) || unchanged.is_err() {
                    self.data.delete(&file).await?;
                    self.catalog
                        .release_pending(std::slice::from_ref(&file))
                        .await?;
                    return Err(LakeError::Input {
                        path: src,
                        reason:
                            "the file changed while it was being imported; nothing was imported"
                                .into(),
                    });
                }
                Ok(StagedTable {
                    schema,
                    files: vec![DataFile {
                        path: file,
                        rows,
                        bytes: len,
                    }],
                    rows,
                    null_counts,
                })
            }
            crate::import::Decoded::Batches { schema, batches } => {
                self.stage_batches(table, Arc::new(schema), &batches).await
            }
        }
    }

    /// Imports a file into `table` on `branch` as one commit.
    pub async fn import_file(
        &self,
        path: &Path,
        table: &str,
        branch: &str,
        mode: ImportMode,
    ) -> Result<Commit> {
        self.import_file_as(path, table, branch, mode, None).await
    }

    /// [`Lake::import_file`], with the columns of `contract` read as its types
    /// and checked against its nullability.
    pub async fn import_file_as(
        &self,
        path: &Path,
        table: &str,
        branch: &str,
        mode: ImportMode,
        contract: Option<&Schema>,
    ) -> Result<Commit> {
        validate_table_name(table)?;
        // Check the target before reading: a wrong ref writes nothing.
        let head = self.branch_head(branch).await?;
        match mode {
            ImportMode::Create if head.tables().contains_key(table) => {
                return Err(LakeError::TableExists {
                    table: table.to_string(),
                    branch: branch.to_string(),
                });
            }
            ImportMode::Append if !head.tables().contains_key(table) => {
                return Err(LakeError::TableNotFound {
                    table: table.to_string(),
                    reference: branch.to_string(),
                });
            }
            _ => {}
        }
        let mut after = head.tables().clone();
        after.insert(table.to_string(), SnapshotId(String::new()));
        check_table_collisions(&after, [&table.to_string()], branch)?;
        let staged = self.stage_file_as(path, table, contract).await?;
        let change = match mode {
            ImportMode::Create => TableChange::Create(staged.clone()),
            ImportMode::Replace => TableChange::Replace(staged.clone()),
            ImportMode::Append => TableChange::Append(staged.clone()),
        };
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let req = CommitRequest::new(
            branch,
            &format!("import {file_name} into {table} ({})", mode.as_str()),
        )
        .change(table, change);
        match self.commit(req).await {
            Ok(commit) => Ok(commit),
            // A refused import (a schema that does not append, a table created
            // meanwhile, ...) leaves no data file behind. After any other error
            // the commit may have happened: its files are left to gc.
            Err(e) if e.is_refusal() || matches!(e, LakeError::TableNotFound { .. }) => {
                let _ = self.discard(&staged).await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn snapshot_from_staged(staged: &StagedTable) -> Snapshot {
        let columns = staged
            .schema
            .fields()
            .iter()
            .zip(staged.null_counts.iter())
            .map(|(f, n)| ColumnStats {
                name: f.name().clone(),
                null_count: *n,
            })
            .collect();
        Snapshot::new(SnapshotContent {
            schema: staged.schema.clone(),
            files: staged.files.clone(),
            rows: staged.rows,
            bytes: staged.bytes(),
            columns,
        })
    }

    async fn apply_change(
        &self,
        branch: &str,
        table: &str,
        change: &TableChange,
        tables: &mut BTreeMap<String, SnapshotId>,
        new_snapshots: &mut Vec<Snapshot>,
    ) -> Result<()> {
        match change {
            TableChange::Create(staged) => {
                if tables.contains_key(table) {
                    return Err(LakeError::TableExists {
                        table: table.to_string(),
                        branch: branch.to_string(),
                    });
                }
                let s = Self::snapshot_from_staged(staged);
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Replace(staged) => {
                let s = Self::snapshot_from_staged(staged);
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Append(staged) => {
                let Some(old_id) = tables.get(table) else {
                    return Err(LakeError::TableNotFound {
                        table: table.to_string(),
                        reference: branch.to_string(),
                    });
                };
                let old = self.snapshot(old_id).await?;
                if let Some(detail) = schema_mismatch(&old.content.schema, &staged.schema) {
                    return Err(LakeError::SchemaMismatch {
                        table: table.to_string(),
                        detail,
                    });
                }
                let mut files = old.content.files.clone();
                files.extend(staged.files.iter().cloned());
                let columns = old
                    .content
                    .columns
                    .iter()
                    .zip(staged.null_counts.iter())
                    .map(|(c, n)| ColumnStats {
                        name: c.name.clone(),
                        null_count: c.null_count + n,
                    })
                    .collect();
                let s = Snapshot::new(SnapshotContent {
                    schema: old.content.schema.clone(),
                    files,
                    rows: old.content.rows + staged.rows,
                    bytes: old.content.bytes + staged.bytes(),
                    columns,
                });
                tables.insert(table.to_string(), s.id.clone());
                new_snapshots.push(s);
            }
            TableChange::Drop => {
                if tables.remove(table).is_none() {
                    return Err(LakeError::TableNotFound {
                        table: table.to_string(),
                        reference: branch.to_string(),
                    });
                }
            }
            TableChange::Restore(Some(id)) => {
                // Must be a recorded snapshot.
                self.snapshot(id).await?;
                tables.insert(table.to_string(), id.clone());
            }
            TableChange::Restore(None) => {
                tables.remove(table);
            }
        }
        Ok(())
    }

    /// Commits any number of table changes to a branch as ONE atomic step.
    pub async fn commit(&self, req: CommitRequest) -> Result<Commit> {
        for (t, _) in &req.changes {
            validate_table_name(t)?;
        }
        // Staged files must still exist (something else may have removed
        // them). This check is a courtesy; the guarantee is the catalog's:
        // its commit refuses a new file that gc condemned or whose pending
        // registration is gone, in the same transaction that records it.
        for (_, change) in &req.changes {
            if let TableChange::Create(s) | TableChange::Replace(s) | TableChange::Append(s) =
                change
            {
                for f in &s.files {
                    if !self.data.exists(&f.path).await? {
                        return Err(LakeError::Corrupt(format!(
                            "staged data file {} is missing (removed by gc?)",
                            f.path
                        )));
                    }
                }
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let head = self.branch_head(&req.branch).await?;
            if let Some(expected) = &req.expected_head
                && expected != &head.id
            {
                return Err(LakeError::Conflict {
                    branch: req.branch.clone(),
                    expected: expected.0.clone(),
                    actual: head.id.0.clone(),
                });
            }
            let mut tables = head.tables().clone();
            let mut snapshots = Vec::new();
            for (t, change) in &req.changes {
                self.apply_change(&req.branch, t, change, &mut tables, &mut snapshots)
                    .await?;
            }
            check_table_collisions(&tables, req.changes.iter().map(|(t, _)| t), &req.branch)?;
            let commit = Commit::new(CommitContent {
                parents: vec![head.id.clone()],
                tables,
                message: req.message.clone(),
                author: self.author.clone(),
                time_ms: now_ms().max(head.content.time_ms + 1),
                properties: req.properties.clone(),
            });
            match self
                .catalog
                .commit(
                    &req.branch,
                    &head.id,
                    &commit,
                    &snapshots,
                    self.lease.as_ref(),
                )
                .await
            {
                Ok(()) => return Ok(commit),
                Err(LakeError::Conflict { .. })
                    if req.expected_head.is_none() && attempt < MAX_RETRIES =>
                {
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops a table from a branch in one commit.
    pub async fn drop_table(&self, table: &str, branch: &str) -> Result<Commit> {
        self.commit(
            CommitRequest::new(branch, &format!("drop table {table}"))
                .change(table, TableChange::Drop),
        )
        .await
    }

    /// A new commit on `into` that restores `table` as it was at `to`
    /// (removing it if it did not exist there).
    pub async fn revert(&self, table: &str, to: &str, into: &str) -> Result<Commit> {
        validate_table_name(table)?;
        let target = self.resolve(to).await?;
        let head = self.branch_head(into).await?;
        let snap = target.commit.tables().get(table).cloned();
        if snap.is_none() && !head.tables().contains_key(table) {
            return Err(LakeError::TableNotFound {
                table: table.to_string(),
                reference: format!("{to} or {into}"),
            });
        }
        let mut req = CommitRequest::new(
            into,
            &format!("revert {table} to {to} ({})", target.commit.id.short()),
        )
        .change(table, TableChange::Restore(snap));
        req.properties
            .insert("reverted_to".into(), target.commit.id.0.clone());
        self.commit(req).await
    }
}

fn schema_mismatch(old: &Schema, new: &Schema) -> Option<String> {
    let changes = schema_changes(old, new);
    let order_differs = changes.is_empty()
        && old
            .fields()
            .iter()
            .map(|f| f.name())
            .ne(new.fields().iter().map(|f| f.name()));
    if changes.is_empty() && !order_differs {
        return None;
    }
    if order_differs {
        return Some("the columns are in a different order".into());
    }
    Some(
        changes
            .iter()
            .map(|c| match c {
                ColumnChange::Added {
                    name, data_type, ..
                } => format!("new column `{name}` {data_type}"),
                ColumnChange::Removed { name } => format!("missing column `{name}`"),
                ColumnChange::TypeChanged { name, from, to } => {
                    format!("column `{name}` is {to}, the table has {from}")
                }
                ColumnChange::NullabilityChanged { name, from, to } => format!(
                    "column `{name}` is {}, the table has it {}",
                    if *to { "nullable" } else { "non-null" },
                    if *from { "nullable" } else { "non-null" }
                ),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}
