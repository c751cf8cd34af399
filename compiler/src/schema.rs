//! Schema classes resolved to ordered, typed columns.

// Name tables keyed by identifiers the project itself wrote: rustc's fast hash, not
// SipHash (a third of schema resolution's time went to hashing names).
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, Fix};
use crate::resolve::{self, ClassId, ModuleId, Modules, Resolution};
use crate::source::{FileId, Span};
use crate::suggest::did_you_mean;
use crate::syntax::python::{ClassAppend, ClassItem, Expr, Import};
use crate::types::ColumnType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SchemaId(pub usize);

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    /// `None` when the declared type is invalid (already reported): checks skip it.
    pub ty: Option<ColumnType>,
    /// Where the column is declared.
    pub file: FileId,
    pub span: Span,
    /// Where the type annotation of a column declared `name: type` is (what a quick fix
    /// edits).
    pub annotation_span: Option<Span>,
    /// `col = Other.col`: the schema and column this one inherits from.
    pub inherited_from: Option<(SchemaId, String)>,
    /// The type annotation as the user wrote it (`str`, `Optional[int]`), for help texts;
    /// `None` for inherited columns.
    pub annotation: Option<String>,
    /// Its documentation: Bauplan's `Annotated[T, TableField(doc="...")]`.
    pub doc: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SchemaDef {
    pub name: String,
    pub module: String,
    pub file: FileId,
    pub span: Span,
    /// Shared: an incremental update copies the definitions of the schemas it did not
    /// re-resolve, not their columns.
    pub columns: Arc<Vec<Column>>,
    /// A column declaration is broken (reported): the column list is incomplete.
    pub incomplete: bool,
    /// Where "add the missing column to the contract" inserts a column (the class
    /// body's last line, see [`ClassAppend`]).
    pub append: Option<ClassAppend>,
    /// The imports of the schema's module (shared by its schemas): whether a type name a
    /// fix writes is imported there, and where to import it.
    pub imports: Arc<[Import]>,
}

impl SchemaDef {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Base classes that make a class a schema: sluice's `Schema`, Bauplan's `TableSchema`
/// (and its older `BauplanSchema`).
pub const SCHEMA_BASES: &[&str] = &["Schema", "TableSchema", "BauplanSchema"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    InProgress,
    Done,
}

/// Resolves every schema class of the project. Class ids of schema classes map to
/// schema ids through [`Schemas::of_class`].
pub struct Schemas {
    /// By `SchemaId`; shared with the analyses made from them (not copied per analysis).
    pub defs: Arc<Vec<SchemaDef>>,
    by_class: Arc<HashMap<ClassId, SchemaId>>,
}

impl Schemas {
    pub fn of_class(&self, class: ClassId) -> Option<SchemaId> {
        self.by_class.get(&class).copied()
    }

    pub fn get(&self, id: SchemaId) -> &SchemaDef {
        &self.defs[id.0]
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| d.name.as_str())
    }

    /// The schema classes of `modules` with empty column lists, by class id order.
    fn skeleton(modules: &Modules) -> Schemas {
        let is_schema = schema_classes(modules);
        let mut defs = Vec::new();
        let mut by_class = HashMap::default();
        let mut imports: HashMap<FileId, Arc<[Import]>> = HashMap::default();
        for (c, schema) in is_schema.iter().enumerate() {
            if *schema {
                by_class.insert(ClassId(c), SchemaId(defs.len()));
                defs.push(Self::header(modules, ClassId(c), &mut imports));
            }
        }
        Schemas {
            defs: Arc::new(defs),
            by_class: Arc::new(by_class),
        }
    }

    /// A schema class's definition before its columns are resolved. `imports` holds
    /// the imports of the modules seen so far, shared by their schemas.
    fn header(
        modules: &Modules,
        class: ClassId,
        imports: &mut HashMap<FileId, Arc<[Import]>>,
    ) -> SchemaDef {
        let def = modules.class(class);
        let module = modules.class_module(class);
        let module_imports = imports
            .entry(module.file)
            .or_insert_with(|| module.ast.imports.clone().into());
        SchemaDef {
            name: def.name.text.clone(),
            module: module.name.clone(),
            file: module.file,
            span: def.name.span.clone(),
            columns: Arc::default(),
            incomplete: false,
            append: def.append.clone(),
            imports: Arc::clone(module_imports),
        }
    }
}

