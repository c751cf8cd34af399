//! The handshake, the client's capabilities as far as the server cares, the server's
//! capabilities, and the registration of watched files.

use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, RequestId, Response};
use lsp_types::notification::{DidChangeWatchedFiles, Exit, Notification as _};
use lsp_types::request::{Initialize, RegisterCapability, Request as _};
use lsp_types::{
    CallHierarchyServerCapability, CodeActionKind, CodeActionOptions, CodeActionProviderCapability,
    CodeLensOptions, CompletionOptions, DidChangeWatchedFilesRegistrationOptions,
    FileSystemWatcher, GlobPattern, HoverProviderCapability, InitializeParams, OneOf,
    PositionEncodingKind, Registration, RegistrationParams, RenameOptions, SaveOptions,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TypeDefinitionProviderCapability, Url,
    WorkspaceFoldersServerCapabilities, WorkspaceServerCapabilities,
};
use sluice_compiler::source::ColumnUnit;

use super::{Pending, Server};
use crate::{Ending, convert};

/// The files whose changes on disk matter (registered when the client can watch).
const WATCHED: [&str; 4] = [
    "**/*.py",
    "**/*.sql",
    "**/sluice.toml",
    "**/bauplan_project.y*ml",
];

/// Waits for `initialize`, answering other requests with `ServerNotInitialized`.
pub(super) fn handshake(connection: &Connection) -> Result<(RequestId, serde_json::Value), Ending> {
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
pub(super) struct Client {
    pub(super) encoding: PositionEncodingKind,
    pub(super) unit: ColumnUnit,
    pub(super) progress: bool,
    pub(super) watch_files: bool,
    pub(super) status: bool,
    /// A `WorkspaceEdit` may rename files (`documentChanges` with `rename`).
    pub(super) file_renames: bool,
    /// The client can be asked to request inlay hints again (after a settings change).
    pub(super) inlay_hint_refresh: bool,
}

/// What the user configured: `initializationOptions` and
/// `workspace/didChangeConfiguration` settings, `{"sluice": {"inlayHints": false}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) inlay_hints: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { inlay_hints: true }
    }
}

impl Settings {
    /// Applies the keys `value` sets (under `sluice`, or at the top level); others stay.
    pub(super) fn update(&mut self, value: &serde_json::Value) {
        let section = value.get("sluice").unwrap_or(value);
        if let Some(on) = section
            .get("inlayHints")
            .and_then(serde_json::Value::as_bool)
        {
            self.inlay_hints = on;
        }
    }
}

impl Client {
    pub(super) fn of(params: &InitializeParams) -> Client {
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
            file_renames: caps
                .workspace
                .as_ref()
                .and_then(|w| w.workspace_edit.as_ref())
                .is_some_and(|e| {
                    e.document_changes == Some(true)
                        && e.resource_operations.as_ref().is_some_and(|ops| {
                            ops.contains(&lsp_types::ResourceOperationKind::Rename)
                        })
                }),
            inlay_hint_refresh: caps
                .workspace
                .as_ref()
                .and_then(|w| w.inlay_hint.as_ref())
                .and_then(|h| h.refresh_support)
                .unwrap_or(false),
        }
    }
}

pub(super) fn capabilities(client: &Client) -> ServerCapabilities {
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
        completion_provider: Some(CompletionOptions {
            // `o.`, `col("`, `Table('`, a header's `<- a, `.
            trigger_characters: Some(vec![".".into(), "\"".into(), "'".into(), ",".into()]),
            ..CompletionOptions::default()
        }),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        type_definition_provider: Some(TypeDefinitionProviderCapability::Simple(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        call_hierarchy_provider: Some(CallHierarchyServerCapability::Simple(true)),
        experimental: Some(serde_json::json!({ "sluiceLineage": true })),
        ..ServerCapabilities::default()
    }
}

/// The workspace folders of `initialize`: `workspaceFolders`, else `rootUri`.
pub(super) fn folders(params: &InitializeParams) -> Vec<PathBuf> {
    let uris: Vec<&Url> = match &params.workspace_folders {
        Some(folders) => folders.iter().map(|f| &f.uri).collect(),
        #[allow(deprecated)]
        None => params.root_uri.iter().collect(),
    };
    uris.into_iter()
        .filter_map(|u| u.to_file_path().ok())
        .collect()
}

impl Server<'_> {
    pub(super) fn register_watchers(&mut self) {
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
}
