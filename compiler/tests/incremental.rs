//! The incremental database against the cold checker, and the work it does per edit.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sluice_compiler::{Database, JsonReport, SourceFile, SourceSet};

/// Every fixture project: `tests/fixtures/check/*` and `examples/*`.
fn fixture_projects() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut projects = Vec::new();
    for dir in [repo.join("tests/fixtures/check"), repo.join("examples")] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        projects.extend(found);
    }
    assert!(projects.len() > 50, "fixtures found: {}", projects.len());
    projects
}

/// The texts of a project, by relative path.
fn texts(sources: &SourceSet) -> Vec<(String, String)> {
    sources
        .files()
        .map(|(_, f)| (f.path.clone(), f.text.clone()))
        .collect()
}

/// What must agree between the incremental and the cold analysis: the JSON report
/// and the plan, as JSON.
fn outputs(analysis: &sluice_compiler::Analysis, sources: &SourceSet) -> (String, String) {
    let report = JsonReport::new(&analysis.diagnostics, sources, analysis.summary);
    let plan = sluice_compiler::plan::build(analysis, sources);
    (
        serde_json::to_string_pretty(&report).unwrap(),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
}

fn cold(root: &Path, files: &[(String, String)]) -> (String, String) {
    let sources = SourceSet::new(
        root,
        files
            .iter()
            .filter_map(|(path, text)| {
                let kind = sluice_compiler::source::project_file(path)?;
                Some(SourceFile::new(path.clone(), kind, text.clone()))
            })
            .collect(),
    );
    outputs(&sluice_compiler::check(&sources), &sources)
}

/// One random edit; the selectors pick a file and a place in it modulo their sizes.
#[derive(Clone, Debug)]
enum Edit {
    Insert {
        file: usize,
        at: usize,
        text: &'static str,
    },
    Delete {
        file: usize,
        at: usize,
        len: usize,
    },
    /// Replace one type name by another (`int` -> `str`, `float` -> `int`, ...).
    SwapType {
        file: usize,
        which: usize,
        to: usize,
    },
    /// Append `x` to a column declaration's name (`    amount: float`).
    RenameColumn {
        file: usize,
        which: usize,
    },
    DeleteFile {
        file: usize,
    },
    /// A copy of an existing file under a new name (a new table, or a duplicate).
    CopyFile {
        file: usize,
        name: &'static str,
    },
}

const INSERTS: &[&str] = &[
    "a", " ", "\n", ":", "(", ")", "\"", "_x", "1", "é", ",", "#", "\n    ", "-- ", "'",
];
const TYPES: &[&str] = &["int", "str", "float", "bool", "date", "datetime"];
const NEW_NAMES: &[&str] = &["zz_copy.py", "aa_copy.sql", "sub/copy.py", "copy.sql"];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), prop::sample::select(INSERTS))
            .prop_map(|(file, at, text)| Edit::Insert { file, at, text }),
        3 => (any::<usize>(), any::<usize>(), 1usize..4)
            .prop_map(|(file, at, len)| Edit::Delete { file, at, len }),
        3 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(file, which, to)| Edit::SwapType { file, which, to }),
        2 => (any::<usize>(), any::<usize>())
            .prop_map(|(file, which)| Edit::RenameColumn { file, which }),
        1 => any::<usize>().prop_map(|file| Edit::DeleteFile { file }),
        1 => (any::<usize>(), prop::sample::select(NEW_NAMES))
            .prop_map(|(file, name)| Edit::CopyFile { file, name }),
    ]
}

/// The char boundary at or before `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Byte ranges of whole-word occurrences of any of `words` in `text`.
fn words(text: &str, words: &[&str]) -> Vec<std::ops::Range<usize>> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for word in words {
        for (start, _) in text.match_indices(word) {
            let end = start + word.len();
            if !text[..start].chars().next_back().is_some_and(ident)
                && !text[end..].chars().next().is_some_and(ident)
            {
                found.push(start..end);
            }
        }
    }
    found.sort_by_key(|r| r.start);
    found
}

