//! `sluice.toml`: optional project settings at the project root.

use serde::Deserialize;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::FileId;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The lake the CLI uses for this project (`lake = "..."`, before any section):
    /// a folder relative to `sluice.toml`, or a `postgres://` URL. `--lake` and
    /// `SLUICE_LAKE` override it.
    pub lake: Option<String>,
    /// The default ref of commands that read or write one (`ref = "dev"`), else `main`.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Where SQL runs (`engine = "ballista://HOST:PORT"`, else `local`): `--engine`
    /// and `SLUICE_ENGINE` override it (checked by the CLI).
    pub engine: Option<String>,
    #[serde(default)]
    pub project: ProjectSection,
    #[serde(default)]
    pub python: PythonSection,
}

/// `[python]`: limits and isolation of Python nodes (values are checked by
/// `sluice run`; its flags override them).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonSection {
    /// Wall-clock limit of one Python node: `"10m"`, `"1h 30m"`.
    pub node_timeout: Option<String>,
    /// Memory limit of one Python node: `"4GiB"`, `"512MiB"`.
    pub node_memory: Option<String>,
    /// Run Python nodes even when this host cannot provide every isolation layer
    /// (each run warns which are missing).
    pub allow_weaker_isolation: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// A display name for the project.
    pub name: Option<String>,
}

/// Parses `sluice.toml`; a malformed file yields the defaults and a located diagnostic.
pub fn parse(file: FileId, text: &str) -> (Config, Option<Diagnostic>) {
    match toml::from_str::<Config>(text) {
        Ok(config) => (config, None),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            let message = err.message().trim().to_owned();
            (
                Config::default(),
                Some(
                    Diagnostic::new(
                        Code::Config,
                        file,
                        span,
                        format!("invalid sluice.toml: {message}"),
                    )
                    .with_help(
                        "sluice.toml accepts `lake = \"...\"`, `ref = \"...\"` and \
                         `engine = \"...\"` (before any section), `[project]` with `name = \"...\"` and `[python]` with \
                         `node_timeout = \"10m\"`, `node_memory = \"4GiB\"`, \
                         `allow_weaker_isolation = true`",
                    ),
                ),
            )
        }
    }
}
