//! Stable column ids per table name, assigned once and kept for good: what Iceberg
//! calls field ids (`sluice serve`). A column is identified by a key its reader
//! chooses (sluice-iceberg: the column's path and type); the catalog only promises
//! that a key, once given an id for a table, keeps it on every branch and commit,
//! that no two keys of a table share an id, and that ids only grow (a column that
//! comes back after being dropped keeps its old id, a new column never reuses one).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use crate::error::{LakeError, Result};

/// The catalog table (migration 4 -> 5; the same SQL serves PostgreSQL).
pub(super) const MIGRATION: &str = "CREATE TABLE column_ids (
        table_name TEXT NOT NULL,
        column_key TEXT NOT NULL,
        id BIGINT NOT NULL,
        PRIMARY KEY (table_name, column_key),
        UNIQUE (table_name, id));";

/// Ids fit Iceberg's field ids (`int`).
fn to_field_id(table: &str, id: i64) -> Result<i32> {
    i32::try_from(id).map_err(|_| LakeError::Catalog {
        backend: "catalog",
        reason: format!("table `{table}` has run out of column ids"),
    })
}

/// Keys in `keys` that have no id yet, each once, in order of first appearance.
fn missing<'k>(keys: &'k [String], known: &HashMap<String, i64>) -> Vec<&'k str> {
    let mut out: Vec<&str> = Vec::new();
    for key in keys {
        if !known.contains_key(key) && !out.contains(&key.as_str()) {
            out.push(key);
        }
    }
    out
}

fn answer(table: &str, keys: &[String], known: &HashMap<String, i64>) -> Result<Vec<i32>> {
    keys.iter().map(|k| to_field_id(table, known[k])).collect()
}

/// SQLite: inside an IMMEDIATE transaction (writers are serialized).
pub(super) fn sqlite(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    keys: &[String],
) -> Result<Vec<i32>> {
    let mut known = HashMap::new();
    {
        let mut stmt = tx.prepare("SELECT column_key, id FROM column_ids WHERE table_name = ?1")?;
        let rows = stmt.query_map(params![table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (key, id) = row?;
            known.insert(key, id);
        }
    }
    let new = missing(keys, &known);
    if !new.is_empty() {
        let max: Option<i64> = tx
            .query_row(
                "SELECT MAX(id) FROM column_ids WHERE table_name = ?1",
                params![table],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        for (next, key) in (max.unwrap_or(0) + 1..).zip(new) {
            tx.execute(
                "INSERT INTO column_ids (table_name, column_key, id) VALUES (?1, ?2, ?3)",
                params![table, key, next],
            )?;
            known.insert(key.to_owned(), next);
        }
    }
    answer(table, keys, &known)
}

/// PostgreSQL: a transaction-scoped advisory lock per table name serializes the
/// assignments of one table (the UNIQUE constraints would refuse a race anyway).
pub(super) async fn postgres(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    keys: &[String],
) -> Result<Vec<i32>> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('sluice.column_ids.' || $1, 0))",
        &[&table],
    )
    .await?;
    let mut known = HashMap::new();
    for row in tx
        .query(
            "SELECT column_key, id FROM column_ids WHERE table_name = $1",
            &[&table],
        )
        .await?
    {
        known.insert(row.try_get::<_, String>(0)?, row.try_get::<_, i64>(1)?);
    }
    let new = missing(keys, &known);
    if !new.is_empty() {
        let max: Option<i64> = tx
            .query_one(
                "SELECT MAX(id) FROM column_ids WHERE table_name = $1",
                &[&table],
            )
            .await?
            .try_get(0)?;
        for (next, key) in (max.unwrap_or(0) + 1..).zip(new) {
            tx.execute(
                "INSERT INTO column_ids (table_name, column_key, id) VALUES ($1, $2, $3)",
                &[&table, &key, &next],
            )
            .await?;
            known.insert(key.to_owned(), next);
        }
    }
    answer(table, keys, &known)
}
