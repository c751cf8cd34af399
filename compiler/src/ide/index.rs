//! [`SymbolIndex`]: every occurrence of a table, schema or column name in a project,
//! the column identities (which column keys are one column), and the lookups the
//! queries share.

use std::collections::HashMap;
use std::sync::Arc;

use crate::analysis::{Analysis, TableId};
use crate::db::Syntax;
use crate::lineage::{self, LineageEdge};
use crate::schema::SchemaId;
use crate::source::{FileId, SourceSet, Span};
use crate::sql_plan::DependencyKind;

/// Whose contract a column is read through: a schema class when the table's declared
/// schema has the column, else the table's own (inferred) output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    Table(TableId),
    Schema(SchemaId),
}

/// One column of one contract.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnKey {
    pub owner: Owner,
    pub name: String,
}

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol {
    /// A table, by name (references to unknown tables included).
    Table(String),
    Schema(SchemaId),
    Column(ColumnKey),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Definition,
    Reference,
}

/// How a rename rewrites an occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// The span's text is the name: replace it.
    Text,
    /// The span names the symbol indirectly (a variable bound to a table): it follows
    /// without an edit.
    Follows,
    /// The span must change but cannot be rewritten safely; the reason says why.
    Blocked(String),
}

/// A span of a file naming a symbol.
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub file: FileId,
    /// The name itself (inside quotes for string literals).
    pub span: Span,
    pub symbol: Symbol,
    pub role: Role,
    pub edit: Edit,
    /// The node (or source) whose code holds the occurrence.
    pub node: Option<TableId>,
    /// For columns: the table whose column this is (the input read, or the output).
    pub table: Option<TableId>,
}

/// A `*` (or `t.*`) select item: hover expands it.
#[derive(Clone, Debug)]
pub struct Wildcard {
    pub file: FileId,
    pub span: Span,
    /// The tables whose columns it stands for, in order.
    pub tables: Vec<TableId>,
}

/// The index of one checked state of a project. Built once per state (linear in the
/// sources and the lineage edges); every query reads it.
#[derive(Debug)]
pub struct SymbolIndex {
    pub(super) analysis: Arc<Analysis>,
    pub(super) sources: Arc<SourceSet>,
    pub(super) occurrences: Vec<Occurrence>,
    /// Per file: occurrence indices sorted by span start.
    by_file: HashMap<FileId, Vec<usize>>,
    /// Per symbol (columns by their component): occurrence indices.
    by_symbol: HashMap<SymbolGroup, Vec<usize>>,
    /// Column key -> the representative key of its column.
    component: HashMap<ColumnKey, usize>,
    pub(super) wildcards: Vec<Wildcard>,
    pub(super) table_ids: HashMap<String, TableId>,
    pub(super) edges: Vec<LineageEdge>,
}

/// What the references of a symbol are grouped by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SymbolGroup {
    Table(String),
    Schema(SchemaId),
    Column(usize),
}

/// The growing index and column identities during [`SymbolIndex::build`].
pub(super) struct Builder<'a> {
    pub analysis: &'a Analysis,
    pub sources: &'a SourceSet,
    pub occurrences: Vec<Occurrence>,
    pub wildcards: Vec<Wildcard>,
    pub table_ids: HashMap<String, TableId>,
    /// The tables each file defines, in table order.
    pub tables_by_file: HashMap<FileId, Vec<TableId>>,
    schemas_by_name: HashMap<String, Vec<SchemaId>>,
    /// The schemas each file defines.
    pub schemas_by_file: HashMap<FileId, Vec<SchemaId>>,
    keys: HashMap<ColumnKey, usize>,
    parent: Vec<usize>,
}

