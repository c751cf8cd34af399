//! A memory cgroup per worker, when this process may create one (cgroup v2 with
//! the memory controller delegated, else the v1 memory hierarchy).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One worker's cgroup: created with its limit, removed after the worker ended.
#[derive(Debug)]
pub(crate) struct MemoryCgroup {
    dir: PathBuf,
    version: Version,
}

impl MemoryCgroup {
    /// A new cgroup below this process's own, limited to `bytes` (swap included
    /// where the kernel accounts it). `Err` when there is no memory controller
    /// this process may use.
    pub(crate) fn create(bytes: u64) -> Result<MemoryCgroup, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (parent, version) = own_memory_cgroup()?;
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_stale(&parent));
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cgroup = MemoryCgroup { dir, version };
        let (limit, swap) = match version {
            Version::V1 => ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"),
            Version::V2 => ("memory.max", "memory.swap.max"),
        };
        let path = cgroup.dir.join(limit);
        std::fs::write(&path, bytes.to_string()).map_err(|e| {
            cgroup.remove_now();
            format!("{}: {e}", path.display())
        })?;
        // Without swap accounting (no such file) there is nothing to limit.
        let swap_value = if version == Version::V1 {
            bytes.to_string()
        } else {
            "0".to_string()
        };
        let _ = std::fs::write(cgroup.dir.join(swap), swap_value);
        Ok(cgroup)
    }

    /// The file a process writes `0` to, to join the cgroup.
    pub(crate) fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// Whether the kernel killed a process of this cgroup for exceeding the limit.
    pub(crate) fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()
            .is_some_and(|text| {
                text.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
    }

    /// Removes the cgroup, waiting (up to 2 s) for the last processes to be gone.
    pub(crate) fn remove(self) {
        for _ in 0..200 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn remove_now(&self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Cgroups are named `sluice-node-<pid>-<n>` after the process that made them.
const PREFIX: &str = "sluice-node-";

/// Removes the (empty) cgroups below `parent` whose owning process is gone: a run
/// killed mid-node leaves its worker's cgroup behind.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let gone = super::worker::owner_is_gone(&entry.file_name(), PREFIX);
        if gone {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// This process's memory cgroup folder, when it can hold child cgroups with a
/// memory limit.
fn own_memory_cgroup() -> Result<(PathBuf, Version), String> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let mut tried = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let version = if id == "0" && controllers.is_empty() {
            Version::V2
        } else if controllers.split(',').any(|c| c == "memory") {
            Version::V1
        } else {
            continue;
        };
        let Some((root, mount)) = find_mount(&mountinfo, version) else {
            continue;
        };
        let relative = Path::new(path)
            .strip_prefix(&root)
            .unwrap_or(Path::new(path).strip_prefix("/").unwrap_or(Path::new(path)));
        let dir = mount.join(relative);
        let usable = match version {
            Version::V1 => dir.join("memory.limit_in_bytes").exists(),
            Version::V2 => std::fs::read_to_string(dir.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory")),
        };
        if usable && rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_ok() {
            return Ok((dir, version));
        }
        tried.push(dir.display().to_string());
    }
    if tried.is_empty() {
        Err("no memory cgroup controller is mounted".into())
    } else {
        Err(format!(
            "no writable memory cgroup with the memory controller ({})",
            tried.join(", ")
        ))
    }
}

/// The root within the hierarchy and the mount point of the cgroup file system of
/// `version` (for v1: the one with the memory controller).
fn find_mount(mountinfo: &str, version: Version) -> Option<(PathBuf, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let _source = after.next()?;
        let options = after.next().unwrap_or("");
        let matches = match version {
            Version::V2 => fstype == "cgroup2",
            Version::V1 => fstype == "cgroup" && options.split(',').any(|o| o == "memory"),
        };
        if !matches {
            return None;
        }
        Some((
            PathBuf::from(unescape(fields.get(3)?)),
            PathBuf::from(unescape(fields.get(4)?)),
        ))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_found_by_version() {
        let info = "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    31 25 0:27 /sub /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    32 25 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu";
        assert_eq!(
            find_mount(info, Version::V1),
            Some(("/".into(), "/sys/fs/cgroup/memory".into()))
        );
        assert_eq!(
            find_mount(info, Version::V2),
            Some(("/sub".into(), "/sys/fs/cgroup/unified".into()))
        );
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
