//! The memoised front phases: module resolution, schemas and table definitions.
//!
//! - **The Python front** (modules, schemas, the Python modules' table definitions and
//!   their diagnostics, and every schema's and definition's fingerprint) is one unit
//!   keyed by the Python files: each one's id, path and text fingerprint, in path order.
//!   Those are everything its steps read (a parse is a function of the file's id and
//!   text), so an edit to a SQL file (or to no Python file) reuses the unit as it is.
//!   Inside it, each step is memoised again, so a Python edit redoes little:
//! - **Resolved schemas** are keyed by each Python file's id, path and signature (its
//!   imports and classes, [`Keys::py_signature`]): schema resolution reads nothing else
//!   of the modules, so an edit inside a function body reuses them. When only class
//!   bodies changed (every file's structure, [`Keys::py_structure`], is the same, so
//!   class and schema ids are too), only the schemas of the edited files and the
//!   schemas that read them are resolved again ([`SchemaSet::update`]).
//! - **A module's table definitions** are memoised per module in two steps, its
//!   sources ([`analysis::module_sources`]: keyed by its text and the project's
//!   structure) and its nodes ([`analysis::module_nodes`]: also keyed by every module's
//!   table variables and function names, which a node's defaults may name), with the
//!   fingerprints of its tables' definitions, which are made again only when a schema
//!   they name changed content.
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

use crate::analysis::{self, ModuleNodes, ModuleSources, Table};
use crate::diagnostic::Diagnostic;
use crate::resolve::Modules;
use crate::schema::{SchemaId, SchemaSet, Schemas};
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

/// A parsed Python file, with the fingerprints of what schema resolution reads of it
/// ([`Keys::py_signature`]) and of its structure ([`Keys::py_structure`]).
pub(super) struct PyParsed<'a> {
    pub parsed: Parsed<'a, PyModule>,
    pub signature: Fingerprint,
    pub structure: Fingerprint,
}

/// Resolved schemas, their content fingerprints ([`Keys::schema`]) and what resolution
/// reported, with the keys they were made under: every Python file's id, path and
/// signature, in path order (`key`), and their id, path and structure (`structure`).
pub(super) struct ResolvedSchemas {
    key: Fingerprint,
    structure: Fingerprint,
    /// Each Python file's signature.
    signatures: HashMap<FileId, Fingerprint>,
    pub set: SchemaSet,
    pub keys: Vec<Fingerprint>,
}

impl ResolvedSchemas {
    pub fn schemas(&self) -> &Schemas {
        &self.set.schemas
    }
}

