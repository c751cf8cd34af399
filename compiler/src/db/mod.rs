//! The compiler as an incremental database: file texts in, [`Analysis`] out, recomputing
//! only what an edit can change.
//!
//! A [`Database`] owns the project's files (by relative path), interns a stable
//! [`FileId`] per path, and memoises these steps by content:
//!
//! - **parse**, per file, keyed by its text's fingerprint: an edit re-parses that file only;
//! - **the Python front** (module resolution, schemas, the Python modules' table
//!   definitions, and the fingerprints of the schemas and definitions), one unit keyed by
//!   every Python file's id, path and text fingerprint (`db/front.rs`): an edit to a SQL
//!   file reuses it whole. Inside it, **schema resolution** is keyed by every Python
//!   file's id, path and imports and classes: an edit inside a function reuses it;
//! - **a SQL node's table definition**, per file, made from its file's id, path and text
//!   and what its header's schema resolves to: reused while those are unchanged;
//! - **the contract step**, per table (`contracts::check_table`), keyed by a
//!   fingerprint of everything it reads (`db/keys.rs`): its definition's fingerprint
//!   (its own file's text, its definition, the content of the schemas it names, made
//!   once with the definition) and, per input, the resolved parent's name and effective
//!   output. A table whose body changed but whose effective output did not leaves its
//!   consumers' keys unchanged: they are memo hits (early cutoff). The steps run in
//!   waves of the topological order (a table's wave is one past its parents' latest),
//!   the misses of a wave in parallel; the ledger and the diagnostics keep the
//!   topological order, so the result does not depend on the threads.
//!
//! The graph and the warnings are recomputed on every analysis. Memo entries not used
//! by the latest analysis are dropped, so memory does not grow per edit.
//!
//! [`crate::check`] is a fresh database analysed once, so the CLI and an editor share
//! every step.

mod front;
mod keys;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::analysis::{self, Analysis, TableKind};
use crate::bauplan_project::{self, ProjectParameter};
use crate::contracts::{self, Contracts, TableContract};
use crate::diagnostic::{self, Diagnostic};
use crate::graph::{self, Graph};
use crate::source::{FileId, FileKind, SourceFile, SourceSet};
use crate::sql_plan::SqlPlanner;
use crate::syntax::python::PyModule;
use crate::syntax::sql::SqlNode;
use crate::{config, syntax, warnings};
use front::{Parsed, PyFront, PyParsed, SqlDefinition};
use keys::{Fingerprint, FingerprintMap, Keys, TableKeyInputs};

/// One file of the project as the database holds it.
struct FileInput {
    id: FileId,
    file: Arc<SourceFile>,
    hash: Fingerprint,
}

/// A file's syntax tree, as its front end produced it.
enum Tree {
    /// The module, and the fingerprints of what schema resolution reads of it
    /// ([`Keys::py_signature`]) and of its structure ([`Keys::py_structure`]).
    Python(Arc<PyModule>, Fingerprint, Fingerprint),
    Sql(Arc<SqlNode>),
    Config,
    BauplanProject(BTreeMap<String, ProjectParameter>),
}

/// A file's syntax tree as the editor features read it (the same tree the analysis used).
#[derive(Clone, Debug)]
pub enum Syntax {
    Python(Arc<PyModule>),
    Sql(Arc<SqlNode>),
}

/// A memoised parse: the text fingerprint it was made from, the tree, its diagnostics.
struct Parse {
    hash: Fingerprint,
    tree: Tree,
    diagnostics: Vec<Diagnostic>,
}

/// How long each phase of the last analysis took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Parsing the changed files.
    pub parse: Duration,
    /// Modules, schemas and table definitions (memoised: the Python front as one unit,
    /// SQL definitions per file) and the graph (rebuilt every time).
    pub front: Duration,
    /// The contract step over the tables in topological order (memoised per table).
    pub contracts: Duration,
    /// Warnings, summary, sorting the diagnostics.
    pub finish: Duration,
}

