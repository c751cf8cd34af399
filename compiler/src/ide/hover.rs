//! Hover text (Markdown) for the symbol at a position: a column's type, nullability,
//! table and contract (and, on a node's output, its proven and deferred facts); a
//! table's contract and producer; a schema's columns; a node's declared and inferred
//! outputs; the expansion of `SELECT *`.

use std::fmt::Write;

use super::index::{ColumnKey, Owner, Role, Symbol, SymbolIndex};
use crate::analysis::TableId;
use crate::contracts::{Output, Status};
use crate::schema::SchemaId;
use crate::source::{FileId, Span};
use crate::types::{ColumnType, display_type};

/// Column lists longer than this are cut in hovers.
const MAX_LISTED: usize = 40;

impl SymbolIndex {
    /// The hover at `offset`: the span it is about and Markdown text.
    pub fn hover(&self, file: FileId, offset: usize) -> Option<(Span, String)> {
        let Some(o) = self.at(file, offset) else {
            let w = self.wildcard_at(file, offset)?;
            let mut text = "`*` expands to:\n\n```text\n".to_owned();
            let mut lines = Vec::new();
            for t in &w.tables {
                let name = &self.analysis.tables[t.0].name;
                for c in self
                    .analysis
                    .contracts
                    .output(*t)
                    .iter()
                    .flat_map(|o| &o.columns)
                {
                    lines.push(format!("{name}.{}: {}", c.name, ty(c.ty.as_ref())));
                }
            }
            push_lines(&mut text, &lines);
            text.push_str("```");
            return Some((w.span.clone(), text));
        };
        let text = match &o.symbol {
            Symbol::Column(key) => self.hover_column(key, o.table, o.node, o.role),
            Symbol::Table(name) => match self.table(name) {
                Some(t) if o.role == Role::Definition && o.node == Some(t) => self.hover_node(t),
                Some(t) => self.hover_table(t),
                None => format!("**table** `{name}`: not produced by this project"),
            },
            Symbol::Schema(s) => self.hover_schema(*s),
        };
        Some((o.span.clone(), text))
    }

    fn hover_column(
        &self,
        key: &ColumnKey,
        table: Option<TableId>,
        node: Option<TableId>,
        role: Role,
    ) -> String {
        let (ty, contract, doc) = match key.owner {
            Owner::Schema(s) => {
                let def = &self.analysis.schemas[s.0];
                let column = def.column(&key.name);
                (
                    column.and_then(|c| c.ty.clone()),
                    format!("contract `{}`", def.name),
                    column.and_then(|c| c.doc.clone()),
                )
            }
            Owner::Table(t) => (
                self.analysis
                    .contracts
                    .output(t)
                    .and_then(|o| o.column(&key.name))
                    .and_then(|c| c.ty.clone()),
                "its inferred schema (no contract declares it)".to_owned(),
                None,
            ),
        };
        let mut text = format!("**column** `{}`: {}", key.name, ty_long(ty.as_ref()));
        if let Some(doc) = doc {
            let _ = write!(text, "\n\n{doc}");
        }
        let of = match table {
            Some(t) => format!(
                "\n\nof table `{}` ({}), through {contract}",
                self.analysis.tables[t.0].name,
                self.table_detail(t)
            ),
            None => format!("\n\ndeclared in {contract}"),
        };
        text.push_str(&of);
        // On a node's own output (or a contract's declaration): the facts of the ledger.
        let tables: Vec<TableId> = match (table, key.owner) {
            (Some(t), _) if node == Some(t) => vec![t],
            (None, Owner::Schema(s)) if role == Role::Definition => (0..self.analysis.tables.len())
                .map(TableId)
                .filter(|t| self.analysis.tables[t.0].output == Some(s))
                .collect(),
            _ => Vec::new(),
        };
        for t in tables {
            let name = &self.analysis.tables[t.0].name;
            let (mut proven, mut deferred, mut violated) = (0, 0, 0);
            for ob in self.analysis.contracts.obligations() {
                if &ob.table == name && ob.column == key.name {
                    match ob.status {
                        Status::Proven => proven += 1,
                        Status::Deferred => deferred += 1,
                        Status::Violated => violated += 1,
                    }
                }
            }
            if proven + deferred + violated > 0 {
                let _ = write!(
                    text,
                    "\n\nin `{name}`: {proven} proven · {deferred} deferred to run time"
                );
                if violated > 0 {
                    let _ = write!(text, " · {violated} violated");
                }
            }
        }
        text
    }

