//! The compiler's diagnostics as LSP diagnostics: ranges in the negotiated encoding,
//! the stable code linked to docs/language.md, labels as related information, and the
//! help (did-you-mean) appended to the message as `help: ...`, as rust-analyzer does.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lsp_types::{
    CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, PositionEncodingKind, Range, Url,
};
use sluice_compiler::source::{ColumnUnit, SourceFile, Span};
use sluice_compiler::{Diagnostic, FileId, Severity, SourceSet};

/// The heading of docs/language.md that documents every code (its GitHub anchor).
pub const CODES_ANCHOR: &str = "15-diagnostic-codes";

/// Where a code is documented: docs/language.md in the repository of
/// `workspace.package.repository`.
pub fn docs_url() -> Option<Url> {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    Url::parse(&format!(
        "{repository}/blob/main/docs/language.md#{CODES_ANCHOR}"
    ))
    .ok()
}

/// The encoding to use: `utf-8` when the client offers it, else the default `utf-16`.
pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> (PositionEncodingKind, ColumnUnit) {
    if offered.is_some_and(|o| o.contains(&PositionEncodingKind::UTF8)) {
        (PositionEncodingKind::UTF8, ColumnUnit::Utf8)
    } else {
        (PositionEncodingKind::UTF16, ColumnUnit::Utf16)
    }
}

pub fn range(file: &SourceFile, span: &Span, unit: ColumnUnit) -> Range {
    let at = |offset| {
        let p = file.line_index.editor_position(&file.text, offset, unit);
        Position::new(p.line, p.column)
    };
    Range::new(at(span.start), at(span.end.max(span.start)))
}

/// The URI of a project file.
pub fn file_url(root: &Path, rel: &str) -> Option<Url> {
    Url::from_file_path(root.join(rel)).ok()
}

pub fn diagnostic(d: &Diagnostic, sources: &SourceSet, unit: ColumnUnit) -> lsp_types::Diagnostic {
    let file = sources.file(d.file);
    let primary = range(file, &d.span, unit);
    let mut related = Vec::new();
    if let (Some(label), Some(uri)) = (&d.label, file_url(&sources.root, &file.path)) {
        related.push(DiagnosticRelatedInformation {
            location: Location::new(uri, primary),
            message: label.clone(),
        });
    }
    for label in &d.labels {
        let other = sources.file(label.file);
        if let Some(uri) = file_url(&sources.root, &other.path) {
            related.push(DiagnosticRelatedInformation {
                location: Location::new(uri, range(other, &label.span, unit)),
                message: label.message.clone(),
            });
        }
    }
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    lsp_types::Diagnostic {
        range: primary,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_owned())),
        code_description: docs_url().map(|href| CodeDescription { href }),
        source: Some("sluice".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The files of a checked project that have diagnostics, with them, in report order.
/// Linear in the diagnostics, not in the project's files: an edit in a large project
/// converts only what is reported.
pub fn by_file(
    sources: &SourceSet,
    diagnostics: &[Diagnostic],
    unit: ColumnUnit,
) -> BTreeMap<Url, Vec<lsp_types::Diagnostic>> {
    let mut files: BTreeMap<_, Vec<_>> = BTreeMap::new();
    // File ids are the database's (stable per path), not positions: look each one up.
    let mut urls: HashMap<FileId, Option<Url>> = HashMap::new();
    for d in diagnostics {
        let url = urls
            .entry(d.file)
            .or_insert_with(|| file_url(&sources.root, &sources.file(d.file).path));
        if let Some(url) = url {
            files
                .entry(url.clone())
                .or_default()
                .push(diagnostic(d, sources, unit));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to `-`.
    fn anchor(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    #[test]
    fn every_code_is_documented_under_the_linked_heading() {
        let docs = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md"),
        )
        .unwrap();
        let mut sections = docs.split("\n## ").skip(1);
        let section = sections
            .find(|s| anchor(s.lines().next().unwrap_or("")) == CODES_ANCHOR)
            .expect("docs/language.md has the heading CODES_ANCHOR names");
        for code in sluice_compiler::Code::ALL {
            assert!(
                section.contains(&format!("\n| {code} |")),
                "{code} is not in the table"
            );
        }
        let url = docs_url().unwrap();
        assert_eq!(url.fragment(), Some(CODES_ANCHOR));
        assert!(url.path().ends_with("/docs/language.md"), "{url}");
        assert!(url.as_str().starts_with(env!("CARGO_PKG_REPOSITORY")));
    }

    #[test]
    fn utf8_is_chosen_only_when_offered() {
        let both = [PositionEncodingKind::UTF16, PositionEncodingKind::UTF8];
        assert_eq!(negotiate(Some(&both)).1, ColumnUnit::Utf8);
        assert_eq!(negotiate(Some(&both[..1])).1, ColumnUnit::Utf16);
        assert_eq!(negotiate(None).0, PositionEncodingKind::UTF16);
    }
}
