//! Network isolation of worker processes: a fresh, empty network namespace.
//!
//! [`NetIsolation::prepare`] runs in the parent and builds every string the child
//! needs; [`NetIsolation::apply`] runs in the forked child before `exec` (a
//! `pre_exec` hook) and only makes system calls (`unshare`, `open`, `write`,
//! `close`), which are async-signal-safe: no allocation, no locks.

use std::ffi::CStr;
use std::io;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::UnshareFlags;

/// What the child does to leave the parent's network.
#[derive(Debug, Clone)]
pub(crate) struct NetIsolation {
    /// `unshare(CLONE_NEWNET)` is enough (root with CAP_SYS_ADMIN); otherwise an
    /// unprivileged user namespace is created first.
    try_net_only: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

const SETGROUPS: &CStr = c"/proc/self/setgroups";
const UID_MAP: &CStr = c"/proc/self/uid_map";
const GID_MAP: &CStr = c"/proc/self/gid_map";

impl NetIsolation {
    pub(crate) fn prepare() -> NetIsolation {
        let uid = rustix::process::geteuid();
        let gid = rustix::process::getegid();
        NetIsolation {
            try_net_only: uid.is_root(),
            // The user's own ids, mapped to themselves: files keep their owners.
            uid_map: format!("{0} {0} 1\n", uid.as_raw()).into_bytes(),
            gid_map: format!("{0} {0} 1\n", gid.as_raw()).into_bytes(),
        }
    }

    /// Called in the forked child. Must stay async-signal-safe.
    pub(crate) fn apply(&self) -> io::Result<()> {
        if self.try_net_only {
            // SAFETY: a new network namespace does not affect file descriptors or
            // memory; the child is single-threaded after fork.
            match unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) } {
                Ok(()) => return Ok(()),
                Err(Errno::PERM) => {} // root without CAP_SYS_ADMIN (a container): try a user namespace
                Err(e) => return Err(e.into()),
            }
        }
        // SAFETY: as above; CLONE_NEWUSER needs a single-threaded caller, which a
        // forked child is.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNET) }?;
        write_file(SETGROUPS, b"deny")?;
        write_file(UID_MAP, &self.uid_map)?;
        write_file(GID_MAP, &self.gid_map)?;
        Ok(())
    }
}

fn write_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let written = rustix::io::write(&fd, contents)?;
    if written != contents.len() {
        return Err(io::Error::other("short write to a /proc/self map"));
    }
    Ok(())
}

/// Whether a `spawn` error with isolation requested is the isolation's fault (not
/// an `exec` failure such as a missing or non-executable interpreter).
pub(crate) fn is_isolation_error(err: &io::Error) -> bool {
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
