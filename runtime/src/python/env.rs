//! Python environments: one `uv`-built virtual environment per distinct
//! (Python version, packages), cached under a content hash.
//!
//! Layout of the cache directory:
//!
//! ```text
//! <cache>/tools/uv-<UV_VERSION>/bin/uv   uv, bootstrapped with pip when not on PATH
//! <cache>/envs/<hash>/                   a finished environment (bin/python, sluice-env.json)
//! <cache>/envs/<hash>.lock               held while <hash> is being built
//! <cache>/envs/.tmp-<hash>-<uuid>/       an environment being built; renamed when done
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::embedded::{PACKAGE_FILES, hex, package_digest};
use super::error::{EnvBuildError, PythonError, tail_lines};
use super::worker::DataFrameKind;

/// The uv version bootstrapped when `uv` is not on `PATH` (part of every env's hash).
pub const UV_VERSION: &str = "0.13.8";

/// Packages every environment has, unless a node pins them differently.
pub const DEFAULT_PACKAGES: &[(&str, &str)] = &[("polars", "2.1.0"), ("pyarrow", "26.0.1")];

/// The pandas version added for `dataframe="pandas"` when the node does not pin one.
pub const PANDAS_VERSION: &str = "3.1.1";

/// Bumped when the layout or contents of an environment change incompatibly.
const ENV_FORMAT: &str = "sluice-env-v1";
const MARKER: &str = "sluice-env.json";
const STDERR_TAIL_LINES: usize = 30;

/// What a node needs from its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EnvSpec {
    /// `"3.11"`, `"3.12.4"`; `None` = the system's default `python3`.
    pub python_version: Option<String>,
    /// Package name -> version spec (`""` = any version). See [`requirement`].
    pub packages: BTreeMap<String, String>,
}

impl EnvSpec {
    /// The spec of a node: its `@python(version, pip=...)` plus what its
    /// `dataframe=` kind needs (pandas for [`DataFrameKind::Pandas`]).
    pub fn for_node(
        python_version: Option<&str>,
        pip: &BTreeMap<String, String>,
        dataframe: DataFrameKind,
    ) -> EnvSpec {
        let mut packages = pip.clone();
        if dataframe == DataFrameKind::Pandas
            && !packages.keys().any(|k| normalize_name(k) == "pandas")
        {
            packages.insert("pandas".into(), PANDAS_VERSION.into());
        }
        EnvSpec {
            python_version: python_version.map(str::to_string),
            packages,
        }
    }

    /// The requirements installed: the defaults, overridden by the spec's packages
    /// (matched by normalized name), sorted by normalized name.
    pub fn requirements(&self) -> Result<Vec<String>, PythonError> {
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for (name, version) in DEFAULT_PACKAGES {
            merged.insert(normalize_name(name), requirement(name, version)?);
        }
        for (name, version) in &self.packages {
            merged.insert(normalize_name(base_name(name)), requirement(name, version)?);
        }
        Ok(merged.into_values().collect())
    }

    /// The content hash naming the environment: Python version, requirements, the
    /// embedded `sluice` package and the uv version.
    pub fn hash(&self) -> Result<String, PythonError> {
        let python = match &self.python_version {
            Some(v) => {
                check_python_version(v)?;
                v.as_str()
            }
            None => "default",
        };
        let mut hasher = Sha256::new();
        let mut line = |s: &str| {
            hasher.update(s.as_bytes());
            hasher.update(b"\n");
        };
        line(ENV_FORMAT);
        line(python);
        for requirement in self.requirements()? {
            line(&requirement);
        }
        line(package_digest());
        line(UV_VERSION);
        let digest = hex(&hasher.finalize());
        Ok(digest[..24].to_string())
    }
}

/// The pip requirement for `name` at `version`: the rule `sluice check` applies
/// (`sluice_compiler::python_settings::requirement`: PEP 440 versions and specifiers),
/// so a project that checks clean never fails here.
pub fn requirement(name: &str, version: &str) -> Result<String, PythonError> {
    sluice_compiler::python_settings::requirement(name, version).map_err(|e| {
        PythonError::InvalidRequirement {
            name: name.to_string(),
            version: version.to_string(),
            reason: e.to_string(),
        }
    })
}

