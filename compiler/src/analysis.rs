//! From parsed files to a checked table graph: table definitions (sources, Python and
//! SQL nodes), the DAG, and the edge contract checks.

use std::collections::HashMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diagnostic::{Code, Diagnostic, Summary};
use crate::resolve::{ModuleId, Modules, Resolution};
use crate::schema::{SchemaId, Schemas};
use crate::source::{FileId, Span};
use crate::suggest::did_you_mean;
use crate::syntax::python::{Expr, FnDef, Ident};
use crate::syntax::sql::SqlNode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct TableId(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
    pub python: Option<crate::plan::PythonSettings>,
    /// Bauplan's `@bauplan.model(columns=[...])`: the output column names, a contract
    /// (`None` for the wildcard `columns=["*"]`).
    pub model_columns: Option<Vec<(String, Span)>>,
    /// For Python functions: the run parameters they read, `p=bauplan.Parameter("key")`.
    pub run_params: Vec<RunParam>,
}

/// A function parameter that receives a run parameter: `min_miles=bauplan.Parameter("min_miles")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunParam {
    /// The function's parameter.
    pub param: String,
    /// The run parameter (`sluice run --param key=...`, `bauplan_project.yml`).
    pub key: String,
}

/// Everything the compiler knows about a project after checking it.
#[derive(Debug, Default)]
pub struct Analysis {
    pub schemas: Vec<crate::schema::SchemaDef>,
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

pub(crate) fn analyze(
    sources: &crate::source::SourceSet,
    modules: &Modules,
    sql: &[(FileId, &str, &SqlNode)],
    bauplan: bool,
    mut diagnostics: Vec<Diagnostic>,
) -> Analysis {
    let schemas = Schemas::build(modules, &mut diagnostics);
    let mut tables: Vec<Table> = Vec::new();
    // Python: sources first (module order), then nodes.
    let mut aliases: Vec<HashMap<String, String>> = vec![HashMap::new(); modules.modules.len()];
    for (mid, module) in modules.modules.iter().enumerate() {
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
                    let output =
                        schema_expr.and_then(|e| match schemas.resolve_ref(modules, mid, e) {
                            Ok(s) => s,
                            Err(d) => {
                                diagnostics.push(d);
                                output_invalid = true;
                                None
                            }
                        });
                    aliases[mid].insert(assign.target.text.clone(), table.clone());
                    tables.push(Table {
                        name: table,
                        kind: TableKind::Source,
                        file: module.file,
                        span,
                        output,
                        output_invalid,
                        inputs: Vec::new(),
                        function: None,
                        returns_span: None,
                        python: None,
                        model_columns: None,
                        run_params: Vec::new(),
                    });
                }
                "Table" => {
                    if let Some(Expr::Str(n, _)) = first_arg(&assign.value) {
                        aliases[mid].insert(assign.target.text.clone(), n.clone());
                    }
                }
                _ => {}
            }
        }
    }
    let mut expectations = Vec::new();
    for (mid, module) in modules.modules.iter().enumerate() {
        for (index, function) in module.ast.functions.iter().enumerate() {
            // `@expectation()` functions check tables; they are not tables.
            if function
                .decorator_exprs
                .iter()
                .any(|d| decorator_name(d) == Some("expectation"))
            {
                if let Some(mut check) = python_node(
                    modules,
                    &schemas,
                    &aliases,
                    PyInput {
                        module: mid,
                        function,
                    },
                    &mut diagnostics,
                ) {
                    check.name = function.name.text.clone();
                    check.function = Some((mid, index));
                    expectations.push(check);
                }
                continue;
            }
            if let Some(mut table) = python_node(
                modules,
                &schemas,
                &aliases,
                PyInput {
                    module: mid,
                    function,
                },
                &mut diagnostics,
            ) {
                table.function = Some((mid, index));
                tables.push(table);
            }
        }
    }
    for (file, stem, node) in sql {
        tables.push(sql_node(
            modules,
            &schemas,
            *file,
            stem,
            node,
            &mut diagnostics,
        ));
    }

    // Table names: the first definition wins; later ones are duplicates.
    let mut by_name: HashMap<String, TableId> = HashMap::new();
    let mut live = vec![true; tables.len()];
    for (i, table) in tables.iter().enumerate() {
        match by_name.get(&table.name) {
            Some(first) => {
                let first = &tables[first.0];
                live[i] = false;
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateTable,
                        table.file,
                        table.span.clone(),
                        format!(
                            "table `{}` is defined more than once ({} and {})",
                            table.name,
                            kind_word(first.kind),
                            kind_word(table.kind)
                        ),
                    )
                    .with_label("defined again here")
                    .with_secondary(first.file, first.span.clone(), "first defined here")
                    .with_help("each table has exactly one definition: rename one of them"),
                );
            }
            None => {
                by_name.insert(table.name.clone(), TableId(i));
            }
        }
    }

    // Resolve inputs and build the graph.
    let names: Vec<String> = {
        let mut n: Vec<String> = by_name.keys().cloned().collect();
        n.sort_unstable();
        n
    };
    // A bare name that is no table may name a `Source` variable of another module.
    let mut source_vars: HashMap<&str, Option<&str>> = HashMap::new();
    for module_aliases in &aliases {
        for (var, table) in module_aliases {
            source_vars
                .entry(var.as_str())
                .and_modify(|t| {
                    if *t != Some(table.as_str()) {
                        *t = None;
                    }
                })
                .or_insert(Some(table.as_str()));
        }
    }
    let bindings = source_vars
        .iter()
        .filter_map(|(var, table)| Some((var.to_string(), (*table)?.to_string())))
        .filter(|(var, table)| var != table)
        .collect();
    if bauplan {
        implicit_lake_tables(
            &mut tables,
            &mut live,
            &mut by_name,
            &names,
            &source_vars,
            &mut diagnostics,
        );
    }
    let mut graph: DiGraph<TableId, usize> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..tables.len())
        .map(|i| graph.add_node(TableId(i)))
        .collect();
    let mut edges = Vec::new();
    let mut unknown = Vec::new();
    for (i, table) in tables.iter_mut().enumerate() {
        if !live[i] {
            continue;
        }
        for (k, input) in table.inputs.iter_mut().enumerate() {
            if input.bare_name
                && !by_name.contains_key(&input.table)
                && let Some(Some(target)) = source_vars.get(input.table.as_str())
            {
                input.table = (*target).to_owned();
            }
            match by_name.get(&input.table) {
                Some(&parent) => {
                    input.resolved = Some(parent);
                    graph.add_edge(nodes[parent.0], nodes[i], k);
                    edges.push((parent, TableId(i)));
                }
                None => unknown.push((
                    table.file,
                    input.span.clone(),
                    input.table.clone(),
                    table.name.clone(),
                )),
            }
        }
    }
    for check in &mut expectations {
        for input in &mut check.inputs {
            if input.bare_name
                && !by_name.contains_key(&input.table)
                && let Some(Some(target)) = source_vars.get(input.table.as_str())
            {
                input.table = (*target).to_owned();
            }
            match by_name.get(&input.table) {
                Some(&table) => input.resolved = Some(table),
                None => unknown.push((
                    check.file,
                    input.span.clone(),
                    input.table.clone(),
                    format!("expectation {}", check.name),
                )),
            }
        }
    }
    for (file, span, name, child) in unknown {
        diagnostics.push(
            Diagnostic::new(Code::UnknownTable, file, span, format!("unknown table `{name}` (read by `{child}`)"))
                .with_label("no source or node defines this table")
                .with_help(match did_you_mean(&name, names.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "declare it as a lake table with `{} = Source(SomeSchema)`, or add a node that produces it",
                        name.rsplit('.').next().unwrap_or(&name)
                    ),
                }),
        );
    }

    // Cycles: one diagnostic per strongly connected component.
    let mut cyclic = false;
    for scc in tarjan_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        cyclic = true;
        diagnostics.push(cycle_diagnostic(&graph, &scc, &tables));
    }
    let order = if cyclic {
        None
    } else {
        toposort(&graph, None).ok().map(|o| {
            o.into_iter()
                .map(|n| graph[n])
                .filter(|t| live[t.0])
                .collect()
        })
    };

    let sql_by_file: HashMap<FileId, &SqlNode> =
        sql.iter().map(|(file, _, node)| (*file, *node)).collect();
    let contracts = crate::contracts::run(
        &crate::contracts::Context {
            sources,
            modules,
            tables: &tables,
            live: &live,
            schemas: &schemas,
            sql: &sql_by_file,
            order: order.as_deref(),
        },
        &mut diagnostics,
    );
    warnings(
        &tables,
        &schemas,
        &live,
        &edges,
        &contracts,
        &mut diagnostics,
    );

    let nodes_count = tables
        .iter()
        .zip(&live)
        .filter(|(t, l)| **l && t.kind != TableKind::Source)
        .count();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let summary = Summary {
        errors,
        warnings: diagnostics.len() - errors,
        nodes: nodes_count,
        edges: edges.len(),
    };
    Analysis {
        schemas: schemas.defs,
        tables,
        edges,
        order,
        contracts,
        diagnostics,
        summary,
        expectations,
        parameters: Default::default(),
        bindings,
    }
}

