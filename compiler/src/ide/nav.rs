//! Navigation queries over a [`SymbolIndex`]: definition, type definition, references,
//! rename, document and workspace symbols, and column lineage at a position.

use std::collections::BTreeMap;

use super::index::{ColumnKey, Edit, Occurrence, Owner, Role, Symbol, SymbolIndex};
use crate::analysis::{TableId, TableKind};
use crate::lineage::{self, Direction, LineageEdge};
use crate::schema::SchemaId;
use crate::source::{FileId, Span};

/// A span of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: FileId,
    pub span: Span,
}

impl Ord for Location {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.file, self.span.start, self.span.end).cmp(&(
            other.file,
            other.span.start,
            other.span.end,
        ))
    }
}

impl PartialOrd for Location {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What a rename changes: text edits by file (sorted, never overlapping) and files to
/// rename (a table named by its file), as `(file, new relative path)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenameEdits {
    pub edits: BTreeMap<FileId, Vec<(Span, String)>>,
    pub file_renames: Vec<(FileId, String)>,
}

/// Why a rename is refused; nothing is edited.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenameRefused(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolCategory {
    Table,
    Schema,
    Column,
}

/// An outline entry of one file.
#[derive(Clone, Debug)]
pub struct DocumentSymbol {
    pub name: String,
    pub detail: String,
    pub category: SymbolCategory,
    /// The whole item and its name (the same for items with no extent of their own).
    pub span: Span,
    pub selection: Span,
    pub children: Vec<DocumentSymbol>,
}

/// A table or schema of the project.
#[derive(Clone, Debug)]
pub struct WorkspaceSymbol {
    pub name: String,
    pub detail: String,
    pub category: SymbolCategory,
    pub location: Location,
}

/// The lineage of one table column: the edges `sluice lineage` prints, both ways.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ColumnLineage {
    pub table: String,
    pub column: String,
    pub upstream: Vec<LineageEdge>,
    pub downstream: Vec<LineageEdge>,
}

impl SymbolIndex {
    /// Where the symbol at `offset` is defined: a table's producer, a schema class, a
    /// column's declaration in the contract it is read through (or the select item that
    /// computes it when no contract declares it).
    pub fn definition(&self, file: FileId, offset: usize) -> Vec<Location> {
        let Some(o) = self.at(file, offset) else {
            return Vec::new();
        };
        self.definition_of(&o.symbol).into_iter().collect()
    }

    pub(super) fn definition_of(&self, symbol: &Symbol) -> Option<Location> {
        match symbol {
            Symbol::Table(name) => self.table(name).map(|t| self.table_site(t)),
            Symbol::Schema(s) => Some(self.schema_site(*s)),
            Symbol::Column(key) => self.column_site(key),
        }
    }

    /// The schema class of the table, node or column at `offset`.
    pub fn type_definition(&self, file: FileId, offset: usize) -> Option<Location> {
        let o = self.at(file, offset)?;
        let schema = match &o.symbol {
            Symbol::Table(name) => self.analysis.tables[self.table(name)?.0].output?,
            Symbol::Schema(s) => *s,
            Symbol::Column(key) => match key.owner {
                Owner::Schema(s) => s,
                Owner::Table(t) => self.analysis.tables[t.0].output?,
            },
        };
        Some(self.schema_site(schema))
    }