/// Resolved schemas, with what an incremental update needs: what resolving each one
/// reported, and which schemas read each one's columns (its subclasses and the
/// schemas that inherit a column from it).
pub(crate) struct SchemaSet {
    pub schemas: Schemas,
    /// By `SchemaId`: the diagnostics reported while resolving the schema itself.
    pub diagnostics: Vec<Vec<Diagnostic>>,
    /// By `SchemaId`: the schemas whose resolution read this one's columns.
    dependents: Vec<Vec<SchemaId>>,
}

impl SchemaSet {
    /// Resolves every schema class of `modules`.
    pub(crate) fn build(modules: &Modules) -> SchemaSet {
        let schemas = Schemas::skeleton(modules);
        let count = schemas.defs.len();
        Self::resolve(modules, schemas, vec![true; count], None)
    }

    /// `previous` brought up to date with `modules`, which differ from the modules it
    /// was resolved from only inside the class bodies of the files in `changed`: the
    /// same modules, imports, class names and bases (the database's
    /// `Keys::py_structure` of every file is equal), so class and schema ids are the
    /// same. Re-resolves the schemas of those files and every
    /// schema that read one of them, transitively; the rest are kept as they are.
    /// Returns the update and the ids of the re-resolved schemas.
    pub(crate) fn update(
        previous: &SchemaSet,
        modules: &Modules,
        changed: &dyn Fn(FileId) -> bool,
    ) -> (SchemaSet, Vec<SchemaId>) {
        let defs = &previous.schemas.defs;
        let mut dirty = vec![false; defs.len()];
        let mut work: Vec<SchemaId> = (0..defs.len())
            .map(SchemaId)
            .filter(|id| changed(defs[id.0].file))
            .collect();
        while let Some(id) = work.pop() {
            if !std::mem::replace(&mut dirty[id.0], true) {
                work.extend(&previous.dependents[id.0]);
            }
        }
        let mut fresh: Vec<SchemaDef> = defs.as_ref().clone();
        let mut imports = HashMap::default();
        for (class, id) in previous.schemas.by_class.iter() {
            if dirty[id.0] {
                fresh[id.0] = Schemas::header(modules, *class, &mut imports);
            }
        }
        let schemas = Schemas {
            defs: Arc::new(fresh),
            by_class: Arc::clone(&previous.schemas.by_class),
        };
        let redone = (0..dirty.len())
            .filter(|&i| dirty[i])
            .map(SchemaId)
            .collect();
        (
            Self::resolve(modules, schemas, dirty, Some(previous)),
            redone,
        )
    }

    /// Resolves the columns of the schemas marked in `todo`; the others' are those of
    /// `skeleton` already (and their diagnostics and dependents those of `previous`).
    fn resolve(
        modules: &Modules,
        skeleton: Schemas,
        todo: Vec<bool>,
        previous: Option<&SchemaSet>,
    ) -> SchemaSet {
        let count = skeleton.defs.len();
        let mut schemas = skeleton;
        let (mut diagnostics, mut dependents) = match previous {
            Some(previous) => (previous.diagnostics.clone(), previous.dependents.clone()),
            None => (vec![Vec::new(); count], vec![Vec::new(); count]),
        };
        for (i, todo) in todo.iter().enumerate() {
            if *todo {
                diagnostics[i].clear();
            }
        }
        // A schema re-resolved is read by whoever reads it now: its dependents lists
        // are rebuilt from the re-resolved schemas' reads.
        for list in &mut dependents {
            list.retain(|d| !todo[d.0]);
        }
        let mut resolver = Resolver {
            modules,
            state: todo
                .iter()
                .map(|&t| if t { State::NotStarted } else { State::Done })
                .collect(),
            incomplete: vec![false; count],
            stack: Vec::new(),
            columns: vec![None; count],
            schemas: &schemas,
            diagnostics: &mut diagnostics,
            dependents: &mut dependents,
        };
        let mut ids: Vec<(ClassId, SchemaId)> = schemas
            .by_class
            .iter()
            .filter(|(_, s)| todo[s.0])
            .map(|(c, s)| (*c, *s))
            .collect();
        ids.sort();
        for (class, id) in ids {
            resolver.resolve(class, id);
        }
        let columns = resolver.columns;
        let incomplete = resolver.incomplete;
        // Not shared yet: the resolver, which held the only other reference, is gone.
        let defs = Arc::make_mut(&mut schemas.defs);
        for (i, def) in defs.iter_mut().enumerate() {
            if !todo[i] {
                continue;
            }
            let cols = columns[i].clone().unwrap_or_default();
            let cols =
                Rc::try_unwrap(cols).map_or_else(|shared| shared.columns.clone(), |r| r.columns);
            def.incomplete = incomplete[i] || cols.iter().any(|c| c.ty.is_none());
            def.columns = Arc::new(cols);
        }
        SchemaSet {
            schemas,
            diagnostics,
            dependents,
        }
    }