fn base_name(name: &str) -> &str {
    name.split('[').next().unwrap_or(name)
}

/// PEP 503 normalization: lower case, runs of `-`, `_`, `.` become one `-`.
fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn check_python_version(version: &str) -> Result<(), PythonError> {
    let parts: Vec<&str> = version.split('.').collect();
    if (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(PythonError::InvalidRequirement {
            name: "python".into(),
            version: version.into(),
            reason: "a Python version is like \"3.11\" or \"3.12.4\"".into(),
        })
    }
}

/// A ready environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// `<root>/bin/python`.
    pub python: PathBuf,
    /// The content hash naming the environment ([`EnvSpec::hash`]).
    pub hash: String,
    /// The environment's directory.
    pub root: PathBuf,
}

/// Builds and caches environments under one cache directory.
#[derive(Debug)]
pub struct EnvManager {
    cache_dir: PathBuf,
    uv: OnceCell<PathBuf>,
}

#[derive(Serialize)]
struct Marker<'a> {
    format: &'a str,
    hash: &'a str,
    python_version_requested: Option<&'a str>,
    python_version: Option<String>,
    requirements: &'a [String],
    uv: String,
    sluice_package: &'a str,
}

impl EnvManager {
    pub fn new(cache_dir: PathBuf) -> EnvManager {
        EnvManager {
            cache_dir,
            uv: OnceCell::new(),
        }
    }

