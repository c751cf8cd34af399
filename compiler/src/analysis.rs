//! Table definitions (sources, Python and SQL nodes, expectations) found in parsed,
//! resolved files, and [`Analysis`]: everything the compiler knows about a checked
//! project. The graph over the tables is [`crate::graph`]; the driver is [`crate::db`].

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::{Code, Diagnostic, Summary};
use crate::resolve::{ModuleId, Modules, Resolution};
use crate::schema::{SchemaId, Schemas};
use crate::source::{FileId, Span};
use crate::syntax::python::{BodyExpr, Expr, FnDef, Ident};
use crate::syntax::sql::SqlNode;

mod python_node;

pub(crate) use python_node::decorator_name;
use python_node::python_node;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TableId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// A lake table the project reads (`Source(...)`).
    Source,
    Python,
    Sql,
}

#[derive(Clone, Debug)]
pub struct Input {
    /// Table name as referenced.
    pub table: String,
    /// The reference: a parameter default, a SQL relation or a header entry.
    pub span: Span,
    /// The Python parameter, for Python nodes.
    pub param: Option<Ident>,
    /// Schema the node requires of this input (parameter annotation).
    pub required: Option<SchemaId>,
    pub annotation_span: Option<Span>,
    /// The annotation names something that is not a schema and was reported.
    pub annotation_invalid: bool,
    /// A bare Python name (`= orders`): may also name a `Source` variable of another module.
    pub bare_name: bool,
    /// The table it resolved to (`None` for unknown tables).
    pub resolved: Option<TableId>,
    /// Bauplan's `Model("t", columns=[...])`: the columns the node reads, a contract
    /// (`None` for the wildcard `columns=["*"]`).
    pub projection: Option<Vec<(String, Span)>>,
    /// Bauplan's `Model("t", filter="...")`: a SQL predicate on the rows the node reads.
    pub filter: Option<String>,
    /// Where the filter's string is.
    pub filter_span: Option<Span>,
    /// Bauplan's `Model("t", projection_schema=S)`: the node reads only the columns of
    /// `S` (its [`Input::required`] schema), each checked like an annotation's.
    pub projection_schema: bool,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    pub file: FileId,
    /// The defining name: assignment target, function name, header name or file start.
    pub span: Span,
    pub output: Option<SchemaId>,
    /// The declared output schema is invalid, or the node's file is broken (reported):
    /// no further warnings about its output.
    pub output_invalid: bool,
    pub inputs: Vec<Input>,
    /// For Python nodes: the module and index of the function in it.
    pub function: Option<(ModuleId, usize)>,
    /// For Python nodes: where the return annotation is.
    pub returns_span: Option<Span>,
    /// For Python nodes: the function and what its decorators ask for.
    pub python: Option<PythonSettings>,
    /// Bauplan's `@bauplan.model(columns=[...])`: the output column names, a contract
    /// (`None` for the wildcard `columns=["*"]`).
    pub model_columns: Option<Vec<(String, Span)>>,
    /// For Python functions: the run parameters they read, `p=bauplan.Parameter("key")`.
    pub run_params: Vec<RunParam>,
    /// How the output reaches the lake (Bauplan's `materialization_strategy`).
    pub materialization: crate::bauplan::Materialization,
    /// A lake table a Bauplan project reads without defining it (`W0004`): its schema
    /// is unknown by design, so no other warning repeats that.
    pub implicit: bool,
    /// The run parameters its SQL query, or its inputs' `filter=` strings, name as
    /// `$key` (key and span; in a filter, the string's span), first occurrence each.
    pub placeholders: Vec<Ident>,
}

impl Table {
    /// A lake table the project reads: declared with `Source(...)`, or implicit.
    pub(crate) fn source(
        name: String,
        file: FileId,
        span: Span,
        output: Option<SchemaId>,
        output_invalid: bool,
    ) -> Table {
        Table {
            name,
            kind: TableKind::Source,
            file,
            span,
            output,
            output_invalid,
            inputs: Vec::new(),
            function: None,
            returns_span: None,
            python: None,
            model_columns: None,
            run_params: Vec::new(),
            materialization: crate::bauplan::Materialization::Replace,
            implicit: false,
            placeholders: Vec::new(),
        }
    }
}

/// A function parameter that receives a run parameter: `min_miles=bauplan.Parameter("min_miles")`
/// or `min_miles: Annotated[float, Parameter("min_miles")]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunParam {
    /// The function's parameter.
    pub param: String,
    /// The run parameter (`sluice run --param key=...`, `bauplan_project.yml`); empty
    /// when the call names none (reported).
    pub key: String,
    /// Where the key is written (the string literal).
    pub key_span: Span,
    /// The Python type the typed form annotates (`float` in `Annotated[float,
    /// Parameter("k")]`).
    pub ty: Option<Ident>,
}

