//! The one error type of sluice-iceberg: what a REST client is told (the server
//! maps each kind to the spec's error response), naming the ref, namespace, table
//! or column it is about.

use sluice_lake::LakeError;

/// A result of sluice-iceberg.
pub type Result<T, E = IcebergError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    /// The lake refused or failed (unknown ref or table, unreadable catalog...).
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("namespace `{namespace}` does not exist at `{reference}`")]
    NoSuchNamespace {
        namespace: String,
        reference: String,
    },
    #[error("table `{table}` does not exist at `{reference}`")]
    NoSuchTable { table: String, reference: String },
    /// A column Iceberg (format v2) has no type for.
    #[error(
        "table `{table}` cannot be read as Iceberg: column `{column}` has type {data_type}, \
         which Iceberg format v2 cannot represent"
    )]
    UnsupportedColumn {
        table: String,
        column: String,
        data_type: String,
    },
    /// A data file's Parquet footer could not be read (its statistics go into the
    /// manifests).
    #[error("table `{table}`: cannot read the Parquet footer of `{path}`: {reason}")]
    Footer {
        table: String,
        path: String,
        reason: String,
    },
    /// The Iceberg library refused what sluice built: a bug in sluice.
    #[error("internal error building Iceberg metadata: {0}")]
    Spec(#[from] iceberg::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