/// Applies `edit` to `files`; returns the paths whose text changed and those removed.
fn apply(files: &mut Vec<(String, String)>, edit: &Edit) -> (Vec<String>, Vec<String>) {
    if files.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let n = files.len();
    let pick = |i: usize| i % n;
    match edit {
        Edit::Insert { file, at, text } => {
            let (path, body) = &mut files[pick(*file)];
            let at = boundary(body, *at);
            body.insert_str(at, text);
            (vec![path.clone()], Vec::new())
        }
        Edit::Delete { file, at, len } => {
            let (path, body) = &mut files[pick(*file)];
            let start = boundary(body, *at);
            let end = boundary(body, start + len);
            body.replace_range(start..end.max(start), "");
            (vec![path.clone()], Vec::new())
        }
        Edit::SwapType { file, which, to } => {
            let (path, body) = &mut files[pick(*file)];
            let found = words(body, TYPES);
            if found.is_empty() {
                return (Vec::new(), Vec::new());
            }
            let range = found[which % found.len()].clone();
            body.replace_range(range, TYPES[to % TYPES.len()]);
            (vec![path.clone()], Vec::new())
        }
        Edit::RenameColumn { file, which } => {
            let (path, body) = &mut files[pick(*file)];
            let mut at = 0;
            let columns: Vec<usize> = body
                .split_inclusive('\n')
                .filter_map(|line| {
                    let start = at;
                    at += line.len();
                    let rest = line.strip_prefix("    ")?;
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    (!name.is_empty() && rest[name.len()..].trim_start().starts_with(':'))
                        .then(|| start + 4 + name.len())
                })
                .collect();
            if columns.is_empty() {
                return (Vec::new(), Vec::new());
            }
            body.insert(columns[which % columns.len()], 'x');
            (vec![path.clone()], Vec::new())
        }
        Edit::DeleteFile { file } => {
            let (path, _) = files.remove(pick(*file));
            (Vec::new(), vec![path])
        }
        Edit::CopyFile { file, name } => {
            let text = files[pick(*file)].1.clone();
            let name = name.to_string();
            match files.iter_mut().find(|(p, _)| *p == name) {
                Some(existing) => existing.1 = text,
                None => files.push((name.clone(), text)),
            }
            (vec![name], Vec::new())
        }
    }
}

/// Edits applied per case, and cases: 64 x 10 = 640 random edits, each followed by an
/// incremental analysis compared with a cold check (override the case count with
/// `SLUICE_INCREMENTAL_CASES`).
const EDITS_PER_CASE: usize = 10;

fn cases() -> u32 {
    std::env::var("SLUICE_INCREMENTAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Differential test: 640 random edits (64 cases of 10 edits) over the fixture
    /// projects — characters inserted and deleted, a type swapped, a column renamed, a
    /// file deleted or added — applied to one [`Database`]. After every edit the
    /// incremental result (the JSON report and the plan JSON) equals a cold `check` of
    /// the same texts.
    #[test]
    fn incremental_equals_cold(
        project in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), EDITS_PER_CASE),
    ) {
        let projects = fixture_projects();
        let root = projects[project.index(projects.len())].clone();
        let sources = sluice_compiler::load_project(&root).unwrap();
        let mut files = texts(&sources);
        let mut db = Database::new(root.clone());
        for (path, text) in &files {
            db.set_file(path, text.clone());
        }
        let (analysis, db_sources) = db.analysis();
        prop_assert_eq!(outputs(&analysis, &db_sources), cold(&root, &files));
        for edit in &edits {
            let (changed, removed) = apply(&mut files, edit);
            for path in &changed {
                let text = files.iter().find(|(p, _)| p == path).unwrap().1.clone();
                db.set_file(path, text);
            }
            for path in &removed {
                db.remove_file(path);
            }
            let (analysis, db_sources) = db.analysis();
            let incremental = outputs(&analysis, &db_sources);
            let expected = cold(&root, &files);
            prop_assert_eq!(&incremental.0, &expected.0, "report after {:?}", edit);
            prop_assert_eq!(&incremental.1, &expected.1, "plan after {:?}", edit);
        }
    }
}

const SCHEMAS: &str = "\
from sluice import Schema


class Orders(Schema):
    id: int
    amount: float
    region: str


class Clean(Schema):
    id: int
    amount: float
";

const SOURCES: &str = "\
from sluice import Source

from schemas import Orders

orders = Source(Orders)
";