    /// Every diagnostic of schema resolution, in schema order.
    pub(crate) fn all_diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().flatten()
    }
}

impl Schemas {
    /// Resolves a schema reference written in Python (an annotation or `Source(X)`).
    /// `Ok(None)` means "not a sluice schema" (e.g. `pl.DataFrame`): unchecked, no error.
    // A diagnostic (with its fixes) is the rare path of a schema lookup: not boxed.
    #[allow(clippy::result_large_err)]
    pub fn resolve_ref(
        &self,
        modules: &Modules,
        module: ModuleId,
        expr: &Expr,
    ) -> Result<Option<SchemaId>, Diagnostic> {
        let file = modules.modules[module].file;
        let (path, span) = match expr {
            Expr::Name { path, span } => (path.clone(), span.clone()),
            Expr::Str(text, span) if is_dotted_name(text) => {
                (text.split('.').map(str::to_owned).collect(), span.clone())
            }
            _ => return Ok(None),
        };
        match modules.resolve(module, &path) {
            Resolution::Class(class) => match self.of_class(class) {
                Some(id) => Ok(Some(id)),
                None => Err(Diagnostic::new(
                    Code::UnknownSchema,
                    file,
                    span,
                    format!("`{}` is a class but not a schema", path.join(".")),
                )
                .with_label("not a schema")
                .with_help("schema classes derive from `sluice.Schema` (or another schema class)")),
            },
            Resolution::Ambiguous(classes) => {
                Err(self.ambiguous(modules, file, span, &path, &classes))
            }
            Resolution::External { .. } | Resolution::Module(_) => Ok(None),
            Resolution::Unknown => {
                Err(self.unknown(file, span, path.last().map_or("", String::as_str)))
            }
        }
    }

    /// Resolves a schema named in a SQL header: project-wide, by class name.
    // A diagnostic (with its fixes) is the rare path of a schema lookup: not boxed.
    #[allow(clippy::result_large_err)]
    pub fn resolve_global(
        &self,
        modules: &Modules,
        file: FileId,
        name: &str,
        span: Span,
    ) -> Result<SchemaId, Diagnostic> {
        let last = name.rsplit('.').next().unwrap_or(name);
        let found: Vec<ClassId> = modules
            .classes_named(last)
            .iter()
            .copied()
            .filter(|c| self.of_class(*c).is_some())
            .filter(|c| {
                !name.contains('.') || name == format!("{}.{last}", modules.class_module(*c).name)
            })
            .collect();
        match found.as_slice() {
            [one] => Ok(self.of_class(*one).expect("filtered to schemas")),
            [] => Err(self.unknown(file, span, name)),
            many => Err(self.ambiguous(modules, file, span, &[name.to_owned()], many)),
        }
    }

    fn unknown(&self, file: FileId, span: Span, name: &str) -> Diagnostic {
        let fix = did_you_mean(name, self.names()).map(|s| Fix::did_you_mean(file, &span, name, s));
        Diagnostic::new(
            Code::UnknownSchema,
            file,
            span,
            format!("unknown schema `{name}`"),
        )
        .with_label("no schema class of this name in the project")
        .with_fix_opt(fix)
        .with_help_opt(
            did_you_mean(name, self.names())
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    Some("define it as `class ...(Schema):` in any file of the project".into())
                }),
        )
    }

    fn ambiguous(
        &self,
        modules: &Modules,
        file: FileId,
        span: Span,
        path: &[String],
        classes: &[ClassId],
    ) -> Diagnostic {
        let mut where_: Vec<String> = classes
            .iter()
            .map(|c| modules.class_module(*c).name.clone())
            .collect();
        where_.sort();
        let name = path.join(".");
        Diagnostic::new(
            Code::AmbiguousSchema,
            file,
            span,
            format!(
                "schema name `{name}` is ambiguous: it is defined in modules {}",
                quote_list(&where_)
            ),
        )
        .with_label("which one?")
        .with_help(format!(
            "import it explicitly, e.g. `from {} import {name}`",
            where_[0]
        ))
    }
}

