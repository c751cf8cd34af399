//! The memoised front phases: module resolution, schemas and table definitions.
//!
//! - **The Python front** (modules, schemas, the Python modules' table definitions and
//!   their diagnostics, and every schema's and definition's fingerprint) is one unit
//!   keyed by the Python files: each one's id, path and text fingerprint, in path order.
//!   Those are everything the three steps read (a parse is a function of the file's id
//!   and text), so an edit to a SQL file (or to no Python file) reuses the unit as it is.
//! - **Resolved schemas**, inside it, are keyed by each Python file's id, path and
//!   signature (its imports and classes, [`Keys::py_signature`]): schema resolution
//!   reads nothing else of the modules, so an edit inside a function body reuses them.
//! - **A SQL node's table definition** is memoised per file: made from the file's id,
//!   path and text, and of the modules and schemas only what its header's schema
//!   resolves to (project-wide). It is reused when the file is unchanged and the Python
//!   front is too, or when the header resolves to the same schema (id and content)
//!   under a new one: a Python edit that changes no schema re-makes no SQL definition.
//!
//! The graph ([`crate::graph`]) is built afresh from the definitions on every analysis.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use rayon::prelude::*;

use crate::analysis::{self, Table};
use crate::diagnostic::Diagnostic;
use crate::resolve::Modules;
use crate::schema::{SchemaId, Schemas};
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

/// A parsed Python file, with the fingerprint of what schema resolution reads of it
/// ([`Keys::py_signature`]).
pub(super) struct PyParsed<'a> {
    pub parsed: Parsed<'a, PyModule>,
    pub signature: Fingerprint,
}

/// Resolved schemas, their content fingerprints ([`Keys::schema`]) and what resolution
/// reported, with the key they were made under: every Python file's id, path and
/// signature, in path order. (Schema resolution reads of the modules only their names,
/// imports and classes; class ids are positions in that same order.)
pub(super) struct ResolvedSchemas {
    key: Fingerprint,
    pub schemas: Schemas,
    pub keys: Vec<Fingerprint>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What the Python modules define, resolved: see the [module documentation](self).
pub(super) struct PyFront {
    pub key: Fingerprint,
    pub modules: Modules,
    /// Shared with the previous front when no Python file's imports or classes changed.
    pub schemas: Arc<ResolvedSchemas>,
    pub definitions: analysis::Definitions,
    /// The fingerprint of each table definition of `definitions.tables`
    /// ([`Keys::definition`]).
    pub definition_keys: Vec<Fingerprint>,
    /// What schema resolution and the Python definitions reported, in that order.
    pub diagnostics: Vec<Diagnostic>,
}

/// The key of the Python front over `python` (in path order).
pub(super) fn py_front_key(keys: &Keys, python: &[PyParsed]) -> Fingerprint {
    let mut h = keys.hasher("py-front");
    python.len().hash(&mut h);
    for p in python {
        (p.parsed.id, &p.parsed.file.path, p.parsed.hash).hash(&mut h);
    }
    h.fingerprint()
}

impl PyFront {
    /// Resolves the modules and schemas of `python` (in path order) and finds their
    /// table definitions. The schemas of `previous` are reused when their key matches.
    pub(super) fn build(
        keys: &Keys,
        key: Fingerprint,
        python: Vec<PyParsed>,
        previous: Option<&PyFront>,
    ) -> PyFront {
        let mut h = keys.hasher("schemas");
        python.len().hash(&mut h);
        for p in &python {
            (p.parsed.id, &p.parsed.file.path, p.signature).hash(&mut h);
        }
        let schemas_key = h.fingerprint();
        let texts: HashMap<FileId, Fingerprint> = python
            .iter()
            .map(|p| (p.parsed.id, p.parsed.hash))
            .collect();
        let modules = Modules::new(
            python
                .into_iter()
                .map(|p| (p.parsed.id, p.parsed.file, p.parsed.tree))
                .collect(),
        );
        let schemas = match previous {
            Some(previous) if previous.schemas.key == schemas_key => Arc::clone(&previous.schemas),
            _ => {
                let mut diagnostics = Vec::new();
                let schemas = Schemas::build(&modules, &mut diagnostics);
                let schema_keys = schemas.defs.par_iter().map(|d| keys.schema(d)).collect();
                Arc::new(ResolvedSchemas {
                    key: schemas_key,
                    schemas,
                    keys: schema_keys,
                    diagnostics,
                })
            }
        };
        let mut diagnostics = schemas.diagnostics.clone();
        let definitions =
            analysis::python_definitions(&modules, &schemas.schemas, &mut diagnostics);
        let definition_keys = definitions
            .tables
            .par_iter()
            .map(|t| keys.definition(t, texts.get(&t.file).copied(), &schemas.keys))
            .collect();
        PyFront {
            key,
            modules,
            schemas,
            definitions,
            definition_keys,
            diagnostics,
        }
    }
}

/// What a SQL node's header schema resolves to: all its table definition reads of the
/// modules and schemas ([`analysis::sql_definition`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    /// The header names no schema.
    NoSchema,
    /// The schema's id and content fingerprint.
    Schema(SchemaId, Fingerprint),
    /// Not resolved (reported, with a message that reads every schema name).
    Unresolved,
}

