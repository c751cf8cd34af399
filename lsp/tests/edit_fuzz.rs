//! Random edit sequences through the server: whatever the edits (ranges past the end,
//! reversed, inside surrogate pairs, CRLF, emoji), the server neither panics nor hangs,
//! and once it settles, what it published equals `check` of the final texts.
//!
//! Each run tries `CASES` sequences of up to `MAX_EDITS` operations (nine in ten are
//! edits: about 1,150 edits per run) over examples/shop and the unicode fixture, in
//! UTF-8 and UTF-16; `PROPTEST_CASES` raises it (`--nocapture` prints the count).
//! `PROPTEST_CASES=1000` (18,000+ edits) passed when this was written.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use serde_json::json;
use sluice_compiler::source::{ColumnUnit, EditorPosition};
use sluice_compiler::{FileKind, SourceFile, SourceSet};
use support::{Client, copy_dir, repo};

const CASES: u32 = 64;

/// Edits sent to servers so far in this run (printed with `--nocapture`).
static EDITS: AtomicUsize = AtomicUsize::new(0);
const MAX_EDITS: usize = 40;

const PROJECTS: [(&str, &[&str]); 2] = [
    (
        "examples/shop",
        &[
            "schemas.py",
            "models/orders_enriched.sql",
            "models/daily_revenue.sql",
            "analytics/customers.py",
        ],
    ),
    ("lsp/tests/fixtures/unicode", &["schemas.py", "labels.sql"]),
];

#[derive(Clone, Debug)]
enum Op {
    /// Replace a range (line and column, possibly far outside the text) by text.
    Edit {
        file: usize,
        start: (u32, u32),
        end: (u32, u32),
        text: String,
    },
    /// Replace the whole text.
    Replace { file: usize, text: String },
    /// Let the server start analysing before the next edit.
    Pause(u64),
}

fn piece() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "",
        "a",
        "x",
        " ",
        "\n",
        "\r\n",
        "é",
        "😀",
        "🚚",
        "(",
        ")",
        ",",
        "'",
        "\"",
        ":",
        "-- ",
        "SELECT ",
        " FROM ",
        "status",
        "amount",
        "int",
        "str",
        "class S(Schema):\n    a: int\n",
        "\t",
        "#",
        "é😀\r\n",
    ]);
    prop::collection::vec(atoms, 0..4).prop_map(|v| v.concat())
}

fn op() -> impl Strategy<Value = Op> {
    let position = (0u32..40, 0u32..90);
    prop_oneof![
        8 => (0usize..4, position.clone(), position, piece())
            .prop_map(|(file, start, end, text)| Op::Edit { file, start, end, text }),
        1 => (0usize..4, piece()).prop_map(|(file, text)| Op::Replace { file, text }),
        1 => (0u64..40).prop_map(Op::Pause),
    ]
}

/// The byte offset of an editor position, written independently of the server's:
/// lines end at `\n`; a line's content excludes its `\r\n`; columns past the content
/// are its end; a column inside a character is that character's start.
fn offset(text: &str, line: u32, column: u32, unit: ColumnUnit) -> usize {
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let mut end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if end < text.len() && text[..end].ends_with('\r') && end > start {
        end -= 1;
    }
    let mut counted = 0;
    for (i, c) in text[start..end].char_indices() {
        let width = match unit {
            ColumnUnit::Utf8 => c.len_utf8(),
            ColumnUnit::Utf16 => c.len_utf16(),
        };
        if counted + width > column as usize {
            return start + i;
        }
        counted += width;
    }
    end
}

/// (file, line, column, end line, end column, code, message) of every diagnostic.
type Row = (String, u32, u32, u32, u32, String, String);

fn expected(root: &Path, texts: &BTreeMap<String, String>, unit: ColumnUnit) -> Vec<Row> {
    let disk = sluice_compiler::load_project(root).unwrap();
    let mut files: BTreeMap<String, SourceFile> = disk
        .files()
        .map(|(_, f)| (f.path.clone(), f.clone()))
        .collect();
    for (rel, text) in texts {
        let kind = FileKind::of(Path::new(rel)).unwrap();
        files.insert(
            rel.clone(),
            SourceFile::new(rel.as_str(), kind, text.as_str()),
        );
    }
    let sources = SourceSet::new(root, files.into_values().collect());
    let analysis = sluice_compiler::check(&sources);
    let mut rows: Vec<Row> = analysis
        .diagnostics
        .iter()
        .map(|d| {
            let file = sources.file(d.file);
            let at = |o| file.line_index.editor_position(&file.text, o, unit);
            let (EditorPosition { line, column }, end) = (at(d.span.start), at(d.span.end));
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message = format!("{message}\nhelp: {help}");
            }
            let code = d.code.as_str().to_owned();
            (
                file.path.clone(),
                line,
                column,
                end.line,
                end.column,
                code,
                message,
            )
        })
        .collect();
    rows.sort();
    rows
}

fn published(client: &Client) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for (uri, (_, diagnostics)) in &client.diagnostics {
        for d in diagnostics {
            let code = match &d.code {
                Some(lsp_types::NumberOrString::String(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            let r = d.range;
            let (l, c, el, ec) = (r.start.line, r.start.character, r.end.line, r.end.character);
            rows.push((client.rel(uri), l, c, el, ec, code, d.message.clone()));
        }
    }
    rows.sort();
    rows
}

fn run(project: usize, utf8: bool, ops: &[Op]) {
    let (fixture, files) = PROJECTS[project];
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    copy_dir(&repo().join(fixture), &root);
    let (caps, unit) = if utf8 {
        (
            json!({ "general": { "positionEncodings": ["utf-8"] } }),
            ColumnUnit::Utf8,
        )
    } else {
        (json!({}), ColumnUnit::Utf16)
    };
    let mut client = Client::start_in(&root, caps);
    let mut texts = BTreeMap::new();
    for rel in files {
        client.open(rel);
        texts.insert(
            rel.to_string(),
            std::fs::read_to_string(root.join(rel)).unwrap(),
        );
    }
    for op in ops {
        match op {
            Op::Edit {
                file,
                start,
                end,
                text,
            } => {
                let rel = files[file % files.len()];
                let current = texts.get_mut(rel).unwrap();
                let a = offset(current, start.0, start.1, unit);
                let b = offset(current, end.0, end.1, unit);
                current.replace_range(a.min(b)..a.max(b), text);
                client.edit(rel, (*start, *end), text);
            }
            Op::Replace { file, text } => {
                let rel = files[file % files.len()];
                texts.insert(rel.to_owned(), text.clone());
                client.change(rel, json!({ "text": text }));
            }
            Op::Pause(ms) => std::thread::sleep(std::time::Duration::from_millis(*ms)),
        }
    }
    client.settle();
    let edits = ops.iter().filter(|op| !matches!(op, Op::Pause(_))).count();
    let total = EDITS.fetch_add(edits, Ordering::Relaxed) + edits;
    eprintln!("edit_fuzz: {total} edits tried so far");
    assert!(client.logs.is_empty(), "{:?}", client.logs);
    assert_eq!(published(&client), expected(&root, &texts, unit));
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
    ))]

    #[test]
    fn random_edits_end_in_the_diagnostics_of_check(
        project in 0usize..2,
        utf8 in any::<bool>(),
        ops in prop::collection::vec(op(), 1..MAX_EDITS),
    ) {
        run(project, utf8, &ops);
    }
}