    /// Every occurrence of the symbol at `offset` (for a column: of every contract it
    /// flows through unchanged), sorted; definitions only when asked for.
    pub fn references(&self, file: FileId, offset: usize, declarations: bool) -> Vec<Location> {
        let Some(o) = self.at(file, offset) else {
            return Vec::new();
        };
        let mut out: Vec<Location> = self
            .occurrences_of(&o.symbol)
            .into_iter()
            .filter(|o| declarations || o.role == Role::Reference)
            .map(|o| Location {
                file: o.file,
                span: o.span.clone(),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The name a rename at `offset` would change and its span; `Ok(None)` on no
    /// symbol, an error when the symbol cannot be renamed.
    pub fn prepare_rename(
        &self,
        file: FileId,
        offset: usize,
    ) -> Result<Option<(Span, String)>, RenameRefused> {
        let Some(o) = self.at(file, offset) else {
            return Ok(None);
        };
        if let Edit::Blocked(why) = &o.edit {
            return Err(RenameRefused(format!(
                "`{}` cannot be renamed here: {why}",
                self.symbol_name(&o.symbol)
            )));
        }
        Ok(Some((o.span.clone(), self.symbol_name(&o.symbol))))
    }

    /// Renames the symbol at `offset` everywhere, or refuses naming what cannot be
    /// rewritten: never a partial edit. `Ok(None)` on no symbol.
    pub fn rename(
        &self,
        file: FileId,
        offset: usize,
        new_name: &str,
    ) -> Result<Option<RenameEdits>, RenameRefused> {
        let Some(o) = self.at(file, offset) else {
            return Ok(None);
        };
        let old = self.symbol_name(&o.symbol);
        let dotted = matches!(&o.symbol, Symbol::Table(name) if self.table(name).is_some_and(|t| {
            let t = &self.analysis.tables[t.0];
            t.kind != TableKind::Python && !self.named_by_file(t.file, &t.name)
        }));
        if !is_name(new_name, dotted) {
            return Err(RenameRefused(format!(
                "`{new_name}` is not a valid name{}",
                if dotted {
                    " (letters, digits and `_`, parts separated by `.`)"
                } else {
                    " (letters, digits and `_`, not starting with a digit)"
                }
            )));
        }
        if new_name == old {
            return Ok(Some(RenameEdits::default()));
        }
        let occurrences = self.occurrences_of(&o.symbol);
        match &o.symbol {
            Symbol::Table(_) => {
                if self.table(new_name).is_some() {
                    return Err(RenameRefused(format!(
                        "a table named `{new_name}` already exists"
                    )));
                }
            }
            Symbol::Schema(_) => {
                if self.analysis.schemas.iter().any(|s| s.name == new_name) {
                    return Err(RenameRefused(format!(
                        "a schema named `{new_name}` already exists"
                    )));
                }
            }
            Symbol::Column(key) => self.column_rename_allowed(key, new_name)?,
        }
        let mut edits = RenameEdits::default();
        for o in &occurrences {
            match &o.edit {
                Edit::Text => edits
                    .edits
                    .entry(o.file)
                    .or_default()
                    .push((o.span.clone(), new_name.to_owned())),
                Edit::Follows => {}
                Edit::Blocked(why) => {
                    return Err(RenameRefused(format!(
                        "cannot rename `{old}`: {} uses it as {why}",
                        self.where_(o)
                    )));
                }
            }
        }
        if let Symbol::Table(name) = &o.symbol
            && let Some(t) = self.table(name)
        {
            let table = &self.analysis.tables[t.0];
            if self.named_by_file(table.file, name) {
                let path = &self.sources.file(table.file).path;
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                let new_path = if dir.is_empty() {
                    format!("{new_name}.sql")
                } else {
                    format!("{dir}/{new_name}.sql")
                };
                if self.sources.file_id(&new_path).is_some() {
                    return Err(RenameRefused(format!("`{new_path}` already exists")));
                }
                edits.file_renames.push((table.file, new_path));
            }
        }
        for list in edits.edits.values_mut() {
            list.sort_by_key(|(span, _)| span.start);
            list.dedup();
        }
        Ok(Some(edits))
    }

    /// A column rename must reach every use: no contract may already have the new name,
    /// and every node reading the column must have been inferred (its uses found).
    fn column_rename_allowed(&self, key: &ColumnKey, new_name: &str) -> Result<(), RenameRefused> {
        let keys = self.column_keys(key);
        let mut tables: Vec<TableId> = Vec::new();
        for k in &keys {
            let has_new = match k.owner {
                Owner::Schema(s) => self.analysis.schemas[s.0].column(new_name).is_some(),
                Owner::Table(t) => self
                    .analysis
                    .contracts
                    .output(t)
                    .is_some_and(|o| o.column(new_name).is_some()),
            };
            if has_new {
                return Err(RenameRefused(format!(
                    "{} already has a column `{new_name}`",
                    self.owner_name(k.owner)
                )));
            }
            match k.owner {
                Owner::Table(t) => tables.push(t),
                Owner::Schema(s) => tables.extend(
                    (0..self.analysis.tables.len())
                        .map(TableId)
                        .filter(|t| self.analysis.tables[t.0].output == Some(s)),
                ),
            }
        }
        let reads = |inputs: &[crate::analysis::Input]| {
            inputs
                .iter()
                .find(|i| i.resolved.is_some_and(|p| tables.contains(&p)))
                .map(|i| i.table.clone())
        };
        for (i, consumer) in self.analysis.tables.iter().enumerate() {
            let Some(parent) = reads(&consumer.inputs) else {
                continue;
            };
            if self.analysis.contracts.inferred(TableId(i)).is_some() {
                continue;
            }
            let what = match consumer.kind {
                TableKind::Python => "its body is not inspectable",
                _ => "its query could not be checked",
            };
            return Err(RenameRefused(format!(
                "cannot rename `{}`: node `{}` ({}) reads `{parent}`, but {what}, so its uses of the column cannot be found; rename it by hand",
                key.name,
                consumer.name,
                self.line_of(consumer.file, consumer.span.start)
            )));
        }
        for check in &self.analysis.expectations {
            if let Some(parent) = reads(&check.inputs) {
                return Err(RenameRefused(format!(
                    "cannot rename `{}`: expectation `{}` ({}) reads `{parent}` at run time, where its uses of the column cannot be found; rename it by hand",
                    key.name,
                    check.name,
                    self.line_of(check.file, check.span.start)
                )));
            }
        }
        Ok(())
    }

    /// The tables and schemas a file defines, with their columns.
    pub fn document_symbols(&self, file: FileId) -> Vec<DocumentSymbol> {
        let mut out = Vec::new();
        for (i, table) in self.analysis.tables.iter().enumerate() {
            if table.file != file {
                continue;
            }
            let site = self.table_site(TableId(i));
            // A contract's columns are listed under the schema; an inferred output's here.
            let children = self
                .analysis
                .contracts
                .output(TableId(i))
                .filter(|o| o.declared.is_none())
                .map(|o| {
                    o.columns
                        .iter()
                        .filter(|c| c.file == file)
                        .map(|c| DocumentSymbol {
                            name: c.name.clone(),
                            detail: c
                                .ty
                                .as_ref()
                                .map_or("invalid type".to_owned(), |t| t.to_string()),
                            category: SymbolCategory::Column,
                            span: c.span.clone(),
                            selection: c.span.clone(),
                            children: Vec::new(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(DocumentSymbol {
                name: table.name.clone(),
                detail: self.table_detail(TableId(i)),
                category: SymbolCategory::Table,
                span: site.span.clone(),
                selection: site.span,
                children,
            });
        }
        for def in self.analysis.schemas.iter() {
            if def.file != file {
                continue;
            }
            let children = def
                .columns
                .iter()
                .filter(|c| c.file == file)
                .map(|c| DocumentSymbol {
                    name: c.name.clone(),
                    detail: c
                        .ty
                        .as_ref()
                        .map_or("invalid type".to_owned(), |t| t.to_string()),
                    category: SymbolCategory::Column,
                    span: c.span.clone(),
                    selection: c.span.clone(),
                    children: Vec::new(),
                })
                .collect();
            out.push(DocumentSymbol {
                name: def.name.clone(),
                detail: "schema".to_owned(),
                category: SymbolCategory::Schema,
                span: def.span.clone(),
                selection: def.span.clone(),
                children,
            });
        }
        out.sort_by_key(|s| s.span.start);
        out
    }

    /// Every table and schema whose name contains `query` (ignoring case), by name.
    pub fn workspace_symbols(&self, query: &str) -> Vec<WorkspaceSymbol> {
        let query = query.to_lowercase();
        let mut out: Vec<WorkspaceSymbol> = Vec::new();
        for (i, table) in self.analysis.tables.iter().enumerate() {
            if table.name.to_lowercase().contains(&query) {
                out.push(WorkspaceSymbol {
                    name: table.name.clone(),
                    detail: self.table_detail(TableId(i)),
                    category: SymbolCategory::Table,
                    location: self.table_site(TableId(i)),
                });
            }
        }
        for (s, def) in self.analysis.schemas.iter().enumerate() {
            if def.name.to_lowercase().contains(&query) {
                out.push(WorkspaceSymbol {
                    name: def.name.clone(),
                    detail: format!("schema in {}", def.module),
                    category: SymbolCategory::Schema,
                    location: self.schema_site(SchemaId(s)),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.location.cmp(&b.location)));
        out
    }

    /// The lineage of the column at `offset`: of the table it is read from or
    /// produced by; for a schema's column, of every table declaring that schema.
    pub fn lineage(&self, file: FileId, offset: usize) -> Vec<ColumnLineage> {
        let Some(o) = self.at(file, offset) else {
            return Vec::new();
        };
        let Symbol::Column(key) = &o.symbol else {
            return Vec::new();
        };
        let tables: Vec<TableId> = match (o.table, key.owner) {
            (Some(t), _) | (None, Owner::Table(t)) => vec![t],
            (None, Owner::Schema(s)) => (0..self.analysis.tables.len())
                .map(TableId)
                .filter(|t| self.analysis.tables[t.0].output == Some(s))
                .collect(),
        };
        tables
            .into_iter()
            .map(|t| self.column_lineage(&self.analysis.tables[t.0].name, &key.name))
            .collect()
    }

    /// The lineage of `table.column`, both ways (breadth first).
    pub fn column_lineage(&self, table: &str, column: &str) -> ColumnLineage {
        ColumnLineage {
            table: table.to_owned(),
            column: column.to_owned(),
            upstream: lineage::walk(&self.edges, table, column, Direction::Upstream),
            downstream: lineage::walk(&self.edges, table, column, Direction::Downstream),
        }
    }

    /// The lineage edges one step from `table.column`: its sources (`Upstream`) or
    /// the columns computed from it (`Downstream`).
    pub fn lineage_step(
        &self,
        table: &str,
        column: &str,
        direction: Direction,
    ) -> Vec<&LineageEdge> {
        self.edges
            .iter()
            .filter(|e| match direction {
                Direction::Upstream => e.table == table && e.column == column,
                Direction::Downstream => e.source_table == table && e.source_column == column,
            })
            .collect()
    }

    /// Where `table.column` is declared (its contract's column) or computed.
    pub fn table_column_site(&self, table: &str, column: &str) -> Option<Location> {
        let t = self.table(table)?;
        let key = ColumnKey {
            owner: match self.analysis.tables[t.0].output {
                Some(s) if self.analysis.schemas[s.0].column(column).is_some() => Owner::Schema(s),
                _ => Owner::Table(t),
            },
            name: column.to_owned(),
        };
        self.column_site(&key).or_else(|| Some(self.table_site(t)))
    }

    pub(super) fn column_site(&self, key: &ColumnKey) -> Option<Location> {
        match key.owner {
            Owner::Schema(s) => {
                let c = self.analysis.schemas[s.0].column(&key.name)?;
                Some(Location {
                    file: c.file,
                    span: c.span.clone(),
                })
            }
            Owner::Table(t) => {
                let defined = self
                    .occurrences_of(&Symbol::Column(key.clone()))
                    .into_iter()
                    .find(|o| {
                        o.role == Role::Definition && o.symbol == Symbol::Column(key.clone())
                    });
                if let Some(o) = defined {
                    return Some(Location {
                        file: o.file,
                        span: o.span.clone(),
                    });
                }
                let c = self.analysis.contracts.output(t)?.column(&key.name)?;
                Some(Location {
                    file: c.file,
                    span: c.span.clone(),
                })
            }
        }
    }

    /// Where a table is produced: its name in a header, function or `Source(...)`; the
    /// start of a SQL file named after it.
    pub(super) fn table_site(&self, t: TableId) -> Location {
        let table = &self.analysis.tables[t.0];
        if self.named_by_file(table.file, &table.name) {
            return Location {
                file: table.file,
                span: 0..0,
            };
        }
        let text = &self.sources.file(table.file).text;
        let span =
            super::index::name_span(text, &table.span, &table.name).unwrap_or(table.span.clone());
        Location {
            file: table.file,
            span,
        }
    }

    pub(super) fn schema_site(&self, s: SchemaId) -> Location {
        let def = &self.analysis.schemas[s.0];
        Location {
            file: def.file,
            span: def.span.clone(),
        }
    }

    /// A SQL node whose table name is its file's name (no header, no Bauplan name).
    pub(super) fn named_by_file(&self, file: FileId, name: &str) -> bool {
        let path = &self.sources.file(file).path;
        let Some(stem) = path.strip_suffix(".sql") else {
            return false;
        };
        let stem = stem.rsplit('/').next().unwrap_or(stem);
        stem == name
            && !self
                .occurrences_of(&Symbol::Table(name.to_owned()))
                .iter()
                .any(|o| o.file == file && o.role == Role::Definition)
    }

    pub(super) fn symbol_name(&self, symbol: &Symbol) -> String {
        match symbol {
            Symbol::Table(name) => name.clone(),
            Symbol::Schema(s) => self.analysis.schemas[s.0].name.clone(),
            Symbol::Column(key) => key.name.clone(),
        }
    }

    pub(super) fn owner_name(&self, owner: Owner) -> String {
        match owner {
            Owner::Schema(s) => format!("schema `{}`", self.analysis.schemas[s.0].name),
            Owner::Table(t) => format!("table `{}`", self.analysis.tables[t.0].name),
        }
    }

    pub(super) fn table_detail(&self, t: TableId) -> String {
        let table = &self.analysis.tables[t.0];
        let kind = match table.kind {
            TableKind::Source => "lake source",
            TableKind::Python => "Python node",
            TableKind::Sql => "SQL node",
        };
        match table.output {
            Some(s) => format!("{kind} → {}", self.analysis.schemas[s.0].name),
            None => kind.to_owned(),
        }
    }

    /// `path:line` of a byte offset.
    pub(super) fn line_of(&self, file: FileId, offset: usize) -> String {
        let f = self.sources.file(file);
        let at = f.line_index.line_col(&f.text, offset);
        format!("{}:{}", f.path, at.line)
    }

    fn where_(&self, o: &Occurrence) -> String {
        let place = self.line_of(o.file, o.span.start);
        match o.node {
            Some(t) => format!("node `{}` ({place})", self.analysis.tables[t.0].name),
            None => place,
        }
    }
}

/// A valid table, schema or column name: an identifier (dotted parts when `dotted`).
fn is_name(name: &str, dotted: bool) -> bool {
    let ident = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    if dotted {
        name.split('.').all(ident)
    } else {
        ident(name)
    }
}