pub fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|p| {
            let mut chars = p.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// `Annotated[T, TableField(key="...")]`: the column's documentation (`doc`) or name
/// (`name`).
fn table_field_str(annotation: &Expr, key: &str) -> Option<String> {
    let Expr::Subscript { value, index, .. } = annotation else {
        return None;
    };
    if value.last_name() != Some("Annotated") {
        return None;
    }
    index.iter().skip(1).find_map(|meta| {
        if meta.call_name() != Some("TableField") {
            return None;
        }
        match meta.kwarg(key) {
            Some(Expr::Str(value, _)) => Some(value.clone()),
            _ => None,
        }
    })
}

/// Which classes are schema classes: one of their bases is `Schema`/`BauplanSchema` or
/// a schema class. A fixpoint over the base relation, so inheritance cycles terminate
/// (they are reported while resolving columns).
fn schema_classes(modules: &Modules) -> Vec<bool> {
    enum Base {
        Builtin,
        Class(ClassId),
        Other,
    }
    let bases: Vec<Vec<Base>> = (0..modules.classes.len())
        .map(|c| {
            let module = modules.classes[c].module;
            modules
                .class(ClassId(c))
                .bases
                .iter()
                .filter_map(|b| b.as_path().map(|p| (p, modules.resolve(module, p))))
                .map(|(path, res)| match res {
                    Resolution::Class(class) => Base::Class(class),
                    other if resolve::is_builtin(&other, path, SCHEMA_BASES) => Base::Builtin,
                    _ => Base::Other,
                })
                .collect()
        })
        .collect();
    let mut is_schema = vec![false; bases.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (c, bases) in bases.iter().enumerate() {
            if is_schema[c] {
                continue;
            }
            let schema = bases.iter().any(|b| match b {
                Base::Builtin => true,
                Base::Class(base) => is_schema[base.0],
                Base::Other => false,
            });
            if schema {
                is_schema[c] = true;
                changed = true;
            }
        }
    }
    is_schema
}

struct Resolver<'a> {
    modules: &'a Modules,
    schemas: &'a Schemas,
    state: Vec<State>,
    incomplete: Vec<bool>,
    /// Schemas being resolved, outermost first: the path of an inheritance cycle.
    stack: Vec<SchemaId>,
    /// By `SchemaId`, once resolved (or, for a schema kept from an earlier resolution,
    /// once read).
    columns: Vec<Option<Rc<Resolved>>>,
    /// By `SchemaId`: what resolving it reported.
    diagnostics: &'a mut Vec<Vec<Diagnostic>>,
    /// By `SchemaId`: the schemas that read its columns.
    dependents: &'a mut Vec<Vec<SchemaId>>,
}

/// A schema's resolved columns, shared (not copied) with every schema that inherits from
/// it, and indexed by name: resolution is linear in the number of columns.
#[derive(Default)]
struct Resolved {
    columns: Vec<Column>,
    by_name: HashMap<String, usize>,
}