/// The work the last analysis did: for tests of incrementality and for benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files parsed (memo misses).
    pub files_parsed: usize,
    /// Whether the Python front (modules, schemas, the Python modules' table
    /// definitions) was recomputed: some Python file was added, removed or edited.
    pub py_front_rebuilt: bool,
    /// Whether schema resolution was recomputed: some Python file's imports or classes
    /// changed (or a Python file was added or removed).
    pub schemas_rebuilt: bool,
    /// Schemas resolved (not reused): all on a cold analysis; after an edit inside
    /// class bodies, those of the edited files and the schemas that read them.
    pub schemas_resolved: usize,
    /// Python modules whose node definitions were made (not reused).
    pub py_modules_defined: usize,
    /// SQL table definitions recomputed (memo misses).
    pub sql_definitions_made: usize,
    /// Tables whose contract step ran (memo misses), by name, in topological order.
    pub tables_checked: Vec<String>,
    /// Tables whose contract step was a memo hit.
    pub tables_reused: usize,
    /// Entries kept after the analysis: parses, and contract steps (only those the
    /// analysis used, so neither grows per edit).
    pub memo_files: usize,
    pub memo_tables: usize,
    /// SQL table definitions kept (one per SQL file of the latest analysis).
    pub memo_sql_definitions: usize,
    pub timings: Timings,
}

/// A project's files and the memoised steps of its analysis. See the [module
/// documentation](self).
pub struct Database {
    root: PathBuf,
    /// Interned file ids, by relative path: a path keeps its id for the database's
    /// lifetime, whatever other files are added or removed.
    ids: HashMap<String, FileId>,
    next_id: u32,
    files: BTreeMap<String, FileInput>,
    parses: HashMap<FileId, Parse>,
    /// The Python front (modules, schemas, Python definitions) of the latest analysis.
    py_front: Option<Arc<PyFront>>,
    /// SQL table definitions by file, those of the latest analysis.
    sql_definitions: HashMap<FileId, SqlDefinition>,
    /// DataFusion's planner, built on the first SQL node and kept.
    planner: Option<SqlPlanner>,
    /// Contract steps by key, with their effective output's fingerprint; only those the
    /// latest analysis used.
    steps: FingerprintMap<(Arc<TableContract>, Option<Fingerprint>)>,
    keys: Keys,
    latest: Option<(Arc<Analysis>, Arc<SourceSet>)>,
    stats: Stats,
}

impl Database {
    /// An empty project rooted at `root` (the root only names the project: the database
    /// reads no files).
    pub fn new(root: PathBuf) -> Database {
        Database {
            root,
            ids: HashMap::new(),
            next_id: 0,
            files: BTreeMap::new(),
            parses: HashMap::new(),
            py_front: None,
            sql_definitions: HashMap::new(),
            planner: None,
            steps: FingerprintMap::default(),
            keys: Keys::default(),
            latest: None,
            stats: Stats::default(),
        }
    }

    /// A database holding the files of `sources`, with the same file ids.
    pub fn from_sources(sources: &SourceSet) -> Database {
        let mut db = Database::new(sources.root.clone());
        for (id, file) in sources.shared_files() {
            db.ids.insert(file.path.clone(), id);
            db.next_id = db.next_id.max(id.0.saturating_add(1));
            let hash = db.keys.text(&file.text);
            db.files.insert(
                file.path.clone(),
                FileInput {
                    id,
                    file: Arc::clone(file),
                    hash,
                },
            );
        }
        db
    }

    /// Sets the text of the file at `path` (relative to the root, `/`-separated), adding
    /// it if new. Its kind comes from the path ([`crate::source::project_file`]); a path
    /// that is no project file (another extension, a hidden or `__pycache__` folder, a
    /// `sluice.toml` below the root) is not part of the project and is ignored.
    pub fn set_file(&mut self, path: &str, text: String) {
        let Some(kind) = crate::source::project_file(path) else {
            self.remove_file(path);
            return;
        };
        if self
            .files
            .get(path)
            .is_some_and(|f| f.file.text == text && f.file.kind == kind)
        {
            return;
        }
        let id = match self.ids.get(path) {
            Some(&id) => id,
            None => {
                let id = FileId(self.next_id);
                self.next_id += 1;
                self.ids.insert(path.to_owned(), id);
                id
            }
        };
        let hash = self.keys.text(&text);
        let file = Arc::new(SourceFile::new(path, kind, text));
        self.files
            .insert(path.to_owned(), FileInput { id, file, hash });
        self.latest = None;
    }

    /// Removes the file at `path` from the project (nothing if it is not there).
    pub fn remove_file(&mut self, path: &str) {
        if self.files.remove(path).is_some() {
            self.latest = None;
        }
    }

    /// The relative paths of the current files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The file ids of the current files, by path.
    pub fn file_id(&self, path: &str) -> Option<FileId> {
        self.files.get(path).map(|f| f.id)
    }

