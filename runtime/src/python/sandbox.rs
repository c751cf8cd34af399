//! The child side of worker isolation: what runs between `fork` and `exec`.
//!
//! [`ChildPlan::apply`] runs in the process `std` forked for the worker (a
//! `pre_exec` hook). Everything it needs (paths, id maps, the seccomp programs) was
//! built by the parent (`isolate.rs`); here there are only system calls and reads
//! of that prepared data: no allocation, no locks (async-signal-safe).
//!
//! The order matters:
//! 1. die with the parent thread; join the node's memory cgroup;
//! 2. `unshare` the network, mount and PID namespaces (inside a new user namespace
//!    when not root);
//! 3. fork twice: PID 1 of the new PID namespace, and below it the worker; the
//!    two others only wait, and end the way the worker ended (when PID 1 ends,
//!    the kernel kills every other process of the namespace);
//! 4. mounts: everything private, the hidden folders covered by empty `tmpfs`,
//!    the kept folders (scratch, environment) bound back, the whole tree made
//!    read-only but the scratch folder, a fresh read-only `/proc`;
//! 5. Landlock (where the kernel has it): writes only below the scratch folder
//!    (and to devices), a second wall behind the read-only mounts;
//!    the data-size limit (when no cgroup limits memory);
//! 6. every capability dropped (bounding, ambient, effective, permitted,
//!    inheritable) and `no_new_privs`;
//! 7. the seccomp filters. Then `std` calls `execve`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow};
use nix::sys::wait::WaitStatus;
use nix::unistd::ForkResult;
use rustix::fs::{CWD, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
use rustix::process::{Pid, Resource, Rlimit, Signal};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};
use seccompiler::BpfProgram;

/// At most this many folders are bound back into the worker's file system view.
pub(crate) const MAX_KEEP: usize = 4;

/// The isolation layers a worker gets (each can be missing only with
/// `allow_weaker`; the network one also with `allow_network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Layers {
    pub network: bool,
    pub processes: bool,
    pub filesystem: bool,
    pub privileges: bool,
    pub syscalls: bool,
}

/// A folder visible (again) in the worker: the scratch folder (writable) and the
/// environment when it lives inside a hidden folder.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    pub path: std::ffi::CString,
    /// Folders to create (in order) inside the hidden folder above `path`.
    pub mkdirs: Vec<std::ffi::CString>,
    pub writable: bool,
}

/// Everything the child does, prepared by the parent.
#[derive(Debug, Clone)]
pub(crate) struct ChildPlan {
    pub layers: Layers,
    /// The process that spawns the worker: if it is gone already, stop.
    pub parent: Pid,
    /// Try plain `unshare` first (root); else, or when that is refused, a user
    /// namespace with these `uid_map` / `gid_map` contents.
    pub try_without_userns: bool,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// Folders replaced by an empty read-only `tmpfs`.
    pub hide: Vec<std::ffi::CString>,
    pub keep: Vec<Keep>,
    /// `cgroup.procs` of the node's memory cgroup.
    pub cgroup_procs: Option<std::ffi::CString>,
    /// `RLIMIT_DATA` in bytes (when no cgroup limits memory).
    pub data_limit: Option<u64>,
    /// `/proc/sys/kernel/cap_last_cap`.
    pub last_cap: u32,
    pub seccomp: Vec<BpfProgram>,
}

const SETGROUPS: &CStr = c"/proc/self/setgroups";
const UID_MAP: &CStr = c"/proc/self/uid_map";
const GID_MAP: &CStr = c"/proc/self/gid_map";

impl ChildPlan {
    /// Called in the forked child: [`ChildPlan::enter`], Landlock (when given),
    /// [`ChildPlan::lock_down`]. Must stay async-signal-safe.
    pub(crate) fn apply(&self, landlock: Option<landlock::RulesetCreated>) -> io::Result<()> {
        self.enter()?;
        if let Some(ruleset) = landlock {
            ruleset.restrict_self().map_err(|_| Errno::PERM)?;
        }
        self.lock_down()
    }

    /// The namespaces and mounts. Only the future worker returns (`Ok`); the
    /// processes above it never do.
    pub(crate) fn enter(&self) -> io::Result<()> {
        // The worker dies with the thread that started it: a killed `sluice run`
        // leaves no Python process behind. If the parent is already gone, stop.
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        if rustix::process::getppid() != Some(self.parent) {
            return Err(Errno::SRCH.into());
        }
        if let Some(procs) = &self.cgroup_procs {
            write_file(procs, b"0")?;
        }
        self.unshare()?;
        if self.layers.processes {
            become_namespace_init()?;
        }
        if self.layers.filesystem || self.layers.processes {
            self.mounts()?;
        }
        Ok(())
    }

