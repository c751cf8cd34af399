//! The analysis worker: one thread that owns every [`Project`], applies the changes the
//! main loop sends, and analyses. A change that finds the worker idle is analysed at
//! once (no quiet period to wait out: a keystroke's diagnostics are not delayed); the
//! changes that arrive while an analysis runs are applied together and are one
//! analysis (a burst is coalesced, as a debounce would, without its latency); a
//! result is dropped when a newer change to its project arrived while it ran, and the
//! main loop drops any result whose revision is not the project's latest, so nothing
//! stale is published. Loading, reading and analysing run under `catch_unwind`: a
//! panic becomes an [`Event::Failed`] and the worker goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::project::{Project, Snapshot};
use crate::workspace::NestedProjects;
use sluice_compiler::source::project_file;

/// What the main loop asks of the worker. Every change to a project carries the
/// project's new revision.
#[derive(Debug)]
pub enum Change {
    /// Read the project's disk state (again), keeping the open buffers over it.
    Load { root: PathBuf, revision: u64 },
    /// An open buffer's text: it overlays the disk until closed.
    Buffer {
        root: PathBuf,
        revision: u64,
        rel: String,
        text: String,
    },
    /// The buffer was closed: the file's text is the disk's again.
    Closed {
        root: PathBuf,
        revision: u64,
        rel: String,
    },
    /// A file or folder changed on disk: read what is there now (open buffers win).
    Disk {
        root: PathBuf,
        revision: u64,
        rel: String,
    },
    /// The project is gone (the workspace changed shape).
    Unload { root: PathBuf },
}

/// What the worker reports back.
#[derive(Debug)]
pub enum Event {
    /// The analysis of a project at `revision`.
    Analysed {
        root: PathBuf,
        revision: u64,
        snapshot: Arc<Snapshot>,
    },
    /// The project at `revision` could not be loaded or analysed.
    Failed {
        root: PathBuf,
        revision: u64,
        /// Whether the project has no usable state (its load failed).
        unloadable: bool,
        /// What to log (said once per failure, not for every change after it).
        message: Option<String>,
    },
}

/// A running worker; dropping it lets the thread finish.
pub struct Worker {
    changes: Sender<Change>,
}

impl Worker {
    pub fn spawn(events: Sender<Event>) -> std::io::Result<Worker> {
        let (changes, receiver) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("sluice-lsp-analysis".into())
            .spawn(move || State::default().run(&receiver, &events))?;
        Ok(Worker { changes })
    }

    /// Queues a change. Never blocks; a worker that is gone is ignored (the main
    /// loop notices its closed event channel).
    pub fn send(&self, change: Change) {
        let _ = self.changes.send(change);
    }
}

#[derive(Default)]
struct Slot {
    /// `None` until loaded, and while the disk state cannot be read.
    project: Option<Project>,
    /// Open buffers, by relative path: they win over the disk.
    buffers: BTreeMap<String, String>,
    revision: u64,
}

#[derive(Default)]
struct State {
    slots: BTreeMap<PathBuf, Slot>,
    /// Projects whose latest revision is not analysed yet.
    dirty: BTreeSet<PathBuf>,
}

