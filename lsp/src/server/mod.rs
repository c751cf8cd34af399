//! The main loop: the dispatch of every message from the client and every result from
//! the analysis worker, and the document and workspace changes it passes on. Nothing
//! here waits on analysis: changes go to the worker, results come back as events and
//! are published (`publish`) only when they are of the project's latest revision.
//! `init` holds the handshake and what client and server can do.

mod edit;
mod init;
mod navigate;
mod publish;
mod requests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, select};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeConfiguration, DidChangeTextDocument, DidChangeWatchedFiles,
    DidChangeWorkspaceFolders, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Exit, Initialized, LogMessage, Notification as _,
};
use lsp_types::request::{
    Initialize, InlayHintRefreshRequest, Request as _, Shutdown, WorkDoneProgressCreate,
};
use lsp_types::{
    DidChangeConfigurationParams, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWorkspaceFoldersParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    DidSaveTextDocumentParams, FileChangeType, InitializeParams, InitializeResult,
    LogMessageParams, MessageType, ServerInfo, Url, WorkDoneProgressCreateParams,
};
use serde::de::DeserializeOwned;

use crate::analysis::{Change, Event, Worker, guarded};
use crate::documents::Documents;
use crate::workspace::{Workspace, is_marker, is_visible, relative};
use crate::{Ending, Error};
use init::{Client, Settings, capabilities, folders, handshake};
use publish::{ProgressState, ProjectState};
use sluice_compiler::source::project_file;

/// Serves one client on `connection` until `exit` or the end of the connection.
pub fn run(connection: Connection) -> Result<Ending, Error> {
    let (id, params) = match handshake(&connection) {
        Ok(init) => init,
        Err(ending) => return Ok(ending),
    };
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let client = Client::of(&params);
    let mut settings = Settings::default();
    if let Some(options) = &params.initialization_options {
        settings.update(options);
    }
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
    server.settings = settings;
    server.discover();
    Ok(server.main_loop(events))
}

/// Requests the server sent and waits answers for.
enum Pending {
    Register,
    /// `workspace/inlayHint/refresh` after a settings change.
    Refresh,
    Progress(PathBuf),
}

struct Server<'c> {
    connection: &'c Connection,
    client: Client,
    settings: Settings,
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
            settings: Settings::default(),
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
            _ => self.on_document_request(request),
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
            DidChangeConfiguration::METHOD => {
                if let Some(p) = self.params::<DidChangeConfigurationParams>(n) {
                    let before = self.settings.clone();
                    self.settings.update(&p.settings);
                    if self.settings != before && self.client.inlay_hint_refresh {
                        self.request::<InlayHintRefreshRequest>((), Pending::Refresh);
                    }
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

    /// The project and relative path of a file the compiler would read.
    fn route(&self, path: &Path) -> Option<(PathBuf, String)> {
        let root = self.workspace.project_of(path)?;
        let rel = relative(&root, path)?;
        project_file(&rel)?;
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
                snapshot: None,
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
}
