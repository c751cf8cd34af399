//! The main loop: the handshake, the capabilities, and the dispatch of every message
//! from the client and every result from the analysis worker. Nothing here waits on
//! analysis: changes go to the worker, results come back as events and are published
//! only when they are of the project's latest revision.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, select};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidChangeWorkspaceFolders, DidCloseTextDocument,
    DidOpenTextDocument, DidSaveTextDocument, Exit, Initialized, LogMessage, Notification as _,
    Progress, PublishDiagnostics,
};
use lsp_types::request::{
    Initialize, RegisterCapability, Request as _, Shutdown, WorkDoneProgressCreate,
};
use lsp_types::{
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidChangeWorkspaceFoldersParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    FileChangeType, FileSystemWatcher, GlobPattern, InitializeParams, InitializeResult,
    LogMessageParams, MessageType, OneOf, PositionEncodingKind, ProgressParams,
    ProgressParamsValue, PublishDiagnosticsParams, Registration, RegistrationParams, SaveOptions,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Url, WorkDoneProgress,
    WorkDoneProgressBegin, WorkDoneProgressCreateParams, WorkDoneProgressEnd,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};
use serde::de::DeserializeOwned;
use sluice_compiler::source::ColumnUnit;

use crate::analysis::{Change, Event, Worker, guarded};
use crate::documents::Documents;
use crate::workspace::{Workspace, is_marker, is_visible, loaded_kind, relative};
use crate::{Ending, Error, convert};

/// The files whose changes on disk matter (registered when the client can watch).
const WATCHED: [&str; 4] = [
    "**/*.py",
    "**/*.sql",
    "**/sluice.toml",
    "**/bauplan_project.y*ml",
];

/// rust-analyzer's status notification, sent when the client opts in with
/// `experimental.serverStatusNotification`: `quiescent` is true when every project's
/// latest revision is analysed and published.
const SERVER_STATUS: &str = "experimental/serverStatus";

/// Serves one client on `connection` until `exit` or the end of the connection.
pub fn run(connection: Connection) -> Result<Ending, Error> {
    let (id, params) = match handshake(&connection) {
        Ok(init) => init,
        Err(ending) => return Ok(ending),
    };
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let client = Client::of(&params);
    let result = InitializeResult {
        capabilities: capabilities(&client),
        server_info: Some(ServerInfo {
            name: "sluice".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
    };
    let result = serde_json::to_value(result).unwrap_or_default();
    let _ = connection.sender.send(Response::new_ok(id, result).into());
    let (event_sender, events) = crossbeam_channel::unbounded();
    let worker = Worker::spawn(event_sender)?;
    let mut server = Server::new(&connection, client, folders(&params), worker);
    server.discover();
    Ok(server.main_loop(events))
}

/// Waits for `initialize`, answering other requests with `ServerNotInitialized`.
fn handshake(connection: &Connection) -> Result<(RequestId, serde_json::Value), Ending> {
    loop {
        match connection.receiver.recv() {
            Err(_) => return Err(Ending::Disconnected),
            Ok(Message::Request(req)) if req.method == Initialize::METHOD => {
                return Ok((req.id, req.params));
            }
            Ok(Message::Request(req)) => {
                let message = format!("`{}` before `initialize`", req.method);
                let code = ErrorCode::ServerNotInitialized as i32;
                let _ = connection
                    .sender
                    .send(Response::new_err(req.id, code, message).into());
            }
            Ok(Message::Notification(n)) if n.method == Exit::METHOD => {
                return Err(Ending::ExitedWithoutShutdown);
            }
            Ok(_) => {}
        }
    }
}

/// What the client can do, as far as the server cares.
#[derive(Debug)]
struct Client {
    encoding: PositionEncodingKind,
    unit: ColumnUnit,
    progress: bool,
    watch_files: bool,
    status: bool,
}

impl Client {
    fn of(params: &InitializeParams) -> Client {
        let caps = &params.capabilities;
        let offered = caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_deref());
        let (encoding, unit) = convert::negotiate(offered);
        Client {
            encoding,
            unit,
            progress: caps
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            watch_files: caps
                .workspace
                .as_ref()
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|w| w.dynamic_registration)
                .unwrap_or(false),
            status: caps
                .experimental
                .as_ref()
                .and_then(|e| e.get("serverStatusNotification"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        }
    }
}

fn capabilities(client: &Client) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(client.encoding.clone()),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                will_save: None,
                will_save_wait_until: None,
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
            },
        )),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        ..ServerCapabilities::default()
    }
}