    /// The analysis of the current texts, and the sources it refers to (its file ids
    /// index them). Recomputes only what changed since the last call; unchanged texts
    /// return the last result itself.
    ///
    /// Runs on the compiler's big-stack threads, like [`crate::check`].
    pub fn analysis(&mut self) -> (Arc<Analysis>, Arc<SourceSet>) {
        if let Some((analysis, sources)) = &self.latest {
            return (Arc::clone(analysis), Arc::clone(sources));
        }
        let (analysis, sources) = crate::on_compiler_threads(|| self.run());
        let analysis = Arc::new(analysis);
        self.latest = Some((Arc::clone(&analysis), Arc::clone(&sources)));
        (analysis, sources)
    }

    /// The syntax trees of the current files' latest parses (Python modules and SQL
    /// nodes), by file id: what the last [`Database::analysis`] read. Shares the trees.
    pub fn syntax(&self) -> HashMap<FileId, Syntax> {
        self.files
            .values()
            .filter_map(|f| {
                let parse = self.parses.get(&f.id).filter(|p| p.hash == f.hash)?;
                let tree = match &parse.tree {
                    Tree::Python(module, ..) => Syntax::Python(Arc::clone(module)),
                    Tree::Sql(node) => Syntax::Sql(Arc::clone(node)),
                    Tree::Config | Tree::BauplanProject(_) => return None,
                };
                Some((f.id, tree))
            })
            .collect()
    }

    /// What the last analysis recomputed and how long it took.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Analyses the current texts once (on the calling thread).
    pub(crate) fn run(&mut self) -> (Analysis, Arc<SourceSet>) {
        let mut stats = Stats::default();
        let started = Instant::now();
        let sources = Arc::new(SourceSet::with_ids(
            self.root.clone(),
            self.files
                .values()
                .map(|f| (f.id, Arc::clone(&f.file)))
                .collect(),
        ));
        self.parse_changed(&mut stats);
        stats.timings.parse = started.elapsed();

        let started = Instant::now();
        let mut diagnostics = Vec::new();
        let mut python = Vec::new();
        let mut sql = Vec::new();
        let mut parameters = None;
        let mut bauplan = false;
        for (id, file) in sources.files() {
            let Some(parse) = self.parses.get(&id) else {
                continue;
            };
            diagnostics.extend(parse.diagnostics.iter().cloned());
            match &parse.tree {
                Tree::Python(module, signature, structure) => {
                    // A project written for Bauplan's SDK: tables it reads but does not
                    // define are lake tables (the SDK has no source declarations).
                    bauplan |= module
                        .imports
                        .iter()
                        .any(|i| i.module == "bauplan" || i.module.starts_with("bauplan."));
                    python.push(PyParsed {
                        parsed: Parsed {
                            id,
                            file,
                            tree: Arc::clone(module),
                            hash: parse.hash,
                        },
                        signature: *signature,
                        structure: *structure,
                    });
                }
                Tree::Sql(node) => sql.push(Parsed {
                    id,
                    file,
                    tree: Arc::clone(node),
                    hash: parse.hash,
                }),
                Tree::Config => {}
                Tree::BauplanProject(params) => {
                    bauplan = true;
                    // One project file counts: with both spellings, the first in path order.
                    parameters.get_or_insert_with(|| params.clone());
                }
            }
        }
        let key = front::py_front_key(&self.keys, &python);
        let py_front = match &self.py_front {
            Some(memo) if memo.key == key => Arc::clone(memo),
            _ => {
                stats.py_front_rebuilt = true;
                let built = Arc::new(PyFront::build(
                    &self.keys,
                    key,
                    python,
                    self.py_front.as_deref(),
                ));
                stats.schemas_resolved = built.schemas_resolved;
                stats.py_modules_defined = built.modules_defined;
                stats.schemas_rebuilt = !self
                    .py_front
                    .as_ref()
                    .is_some_and(|old| Arc::ptr_eq(&old.schemas, &built.schemas));
                self.py_front = Some(Arc::clone(&built));
                built
            }
        };
        diagnostics.extend(py_front.diagnostics.iter().cloned());
        let mut tables = py_front.definitions.tables.clone();
        let mut definition_keys = py_front.definition_keys.clone();
        let mut expectations = py_front.definitions.expectations.clone();
        stats.sql_definitions_made = front::sql_definitions(
            &self.keys,
            &py_front,
            &sql,
            &mut self.sql_definitions,
            &mut tables,
            &mut definition_keys,
            &mut diagnostics,
        );
        let graph = graph::build(
            &mut tables,
            &mut expectations,
            &sources,
            &py_front.definitions.aliases,
            py_front.schemas.schemas(),
            bauplan,
            &mut diagnostics,
        );
        if bauplan {
            let functions: Vec<&crate::analysis::Table> = tables
                .iter()
                .zip(&graph.live)
                .filter(|(_, live)| **live)
                .map(|(t, _)| t)
                .chain(&expectations)
                .collect();
            crate::bauplan::check_run_params(&functions, parameters.as_ref(), &mut diagnostics);
        }
        // Bauplan's implicit lake tables, which the graph added.
        if tables.len() > definition_keys.len() {
            let texts = self.files_by_id();
            for table in &tables[definition_keys.len()..] {
                let text = texts.get(&table.file).copied();
                definition_keys.push(self.keys.definition(table, text, &py_front.schemas.keys));
            }
        }
        stats.timings.front = started.elapsed();

        let started = Instant::now();
        let no_parameters = std::collections::BTreeMap::new();
        let sql_by_file: HashMap<FileId, &SqlNode> =
            sql.iter().map(|p| (p.id, p.tree.as_ref())).collect();
        let ctx = contracts::Context {
            sources: &sources,
            modules: &py_front.modules,
            tables: &tables,
            schemas: py_front.schemas.schemas(),
            sql: &sql_by_file,
            parameters: parameters.as_ref().unwrap_or(&no_parameters),
        };
        let contracts =
            self.contracts(&ctx, &definition_keys, &graph, &mut diagnostics, &mut stats);
        stats.timings.contracts = started.elapsed();

        let started = Instant::now();
        warnings::warnings(
            (&tables, &expectations),
            py_front.schemas.schemas(),
            bauplan,
            &graph.live,
            &graph.edges,
            &contracts,
            &mut diagnostics,
        );
        let summary = graph.summary(&tables, &diagnostics);
        diagnostic::sort(&mut diagnostics, &sources);
        let analysis = Analysis {
            schemas: Arc::clone(&py_front.schemas.schemas().defs),
            tables,
            edges: graph.edges,
            order: graph.order,
            contracts,
            diagnostics,
            summary,
            expectations,
            parameters: parameters.unwrap_or_default(),
            bindings: graph.bindings,
        };
        stats.timings.finish = started.elapsed();
        stats.memo_files = self.parses.len();
        stats.memo_tables = self.steps.len();
        stats.memo_sql_definitions = self.sql_definitions.len();
        self.stats = stats;
        (analysis, sources)
    }

