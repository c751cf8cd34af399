//! Requests about a document (hover, definition, completion, …): each answers from the
//! latest analysis of the document's project ([`Snapshot`]), never waiting on the
//! worker. A document whose project has no analysis yet, or that is no project file,
//! gets an empty answer (`null`), not an error: the client asked nothing wrong.
//!
//! Positions are read against the text the snapshot was computed from. While an edit is
//! being analysed that text may be a few keystrokes behind the buffer; answering from it
//! (as rust-analyzer does) beats waiting.

use std::sync::Arc;

use lsp_server::{ErrorCode, Request, Response};
use lsp_types::request::{
    CodeActionRequest, CodeLensRequest, Completion, InlayHintRequest, Request as _,
};
use lsp_types::{Position, Range, Url};

use super::Server;
use crate::convert;
use crate::project::Snapshot;
use sluice_compiler::FileId;
use sluice_compiler::source::{ColumnUnit, EditorPosition, SourceFile};

/// A document of an analysed project, as a request sees it.
pub(super) struct DocumentContext {
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) file: FileId,
    pub(super) unit: ColumnUnit,
}

impl DocumentContext {
    pub(super) fn source(&self) -> &SourceFile {
        self.snapshot.sources.file(self.file)
    }

    /// The byte offset of an editor position in the snapshot's text (clamped).
    pub(super) fn offset(&self, position: Position) -> usize {
        let file = self.source();
        let position = EditorPosition {
            line: position.line,
            column: position.character,
        };
        file.line_index
            .editor_offset(&file.text, position, self.unit)
    }

    /// The editor range of a byte span in any file of the snapshot.
    pub(super) fn range(&self, file: FileId, span: &std::ops::Range<usize>) -> Range {
        convert::range(self.snapshot.sources.file(file), span, self.unit)
    }

    /// The URI of any file of the snapshot.
    pub(super) fn url(&self, file: FileId) -> Option<Url> {
        let sources = &self.snapshot.sources;
        convert::file_url(&sources.root, &sources.file(file).path)
    }
}

impl Server<'_> {
    /// Dispatches the requests that are not part of the lifecycle.
    pub(super) fn on_document_request(&mut self, request: Request) -> Response {
        match request.method.as_str() {
            Completion::METHOD => self.answer::<Completion>(request, |server, p| {
                let uri = &p.text_document_position.text_document.uri;
                let buffer = server.documents.get(uri).map(|d| d.text.as_str());
                server.document(uri)?.completion(&p, buffer)
            }),
            CodeActionRequest::METHOD => self.answer::<CodeActionRequest>(request, |server, p| {
                let uri = &p.text_document.uri;
                Some(server.document(uri)?.code_actions(&p, &server.documents))
            }),
            InlayHintRequest::METHOD => self.answer::<InlayHintRequest>(request, |server, p| {
                if !server.settings.inlay_hints {
                    return Some(Vec::new());
                }
                Some(server.document(&p.text_document.uri)?.inlay_hints(&p))
            }),
            CodeLensRequest::METHOD => self.answer::<CodeLensRequest>(request, |server, p| {
                Some(server.document(&p.text_document.uri)?.code_lenses(&p))
            }),
            _ => {
                let request = match self.on_navigation_request(request) {
                    Ok(response) => return response,
                    Err(request) => request,
                };
                Response::new_err(
                    request.id,
                    ErrorCode::MethodNotFound as i32,
                    format!("sluice does not handle `{}`", request.method),
                )
            }
        }
    }

    /// Answers a request with `answer`'s result (`null` when it is `None`: a document
    /// sluice has not analysed); parameters that do not parse are `InvalidParams`.
    fn answer<R: lsp_types::request::Request>(
        &self,
        request: Request,
        answer: impl FnOnce(&Self, R::Params) -> R::Result,
    ) -> Response {
        match serde_json::from_value::<R::Params>(request.params) {
            Ok(params) => Response::new_ok(request.id, answer(self, params)),
            Err(e) => Response::new_err(
                request.id,
                ErrorCode::InvalidParams as i32,
                format!("invalid `{}` parameters: {e}", R::METHOD),
            ),
        }
    }

    /// The latest analysis of the project holding `uri`, with the document's file in it.
    pub(super) fn document(&self, uri: &Url) -> Option<DocumentContext> {
        let path = uri.to_file_path().ok()?;
        let (root, rel) = self.route(&path)?;
        let snapshot = Arc::clone(self.projects.get(&root)?.snapshot.as_ref()?);
        let file = snapshot.sources.file_id(&rel)?;
        Some(DocumentContext {
            snapshot,
            file,
            unit: self.client.unit,
        })
    }
}
