//! Which project a file belongs to. A project is the nearest folder upward holding a
//! marker (`sluice.toml`, `bauplan_project.yml`/`.yaml`), else the innermost workspace
//! folder holding the file; a file under neither belongs to no project. A project does
//! not include the files of projects nested in it: every file is analysed once, by its
//! own project.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use sluice_compiler::source::skipped_name;

/// File names that make a folder a project root (the compiler's, which the CLI shares).
pub const MARKERS: [&str; 3] = sluice_compiler::PROJECT_MARKERS;

pub fn is_marker(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| MARKERS.contains(&n))
}

/// Whether a folder on disk holds a marker.
pub fn has_marker(dir: &Path) -> bool {
    sluice_compiler::is_project_root(dir)
}

/// The workspace folders the client opened.
#[derive(Debug, Default)]
pub struct Workspace {
    folders: Vec<PathBuf>,
}

impl Workspace {
    pub fn new(folders: Vec<PathBuf>) -> Workspace {
        Workspace { folders }
    }

    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }

    pub fn set_folders(&mut self, folders: Vec<PathBuf>) {
        self.folders = folders;
    }

    /// The project root of a file.
    pub fn project_of(&self, file: &Path) -> Option<PathBuf> {
        self.project_of_dir(file.parent()?)
    }

    /// The project root of the files directly inside `dir`.
    fn project_of_dir(&self, dir: &Path) -> Option<PathBuf> {
        if let Some(root) = sluice_compiler::find_project_root(dir) {
            return Some(root);
        }
        self.folders
            .iter()
            .filter(|f| dir.starts_with(f))
            .max_by_key(|f| f.components().count())
            .cloned()
    }

    /// Every project of the workspace: each folder's own, and every folder below one
    /// holding a marker (in the folders `load_project` reads).
    pub fn discover(&self) -> BTreeSet<PathBuf> {
        let mut roots = BTreeSet::new();
        for folder in &self.folders {
            roots.extend(self.project_of_dir(folder));
            let mut stack = vec![folder.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    if is_dir && !skipped_name(&name, true) {
                        let path = entry.path();
                        if has_marker(&path) {
                            roots.insert(path.clone());
                        }
                        stack.push(path);
                    }
                }
            }
        }
        roots
    }
}

/// `path` relative to `root`, with `/` separators (the compiler's file names).
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts = rel
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Whether no component of `rel` is skipped by `load_project` (so a file there, or a
/// deleted folder there, may be or have held project files). A last component named
/// `__pycache__` counts as that folder: no source file has that name.
pub fn is_visible(rel: &str) -> bool {
    rel.split('/')
        .all(|part| !part.is_empty() && !skipped_name(part, true))
}

/// Decides, for files below one root, whether they belong to a project nested
/// inside it (a folder between the root and the file holds a marker). Caches folders.
pub struct NestedProjects<'a> {
    root: &'a Path,
    folders: HashMap<String, bool>,
}

impl<'a> NestedProjects<'a> {
    pub fn new(root: &'a Path) -> Self {
        NestedProjects {
            root,
            folders: HashMap::new(),
        }
    }

    /// Whether the file at `rel` belongs to a nested project.
    pub fn contains(&mut self, rel: &str) -> bool {
        let mut end = 0;
        while let Some(i) = rel[end..].find('/') {
            end += i;
            let folder = &rel[..end];
            let root = self.root;
            let nested = *self
                .folders
                .entry(folder.to_owned())
                .or_insert_with(|| has_marker(&root.join(folder)));
            if nested {
                return true;
            }
            end += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_compiler::FileKind;
    use sluice_compiler::source::project_file;

    #[test]
    fn project_file_follows_load_project() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/check/ok_ignored_folders");
        let loaded = sluice_compiler::load_project(&fixture).unwrap();
        let loaded: BTreeSet<&str> = loaded.files().map(|(_, f)| f.path.as_str()).collect();
        let mut all = Vec::new();
        let mut stack = vec![fixture.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else {
                    all.push(relative(&fixture, &entry.path()).unwrap());
                }
            }
        }
        // The fixture has hidden folders and __pycache__ whose files must be skipped.
        assert!(all.iter().any(|p| p.starts_with(".venv/")), "{all:?}");
        assert!(all.iter().any(|p| p.contains("__pycache__/")), "{all:?}");
        for rel in &all {
            assert_eq!(
                project_file(rel).is_some(),
                loaded.contains(&rel.as_str()),
                "{rel}"
            );
        }
        assert_eq!(project_file("sub/sluice.toml"), None);
        assert_eq!(project_file("sluice.toml"), Some(FileKind::Config));
        assert!(is_visible("models") && !is_visible(".git") && !is_visible("a/__pycache__"));
        assert!(is_visible("__pycache__.py"));
    }

    #[test]
    fn projects_nest_and_fall_back_to_the_workspace_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("ws");
        for dir in ["outer/inner/deep", "loose/sub", ".hidden/p"] {
            std::fs::create_dir_all(ws.join(dir)).unwrap();
        }
        std::fs::write(ws.join("outer/sluice.toml"), "").unwrap();
        std::fs::write(ws.join("outer/inner/bauplan_project.yml"), "").unwrap();
        std::fs::write(ws.join(".hidden/p/sluice.toml"), "").unwrap();
        let workspace = Workspace::new(vec![ws.clone()]);
        assert_eq!(
            workspace.project_of(&ws.join("outer/a.py")),
            Some(ws.join("outer"))
        );
        assert_eq!(
            workspace.project_of(&ws.join("outer/inner/deep/b.sql")),
            Some(ws.join("outer/inner"))
        );
        assert_eq!(
            workspace.project_of(&ws.join("loose/sub/c.py")),
            Some(ws.clone())
        );
        assert_eq!(workspace.project_of(&tmp.path().join("elsewhere.py")), None);
        let found: Vec<PathBuf> = workspace.discover().into_iter().collect();
        assert_eq!(
            found,
            vec![ws.clone(), ws.join("outer"), ws.join("outer/inner")]
        );
        let outer = ws.join("outer");
        let mut nested = NestedProjects::new(&outer);
        assert!(nested.contains("inner/deep/b.sql"));
        assert!(!nested.contains("a.py") && !nested.contains("models/x.sql"));
    }
}