/// A small DAG: `orders` -> `clean` (declared `Clean`) -> `big` (inferred) -> `top`
/// (inferred), and `orders` -> `other`.
fn dag() -> Database {
    let mut db = Database::new(PathBuf::from("/project"));
    db.set_file("schemas.py", SCHEMAS.to_owned());
    db.set_file("sources.py", SOURCES.to_owned());
    db.set_file(
        "clean.sql",
        "-- clean: Clean <- orders\nSELECT id, amount FROM orders WHERE amount > 5\n".to_owned(),
    );
    db.set_file(
        "big.sql",
        "SELECT id, amount FROM clean WHERE amount > 100\n".to_owned(),
    );
    db.set_file("top.sql", "SELECT id FROM big\n".to_owned());
    db.set_file("other.sql", "SELECT region FROM orders\n".to_owned());
    let (analysis, _) = db.analysis();
    assert_eq!(analysis.summary.errors, 0, "{:#?}", analysis.diagnostics);
    assert_eq!(db.stats().files_parsed, 6);
    assert_eq!(db.stats().tables_checked.len(), 5);
    db
}

fn checked(db: &Database) -> Vec<&str> {
    let mut names: Vec<&str> = db
        .stats()
        .tables_checked
        .iter()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// A body edit in a mid-DAG node whose effective output is its declared contract:
/// one file re-parsed, that node alone re-checked (early cutoff at its contract).
#[test]
fn body_edit_behind_a_contract_rechecks_that_node_only() {
    let mut db = dag();
    db.set_file(
        "clean.sql",
        "-- clean: Clean <- orders\nSELECT id, amount FROM orders WHERE amount > 7\n".to_owned(),
    );
    let (analysis, _) = db.analysis();
    assert_eq!(analysis.summary.errors, 0);
    assert_eq!(db.stats().files_parsed, 1);
    assert_eq!(checked(&db), ["clean"]);
    assert_eq!(db.stats().tables_reused, 4);
    // No Python file changed: the modules, schemas and Python definitions are reused,
    // and of the SQL definitions only the edited file's is made again.
    assert!(!db.stats().py_front_rebuilt);
    assert!(!db.stats().schemas_rebuilt);
    assert_eq!(db.stats().sql_definitions_made, 1);
}

/// A body edit in an inferred node that leaves its inferred output (and every span in
/// it) unchanged: its consumers are memo hits.
#[test]
fn body_edit_with_unchanged_inferred_output_cuts_off() {
    let mut db = dag();
    db.set_file(
        "big.sql",
        "SELECT id, amount FROM clean WHERE amount > 200\n".to_owned(),
    );
    db.analysis();
    assert_eq!(db.stats().files_parsed, 1);
    assert_eq!(checked(&db), ["big"]);
}

/// A body edit that changes an inferred output re-checks its consumers too.
#[test]
fn body_edit_changing_an_inferred_output_rechecks_its_consumers() {
    let mut db = dag();
    db.set_file(
        "big.sql",
        "SELECT id, amount * 2 AS amount FROM clean\n".to_owned(),
    );
    db.analysis();
    assert_eq!(checked(&db), ["big", "top"]);
}

/// A contract change (a column's type in `Clean`) re-checks exactly the node that
/// declares it and the consumers its changed output reaches; `orders` and `other` are
/// memo hits.
#[test]
fn contract_change_rechecks_exactly_the_consumers() {
    let mut db = dag();
    db.set_file(
        "schemas.py",
        SCHEMAS.replace(
            "class Clean(Schema):\n    id: int",
            "class Clean(Schema):\n    id: str",
        ),
    );
    let (analysis, _) = db.analysis();
    assert_eq!(db.stats().files_parsed, 1);
    assert_eq!(checked(&db), ["big", "clean", "top"]);
    // A Python file changed: the Python front is rebuilt. Of the SQL definitions only
    // `clean`'s is made again: its header names the changed schema; the others name none.
    assert!(db.stats().py_front_rebuilt);
    assert!(db.stats().schemas_rebuilt);
    assert_eq!(db.stats().sql_definitions_made, 1);
    // The change is reported: the query computes an integer where `Clean` says str.
    assert!(analysis.summary.errors > 0, "{:#?}", analysis.diagnostics);
}

/// A Python edit that changes no schema rebuilds the Python front but re-makes no SQL
/// definition, and re-checks only the tables of the edited file.
#[test]
fn python_edit_without_schema_change_keeps_sql_definitions() {
    let mut db = dag();
    db.set_file("sources.py", format!("{SOURCES}# a comment\n"));
    let (analysis, _) = db.analysis();
    assert_eq!(analysis.summary.errors, 0);
    assert!(db.stats().py_front_rebuilt);
    // Its imports and classes are unchanged: schema resolution is reused.
    assert!(!db.stats().schemas_rebuilt);
    assert_eq!(db.stats().sql_definitions_made, 0);
    assert_eq!(checked(&db), ["orders"]);
}

/// An edit inside a schema class body keeps every class and schema id: only the
/// schemas of the edited file, and those that read them (a subclass, a schema
/// inheriting a column) are resolved again; the other modules' definitions are
/// reused; and the result is exactly a cold check's, errors included.
#[test]
fn class_body_edit_re_resolves_that_file_and_its_dependents_only() {
    let base = "from sluice import Schema\n\nclass Base(Schema):\n    id: int\n    amount: float\n";
    let files = [
        ("base.py", base.to_owned()),
        (
            "child.py",
            "from sluice import Schema\nfrom base import Base\n\n\
             class Child(Base):\n    note: str\n\n\
             class Grandchild(Child):\n    extra: int\n\n\
             class Borrow(Schema):\n    total = Base.amount\n"
                .to_owned(),
        ),
        (
            "other.py",
            "from sluice import Schema, Source\n\nclass Lone(Schema):\n    x: int\n\n\
             lone = Source(Lone)\n\n\
             def keep(l: Lone = lone) -> Lone:\n    return l\n"
                .to_owned(),
        ),
        (
            "nodes.py",
            "from sluice import Source\nfrom base import Base\n\nbase = Source(Base)\n".to_owned(),
        ),
        (
            "use.sql",
            "-- use: Borrow <- base\nSELECT amount AS total FROM base\n".to_owned(),
        ),
    ];
    let mut db = Database::new(PathBuf::from("/project"));
    for (path, text) in &files {
        db.set_file(path, text.clone());
    }
    let (analysis, _) = db.analysis();
    assert_eq!(analysis.summary.errors, 0, "{:#?}", analysis.diagnostics);
    assert_eq!(db.stats().schemas_resolved, 5);
    // `amount` becomes text, and a column is renamed: Base, and Child, Grandchild and
    // Borrow, which read it, are resolved again; Lone is not.
    let edited = base
        .replace("amount: float", "amount: str")
        .replace("id: int", "ident: int");
    db.set_file("base.py", edited.clone());
    let (analysis, sources) = db.analysis();
    assert_eq!(db.stats().schemas_resolved, 4);
    // Only the edited module's nodes are made again.
    assert_eq!(db.stats().py_modules_defined, 1);
    // Borrow's inherited column follows Base's new type; Grandchild has Base's new
    // column through Child.
    let schema = |name: &str| analysis.schemas.iter().find(|s| s.name == name).unwrap();
    let total = &schema("Borrow").columns[0];
    assert_eq!(
        total.ty.as_ref().map(|t| t.data_type.clone()),
        Some(arrow_schema::DataType::Utf8)
    );
    assert!(schema("Grandchild").column("ident").is_some());
    let mut now: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.clone()))
        .collect();
    now[0].1 = edited;
    assert_eq!(
        outputs(&analysis, &sources),
        cold(Path::new("/project"), &now)
    );
    // A broken inherited column is reported by the schema that inherits it, and goes
    // away with the fix, without a cold start.
    db.set_file("base.py", base.replace("amount", "amont"));
    let (analysis, _) = db.analysis();
    assert!(
        analysis
            .diagnostics
            .iter()
            .any(|d| d.file == db.file_id("child.py").unwrap()),
        "{:#?}",
        analysis.diagnostics
    );
    db.set_file("base.py", base.to_owned());
    let (analysis, _) = db.analysis();
    assert_eq!(analysis.summary.errors, 0, "{:#?}", analysis.diagnostics);
    assert_eq!(db.stats().schemas_resolved, 4);
}

