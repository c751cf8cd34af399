//! Results to the client: diagnostics of the project's latest revision (only files
//! whose diagnostics changed, empty lists for cleared ones), `$/progress` of each
//! project's first analysis, and the server status.

use std::collections::BTreeMap;
use std::path::Path;

use lsp_server::{Notification, Response};
use lsp_types::notification::{Progress, PublishDiagnostics};
use lsp_types::{
    ProgressParams, ProgressParamsValue, PublishDiagnosticsParams, Url, WorkDoneProgress,
    WorkDoneProgressBegin, WorkDoneProgressEnd,
};

use super::{Pending, Server};
use crate::analysis::Event;
use crate::convert;

/// rust-analyzer's status notification, sent when the client opts in with
/// `experimental.serverStatusNotification`: `quiescent` is true when every project's
/// latest revision is analysed and published.
const SERVER_STATUS: &str = "experimental/serverStatus";

/// The server's view of one project.
pub(super) struct ProjectState {
    /// The revision of the latest change sent to the worker.
    pub(super) revision: u64,
    /// The latest revision the worker answered for (analysed or failed).
    pub(super) answered: u64,
    /// What the client shows now: files with at least one diagnostic.
    pub(super) published: BTreeMap<Url, Vec<lsp_types::Diagnostic>>,
    pub(super) progress: ProgressState,
    /// The latest analysis published (requests answer from it).
    pub(super) snapshot: Option<std::sync::Arc<crate::project::Snapshot>>,
}

#[derive(PartialEq, Eq)]
pub(super) enum ProgressState {
    /// `window/workDoneProgress/create` sent; begins when the client accepts it.
    Creating(String),
    Begun(String),
    Done,
}