    /// `$SLUICE_CACHE_DIR`, else `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`
    /// (`./.sluice-cache` when there is no home directory either).
    pub fn default_cache_dir() -> PathBuf {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("SLUICE_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = var("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("sluice");
        }
        match var("HOME") {
            Some(home) => PathBuf::from(home).join(".cache").join("sluice"),
            None => PathBuf::from(".sluice-cache"),
        }
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Whether the environment for `spec` is built already ([`EnvManager::ensure`]
    /// then costs two `stat`s).
    pub fn is_built(&self, spec: &EnvSpec) -> Result<bool, PythonError> {
        Ok(is_ready(&self.cache_dir.join("envs").join(spec.hash()?)))
    }

    /// The environment for `spec`, built on first use. An existing environment
    /// costs two `stat`s. Concurrent calls (threads or processes) for the same spec
    /// build it once; all of them succeed.
    pub async fn ensure(&self, spec: &EnvSpec) -> Result<PythonEnv, PythonError> {
        let hash = spec.hash()?;
        let root = self.cache_dir.join("envs").join(&hash);
        let env = PythonEnv {
            python: root.join("bin").join("python"),
            hash,
            root,
        };
        if is_ready(&env.root) {
            return Ok(env);
        }
        self.build(spec, &env).await?;
        Ok(env)
    }

    async fn build(&self, spec: &EnvSpec, env: &PythonEnv) -> Result<(), PythonError> {
        let requirements = spec.requirements()?;
        let failed = |message: String, stderr: &str| {
            PythonError::EnvBuild(Box::new(EnvBuildError {
                message,
                packages: requirements.clone(),
                stderr_tail: tail_lines(stderr, STDERR_TAIL_LINES).to_string(),
            }))
        };
        let envs = self.cache_dir.join("envs");
        std::fs::create_dir_all(&envs)
            .map_err(|e| failed(format!("cannot create {}: {e}", envs.display()), ""))?;
        let _lock = lock(envs.join(format!("{}.lock", env.hash)))
            .await
            .map_err(|e| failed(e, ""))?;
        if is_ready(&env.root) {
            return Ok(()); // another process built it while we waited
        }
        remove_leftovers(&envs, &env.hash, &env.root);

        let uv = self.uv(&requirements).await?;
        let tmp = TempTree(envs.join(format!(".tmp-{}-{}", env.hash, uuid::Uuid::new_v4())));

        let mut venv = uv_command(&uv, &envs);
        venv.args(["venv", "--relocatable", "--no-config", "--quiet"]);
        if let Some(version) = &spec.python_version {
            venv.arg("--python").arg(version);
        }
        venv.arg(&tmp.0);
        let out = run(&mut venv)
            .await
            .map_err(|e| failed(format!("cannot run {}: {e}", uv.display()), ""))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("No interpreter found") {
                return Err(PythonError::InterpreterNotFound {
                    requested: spec
                        .python_version
                        .clone()
                        .unwrap_or_else(|| "(default python3)".into()),
                    detail: tail_lines(&stderr, 3).to_string(),
                });
            }
            return Err(failed(format!("uv venv failed ({})", out.status), &stderr));
        }

        let site = site_packages(&tmp.0).map_err(|e| failed(e, ""))?;
        write_package(&site.join("sluice")).map_err(|e| failed(e, ""))?;

        let mut install = uv_command(&uv, &envs);
        install
            .args([
                "pip",
                "install",
                "--no-config",
                "--compile-bytecode",
                "--quiet",
            ])
            .arg("--python")
            .arg(tmp.0.join("bin").join("python"))
            .args(&requirements);
        let out = run(&mut install)
            .await
            .map_err(|e| failed(format!("cannot run {}: {e}", uv.display()), ""))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(failed(
                format!("uv pip install failed ({})", out.status),
                &stderr,
            ));
        }

        let marker = Marker {
            format: ENV_FORMAT,
            hash: &env.hash,
            python_version_requested: spec.python_version.as_deref(),
            python_version: venv_python_version(&tmp.0),
            requirements: &requirements,
            uv: uv.display().to_string(),
            sluice_package: package_digest(),
        };
        let json = serde_json::to_vec_pretty(&marker).unwrap_or_default();
        std::fs::write(tmp.0.join(MARKER), json)
            .map_err(|e| failed(format!("cannot write the marker: {e}"), ""))?;
        match std::fs::rename(&tmp.0, &env.root) {
            Ok(()) => {
                std::mem::forget(tmp);
                Ok(())
            }
            // Somebody else (without our lock: an older sluice?) finished first.
            Err(_) if is_ready(&env.root) => Ok(()),
            Err(e) => Err(failed(
                format!(
                    "cannot move the environment into {}: {e}",
                    env.root.display()
                ),
                "",
            )),
        }
    }

    /// uv: `$SLUICE_UV`, else `uv` on `PATH`, else bootstrapped into the cache.
    async fn uv(&self, requirements: &[String]) -> Result<PathBuf, PythonError> {
        self.uv
            .get_or_try_init(|| async {
                if let Some(uv) = std::env::var_os("SLUICE_UV").filter(|v| !v.is_empty()) {
                    return Ok(PathBuf::from(uv));
                }
                if let Some(uv) = find_on_path("uv") {
                    return Ok(uv);
                }
                self.bootstrap_uv().await.map_err(|(message, stderr)| {
                    PythonError::EnvBuild(Box::new(EnvBuildError {
                        message: format!("uv is not on PATH and installing it failed: {message}"),
                        packages: requirements.to_vec(),
                        stderr_tail: tail_lines(&stderr, STDERR_TAIL_LINES).to_string(),
                    }))
                })
            })
            .await
            .cloned()
    }

