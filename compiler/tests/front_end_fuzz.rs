//! Property tests: random and mutated sources never panic the compiler, every
//! diagnostic points inside its file, and broken syntax always yields a diagnostic.

use proptest::prelude::*;
use sluice_compiler::diagnostic::{JsonDiagnostic, RenderOptions, render_human};
use sluice_compiler::{Code, FileKind, SourceFile, SourceSet};

const PAPER_SCHEMAS: &str = include_str!("../../tests/fixtures/check/ok_paper_listings/schemas.py");
const PAPER_SQL: &str =
    include_str!("../../tests/fixtures/check/ok_paper_listings/parent_table.sql");
const PAPER_CHILD: &str = include_str!("../../tests/fixtures/check/ok_paper_listings/child.py");
const PAPER_FAMILY: &str = include_str!("../../tests/fixtures/check/ok_paper_listings/family.py");

fn paper_files() -> [(&'static str, String); 4] {
    [
        ("schemas.py", PAPER_SCHEMAS.to_owned()),
        ("parent_table.sql", PAPER_SQL.to_owned()),
        ("child.py", PAPER_CHILD.to_owned()),
        ("family.py", PAPER_FAMILY.to_owned()),
    ]
}

/// Fragments that stress both grammars: brackets, quotes, keywords, indentation,
/// comments, headers and multi-byte characters.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ":",
    "=",
    ",",
    ".",
    "|",
    "\n",
    "    ",
    "\t",
    "'",
    "\"",
    "\"\"\"",
    "#",
    "--",
    "-- t: S <- a, b\n",
    "<-",
    "def ",
    "class ",
    "return ",
    "Schema",
    "Source(",
    "Table(\"",
    "UNION(",
    "None",
    "SELECT ",
    " FROM ",
    " JOIN ",
    " WITH ",
    " AS ",
    ";",
    "*",
    "é",
    "🚚",
    "\u{feff}",
    "\r\n",
    "\\",
];

/// Fragments of `bauplan_project.yml`: its keys and values, and YAML's punctuation.
const YAML_FRAGMENTS: &[&str] = &[
    "parameters:\n",
    "project:\n",
    "  ",
    "    ",
    "min_miles:\n",
    "type: ",
    "float",
    "int",
    "bool",
    "str",
    "secret",
    "default: ",
    "1.5",
    "7",
    "true",
    "'é🚚'",
    "\"x\"",
    "~",
    "null",
    "\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    ": ",
    "? ",
    "&a ",
    "*a",
    "!!int ",
    "|\n",
    "#",
    "---\n",
    "\t",
    "\u{feff}",
];

fn project(files: &[(&str, String)]) -> SourceSet {
    let files = files
        .iter()
        .map(|(path, text)| {
            let kind =
                FileKind::of(std::path::Path::new(path)).expect("fixture paths have known kinds");
            SourceFile::new(*path, kind, text.clone())
        })
        .collect();
    SourceSet::new("/project", files)
}

/// Checks the invariants every analysis must hold, whatever the input.
fn assert_sound(sources: &SourceSet) -> Vec<sluice_compiler::Diagnostic> {
    let analysis = sluice_compiler::check(sources);
    for d in &analysis.diagnostics {
        let text = &sources.file(d.file).text;
        assert!(
            d.span.start <= d.span.end && d.span.end <= text.len(),
            "span {:?} outside file: {d:?}",
            d.span
        );
        assert!(
            text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end),
            "span not on char boundaries: {d:?}"
        );
        for label in &d.labels {
            let text = &sources.file(label.file).text;
            assert!(
                label.span.end <= text.len()
                    && text.is_char_boundary(label.span.start)
                    && text.is_char_boundary(label.span.end)
            );
        }
        let json = JsonDiagnostic::new(d, sources);
        assert!(
            json.line >= 1
                && json.column >= 1
                && (json.end_line, json.end_column) >= (json.line, json.column)
        );
        let rendered = render_human(d, sources, RenderOptions::default());
        assert!(rendered.contains(d.code.as_str()), "{rendered}");
    }
    let again = sluice_compiler::check(sources);
    assert_eq!(
        analysis.diagnostics, again.diagnostics,
        "check is deterministic"
    );
    analysis.diagnostics
}

fn python_has_syntax_error(text: &str) -> bool {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .unwrap();
    parser
        .parse(text, None)
        .is_none_or(|t| t.root_node().has_error())
}

fn sql_fails_to_parse(text: &str) -> bool {
    sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, text)
        .map_or(true, |s| s.len() != 1)
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, &'static str),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(FRAGMENTS))
            .prop_map(|(at, f)| Mutation::Insert(at, f)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Mutation::Delete(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..80).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_owned();
    for m in mutations {
        let len = text.len().max(1);
        match m {
            Mutation::Insert(at, fragment) => {
                let at = text.floor_char_boundary(at % (len + 1));
                text.insert_str(at, fragment);
            }
            Mutation::Delete(at, n) => {
                let start = text.floor_char_boundary(at % len);
                let end = text.floor_char_boundary(start + n);
                text.replace_range(start..end, "");
            }
            Mutation::Truncate(at) => {
                let at = text.floor_char_boundary(at % len);
                text.truncate(at);
            }
            Mutation::Duplicate(at, n) => {
                let start = text.floor_char_boundary(at % len);
                let end = text.floor_char_boundary(start + n);
                let copy = text[start..end].to_owned();
                text.insert_str(end, &copy);
            }
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(py in any::<String>(), sql in any::<String>(), toml in any::<String>()) {
        let sources = project(&[("a.py", py), ("b.sql", sql), ("sluice.toml", toml)]);
        assert_sound(&sources);
    }

    #[test]
    fn fragment_soup_never_panics(py in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..60),
                                  sql in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..60)) {
        let sources = project(&[("soup.py", py.concat()), ("soup.sql", sql.concat())]);
        assert_sound(&sources);
    }

    #[test]
    fn bauplan_project_files_never_panic(text in any::<String>(),
                                         soup in prop::collection::vec(prop::sample::select(YAML_FRAGMENTS), 0..60)) {
        for yml in [text, soup.concat()] {
            let sources = project(&[("bauplan_project.yml", yml), ("a.py", "import bauplan\n".to_owned())]);
            assert_sound(&sources);
        }
    }

    #[test]
    fn mutated_paper_project_always_reports_broken_syntax(
        target in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut files = paper_files();
        files[target].1 = apply(&files[target].1, &mutations);
        let sources = project(&files);
        let diagnostics = assert_sound(&sources);
        let (path, text) = &files[target];
        let broken = if path.ends_with(".py") { python_has_syntax_error(text) } else { sql_fails_to_parse(text) };
        if broken {
            let codes: &[Code] = if path.ends_with(".py") { &[Code::PythonSyntax] } else { &[Code::SqlSyntax, Code::SqlNotAQuery] };
            let file = sources.files().find(|(_, f)| f.path == *path).map(|(id, _)| id).unwrap();
            prop_assert!(
                diagnostics.iter().any(|d| d.file == file && codes.contains(&d.code)),
                "broken {path} produced no syntax diagnostic:\n{text}\n{diagnostics:#?}"
            );
        }
    }
}

#[test]
fn unmutated_paper_project_is_clean() {
    let sources = project(&paper_files());
    assert_eq!(assert_sound(&sources), vec![]);
}
