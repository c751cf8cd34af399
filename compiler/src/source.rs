//! Source files of a project, held in memory.
//!
//! The compiler never reads the file system past [`crate::load_project`]: everything else
//! works on a [`SourceSet`], so editors (the LSP) can hand it unsaved buffers.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file's id. A [`crate::Database`] interns one per relative path, stable for the
/// database's lifetime whatever other files are added or removed; [`SourceSet::new`]
/// numbers its files in path order.
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

/// All files of one project, in a stable order (sorted by path), each with its id.
#[derive(Clone, Debug, Default)]
pub struct SourceSet {
    pub root: PathBuf,
    /// Sorted by path.
    files: Vec<(FileId, Arc<SourceFile>)>,
    /// Position in `files` by file id (`u32::MAX`: no such file).
    slots: Vec<u32>,
}

impl SourceSet {
    /// The files of a project, numbered in path order.
    pub fn new(root: impl Into<PathBuf>, mut files: Vec<SourceFile>) -> SourceSet {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), Arc::new(f)))
            .collect();
        SourceSet::with_ids(root, files)
    }

    /// Files with the ids they already have (a database's interned ids). Ids are unique.
    pub(crate) fn with_ids(
        root: impl Into<PathBuf>,
        mut files: Vec<(FileId, Arc<SourceFile>)>,
    ) -> SourceSet {
        files.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        let len = files
            .iter()
            .map(|(id, _)| id.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut slots = vec![u32::MAX; len];
        for (at, (id, _)) in files.iter().enumerate() {
            slots[id.0 as usize] = at as u32;
        }
        SourceSet {
            root: root.into(),
            files,
            slots,
        }
    }

    /// Every file with its id, in path order.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().map(|(id, f)| (*id, f.as_ref()))
    }

    pub(crate) fn shared_files(&self) -> impl Iterator<Item = (FileId, &Arc<SourceFile>)> {
        self.files.iter().map(|(id, f)| (*id, f))
    }

    /// The file with this id. Panics on an id that is not of this set.
    pub fn file(&self, id: FileId) -> &SourceFile {
        let at = self.slots.get(id.0 as usize).copied().unwrap_or(u32::MAX);
        &self.files[at as usize].1
    }

    /// The id of the file at `path` (relative, `/`-separated).
    pub fn file_id(&self, path: &str) -> Option<FileId> {
        self.files
            .binary_search_by(|(_, f)| f.path.as_str().cmp(path))
            .ok()
            .map(|at| self.files[at].0)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Whether [`crate::load_project`] skips an entry of this name: hidden files and
/// folders, and `__pycache__` folders. The one rule the loader, [`project_file`] and
/// the language server's file watching share.
pub fn skipped_name(name: &str, is_dir: bool) -> bool {
    name.starts_with('.') || (is_dir && name == "__pycache__")
}

/// The kind of the project file at `path` (relative to the project root,
/// `/`-separated), or `None` when [`crate::load_project`] would not read it: another
/// extension, a hidden file or folder, a `__pycache__` folder, or a `sluice.toml` /
/// `bauplan_project.yml` below the root.
pub fn project_file(path: &str) -> Option<FileKind> {
    let parts: Vec<&str> = path.split('/').collect();
    let (name, folders) = parts.split_last()?;
    if name.is_empty()
        || skipped_name(name, false)
        || folders
            .iter()
            .any(|f| f.is_empty() || skipped_name(f, true))
    {
        return None;
    }
    let kind = FileKind::of(Path::new(name))?;
    match kind {
        FileKind::Config | FileKind::BauplanProject if !folders.is_empty() => None,
        _ => Some(kind),
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

/// How an editor counts columns: LSP's position encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnUnit {
    /// Bytes of UTF-8 (LSP `utf-8`).
    Utf8,
    /// UTF-16 code units (LSP `utf-16`, the protocol's default): a character outside
    /// the Basic Multilingual Plane, such as `😀`, counts 2.
    Utf16,
}

/// A position as editors count it: 0-based line, 0-based column in some [`ColumnUnit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EditorPosition {
    pub line: u32,
    pub column: u32,
}

impl LineIndex {
    /// The byte range of a 0-based line's content: without its `\n` (or `\r\n`).
    fn line_content(&self, text: &str, line: usize) -> Range<usize> {
        let start = self.line_starts[line];
        let mut end = self
            .line_starts
            .get(line + 1)
            .map_or(self.len, |&next| next - 1);
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') && end < self.len {
            end -= 1;
        }
        start..end
    }

    /// The editor position of a byte offset (clamped to the text, and back to a char
    /// boundary; an offset between `\r` and `\n` is the end of the line's content).
    pub fn editor_position(&self, text: &str, offset: usize, unit: ColumnUnit) -> EditorPosition {
        let mut offset = offset.min(self.len).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        // Between `\r` and `\n` is no position an editor knows: the end of the line.
        if offset > 0
            && text.as_bytes()[offset - 1] == b'\r'
            && text.as_bytes().get(offset) == Some(&b'\n')
        {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let before = &text[self.line_starts[line]..offset];
        let column = match unit {
            ColumnUnit::Utf8 => before.len(),
            ColumnUnit::Utf16 => before.chars().map(char::len_utf16).sum(),
        };
        EditorPosition {
            line: line as u32,
            column: column as u32,
        }
    }

    /// The byte offset of an editor position. Never fails: a line past the end is the
    /// end of the text, a column past the line's content is its end (before `\r\n`),
    /// and a column inside a character (a UTF-8 continuation byte, the second half of
    /// a UTF-16 surrogate pair) is that character's start.
    pub fn editor_offset(&self, text: &str, position: EditorPosition, unit: ColumnUnit) -> usize {
        let line = position.line as usize;
        if line >= self.line_starts.len() {
            return self.len.min(text.len());
        }
        let content = self.line_content(text, line);
        let want = position.column as usize;
        let mut counted = 0;
        for (i, c) in text[content.clone()].char_indices() {
            let width = match unit {
                ColumnUnit::Utf8 => c.len_utf8(),
                ColumnUnit::Utf16 => c.len_utf16(),
            };
            if counted + width > want {
                return content.start + i;
            }
            counted += width;
        }
        content.end
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
    #[test]
    fn editor_positions_count_utf16_units_and_utf8_bytes() {
        // `é` is 2 bytes / 1 unit, `😀` is 4 bytes / 2 units (a surrogate pair).
        let text = "a😀é x\r\nsecond 😀\r\n\nend";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        let at = |unit| index.editor_position(text, x, unit);
        assert_eq!(at(ColumnUnit::Utf16), EditorPosition { line: 0, column: 5 });
        assert_eq!(at(ColumnUnit::Utf8), EditorPosition { line: 0, column: 8 });
        for unit in [ColumnUnit::Utf8, ColumnUnit::Utf16] {
            for (offset, _) in text.char_indices() {
                if text[..offset].ends_with('\r') {
                    continue; // inside `\r\n`: asserted below
                }
                let pos = index.editor_position(text, offset, unit);
                assert_eq!(
                    index.editor_offset(text, pos, unit),
                    offset,
                    "{pos:?} {unit:?}"
                );
            }
        }
        // CRLF: line 1 starts after `\r\n`; the end of its content is before `\r`.
        let second = text.find("second").unwrap();
        assert_eq!(
            index.editor_position(text, second, ColumnUnit::Utf16),
            EditorPosition { line: 1, column: 0 }
        );
        let end_of_second = text.find("😀\r\n\n").unwrap() + '😀'.len_utf8();
        let past = EditorPosition {
            line: 1,
            column: 999,
        };
        assert_eq!(
            index.editor_offset(text, past, ColumnUnit::Utf16),
            end_of_second
        );
        assert_eq!(
            index.editor_position(text, end_of_second, ColumnUnit::Utf16),
            EditorPosition { line: 1, column: 9 }
        );
        let inside_crlf = text.find('\n').unwrap();
        assert_eq!(
            index.editor_position(text, inside_crlf, ColumnUnit::Utf16),
            EditorPosition {
                line: 0,
                column: 5 + 1
            }
        );
        // Inside the surrogate pair / inside the UTF-8 sequence: the char's start.
        let emoji = text.find('😀').unwrap();
        let mid = EditorPosition { line: 0, column: 2 };
        assert_eq!(index.editor_offset(text, mid, ColumnUnit::Utf16), emoji);
        assert_eq!(index.editor_offset(text, mid, ColumnUnit::Utf8), emoji);
        // Past the last line, and past the text: clamped, not panics.
        let far = EditorPosition {
            line: 99,
            column: 3,
        };
        assert_eq!(
            index.editor_offset(text, far, ColumnUnit::Utf16),
            text.len()
        );
        assert_eq!(
            index.editor_position(text, 10_000, ColumnUnit::Utf16),
            EditorPosition { line: 3, column: 3 }
        );
        // An offset inside a multi-byte char counts from that char's start.
        assert_eq!(
            index.editor_position(text, emoji + 1, ColumnUnit::Utf16),
            EditorPosition { line: 0, column: 1 }
        );
    }

    #[test]
    fn editor_positions_of_empty_and_trailing_newline_texts() {
        for text in ["", "\n", "\r\n", "x\r"] {
            let index = LineIndex::new(text);
            let end = index.editor_position(text, text.len(), ColumnUnit::Utf16);
            assert_eq!(
                index.editor_offset(text, end, ColumnUnit::Utf16),
                text.len(),
                "{text:?}"
            );
        }
        // A lone `\r` at the very end is content of the last line.
        let index = LineIndex::new("x\r");
        let pos = EditorPosition { line: 0, column: 9 };
        assert_eq!(index.editor_offset("x\r", pos, ColumnUnit::Utf8), 2);
    }

    /// The paths `load_project` reads, and nothing else.
    #[test]
    fn project_files_by_path() {
        assert_eq!(project_file("models/a.py"), Some(FileKind::Python));
        assert_eq!(project_file("a.sql"), Some(FileKind::Sql));
        assert_eq!(project_file("sluice.toml"), Some(FileKind::Config));
        assert_eq!(
            project_file("bauplan_project.yaml"),
            Some(FileKind::BauplanProject)
        );
        for ignored in [
            "sub/sluice.toml",
            "sub/bauplan_project.yml",
            ".venv/lib/a.py",
            "models/.hidden.py",
            "models/__pycache__/a.py",
            "README.md",
            "",
            "a//b.py",
        ] {
            assert_eq!(project_file(ignored), None, "{ignored}");
        }
    }

    /// Ids given by a database survive in any order; lookups go by id and by path.
    #[test]
    fn source_sets_keep_given_ids() {
        let file = |p: &str| Arc::new(SourceFile::new(p, FileKind::Sql, "SELECT 1"));
        let set = SourceSet::with_ids(
            "/p",
            vec![(FileId(7), file("b.sql")), (FileId(2), file("a.sql"))],
        );
        let ids: Vec<FileId> = set.files().map(|(id, _)| id).collect();
        assert_eq!(ids, [FileId(2), FileId(7)]);
        assert_eq!(set.file(FileId(7)).path, "b.sql");
        assert_eq!(set.file_id("a.sql"), Some(FileId(2)));
        assert_eq!(set.file_id("c.sql"), None);
    }
}