    /// `python3 -m venv <cache>/tools/uv-<V> && pip install uv==<V>`, once.
    async fn bootstrap_uv(&self) -> Result<PathBuf, (String, String)> {
        let tools = self.cache_dir.join("tools");
        let dest = tools.join(format!("uv-{UV_VERSION}"));
        let uv = dest.join("bin").join("uv");
        if uv.is_file() {
            return Ok(uv);
        }
        std::fs::create_dir_all(&tools).map_err(|e| {
            (
                format!("cannot create {}: {e}", tools.display()),
                String::new(),
            )
        })?;
        let _lock = lock(tools.join(format!("uv-{UV_VERSION}.lock")))
            .await
            .map_err(|e| (e, String::new()))?;
        if uv.is_file() {
            return Ok(uv);
        }
        let python = find_on_path("python3").ok_or_else(|| {
            (
                "neither uv nor python3 is on PATH".to_string(),
                String::new(),
            )
        })?;
        let tmp = TempTree(tools.join(format!(".tmp-uv-{}", uuid::Uuid::new_v4())));
        let venv_python = tmp.0.join("bin").join("python");
        let uv_requirement = format!("uv=={UV_VERSION}");
        let steps: [(&str, &Path, Vec<&OsStr>); 2] = [
            (
                "python3 -m venv",
                &python,
                vec!["-m".as_ref(), "venv".as_ref(), tmp.0.as_os_str()],
            ),
            (
                "pip install uv",
                &venv_python,
                [
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ]
                .iter()
                .map(OsStr::new)
                .chain([uv_requirement.as_ref()])
                .collect(),
            ),
        ];
        for (what, program, args) in steps {
            let mut cmd = Command::new(program);
            cmd.args(args).current_dir(&tools);
            let out = run(&mut cmd).await.map_err(|e| {
                (
                    format!("cannot run {}: {e}", program.display()),
                    String::new(),
                )
            })?;
            if !out.status.success() {
                return Err((
                    format!("{what} failed ({})", out.status),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ));
            }
        }
        match std::fs::rename(&tmp.0, &dest) {
            Ok(()) => std::mem::forget(tmp),
            Err(_) if uv.is_file() => {}
            Err(e) => return Err((format!("cannot move uv into place: {e}"), String::new())),
        }
        Ok(uv)
    }
}

fn is_ready(root: &Path) -> bool {
    // `bin/python` is a symlink to the base interpreter: `is_file` follows it, so
    // an environment whose interpreter was uninstalled is rebuilt.
    root.join(MARKER).is_file() && root.join("bin").join("python").is_file()
}

/// Removes a broken environment at `root` and unfinished builds of `hash` (their
/// builders died: we hold the lock).
fn remove_leftovers(envs: &Path, hash: &str, root: &Path) {
    if root.exists() {
        let trash = envs.join(format!(".trash-{hash}-{}", uuid::Uuid::new_v4()));
        if std::fs::rename(root, &trash).is_ok() {
            let _ = std::fs::remove_dir_all(&trash);
        }
    }
    let prefix = format!(".tmp-{hash}-");
    if let Ok(entries) = std::fs::read_dir(envs) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A directory removed on drop (unless forgotten).
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Holds an exclusive lock on `path` (created if needed) until dropped.
async fn lock(path: PathBuf) -> Result<File, String> {
    tokio::task::spawn_blocking(move || {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open the lock {}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(file)
    })
    .await
    .map_err(|e| format!("lock task failed: {e}"))?
}

fn uv_command(uv: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(uv);
    // System interpreters only; no project files of the caller's directory.
    cmd.current_dir(cwd)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_PYTHON_PREFERENCE", "only-system")
        .env("UV_NO_PROGRESS", "1")
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .env_remove("UV_PYTHON");
    cmd
}

async fn run(cmd: &mut Command) -> std::io::Result<std::process::Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn site_packages(venv: &Path) -> Result<PathBuf, String> {
    let lib = venv.join("lib");
    let entries =
        std::fs::read_dir(&lib).map_err(|e| format!("cannot list {}: {e}", lib.display()))?;
    entries
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .ok_or_else(|| format!("no site-packages under {}", lib.display()))
}

fn write_package(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, contents) in PACKAGE_FILES {
        std::fs::write(dir.join(name), contents)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
    }
    Ok(())
}

