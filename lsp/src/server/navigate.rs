//! Navigation requests (issue 12): hover, definition, type definition, references,
//! rename, document and workspace symbols, column lineage (`sluice/lineage`) and the
//! call hierarchy over lineage edges. Each converts the compiler's answer
//! ([`sluice_compiler::ide`]) to the protocol; a position on nothing answers `null` or
//! an empty list, a refused rename answers `RequestFailed` with the reason.

use std::collections::{BTreeMap, HashMap};

use lsp_server::{ErrorCode, Request, Response};
use lsp_types::{
    CallHierarchyIncomingCall, CallHierarchyIncomingCallsParams, CallHierarchyItem,
    CallHierarchyOutgoingCall, CallHierarchyOutgoingCallsParams, CallHierarchyPrepareParams,
    DocumentChangeOperation, DocumentChanges, DocumentSymbolParams, DocumentSymbolResponse,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams, Location,
    MarkupContent, MarkupKind, OneOf, OptionalVersionedTextDocumentIdentifier,
    PrepareRenameResponse, ReferenceParams, RenameFile, RenameParams, ResourceOp, SymbolKind,
    TextDocumentEdit, TextDocumentPositionParams, TextEdit, Url, WorkspaceEdit,
    WorkspaceSymbolParams,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_compiler::ide::{self, SymbolCategory};
use sluice_compiler::lineage::Direction;

use super::Server;
use super::requests::DocumentContext;

/// The custom request for a column's lineage at a position (docs/editors.md).
pub(super) const LINEAGE: &str = "sluice/lineage";

impl Server<'_> {
    /// Answers a navigation request; gives `request` back when it is not one.
    pub(super) fn on_navigation_request(&mut self, request: Request) -> Result<Response, Request> {
        use lsp_types::request::{
            CallHierarchyIncomingCalls, CallHierarchyOutgoingCalls, CallHierarchyPrepare,
            DocumentSymbolRequest, GotoDefinition, GotoTypeDefinition, HoverRequest,
            PrepareRenameRequest, References, Rename, Request as _, WorkspaceSymbolRequest,
        };
        let id = request.id.clone();
        let answer = match request.method.as_str() {
            HoverRequest::METHOD => self.with(request, |s, p: HoverParams| {
                s.hover(p.text_document_position_params)
            }),
            GotoDefinition::METHOD => self.with(request, |s, p: GotoDefinitionParams| {
                s.definition(p.text_document_position_params, false)
            }),
            GotoTypeDefinition::METHOD => self.with(request, |s, p: GotoDefinitionParams| {
                s.definition(p.text_document_position_params, true)
            }),
            References::METHOD => self.with(request, |s, p: ReferenceParams| s.references(p)),
            PrepareRenameRequest::METHOD => self
                .with(request, |s, p: TextDocumentPositionParams| {
                    s.prepare_rename(p)
                }),
            Rename::METHOD => self.with(request, |s, p: RenameParams| s.rename(p)),
            DocumentSymbolRequest::METHOD => {
                self.with(request, |s, p: DocumentSymbolParams| s.document_symbols(p))
            }
            WorkspaceSymbolRequest::METHOD => self.with(request, |s, p: WorkspaceSymbolParams| {
                s.workspace_symbols(p)
            }),
            LINEAGE => self.with(request, |s, p: TextDocumentPositionParams| s.lineage(p)),
            CallHierarchyPrepare::METHOD => {
                self.with(request, |s, p: CallHierarchyPrepareParams| {
                    s.prepare_call_hierarchy(p.text_document_position_params)
                })
            }
            CallHierarchyIncomingCalls::METHOD => self
                .with(request, |s, p: CallHierarchyIncomingCallsParams| {
                    s.calls(&p.item, Direction::Downstream)
                }),
            CallHierarchyOutgoingCalls::METHOD => self
                .with(request, |s, p: CallHierarchyOutgoingCallsParams| {
                    s.calls(&p.item, Direction::Upstream)
                }),
            _ => return Err(request),
        };
        Ok(match answer {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        })
    }

    /// Parses the parameters and runs `handler`: invalid parameters are `InvalidParams`.
    fn with<P: DeserializeOwned>(
        &mut self,
        request: Request,
        handler: impl FnOnce(&Self, P) -> Answer,
    ) -> Answer {
        match serde_json::from_value::<P>(request.params) {
            Ok(params) => handler(self, params),
            Err(e) => Err((ErrorCode::InvalidParams, format!("invalid parameters: {e}"))),
        }
    }

    fn at(&self, p: &TextDocumentPositionParams) -> Option<(DocumentContext, usize)> {
        let doc = self.document(&p.text_document.uri)?;
        let offset = doc.offset(p.position);
        Some((doc, offset))
    }

    fn hover(&self, p: TextDocumentPositionParams) -> Answer {
        let Some((doc, offset)) = self.at(&p) else {
            return Ok(Value::Null);
        };
        let Some((span, text)) = doc.snapshot.index().hover(doc.file, offset) else {
            return Ok(Value::Null);
        };
        to_value(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: Some(doc.range(doc.file, &span)),
        })
    }

    fn definition(&self, p: TextDocumentPositionParams, type_definition: bool) -> Answer {
        let Some((doc, offset)) = self.at(&p) else {
            return Ok(Value::Null);
        };
        let index = doc.snapshot.index();
        let found = if type_definition {
            index
                .type_definition(doc.file, offset)
                .into_iter()
                .collect()
        } else {
            index.definition(doc.file, offset)
        };
        let locations: Vec<Location> = found.iter().filter_map(|l| location(&doc, l)).collect();
        if locations.is_empty() {
            return Ok(Value::Null);
        }
        to_value(GotoDefinitionResponse::Array(locations))
    }

    fn references(&self, p: ReferenceParams) -> Answer {
        let Some((doc, offset)) = self.at(&p.text_document_position) else {
            return Ok(Value::Null);
        };
        let found =
            doc.snapshot
                .index()
                .references(doc.file, offset, p.context.include_declaration);
        to_value(
            found
                .iter()
                .filter_map(|l| location(&doc, l))
                .collect::<Vec<_>>(),
        )
    }

    fn prepare_rename(&self, p: TextDocumentPositionParams) -> Answer {
        let Some((doc, offset)) = self.at(&p) else {
            return Ok(Value::Null);
        };
        match doc.snapshot.index().prepare_rename(doc.file, offset) {
            Ok(Some((span, placeholder))) => {
                to_value(PrepareRenameResponse::RangeWithPlaceholder {
                    range: doc.range(doc.file, &span),
                    placeholder,
                })
            }
            Ok(None) => Ok(Value::Null),
            Err(refused) => Err((ErrorCode::RequestFailed, refused.0)),
        }
    }

    fn rename(&self, p: RenameParams) -> Answer {
        let Some((doc, offset)) = self.at(&p.text_document_position) else {
            return Ok(Value::Null);
        };
        let edits = match doc.snapshot.index().rename(doc.file, offset, &p.new_name) {
            Ok(Some(edits)) => edits,
            Ok(None) => return Ok(Value::Null),
            Err(refused) => return Err((ErrorCode::RequestFailed, refused.0)),
        };
        let text_edits = |file, list: &Vec<(std::ops::Range<usize>, String)>| -> Vec<TextEdit> {
            list.iter()
                .map(|(span, text)| TextEdit::new(doc.range(file, span), text.clone()))
                .collect()
        };
        if edits.file_renames.is_empty() {
            let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
            for (file, list) in &edits.edits {
                if let Some(url) = doc.url(*file) {
                    changes.insert(url, text_edits(*file, list));
                }
            }
            return to_value(WorkspaceEdit {
                changes: Some(changes),
                ..WorkspaceEdit::default()
            });
        }
        if !self.client.file_renames {
            return Err((
                ErrorCode::RequestFailed,
                "this rename renames a file (the table is named by it), which this editor cannot do through the language server"
                    .to_owned(),
            ));
        }
        // Text edits first (they address the old paths), then the file renames.
        let mut operations = Vec::new();
        for (file, list) in &edits.edits {
            if let Some(uri) = doc.url(*file) {
                operations.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier { uri, version: None },
                    edits: text_edits(*file, list)
                        .into_iter()
                        .map(OneOf::Left)
                        .collect(),
                }));
            }
        }
        let root = &doc.snapshot.sources.root;
        for (file, new_path) in &edits.file_renames {
            let (Some(old_uri), Some(new_uri)) =
                (doc.url(*file), crate::convert::file_url(root, new_path))
            else {
                continue;
            };
            operations.push(DocumentChangeOperation::Op(ResourceOp::Rename(
                RenameFile {
                    old_uri,
                    new_uri,
                    options: None,
                    annotation_id: None,
                },
            )));
        }
        to_value(WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(operations)),
            ..WorkspaceEdit::default()
        })
    }

    fn document_symbols(&self, p: DocumentSymbolParams) -> Answer {
        let Some(doc) = self.document(&p.text_document.uri) else {
            return Ok(Value::Null);
        };
        let symbols = doc.snapshot.index().document_symbols(doc.file);
        let convert = |s: &ide::DocumentSymbol| document_symbol(&doc, s);
        to_value(DocumentSymbolResponse::Nested(
            symbols.iter().map(convert).collect(),
        ))
    }

    fn workspace_symbols(&self, p: WorkspaceSymbolParams) -> Answer {
        let mut out = Vec::new();
        for state in self.projects.values() {
            let Some(snapshot) = &state.snapshot else {
                continue;
            };
            let sources = &snapshot.sources;
            for s in snapshot.index().workspace_symbols(&p.query) {
                let file = sources.file(s.location.file);
                let Some(uri) = crate::convert::file_url(&sources.root, &file.path) else {
                    continue;
                };
                #[allow(deprecated)] // `deprecated` is a required field of the type
                out.push(lsp_types::SymbolInformation {
                    name: s.name,
                    kind: kind(s.category),
                    tags: None,
                    deprecated: None,
                    location: Location::new(
                        uri,
                        crate::convert::range(file, &s.location.span, self.client.unit),
                    ),
                    container_name: Some(s.detail),
                });
            }
        }
        to_value(out)
    }

    fn lineage(&self, p: TextDocumentPositionParams) -> Answer {
        let Some((doc, offset)) = self.at(&p) else {
            return Ok(Value::Null);
        };
        let columns = doc.snapshot.index().lineage(doc.file, offset);
        if columns.is_empty() {
            return Ok(Value::Null);
        }
        Ok(json!({ "columns": columns }))
    }

    fn prepare_call_hierarchy(&self, p: TextDocumentPositionParams) -> Answer {
        let Some((doc, offset)) = self.at(&p) else {
            return Ok(Value::Null);
        };
        let items: Vec<CallHierarchyItem> = doc
            .snapshot
            .index()
            .lineage(doc.file, offset)
            .iter()
            .filter_map(|c| call_item(&doc, &c.table, &c.column))
            .collect();
        if items.is_empty() {
            return Ok(Value::Null);
        }
        to_value(items)
    }

    /// Incoming calls are the columns computed from the item (downstream), outgoing
    /// ones the columns it is computed from (upstream).
    fn calls(&self, item: &CallHierarchyItem, direction: Direction) -> Answer {
        let Some(doc) = self.document(&item.uri) else {
            return Ok(Value::Null);
        };
        let (Some(table), Some(column)) = (
            item.data.as_ref().and_then(|d| d["table"].as_str()),
            item.data.as_ref().and_then(|d| d["column"].as_str()),
        ) else {
            return Err((
                ErrorCode::InvalidParams,
                "the item carries no `data.table` and `data.column`".to_owned(),
            ));
        };
        let index = doc.snapshot.index();
        let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for e in index.lineage_step(table, column, direction) {
            let other = match direction {
                Direction::Downstream => (e.table.clone(), e.column.clone()),
                Direction::Upstream => (e.source_table.clone(), e.source_column.clone()),
            };
            grouped
                .entry(other)
                .or_default()
                .push(format!("{:?}", e.kind).to_lowercase());
        }
        let mut out = Vec::new();
        for ((t, c), kinds) in grouped {
            let Some(mut other) = call_item(&doc, &t, &c) else {
                continue;
            };
            other.detail = Some(kinds.join(", "));
            match direction {
                Direction::Downstream => out.push(to_value(CallHierarchyIncomingCall {
                    from_ranges: vec![other.selection_range],
                    from: other,
                })?),
                Direction::Upstream => out.push(to_value(CallHierarchyOutgoingCall {
                    from_ranges: vec![item.selection_range],
                    to: other,
                })?),
            }
        }
        Ok(Value::Array(out))
    }
}

