//! An in-process LSP client for the server's tests: it drives `sluice_lsp::run` over
//! `lsp_server::Connection::memory()`, answers the server's requests, and keeps what
//! the server published.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::{Diagnostic, PublishDiagnosticsParams, Url};
use serde_json::{Value, json};

/// Longer than any analysis of a fixture project, even in a debug build on a busy
/// machine: waiting past it means the server hangs.
const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<sluice_lsp::Ending, sluice_lsp::Error>>>,
    next_id: i32,
    /// Where file names in renderings are relative to.
    pub base: PathBuf,
    /// Each file's latest publication: version and diagnostics.
    pub diagnostics: BTreeMap<Url, (Option<i32>, Vec<Diagnostic>)>,
    /// Files published since the last [`Client::take_published`], in order.
    pub published: Vec<Url>,
    /// `window/logMessage` texts.
    pub logs: Vec<String>,
    /// Methods of the requests the server sent, and `$/progress` kinds seen.
    pub server_requests: Vec<String>,
    pub progress: Vec<String>,
    quiescent: bool,
    versions: BTreeMap<Url, i32>,
    /// The initialize result.
    pub capabilities: Value,
}

pub fn url(path: &Path) -> Url {
    Url::from_file_path(path).unwrap()
}

/// Copies a folder (a fixture project) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Applies LSP text edits (UTF-16 positions) to `text` (one file), last first.
pub fn apply(text: &str, edits: &[lsp_types::TextEdit]) -> String {
    let index = sluice_compiler::source::LineIndex::new(text);
    let offset = |p: lsp_types::Position| {
        index.editor_offset(
            text,
            sluice_compiler::source::EditorPosition {
                line: p.line,
                column: p.character,
            },
            sluice_compiler::source::ColumnUnit::Utf16,
        )
    };
    let mut edits: Vec<_> = edits
        .iter()
        .map(|e| (offset(e.range.start), offset(e.range.end), &e.new_text))
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_owned();
    for (start, end, new) in edits {
        out.replace_range(start..end, new);
    }
    out
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Client {
    /// Starts a server and initializes it with `folders` as workspace folders and
    /// `capabilities` merged into a client that wants server status notifications.
    pub fn start(base: &Path, folders: &[PathBuf], capabilities: Value) -> Client {
        Client::start_with(base, folders, capabilities, Value::Null)
    }

    /// [`Client::start`] with `initializationOptions`.
    pub fn start_with(
        base: &Path,
        folders: &[PathBuf],
        capabilities: Value,
        options: Value,
    ) -> Client {
        let (server_conn, conn) = Connection::memory();
        let server = std::thread::spawn(move || sluice_lsp::run(server_conn));
        let mut client = Client {
            conn,
            server: Some(server),
            next_id: 0,
            base: base.to_owned(),
            diagnostics: BTreeMap::new(),
            published: Vec::new(),
            logs: Vec::new(),
            server_requests: Vec::new(),
            progress: Vec::new(),
            quiescent: false,
            versions: BTreeMap::new(),
            capabilities: Value::Null,
        };
        let mut caps = json!({ "experimental": { "serverStatusNotification": true } });
        merge(&mut caps, capabilities);
        let folders: Vec<Value> = folders
            .iter()
            .map(|f| json!({ "uri": url(f), "name": f.file_name().unwrap().to_string_lossy() }))
            .collect();
        let init = client.request(
            "initialize",
            json!({
                "processId": null,
                "capabilities": caps,
                "workspaceFolders": folders,
                "initializationOptions": options,
            }),
        );
        client.capabilities = init.response_result.expect("initialize succeeds");
        client.notify("initialized", json!({}));
        client.settle();
        client
    }

    /// Starts a server whose one workspace folder is the project `root`.
    pub fn start_in(root: &Path, capabilities: Value) -> Client {
        Client::start(root, &[root.to_owned()], capabilities)
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Notification::new(method.to_owned(), params).into())
            .unwrap();
    }

    pub fn request(&mut self, method: &str, params: Value) -> Response {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let request = Request::new(id.clone(), method.to_owned(), params);
        self.conn.sender.send(request.into()).unwrap();
        loop {
            match self.receive() {
                Message::Response(response) if response.id == id => return response,
                message => self.handle(message),
            }
        }
    }

    fn receive(&mut self) -> Message {
        self.conn
            .receiver
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("no message from the server within {TIMEOUT:?}: {e}"))
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Notification(n) => match n.method.as_str() {
                "textDocument/publishDiagnostics" => {
                    let p: PublishDiagnosticsParams = serde_json::from_value(n.params).unwrap();
                    self.published.push(p.uri.clone());
                    self.diagnostics.insert(p.uri, (p.version, p.diagnostics));
                }
                "window/logMessage" => self.logs.push(n.params["message"].as_str().unwrap().into()),
                "experimental/serverStatus" => {
                    self.quiescent = n.params["quiescent"].as_bool().unwrap();
                }
                "$/progress" => self
                    .progress
                    .push(n.params["value"]["kind"].as_str().unwrap().into()),
                other => panic!("unexpected notification {other}"),
            },
            Message::Request(r) => {
                self.server_requests.push(r.method.clone());
                let response = Response::new_ok(r.id, Value::Null);
                self.conn.sender.send(response.into()).unwrap();
            }
            Message::Response(r) => panic!("unexpected response {r:?}"),
        }
    }

    /// Waits until the server has analysed and published everything sent so far. A
    /// request is the barrier: the server handles messages in order, so when its
    /// answer arrives every earlier change has been passed on, and the status seen
    /// last is the one after them.
    pub fn settle(&mut self) {
        let barrier = self.request("sluice/testBarrier", Value::Null);
        let code = barrier.response_result.err().map(|e| e.code);
        assert_eq!(code, Some(lsp_server::ErrorCode::MethodNotFound as i32));
        while !self.quiescent {
            let message = self.receive();
            self.handle(message);
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }

    pub fn open(&mut self, rel: &str) {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        self.open_text(rel, &text);
    }

    pub fn open_text(&mut self, rel: &str, text: &str) {
        let uri = url(&self.path(rel));
        let language = if rel.ends_with(".sql") {
            "sql"
        } else {
            "python"
        };
        self.versions.insert(uri.clone(), 1);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": language, "version": 1, "text": text } }),
        );
    }

    /// An incremental change: replace `((line, col), (line, col))` by `text`.
    pub fn edit(&mut self, rel: &str, range: ((u32, u32), (u32, u32)), text: &str) {
        let change = json!({
            "range": {
                "start": { "line": range.0.0, "character": range.0.1 },
                "end": { "line": range.1.0, "character": range.1.1 },
            },
            "text": text,
        });
        self.change(rel, change);
    }

    pub fn change(&mut self, rel: &str, change: Value) {
        let uri = url(&self.path(rel));
        let version = self.versions.entry(uri.clone()).or_insert(1);
        *version += 1;
        let version = *version;
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [change] }),
        );
    }

    pub fn close(&mut self, rel: &str) {
        let uri = url(&self.path(rel));
        self.notify(
            "textDocument/didClose",
            json!({ "textDocument": { "uri": uri } }),
        );
    }

    /// A `workspace/didChangeWatchedFiles` event (1 created, 2 changed, 3 deleted).
    pub fn watched(&mut self, rel: &str, kind: u8) {
        let uri = url(&self.path(rel));
        self.notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": [{ "uri": uri, "type": kind }] }),
        );
    }

    /// The files published since the last call, relative to the base, sorted.
    pub fn take_published(&mut self) -> Vec<String> {
        let published = std::mem::take(&mut self.published);
        let mut files: Vec<String> = published.iter().map(|u| self.rel(u)).collect();
        files.sort();
        files.dedup();
        files
    }

    pub fn rel(&self, uri: &Url) -> String {
        let path = uri.to_file_path().unwrap();
        match path.strip_prefix(&self.base) {
            Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    /// What the editor shows now: every file with diagnostics, one line each.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (uri, (version, diagnostics)) in &self.diagnostics {
            for d in diagnostics {
                let r = d.range;
                let code = match &d.code {
                    Some(lsp_types::NumberOrString::String(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                let version = version.map_or(String::new(), |v| format!(" (v{v})"));
                out.push_str(&format!(
                    "{}{version} {}:{}-{}:{} {code} {:?}: {}\n",
                    self.rel(uri),
                    r.start.line,
                    r.start.character,
                    r.end.line,
                    r.end.character,
                    d.severity.unwrap(),
                    d.message.replace('\n', " ⏎ "),
                ));
                for info in d.related_information.iter().flatten() {
                    let r = info.location.range;
                    out.push_str(&format!(
                        "    related {} {}:{}-{}:{}: {}\n",
                        self.rel(&info.location.uri),
                        r.start.line,
                        r.start.character,
                        r.end.line,
                        r.end.character,
                        info.message
                    ));
                }
            }
        }
        if out.is_empty() {
            out.push_str("(no diagnostics)\n");
        }
        out
    }

    /// `shutdown` then `exit`: how the server ended.
    pub fn shutdown(mut self) -> sluice_lsp::Ending {
        let response = self.request("shutdown", Value::Null);
        assert!(response.response_result.is_ok(), "{response:?}");
        self.notify("exit", Value::Null);
        self.join()
    }

    pub fn join(&mut self) -> sluice_lsp::Ending {
        let server = self.server.take().unwrap();
        server
            .join()
            .expect("the server thread panicked")
            .expect("the server ends cleanly")
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}