/// `version_info` from the environment's `pyvenv.cfg` (uv writes it).
fn venv_python_version(venv: &Path) -> Option<String> {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "version_info" || key.trim() == "version").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_map_to_requirements() {
        let ok = |n: &str, v: &str| requirement(n, v).unwrap();
        assert_eq!(ok("polars", "1.0"), "polars==1.0");
        assert_eq!(ok("polars", " 2.1.0 "), "polars==2.1.0");
        assert_eq!(ok("polars", "1.0.*"), "polars==1.0.*");
        assert_eq!(ok("polars", "2.0.0rc1"), "polars==2.0.0rc1");
        assert_eq!(ok("polars", ""), "polars");
        assert_eq!(ok("polars", "*"), "polars");
        assert_eq!(ok("polars", ">=1.0, <2"), "polars>=1.0,<2");
        assert_eq!(ok("polars", "~=1.2"), "polars~=1.2");
        assert_eq!(ok("polars", "==1.3"), "polars==1.3");
        assert_eq!(ok("polars[pyarrow]", "1.0"), "polars[pyarrow]==1.0");
        assert_eq!(ok("scikit_learn", "1.5"), "scikit_learn==1.5");
        for (n, v) in [
            ("polars", "latest"),
            ("polars", "1.0; python_version<'3.9'"),
            ("polars", "@ https://x"),
            ("pol ars", "1.0"),
            ("", "1.0"),
            ("polars[", "1.0"),
            ("-polars", "1.0"),
        ] {
            assert!(
                matches!(
                    requirement(n, v),
                    Err(PythonError::InvalidRequirement { .. })
                ),
                "{n:?} {v:?}"
            );
        }
    }

    #[test]
    fn node_packages_override_defaults() {
        let spec = EnvSpec {
            python_version: None,
            packages: BTreeMap::from([
                ("Polars".to_string(), "1.0".to_string()),
                ("duckdb".to_string(), "".to_string()),
            ]),
        };
        assert_eq!(
            spec.requirements().unwrap(),
            ["duckdb", "Polars==1.0", "pyarrow==26.0.1"]
        );
        let defaults = EnvSpec::default().requirements().unwrap();
        assert_eq!(defaults, ["polars==2.1.0", "pyarrow==26.0.1"]);
    }

    #[test]
    fn pandas_only_when_asked() {
        let pip = BTreeMap::new();
        let polars = EnvSpec::for_node(None, &pip, DataFrameKind::Polars);
        assert!(polars.packages.is_empty());
        let pandas = EnvSpec::for_node(Some("3.11"), &pip, DataFrameKind::Pandas);
        assert_eq!(pandas.packages["pandas"], PANDAS_VERSION);
        let pinned = BTreeMap::from([("Pandas".to_string(), "2.2.3".to_string())]);
        let pandas = EnvSpec::for_node(None, &pinned, DataFrameKind::Pandas);
        assert_eq!(pandas.packages.len(), 1);
    }

    #[test]
    fn hash_depends_on_everything_that_matters() {
        let base = EnvSpec::default();
        let h = base.hash().unwrap();
        assert_eq!(h.len(), 24);
        assert_eq!(h, EnvSpec::default().hash().unwrap());
        let with_version = EnvSpec {
            python_version: Some("3.11".into()),
            ..EnvSpec::default()
        };
        assert_ne!(with_version.hash().unwrap(), h);
        let with_package = EnvSpec {
            python_version: None,
            packages: BTreeMap::from([("duckdb".to_string(), "1.1".to_string())]),
        };
        assert_ne!(with_package.hash().unwrap(), h);
        // Pinning a default to its default version is the same environment.
        let same = EnvSpec {
            python_version: None,
            packages: BTreeMap::from([("polars".to_string(), "2.1.0".to_string())]),
        };
        assert_eq!(same.hash().unwrap(), h);
        let bad = EnvSpec {
            python_version: Some("three".into()),
            ..EnvSpec::default()
        };
        assert!(bad.hash().is_err());
    }

    #[test]
    fn default_cache_dir_is_absolute_or_explicit() {
        // Only checks that it does not panic and ends in a sluice directory.
        let dir = EnvManager::default_cache_dir();
        assert!(!dir.as_os_str().is_empty());
    }
}