impl State {
    fn run(mut self, changes: &Receiver<Change>, events: &Sender<Event>) {
        loop {
            if self.dirty.is_empty() {
                match changes.recv() {
                    Ok(change) => self.apply(change, events),
                    Err(_) => return,
                }
            }
            // Whatever is queued already (a burst that arrived during the last
            // analysis) is applied before analysing: one analysis for all of it.
            loop {
                match changes.try_recv() {
                    Ok(change) => self.apply(change, events),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let Some(root) = self.dirty.pop_first() else {
                continue;
            };
            let Some(slot) = self.slots.get_mut(&root) else {
                continue;
            };
            let revision = slot.revision;
            let Some(project) = &mut slot.project else {
                // Still unloadable: answer the revision (the failure was logged).
                let event = Event::Failed {
                    root,
                    revision,
                    unloadable: true,
                    message: None,
                };
                if events.send(event).is_err() {
                    return;
                }
                continue;
            };
            let result = guarded(|| project.analysis());
            // Whatever arrived meanwhile; a newer change to this project supersedes.
            loop {
                match changes.try_recv() {
                    Ok(change) => self.apply(change, events),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if self.slots.get(&root).is_none_or(|s| s.revision != revision) {
                continue;
            }
            let event = match result {
                Ok(snapshot) => Event::Analysed {
                    root,
                    revision,
                    snapshot: Arc::new(snapshot),
                },
                Err(panic) => Event::Failed {
                    message: Some(format!(
                        "sluice: checking `{}` panicked: {panic}",
                        root.display()
                    )),
                    root,
                    revision,
                    unloadable: false,
                },
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }

    fn apply(&mut self, change: Change, events: &Sender<Event>) {
        let (root, revision) = match &change {
            Change::Unload { root } => {
                self.slots.remove(root);
                self.dirty.remove(root);
                return;
            }
            Change::Load { root, revision }
            | Change::Buffer { root, revision, .. }
            | Change::Closed { root, revision, .. }
            | Change::Disk { root, revision, .. } => (root.clone(), *revision),
        };
        let slot = self.slots.entry(root.clone()).or_default();
        slot.revision = slot.revision.max(revision);
        let reload = match change {
            Change::Load { .. } => true,
            Change::Buffer { rel, text, .. } => {
                if let Some(project) = &mut slot.project {
                    project.set_file(&rel, text.clone());
                }
                slot.buffers.insert(rel, text);
                false
            }
            Change::Closed { rel, .. } => {
                slot.buffers.remove(&rel);
                slot.project.is_none() || read_from_disk(slot, &rel).is_err()
            }
            Change::Disk { rel, .. } => {
                slot.project.is_none() || read_from_disk(slot, &rel).is_err()
            }
            Change::Unload { .. } => false,
        };
        if reload {
            load(&root, slot, events);
        }
        self.dirty.insert(root);
    }
}

/// (Re)loads a project's disk state and lays its open buffers over it.
fn load(root: &Path, slot: &mut Slot, events: &Sender<Event>) {
    let loaded = guarded(|| {
        let mut nested = NestedProjects::new(root);
        Project::load(root, |rel| !nested.contains(rel))
    });
    let message = match loaded {
        Ok(Ok(mut project)) => {
            for (rel, text) in &slot.buffers {
                project.set_file(rel, text.clone());
            }
            slot.project = Some(project);
            return;
        }
        Ok(Err(error)) => format!(
            "sluice: cannot load the project `{}`: {error}",
            root.display()
        ),
        Err(panic) => format!("sluice: loading `{}` panicked: {panic}", root.display()),
    };
    slot.project = None;
    let _ = events.send(Event::Failed {
        root: root.to_owned(),
        revision: slot.revision,
        unloadable: true,
        message: Some(message),
    });
}

/// Brings the file or folder at `rel` in line with the disk, leaving open buffers as
/// they are. An error asks for a reload of the whole project (e.g. a file that is no
/// longer UTF-8, which `load_project` reports).
fn read_from_disk(slot: &mut Slot, rel: &str) -> Result<(), ()> {
    let Some(project) = &mut slot.project else {
        return Err(());
    };
    // The file itself, or every known file below a folder of that name.
    let prefix = format!("{rel}/");
    let mut targets: Vec<String> = project
        .paths()
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    if project_file(rel).is_some() {
        targets.push(rel.to_owned());
    }
    for target in targets {
        if slot.buffers.contains_key(&target) {
            continue;
        }
        let path = project.root().join(&target);
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => project.set_file(&target, text),
                Err(_) => return Err(()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => project.remove_file(&target),
            // A folder where a file was, or a file that cannot be read: let the
            // project's loader decide (it reports unreadable files).
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic into its message.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn guarded_turns_panics_into_messages() {
        assert_eq!(guarded(|| 7), Ok(7));
        assert_eq!(
            guarded(|| -> u8 { panic!("boom {}", 1) }),
            Err("boom 1".to_owned())
        );
        assert_eq!(
            guarded(|| -> u8 { panic!("static") }),
            Err("static".to_owned())
        );
    }

    fn project(dir: &std::path::Path) -> PathBuf {
        std::fs::write(dir.join("sluice.toml"), "[project]\nname = \"t\"\n").unwrap();
        std::fs::write(dir.join("a.sql"), "SELECT 1 AS x\n").unwrap();
        dir.to_owned()
    }

    fn next_analysis(events: &Receiver<Event>) -> (u64, Arc<Snapshot>) {
        loop {
            match events
                .recv_timeout(Duration::from_secs(60))
                .expect("an event")
            {
                Event::Analysed {
                    revision, snapshot, ..
                } => return (revision, snapshot),
                Event::Failed { message: None, .. } => {}
                Event::Failed { message, .. } => panic!("{message:?}"),
            }
        }
    }

    #[test]
    fn buffers_overlay_the_disk_until_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = project(tmp.path());
        let (tx, rx) = crossbeam_channel::unbounded();
        let worker = Worker::spawn(tx).unwrap();
        worker.send(Change::Load {
            root: root.clone(),
            revision: 1,
        });
        let (revision, snap) = next_analysis(&rx);
        assert_eq!((revision, snap.sources.len()), (1, 2));
        worker.send(Change::Buffer {
            root: root.clone(),
            revision: 2,
            rel: "a.sql".into(),
            text: "SELEC".into(),
        });
        let (revision, snap) = next_analysis(&rx);
        assert_eq!(revision, 2);
        assert!(
            snap.analysis
                .diagnostics
                .iter()
                .any(|d| d.code.as_str() == "E0002")
        );
        // On disk meanwhile: a new file, and the buffer's file changes (the buffer wins).
        std::fs::write(root.join("b.sql"), "SELECT 2 AS y\n").unwrap();
        std::fs::write(root.join("a.sql"), "SELECT 3 AS z\n").unwrap();
        for (revision, rel) in [(3, "b.sql"), (4, "a.sql"), (5, ".hidden.sql")] {
            let (root, rel) = (root.clone(), rel.into());
            worker.send(Change::Disk {
                root,
                revision,
                rel,
            });
        }
        let (revision, snap) = next_analysis(&rx);
        assert_eq!((revision, snap.sources.len()), (5, 3));
        assert!(!snap.analysis.diagnostics.is_empty());
        worker.send(Change::Closed {
            root: root.clone(),
            revision: 6,
            rel: "a.sql".into(),
        });
        let (revision, snap) = next_analysis(&rx);
        assert_eq!(revision, 6);
        assert!(
            snap.analysis.diagnostics.is_empty(),
            "{:?}",
            snap.analysis.diagnostics
        );
        std::fs::remove_file(root.join("b.sql")).unwrap();
        worker.send(Change::Disk {
            root: root.clone(),
            revision: 7,
            rel: "b.sql".into(),
        });
        let (_, snap) = next_analysis(&rx);
        assert_eq!(snap.sources.len(), 2);
    }

    #[test]
    fn an_unloadable_project_is_reported_and_retried() {
        let tmp = tempfile::tempdir().unwrap();
        let root = project(tmp.path());
        std::fs::write(root.join("bad.sql"), b"SELECT '\xff'").unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let worker = Worker::spawn(tx).unwrap();
        worker.send(Change::Load {
            root: root.clone(),
            revision: 1,
        });
        match rx.recv_timeout(Duration::from_secs(60)).unwrap() {
            Event::Failed {
                unloadable,
                message,
                ..
            } => assert!(unloadable && message.unwrap().contains("UTF-8")),
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(root.join("bad.sql")).unwrap();
        worker.send(Change::Disk {
            root: root.clone(),
            revision: 2,
            rel: "bad.sql".into(),
        });
        let (revision, snap) = next_analysis(&rx);
        assert_eq!((revision, snap.sources.len()), (2, 2));
    }
}