impl Resolved {
    /// Adds `column`, replacing an earlier one of the same name in place.
    fn put(&mut self, column: Column) {
        match self.by_name.get(&column.name) {
            Some(&at) => self.columns[at] = column,
            None => {
                self.by_name.insert(column.name.clone(), self.columns.len());
                self.columns.push(column);
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Column> {
        self.by_name.get(name).map(|&at| &self.columns[at])
    }
}

impl Resolver<'_> {
    /// Reports `diagnostic` as part of the schema being resolved.
    fn report(&mut self, diagnostic: Diagnostic) {
        let id = *self
            .stack
            .last()
            .expect("reported while resolving a schema");
        self.diagnostics[id.0].push(diagnostic);
    }

    /// How many diagnostics the schema `id` has reported.
    fn reported(&self, id: SchemaId) -> usize {
        self.diagnostics[id.0].len()
    }

    /// The schema being resolved reads the columns of `read`.
    fn reads(&mut self, read: SchemaId) {
        if let Some(&id) = self.stack.last()
            && !self.dependents[read.0].contains(&id)
        {
            self.dependents[read.0].push(id);
        }
    }

    /// Columns of a schema, resolving what it depends on first. Returns `None` if the
    /// schema is part of an inheritance cycle that is being resolved.
    fn resolve(&mut self, class: ClassId, id: SchemaId) -> Option<Rc<Resolved>> {
        match self.state[id.0] {
            State::Done => {
                let columns = self.columns[id.0].get_or_insert_with(|| {
                    // Kept from an earlier resolution: indexed on first read.
                    let mut resolved = Resolved::default();
                    for column in self.schemas.defs[id.0].columns.iter() {
                        resolved.put(column.clone());
                    }
                    Rc::new(resolved)
                });
                return Some(Rc::clone(columns));
            }
            State::InProgress => return None,
            State::NotStarted => {}
        }
        self.state[id.0] = State::InProgress;
        self.stack.push(id);
        let modules = self.modules;
        let module = modules.classes[class.0].module;
        let file = modules.modules[module].file;
        let def = modules.class(class);
        let mut columns = Resolved::default();
        for base in &def.bases {
            let Some(path) = base.as_path() else { continue };
            if let Resolution::Class(base_class) = modules.resolve(module, path)
                && let Some(base_id) = self.schemas.of_class(base_class)
            {
                let cycle = self.cycle_to(base_id);
                self.reads(base_id);
                match self.resolve(base_class, base_id) {
                    Some(cols) => {
                        for col in &cols.columns {
                            columns.put(col.clone());
                        }
                    }
                    None => self.report(
                        Diagnostic::new(
                            Code::SchemaCycle,
                            file,
                            base.span(),
                            format!("schema inheritance cycle: {cycle}"),
                        )
                        .with_label("this base leads back to the schema")
                        .with_help("remove one base class to break the cycle"),
                    ),
                }
            }
        }
        let mut own: HashMap<String, Span> = HashMap::default();
        for item in &def.items {
            let (name, column) = match item {
                ClassItem::Annotated { name, annotation } => {
                    if name.text.starts_with("__") || annotation.last_name() == Some("ClassVar") {
                        continue;
                    }
                    let ty = match resolve::column_type(annotation) {
                        // `Any`: a column of any type (checked for presence only).
                        _ if resolve::is_any(annotation) => None,
                        Ok(ty) => Some(ty),
                        Err(err) => {
                            self.report(
                                Diagnostic::new(
                                    Code::UnknownType,
                                    file,
                                    err.span.clone(),
                                    format!(
                                        "{} (column `{}` of schema `{}`)",
                                        err.message, name.text, def.name.text
                                    ),
                                )
                                .with_help_opt(err.help)
                                .with_fix_opt(err.suggestion.map(|(written, s)| {
                                    Fix::did_you_mean(file, &err.span, &written, s)
                                })),
                            );
                            None
                        }
                    };
                    (
                        name,
                        Column {
                            // Bauplan's `TableField(name="...")` names the column.
                            name: table_field_str(annotation, "name")
                                .unwrap_or_else(|| name.text.clone()),
                            ty,
                            file,
                            span: name.span.clone(),
                            annotation_span: Some(annotation.span()),
                            inherited_from: None,
                            annotation: annotation.source_text(),
                            doc: table_field_str(annotation, "doc"),
                        },
                    )
                }
                ClassItem::Assigned { name, value } => {
                    let before = self.reported(id);
                    match self.inherited(module, file, &def.name.text, name, value) {
                        Some(column) => (name, column),
                        None => {
                            self.incomplete[id.0] |= self.reported(id) > before;
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = own.get(&column.name) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateColumn,
                        file,
                        name.span.clone(),
                        format!(
                            "column `{}` is declared twice in schema `{}`",
                            name.text, def.name.text
                        ),
                    )
                    .with_label("declared again here")
                    .with_secondary(file, first.clone(), "first declared here")
                    .with_help("remove one of the declarations"),
                );
                continue;
            }
            own.insert(column.name.clone(), name.span.clone());
            columns.put(column);
        }
        let columns = Rc::new(columns);
        self.columns[id.0] = Some(Rc::clone(&columns));
        self.state[id.0] = State::Done;
        self.stack.pop();
        Some(columns)
    }

    /// `A -> B -> A` for a schema about to be entered, if it closes a cycle.
    fn cycle_to(&self, target: SchemaId) -> String {
        let start = self.stack.iter().position(|s| *s == target).unwrap_or(0);
        self.stack[start..]
            .iter()
            .chain(std::iter::once(&target))
            .map(|s| format!("`{}`", self.schemas.defs[s.0].name))
            .collect::<Vec<_>>()
            .join(" -> ")
    }

    /// `col = Other.col` / `col = Other.col[NotNull]`. `None` when the assignment is not
    /// a column (or is broken, in which case it was reported).
    fn inherited(
        &mut self,
        module: ModuleId,
        file: FileId,
        schema_name: &str,
        name: &crate::syntax::python::Ident,
        value: &Expr,
    ) -> Option<Column> {
        let (target, nullable_override) = match value {
            Expr::Subscript { value, index, .. } => {
                let marker = index.first().and_then(Expr::last_name);
                let over = match marker {
                    Some("NotNull") => Some(false),
                    Some("Nullable") => Some(true),
                    _ => return None,
                };
                (value.as_ref(), over)
            }
            other => (other, None),
        };
        let Expr::Name { path, span } = target else {
            return None;
        };
        if path.len() < 2 {
            return None;
        }
        let (column, schema_path) = path.split_last()?;
        let column_span = span.end.saturating_sub(column.len())..span.end;
        let schema_span = span.start..column_span.start.saturating_sub(1).max(span.start);
        let modules = self.modules;
        let class = match modules.resolve(module, schema_path) {
            Resolution::Class(class) => class,
            Resolution::Unknown => {
                let d = self
                    .schemas
                    .unknown(file, schema_span, &schema_path.join("."));
                self.report(d.with_label(format!(
                    "column `{}` inherits from an unknown schema",
                    name.text
                )));
                return None;
            }
            Resolution::Ambiguous(classes) => {
                let d = self
                    .schemas
                    .ambiguous(modules, file, schema_span, schema_path, &classes);
                self.report(d);
                return None;
            }
            Resolution::External { .. } | Resolution::Module(_) => return None,
        };
        let source_id = self.schemas.of_class(class)?;
        self.reads(source_id);
        let Some(source_columns) = self.resolve(class, source_id) else {
            self.report(
                Diagnostic::new(
                    Code::SchemaCycle,
                    file,
                    schema_span,
                    format!(
                        "column `{}` of `{schema_name}` inherits from `{}`, which depends back on `{schema_name}`",
                        name.text,
                        schema_path.join(".")
                    ),
                )
                .with_label("inheritance cycle"),
            );
            return None;
        };
        let source_name = &self.schemas.defs[source_id.0].name;
        let Some(source) = source_columns.get(column) else {
            let suggestion = did_you_mean(
                column,
                source_columns.columns.iter().map(|c| c.name.as_str()),
            );
            let fix = suggestion.map(|s| Fix::did_you_mean(file, &column_span, column, s));
            self.report(
                Diagnostic::new(
                    Code::UnknownInheritedColumn,
                    file,
                    column_span,
                    format!("schema `{source_name}` has no column `{column}`"),
                )
                .with_label(format!("`{}` of `{schema_name}` inherits this", name.text))
                .with_secondary(
                    self.schemas.defs[source_id.0].file,
                    self.schemas.defs[source_id.0].span.clone(),
                    format!("`{source_name}` is defined here"),
                )
                .with_fix_opt(fix)
                .with_help(
                    suggestion
                        .map(|s| format!("did you mean `{source_name}.{s}`?"))
                        .unwrap_or_else(|| {
                            format!(
                                "`{source_name}` has columns {}",
                                column_list(&source_columns.columns)
                            )
                        }),
                ),
            );
            return None;
        };
        let ty = source.ty.clone().map(|mut ty| {
            if let Some(nullable) = nullable_override {
                ty.nullable = nullable;
            }
            ty
        });
        Some(Column {
            name: name.text.clone(),
            ty,
            file,
            span: name.span.clone(),
            annotation_span: None,
            inherited_from: Some((source_id, column.clone())),
            annotation: None,
            doc: source.doc.clone(),
        })
    }
}

pub fn column_list(columns: &[Column]) -> String {
    const MAX: usize = 12;
    let mut names: Vec<String> = columns
        .iter()
        .take(MAX)
        .map(|c| format!("`{}`", c.name))
        .collect();
    if columns.len() > MAX {
        names.push(format!("and {} more", columns.len() - MAX));
    }
    names.join(", ")
}
