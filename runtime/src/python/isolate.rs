//! Isolation of worker processes: the layers, what this host provides (probed
//! once per process), the limits, and the plan for one worker
//! ([`super::sandbox::ChildPlan`], applied in the forked child).
//!
//! A layer the host cannot provide makes the run refuse
//! ([`PythonError::IsolationUnavailable`]) unless weaker isolation was allowed,
//! and then every run says so ([`isolation_warnings`]): never silently weaker.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use super::cgroup::MemoryCgroup;
use super::error::PythonError;
use super::sandbox::{ChildPlan, Keep, Layers, MAX_KEEP};

/// How long a node may run unless told otherwise.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// How a worker is isolated and limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// Keep the host's network (`--allow-network`): lifts the network layer only.
    pub allow_network: bool,
    /// Run without the layers this host cannot provide (each run warns).
    pub allow_weaker: bool,
    /// Wall-clock limit of one worker; the whole process tree is killed after it.
    pub timeout: Duration,
    /// Memory limit of one worker, in bytes.
    pub memory: u64,
    /// Folders the worker must not see (the lake's data folder, the catalog's
    /// folder): covered by an empty read-only file system.
    pub hidden: Vec<PathBuf>,
}

impl Default for Isolation {
    fn default() -> Isolation {
        Isolation {
            allow_network: false,
            allow_weaker: false,
            timeout: DEFAULT_NODE_TIMEOUT,
            memory: default_node_memory(),
            hidden: Vec::new(),
        }
    }
}

/// Three quarters of the machine's memory (4 GiB when it cannot be read).
pub fn default_node_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    total.map_or(4 << 30, |kb| kb * 1024 / 4 * 3)
}

/// One layer of isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// A network namespace of its own (no interface but loopback).
    Network,
    /// A PID namespace with a fresh `/proc`: no other process visible, every
    /// descendant killed with the worker.
    Processes,
    /// A mount namespace: read-only but the scratch folder; lake, catalog and
    /// cache hidden.
    Filesystem,
    /// Every capability dropped, `no_new_privs`.
    Privileges,
    /// The seccomp filter.
    Syscalls,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Network,
        Layer::Processes,
        Layer::Filesystem,
        Layer::Privileges,
        Layer::Syscalls,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Layer::Network => "network isolation (a network namespace)",
            Layer::Processes => "process isolation (a PID namespace with its own /proc)",
            Layer::Filesystem => "file system isolation (a read-only mount namespace)",
            Layer::Privileges => "privilege dropping (no capabilities, no_new_privs)",
            Layer::Syscalls => "the system call filter (seccomp)",
        }
    }

    fn only(self) -> Layers {
        let mut l = Layers::default();
        self.set(&mut l, true);
        l
    }

    fn set(self, layers: &mut Layers, on: bool) {
        match self {
            Layer::Network => layers.network = on,
            Layer::Processes => layers.processes = on,
            Layer::Filesystem => layers.filesystem = on,
            Layer::Privileges => layers.privileges = on,
            Layer::Syscalls => layers.syscalls = on,
        }
    }
}

/// What this host provides, probed once per process.
struct Support {
    /// Layers that failed, with why.
    missing: Vec<(Layer, String)>,
    /// Why memory cannot be limited with a cgroup (`RLIMIT_DATA` is used instead).
    no_cgroup: Option<String>,
    seccomp: Result<Vec<seccompiler::BpfProgram>, String>,
}

fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(|| {
        let seccomp = super::seccomp::filters();
        let all = Layers {
            network: true,
            processes: true,
            filesystem: true,
            privileges: true,
            syscalls: true,
        };
        let missing = match probe(all, &seccomp) {
            Ok(()) => Vec::new(),
            Err(combined) => {
                let each: Vec<(Layer, String)> = Layer::ALL
                    .into_iter()
                    .filter_map(|l| probe(l.only(), &seccomp).err().map(|e| (l, e)))
                    .collect();
                if each.is_empty() {
                    Layer::ALL.map(|l| (l, combined.clone())).into()
                } else {
                    each
                }
            }
        };
        let no_cgroup = MemoryCgroup::create(64 << 20)
            .map(MemoryCgroup::remove)
            .err();
        Support {
            missing,
            no_cgroup,
            seccomp,
        }
    })
}