    /// The text fingerprint of every file, by id.
    fn files_by_id(&self) -> HashMap<FileId, Fingerprint> {
        self.files.values().map(|f| (f.id, f.hash)).collect()
    }

    /// Parses (in parallel) every file whose text is not the one its memoised parse
    /// was made from; forgets the parses of removed files.
    fn parse_changed(&mut self, stats: &mut Stats) {
        let parses = &self.parses;
        let stale: Vec<&FileInput> = self
            .files
            .values()
            .filter(|f| parses.get(&f.id).is_none_or(|p| p.hash != f.hash))
            .collect();
        stats.files_parsed = stale.len();
        let keys = &self.keys;
        let fresh: Vec<(FileId, Parse)> = stale
            .into_par_iter()
            .map(|f| (f.id, parse(keys, f)))
            .collect();
        self.parses.extend(fresh);
        let current: std::collections::HashSet<FileId> =
            self.files.values().map(|f| f.id).collect();
        self.parses.retain(|id, _| current.contains(id));
    }

    /// The contract step of every table, memoised per table; see the module docs.
    fn contracts(
        &mut self,
        ctx: &contracts::Context,
        definitions: &[Fingerprint],
        graph: &Graph,
        diagnostics: &mut Vec<Diagnostic>,
        stats: &mut Stats,
    ) -> Contracts {
        let Some(order) = &graph.order else {
            // A cycle: only declared contracts and their edges, recomputed (rare, and
            // not per table).
            self.steps.clear();
            stats.tables_checked = ctx.tables.iter().map(|t| t.name.clone()).collect();
            return contracts::run_cyclic(ctx, &graph.live, diagnostics);
        };
        // Planning is needed for SQL bodies and for inputs' `filter=`s (a Python-only
        // Bauplan project has filters too); once made, the planner is kept.
        let plans = |t: &analysis::Table| {
            t.kind == TableKind::Sql || t.inputs.iter().any(|i| i.filter.is_some())
        };
        if self.planner.is_none() && ctx.tables.iter().any(plans) {
            self.planner = Some(SqlPlanner::new());
        }
        let mut outputs: Vec<Option<Fingerprint>> = vec![None; ctx.tables.len()];
        let mut out = Contracts::with_tables(ctx.tables.len());
        let mut used = FingerprintMap::default();
        used.reserve(order.len());
        let mut checked = vec![false; ctx.tables.len()];
        // Wave by wave: a table's step reads only its inputs' outputs, so the steps of
        // one wave are independent and the memo misses among them run in parallel.
        for wave in waves(order, ctx.tables) {
            let mut misses = Vec::new();
            let mut keyed = Vec::with_capacity(wave.len());
            for id in wave {
                let table = &ctx.tables[id.0];
                let at = TableKeyInputs {
                    tables: ctx.tables,
                    outputs: &outputs,
                    parameters: ctx.parameters,
                };
                let key = self.keys.table(definitions[id.0], &at, table);
                match self.steps.remove(&key) {
                    Some((step, output)) => {
                        stats.tables_reused += 1;
                        keyed.push((id, key, rebase(step, table), output));
                    }
                    None => misses.push((id, key)),
                }
            }
            let planner = self.planner.as_ref();
            let keys = &self.keys;
            let reads = &out;
            let check = |(id, key): (analysis::TableId, Fingerprint)| {
                let step = contracts::check_table(ctx, planner, reads, id);
                let output = step.output.as_ref().map(|o| keys.output(o));
                (id, key, Arc::new(step), output)
            };
            // An edit's waves mostly have no miss or one: no threads for those.
            let fresh: Vec<_> = if misses.len() > 1 {
                misses.into_par_iter().map(check).collect()
            } else {
                misses.into_iter().map(check).collect()
            };
            for &(id, ..) in &fresh {
                checked[id.0] = true;
            }
            for (id, key, step, output) in keyed.into_iter().chain(fresh) {
                outputs[id.0] = output;
                out.set(id, Arc::clone(&step));
                used.insert(key, (step, output));
            }
        }
        out.enter(order, diagnostics);
        stats.tables_checked = order
            .iter()
            .filter(|id| checked[id.0])
            .map(|id| ctx.tables[id.0].name.clone())
            .collect();
        // Entries the latest analysis did not use are dropped.
        self.steps = used;
        out
    }
}