type Answer = Result<Value, (ErrorCode, String)>;

fn to_value(value: impl serde::Serialize) -> Answer {
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

fn location(doc: &DocumentContext, l: &ide::Location) -> Option<Location> {
    Some(Location::new(doc.url(l.file)?, doc.range(l.file, &l.span)))
}

fn kind(category: SymbolCategory) -> SymbolKind {
    match category {
        SymbolCategory::Table => SymbolKind::CLASS,
        SymbolCategory::Schema => SymbolKind::INTERFACE,
        SymbolCategory::Column => SymbolKind::FIELD,
    }
}

#[allow(deprecated)] // `deprecated` is a required field of the type
fn document_symbol(doc: &DocumentContext, s: &ide::DocumentSymbol) -> lsp_types::DocumentSymbol {
    lsp_types::DocumentSymbol {
        name: s.name.clone(),
        detail: Some(s.detail.clone()),
        kind: kind(s.category),
        tags: None,
        deprecated: None,
        range: doc.range(doc.file, &s.span),
        selection_range: doc.range(doc.file, &s.selection),
        children: Some(s.children.iter().map(|c| document_symbol(doc, c)).collect()),
    }
}

/// The call hierarchy item of `table.column`, at its declaration.
fn call_item(doc: &DocumentContext, table: &str, column: &str) -> Option<CallHierarchyItem> {
    let site = doc.snapshot.index().table_column_site(table, column)?;
    let range = doc.range(site.file, &site.span);
    Some(CallHierarchyItem {
        name: format!("{table}.{column}"),
        kind: SymbolKind::FIELD,
        tags: None,
        detail: None,
        uri: doc.url(site.file)?,
        range,
        selection_range: range,
        data: Some(json!({ "table": table, "column": column })),
    })
}
