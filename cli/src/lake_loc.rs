//! Which lake a command uses, and whether it may create it.
//!
//! The lake is, in order: `--lake`, `$SLUICE_LAKE`, `lake = "..."` in the
//! project's `sluice.toml` (a path relative to that file, or a `postgres://` URL;
//! the project is the nearest folder upward holding one, see [`project_dir`]),
//! then `./.sluice`. The default ref of commands that read or write one (`ref =
//! "..."` in `sluice.toml`) falls back to `main`.
//!
//! Only commands that write (import, tpchgen, branch and tag creation, merge,
//! revert, run) and `sluice init` create a lake that does not exist yet, and a
//! write that fails removes the folder lake it created ([`Opened`]); a
//! read on a missing lake fails with "no lake at ... (set --lake or SLUICE_LAKE,
//! or run `sluice init`)", exit 2, and creates nothing.

use std::path::{Path, PathBuf};

use sluice_lake::config::CatalogConfig;
use sluice_lake::{Lake, LakeConfig, LakeError};

/// Whether a command may create the lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The command only reads: a missing lake is an error.
    Read,
    /// The command writes: a missing lake is created.
    Write,
}

/// The lake-related settings of a project's `sluice.toml`.
#[derive(Clone, Debug, Default)]
pub struct ProjectSettings {
    /// `lake = "..."`, resolved against the folder of `sluice.toml`.
    pub lake: Option<String>,
    /// `ref = "..."`: the default ref.
    pub reference: Option<String>,
    /// `engine = "..."`: where SQL runs, unless `--engine` or `SLUICE_ENGINE` says.
    pub engine: Option<String>,
}

/// Reads `sluice.toml` in `dir` (none is fine; a malformed one is an error naming it).
pub fn project_settings(dir: &Path) -> Result<ProjectSettings, String> {
    let path = dir.join("sluice.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ProjectSettings::default());
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let (config, diagnostic) = sluice_compiler::config::parse(sluice_compiler::FileId(0), &text);
    if let Some(d) = diagnostic {
        let line = 1 + text[..d.span.start.min(text.len())].matches('\n').count();
        return Err(format!("{}:{line}: {}", path.display(), d.message));
    }
    let lake = config.lake.map(|l| {
        if l.contains("://") || Path::new(&l).is_absolute() {
            l
        } else {
            dir.join(l).display().to_string()
        }
    });
    Ok(ProjectSettings {
        lake,
        reference: config.reference,
        engine: config.engine,
    })
}

/// The ref to use: the one given, else the project's default, else `main`.
pub fn reference(given: Option<String>, settings: &ProjectSettings) -> String {
    given
        .or_else(|| settings.reference.clone())
        .unwrap_or_else(|| "main".to_string())
}

/// The lake URI to open (`None`: `$SLUICE_LAKE` or `./.sluice`, which
/// `LakeConfig::from_env` picks) and how to name it to the user.
fn choose(flag: Option<&str>, settings: &ProjectSettings) -> (Option<String>, String) {
    if let Some(f) = flag {
        return (Some(f.to_string()), f.to_string());
    }
    if let Some(env) = std::env::var("SLUICE_LAKE").ok().filter(|s| !s.is_empty()) {
        return (None, env);
    }
    if let Some(l) = &settings.lake {
        return (Some(l.clone()), l.clone());
    }
    (None, sluice_lake::config::DEFAULT_LAKE.to_string())
}

/// Opens the existing lake for a command that reads, whose project settings are
/// `settings`: a missing lake is an error. (A command that writes uses
/// [`open_for_write`].)
pub async fn open(flag: Option<&str>, settings: &ProjectSettings) -> Result<Lake, LakeError> {
    let (uri, shown) = choose(flag, settings);
    let config = LakeConfig::from_env(uri.as_deref())?;
    Lake::open_existing(&config, &redacted(&shown)).await
}

/// A lake a write command opened, creating it if it did not exist: such a lake is
/// removed again unless the command succeeds ([`Opened::finish`]), so only a
/// successful write (or `sluice init`) leaves a new lake behind.
pub struct Opened {
    pub lake: Lake,
    /// What this command created for a new folder lake: the outermost folder that
    /// did not exist, else the catalog's files and the data folder.
    created: Vec<PathBuf>,
}

impl Opened {
    /// Ends the command. When it failed (`succeeded` false) on a folder lake it
    /// created, and the lake still holds nothing (`main` at its root commit, no other
    /// branch, no tag: no other process wrote to it meanwhile), what it created is
    /// removed. Anything else is kept.
    pub async fn finish(self, succeeded: bool) {
        if succeeded || self.created.is_empty() || !is_empty_lake(&self.lake).await {
            return;
        }
        drop(self.lake); // closes the catalog before its files go
        for path in &self.created {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            if let Err(e) = removed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!(
                    "warning: the command failed, but the lake it created could not be removed: {}: {e}",
                    path.display()
                );
            }
        }
    }
}