/// Everything the compiler knows about a project after checking it.
#[derive(Debug, Default)]
pub struct Analysis {
    /// By `SchemaId`; shared with the database's memo (an edit that leaves the Python
    /// modules unchanged copies none of them).
    pub schemas: std::sync::Arc<Vec<crate::schema::SchemaDef>>,
    pub tables: Vec<Table>,
    /// `(parent, child)` pairs.
    pub edges: Vec<(TableId, TableId)>,
    /// Topological order of the tables, when the graph has no cycle.
    pub order: Option<Vec<TableId>>,
    /// Effective and inferred outputs, column traces and the obligation ledger.
    pub contracts: crate::contracts::Contracts,
    pub diagnostics: Vec<Diagnostic>,
    pub summary: Summary,
    /// `@expectation()` functions: data checks over tables, run after their inputs are
    /// produced. Their `inputs` are resolved like a node's; they are not tables.
    pub expectations: Vec<Table>,
    /// Run parameters declared in `bauplan_project.yml`, with their defaults.
    pub parameters: std::collections::BTreeMap<String, crate::bauplan_project::ProjectParameter>,
    /// Bare names Python code may use for a table other than its own name: the
    /// variable a `Source(...)`/`Table(...)` is assigned to (`orders = Source(S,
    /// name="raw.orders")`), when it names one table only. Name -> table.
    pub bindings: std::collections::BTreeMap<String, String>,
}

pub(crate) struct PyInput<'a> {
    pub module: ModuleId,
    pub function: &'a FnDef,
}

/// The table definitions the Python modules make, before the graph links them (the
/// SQL nodes' are [`sql_definition`], one per file).
pub(crate) struct Definitions {
    /// Sources (module order), then Python nodes (module order).
    pub tables: Vec<Table>,
    /// `@expectation()` functions.
    pub expectations: Vec<Table>,
    /// Per module: its `Source`/`Table` variables, variable -> table name.
    pub aliases: Vec<HashMap<String, String>>,
}

