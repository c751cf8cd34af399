//! The lake's tables as Apache Iceberg tables, zero-copy, and the Iceberg REST
//! catalog `sluice serve` answers with.
//!
//! - [`schema`]: a lake table's Arrow schema as an Iceberg schema, with field
//!   ids the catalog assigns once per table and column.
//! - [`stats`]: a data file's Iceberg entry, statistics from its Parquet footer.
//! - [`metadata`]: a table at a commit as Iceberg metadata (every version a
//!   snapshot) over the lake's own files, made on first request and kept.
//! - [`catalog`]: namespaces and tables at a ref, with a per-commit cache.
//! - [`rest`]: the REST catalog's read side as an axum router.
//!
//! Architecture Invariant: nothing here writes under `tables/` (the data files):
//! every file it writes is new, under `iceberg/`, and named by its content.

pub mod catalog;
pub mod error;
pub mod metadata;
pub mod rest;
pub mod schema;
pub mod stats;

pub use catalog::{DEFAULT_NAMESPACE, IcebergCatalog};
pub use error::{IcebergError, Result};
pub use metadata::{HISTORY, TableAt, table_at};
pub use rest::{BASE, ServeOptions, router};
