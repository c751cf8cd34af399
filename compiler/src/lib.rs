//! The sluice compiler: a folder of Python and SQL pipeline nodes in, a checked table
//! graph (the typed plan) and diagnostics out.
//!
//! Architecture invariant: this crate does no data I/O and never prints. The only file
//! system access is [`load_project`], which reads sources into a [`SourceSet`] (and
//! [`find_project_root`], which only looks for marker files); everything else is a pure
//! function of that set, so the CLI, the LSP and tests share it.

pub mod analysis;
pub mod bauplan;
pub mod bauplan_project;
pub mod config;
pub mod contracts;
pub mod db;
pub mod diagnostic;
pub mod graph;
pub mod ide;
pub mod limits;
pub mod lineage;
pub mod plan;
pub mod py_infer;
pub mod python_settings;
mod quickfix;
pub mod resolve;
pub mod schema;
pub mod source;
pub mod sql_plan;
mod suggest;
pub mod syntax;
pub mod types;
mod warnings;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use analysis::{Analysis, Input, Table, TableId, TableKind};
pub use db::{Database, Syntax};
pub use diagnostic::{Code, Diagnostic, JsonReport, Severity, Summary};
pub use source::{FileId, FileKind, SourceFile, SourceSet};

/// Failures to read a project: the only errors that are not diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("project folder `{}` does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("`{}` is not a folder", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),
}

/// File names that make a folder a project root.
pub const PROJECT_MARKERS: [&str; 3] =
    ["sluice.toml", "bauplan_project.yml", "bauplan_project.yaml"];

/// Whether the folder `dir` holds a project marker ([`PROJECT_MARKERS`]).
pub fn is_project_root(dir: &Path) -> bool {
    PROJECT_MARKERS.iter().any(|m| dir.join(m).is_file())
}

/// The project a path belongs to: the nearest folder from `start` upward (itself
/// first) that holds a project marker, as git and cargo find theirs; `None` when no
/// ancestor does. The one rule of the CLI (a defaulted project folder, the
/// `sluice.toml` of lake commands) and the language server.
pub fn find_project_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| is_project_root(d))
        .map(Path::to_path_buf)
}

/// Reads every `*.py` and `*.sql` file below `root` (hidden folders and `__pycache__`
/// excluded) and `sluice.toml` at the root.
pub fn load_project(root: &Path) -> Result<SourceSet, LoadError> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound(root.to_owned()),
        _ => LoadError::Read {
            path: root.to_owned(),
            source: e,
        },
    })?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory(root.to_owned()));
    }
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || {
                let name = e.file_name().to_string_lossy();
                !source::skipped_name(&name, e.file_type().is_dir())
            }
        });
    let mut paths = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().map_or_else(|| root.to_owned(), Path::to_owned);
            LoadError::Read {
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("file system loop")),
                path,
            }
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        // The same rule as the database's: which paths are project files, and of what kind.
        let Some(kind) = source::project_file(&rel) else {
            continue;
        };
        paths.push((entry.path().to_owned(), rel, kind));
    }
    let files = paths
        .into_par_iter()
        .map(|(path, rel, kind)| {
            let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8(path.clone()))?;
            Ok(SourceFile::new(rel, kind, text))
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    Ok(SourceSet::new(root, files))
}

/// Stack size of the threads [`check`] runs on. Every walker is bounded by
/// [`limits::MAX_NESTING`], so its stack use is bounded too; this leaves a wide margin for
/// DataFusion's planner and the drop of deep trees, whatever thread the caller is on
/// (a tokio worker or a test thread has 2 MiB). Only the pages used are committed.
pub const CHECK_STACK_SIZE: usize = 256 << 20;

/// The compiler's own thread pool: rayon's threads with [`CHECK_STACK_SIZE`] stacks.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .stack_size(CHECK_STACK_SIZE)
            .thread_name(|i| format!("sluice-check-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Checks a project: parses every file (in parallel), resolves names, builds the DAG and
/// checks its contracts. Never fails and never panics on any input.
///
/// This is a fresh [`Database`] holding `sources`, analysed once: the CLI and the
/// editor run the same steps. The analysis's file ids are those of `sources`. The work
/// runs on the compiler's own threads, whose stacks are [`CHECK_STACK_SIZE`], so a
/// caller on a small-stack thread is as safe as the CLI's main thread.
pub fn check(sources: &SourceSet) -> Analysis {
    let mut db = Database::from_sources(sources);
    on_compiler_threads(|| db.run()).0
}

/// Runs `work` on the compiler's own threads ([`CHECK_STACK_SIZE`] stacks).
pub(crate) fn on_compiler_threads<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match pool() {
        Some(pool) => pool.install(work),
        // No threads could be started: a dedicated scoped thread, or this one.
        None => {
            let work = std::sync::Mutex::new(Some(work));
            std::thread::scope(|scope| {
                let run = || work.lock().ok().and_then(|mut w| w.take()).map(|w| w());
                let on_thread = std::thread::Builder::new()
                    .stack_size(CHECK_STACK_SIZE)
                    .spawn_scoped(scope, run)
                    .ok()
                    .and_then(|handle| {
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    });
                on_thread.or_else(run).expect("the work runs exactly once")
            })
        }
    }
}
