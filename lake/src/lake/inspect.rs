//! Reading what the lake holds: run records, tables, schemas, history of a
//! table, data, and diffs between refs.

use std::collections::{BTreeSet, HashMap};

use arrow::array::RecordBatch;
use arrow_schema::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::{Lake, format_time};
use crate::error::{LakeError, Result};
use crate::model::{CommitId, DataFile, Snapshot, SnapshotId};

/// A column of a table schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub null_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    pub name: String,
    pub snapshot: SnapshotId,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub columns: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub commit: CommitId,
    pub time: String,
    pub message: String,
    /// `None` when the table was removed by this commit.
    pub snapshot: Option<SnapshotId>,
    pub rows: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableDetails {
    pub name: String,
    pub reference: String,
    pub commit: CommitId,
    pub snapshot: SnapshotId,
    pub rows: u64,
    pub bytes: u64,
    pub schema: Vec<ColumnInfo>,
    pub files: Vec<DataFile>,
    /// Newest first, along the first-parent history of the ref.
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ColumnChange {
    Added {
        name: String,
        data_type: String,
        nullable: bool,
    },
    Removed {
        name: String,
    },
    TypeChanged {
        name: String,
        from: String,
        to: String,
    },
    NullabilityChanged {
        name: String,
        from: bool,
        to: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TableDiff {
    Added {
        table: String,
        rows: u64,
    },
    Removed {
        table: String,
        rows: u64,
    },
    Changed {
        table: String,
        rows_before: u64,
        rows_after: u64,
        schema_changes: Vec<ColumnChange>,
    },
}

impl TableDiff {
    pub fn table(&self) -> &str {
        match self {
            TableDiff::Added { table, .. }
            | TableDiff::Removed { table, .. }
            | TableDiff::Changed { table, .. } => table,
        }
    }
}

impl Lake {
    // ----- run records -----------------------------------------------------

    /// Records (or replaces) a run record.
    pub async fn put_run(&self, run: &crate::model::RunRow) -> Result<()> {
        self.catalog.put_run(run, self.lease.as_ref()).await
    }

    /// Run records whose id starts with `id_prefix`, newest first.
    pub async fn runs(&self, id_prefix: &str, limit: usize) -> Result<Vec<crate::model::RunRow>> {
        self.catalog.runs(id_prefix, limit).await
    }

    // ----- inspecting ----------------------------------------------------

    pub async fn list_tables(&self, reference: &str) -> Result<Vec<TableSummary>> {
        let r = self.resolve(reference).await?;
        let mut out = Vec::new();
        for (name, sid) in r.commit.tables() {
            let s = self.snapshot(sid).await?;
            out.push(TableSummary {
                name: name.clone(),
                snapshot: sid.clone(),
                rows: s.content.rows,
                bytes: s.content.bytes,
                files: s.content.files.len(),
                columns: s.content.schema.fields().len(),
            });
        }
        Ok(out)
    }

    /// The snapshot of `table` as of `reference`.
    pub async fn table_snapshot(&self, reference: &str, table: &str) -> Result<Snapshot> {
        let r = self.resolve(reference).await?;
        let sid = r
            .commit
            .tables()
            .get(table)
            .ok_or_else(|| LakeError::TableNotFound {
                table: table.to_string(),
                reference: reference.to_string(),
            })?;
        self.snapshot(sid).await
    }

    pub async fn show_table(&self, reference: &str, table: &str) -> Result<TableDetails> {
        let r = self.resolve(reference).await?;
        let sid =
            r.commit
                .tables()
                .get(table)
                .cloned()
                .ok_or_else(|| LakeError::TableNotFound {
                    table: table.to_string(),
                    reference: reference.to_string(),
                })?;
        let snap = self.snapshot(&sid).await?;
        let nulls: HashMap<&str, u64> = snap
            .content
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.null_count))
            .collect();
        let schema = snap
            .content
            .schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
                null_count: nulls.get(f.name().as_str()).copied().unwrap_or(0),
            })
            .collect();
        // First-parent history: every commit that changed this table.
        let mut history = Vec::new();
        let mut cur = Some(r.commit.clone());
        while let Some(c) = cur {
            let parent = match c.parents().first() {
                Some(p) => Some(self.commit_by_id(p).await?),
                None => None,
            };
            let mine = c.tables().get(table);
            let before = parent.as_ref().and_then(|p| p.tables().get(table));
            if mine != before {
                let rows = match mine {
                    Some(s) => Some(self.snapshot(s).await?.content.rows),
                    None => None,
                };
                history.push(HistoryEntry {
                    commit: c.id.clone(),
                    time: format_time(c.content.time_ms),
                    message: c.content.message.clone(),
                    snapshot: mine.cloned(),
                    rows,
                });
            }
            cur = parent;
        }
        Ok(TableDetails {
            name: table.to_string(),
            reference: reference.to_string(),
            commit: r.commit.id.clone(),
            snapshot: sid,
            rows: snap.content.rows,
            bytes: snap.content.bytes,
            schema,
            files: snap.content.files.clone(),
            history,
        })
    }

    /// Reads every row of `table` as of `reference` (files in order).
    pub async fn read_table(
        &self,
        reference: &str,
        table: &str,
    ) -> Result<(Schema, Vec<RecordBatch>)> {
        let snap = self.table_snapshot(reference, table).await?;
        self.check_files(table, reference, &snap.content.files)
            .await?;
        let batches = self.read_files(&snap.content.files).await?;
        Ok((snap.content.schema.clone(), batches))
    }

    /// Reads data files completely, in order. A missing file is an error; so
    /// is a file whose size is not the recorded one.
    pub async fn read_files(&self, files: &[DataFile]) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for f in files {
            let bytes = self.data.get(&f.path).await?;
            if bytes.len() as u64 != f.bytes {
                return Err(LakeError::Parquet {
                    path: f.path.clone(),
                    reason: format!(
                        "the file has {} bytes, the catalog recorded {}: it was altered outside sluice",
                        bytes.len(),
                        f.bytes
                    ),
                });
            }
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.with_batch_size(64 * 1024).build())
                .map_err(|e| LakeError::Parquet {
                    path: f.path.clone(),
                    reason: e.to_string(),
                })?;
            for b in reader {
                batches.push(b.map_err(|e| LakeError::Parquet {
                    path: f.path.clone(),
                    reason: e.to_string(),
                })?);
            }
        }
        Ok(batches)
    }

    /// Tables added, removed and changed from `from` to `to`.
    pub async fn diff(&self, from: &str, to: &str) -> Result<Vec<TableDiff>> {
        let a = self.resolve(from).await?.commit;
        let b = self.resolve(to).await?.commit;
        let names: BTreeSet<&String> = a.tables().keys().chain(b.tables().keys()).collect();
        let mut out = Vec::new();
        for name in names {
            match (a.tables().get(name), b.tables().get(name)) {
                (None, Some(s)) => out.push(TableDiff::Added {
                    table: name.clone(),
                    rows: self.snapshot(s).await?.content.rows,
                }),
                (Some(s), None) => out.push(TableDiff::Removed {
                    table: name.clone(),
                    rows: self.snapshot(s).await?.content.rows,
                }),
                (Some(x), Some(y)) if x != y => {
                    let sx = self.snapshot(x).await?;
                    let sy = self.snapshot(y).await?;
                    out.push(TableDiff::Changed {
                        table: name.clone(),
                        rows_before: sx.content.rows,
                        rows_after: sy.content.rows,
                        schema_changes: schema_changes(&sx.content.schema, &sy.content.schema),
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Column-level differences between two schemas.
pub fn schema_changes(before: &Schema, after: &Schema) -> Vec<ColumnChange> {
    let mut out = Vec::new();
    for f in before.fields() {
        match after.field_with_name(f.name()) {
            Err(_) => out.push(ColumnChange::Removed {
                name: f.name().clone(),
            }),
            Ok(g) => {
                if f.data_type() != g.data_type() {
                    out.push(ColumnChange::TypeChanged {
                        name: f.name().clone(),
                        from: f.data_type().to_string(),
                        to: g.data_type().to_string(),
                    });
                }
                if f.is_nullable() != g.is_nullable() {
                    out.push(ColumnChange::NullabilityChanged {
                        name: f.name().clone(),
                        from: f.is_nullable(),
                        to: g.is_nullable(),
                    });
                }
            }
        }
    }
    for g in after.fields() {
        if before.field_with_name(g.name()).is_err() {
            out.push(ColumnChange::Added {
                name: g.name().clone(),
                data_type: g.data_type().to_string(),
                nullable: g.is_nullable(),
            });
        }
    }
    out
}