/// The workspace folders of `initialize`: `workspaceFolders`, else `rootUri`.
fn folders(params: &InitializeParams) -> Vec<PathBuf> {
    let uris: Vec<&Url> = match &params.workspace_folders {
        Some(folders) => folders.iter().map(|f| &f.uri).collect(),
        #[allow(deprecated)]
        None => params.root_uri.iter().collect(),
    };
    uris.into_iter()
        .filter_map(|u| u.to_file_path().ok())
        .collect()
}

/// The server's view of one project.
struct ProjectState {
    /// The revision of the latest change sent to the worker.
    revision: u64,
    /// The latest revision the worker answered for (analysed or failed).
    answered: u64,
    /// What the client shows now: files with at least one diagnostic.
    published: BTreeMap<Url, Vec<lsp_types::Diagnostic>>,
    progress: ProgressState,
}

#[derive(PartialEq, Eq)]
enum ProgressState {
    /// `window/workDoneProgress/create` sent; begins when the client accepts it.
    Creating(String),
    Begun(String),
    Done,
}

/// Requests the server sent and waits answers for.
enum Pending {
    Register,
    Progress(PathBuf),
}

struct Server<'c> {
    connection: &'c Connection,
    client: Client,
    documents: Documents,
    workspace: Workspace,
    projects: BTreeMap<PathBuf, ProjectState>,
    worker: Worker,
    /// Revisions count every change across projects, so a project that is unloaded
    /// and loaded again never reuses one.
    revision: u64,
    shutdown: bool,
    next_request: i32,
    pending: HashMap<RequestId, Pending>,
    status_sent: Option<bool>,
}

impl<'c> Server<'c> {
    fn new(
        connection: &'c Connection,
        client: Client,
        folders: Vec<PathBuf>,
        worker: Worker,
    ) -> Self {
        Server {
            connection,
            documents: Documents::new(client.unit),
            workspace: Workspace::new(folders),
            client,
            projects: BTreeMap::new(),
            worker,
            revision: 0,
            shutdown: false,
            next_request: 0,
            pending: HashMap::new(),
            status_sent: None,
        }
    }

    fn main_loop(&mut self, mut events: Receiver<Event>) -> Ending {
        let connection = self.connection;
        loop {
            self.report_status();
            select! {
                recv(connection.receiver) -> message => {
                    let message = match message {
                        Ok(message) => message,
                        Err(_) => return Ending::Disconnected,
                    };
                    match message {
                        Message::Notification(n) if n.method == Exit::METHOD => {
                            return if self.shutdown {
                                Ending::Exited
                            } else {
                                Ending::ExitedWithoutShutdown
                            };
                        }
                        Message::Request(request) => self.on_request(request),
                        Message::Notification(n) => {
                            let method = n.method.clone();
                            if let Err(panic) = guarded(|| self.on_notification(n)) {
                                self.log(format!("sluice: handling `{method}` panicked: {panic}"));
                            }
                        }
                        Message::Response(response) => {
                            if let Err(panic) = guarded(|| self.on_response(response)) {
                                self.log(format!("sluice: handling a response panicked: {panic}"));
                            }
                        }
                    }
                }
                recv(events) -> event => match event {
                    Ok(event) => {
                        if let Err(panic) = guarded(|| self.on_event(event)) {
                            self.log(format!("sluice: publishing panicked: {panic}"));
                        }
                    }
                    Err(_) => {
                        self.log("sluice: the analysis thread stopped".to_owned());
                        events = crossbeam_channel::never();
                    }
                },
            }
        }
    }

    fn send(&self, message: impl Into<Message>) {
        // A closed connection ends the loop at the next receive.
        let _ = self.connection.sender.send(message.into());
    }

    fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Notification::new(N::METHOD.to_owned(), params));
    }

    fn request<R: lsp_types::request::Request>(&mut self, params: R::Params, pending: Pending) {
        self.next_request += 1;
        let id = RequestId::from(format!("sluice-{}", self.next_request));
        self.pending.insert(id.clone(), pending);
        self.send(Request::new(id, R::METHOD.to_owned(), params));
    }

    fn log(&self, message: String) {
        self.notify::<LogMessage>(LogMessageParams {
            typ: MessageType::ERROR,
            message,
        });
    }

    fn on_request(&mut self, request: Request) {
        let id = request.id.clone();
        let response = match guarded(|| self.dispatch(request)) {
            Ok(response) => response,
            Err(panic) => {
                let message = format!("sluice: the request panicked: {panic}");
                self.log(message.clone());
                Response::new_err(id, ErrorCode::InternalError as i32, message)
            }
        };
        self.send(response);
    }

    fn dispatch(&mut self, request: Request) -> Response {
        let error = |code: ErrorCode, message: String| {
            Response::new_err(request.id.clone(), code as i32, message)
        };
        if self.shutdown {
            return error(
                ErrorCode::InvalidRequest,
                format!("`{}` after `shutdown`", request.method),
            );
        }
        match request.method.as_str() {
            Shutdown::METHOD => {
                self.shutdown = true;
                Response::new_ok(request.id, ())
            }
            Initialize::METHOD => error(
                ErrorCode::InvalidRequest,
                "`initialize` was already received".to_owned(),
            ),
            method => error(
                ErrorCode::MethodNotFound,
                format!("sluice does not handle `{method}`"),
            ),
        }
    }

    fn on_notification(&mut self, n: Notification) {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Some(p) = self.params::<DidOpenTextDocumentParams>(n) {
                    let doc = p.text_document;
                    self.documents.open(doc.uri.clone(), doc.text, doc.version);
                    self.sync_buffer(&doc.uri);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Some(p) = self.params::<DidChangeTextDocumentParams>(n) {
                    let doc = p.text_document;
                    if self
                        .documents
                        .change(&doc.uri, doc.version, &p.content_changes)
                        .is_some()
                    {
                        self.sync_buffer(&doc.uri);
                    }
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Some(p) = self.params::<DidCloseTextDocumentParams>(n) {
                    let closed = self.documents.close(&p.text_document.uri);
                    let routed = closed.and_then(|d| self.route(d.path.as_deref()?));
                    if let Some((root, rel)) = routed
                        && let Some(revision) = self.bump(&root)
                    {
                        self.worker.send(Change::Closed {
                            root,
                            revision,
                            rel,
                        });
                    }
                }
            }
            DidSaveTextDocument::METHOD => {
                // The buffer already holds the saved text. Without file watching,
                // a save is the one sign that the disk changed: read it again.
                if let Some(p) = self.params::<DidSaveTextDocumentParams>(n)
                    && !self.client.watch_files
                    && let Ok(path) = p.text_document.uri.to_file_path()
                    && let Some((root, _)) = self.route(&path)
                    && let Some(revision) = self.bump(&root)
                {
                    self.worker.send(Change::Load { root, revision });
                }
            }
            DidChangeWatchedFiles::METHOD => {
                if let Some(p) = self.params::<DidChangeWatchedFilesParams>(n) {
                    self.on_watched_files(p);
                }
            }
            DidChangeWorkspaceFolders::METHOD => {
                if let Some(p) = self.params::<DidChangeWorkspaceFoldersParams>(n) {
                    let mut folders = self.workspace.folders().to_vec();
                    let path = |f: &lsp_types::WorkspaceFolder| f.uri.to_file_path().ok();
                    let removed: Vec<PathBuf> = p.event.removed.iter().filter_map(path).collect();
                    folders.retain(|f| !removed.contains(f));
                    folders.extend(p.event.added.iter().filter_map(path));
                    self.workspace.set_folders(folders);
                    self.restructure();
                }
            }
            Initialized::METHOD if self.client.watch_files => self.register_watchers(),
            // `$/cancelRequest`, `$/setTrace` and others: nothing to do.
            _ => {}
        }
    }

    /// Parses a notification's parameters; invalid ones are logged and skipped.
    fn params<P: DeserializeOwned>(&self, n: Notification) -> Option<P> {
        match serde_json::from_value(n.params) {
            Ok(params) => Some(params),
            Err(e) => {
                self.log(format!("sluice: invalid `{}` parameters: {e}", n.method));
                None
            }
        }
    }

    fn on_watched_files(&mut self, p: DidChangeWatchedFilesParams) {
        let mut restructure = false;
        for change in p.changes {
            let Ok(path) = change.uri.to_file_path() else {
                continue;
            };
            if is_marker(&path) && change.typ != FileChangeType::CHANGED {
                restructure = true;
                continue;
            }
            let Some(root) = self.workspace.project_of(&path) else {
                continue;
            };
            if !self.projects.contains_key(&root) {
                continue;
            }
            let Some(rel) = relative(&root, &path).filter(|r| is_visible(r)) else {
                continue;
            };
            if let Some(revision) = self.bump(&root) {
                self.worker.send(Change::Disk {
                    root,
                    revision,
                    rel,
                });
            }
        }
        if restructure {
            self.restructure();
        }
    }

    fn register_watchers(&mut self) {
        let watchers = WATCHED
            .iter()
            .map(|glob| FileSystemWatcher {
                glob_pattern: GlobPattern::String((*glob).to_owned()),
                kind: None,
            })
            .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: "sluice/watched-files".to_owned(),
            method: DidChangeWatchedFiles::METHOD.to_owned(),
            register_options: serde_json::to_value(options).ok(),
        };
        let params = RegistrationParams {
            registrations: vec![registration],
        };
        self.request::<RegisterCapability>(params, Pending::Register);
    }

    fn on_response(&mut self, response: Response) {
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
            Some(Pending::Register) | None => {}
        }
    }

    fn progress(&self, token: &str, value: WorkDoneProgress) {
        self.notify::<Progress>(ProgressParams {
            token: lsp_types::NumberOrString::String(token.to_owned()),
            value: ProgressParamsValue::WorkDone(value),
        });
    }

    fn end_progress(&mut self, root: &Path) {
        let Some(state) = self.projects.get_mut(root) else {
            return;
        };
        let previous = std::mem::replace(&mut state.progress, ProgressState::Done);
        if let ProgressState::Begun(token) = previous {
            let end = WorkDoneProgressEnd { message: None };
            self.progress(&token, WorkDoneProgress::End(end));
        }
    }

    /// The project and relative path of a file the compiler would read.
    fn route(&self, path: &Path) -> Option<(PathBuf, String)> {
        let root = self.workspace.project_of(path)?;
        let rel = relative(&root, path)?;
        loaded_kind(&rel)?;
        Some((root, rel))
    }

    /// A new revision for a known project.
    fn bump(&mut self, root: &Path) -> Option<u64> {
        let state = self.projects.get_mut(root)?;
        self.revision += 1;
        state.revision = self.revision;
        Some(self.revision)
    }

    /// Sends an open buffer's text to its project (loading the project first).
    fn sync_buffer(&mut self, uri: &Url) {
        let Some(path) = self.documents.get(uri).and_then(|d| d.path.clone()) else {
            return;
        };
        let Some((root, rel)) = self.route(&path) else {
            return;
        };
        self.ensure_project(&root);
        let (Some(revision), Some(doc)) = (self.bump(&root), self.documents.get(uri)) else {
            return;
        };
        self.worker.send(Change::Buffer {
            root,
            revision,
            rel,
            text: doc.text.clone(),
        });
    }

    fn ensure_project(&mut self, root: &Path) {
        if self.projects.contains_key(root) {
            return;
        }
        let progress = if self.client.progress {
            let token = format!("sluice/check/{}", self.revision + 1);
            let params = WorkDoneProgressCreateParams {
                token: lsp_types::NumberOrString::String(token.clone()),
            };
            self.request::<WorkDoneProgressCreate>(params, Pending::Progress(root.to_owned()));
            ProgressState::Creating(token)
        } else {
            ProgressState::Done
        };
        self.projects.insert(
            root.to_owned(),
            ProjectState {
                revision: 0,
                answered: 0,
                published: BTreeMap::new(),
                progress,
            },
        );
        if let Some(revision) = self.bump(root) {
            let root = root.to_owned();
            self.worker.send(Change::Load { root, revision });
        }
    }

    /// Loads every project of the workspace and of the open documents.
    fn discover(&mut self) {
        for root in self.workspace.discover() {
            self.ensure_project(&root);
        }
        let open: Vec<Url> = self.documents.iter().map(|(uri, _)| uri.clone()).collect();
        for uri in open {
            self.sync_buffer(&uri);
        }
    }

    /// Projects appeared, disappeared or moved: start again from the disk.
    fn restructure(&mut self) {
        let roots: Vec<PathBuf> = self.projects.keys().cloned().collect();
        for root in roots {
            self.end_progress(&root);
            let Some(state) = self.projects.remove(&root) else {
                continue;
            };
            self.worker.send(Change::Unload { root });
            for uri in state.published.into_keys() {
                self.publish(uri, Vec::new());
            }
        }
        self.discover();
    }

    fn on_event(&mut self, event: Event) {
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
    fn publish_project(&mut self, root: &Path, files: BTreeMap<Url, Vec<lsp_types::Diagnostic>>) {
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

    fn publish(&self, uri: Url, diagnostics: Vec<lsp_types::Diagnostic>) {
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

    fn report_status(&mut self) {
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

    use super::*;
    use crate::project::Project;

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