/// Adding an unrelated file re-checks nothing, even one that sorts first and declares
/// a schema (shifting every schema's and table's position).
#[test]
fn adding_an_unrelated_file_rechecks_nothing() {
    let mut db = dag();
    db.set_file(
        "aaa_first.py",
        "from sluice import Schema\n\n\nclass Extra(Schema):\n    x: int\n".to_owned(),
    );
    let (analysis, _) = db.analysis();
    assert_eq!(db.stats().files_parsed, 1);
    assert_eq!(checked(&db), Vec::<&str>::new());
    assert_eq!(db.stats().tables_reused, 5);
    assert_eq!(analysis.summary.errors, 0);
    // `Extra` sorts first, so `Clean` has another id: `clean`'s definition (whose header
    // names `Clean`) is made again, with the same content; the other SQL nodes' are not.
    assert!(db.stats().py_front_rebuilt);
    assert!(db.stats().schemas_rebuilt);
    assert_eq!(db.stats().sql_definitions_made, 1);
    // File ids are interned by path: the new file did not renumber the others.
    let sources = db.analysis().1;
    assert_eq!(sources.file_id("aaa_first.py"), db.file_id("aaa_first.py"));
    assert_ne!(
        sources.files().next().unwrap().0,
        sluice_compiler::FileId(0)
    );
}