    /// After [`ChildPlan::enter`] (and Landlock, which forbids mounting): limits,
    /// capabilities, seccomp. Async-signal-safe.
    pub(crate) fn lock_down(&self) -> io::Result<()> {
        if let Some(limit) = self.data_limit {
            let limit = Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            };
            rustix::process::setrlimit(Resource::Data, limit)?;
        }
        if self.layers.privileges {
            drop_capabilities(self.last_cap)?;
        }
        if self.layers.syscalls {
            for program in &self.seccomp {
                seccompiler::apply_filter(program).map_err(seccomp_error)?;
            }
        }
        Ok(())
    }

    fn unshare(&self) -> io::Result<()> {
        let mut flags = UnshareFlags::empty();
        if self.layers.network {
            flags |= UnshareFlags::NEWNET;
        }
        if self.layers.filesystem || self.layers.processes {
            flags |= UnshareFlags::NEWNS;
        }
        if self.layers.processes {
            flags |= UnshareFlags::NEWPID;
        }
        if flags.is_empty() {
            return Ok(());
        }
        if self.try_without_userns {
            // SAFETY: new namespaces do not affect file descriptors or memory; the
            // child is single-threaded after fork.
            match unsafe { rustix::thread::unshare_unsafe(flags) } {
                Ok(()) => return Ok(()),
                Err(Errno::PERM) => {} // root without CAP_SYS_ADMIN (a container)
                Err(e) => return Err(e.into()),
            }
        }
        // SAFETY: as above; CLONE_NEWUSER needs a single-threaded caller, which a
        // forked child is.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | flags) }?;
        write_file(SETGROUPS, b"deny")?;
        write_file(UID_MAP, &self.uid_map)?;
        write_file(GID_MAP, &self.gid_map)?;
        Ok(())
    }

    fn mounts(&self) -> io::Result<()> {
        // Nothing done here propagates back to the host's mounts.
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        if self.layers.filesystem {
            // Copies of the kept folders, taken before the hidden ones are covered.
            let mut trees: [Option<OwnedFd>; MAX_KEEP] = [None, None, None, None];
            for (keep, tree) in self.keep.iter().zip(trees.iter_mut()) {
                *tree = Some(rustix::mount::open_tree(
                    CWD,
                    keep.path.as_c_str(),
                    OpenTreeFlags::OPEN_TREE_CLONE
                        | OpenTreeFlags::OPEN_TREE_CLOEXEC
                        | OpenTreeFlags::AT_RECURSIVE,
                )?);
            }
            for hidden in &self.hide {
                rustix::mount::mount(
                    c"tmpfs",
                    hidden.as_c_str(),
                    c"tmpfs",
                    MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                    Some(c"size=64k,mode=0755"),
                )?;
            }
            for (keep, tree) in self.keep.iter().zip(trees.iter()) {
                for dir in &keep.mkdirs {
                    match rustix::fs::mkdir(dir.as_c_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                if let Some(tree) = tree {
                    rustix::mount::move_mount(
                        tree,
                        c"",
                        CWD,
                        keep.path.as_c_str(),
                        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                    )?;
                }
            }
            mount_setattr(c"/", true, libc::MOUNT_ATTR_RDONLY, 0)?;
            for keep in self.keep.iter().filter(|k| k.writable) {
                mount_setattr(keep.path.as_c_str(), false, 0, libc::MOUNT_ATTR_RDONLY)?;
            }
        }
        if self.layers.processes {
            // Only this namespace's processes; read-only (no sysctl writes).
            rustix::mount::mount(
                c"proc",
                c"/proc",
                c"proc",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::RDONLY,
                None,
            )?;
        }
        Ok(())
    }
}

/// Forks twice: PID 1 of the PID namespace `unshare` prepared, and below it the
/// future worker, which returns (an ordinary process: PID 1 ignores signals it has
/// no handler for, even a SIGKILL it sends itself). Neither of the other two
/// processes returns: the one outside the namespace waits for PID 1 and ends the
/// way the worker ended; PID 1 reaps orphans until the worker ends, reports how,
/// and exits, and with it the kernel kills whatever else runs in the namespace.
fn become_namespace_init() -> io::Result<()> {
    use rustix::pipe::{PipeFlags, pipe_with};
    // Only the outer process holds `alive_w`: PID 1 reads end-of-file from
    // `alive_r` if that process died before PID 1 armed its parent-death signal.
    let (alive_r, alive_w) = pipe_with(PipeFlags::CLOEXEC)?;
    // PID 1 writes how the worker ended: `E` + exit code, or `S` + signal.
    let (status_r, status_w) = pipe_with(PipeFlags::CLOEXEC)?;
    // SAFETY: the caller is a forked, single-threaded child; every process here
    // only makes async-signal-safe system calls until `exec` / `_exit`.
    match unsafe { nix::unistd::fork() }.map_err(nix_error)? {
        ForkResult::Parent { child } => {
            drop((alive_r, status_w));
            outer_wait(child, alive_w, status_r)
        }
        ForkResult::Child => {
            drop((alive_w, status_r));
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            rustix::fs::fcntl_setfl(&alive_r, OFlags::NONBLOCK)?;
            let mut byte = [0u8; 1];
            if rustix::io::read(&alive_r, &mut byte) != Err(Errno::AGAIN) {
                return Err(Errno::SRCH.into()); // the outer process is gone
            }
            drop(alive_r);
            // SAFETY: as above.
            match unsafe { nix::unistd::fork() }.map_err(nix_error)? {
                ForkResult::Parent { child } => init_wait(child, status_w),
                ForkResult::Child => Ok(()),
            }
        }
    }
}

/// PID 1: reaps every child until the worker ends, reports how, exits.
fn init_wait(worker: nix::unistd::Pid, status_w: OwnedFd) -> ! {
    quiet(&[status_w.as_raw_fd()]);
    let report = loop {
        match nix::sys::wait::waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == worker => break [b'E', code as u8],
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == worker => {
                break [b'S', signal as i32 as u8];
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break [b'E', 127],
        }
    };
    let _ = rustix::io::write(&status_w, &report);
    // SAFETY: `_exit` ends the process without running anything of the parent's.
    unsafe { libc::_exit(0) }
}

/// The process between `sluice` and the namespace: waits for PID 1 and ends the
/// way the worker ended.
fn outer_wait(init: nix::unistd::Pid, alive_w: OwnedFd, status_r: OwnedFd) -> ! {
    quiet(&[alive_w.as_raw_fd(), status_r.as_raw_fd()]);
    let own = loop {
        match nix::sys::wait::waitpid(init, None) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break status,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break WaitStatus::Exited(init, 127),
        }
    };
    let mut report = [0u8; 2];
    let reported = rustix::io::read(&status_r, &mut report) == Ok(2);
    let signal = match (reported, own) {
        (true, _) if report[0] == b'E' => exit(i32::from(report[1])),
        (true, _) => nix::sys::signal::Signal::try_from(i32::from(report[1])).ok(),
        (false, WaitStatus::Signaled(_, signal, _)) => Some(signal),
        (false, WaitStatus::Exited(_, code)) => exit(code),
        (false, _) => None,
    };
    if let Some(signal) = signal {
        // SAFETY: resetting a disposition in a single-threaded process that runs
        // no handler.
        unsafe {
            let _ = nix::sys::signal::signal(signal, SigHandler::SigDfl);
        }
        let mut set = SigSet::empty();
        set.add(signal);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
        let _ = nix::sys::signal::raise(signal);
        exit(128 + signal as i32)
    }
    exit(127)
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process without running anything of the parent's.
    unsafe { libc::_exit(code) }
}