/// Starts `true` with `layers` applied.
fn probe(
    layers: Layers,
    seccomp: &Result<Vec<seccompiler::BpfProgram>, String>,
) -> Result<(), String> {
    let seccomp = match (layers.syscalls, seccomp) {
        (true, Err(e)) => return Err(e.clone()),
        (true, Ok(f)) => f.clone(),
        (false, _) => Vec::new(),
    };
    let scratch = tempfile::tempdir().map_err(|e| format!("a probe directory: {e}"))?;
    let program = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .ok_or("no `true` program to probe with")?;
    let mut plan = base_plan(layers, seccomp);
    plan.keep.push(keep(scratch.path(), &[], true)?);
    let mut cmd = std::process::Command::new(program);
    cmd.current_dir(scratch.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: `apply` is async-signal-safe (see sandbox.rs).
    unsafe { cmd.pre_exec(move || plan.apply(None)) };
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("a probe process ended with {s}")),
        Err(e) => Err(e.to_string()),
    }
}

fn base_plan(layers: Layers, seccomp: Vec<seccompiler::BpfProgram>) -> ChildPlan {
    let uid = rustix::process::geteuid();
    let gid = rustix::process::getegid();
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63);
    ChildPlan {
        layers,
        parent: rustix::process::getpid(),
        try_without_userns: uid.is_root(),
        // The user's own ids, mapped to themselves: files keep their owners.
        uid_map: format!("{0} {0} 1\n", uid.as_raw()).into_bytes(),
        gid_map: format!("{0} {0} 1\n", gid.as_raw()).into_bytes(),
        hide: Vec::new(),
        keep: Vec::new(),
        cgroup_procs: None,
        data_limit: None,
        last_cap,
        seccomp,
    }
}

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a path with a NUL byte", path.display()))
}

/// `path` bound back into the worker's view; `hidden` are the folders covered.
fn keep(path: &Path, hidden: &[PathBuf], writable: bool) -> Result<Keep, String> {
    let mut mkdirs = Vec::new();
    if let Some(cover) = hidden.iter().find(|h| path.starts_with(h)) {
        let mut dirs: Vec<&Path> = path
            .ancestors()
            .take_while(|a| a.starts_with(cover) && *a != cover.as_path())
            .collect();
        dirs.reverse();
        for d in dirs {
            mkdirs.push(c_path(d)?);
        }
    }
    Ok(Keep {
        path: c_path(path)?,
        mkdirs,
        writable,
    })
}

/// The layers a worker under `isolation` must have.
fn required(isolation: &Isolation) -> Vec<Layer> {
    Layer::ALL
        .into_iter()
        .filter(|l| !(isolation.allow_network && *l == Layer::Network))
        .collect()
}

/// Whether Python nodes can run under `isolation` on this host: `Err` names the
/// first missing layer (unless weaker isolation is allowed); `Ok` lists what the
/// run must tell the user (missing layers, a memory limit without cgroup).
pub fn isolation_warnings(isolation: &Isolation) -> Result<Vec<String>, PythonError> {
    decide(support(), isolation)
}

/// [`isolation_warnings`] for a host that provides `support`.
fn decide(support: &Support, isolation: &Isolation) -> Result<Vec<String>, PythonError> {
    let required = required(isolation);
    let missing: Vec<&(Layer, String)> = support
        .missing
        .iter()
        .filter(|(l, _)| required.contains(l))
        .collect();
    if let Some((layer, reason)) = missing.first()
        && !isolation.allow_weaker
    {
        return Err(PythonError::IsolationUnavailable {
            layer: layer.describe().to_string(),
            reason: reason.clone(),
        });
    }
    let mut warnings: Vec<String> = missing
        .iter()
        .map(|(layer, reason)| {
            format!(
                "WEAKER ISOLATION: Python nodes run WITHOUT {} ({reason}), as \
                 --allow-weaker-isolation allows",
                layer.describe()
            )
        })
        .collect();
    if let Some(why) = &support.no_cgroup {
        warnings.push(format!(
            "the memory limit of Python nodes is a data-size limit (RLIMIT_DATA), not a \
             cgroup: {why}"
        ));
    }
    Ok(warnings)
}

/// The isolation of one worker, prepared in the parent.
pub(crate) struct Prepared {
    pub plan: ChildPlan,
    pub cgroup: Option<MemoryCgroup>,
    /// Applied between the mounts and the capability drop.
    pub landlock: Option<landlock::RulesetCreated>,
}

