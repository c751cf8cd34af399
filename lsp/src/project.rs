//! The one place that calls the compiler. A [`Project`] holds the text of every file
//! of one project by relative path; edits set or remove a file's text, and
//! [`Project::analysis`] checks the whole set. This is the shape of the compiler's
//! incremental database (`set_file` / `remove_file` / `analysis`), which will replace
//! the body of this module and nothing outside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_compiler::{Analysis, FileKind, LoadError, SourceFile, SourceSet};

/// One checked state of a project: the sources it was computed from and the result.
#[derive(Debug)]
pub struct Snapshot {
    pub sources: SourceSet,
    pub analysis: Analysis,
}

#[derive(Debug)]
pub struct Project {
    root: PathBuf,
    files: BTreeMap<String, SourceFile>,
}

impl Project {
    /// Reads the project's disk state with `load_project`, keeping the files `keep`
    /// accepts (relative paths).
    pub fn load(root: &Path, mut keep: impl FnMut(&str) -> bool) -> Result<Project, LoadError> {
        let sources = sluice_compiler::load_project(root)?;
        let mut project = Project {
            root: root.to_owned(),
            files: BTreeMap::new(),
        };
        for (_, file) in sources.files() {
            if keep(&file.path) {
                project.set_file(&file.path, file.text.clone());
            }
        }
        Ok(project)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets the text of the file at `rel`; a path that is no source file is ignored.
    pub fn set_file(&mut self, rel: &str, text: String) {
        let Some(kind) = FileKind::of(Path::new(rel)) else {
            return;
        };
        if self.files.get(rel).is_some_and(|f| f.text == text) {
            return;
        }
        self.files
            .insert(rel.to_owned(), SourceFile::new(rel, kind, text));
    }

    pub fn remove_file(&mut self, rel: &str) {
        self.files.remove(rel);
    }

    /// The relative paths of the project's files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Checks the project as it is now: exactly `sluice check` on these texts.
    pub fn analysis(&self) -> Snapshot {
        let sources = SourceSet::new(&self.root, self.files.values().cloned().collect());
        let analysis = sluice_compiler::check(&sources);
        Snapshot { sources, analysis }
    }
}
