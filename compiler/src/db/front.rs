//! The memoised front phases: module resolution, schemas and table definitions.
//!
//! - **The Python front** (modules, schemas, the Python modules' table definitions and
//!   their diagnostics, and every schema's content fingerprint) is one unit keyed by the
//!   Python files: each one's id, path and text fingerprint, in path order. Those are
//!   everything the three steps read (a parse is a function of the file's id and text),
//!   so an edit to a SQL file (or to no Python file) reuses the unit as it is.
//! - **A SQL node's table definition** is memoised per file, keyed by the Python front's
//!   key (its header's schema is resolved project-wide) and the file's id, path and
//!   text fingerprint.
//!
//! The graph ([`crate::graph`]) is built afresh from the definitions on every analysis.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::analysis::{self, Table};
use crate::diagnostic::Diagnostic;
use crate::resolve::Modules;
use crate::schema::Schemas;
use crate::source::{FileId, SourceFile};
use crate::syntax::python::PyModule;
use crate::syntax::sql::SqlNode;

use super::keys::{Fingerprint, Keys};

/// A parsed file handed to the front phases, with its text's fingerprint.
pub(super) struct Parsed<'a, T> {
    pub id: FileId,
    pub file: &'a SourceFile,
    pub tree: Arc<T>,
    pub hash: Fingerprint,
}

/// What the Python modules define, resolved: see the [module documentation](self).
pub(super) struct PyFront {
    pub key: Fingerprint,
    pub modules: Modules,
    pub schemas: Schemas,
    /// Content fingerprint of every schema, by `SchemaId` ([`Keys::schema`]).
    pub schema_keys: Vec<Fingerprint>,
    pub definitions: analysis::Definitions,
    /// The fingerprint of each table definition of `definitions.tables`
    /// ([`Keys::definition`]).
    pub definition_keys: Vec<Fingerprint>,
    /// What schema resolution and the Python definitions reported, in that order.
    pub diagnostics: Vec<Diagnostic>,
}

/// The key of the Python front over `python` (in path order).
pub(super) fn py_front_key(keys: &Keys, python: &[Parsed<PyModule>]) -> Fingerprint {
    let mut h = keys.hasher("py-front");
    python.len().hash(&mut h);
    for p in python {
        (p.id, &p.file.path, p.hash).hash(&mut h);
    }
    h.fingerprint()
}

impl PyFront {
    /// Resolves the modules and schemas of `python` (in path order) and finds their
    /// table definitions.
    pub(super) fn build(keys: &Keys, key: Fingerprint, python: Vec<Parsed<PyModule>>) -> PyFront {
        let texts: HashMap<FileId, Fingerprint> = python.iter().map(|p| (p.id, p.hash)).collect();
        let modules = Modules::new(python.into_iter().map(|p| (p.id, p.file, p.tree)).collect());
        let mut diagnostics = Vec::new();
        let schemas = Schemas::build(&modules, &mut diagnostics);
        let schema_keys: Vec<Fingerprint> = schemas.defs.iter().map(|d| keys.schema(d)).collect();
        let definitions = analysis::python_definitions(&modules, &schemas, &mut diagnostics);
        let definition_keys = definitions
            .tables
            .iter()
            .map(|t| keys.definition(t, texts.get(&t.file).copied(), &schema_keys))
            .collect();
        PyFront {
            key,
            modules,
            schemas,
            schema_keys,
            definitions,
            definition_keys,
            diagnostics,
        }
    }
}

/// A memoised SQL table definition: its key, the table, its fingerprint
/// ([`Keys::definition`]) and what it reported.
pub(super) struct SqlDefinition {
    key: Fingerprint,
    table: Table,
    definition_key: Fingerprint,
    diagnostics: Vec<Diagnostic>,
}

/// Appends the table of every SQL file in `sql` (in path order) to `tables`, its
/// fingerprint to `definition_keys` and its diagnostics to `diagnostics`, from `memo`
/// where the key is unchanged. Afterwards `memo`
/// holds exactly the definitions of `sql`. Returns how many were made afresh.
pub(super) fn sql_definitions(
    keys: &Keys,
    front: &PyFront,
    sql: &[Parsed<SqlNode>],
    memo: &mut HashMap<FileId, SqlDefinition>,
    tables: &mut Vec<Table>,
    definition_keys: &mut Vec<Fingerprint>,
    diagnostics: &mut Vec<Diagnostic>,
) -> usize {
    let mut made = 0;
    let mut used = HashMap::with_capacity(sql.len());
    for p in sql {
        let mut h = keys.hasher("sql-definition");
        (front.key, p.id, &p.file.path, p.hash).hash(&mut h);
        let key = h.fingerprint();
        let def = match memo.remove(&p.id) {
            Some(def) if def.key == key => def,
            _ => {
                made += 1;
                let mut reported = Vec::new();
                let table = analysis::sql_definition(
                    &front.modules,
                    &front.schemas,
                    p.id,
                    p.file.stem(),
                    &p.tree,
                    &mut reported,
                );
                SqlDefinition {
                    key,
                    definition_key: keys.definition(&table, Some(p.hash), &front.schema_keys),
                    table,
                    diagnostics: reported,
                }
            }
        };
        tables.push(def.table.clone());
        definition_keys.push(def.definition_key);
        diagnostics.extend(def.diagnostics.iter().cloned());
        used.insert(p.id, def);
    }
    *memo = used;
    made
}