/// Landlock: writes only below `scratch` (and to device files such as
/// `/dev/null`). Best effort: on a kernel without Landlock the ruleset does
/// nothing, and the read-only mounts remain the enforcement.
fn landlock_ruleset(scratch: &Path) -> Result<landlock::RulesetCreated, String> {
    use landlock::{ABI, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr};
    let abi = ABI::V3;
    let text = |e: &dyn std::fmt::Display| format!("Landlock: {e}");
    let beneath = |path: &Path, access| {
        PathFd::new(path)
            .map(|fd| PathBeneath::new(fd, access))
            .map_err(|e| text(&e))
    };
    Ruleset::default()
        .handle_access(AccessFs::from_write(abi))
        .map_err(|e| text(&e))?
        .create()
        .map_err(|e| text(&e))?
        .add_rule(beneath(scratch, AccessFs::from_write(abi))?)
        .map_err(|e| text(&e))?
        .add_rule(beneath(Path::new("/dev"), AccessFs::WriteFile.into())?)
        .map_err(|e| text(&e))
}

/// Plans the isolation of one worker: `scratch` writable, `env_root` (the
/// environment) visible, the cache around it and `isolation.hidden` not.
pub(crate) fn prepare(
    isolation: &Isolation,
    scratch: &Path,
    env_root: &Path,
    project_root: &Path,
) -> Result<Prepared, PythonError> {
    isolation_warnings(isolation)?;
    let support = support();
    let mut layers = Layers::default();
    for layer in required(isolation) {
        if !support.missing.iter().any(|(l, _)| *l == layer) {
            layer.set(&mut layers, true);
        }
    }
    let seccomp = match (&support.seccomp, layers.syscalls) {
        (Ok(f), true) => f.clone(),
        _ => Vec::new(),
    };
    let mut plan = base_plan(layers, seccomp);
    let fail = |message: String| PythonError::Exchange(format!("isolating the worker: {message}"));
    if layers.filesystem {
        // The environment cache (<cache>/envs/<hash>): only this environment shows.
        let cache = env_root
            .parent()
            .filter(|p| p.file_name().is_some_and(|n| n == "envs"))
            .and_then(Path::parent);
        let mut hidden: Vec<PathBuf> = isolation
            .hidden
            .iter()
            .map(PathBuf::as_path)
            .chain(cache)
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .filter(|p| p.is_dir() && p.parent().is_some())
            .collect();
        hidden.sort();
        hidden.dedup();
        // A folder inside another hidden one is hidden with it.
        let outer: Vec<PathBuf> = hidden
            .iter()
            .filter(|h| !hidden.iter().any(|o| o != *h && h.starts_with(o)))
            .cloned()
            .collect();
        let canonical =
            |p: &Path| std::fs::canonicalize(p).map_err(|e| fail(format!("{}: {e}", p.display())));
        let scratch = canonical(scratch)?;
        plan.keep.push(keep(&scratch, &outer, true).map_err(fail)?);
        for visible in [env_root, project_root] {
            let visible = canonical(visible)?;
            if outer.iter().any(|h| visible.starts_with(h)) && plan.keep.len() < MAX_KEEP {
                plan.keep.push(keep(&visible, &outer, false).map_err(fail)?);
            }
        }
        plan.hide = outer
            .iter()
            .map(|p| c_path(p))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
    }
    let landlock = if layers.filesystem {
        Some(landlock_ruleset(scratch).map_err(fail)?)
    } else {
        None
    };
    let cgroup = match support.no_cgroup {
        None => MemoryCgroup::create(isolation.memory).ok(),
        Some(_) => None,
    };
    match &cgroup {
        Some(cg) => plan.cgroup_procs = Some(c_path(&cg.procs_file()).map_err(fail)?),
        None => plan.data_limit = Some(isolation.memory),
    }
    Ok(Prepared {
        plan,
        cgroup,
        landlock,
    })
}

/// Whether a `spawn` error is the isolation's fault (not an `exec` failure such as
/// a missing or non-executable interpreter).
pub(crate) fn is_isolation_error(err: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let Some(code) = err.raw_os_error() else {
        return false;
    };
    ![
        Errno::NOENT,
        Errno::ACCESS,
        Errno::NOEXEC,
        Errno::TOOBIG,
        Errno::TXTBSY,
        Errno::NOTDIR,
        Errno::LOOP,
        Errno::NAMETOOLONG,
    ]
    .iter()
    .any(|e| e.raw_os_error() == code)
}

/// Parses a memory size: `4GiB`, `512MiB`, `2G` (binary), `1.5 GB` (decimal),
/// `1000000` (bytes).
pub fn parse_memory_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid memory size {text:?}: expected e.g. 4GiB, 512MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid memory size {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < (1 << 20) as f64 || bytes > u64::MAX as f64 {
        return Err(format!(
            "invalid memory size {text:?}: must be at least 1MiB"
        ));
    }
    Ok(bytes as u64)
}