impl Builder<'_> {
    /// The tables `file` defines that satisfy `keep`.
    pub fn tables_in(
        &self,
        file: FileId,
        keep: impl Fn(&crate::analysis::Table) -> bool,
    ) -> Option<TableId> {
        self.tables_by_file
            .get(&file)?
            .iter()
            .copied()
            .find(|t| keep(&self.analysis.tables[t.0]))
    }

    /// The key of column `name` of table `t`: through its declared schema when that
    /// declares it, else the table's own output.
    pub fn key_of(&self, t: TableId, name: &str) -> ColumnKey {
        let table = &self.analysis.tables[t.0];
        let owner = match table.output {
            Some(s) if self.analysis.schemas[s.0].column(name).is_some() => Owner::Schema(s),
            _ => Owner::Table(t),
        };
        ColumnKey {
            owner,
            name: name.to_owned(),
        }
    }

    /// Whether table `t`'s effective output has column `name`.
    pub fn has_column(&self, t: TableId, name: &str) -> bool {
        self.analysis
            .contracts
            .output(t)
            .is_some_and(|o| o.column(name).is_some())
    }

    fn intern(&mut self, key: &ColumnKey) -> usize {
        if let Some(&at) = self.keys.get(key) {
            return at;
        }
        let at = self.parent.len();
        self.parent.push(at);
        self.keys.insert(key.clone(), at);
        at
    }

    fn find(&mut self, mut at: usize) -> usize {
        while self.parent[at] != at {
            self.parent[at] = self.parent[self.parent[at]];
            at = self.parent[at];
        }
        at
    }

    /// Records that two column keys are one column.
    pub fn union(&mut self, a: &ColumnKey, b: &ColumnKey) {
        let (a, b) = (self.intern(a), self.intern(b));
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }

    /// Records an occurrence whose text must equal `name` (a string literal's quotes
    /// aside) to be rewritten by a rename; other text is a name that follows.
    #[allow(clippy::too_many_arguments)]
    pub fn named(
        &mut self,
        file: FileId,
        span: &Span,
        name: &str,
        symbol: Symbol,
        role: Role,
        node: Option<TableId>,
        table: Option<TableId>,
    ) {
        let sources = self.sources;
        let text = &sources.file(file).text;
        let (span, edit) = match name_span(text, span, name) {
            Some(inner) => (inner, Edit::Text),
            None => (span.clone(), Edit::Follows),
        };
        self.push(Occurrence {
            file,
            span,
            symbol,
            role,
            edit,
            node,
            table,
        });
    }

    /// Records an occurrence; an empty span (a name with no position) names nothing.
    pub fn push(&mut self, occurrence: Occurrence) {
        if !occurrence.span.is_empty()
            && occurrence.span.end <= self.sources.file(occurrence.file).text.len()
        {
            self.occurrences.push(occurrence);
        }
    }

    /// A column occurrence of table `t`'s column `name`.
    pub fn column(
        &mut self,
        file: FileId,
        span: &Span,
        t: TableId,
        name: &str,
        role: Role,
        node: Option<TableId>,
    ) {
        let key = self.key_of(t, name);
        self.named(file, span, name, Symbol::Column(key), role, node, Some(t));
    }

    /// Every schema named `name`.
    pub fn schemas_with_name(&self, name: &str) -> &[SchemaId] {
        self.schemas_by_name
            .get(name)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The schema a name written in `file` refers to: the only schema of that name, or
    /// the one defined in `file` when several share it.
    pub fn schema_named(&self, file: FileId, name: &str) -> Option<SchemaId> {
        let last = name.rsplit('.').next().unwrap_or(name);
        let found = self
            .schemas_by_name
            .get(last)
            .map_or(&[][..], Vec::as_slice);
        match found {
            [one] => Some(*one),
            many => many
                .iter()
                .copied()
                .find(|s| self.analysis.schemas[s.0].file == file),
        }
    }
}

/// The span of `name` inside `span`: the span itself when its text is the name, the
/// inside of the quotes when it is a plain quoted literal of the name.
pub(super) fn name_span(text: &str, span: &Span, name: &str) -> Option<Span> {
    let slice = text.get(span.clone())?;
    if slice == name {
        return Some(span.clone());
    }
    let quote = slice.chars().next()?;
    let inner = slice
        .strip_prefix(quote)
        .and_then(|s| s.strip_suffix(quote))
        .filter(|_| matches!(quote, '"' | '\'' | '`') && slice.len() >= 2)?;
    (inner == name).then(|| span.start + 1..span.end - 1)
}

