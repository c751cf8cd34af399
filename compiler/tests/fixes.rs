//! Every fix the compiler offers repairs its diagnostic: over each project in
//! tests/fixtures/check/ and compiler/tests/fixes/, each fix of each diagnostic is applied
//! to the text, the project is checked again, and that diagnostic must be gone (and no
//! new error may appear in its place). The edits must replace exactly the name the
//! fix's title names. `fixes.snap` shows every fix as the lines it touches, before and after.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sluice_compiler::diagnostic::Fix;
use sluice_compiler::{Diagnostic, SourceFile, SourceSet, check, load_project};

fn projects() -> Vec<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = Vec::new();
    for base in [
        manifest.join("../tests/fixtures/check"),
        manifest.join("tests/fixes"),
    ] {
        for entry in std::fs::read_dir(&base).expect("fixture folder") {
            let path = entry.expect("fixture entry").path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    dirs.sort();
    dirs
}

/// The sources with one fix applied (edits in reverse order per file).
fn apply(sources: &SourceSet, fix: &Fix) -> SourceSet {
    let files = sources
        .files()
        .map(|(id, file)| {
            let mut text = file.text.clone();
            let mut edits: Vec<_> = fix.edits.iter().filter(|e| e.file == id).collect();
            edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
            for edit in edits {
                text.replace_range(edit.span.clone(), &edit.replacement);
            }
            SourceFile::new(file.path.clone(), file.kind, text)
        })
        .collect();
    SourceSet::new(sources.root.clone(), files)
}

fn same(a: &Diagnostic, b: &Diagnostic, before: &SourceSet, after: &SourceSet) -> bool {
    a.code == b.code
        && a.message == b.message
        && before.file(a.file).path == after.file(b.file).path
}

/// The lines of `text` from the one holding `from` to the one holding `to`.
fn lines_of(text: &str, from: usize, to: usize) -> std::str::Lines<'_> {
    let start = text[..from].rfind('\n').map_or(0, |i| i + 1);
    let end = text[to..].find('\n').map_or(text.len(), |i| to + i);
    text[start..end].lines()
}

#[test]
fn every_fix_repairs_its_diagnostic() {
    let mut report = String::new();
    let mut fixes = 0;
    for dir in projects() {
        let sources = load_project(&dir).expect("fixture loads");
        let analysis = check(&sources);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let errors_before = analysis.diagnostics.iter().filter(|d| d.is_error()).count();
        for d in &analysis.diagnostics {
            for fix in &d.fixes {
                fixes += 1;
                assert!(!fix.edits.is_empty(), "{name}: fix without edits: {fix:?}");
                // A did-you-mean replaces exactly the name it names.
                if let Some(rest) = fix.title.strip_prefix("Change `") {
                    let written = rest.split('`').next().unwrap_or("");
                    let edit = &fix.edits[0];
                    let replaced = &sources.file(edit.file).text[edit.span.clone()];
                    assert!(
                        replaced.eq_ignore_ascii_case(written),
                        "{name}: `{}` edits `{replaced}`",
                        fix.title
                    );
                }
                let fixed = apply(&sources, fix);
                let after = check(&fixed);
                let before_count = analysis
                    .diagnostics
                    .iter()
                    .filter(|o| same(d, o, &sources, &sources))
                    .count();
                let after_count = after
                    .diagnostics
                    .iter()
                    .filter(|o| same(d, o, &sources, &fixed))
                    .count();
                let errors_after = after.diagnostics.iter().filter(|d| d.is_error()).count();
                assert!(
                    after_count < before_count,
                    "{name}: `{}` left {} [{}] {}",
                    fix.title,
                    d.code,
                    d.message,
                    sources.file(d.file).path
                );
                assert!(
                    errors_after <= errors_before,
                    "{name}: `{}` made new errors: {:#?}",
                    fix.title,
                    after.diagnostics
                );
                let _ = writeln!(report, "{name} [{}] {}", d.code, fix.title);
                for edit in &fix.edits {
                    let path = &sources.file(edit.file).path;
                    let old = sources.file(edit.file).text.as_str();
                    // The lines the edit touches, before and after (this edit alone).
                    let mut new = old.to_owned();
                    new.replace_range(edit.span.clone(), &edit.replacement);
                    let _ = writeln!(report, "  {path}");
                    for line in lines_of(old, edit.span.start, edit.span.end) {
                        let _ = writeln!(report, "  - {}", line.trim_end());
                    }
                    let end = edit.span.start + edit.replacement.len();
                    for line in lines_of(&new, edit.span.start, end) {
                        let _ = writeln!(report, "  + {}", line.trim_end());
                    }
                }
            }
        }
    }
    assert!(fixes > 0, "no fixture offers a fix");
    insta::assert_snapshot!("fixes", report);
}