/// `4.0 GiB`, for messages.
pub fn format_memory_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_and_print() {
        assert_eq!(parse_memory_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_size("2G"), Ok(2 << 30));
        assert_eq!(parse_memory_size("1.5GB"), Ok(1_500_000_000));
        assert!(parse_memory_size("12").is_err());
        assert!(parse_memory_size("4 parsecs").is_err());
        assert!(parse_memory_size("lots").is_err());
        assert_eq!(format_memory_size(4 << 30), "4.0 GiB");
        assert_eq!(format_memory_size(1536 << 20), "1.5 GiB");
    }

    /// Landlock on its own (no namespace): `sh` may write in the scratch folder
    /// and to `/dev/null`, not in a folder next to it.
    #[test]
    fn landlock_confines_writes_to_the_scratch_folder() {
        let scratch = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let ruleset = landlock_ruleset(scratch.path()).unwrap();
        let plan = base_plan(Layers::default(), Vec::new());
        let mut ruleset = Some(ruleset);
        let script = format!(
            "echo ok > {0}/a && echo ok > /dev/null && (echo no > {1}/b) 2>/dev/null; \
             if test -e {1}/b; then echo escaped; fi",
            scratch.path().display(),
            other.path().display()
        );
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", &script]);
        // SAFETY: `apply` is async-signal-safe (see sandbox.rs).
        unsafe { cmd.pre_exec(move || plan.apply(ruleset.take())) };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(scratch.path().join("a").exists());
        // securityfs may not be mounted (it is not on this project's CI machine):
        // ask the kernel.
        let kernel_has_landlock = landlock_abi() > 0;
        assert_eq!(
            other.path().join("b").exists(),
            !kernel_has_landlock,
            "{out:?}"
        );
    }

    /// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`.
    fn landlock_abi() -> i64 {
        // SAFETY: the version query reads and writes no memory.
        unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) }
    }

    #[test]
    fn kept_folders_inside_hidden_ones_are_recreated() {
        let hidden = [PathBuf::from("/cache")];
        let k = keep(Path::new("/cache/envs/abc"), &hidden, false).unwrap();
        let dirs: Vec<&str> = k.mkdirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(dirs, ["/cache/envs", "/cache/envs/abc"]);
        assert!(
            keep(Path::new("/scratch"), &hidden, true)
                .unwrap()
                .mkdirs
                .is_empty()
        );
    }
    /// A host without user namespaces or seccomp, as some containers are.
    fn host(missing: &[Layer], no_cgroup: bool) -> Support {
        Support {
            missing: missing
                .iter()
                .map(|&l| (l, format!("{l:?} refused by the host")))
                .collect(),
            no_cgroup: no_cgroup.then(|| "no writable cgroup".to_owned()),
            seccomp: Err("not probed".to_owned()),
        }
    }

    #[test]
    fn a_missing_layer_refuses_the_run_and_names_the_layer() {
        let err = decide(&host(&[Layer::Syscalls], false), &Isolation::default()).unwrap_err();
        match err {
            PythonError::IsolationUnavailable { layer, reason } => {
                assert_eq!(layer, Layer::Syscalls.describe());
                assert_eq!(reason, "Syscalls refused by the host");
            }
            other => panic!("expected IsolationUnavailable, got {other:?}"),
        }
    }

    #[test]
    fn weaker_isolation_when_allowed_warns_once_per_missing_layer() {
        let isolation = Isolation {
            allow_weaker: true,
            ..Isolation::default()
        };
        let warnings = decide(
            &host(&[Layer::Network, Layer::Filesystem], true),
            &isolation,
        )
        .unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(warnings[0].starts_with("WEAKER ISOLATION") && warnings[0].contains("network"));
        assert!(warnings[1].contains("file system isolation"));
        assert!(warnings[2].contains("RLIMIT_DATA"));
    }

    #[test]
    fn allow_network_lifts_only_the_network_layer() {
        let isolation = Isolation {
            allow_network: true,
            ..Isolation::default()
        };
        // The network layer missing is no reason to refuse when it is not required...
        assert_eq!(
            decide(&host(&[Layer::Network], false), &isolation).unwrap(),
            Vec::<String>::new()
        );
        // ...but any other missing layer still is.
        assert!(
            decide(
                &host(&[Layer::Network, Layer::Processes], false),
                &isolation
            )
            .is_err()
        );
    }

    #[test]
    fn a_complete_host_runs_without_warnings() {
        assert!(
            decide(&host(&[], false), &Isolation::default())
                .unwrap()
                .is_empty()
        );
    }
}
