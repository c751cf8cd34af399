//! The one place that calls the compiler. A [`Project`] is the compiler's incremental
//! [`Database`] for one project: edits set or remove a file's text by relative path, and
//! [`Project::analysis`] re-checks only what they touched (see the compiler's `db`
//! module). `sluice check` runs the same database cold, so editor and CLI agree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sluice_compiler::ide::SymbolIndex;
use sluice_compiler::{Analysis, Database, FileId, LoadError, SourceSet, Syntax};

/// One checked state of a project: the sources it was computed from, the result, and
/// the syntax trees it read. Requests (hover, definition, …) answer from the latest one;
/// it is immutable, so they never wait on the worker.
#[derive(Debug)]
pub struct Snapshot {
    pub sources: Arc<SourceSet>,
    pub analysis: Arc<Analysis>,
    pub syntax: Arc<HashMap<FileId, Syntax>>,
    /// The navigation index, built by the first request that needs it.
    index: OnceLock<SymbolIndex>,
}

impl Snapshot {
    /// The symbol index of this state (built once, on first use).
    pub fn index(&self) -> &SymbolIndex {
        self.index.get_or_init(|| {
            SymbolIndex::build(
                Arc::clone(&self.analysis),
                Arc::clone(&self.sources),
                &self.syntax,
            )
        })
    }
}

pub struct Project {
    root: PathBuf,
    db: Database,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project").field("root", &self.root).finish()
    }
}

impl Project {
    /// Reads the project's disk state with `load_project`, keeping the files `keep`
    /// accepts (relative paths).
    pub fn load(root: &Path, mut keep: impl FnMut(&str) -> bool) -> Result<Project, LoadError> {
        let sources = sluice_compiler::load_project(root)?;
        let mut project = Project {
            root: root.to_owned(),
            db: Database::new(root.to_owned()),
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

    /// Sets the text of the file at `rel`; a path that is no project file is ignored.
    pub fn set_file(&mut self, rel: &str, text: String) {
        self.db.set_file(rel, text);
    }

    pub fn remove_file(&mut self, rel: &str) {
        self.db.remove_file(rel);
    }

    /// The relative paths of the project's files, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.db.paths()
    }

    /// Checks the project as it is now: exactly `sluice check` on these texts,
    /// recomputing only what changed since the last call.
    pub fn analysis(&mut self) -> Snapshot {
        let (analysis, sources) = self.db.analysis();
        let syntax = Arc::new(self.db.syntax());
        Snapshot {
            sources,
            analysis,
            syntax,
            index: OnceLock::new(),
        }
    }
}
