//! The output schemas of `sluice mcp`'s tools: the shapes of the CLI's `--format json`
//! documents (docs/language.md, docs/plan.md, docs/lake.md, docs/runs.md). MCP wants an
//! object: a command whose JSON is an array has it under one key (`branches`, `tags`,
//! `commits`, `tables`, `changes`, `rows`, `runs`).

use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

/// An object schema with these properties, all of them required.
fn object(props: Value) -> Arc<JsonObject> {
    let required: Vec<String> = props
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let schema = json!({ "type": "object", "properties": props, "required": required });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn array_of(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

const STRING: &str = "string";
const INTEGER: &str = "integer";

fn t(ty: &str) -> Value {
    json!({ "type": ty })
}

fn nullable(ty: &str) -> Value {
    json!({ "type": [ty, "null"] })
}

/// `sluice check --format json`.
pub fn check() -> Arc<JsonObject> {
    let diagnostic = json!({
        "type": "object",
        "properties": {
            "severity": { "enum": ["error", "warning"] },
            "code": t(STRING), "message": t(STRING), "file": t(STRING),
            "line": t(INTEGER), "column": t(INTEGER),
            "end_line": t(INTEGER), "end_column": t(INTEGER),
            "help": nullable(STRING),
        },
        "required": ["severity", "code", "message", "file", "line", "column"],
    });
    let summary = json!({
        "type": "object",
        "properties": { "errors": t(INTEGER), "warnings": t(INTEGER), "nodes": t(INTEGER) },
        "required": ["errors", "warnings", "nodes"],
    });
    object(json!({ "diagnostics": array_of(diagnostic), "summary": summary }))
}

/// `sluice plan --format json` (docs/plan.md): the keys every version has.
pub fn plan() -> Arc<JsonObject> {
    object(json!({
        "nodes": array_of(t("object")),
        "edges": array_of(t("object")),
        "order": array_of(t(STRING)),
    }))
}

/// `sluice lineage --format json`.
pub fn lineage() -> Arc<JsonObject> {
    object(json!({
        "column": t(STRING),
        "direction": { "enum": ["upstream", "downstream"] },
        "edges": array_of(t("object")),
    }))
}

/// One diagnostic code's docs.
pub fn explain() -> Arc<JsonObject> {
    object(json!({
        "code": t(STRING), "severity": { "enum": ["error", "warning"] }, "title": t(STRING),
        "meaning": nullable(STRING), "primary_span": nullable(STRING),
        "example_and_fix": nullable(STRING),
    }))
}

fn ref_entry() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": t(STRING), "kind": { "enum": ["branch", "tag"] }, "commit": t(STRING),
            "properties": t("object"),
        },
        "required": ["name", "kind", "commit"],
    })
}

/// `sluice branch list` / `tag list`, under `key`.
pub fn refs(key: &str) -> Arc<JsonObject> {
    object(json!({ key: array_of(ref_entry()) }))
}

/// `sluice branch create` / `tag create`: the new ref.
pub fn created_ref() -> Arc<JsonObject> {
    Arc::new(ref_entry().as_object().cloned().unwrap_or_default())
}

/// `sluice branch delete`.
pub fn deleted_ref() -> Arc<JsonObject> {
    object(json!({ "deleted": t(STRING), "kind": t(STRING) }))
}

/// `sluice log`, under `commits`.
pub fn log() -> Arc<JsonObject> {
    let entry = json!({
        "type": "object",
        "properties": {
            "hash": t(STRING), "parents": array_of(t(STRING)), "author": t(STRING),
            "time": t(STRING), "time_ms": t(INTEGER), "message": t(STRING),
            "properties": t("object"), "marks": t("object"),
        },
        "required": ["hash", "parents", "message"],
    });
    object(json!({ "commits": array_of(entry) }))
}

/// `sluice table list`, under `tables`.
pub fn tables() -> Arc<JsonObject> {
    let entry = json!({
        "type": "object",
        "properties": {
            "name": t(STRING), "snapshot": t(STRING), "rows": t(INTEGER), "bytes": t(INTEGER),
            "files": t(INTEGER), "columns": t(INTEGER),
        },
        "required": ["name", "rows", "columns"],
    });
    object(json!({ "tables": array_of(entry) }))
}

/// `sluice table show`.
pub fn table() -> Arc<JsonObject> {
    let column = json!({
        "type": "object",
        "properties": {
            "name": t(STRING), "data_type": t(STRING), "nullable": t("boolean"),
            "null_count": t(INTEGER),
        },
        "required": ["name", "data_type", "nullable"],
    });
    object(json!({
        "name": t(STRING), "reference": t(STRING), "commit": t(STRING), "rows": t(INTEGER),
        "schema": array_of(column), "history": array_of(t("object")),
    }))
}

/// `sluice diff`, under `changes`.
pub fn diff() -> Arc<JsonObject> {
    let change = json!({
        "type": "object",
        "properties": {
            "status": { "enum": ["added", "removed", "changed"] }, "table": t(STRING),
        },
        "required": ["status", "table"],
    });
    object(json!({ "changes": array_of(change) }))
}

/// `sluice query --format json`, under `rows`, with whether `limit` cut it.
pub fn query() -> Arc<JsonObject> {
    object(json!({ "rows": array_of(t("object")), "truncated": t("boolean") }))
}

/// `sluice import --format json`.
pub fn import() -> Arc<JsonObject> {
    object(json!({
        "commit": t(STRING), "branch": t(STRING), "table": t(STRING), "mode": t(STRING),
        "rows": t(INTEGER), "bytes": t(INTEGER), "files": t(INTEGER),
    }))
}

/// `sluice merge --format json`.
pub fn merge() -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": {
            "kind": { "enum": ["up_to_date", "fast_forward", "merged"] },
            "head": t(STRING), "from": t(STRING), "to": t(STRING), "commit": t(STRING),
            "base": t(STRING), "tables_from_source": array_of(t(STRING)),
        },
        "required": ["kind"],
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// `sluice revert --format json` (one table, or every table of a run).
pub fn revert() -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": {
            "commit": t(STRING), "into": t(STRING), "to": t(STRING), "table": t(STRING),
            "run": t(STRING), "tables": array_of(t(STRING)), "reverted": t("boolean"),
        },
        "required": ["commit", "into", "to"],
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn run_record() -> Value {
    json!({
        "type": "object",
        "properties": {
            "run_id": t(STRING), "id": t(STRING), "status": t(STRING), "target": t(STRING),
            "branch": t(STRING), "base_commit": t(STRING), "result_commit": nullable(STRING),
            "nodes": array_of(t("object")),
        },
        "required": ["id", "status", "target", "branch", "nodes"],
    })
}

/// `sluice run --format json` (and `runs show`).
pub fn run() -> Arc<JsonObject> {
    Arc::new(run_record().as_object().cloned().unwrap_or_default())
}

/// `sluice runs --format json`, under `runs`.
pub fn runs() -> Arc<JsonObject> {
    object(json!({ "runs": array_of(run_record()) }))
}

#[cfg(test)]
mod tests {
    /// Every schema is an object schema (MCP's rule for `outputSchema`).
    #[test]
    fn schemas_are_objects() {
        for s in [
            super::check(),
            super::plan(),
            super::lineage(),
            super::explain(),
            super::refs("branches"),
            super::created_ref(),
            super::deleted_ref(),
            super::log(),
            super::tables(),
            super::table(),
            super::diff(),
            super::query(),
            super::import(),
            super::merge(),
            super::revert(),
            super::run(),
            super::runs(),
        ] {
            assert_eq!(s["type"], "object");
        }
    }
}
