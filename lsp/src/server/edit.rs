//! The requests that help write code: completion, code actions (the compiler's fixes as
//! quick fixes), inlay hints (inferred types) and code lenses (each node's obligations).
//! Each converts what the compiler computes (`sluice_compiler::ide`, `Diagnostic::fixes`,
//! the contracts) to the protocol; none decides anything about the language itself.

use std::collections::HashMap;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeLens, CodeLensParams,
    Command, CompletionItem, CompletionItemKind, CompletionList, CompletionParams,
    CompletionResponse, CompletionTextEdit, InlayHint, InlayHintKind, InlayHintLabel,
    InlayHintParams, TextEdit, Url, WorkspaceEdit,
};
use sluice_compiler::contracts::count;
use sluice_compiler::ide::complete::{self, ItemKind};
use sluice_compiler::source::FileId;
use sluice_compiler::{TableId, TableKind};

use super::requests::DocumentContext;
use crate::convert;
use crate::documents::Documents;

impl DocumentContext {
    /// Completion at the cursor. The context is read from `buffer` (the editor's text,
    /// which may be ahead of the snapshot), the candidates from the latest analysis.
    pub(super) fn completion(
        &self,
        params: &CompletionParams,
        buffer: Option<&str>,
    ) -> Option<CompletionResponse> {
        let file = self.source();
        let text = buffer.unwrap_or(&file.text);
        let index;
        let line_index = if buffer.is_some_and(|b| b != file.text) {
            index = sluice_compiler::source::LineIndex::new(text);
            &index
        } else {
            &file.line_index
        };
        let position = params.text_document_position.position;
        let cursor = line_index.editor_offset(
            text,
            sluice_compiler::source::EditorPosition {
                line: position.line,
                column: position.character,
            },
            self.unit,
        );
        let context = complete::context(file.kind, text, cursor)?;
        let items = complete::items(
            &self.snapshot.analysis,
            self.file,
            file.kind,
            text,
            &context,
        );
        let at = |offset| {
            let p = line_index.editor_position(text, offset, self.unit);
            lsp_types::Position::new(p.line, p.column)
        };
        let range = lsp_types::Range::new(at(context.word_start), at(cursor));
        let items = items
            .into_iter()
            .map(|item| CompletionItem {
                kind: Some(match item.kind {
                    ItemKind::Table => CompletionItemKind::CLASS,
                    ItemKind::Column => CompletionItemKind::FIELD,
                    ItemKind::Schema => CompletionItemKind::STRUCT,
                    ItemKind::Type => CompletionItemKind::TYPE_PARAMETER,
                }),
                detail: Some(item.detail),
                text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(
                    range,
                    item.label.clone(),
                ))),
                label: item.label,
                ..CompletionItem::default()
            })
            .collect();
        Some(CompletionResponse::List(CompletionList {
            is_incomplete: false,
            items,
        }))
    }

    /// The fixes of the compiler's diagnostics that touch `params.range`, as quick fixes.
    /// A buffer that moved on since the snapshot gets none: the edits would be stale.
    pub(super) fn code_actions(
        &self,
        params: &CodeActionParams,
        documents: &Documents,
    ) -> Vec<CodeActionOrCommand> {
        let sources = &self.snapshot.sources;
        // Whether the editor's buffer of `file` moved on since the snapshot.
        let stale = |file: FileId| {
            self.url(file)
                .and_then(|uri| documents.get(&uri))
                .is_some_and(|d| d.text != sources.file(file).text)
        };
        if stale(self.file) {
            return Vec::new();
        }
        if let Some(only) = &params.context.only
            && !only.iter().any(|k| k.as_str().starts_with("quickfix"))
        {
            return Vec::new();
        }
        let start = self.offset(params.range.start);
        let end = self.offset(params.range.end);
        let mut actions = Vec::new();
        for d in &self.snapshot.analysis.diagnostics {
            if d.file != self.file || d.fixes.is_empty() {
                continue;
            }
            // Touching: a cursor at either end of the span counts.
            if d.span.end < start || d.span.start > end {
                continue;
            }
            let diagnostic = convert::diagnostic(d, sources, self.unit);
            // A fix that edits another file (a schema, the sources) is stale when that
            // file's buffer moved on.
            for fix in d
                .fixes
                .iter()
                .filter(|f| !f.edits.iter().any(|e| stale(e.file)))
            {
                let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
                for edit in &fix.edits {
                    let Some(uri) = self.url(edit.file) else {
                        continue;
                    };
                    changes.entry(uri).or_default().push(TextEdit::new(
                        self.range(edit.file, &edit.span),
                        edit.replacement.clone(),
                    ));
                }
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(changes),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: fix.preferred.then_some(true),
                    ..CodeAction::default()
                }));
            }
        }
        actions
    }

    /// The tables this document defines (nodes, not sources), in table order.
    fn nodes(&self) -> impl Iterator<Item = (TableId, &sluice_compiler::Table)> {
        self.snapshot
            .analysis
            .tables
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.file == self.file && t.kind != TableKind::Source)
            .map(|(i, t)| (TableId(i), t))
    }

    /// The inferred type after each computed output column of this document's nodes (a
    /// SQL select item, a Polars `alias(...)`) inside `params.range`.
    pub(super) fn inlay_hints(&self, params: &InlayHintParams) -> Vec<InlayHint> {
        let start = self.offset(params.range.start);
        let end = self.offset(params.range.end);
        let contracts = &self.snapshot.analysis.contracts;
        let mut hints = Vec::new();
        for (id, _) in self.nodes() {
            let Some(inferred) = contracts.inferred(id) else {
                continue;
            };
            for column in &inferred.columns {
                let Some(ty) = &column.ty else { continue };
                if column.file != self.file || column.span.end < start || column.span.end > end {
                    continue;
                }
                let nullable = if ty.nullable { "?" } else { "" };
                let position = self
                    .range(self.file, &(column.span.end..column.span.end))
                    .end;
                hints.push(InlayHint {
                    position,
                    label: InlayHintLabel::String(format!(
                        ": {}{nullable}",
                        sluice_compiler::types::display_type(&ty.data_type)
                    )),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: None,
                    padding_left: Some(false),
                    padding_right: Some(false),
                    data: None,
                });
            }
        }
        hints.sort_by_key(|h| (h.position.line, h.position.character));
        hints
    }

    /// "N proven · M deferred" over each node of this document.
    pub(super) fn code_lenses(&self, _params: &CodeLensParams) -> Vec<CodeLens> {
        let contracts = &self.snapshot.analysis.contracts;
        self.nodes()
            .map(|(id, table)| {
                let obligations = contracts.obligations_of(id);
                let c = count(obligations);
                let mut title = format!("{} proven · {} deferred", c.proven, c.deferred);
                if c.violated > 0 {
                    title.push_str(&format!(" · {} violated", c.violated));
                }
                CodeLens {
                    range: self.range(self.file, &table.span),
                    command: Some(Command {
                        title,
                        // Informational: clients show the title; nothing runs.
                        command: String::new(),
                        arguments: None,
                    }),
                    data: None,
                }
            })
            .collect()
    }
}