/// Blocks every signal but SIGKILL/SIGSTOP and closes every descriptor but
/// `keep` (the parent's pipes, its error-report pipe, stdout and stderr among
/// them: `spawn` returns once the worker runs, and its output ends with it).
fn quiet(keep: &[std::os::fd::RawFd]) {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
    let mut first: libc::c_uint = 0;
    let mut sorted = [libc::c_uint::MAX; 2];
    for (slot, fd) in sorted.iter_mut().zip(keep) {
        *slot = *fd as libc::c_uint;
    }
    sorted.sort_unstable();
    for fd in sorted {
        if fd > first {
            close_range(first, fd - 1);
        }
        if fd == libc::c_uint::MAX {
            return;
        }
        first = fd + 1;
    }
    close_range(first, libc::c_uint::MAX);
}

/// `close_range(2)` (not wrapped by rustix or nix).
fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: closes descriptor numbers; nothing in this process uses them after.
    unsafe {
        libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint);
    }
}

fn drop_capabilities(last_cap: u32) -> io::Result<()> {
    let mut bounding_refused = false;
    for cap in 0..=last_cap.min(63) {
        match rustix::thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(
            1u64 << cap,
        )) {
            Ok(()) | Err(Errno::INVAL) => {}
            Err(Errno::PERM) => bounding_refused = true,
            Err(e) => return Err(e.into()),
        }
    }
    match rustix::thread::clear_ambient_capability_set() {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )?;
    rustix::thread::set_no_new_privs(true)?;
    // Without CAP_SETPCAP (an unprivileged user without a user namespace) the
    // bounding set stays, but with nothing permitted and `no_new_privs` no
    // capability can be gained again (not by setuid or file capabilities either).
    if bounding_refused && !rustix::thread::capabilities(None)?.permitted.is_empty() {
        return Err(Errno::PERM.into());
    }
    Ok(())
}

/// `mount_setattr(2)` on `path` (and, with `recursive`, every mount below it).
/// Neither rustix nor nix wraps this call yet.
fn mount_setattr(path: &CStr, recursive: bool, set: u64, clear: u64) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is NUL-terminated and `attr` outlives the call, whose size is
    // passed along.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let written = rustix::io::write(&fd, contents)?;
    if written != contents.len() {
        return Err(Errno::IO.into());
    }
    Ok(())
}

fn nix_error(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn seccomp_error(e: seccompiler::Error) -> io::Error {
    match e {
        seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e,
        _ => Errno::INVAL.into(),
    }
}
