//! Source files of a project, held in memory.
//!
//! The compiler never reads the file system past [`crate::load_project`]: everything else
//! works on a [`SourceSet`], so editors (the LSP) can hand it unsaved buffers.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Index of a file inside a [`SourceSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// Byte range inside one file.
pub type Span = Range<usize>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Python,
    Sql,
    /// `sluice.toml` at the project root.
    Config,
    /// `bauplan_project.yml` / `.yaml` at the project root: a Bauplan SDK project.
    BauplanProject,
}

impl FileKind {
    pub fn of(path: &Path) -> Option<FileKind> {
        if path.file_name().is_some_and(|n| n == "sluice.toml") {
            return Some(FileKind::Config);
        }
        if path
            .file_name()
            .is_some_and(|n| n == "bauplan_project.yml" || n == "bauplan_project.yaml")
        {
            return Some(FileKind::BauplanProject);
        }
        match path.extension()?.to_str()? {
            "py" => Some(FileKind::Python),
            "sql" => Some(FileKind::Sql),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
    pub kind: FileKind,
    pub text: String,
    pub line_index: LineIndex,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, kind: FileKind, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let line_index = LineIndex::new(&text);
        SourceFile {
            path: path.into(),
            kind,
            text,
            line_index,
        }
    }

    /// The file stem (`orders` for `models/orders.sql`).
    pub fn stem(&self) -> &str {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.rsplit_once('.').map_or(name, |(stem, _)| stem)
    }
}

/// All files of one project, in a stable order (sorted by path).
#[derive(Clone, Debug, Default)]
pub struct SourceSet {
    pub root: PathBuf,
    files: Vec<SourceFile>,
}

impl SourceSet {
    pub fn new(root: impl Into<PathBuf>, mut files: Vec<SourceFile>) -> SourceSet {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        SourceSet {
            root: root.into(),
            files,
        }
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// 1-based line and column; columns count Unicode scalar values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// Maps byte offsets to lines and columns and back, in constant time on ASCII lines and
/// logarithmic time on others (a select list of 100,000 items on one line is common in
/// generated SQL: each item is located once).
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    /// Per line that is not ASCII: the byte offset in the line of each of its chars.
    char_starts: Vec<Option<Box<[usize]>>>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let char_starts = line_starts
            .iter()
            .enumerate()
            .map(|(line, &start)| {
                let end = line_starts
                    .get(line + 1)
                    .map_or(text.len(), |&next| next - 1);
                let line = &text[start..end];
                (!line.is_ascii()).then(|| line.char_indices().map(|(i, _)| i).collect())
            })
            .collect();
        LineIndex {
            line_starts,
            char_starts,
            len: text.len(),
        }
    }

    fn chars(&self, line: usize) -> Option<&[usize]> {
        self.char_starts.get(line).and_then(|c| c.as_deref())
    }

    /// Line and column of a byte offset (clamped to the text, and to a char boundary).
    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let offset = text.floor_char_boundary(offset.min(self.len));
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let within = offset - self.line_starts[line];
        let column = match self.chars(line) {
            Some(chars) => chars.partition_point(|&c| c < within),
            None => within,
        };
        LineCol {
            line: line as u32 + 1,
            column: column as u32 + 1,
        }
    }

    /// Byte offset of a 1-based line and column (clamped to the line's end).
    pub fn offset(&self, text: &str, line: u32, column: u32) -> usize {
        let line = (line.max(1) as usize - 1).min(self.line_starts.len() - 1);
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.len, |&next| next - 1)
            .min(text.len());
        let skip = column.max(1) as usize - 1;
        match self.chars(line) {
            Some(chars) => chars.get(skip).map_or(end, |&c| start + c),
            None => (start + skip).min(end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_round_trips_with_multibyte_text() {
        let text = "ab\nçé x\n\nlast";
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices() {
            let lc = index.line_col(text, offset);
            assert_eq!(index.offset(text, lc.line, lc.column), offset, "{lc:?}");
        }
        assert_eq!(index.line_col(text, 3), LineCol { line: 2, column: 1 });
        assert_eq!(
            index.line_col(text, text.find('x').unwrap()),
            LineCol { line: 2, column: 4 }
        );
        // Past the end and inside a multi-byte char are clamped, not panics.
        assert_eq!(index.line_col(text, 1000).line, 4);
        assert_eq!(index.line_col(text, 4), LineCol { line: 2, column: 1 });
    }
}