impl Server<'_> {
    pub(super) fn on_response(&mut self, response: Response) {
        match self.pending.remove(&response.id) {
            Some(Pending::Progress(root)) => {
                let Some(state) = self.projects.get_mut(&root) else {
                    return;
                };
                if let ProgressState::Creating(token) = &state.progress {
                    let token = token.clone();
                    state.progress = ProgressState::Done;
                    if response.response_result.is_ok() {
                        let begin = WorkDoneProgressBegin {
                            title: "sluice".to_owned(),
                            message: Some(format!("checking {}", root.display())),
                            cancellable: Some(false),
                            percentage: None,
                        };
                        self.progress(&token, WorkDoneProgress::Begin(begin));
                        if let Some(state) = self.projects.get_mut(&root) {
                            state.progress = ProgressState::Begun(token);
                        }
                    }
                }
            }
            Some(Pending::Register | Pending::Refresh) | None => {}
        }
    }

    pub(super) fn progress(&self, token: &str, value: WorkDoneProgress) {
        self.notify::<Progress>(ProgressParams {
            token: lsp_types::NumberOrString::String(token.to_owned()),
            value: ProgressParamsValue::WorkDone(value),
        });
    }

    pub(super) fn end_progress(&mut self, root: &Path) {
        let Some(state) = self.projects.get_mut(root) else {
            return;
        };
        let previous = std::mem::replace(&mut state.progress, ProgressState::Done);
        if let ProgressState::Begun(token) = previous {
            let end = WorkDoneProgressEnd { message: None };
            self.progress(&token, WorkDoneProgress::End(end));
        }
    }

    pub(super) fn on_event(&mut self, event: Event) {
        match event {
            Event::Analysed {
                root,
                revision,
                snapshot,
            } => {
                let Some(state) = self.projects.get_mut(&root) else {
                    return;
                };
                if revision != state.revision {
                    return; // stale: a newer change is on its way
                }
                state.answered = revision;
                let files = convert::by_file(
                    &snapshot.sources,
                    &snapshot.analysis.diagnostics,
                    self.client.unit,
                );
                if let Some(state) = self.projects.get_mut(&root) {
                    state.snapshot = Some(snapshot);
                }
                self.publish_project(&root, files);
                self.end_progress(&root);
            }
            Event::Failed {
                root,
                revision,
                unloadable,
                message,
            } => {
                if let Some(message) = message {
                    self.log(message);
                }
                let Some(state) = self.projects.get_mut(&root) else {
                    return;
                };
                if revision != state.revision {
                    return;
                }
                state.answered = revision;
                if unloadable {
                    self.publish_project(&root, BTreeMap::new());
                }
                self.end_progress(&root);
            }
        }
    }

    /// Publishes the files whose diagnostics changed, and empty lists for the files
    /// whose diagnostics went away.
    pub(super) fn publish_project(
        &mut self,
        root: &Path,
        files: BTreeMap<Url, Vec<lsp_types::Diagnostic>>,
    ) {
        let Some(state) = self.projects.get_mut(root) else {
            return;
        };
        let old = std::mem::take(&mut state.published);
        let mut changed = Vec::new();
        for (uri, diagnostics) in files {
            if diagnostics.is_empty() {
                continue;
            }
            if old.get(&uri) != Some(&diagnostics) {
                changed.push((uri.clone(), diagnostics.clone()));
            }
            state.published.insert(uri, diagnostics);
        }
        for uri in old.into_keys() {
            if !state.published.contains_key(&uri) {
                changed.push((uri, Vec::new()));
            }
        }
        for (uri, diagnostics) in changed {
            self.publish(uri, diagnostics);
        }
    }

    pub(super) fn publish(&self, uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) {
        // An open document is named as the client named it, with its version.
        let open = uri
            .to_file_path()
            .ok()
            .and_then(|path| self.documents.by_path(&path));
        let (uri, version) = match open {
            Some((client_uri, doc)) => (client_uri.clone(), Some(doc.version)),
            None => (uri, None),
        };
        self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        });
    }

    pub(super) fn report_status(&mut self) {
        if !self.client.status {
            return;
        }
        let quiescent = self.projects.values().all(|s| s.answered == s.revision);
        if self.status_sent == Some(quiescent) {
            return;
        }
        self.status_sent = Some(quiescent);
        self.send(Notification::new(
            SERVER_STATUS.to_owned(),
            serde_json::json!({ "health": "ok", "quiescent": quiescent }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use lsp_server::{Connection, Message};
    use lsp_types::InitializeParams;
    use lsp_types::notification::Notification as _;

    use super::*;
    use crate::analysis::Worker;
    use crate::project::Project;
    use crate::server::init::Client;

    fn client() -> Client {
        Client::of(&InitializeParams::default())
    }

    /// Only a result of the project's latest revision is published; an older one,
    /// arriving late, is dropped.
    #[test]
    fn results_of_an_older_revision_are_never_published() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        std::fs::write(root.join("sluice.toml"), "").unwrap();
        std::fs::write(root.join("a.sql"), "SELEC").unwrap();
        let snapshot = Arc::new(Project::load(&root, |_| true).unwrap().analysis());
        assert!(!snapshot.analysis.diagnostics.is_empty());

        let (server_side, client_side) = Connection::memory();
        let (events, _) = crossbeam_channel::unbounded();
        let worker = Worker::spawn(events).unwrap();
        let mut server = Server::new(&server_side, client(), vec![root.clone()], worker);
        server.ensure_project(&root);
        let latest = server.bump(&root).unwrap();
        let analysed = |revision| Event::Analysed {
            root: root.clone(),
            revision,
            snapshot: snapshot.clone(),
        };
        server.on_event(analysed(latest - 1));
        let wait = Duration::from_millis(200);
        assert!(
            client_side.receiver.recv_timeout(wait).is_err(),
            "stale result published"
        );
        server.on_event(analysed(latest));
        match client_side.receiver.recv_timeout(wait) {
            Ok(Message::Notification(n)) => assert_eq!(n.method, PublishDiagnostics::METHOD),
            other => panic!("{other:?}"),
        }
        // The same result again changes nothing: nothing is published twice.
        server.on_event(analysed(latest));
        assert!(client_side.receiver.recv_timeout(wait).is_err());
    }
}
