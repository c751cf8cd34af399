//! Where a lake lives: its catalog (SQLite file or PostgreSQL) and its data
//! (a folder or an S3 prefix).
//!
//! * `--lake DIR` / `SLUICE_LAKE=DIR` (default `./.sluice`): catalog in
//!   `DIR/catalog.db`, data in `DIR/data/`. An optional `DIR/lake.toml` with
//!   `catalog = "postgres://..."` and/or `data = "s3://bucket/prefix"`
//!   redirects either part.
//! * `--lake postgres://...` / `SLUICE_LAKE=postgres://...`: catalog in
//!   PostgreSQL; the data URI comes from `SLUICE_DATA` when the lake is
//!   created and is then recorded in the catalog, so later users need only
//!   the catalog URL.

use std::path::{Path, PathBuf};

use crate::error::{LakeError, Result};

/// The default lake location.
pub const DEFAULT_LAKE: &str = "./.sluice";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogConfig {
    /// Path of the SQLite database file.
    Sqlite(PathBuf),
    /// A `postgres://` connection URL.
    Postgres(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LakeConfig {
    pub catalog: CatalogConfig,
    /// The data URI to record when the lake is created (`None`: the lake
    /// folder's `data/` for SQLite; required for PostgreSQL).
    pub data: Option<String>,
    /// Base directory for relative data paths.
    pub base_dir: PathBuf,
}

fn is_postgres(uri: &str) -> bool {
    uri.starts_with("postgres://") || uri.starts_with("postgresql://")
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LakeToml {
    catalog: Option<String>,
    data: Option<String>,
}

impl LakeConfig {
    /// The configuration of the lake at `uri` (a folder or a PostgreSQL URL),
    /// with an optional data URI for lake creation.
    pub fn from_uri(uri: &str, data: Option<&str>) -> Result<LakeConfig> {
        let cwd = std::env::current_dir().map_err(|source| LakeError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        let absolute_data = |d: &str| {
            if d.contains("://") || Path::new(d).is_absolute() {
                d.to_string()
            } else {
                cwd.join(d).display().to_string()
            }
        };
        if is_postgres(uri) {
            return Ok(LakeConfig {
                catalog: CatalogConfig::Postgres(uri.to_string()),
                data: data.map(absolute_data),
                base_dir: cwd,
            });
        }
        if uri.contains("://") && !uri.starts_with("file://") {
            return Err(LakeError::Config(format!(
                "unsupported lake URI `{uri}`: use a folder path or postgres://..."
            )));
        }
        let dir = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
        let dir = if dir.is_absolute() {
            dir
        } else {
            cwd.join(dir)
        };
        let toml_path = dir.join("lake.toml");
        let file_cfg = match std::fs::read_to_string(&toml_path) {
            Ok(text) => toml::from_str::<LakeToml>(&text)
                .map_err(|e| LakeError::Config(format!("{}: {e}", toml_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LakeToml::default(),
            Err(source) => {
                return Err(LakeError::Io {
                    path: toml_path,
                    source,
                });
            }
        };
        let catalog = match file_cfg.catalog {
            Some(c) if is_postgres(&c) => CatalogConfig::Postgres(c),
            Some(c) => {
                return Err(LakeError::Config(format!(
                    "{}: catalog must be a postgres:// URL, found `{c}`",
                    toml_path.display()
                )));
            }
            None => CatalogConfig::Sqlite(dir.join("catalog.db")),
        };
        let data = data
            .map(absolute_data)
            .or(file_cfg.data)
            .or_else(|| Some("data".to_string()));
        Ok(LakeConfig {
            catalog,
            data,
            base_dir: dir,
        })
    }

    /// `--lake` if given, else `SLUICE_LAKE`, else `./.sluice`; the data URI
    /// for creation from `SLUICE_DATA`.
    pub fn from_env(lake: Option<&str>) -> Result<LakeConfig> {
        let env_lake = std::env::var("SLUICE_LAKE").ok().filter(|s| !s.is_empty());
        let uri = lake
            .map(str::to_string)
            .or(env_lake)
            .unwrap_or_else(|| DEFAULT_LAKE.to_string());
        let data = std::env::var("SLUICE_DATA").ok().filter(|s| !s.is_empty());
        LakeConfig::from_uri(&uri, data.as_deref())
    }

    /// A human-readable location.
    pub fn describe(&self) -> String {
        match &self.catalog {
            CatalogConfig::Sqlite(p) => p
                .parent()
                .map_or_else(|| p.display().to_string(), |d| d.display().to_string()),
            CatalogConfig::Postgres(url) => redact(url),
        }
    }
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _pw)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}
