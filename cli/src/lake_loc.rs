//! Which lake a command uses, and whether it may create it.
//!
//! The lake is, in order: `--lake`, `$SLUICE_LAKE`, `lake = "..."` in the
//! project's `sluice.toml` (a path relative to that file, or a `postgres://` URL),
//! then `./.sluice`. The default ref of commands that read or write one (`ref =
//! "..."` in `sluice.toml`) falls back to `main`.
//!
//! Only commands that write (import, tpchgen, branch and tag creation, merge,
//! revert, run, rerun) and `sluice init` create a lake that does not exist yet; a
//! read on a missing lake fails with "no lake at ... (set --lake or SLUICE_LAKE,
//! or run `sluice init`)", exit 2, and creates nothing.

use std::path::{Path, PathBuf};

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

/// Opens the lake for a command whose project settings are `settings`.
pub async fn open(
    flag: Option<&str>,
    settings: &ProjectSettings,
    access: Access,
) -> Result<Lake, LakeError> {
    let (uri, shown) = choose(flag, settings);
    let config = LakeConfig::from_env(uri.as_deref())?;
    match access {
        Access::Write => Lake::open(&config).await,
        Access::Read => Lake::open_existing(&config, &redacted(&shown)).await,
    }
}

fn redacted(uri: &str) -> String {
    sluice_lake::config::redact(uri)
}

/// The current folder (for `sluice.toml` of lake commands).
pub fn current_dir() -> PathBuf {
    PathBuf::from(".")
}