/// Whether the lake holds nothing but its root commit on `main`.
async fn is_empty_lake(lake: &Lake) -> bool {
    use sluice_lake::RefKind;
    let (Ok(branches), Ok(tags)) = (
        lake.list_refs(RefKind::Branch).await,
        lake.list_refs(RefKind::Tag).await,
    ) else {
        return false;
    };
    if !tags.is_empty() || branches.len() != 1 || branches[0].name != "main" {
        return false;
    }
    lake.branch_head("main")
        .await
        .is_ok_and(|head| head.parents().is_empty() && head.tables().is_empty())
}

/// Opens the lake for a command that writes, creating it if needed ([`Opened`]).
pub async fn open_for_write(
    flag: Option<&str>,
    settings: &ProjectSettings,
) -> Result<Opened, LakeError> {
    let (uri, _) = choose(flag, settings);
    let config = LakeConfig::from_env(uri.as_deref())?;
    let created = match &config.catalog {
        CatalogConfig::Sqlite(catalog) if !catalog.exists() => new_paths(catalog),
        _ => Vec::new(),
    };
    let lake = Lake::open(&config).await;
    let lake = match lake {
        Ok(lake) => lake,
        Err(e) => {
            for path in &created {
                let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
            }
            return Err(e);
        }
    };
    Ok(Opened { lake, created })
}

/// What opening a SQLite catalog at `catalog` (which does not exist) creates: the
/// outermost missing folder of its path, or, in an existing folder, the catalog's
/// files and the lake's `data` folder if missing.
fn new_paths(catalog: &Path) -> Vec<PathBuf> {
    let Some(dir) = catalog.parent() else {
        return Vec::new();
    };
    if let Some(outermost) = dir.ancestors().take_while(|d| !d.exists()).last() {
        return vec![outermost.to_path_buf()];
    }
    let mut paths: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = catalog.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect();
    let data = dir.join("data");
    if !data.exists() {
        paths.push(data);
    }
    paths
}

fn redacted(uri: &str) -> String {
    sluice_lake::config::redact(uri)
}

/// The folder whose `sluice.toml` the lake commands read: the project the current
/// folder is in ([`project_dir`]).
pub fn current_dir() -> PathBuf {
    project_dir(None)
}

/// A command's project folder: `given`, else the nearest folder from the current one
/// upward holding `sluice.toml` or `bauplan_project.yml` (`sluice_compiler::find_project_root`,
/// the language server's rule too), spelled relative to the current folder (`.`,
/// `..`, `../..`), else `.`.
pub fn project_dir(given: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = given {
        return dir;
    }
    let here = PathBuf::from(".");
    let Ok(cwd) = std::env::current_dir() else {
        return here;
    };
    match sluice_compiler::find_project_root(&cwd) {
        Some(root) => {
            let up = cwd.components().count() - root.components().count();
            if up == 0 {
                here
            } else {
                (0..up).map(|_| "..").collect()
            }
        }
        None => here,
    }
}