/// Bauplan projects read lake tables they never declare: an undefined input with no
/// close match among the defined tables becomes an implicit source, with a warning (a
/// close match is more likely a typo: that stays an unknown-table error).
fn implicit_lake_tables(
    tables: &mut Vec<Table>,
    live: &mut Vec<bool>,
    by_name: &mut HashMap<String, TableId>,
    names: &[String],
    source_vars: &HashMap<&str, Option<&str>>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut implicit: Vec<Table> = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        if !live[i] {
            continue;
        }
        for input in &table.inputs {
            let defined = by_name.contains_key(&input.table)
                || input.bare_name
                    && matches!(source_vars.get(input.table.as_str()), Some(Some(_)));
            if defined
                || implicit.iter().any(|t| t.name == input.table)
                || did_you_mean(&input.table, names.iter().map(String::as_str)).is_some()
            {
                continue;
            }
            diagnostics.push(
                Diagnostic::new(
                    Code::ImplicitLakeTable,
                    table.file,
                    input.span.clone(),
                    format!("`{}` reads `{}`, which the project does not define: assumed to be a lake table", table.name, input.table),
                )
                .with_label("assumed lake table")
                .with_help(format!(
                    "declare it with `{} = Source(SomeSchema)` to check its columns statically",
                    input.table.rsplit('.').next().unwrap_or(&input.table)
                )),
            );
            implicit.push(Table {
                name: input.table.clone(),
                kind: TableKind::Source,
                file: table.file,
                span: input.span.clone(),
                output: None,
                output_invalid: false,
                inputs: Vec::new(),
                function: None,
                returns_span: None,
                python: None,
                model_columns: None,
                run_params: Vec::new(),
            });
        }
    }
    for table in implicit {
        by_name.insert(table.name.clone(), TableId(tables.len()));
        tables.push(table);
        live.push(true);
    }
}