    fn hover_table(&self, t: TableId) -> String {
        let table = &self.analysis.tables[t.0];
        let site = self.table_site(t);
        let mut text = format!(
            "**table** `{}`: {}, produced in `{}`",
            table.name,
            self.table_detail(t),
            self.line_of(site.file, site.span.start)
        );
        match self.analysis.contracts.output(t) {
            Some(output) => {
                let what = match output.declared {
                    Some(s) => format!("contract `{}`", self.analysis.schemas[s.0].name),
                    None => "inferred schema (no contract)".to_owned(),
                };
                let _ = write!(text, "\n\n{what}:\n\n");
                columns(&mut text, output);
            }
            None => text.push_str("\n\nno known columns (no contract, body not inferred)"),
        }
        text
    }

    fn hover_node(&self, t: TableId) -> String {
        let table = &self.analysis.tables[t.0];
        let mut text = format!("**node** `{}`: {}", table.name, self.table_detail(t));
        let contracts = &self.analysis.contracts;
        match table.output {
            Some(s) => {
                let _ = write!(
                    text,
                    "\n\ndeclared `{}`:\n\n",
                    self.analysis.schemas[s.0].name
                );
                match contracts.output(t) {
                    Some(o) => columns(&mut text, o),
                    None => text.push_str("(invalid)\n"),
                }
            }
            None => text.push_str("\n\nno declared contract\n"),
        }
        match contracts.inferred(t) {
            Some(inferred) => {
                text.push_str("\ninferred from its body:\n\n");
                columns(&mut text, inferred);
            }
            None => text.push_str("\nbody not inferred: its contract is checked at run time"),
        }
        let (mut proven, mut deferred) = (0, 0);
        for ob in contracts.obligations().filter(|o| o.table == table.name) {
            match ob.status {
                Status::Proven => proven += 1,
                Status::Deferred => deferred += 1,
                Status::Violated => {}
            }
        }
        let _ = write!(text, "\n\n{proven} proven · {deferred} deferred");
        text
    }

    fn hover_schema(&self, s: SchemaId) -> String {
        let def = &self.analysis.schemas[s.0];
        let mut text = format!(
            "**schema** `{}` (module `{}`)\n\n```text\n",
            def.name, def.module
        );
        let lines: Vec<String> = def
            .columns
            .iter()
            .map(|c| {
                let from = match &c.inherited_from {
                    Some((from, col)) => {
                        format!("  ← {}.{col}", self.analysis.schemas[from.0].name)
                    }
                    None => String::new(),
                };
                format!("{}: {}{from}", c.name, ty(c.ty.as_ref()))
            })
            .collect();
        push_lines(&mut text, &lines);
        text.push_str("```");
        text
    }
}

fn columns(text: &mut String, output: &Output) {
    text.push_str("```text\n");
    let lines: Vec<String> = output
        .columns
        .iter()
        .map(|c| format!("{}: {}", c.name, ty(c.ty.as_ref())))
        .collect();
    push_lines(text, &lines);
    text.push_str("```\n");
}

fn push_lines(text: &mut String, lines: &[String]) {
    for line in lines.iter().take(MAX_LISTED) {
        text.push_str(line);
        text.push('\n');
    }
    if lines.len() > MAX_LISTED {
        let _ = writeln!(text, "… and {} more", lines.len() - MAX_LISTED);
    }
}

/// `Int64` or `Utf8 (nullable)`.
fn ty(t: Option<&ColumnType>) -> String {
    t.map_or_else(|| "type not checked".to_owned(), ToString::to_string)
}

/// `` `Int64`, not null `` or `` `Utf8`, nullable ``.
fn ty_long(t: Option<&ColumnType>) -> String {
    match t {
        Some(t) if t.nullable => format!("`{}`, nullable", display_type(&t.data_type)),
        Some(t) => format!("`{}`, not null", display_type(&t.data_type)),
        None => "type not checked (`Any`, or an invalid annotation)".to_owned(),
    }
}