/// Unchanged texts give the last analysis itself; setting a file to its current text
/// is no change.
#[test]
fn unchanged_texts_return_the_last_analysis() {
    let mut db = dag();
    let (first, _) = db.analysis();
    db.set_file("top.sql", "SELECT id FROM big\n".to_owned());
    let (second, _) = db.analysis();
    assert!(std::sync::Arc::ptr_eq(&first, &second));
}

/// Removing a node's file removes its table and re-checks its consumers, which now
/// read an unknown table; files outside the project's rules are ignored.
#[test]
fn removing_a_file_and_ignored_paths() {
    let mut db = dag();
    db.remove_file("big.sql");
    let (analysis, _) = db.analysis();
    assert_eq!(db.stats().files_parsed, 0);
    assert_eq!(checked(&db), ["top"]);
    assert!(
        analysis
            .diagnostics
            .iter()
            .any(|d| d.message.contains("unknown table `big`")),
        "{:#?}",
        analysis.diagnostics
    );
    db.set_file(".venv/lib/x.py", "def f(a=orders): pass\n".to_owned());
    db.set_file("sub/sluice.toml", "not toml [".to_owned());
    db.set_file("README.md", "# hi".to_owned());
    let (again, _) = db.analysis();
    assert!(std::sync::Arc::ptr_eq(&analysis, &again));
}

/// The language server moves a database to its analysis thread (a compile-time check).
#[test]
fn database_is_send() {
    fn send<T: Send>(_: &T) {}
    send(&dag());
}

/// The memo keeps only what the latest analysis used: after many edits it holds one
/// parse per file and one step per table, whatever was edited before.
#[test]
fn memo_does_not_grow_per_edit() {
    let mut db = dag();
    for i in 0..30 {
        db.set_file(
            "big.sql",
            format!("SELECT id, amount FROM clean WHERE amount > {i}\n"),
        );
        db.set_file(
            &format!("extra_{}.sql", i % 3),
            format!("SELECT id FROM top -- {i}\n"),
        );
        db.analysis();
    }
    // 6 files + extra_0..2; 5 tables + extra_0..2.
    assert_eq!(db.stats().memo_files, 9);
    assert_eq!(db.stats().memo_tables, 8);
    assert_eq!(db.stats().memo_sql_definitions, 7);
}

/// A SQL node plans its `$key` placeholders with the declared run parameters' types
/// (`bauplan_project.yml`): changing a type re-checks the SQL nodes, and the result is
/// the cold analysis' (their memo keys include the types).
#[test]
fn a_run_parameters_declared_type_is_part_of_a_sql_nodes_key() {
    let mut db = dag();
    let yml = |ty: &str| {
        format!("project:\n  name: p\nparameters:\n  n:\n    type: {ty}\n    default: 1\n")
    };
    db.set_file("bauplan_project.yml", yml("int"));
    db.set_file(
        "tagged.sql",
        "SELECT id, $n AS tag FROM orders\n".to_owned(),
    );
    let tag = |db: &mut Database| {
        let (analysis, sources) = db.analysis();
        let plan = sluice_compiler::plan::build(&analysis, &sources);
        let node = plan.nodes.iter().find(|n| n.name == "tagged").unwrap();
        let column = &node.output_schema.as_ref().unwrap()[1];
        (column.data_type.clone(), column.nullable)
    };
    assert_eq!(tag(&mut db), (Some("Int64".to_owned()), Some(false)));
    db.set_file("bauplan_project.yml", yml("float"));
    assert_eq!(tag(&mut db), (Some("Float64".to_owned()), Some(false)));
    // Every SQL node's key has the types (a type edit is rare: no finer key).
    assert_eq!(checked(&db), ["big", "clean", "other", "tagged", "top"]);
    let (analysis, sources) = db.analysis();
    assert_eq!(
        outputs(&analysis, &sources),
        cold(Path::new("/project"), &texts(&sources))
    );
}