impl SymbolIndex {
    /// Indexes one checked state: `syntax` holds the trees the analysis read.
    pub fn build(
        analysis: Arc<Analysis>,
        sources: Arc<SourceSet>,
        syntax: &HashMap<FileId, Syntax>,
    ) -> SymbolIndex {
        let mut table_ids = HashMap::new();
        for (i, t) in analysis.tables.iter().enumerate() {
            table_ids.entry(t.name.clone()).or_insert(TableId(i));
        }
        let edges = lineage::edges(&analysis);
        let mut tables_by_file: HashMap<FileId, Vec<TableId>> = HashMap::new();
        for (i, t) in analysis.tables.iter().enumerate() {
            tables_by_file.entry(t.file).or_default().push(TableId(i));
        }
        let mut schemas_by_name: HashMap<String, Vec<SchemaId>> = HashMap::new();
        let mut schemas_by_file: HashMap<FileId, Vec<SchemaId>> = HashMap::new();
        for (i, s) in analysis.schemas.iter().enumerate() {
            schemas_by_name
                .entry(s.name.clone())
                .or_default()
                .push(SchemaId(i));
            schemas_by_file.entry(s.file).or_default().push(SchemaId(i));
        }
        let mut b = Builder {
            analysis: &analysis,
            sources: &sources,
            occurrences: Vec::new(),
            wildcards: Vec::new(),
            table_ids,
            tables_by_file,
            schemas_by_name,
            schemas_by_file,
            keys: HashMap::new(),
            parent: Vec::new(),
        };
        let known: std::collections::HashSet<FileId> = sources.files().map(|(id, _)| id).collect();
        let mut files: Vec<(&FileId, &Syntax)> = syntax.iter().collect();
        files.sort_by_key(|(id, _)| **id);
        for (file, tree) in files {
            if !known.contains(file) {
                continue;
            }
            match tree {
                Syntax::Python(module) => {
                    let from = b.occurrences.len();
                    super::collect_py::module(&mut b, *file, module);
                    super::collect_py_text::schema_uses(&mut b, *file, module, from);
                }
                Syntax::Sql(node) => super::collect_sql::node(&mut b, *file, node),
            }
        }
        flows(&mut b, &edges);
        let Builder {
            occurrences,
            wildcards,
            table_ids,
            mut keys,
            mut parent,
            ..
        } = b;
        // Every occurrence's key gets a component (its own when it flows nowhere).
        for o in &occurrences {
            if let Symbol::Column(key) = &o.symbol
                && !keys.contains_key(key)
            {
                keys.insert(key.clone(), parent.len());
                parent.push(parent.len());
            }
        }
        let root = |mut at: usize| {
            while parent[at] != at {
                at = parent[at];
            }
            at
        };
        let component: HashMap<ColumnKey, usize> =
            keys.into_iter().map(|(k, at)| (k, root(at))).collect();
        let mut by_file: HashMap<FileId, Vec<usize>> = HashMap::new();
        let mut by_symbol: HashMap<SymbolGroup, Vec<usize>> = HashMap::new();
        for (i, o) in occurrences.iter().enumerate() {
            by_file.entry(o.file).or_default().push(i);
            let group = match &o.symbol {
                Symbol::Table(name) => SymbolGroup::Table(name.clone()),
                Symbol::Schema(s) => SymbolGroup::Schema(*s),
                Symbol::Column(key) => SymbolGroup::Column(component[key]),
            };
            by_symbol.entry(group).or_default().push(i);
        }
        for list in by_file.values_mut() {
            list.sort_by_key(|&i| (occurrences[i].span.start, occurrences[i].span.end));
        }
        SymbolIndex {
            analysis,
            sources,
            occurrences,
            by_file,
            by_symbol,
            component,
            wildcards,
            table_ids,
            edges,
        }
    }

    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    pub fn sources(&self) -> &SourceSet {
        &self.sources
    }

