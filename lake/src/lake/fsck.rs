//! Integrity of data files: the check every read makes before it touches a
//! table's files, and `fsck`, which verifies every file reachable from refs.

use std::collections::HashMap;

use serde::Serialize;

use super::Lake;
use crate::error::{LakeError, Result};
use crate::model::{DataFile, RefKind};

/// What is wrong with one data file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileFault {
    /// The file is not in the data store.
    Missing,
    /// The file's size differs from the size the catalog recorded.
    SizeMismatch { expected: u64, actual: u64 },
    /// The Parquet footer cannot be read.
    Unreadable { reason: String },
    /// The footer's row count differs from the row count the catalog recorded.
    RowCountMismatch { expected: u64, actual: u64 },
}

impl std::fmt::Display for FileFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFault::Missing => f.write_str("missing"),
            FileFault::SizeMismatch { expected, actual } => {
                write!(f, "size is {actual} bytes, the catalog recorded {expected}")
            }
            FileFault::Unreadable { reason } => {
                write!(f, "Parquet footer unreadable: {reason}")
            }
            FileFault::RowCountMismatch { expected, actual } => {
                write!(f, "holds {actual} rows, the catalog recorded {expected}")
            }
        }
    }
}

/// One damaged file as a ref reaches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FsckFault {
    pub reference: String,
    pub table: String,
    pub path: String,
    pub fault: FileFault,
}

/// The result of [`Lake::fsck`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FsckReport {
    /// Refs verified (branches and tags, or the one asked for).
    pub refs: Vec<String>,
    /// Distinct data files verified.
    pub files: usize,
    pub faults: Vec<FsckFault>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.faults.is_empty()
    }
}

impl Lake {
    /// Checks that every file of `table` as of `reference` exists with the
    /// size the catalog recorded; reads call this first, so a missing or
    /// altered file is an error naming the table, ref and file, never an
    /// empty or short table.
    pub async fn check_files(
        &self,
        table: &str,
        reference: &str,
        files: &[DataFile],
    ) -> Result<()> {
        for f in files {
            match self.data.size(&f.path).await? {
                None => {
                    return Err(LakeError::DataFileMissing {
                        table: table.to_string(),
                        reference: reference.to_string(),
                        path: f.path.clone(),
                    });
                }
                Some(actual) if actual != f.bytes => {
                    return Err(LakeError::DataFileAltered {
                        table: table.to_string(),
                        reference: reference.to_string(),
                        path: f.path.clone(),
                        expected: f.bytes,
                        actual,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Verifies every data file reachable from `reference` (or, with `None`,
    /// from every branch and tag): it exists, its size is the recorded one,
    /// its Parquet footer reads and holds the recorded row count. A file
    /// reached from several refs is read once and reported for each.
    pub async fn fsck(&self, reference: Option<&str>) -> Result<FsckReport> {
        let refs: Vec<String> = match reference {
            Some(r) => {
                self.resolve(r).await?;
                vec![r.to_string()]
            }
            None => {
                let mut names: Vec<String> = self
                    .list_refs(RefKind::Branch)
                    .await?
                    .into_iter()
                    .chain(self.list_refs(RefKind::Tag).await?)
                    .map(|r| r.name)
                    .collect();
                names.sort();
                names
            }
        };
        let mut verdicts: HashMap<String, Option<FileFault>> = HashMap::new();
        let mut report = FsckReport::default();
        for name in &refs {
            let commit = self.resolve(name).await?.commit;
            for (table, sid) in commit.tables() {
                let snap = self.snapshot(sid).await?;
                for f in &snap.content.files {
                    if !verdicts.contains_key(&f.path) {
                        let verdict = self.verify_file(f).await?;
                        verdicts.insert(f.path.clone(), verdict);
                    }
                    if let Some(Some(fault)) = verdicts.get(&f.path) {
                        report.faults.push(FsckFault {
                            reference: name.clone(),
                            table: table.clone(),
                            path: f.path.clone(),
                            fault: fault.clone(),
                        });
                    }
                }
            }
        }
        report.refs = refs;
        report.files = verdicts.len();
        Ok(report)
    }

    /// The fault of one file, `None` when it is intact. Errors only when the
    /// store itself cannot be asked.
    async fn verify_file(&self, f: &DataFile) -> Result<Option<FileFault>> {
        let Some(actual) = self.data.size(&f.path).await? else {
            return Ok(Some(FileFault::Missing));
        };
        if actual != f.bytes {
            return Ok(Some(FileFault::SizeMismatch {
                expected: f.bytes,
                actual,
            }));
        }
        let rows = match self.footer_rows(&f.path, actual).await? {
            Ok(rows) => rows,
            Err(reason) => return Ok(Some(FileFault::Unreadable { reason })),
        };
        if u64::try_from(rows).ok() != Some(f.rows) {
            return Ok(Some(FileFault::RowCountMismatch {
                expected: f.rows,
                actual: rows.max(0) as u64,
            }));
        }
        Ok(None)
    }

    /// The row count in the Parquet footer of a stored file of `len` bytes;
    /// `Err(reason)` when the footer does not read.
    async fn footer_rows(&self, path: &str, len: u64) -> Result<std::result::Result<i64, String>> {
        Ok(self
            .data
            .parquet_footer(path, len)
            .await?
            .map(|m| m.file_metadata().num_rows()))
    }
}
