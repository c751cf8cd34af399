//! The lake seen as an Iceberg catalog at a ref: namespaces, tables, and each
//! table's metadata ([`crate::metadata`]), cached per commit (a commit never
//! changes, so neither does what it holds).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use sluice_lake::{Commit, CommitId, Lake};

use crate::error::{IcebergError, Result};
use crate::metadata::{TableAt, table_at};

/// The namespace of tables whose lake name has none (`orders`).
pub const DEFAULT_NAMESPACE: &str = "default";

/// How many tables' metadata the catalog keeps in memory.
const CACHE_ENTRIES: usize = 1024;

/// An Iceberg catalog over a lake, read-only.
pub struct IcebergCatalog {
    lake: Lake,
    cache: Mutex<HashMap<(CommitId, String), Arc<TableAt>>>,
}

impl IcebergCatalog {
    pub fn new(lake: Lake) -> IcebergCatalog {
        IcebergCatalog {
            lake,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The namespaces at `reference`, sorted: `default` always, and each
    /// namespace a table name has (`raw` for `raw.orders`).
    pub async fn namespaces(&self, reference: &str) -> Result<Vec<String>> {
        let commit = self.commit(reference).await?;
        let mut out: BTreeSet<String> = BTreeSet::from([DEFAULT_NAMESPACE.to_string()]);
        for name in commit.tables().keys() {
            out.insert(split(name).0.to_string());
        }
        Ok(out.into_iter().collect())
    }

    /// Whether `namespace` exists at `reference`.
    pub async fn namespace(&self, reference: &str, namespace: &[String]) -> Result<()> {
        let commit = self.commit(reference).await?;
        self.check_namespace(reference, &commit, namespace)
            .map(|_| ())
    }

    /// The tables of `namespace` at `reference`, sorted by name.
    pub async fn tables(&self, reference: &str, namespace: &[String]) -> Result<Vec<String>> {
        let commit = self.commit(reference).await?;
        let ns = self.check_namespace(reference, &commit, namespace)?;
        Ok(commit
            .tables()
            .keys()
            .filter_map(|name| {
                let (n, t) = split(name);
                (n == ns).then(|| t.to_string())
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    }

    /// The Iceberg metadata of `namespace.table` at `reference`.
    pub async fn load(
        &self,
        reference: &str,
        namespace: &[String],
        table: &str,
    ) -> Result<Arc<TableAt>> {
        let commit = self.commit(reference).await?;
        let ns = self.check_namespace(reference, &commit, namespace)?;
        let name = lake_name(&commit, &ns, table).ok_or_else(|| IcebergError::NoSuchTable {
            table: format!("{ns}.{table}"),
            reference: reference.to_string(),
        })?;
        let key = (commit.id.clone(), name.clone());
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let loaded = Arc::new(table_at(&self.lake, &commit, &name).await?);
        let mut cache = self.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Whether `namespace.table` exists at `reference` (without making its metadata).
    pub async fn exists(&self, reference: &str, namespace: &[String], table: &str) -> Result<()> {
        let commit = self.commit(reference).await?;
        let ns = self.check_namespace(reference, &commit, namespace)?;
        lake_name(&commit, &ns, table)
            .map(|_| ())
            .ok_or_else(|| IcebergError::NoSuchTable {
                table: format!("{ns}.{table}"),
                reference: reference.to_string(),
            })
    }

    async fn commit(&self, reference: &str) -> Result<Commit> {
        Ok(self.lake.resolve(reference).await?.commit)
    }

    fn check_namespace(
        &self,
        reference: &str,
        commit: &Commit,
        namespace: &[String],
    ) -> Result<String> {
        let missing = || IcebergError::NoSuchNamespace {
            namespace: namespace.join("."),
            reference: reference.to_string(),
        };
        let [ns] = namespace else {
            return Err(missing());
        };
        if ns == DEFAULT_NAMESPACE || commit.tables().keys().any(|name| split(name).0 == ns) {
            Ok(ns.clone())
        } else {
            Err(missing())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(CommitId, String), Arc<TableAt>>> {
        // The map holds only finished entries: one poisoned by a panic elsewhere
        // is still whole.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `(namespace, table)` of a lake table name.
fn split(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or((DEFAULT_NAMESPACE, name))
}

/// The lake name of table `table` in namespace `ns`, if the commit has it.
fn lake_name(commit: &Commit, ns: &str, table: &str) -> Option<String> {
    let qualified = format!("{ns}.{table}");
    let candidates = if ns == DEFAULT_NAMESPACE {
        vec![table.to_string(), qualified]
    } else {
        vec![qualified]
    };
    candidates
        .into_iter()
        .find(|c| commit.tables().contains_key(c))
}