/// `order` (topological) cut into waves: a table's wave is one past the latest wave of
/// the inputs it resolved to (its parents), so no table reads another of its own wave.
/// Each wave keeps `order`'s order.
fn waves(order: &[analysis::TableId], tables: &[analysis::Table]) -> Vec<Vec<analysis::TableId>> {
    let mut wave_of = vec![0usize; tables.len()];
    let mut waves: Vec<Vec<analysis::TableId>> = Vec::new();
    for &id in order {
        let wave = tables[id.0]
            .inputs
            .iter()
            .filter_map(|input| input.resolved)
            .map(|parent| wave_of[parent.0] + 1)
            .max()
            .unwrap_or(0);
        wave_of[id.0] = wave;
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(id);
    }
    waves
}

/// A memoised step may have been made under another numbering of the schemas: its
/// effective output must name the table's declared schema by its current id. (The
/// effective output is the declared contract exactly when the table declares one.)
fn rebase(step: Arc<TableContract>, table: &analysis::Table) -> Arc<TableContract> {
    match &step.output {
        Some(output) if output.declared != table.output => {
            let mut fixed = TableContract::clone(&step);
            if let Some(output) = &mut fixed.output {
                output.declared = table.output;
            }
            Arc::new(fixed)
        }
        _ => step,
    }
}

fn parse(keys: &Keys, f: &FileInput) -> Parse {
    let (id, file) = (f.id, &f.file);
    let (tree, diagnostics) = match file.kind {
        FileKind::Python => {
            let (module, diags) = syntax::python::parse(id, &file.text);
            let signature = keys.py_signature(&module);
            let structure = keys.py_structure(&module);
            (Tree::Python(Arc::new(module), signature, structure), diags)
        }
        FileKind::Sql => {
            let (node, diags) = syntax::sql::parse(id, &file.text, &file.line_index);
            (Tree::Sql(Arc::new(node)), diags)
        }
        FileKind::Config => {
            let (_config, diag) = config::parse(id, &file.text);
            (Tree::Config, diag.into_iter().collect())
        }
        FileKind::BauplanProject => {
            let (params, diag) = bauplan_project::parse(id, &file.text);
            (Tree::BauplanProject(params), diag.into_iter().collect())
        }
    };
    Parse {
        hash: f.hash,
        tree,
        diagnostics,
    }
}