fn header(front: &PyFront, p: &Parsed<SqlNode>) -> Header {
    let Some(schema) = p.tree.header.as_ref().and_then(|h| h.schema.as_ref()) else {
        return Header::NoSchema;
    };
    let resolved = front.schemas.schemas.resolve_global(
        &front.modules,
        p.id,
        &schema.text,
        schema.span.clone(),
    );
    match resolved {
        Ok(id) => Header::Schema(id, front.schemas.keys[id.0]),
        Err(_) => Header::Unresolved,
    }
}

/// A memoised SQL table definition: what it was made from, the table, its fingerprint
/// ([`Keys::definition`]) and what it reported.
pub(super) struct SqlDefinition {
    /// The key of the Python front it was made (or last reused) with.
    front: Fingerprint,
    /// The file's id, path and text fingerprint.
    file: Fingerprint,
    header: Header,
    table: Table,
    definition_key: Fingerprint,
    diagnostics: Vec<Diagnostic>,
}

/// Appends the table of every SQL file in `sql` (in path order) to `tables`, its
/// fingerprint to `definition_keys` and its diagnostics to `diagnostics`. A memoised
/// definition is reused when its file is unchanged and either the Python front is the
/// one it was made with, or its header's schema resolves to the same schema (id and
/// content) under the new one. Afterwards `memo` holds exactly the definitions of `sql`.
/// Returns how many were made afresh.
pub(super) fn sql_definitions(
    keys: &Keys,
    front: &PyFront,
    sql: &[Parsed<SqlNode>],
    memo: &mut HashMap<FileId, SqlDefinition>,
    tables: &mut Vec<Table>,
    definition_keys: &mut Vec<Fingerprint>,
    diagnostics: &mut Vec<Diagnostic>,
) -> usize {
    // Memo lookups and fresh definitions are independent per file: in parallel, then
    // collected in path order.
    let mut previous = std::mem::take(memo);
    let work: Vec<_> = sql.iter().map(|p| (p, previous.remove(&p.id))).collect();
    let defs: Vec<(FileId, SqlDefinition, bool)> = work
        .into_par_iter()
        .map(|(p, old)| {
            let mut h = keys.hasher("sql-file");
            (p.id, &p.file.path, p.hash).hash(&mut h);
            let file = h.fingerprint();
            let reusable = |def: &SqlDefinition| {
                def.file == file
                    && (def.front == front.key
                        || def.header != Header::Unresolved && def.header == header(front, p))
            };
            match old {
                Some(def) if reusable(&def) => {
                    let def = SqlDefinition {
                        front: front.key,
                        ..def
                    };
                    (p.id, def, false)
                }
                _ => {
                    let mut reported = Vec::new();
                    let table = analysis::sql_definition(
                        &front.modules,
                        &front.schemas.schemas,
                        p.id,
                        p.file.stem(),
                        &p.tree,
                        &mut reported,
                    );
                    let def = SqlDefinition {
                        front: front.key,
                        file,
                        header: header(front, p),
                        definition_key: keys.definition(&table, Some(p.hash), &front.schemas.keys),
                        table,
                        diagnostics: reported,
                    };
                    (p.id, def, true)
                }
            }
        })
        .collect();
    let mut made = 0;
    let mut used = HashMap::with_capacity(sql.len());
    for (id, def, fresh) in defs {
        made += usize::from(fresh);
        tables.push(def.table.clone());
        definition_keys.push(def.definition_key);
        diagnostics.extend(def.diagnostics.iter().cloned());
        used.insert(id, def);
    }
    *memo = used;
    made
}