    /// Every occurrence, in file order then position.
    pub fn occurrences(&self) -> impl Iterator<Item = &Occurrence> {
        let mut files: Vec<&FileId> = self.by_file.keys().collect();
        files.sort();
        files
            .into_iter()
            .flat_map(|f| self.by_file[f].iter().map(|&i| &self.occurrences[i]))
    }

    /// The occurrence at byte `offset` of `file` (a cursor just after a name counts):
    /// the narrowest one when they nest.
    pub fn at(&self, file: FileId, offset: usize) -> Option<&Occurrence> {
        let list = self.by_file.get(&file)?;
        // Occurrences starting at or before the offset.
        let end = list.partition_point(|&i| self.occurrences[i].span.start <= offset);
        list[..end]
            .iter()
            .rev()
            .take(64)
            .map(|&i| &self.occurrences[i])
            .filter(|o| o.span.end >= offset)
            .min_by_key(|o| o.span.len())
    }

    /// The `*` select item at `offset`.
    pub fn wildcard_at(&self, file: FileId, offset: usize) -> Option<&Wildcard> {
        self.wildcards
            .iter()
            .find(|w| w.file == file && w.span.start <= offset && offset <= w.span.end)
    }

    /// Every occurrence of `symbol`; for a column, of every key of its column.
    pub fn occurrences_of(&self, symbol: &Symbol) -> Vec<&Occurrence> {
        let group = match symbol {
            Symbol::Table(name) => SymbolGroup::Table(name.clone()),
            Symbol::Schema(s) => SymbolGroup::Schema(*s),
            Symbol::Column(key) => match self.component.get(key) {
                Some(c) => SymbolGroup::Column(*c),
                None => return Vec::new(),
            },
        };
        self.by_symbol
            .get(&group)
            .into_iter()
            .flatten()
            .map(|&i| &self.occurrences[i])
            .collect()
    }

    /// Every column key of the column `key` belongs to, sorted.
    pub fn column_keys(&self, key: &ColumnKey) -> Vec<&ColumnKey> {
        let Some(c) = self.component.get(key) else {
            return Vec::new();
        };
        let mut keys: Vec<&ColumnKey> = self
            .component
            .iter()
            .filter(|(_, at)| *at == c)
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        keys
    }

    /// The table of a name (the first definition of duplicates).
    pub fn table(&self, name: &str) -> Option<TableId> {
        self.table_ids.get(name).copied()
    }
}

/// Column identities: unchanged copies (lineage), inheritance, input requirements.
fn flows(b: &mut Builder, edges: &[LineageEdge]) {
    for e in edges {
        if e.kind != DependencyKind::Copy || e.column != e.source_column {
            continue;
        }
        let (Some(&to), Some(&from)) =
            (b.table_ids.get(&e.table), b.table_ids.get(&e.source_table))
        else {
            continue;
        };
        let (to, from) = (b.key_of(to, &e.column), b.key_of(from, &e.source_column));
        b.union(&to, &from);
    }
    let schemas = Arc::clone(&b.analysis.schemas);
    for (s, def) in schemas.iter().enumerate() {
        for column in def.columns.iter() {
            if let Some((from, from_column)) = &column.inherited_from
                && *from_column == column.name
            {
                let this = ColumnKey {
                    owner: Owner::Schema(SchemaId(s)),
                    name: column.name.clone(),
                };
                let other = ColumnKey {
                    owner: Owner::Schema(*from),
                    name: from_column.clone(),
                };
                b.union(&this, &other);
            }
        }
    }
    let analysis = b.analysis;
    for table in analysis.tables.iter().chain(&analysis.expectations) {
        for input in &table.inputs {
            let (Some(required), Some(parent)) = (input.required, input.resolved) else {
                continue;
            };
            for column in analysis.schemas[required.0].columns.iter() {
                if b.has_column(parent, &column.name) {
                    let required = ColumnKey {
                        owner: Owner::Schema(required),
                        name: column.name.clone(),
                    };
                    let parent = b.key_of(parent, &column.name);
                    b.union(&required, &parent);
                }
            }
        }
    }
}