/// The memoised definitions of one Python module.
struct ModuleMemo {
    /// Its text, and the project structure its steps were made under.
    text: Fingerprint,
    structure: Fingerprint,
    sources: Arc<ModuleSources>,
    /// The exports (every module's table variables and function names) its nodes were
    /// made under.
    exports: Fingerprint,
    nodes: Arc<ModuleNodes>,
    /// The definition fingerprints of `sources.tables` then `nodes.tables`.
    keys: Arc<Vec<Fingerprint>>,
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
    /// Per module, by file id: the steps of its definitions.
    memo: HashMap<FileId, ModuleMemo>,
    /// Schemas resolved (not reused) by this front.
    pub schemas_resolved: usize,
    /// Modules whose node definitions this front made (not reused).
    pub modules_defined: usize,
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

/// Which schemas changed content between two resolutions of one structure.
enum Changed {
    All,
    Some(Vec<bool>),
}

impl Changed {
    fn any(&self, ids: impl IntoIterator<Item = SchemaId>) -> bool {
        match self {
            Changed::All => true,
            Changed::Some(changed) => ids.into_iter().any(|id| changed[id.0]),
        }
    }
}

impl PyFront {
    /// Resolves the modules and schemas of `python` (in path order) and finds their
    /// table definitions, reusing what `previous` made where its keys match.
    pub(super) fn build(
        keys: &Keys,
        key: Fingerprint,
        python: Vec<PyParsed>,
        previous: Option<&PyFront>,
    ) -> PyFront {
        let (schemas_key, structure) = {
            let mut h = keys.hasher("schemas");
            let mut s = keys.hasher("structure");
            python.len().hash(&mut h);
            python.len().hash(&mut s);
            for p in &python {
                (p.parsed.id, &p.parsed.file.path, p.signature).hash(&mut h);
                (p.parsed.id, &p.parsed.file.path, p.structure).hash(&mut s);
            }
            (h.fingerprint(), s.fingerprint())
        };
        let signatures: HashMap<FileId, Fingerprint> =
            python.iter().map(|p| (p.parsed.id, p.signature)).collect();
        let texts: Vec<Fingerprint> = python.iter().map(|p| p.parsed.hash).collect();
        let modules = Modules::new(
            python
                .into_iter()
                .map(|p| (p.parsed.id, p.parsed.file, p.parsed.tree))
                .collect(),
        );
        let mut schemas_resolved = 0;
        let (schemas, changed) = match previous.map(|p| &p.schemas) {
            Some(old) if old.key == schemas_key => {
                (Arc::clone(old), Changed::Some(vec![false; old.keys.len()]))
            }
            Some(old) if old.structure == structure => {
                let edited = |file: FileId| old.signatures.get(&file) != signatures.get(&file);
                let (set, redone) = SchemaSet::update(&old.set, &modules, &edited);
                schemas_resolved = redone.len();
                let mut schema_keys = old.keys.clone();
                let fresh: Vec<(SchemaId, Fingerprint)> = redone
                    .par_iter()
                    .map(|&id| (id, keys.schema(set.schemas.get(id))))
                    .collect();
                let mut changed = vec![false; schema_keys.len()];
                for (id, fingerprint) in fresh {
                    changed[id.0] = schema_keys[id.0] != fingerprint;
                    schema_keys[id.0] = fingerprint;
                }
                let resolved = ResolvedSchemas {
                    key: schemas_key,
                    structure,
                    signatures,
                    set,
                    keys: schema_keys,
                };
                (Arc::new(resolved), Changed::Some(changed))
            }
            _ => {
                let set = SchemaSet::build(&modules);
                schemas_resolved = set.schemas.defs.len();
                let schema_keys = set
                    .schemas
                    .defs
                    .par_iter()
                    .map(|d| keys.schema(d))
                    .collect();
                let resolved = ResolvedSchemas {
                    key: schemas_key,
                    structure,
                    signatures,
                    set,
                    keys: schema_keys,
                };
                (Arc::new(resolved), Changed::All)
            }
        };
        let old_memo = previous.map(|p| &p.memo);
        let memo_of = |mid: usize| {
            old_memo
                .and_then(|m| m.get(&modules.modules[mid].file))
                .filter(|m| m.text == texts[mid] && m.structure == structure)
        };
        let schemas_now = schemas.schemas();
        // Per module, in parallel: its sources (memoised by its text and the structure).
        let sources: Vec<Arc<ModuleSources>> = (0..modules.modules.len())
            .into_par_iter()
            .map(|mid| match memo_of(mid) {
                Some(m) => Arc::clone(&m.sources),
                None => Arc::new(analysis::module_sources(&modules, schemas_now, mid)),
            })
            .collect();
        let aliases: Vec<HashMap<String, String>> =
            sources.iter().map(|s| s.aliases.clone()).collect();
        let exports = {
            let mut h = keys.hasher("exports");
            for (mid, module) in modules.modules.iter().enumerate() {
                let mut variables: Vec<(&String, &String)> = aliases[mid].iter().collect();
                variables.sort_unstable();
                variables.hash(&mut h);
                module.ast.functions.len().hash(&mut h);
                for function in &module.ast.functions {
                    function.name.text.hash(&mut h);
                }
            }
            h.fingerprint()
        };
        // Then its nodes (memoised by the exports too) and its definitions' keys.
        let memo: Vec<(ModuleMemo, bool)> = (0..modules.modules.len())
            .into_par_iter()
            .map(|mid| {
                let old = memo_of(mid);
                let reused =
                    old.filter(|m| m.exports == exports && Arc::ptr_eq(&m.sources, &sources[mid]));
                let nodes = match reused {
                    Some(m) => Arc::clone(&m.nodes),
                    None => Arc::new(analysis::module_nodes(&modules, schemas_now, &aliases, mid)),
                };
                let tables = || sources[mid].tables.iter().chain(&nodes.tables);
                let named = tables().flat_map(|t| {
                    t.output
                        .into_iter()
                        .chain(t.inputs.iter().filter_map(|i| i.required))
                });
                let definition_keys = match reused {
                    Some(m) if !changed.any(named) => Arc::clone(&m.keys),
                    _ => Arc::new(
                        tables()
                            .map(|t| keys.definition(t, Some(texts[mid]), &schemas.keys))
                            .collect(),
                    ),
                };
                let memo = ModuleMemo {
                    text: texts[mid],
                    structure,
                    sources: Arc::clone(&sources[mid]),
                    exports,
                    nodes,
                    keys: definition_keys,
                };
                (memo, reused.is_none())
            })
            .collect();
        let modules_defined = memo.iter().filter(|(_, made)| *made).count();
        let memo: Vec<ModuleMemo> = memo.into_iter().map(|(m, _)| m).collect();
        let mut diagnostics: Vec<Diagnostic> = schemas.set.all_diagnostics().cloned().collect();
        let mut tables = Vec::new();
        let mut definition_keys = Vec::new();
        let mut expectations = Vec::new();
        for m in &memo {
            tables.extend(m.sources.tables.iter().cloned());
            definition_keys.extend(&m.keys[..m.sources.tables.len()]);
            diagnostics.extend(m.sources.diagnostics.iter().cloned());
        }
        for m in &memo {
            tables.extend(m.nodes.tables.iter().cloned());
            definition_keys.extend(&m.keys[m.sources.tables.len()..]);
            expectations.extend(m.nodes.expectations.iter().cloned());
            diagnostics.extend(m.nodes.diagnostics.iter().cloned());
        }
        let memo = memo
            .into_iter()
            .enumerate()
            .map(|(mid, m)| (modules.modules[mid].file, m))
            .collect();
        PyFront {
            key,
            modules,
            schemas,
            definitions: analysis::Definitions {
                tables,
                expectations,
                aliases,
            },
            definition_keys,
            diagnostics,
            memo,
            schemas_resolved,
            modules_defined,
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
    let Some(schema) = p.tree.output_schema() else {
        return Header::NoSchema;
    };
    let resolved = front.schemas.schemas().resolve_global(
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
                        front.schemas.schemas(),
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