fn kind_word(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Source => "a source",
        TableKind::Python => "a Python node",
        TableKind::Sql => "a SQL node",
    }
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

fn python_node(
    modules: &Modules,
    schemas: &Schemas,
    aliases: &[HashMap<String, String>],
    input: PyInput,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Table> {
    let PyInput { module, function } = input;
    if function.params.is_empty() || function.has_variadic {
        return None;
    }
    // Run-time parameters (`bauplan.Parameter("name")`) are not inputs.
    let is_run_param = |p: &crate::syntax::python::Param| {
        p.default.as_ref().and_then(Expr::call_name) == Some("Parameter")
    };
    let run_params: Vec<RunParam> = function
        .params
        .iter()
        .filter(|p| is_run_param(p))
        .filter_map(|p| {
            let call = p.default.as_ref()?;
            match first_arg(call).or_else(|| call.kwarg("param_name")) {
                Some(Expr::Str(key, _)) => Some(RunParam {
                    param: p.name.text.clone(),
                    key: key.clone(),
                }),
                _ => None,
            }
        })
        .collect();
    let params: Vec<&crate::syntax::python::Param> = function
        .params
        .iter()
        .filter(|p| !is_run_param(p))
        .collect();
    if params.is_empty() {
        return None;
    }
    let mut refs = Vec::new();
    for param in &params {
        refs.push(table_default(
            modules,
            aliases,
            module,
            param.default.as_ref()?,
        )?);
    }
    let file = modules.modules[module].file;
    // `(schema, invalid)`: invalid annotations are reported here.
    let mut resolve =
        |expr: Option<&Expr>| match expr.map(|e| schemas.resolve_ref(modules, module, e)) {
            None | Some(Ok(None)) => (None, false),
            Some(Ok(Some(s))) => (Some(s), false),
            Some(Err(d)) => {
                diagnostics.push(d);
                (None, true)
            }
        };
    let inputs = params
        .iter()
        .zip(refs)
        .map(|(param, (table, span, bare_name))| {
            let (required, annotation_invalid) = resolve(param.annotation.as_ref());
            Input {
                table,
                span,
                param: Some(param.name.clone()),
                required,
                annotation_span: param.annotation.as_ref().map(Expr::span),
                annotation_invalid,
                bare_name,
                resolved: None,
                projection: param
                    .default_body
                    .as_ref()
                    .and_then(|d| string_list_kwarg(d, "columns"))
                    .filter(|columns| !is_wildcard(columns)),
                filter: param
                    .default_body
                    .as_ref()
                    .and_then(|d| string_kwarg(d, "filter")),
            }
        })
        .collect();
    let (output, output_invalid) = resolve(function.returns.as_ref());
    // `@bauplan.model(name="...")` names the output table.
    let name = function
        .decorators
        .iter()
        .find(|d| d.call_name() == Some("model"))
        .and_then(|d| d.kwarg("name"))
        .and_then(|n| match n {
            Expr::Str(n, _) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_else(|| function.name.text.clone());
    Some(Table {
        name,
        kind: TableKind::Python,
        file,
        span: function.name.span.clone(),
        output,
        output_invalid,
        inputs,
        function: None,
        returns_span: function.returns.as_ref().map(Expr::span),
        python: Some(crate::plan::python_settings(
            &function.name.text,
            &function.decorator_exprs,
        )),
        model_columns: function
            .decorator_exprs
            .iter()
            .filter(|d| decorator_name(d) == Some("model"))
            .find_map(|d| string_list_kwarg(d, "columns"))
            .filter(|columns| !is_wildcard(columns)),
        run_params,
    })
}

/// The name of a decorator call: `model` for `@bauplan.model(...)`.
pub(crate) fn decorator_name(d: &crate::syntax::python::BodyExpr) -> Option<&str> {
    use crate::syntax::python::BodyExpr;
    let BodyExpr::Call { func, .. } = d else {
        return None;
    };
    match func.as_ref() {
        BodyExpr::Name(i) => Some(&i.text),
        BodyExpr::Attr { attr, .. } => Some(&attr.text),
        _ => None,
    }
}

/// Bauplan's `columns=["*"]`: every column.
fn is_wildcard(columns: &[(String, Span)]) -> bool {
    columns.iter().any(|(c, _)| c == "*")
}

/// `key="text"` of a call.
fn string_kwarg(call: &crate::syntax::python::BodyExpr, key: &str) -> Option<String> {
    use crate::syntax::python::BodyExpr;
    let BodyExpr::Call { kwargs, .. } = call else {
        return None;
    };
    match kwargs.iter().find(|(k, _)| k.text == key)? {
        (_, BodyExpr::Str(s, _)) => Some(s.clone()),
        _ => None,
    }
}

/// `columns=["a", "b"]` of a call, with each name's span.
fn string_list_kwarg(
    call: &crate::syntax::python::BodyExpr,
    key: &str,
) -> Option<Vec<(String, Span)>> {
    use crate::syntax::python::BodyExpr;
    let BodyExpr::Call { kwargs, .. } = call else {
        return None;
    };
    let (_, BodyExpr::List(items, _)) = kwargs.iter().find(|(k, _)| k.text == key)? else {
        return None;
    };
    items
        .iter()
        .map(|i| match i {
            BodyExpr::Str(s, span) => Some((s.clone(), span.clone())),
            _ => None,
        })
        .collect()
}

fn sql_node(
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
    let output = header.and_then(|h| h.schema.as_ref()).and_then(|s| {
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
    }
}

fn cycle_diagnostic(
    graph: &DiGraph<TableId, usize>,
    scc: &[NodeIndex],
    tables: &[Table],
) -> Diagnostic {
    // Start at the first table in report order and walk edges inside the component
    // until we are back: a concrete cycle to show.
    let start = *scc
        .iter()
        .min_by_key(|n| (tables[graph[**n].0].file, tables[graph[**n].0].span.start))
        .expect("non-empty component");
    // The shortest cycle through `start`: breadth-first over the component's edges
    // until an edge leads back to `start`.
    let mut via: HashMap<NodeIndex, petgraph::graph::EdgeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut closing = None;
    'search: while let Some(node) = queue.pop_front() {
        let mut out: Vec<_> = graph
            .edges(node)
            .filter(|e| scc.contains(&e.target()))
            .collect();
        out.sort_by_key(|e| {
            (
                tables[graph[e.target()].0].file,
                tables[graph[e.target()].0].span.start,
            )
        });
        for edge in out {
            if edge.target() == start {
                closing = Some(edge.id());
                break 'search;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = via.entry(edge.target()) {
                slot.insert(edge.id());
                queue.push_back(edge.target());
            }
        }
    }
    // Walk back from the closing edge to `start`.
    let mut cycle_edges = Vec::new();
    let mut edge = closing;
    while let Some(e) = edge {
        cycle_edges.push(e);
        let (source, _) = graph.edge_endpoints(e).expect("edge of this graph");
        edge = if source == start {
            None
        } else {
            via.get(&source).copied()
        };
    }
    cycle_edges.reverse();
    let mut path = vec![start];
    let mut labels = Vec::new();
    for e in cycle_edges {
        let (_, target) = graph.edge_endpoints(e).expect("edge of this graph");
        let child = &tables[graph[target].0];
        let input = &child.inputs[graph[e]];
        labels.push((
            child.file,
            input.span.clone(),
            format!("`{}` reads `{}`", child.name, input.table),
        ));
        path.push(target);
    }
    let names: Vec<String> = path
        .iter()
        .map(|n| format!("`{}`", tables[graph[*n].0].name))
        .collect();
    let first = &tables[graph[start].0];
    let mut d = Diagnostic::new(
        Code::Cycle,
        first.file,
        first.span.clone(),
        format!("dependency cycle: {}", names.join(" -> ")),
    )
    .with_label("this table depends on itself")
    .with_help("a pipeline is a DAG: one of these tables must stop reading the next");
    for (file, span, message) in labels {
        d = d.with_secondary(file, span, message);
    }
    d
}

fn warnings(
    tables: &[Table],
    schemas: &Schemas,
    live: &[bool],
    edges: &[(TableId, TableId)],
    contracts: &crate::contracts::Contracts,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (i, table) in tables.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let consumers: Vec<&Table> = edges
            .iter()
            .filter(|(p, _)| p.0 == i)
            .map(|(_, c)| &tables[c.0])
            .collect();
        if table.kind == TableKind::Source && consumers.is_empty() {
            diagnostics.push(
                Diagnostic::new(
                    Code::UnusedSource,
                    table.file,
                    table.span.clone(),
                    format!("source `{}` is declared but no node reads it", table.name),
                )
                .with_label("never read")
                .with_help("remove the declaration, or read the table in a node"),
            );
        }
        // Consumers that declare a contract for this table's output, as `node (Schema)`.
        let mut consumer_contracts: Vec<String> = edges
            .iter()
            .filter(|(p, _)| p.0 == i)
            .flat_map(|(_, c)| {
                let consumer = &tables[c.0];
                consumer
                    .inputs
                    .iter()
                    .filter(|input| input.resolved == Some(TableId(i)))
                    .filter_map(|input| input.required)
                    .map(|schema| format!("`{}` (`{}`)", consumer.name, schemas.get(schema).name))
            })
            .collect();
        consumer_contracts.dedup();
        let first_contract = edges
            .iter()
            .filter(|(p, _)| p.0 == i)
            .flat_map(|(_, c)| tables[c.0].inputs.iter())
            .filter(|input| input.resolved == Some(TableId(i)))
            .find_map(|input| input.required);
        // An undeclared output matters when a consumer declares a contract for it.
        let unknown = contracts.outputs[i].is_none() && !contracts.broken[i];
        if unknown && !table.output_invalid && !consumer_contracts.is_empty() {
            let what = match table.kind {
                TableKind::Source => "source",
                _ => "node",
            };
            let consequence = match consumer_contracts.as_slice() {
                [one] => format!("the input contract of {one} is unchecked"),
                many => format!("the input contracts of {} are unchecked", many.join(", ")),
            };
            let wanted = &schemas
                .get(first_contract.expect("non-empty contracts"))
                .name;
            let help = match table.kind {
                TableKind::Python => {
                    format!("declare the output with a return annotation, e.g. `-> {wanted}`")
                }
                TableKind::Sql => format!(
                    "name the output schema in the header: `-- {}: {wanted} <- ...`",
                    table.name
                ),
                TableKind::Source => format!("pass its schema: `Source({wanted})`"),
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::UnknownOutput,
                    table.file,
                    table.span.clone(),
                    format!(
                        "the output schema of {what} `{}` is undeclared: {consequence}",
                        table.name
                    ),
                )
                .with_label("no declared schema")
                .with_help(help),
            );
        }
        for input in &table.inputs {
            let Some(param) = &input.param else { continue };
            if input.required.is_some() || input.annotation_invalid || input.projection.is_some() {
                continue;
            }
            let suggestion = input
                .resolved
                .and_then(|p| tables[p.0].output)
                .map(|s| {
                    format!(
                        "annotate it: `{}: {} = ...`",
                        param.text,
                        schemas.get(s).name
                    )
                })
                .unwrap_or_else(|| {
                    "annotate it with the schema this node requires of its input".into()
                });
            diagnostics.push(
                Diagnostic::new(
                    Code::UncheckedInput,
                    table.file,
                    param.span.clone(),
                    format!(
                        "input `{}` of `{}` has no schema annotation: the edge `{}` -> `{}` is unchecked",
                        param.text, table.name, input.table, table.name
                    ),
                )
                .with_label("unannotated")
                .with_help(suggestion),
            );
        }
    }
}