/// What one module's `Source(...)` and `Table(...)` assignments define.
#[derive(Default)]
pub(crate) struct ModuleSources {
    /// Its sources, in assignment order.
    pub tables: Vec<Table>,
    /// Its `Source`/`Table` variables, variable -> table name.
    pub aliases: HashMap<String, String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What one module's functions define.
#[derive(Default)]
pub(crate) struct ModuleNodes {
    /// Its Python nodes, in function order.
    pub tables: Vec<Table>,
    /// Its `@expectation()` functions.
    pub expectations: Vec<Table>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The table definitions the Python modules make come from two steps per module (the
/// database memoises each): this one, then [`module_nodes`]. Sources come first
/// (module order), then Python nodes (module order).
///
/// The sources and table variables of module `mid`. Reads the module, and of the
/// other modules and the schemas only names, imports, classes and bases (module and
/// schema resolution).
pub(crate) fn module_sources(modules: &Modules, schemas: &Schemas, mid: ModuleId) -> ModuleSources {
    let module = &modules.modules[mid];
    let mut out = ModuleSources::default();
    for assign in &module.ast.assigns {
        let Some(name) = assign.value.call_name() else {
            continue;
        };
        match name {
            "Source" if !is_project_class(modules, mid, &assign.value) => {
                let (table, span) = match assign.value.kwarg("name") {
                    Some(Expr::Str(n, span)) => (n.clone(), span.clone()),
                    _ => (assign.target.text.clone(), assign.target.span.clone()),
                };
                let schema_expr = match &assign.value {
                    Expr::Call { args, .. } => {
                        args.first().or_else(|| assign.value.kwarg("schema"))
                    }
                    _ => None,
                };
                let mut output_invalid = false;
                let output = schema_expr.and_then(|e| match schemas.resolve_ref(modules, mid, e) {
                    Ok(s) => s,
                    Err(d) => {
                        out.diagnostics.push(d);
                        output_invalid = true;
                        None
                    }
                });
                out.aliases
                    .insert(assign.target.text.clone(), table.clone());
                out.tables.push(Table::source(
                    table,
                    module.file,
                    span,
                    output,
                    output_invalid,
                ));
            }
            "Table" => {
                if let Some(Expr::Str(n, _)) = first_arg(&assign.value) {
                    out.aliases.insert(assign.target.text.clone(), n.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// The Python nodes and expectations of module `mid`'s functions. Reads the module,
/// every module's table variables (`aliases`) and function names, and what
/// [`module_sources`] reads.
pub(crate) fn module_nodes(
    modules: &Modules,
    schemas: &Schemas,
    aliases: &[HashMap<String, String>],
    mid: ModuleId,
) -> ModuleNodes {
    let mut out = ModuleNodes::default();
    for (index, function) in modules.modules[mid].ast.functions.iter().enumerate() {
        let input = PyInput {
            module: mid,
            function,
        };
        // `@expectation()` functions check tables; they are not tables.
        let expectation = function
            .decorator_exprs
            .iter()
            .any(|d| decorator_name(d) == Some("expectation"));
        let Some(mut table) = python_node(modules, schemas, aliases, input, &mut out.diagnostics)
        else {
            continue;
        };
        table.function = Some((mid, index));
        if expectation {
            table.name = function.name.text.clone();
            out.expectations.push(table);
        } else {
            out.tables.push(table);
        }
    }
    out
}

fn first_arg(call: &Expr) -> Option<&Expr> {
    match call {
        Expr::Call { args, .. } => args.first(),
        _ => None,
    }
}

/// `Source(...)` written for a project class named `Source` is not sluice's.
fn is_project_class(modules: &Modules, module: ModuleId, call: &Expr) -> bool {
    let Expr::Call { func, .. } = call else {
        return false;
    };
    func.as_path()
        .is_some_and(|p| matches!(modules.resolve(module, p), Resolution::Class(_)))
}

/// A table reference in a parameter default: `Table("t")`, `bauplan.Model("t")`, or a
/// bare name. `None` when the default is something else (the function is not a node).
fn table_default(
    modules: &Modules,
    aliases: &[HashMap<String, String>],
    module: ModuleId,
    default: &Expr,
) -> Option<(String, Span, bool)> {
    match default {
        Expr::Call { .. } if matches!(default.call_name(), Some("Table" | "Model")) => {
            match first_arg(default).or_else(|| default.kwarg("name")) {
                Some(Expr::Str(name, span)) => Some((name.clone(), span.clone(), false)),
                _ => None,
            }
        }
        Expr::Name { path, span } if path.len() == 1 => {
            let name = &path[0];
            if let Some(table) = aliases[module].get(name) {
                return Some((table.clone(), span.clone(), false));
            }
            let m = &modules.modules[module];
            if m.ast.assigns.iter().any(|a| &a.target.text == name)
                || m.ast.classes.iter().any(|c| &c.name.text == name)
            {
                return None;
            }
            if let Some(imp) = m.ast.imports.iter().find(|i| &i.local.text == name) {
                let target = modules.import_target(module, imp);
                let item = imp.item.as_ref()?;
                let target_module = modules.module_by_name(&target)?;
                if let Some(table) = aliases[target_module].get(item) {
                    return Some((table.clone(), span.clone(), false));
                }
                let tm = &modules.modules[target_module];
                return tm
                    .ast
                    .functions
                    .iter()
                    .any(|f| &f.name.text == item)
                    .then(|| (item.clone(), span.clone(), false));
            }
            Some((name.clone(), span.clone(), true))
        }
        _ => None,
    }
}

/// The table a SQL node's file defines (`stem` names it when the header does not).
/// Reads the file's parse, the modules and the schemas only (its header's schema is
/// resolved project-wide).
pub(crate) fn sql_definition(
    modules: &Modules,
    schemas: &Schemas,
    file: FileId,
    stem: &str,
    node: &SqlNode,
    diagnostics: &mut Vec<Diagnostic>,
) -> Table {
    let header = node.header.as_ref();
    let bauplan_name = node
        .bauplan
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v);
    let (name, span) = match (header, bauplan_name) {
        (Some(h), _) => (h.output.text.clone(), h.output.span.clone()),
        (None, Some(n)) => (n.text.clone(), n.span.clone()),
        (None, None) => (stem.to_owned(), node.first_token.clone()),
    };
    let mut output_invalid = node.broken;
    let output = node.output_schema().and_then(|s| {
        match schemas.resolve_global(modules, file, &s.text, s.span.clone()) {
            Ok(id) => Some(id),
            Err(d) => {
                diagnostics.push(d);
                output_invalid = true;
                None
            }
        }
    });
    let inputs: Vec<Input> = match header.and_then(|h| h.inputs.as_ref()) {
        Some(listed) => {
            if node.query.is_some() {
                for input in listed {
                    if !node.reads.iter().any(|r| r.name == input.text) {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::SqlHeaderInputs,
                                file,
                                input.span.clone(),
                                format!("the header of `{name}` lists input `{}`, but the query does not read it", input.text),
                            )
                            .with_label("listed here, never read")
                            .with_help(format!("remove `{}` from the header, or read it in the query", input.text)),
                        );
                    }
                }
                let mut reported = Vec::new();
                for read in &node.reads {
                    if !listed.iter().any(|i| i.text == read.name) && !reported.contains(&read.name)
                    {
                        reported.push(read.name.clone());
                        diagnostics.push(
                            Diagnostic::new(
                                Code::SqlHeaderInputs,
                                file,
                                read.span.clone(),
                                format!("the query of `{name}` reads `{}`, which its header does not list", read.name),
                            )
                            .with_label("not among the header's inputs")
                            .with_secondary(file, header.map_or(0..0, |h| h.span.clone()), "header")
                            .with_help(format!("add `{}` to the header's `<-` list", read.name)),
                        );
                    }
                }
            }
            // Unlisted reads are reported above but are still real dependencies.
            let mut inputs: Vec<Input> = listed
                .iter()
                .map(|i| sql_input(&i.text, i.span.clone()))
                .collect();
            for read in &node.reads {
                if !inputs.iter().any(|i| i.table == read.name) {
                    inputs.push(sql_input(&read.name, read.span.clone()));
                }
            }
            inputs
        }
        None => {
            let mut seen: Vec<&str> = Vec::new();
            node.reads
                .iter()
                .filter(|r| {
                    let new = !seen.contains(&r.name.as_str());
                    seen.push(&r.name);
                    new
                })
                .map(|r| sql_input(&r.name, r.span.clone()))
                .collect()
        }
    };
    let materialization =
        crate::bauplan::sql_materialization(file, &name, &node.bauplan, diagnostics);
    Table {
        name,
        kind: TableKind::Sql,
        file,
        span,
        output,
        output_invalid,
        inputs,
        function: None,
        returns_span: None,
        python: None,
        model_columns: None,
        run_params: Vec::new(),
        materialization,
        implicit: false,
        placeholders: crate::bauplan::first_of_each(node.placeholders.iter().cloned()),
    }
}

fn sql_input(table: &str, span: Span) -> Input {
    Input {
        table: table.to_owned(),
        span,
        param: None,
        required: None,
        annotation_span: None,
        annotation_invalid: false,
        bare_name: false,
        resolved: None,
        projection: None,
        filter: None,
        filter_span: None,
        projection_schema: false,
    }
}

/// What a Python function's decorators ask for: `@python("3.11", pip={"polars": "1.0"},
/// dataframe="pyarrow")` (also `@sluice.python(...)`, `@bauplan.python(...)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PythonSettings {
    pub function: String,
    pub packages: BTreeMap<String, String>,
    pub version: Option<String>,
    /// `polars` (default), `pyarrow` (default under Bauplan's decorators) or `pandas`.
    pub dataframe: String,
    /// Written for Bauplan's SDK: a `@bauplan.…` decorator, or `@model(...)`.
    pub bauplan: bool,
}

pub(crate) fn python_settings(function: &str, decorators: &[BodyExpr]) -> PythonSettings {
    let mut settings = PythonSettings {
        function: function.to_owned(),
        dataframe: "polars".to_owned(),
        ..PythonSettings::default()
    };
    for d in decorators {
        let BodyExpr::Call {
            func, args, kwargs, ..
        } = d
        else {
            continue;
        };
        let (name, bauplan) = match func.as_ref() {
            BodyExpr::Name(i) => (i.text.as_str(), false),
            BodyExpr::Attr { object, attr, .. } => (
                attr.text.as_str(),
                matches!(object.as_ref(), BodyExpr::Name(m) if m.text == "bauplan"),
            ),
            _ => continue,
        };
        if bauplan || name == "model" {
            // Bauplan hands its models pyarrow tables.
            settings.dataframe = "pyarrow".to_owned();
            settings.bauplan = true;
        }
        if name != "python" {
            continue;
        }
        if let Some(BodyExpr::Str(v, _)) = args.first() {
            settings.version = Some(v.clone());
        }
        for (key, value) in kwargs {
            match (key.text.as_str(), value) {
                ("pip", BodyExpr::Dict(pairs, _)) => {
                    for (k, v) in pairs {
                        if let (BodyExpr::Str(k, _), BodyExpr::Str(v, _)) = (k, v) {
                            settings.packages.insert(k.clone(), v.clone());
                        }
                    }
                }
                ("version", BodyExpr::Str(v, _)) => settings.version = Some(v.clone()),
                ("dataframe", BodyExpr::Str(v, _)) => settings.dataframe = v.clone(),
                _ => {}
            }
        }
    }
    settings
}
