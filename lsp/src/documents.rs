//! The buffers the editor has open: their text and version, kept in step with
//! `didOpen`/`didChange`/`didClose`. Incremental changes are applied with the negotiated
//! position encoding; a range outside the text is clamped, never an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{Position, TextDocumentContentChangeEvent, Url};
use sluice_compiler::source::{ColumnUnit, EditorPosition, LineIndex};

#[derive(Clone, Debug)]
pub struct Document {
    pub text: String,
    pub version: i32,
    /// The file it shows, when its URI is a `file:` URI.
    pub path: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Documents {
    docs: HashMap<Url, Document>,
    unit: ColumnUnit,
}

impl Documents {
    pub fn new(unit: ColumnUnit) -> Documents {
        Documents {
            docs: HashMap::new(),
            unit,
        }
    }

    pub fn open(&mut self, uri: Url, text: String, version: i32) -> &Document {
        let path = uri.to_file_path().ok();
        self.docs.insert(
            uri.clone(),
            Document {
                text,
                version,
                path,
            },
        );
        &self.docs[&uri]
    }

    /// Applies changes in order. `None` when the document is not open.
    pub fn change(
        &mut self,
        uri: &Url,
        version: i32,
        changes: &[TextDocumentContentChangeEvent],
    ) -> Option<&Document> {
        let doc = self.docs.get_mut(uri)?;
        for change in changes {
            apply_change(&mut doc.text, change, self.unit);
        }
        doc.version = version;
        Some(doc)
    }

    pub fn get(&self, uri: &Url) -> Option<&Document> {
        self.docs.get(uri)
    }

    pub fn close(&mut self, uri: &Url) -> Option<Document> {
        self.docs.remove(uri)
    }

    /// The open document showing `path`, with the URI the client named it by.
    pub fn by_path(&self, path: &Path) -> Option<(&Url, &Document)> {
        self.docs
            .iter()
            .find(|(_, doc)| doc.path.as_deref() == Some(path))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Url, &Document)> {
        self.docs.iter()
    }
}

/// Applies one `didChange` event: a whole-text replacement, or a range replacement whose
/// ends are clamped to the text (and swapped when reversed).
pub fn apply_change(text: &mut String, change: &TextDocumentContentChangeEvent, unit: ColumnUnit) {
    let Some(range) = change.range else {
        text.clone_from(&change.text);
        return;
    };
    let index = LineIndex::new(text);
    let offset = |p: Position| {
        let at = EditorPosition {
            line: p.line,
            column: p.character,
        };
        index.editor_offset(text, at, unit)
    };
    let (a, b) = (offset(range.start), offset(range.end));
    text.replace_range(a.min(b)..a.max(b), &change.text);
}

#[cfg(test)]
mod tests {
    use lsp_types::Range;

    use super::*;

    fn edit(text: &str, range: ((u32, u32), (u32, u32)), new: &str, unit: ColumnUnit) -> String {
        let mut text = text.to_owned();
        let change = TextDocumentContentChangeEvent {
            range: Some(Range::new(
                Position::new(range.0.0, range.0.1),
                Position::new(range.1.0, range.1.1),
            )),
            range_length: None,
            text: new.to_owned(),
        };
        apply_change(&mut text, &change, unit);
        text
    }

    #[test]
    fn ranges_count_in_the_negotiated_unit() {
        let text = "x = '😀é' # ü\ny\r\nz";
        // Replace `é`: UTF-16 column 7..8, UTF-8 column 9..11.
        assert_eq!(
            edit(text, ((0, 7), (0, 8)), "e", ColumnUnit::Utf16),
            "x = '😀e' # ü\ny\r\nz"
        );
        assert_eq!(
            edit(text, ((0, 9), (0, 11)), "e", ColumnUnit::Utf8),
            "x = '😀e' # ü\ny\r\nz"
        );
        // Line 1 `y` before CRLF; inserting at its end keeps the `\r\n` whole.
        assert_eq!(
            edit(text, ((1, 1), (1, 1)), "!", ColumnUnit::Utf16),
            "x = '😀é' # ü\ny!\r\nz"
        );
        assert_eq!(
            edit(text, ((1, 50), (1, 90)), "!", ColumnUnit::Utf16),
            "x = '😀é' # ü\ny!\r\nz"
        );
    }

    #[test]
    fn out_of_range_and_reversed_ranges_are_clamped() {
        let text = "ab\ncd";
        assert_eq!(
            edit(text, ((9, 0), (12, 4)), "!", ColumnUnit::Utf16),
            "ab\ncd!"
        );
        assert_eq!(edit(text, ((1, 1), (0, 1)), "", ColumnUnit::Utf16), "ad");
        assert_eq!(edit(text, ((0, 99), (1, 0)), "", ColumnUnit::Utf16), "abcd");
    }

    #[test]
    fn a_change_without_range_replaces_everything() {
        let mut docs = Documents::new(ColumnUnit::Utf16);
        let uri = Url::parse("file:///p/a.sql").unwrap();
        docs.open(uri.clone(), "old".into(), 1);
        let change = TextDocumentContentChangeEvent {
            range: None,
            range_length: None,
            text: "new".into(),
        };
        let doc = docs.change(&uri, 2, &[change]).unwrap();
        assert_eq!((doc.text.as_str(), doc.version), ("new", 2));
        assert_eq!(docs.by_path(Path::new("/p/a.sql")).unwrap().0, &uri);
        assert!(docs.close(&uri).is_some());
        assert!(docs.change(&uri, 3, &[]).is_none());
    }
}
