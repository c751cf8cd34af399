//! A Python function's table definition: which of its parameters are table inputs
//! (defaults, or Bauplan's typed `Annotated[..., Model(...)]`) and run parameters, what its
//! return annotation declares, and what its decorators ask for; what sluice does not
//! understand in a Bauplan model is `W0007`, never a silently skipped node.

use super::*;

// Its closure returns `resolve_ref`'s result: a diagnostic on the rare path, not boxed.
#[allow(clippy::result_large_err)]
pub(super) fn python_node(
    modules: &Modules,
    schemas: &Schemas,
    aliases: &[HashMap<String, String>],
    input: PyInput,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Table> {
    use crate::bauplan;
    let PyInput { module, function } = input;
    let file = modules.modules[module].file;
    // A Bauplan model (or expectation) is a node whatever its signature; any other
    // function is one when every parameter is a table.
    let declared = bauplan::is_model(&function.decorator_exprs)
        || function
            .decorator_exprs
            .iter()
            .any(|d| decorator_name(d) == Some("expectation"));
    if !declared && (function.params.is_empty() || function.has_variadic) {
        return None;
    }
    let run_params: Vec<RunParam> = function
        .params
        .iter()
        .filter_map(bauplan::run_param)
        .collect();
    let params: Vec<&crate::syntax::python::Param> = function
        .params
        .iter()
        .filter(|p| !run_params.iter().any(|r| r.param == p.name.text))
        .collect();
    if params.is_empty() && !declared {
        return None;
    }
    // Per parameter: the table it reads (name, span, bare name), and the `Model(...)`
    // call of a typed input.
    type TableRef<'a> = ((String, Span, bool), Option<&'a Expr>);
    let refs: Vec<Option<TableRef>> = params
        .iter()
        .map(|p| {
            if let Some(call) = p
                .annotation
                .as_ref()
                .and_then(|a| bauplan::annotated_call(a, "Model"))
            {
                return match bauplan::arg(call, "name") {
                    Some(Expr::Str(name, span)) => {
                        Some(((name.clone(), span.clone(), false), Some(call)))
                    }
                    _ => None,
                };
            }
            p.default
                .as_ref()
                .and_then(|d| table_default(modules, aliases, module, d))
                .map(|r| (r, None))
        })
        .collect();
    if refs.iter().any(Option::is_none) {
        if declared {
            // Still a node: say which parameter sluice does not read, never skip silently.
            for (param, _) in params.iter().zip(&refs).filter(|(_, r)| r.is_none()) {
                diagnostics.push(bauplan_unsupported(
                    file,
                    param.annotation.as_ref().or(param.default.as_ref()).map_or(param.name.span.clone(), Expr::span),
                    &function.name.text,
                    format!("its parameter `{}` is neither a table input nor a run parameter", param.name.text),
                    "read a table with `name: Annotated[pyarrow.Table, bauplan.Model(\"table\")]` and a run parameter with `name: Annotated[float, bauplan.Parameter(\"key\")]`; sluice passes this parameter nothing",
                ));
            }
        } else {
            // Not a node. Beside table inputs, that is a likely surprise: say why.
            if refs.iter().any(Option::is_some) {
                for (param, _) in params.iter().zip(&refs).filter(|(_, r)| r.is_none()) {
                    let (span, what) = match &param.default {
                        Some(d) => (d.span(), "has a default that is not a table"),
                        None => (param.name.span.clone(), "has no table default"),
                    };
                    diagnostics.push(
                        Diagnostic::new(
                            Code::NotANode,
                            file,
                            span,
                            format!(
                                "`{}` is not a node: its parameter `{}` {what}",
                                function.name.text, param.name.text
                            ),
                        )
                        .with_label("not a table")
                        .with_help(format!(
                            "every parameter of a node is a table (`= orders`, `= Table(\"orders\")`); a value a run sets is a run parameter, `{}=bauplan.Parameter(\"{}\")` with `{}` under `parameters:` in bauplan_project.yml; or compute the value in the body",
                            param.name.text, param.name.text, param.name.text
                        )),
                    );
                }
            }
            return None;
        }
    }
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
    let mut unsupported = Vec::new();
    let inputs = params
        .iter()
        .zip(refs)
        .filter_map(|(param, r)| Some((param, r?)))
        .map(
            |(param, ((table, span, bare_name), model_call))| match model_call {
                // `data: Annotated[pa.Table, Model("t", projection_schema=S, filter="...")]`
                Some(call) => {
                    if let Expr::Call { kwargs, .. } = call {
                        for (key, value) in kwargs {
                            if !matches!(key.text.as_str(), "name" | "projection_schema" | "filter")
                            {
                                unsupported.push((
                                    value.span(),
                                    format!(
                                        "`Model(..., {}=...)` of its parameter `{}`",
                                        key.text, param.name.text
                                    ),
                                ));
                            }
                        }
                    }
                    let schema = call.kwarg("projection_schema");
                    let (required, annotation_invalid) = resolve(schema);
                    let filter = match call.kwarg("filter") {
                        Some(Expr::Str(f, at)) => Some((f.clone(), at.clone())),
                        Some(other) => {
                            unsupported.push((
                                other.span(),
                                format!(
                                    "the filter of its parameter `{}` (not a string literal)",
                                    param.name.text
                                ),
                            ));
                            None
                        }
                        None => None,
                    };
                    Input {
                        table,
                        span,
                        param: Some(param.name.clone()),
                        required,
                        annotation_span: schema.map(Expr::span),
                        annotation_invalid,
                        bare_name,
                        resolved: None,
                        projection: None,
                        filter_span: filter.as_ref().map(|(_, at)| at.clone()),
                        filter: filter.map(|(f, _)| f),
                        projection_schema: schema.is_some(),
                    }
                }
                None => {
                    let annotation = param.annotation.as_ref().filter(|a| !is_plain_type(a));
                    let (required, annotation_invalid) = resolve(annotation);
                    Input {
                        table,
                        span,
                        param: Some(param.name.clone()),
                        required,
                        annotation_span: annotation.map(Expr::span),
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
                            .and_then(|d| string_kwarg(d, "filter"))
                            .map(|(f, _)| f),
                        filter_span: param
                            .default_body
                            .as_ref()
                            .and_then(|d| string_kwarg(d, "filter"))
                            .map(|(_, at)| at),
                        projection_schema: false,
                    }
                }
            },
        )
        .collect();
    // `-> Annotated[pa.Table, S]` declares `S`; `-> S` too; `-> bool`, `-> pa.Table`
    // declare nothing.
    let returns = function
        .returns
        .as_ref()
        .and_then(|r| match bauplan::annotated(r) {
            Some((_, metas)) => metas.iter().find(|m| !matches!(m, Expr::Call { .. })),
            None => (!is_plain_type(r)).then_some(r),
        });
    let (output, output_invalid) = resolve(returns);
    for d in &function.decorator_exprs {
        if let Some(name) = decorator_name(d)
            && is_bauplan_call(d)
            && !matches!(
                name,
                "model" | "python" | "expectation" | "resources" | "extras"
            )
        {
            unsupported.push((
                d.span(),
                format!(
                    "its decorator `@bauplan.{name}` (the node runs as a plain Python function)"
                ),
            ));
        }
    }
    for (span, what) in unsupported {
        diagnostics.push(bauplan_unsupported(
            file,
            span,
            &function.name.text,
            format!("sluice does not understand {what}"),
            "sluice checks and runs the rest of the node; see docs/bauplan.md for what is supported",
        ));
    }
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
    let materialization = bauplan::model_materialization(
        file,
        &name,
        &function.decorator_exprs,
        &modules.modules[module].ast.assigns,
        diagnostics,
    );
    Some(Table {
        name,
        kind: TableKind::Python,
        file,
        span: function.name.span.clone(),
        output,
        output_invalid,
        inputs,
        function: None,
        returns_span: returns.map(Expr::span),
        python: Some({
            crate::python_settings::check_decorators(file, &function.decorator_exprs, diagnostics);
            python_settings(&function.name.text, &function.decorator_exprs)
        }),
        model_columns: function
            .decorator_exprs
            .iter()
            .filter(|d| decorator_name(d) == Some("model"))
            .find_map(|d| string_list_kwarg(d, "columns"))
            .filter(|columns| !is_wildcard(columns)),
        placeholders: crate::bauplan::filter_placeholders(&inputs_filters(&function.params)),
        run_params,
        materialization,
        implicit: false,
    })
}

/// The `filter="..."` strings of a function's table inputs (typed or not), with their
/// spans.
pub(super) fn inputs_filters(params: &[crate::syntax::python::Param]) -> Vec<(String, Span)> {
    params
        .iter()
        .filter_map(|p| {
            let call = p
                .annotation
                .as_ref()
                .and_then(|a| crate::bauplan::annotated_call(a, "Model"))
                .or(p
                    .default
                    .as_ref()
                    .filter(|d| d.call_name() == Some("Model")))?;
            match call.kwarg("filter") {
                Some(Expr::Str(f, span)) => Some((f.clone(), span.clone())),
                _ => None,
            }
        })
        .collect()
}

/// `W0007`: a part of a Bauplan function sluice does not understand.
pub(super) fn bauplan_unsupported(
    file: FileId,
    span: Span,
    function: &str,
    what: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::new(
        Code::BauplanUnsupported,
        file,
        span,
        format!("`{function}`: {what}"),
    )
    .with_label("not understood")
    .with_help(help.to_owned())
}

/// An annotation that names a plain Python or library type, not a schema:
/// `bool`, `pa.Table`, `pyarrow.Table`, `pl.DataFrame`, `None`.
pub(super) fn is_plain_type(expr: &Expr) -> bool {
    match expr {
        Expr::None(_) => true,
        Expr::Name { path, .. } => match path.as_slice() {
            [one] => matches!(
                one.as_str(),
                "bool"
                    | "int"
                    | "float"
                    | "str"
                    | "bytes"
                    | "dict"
                    | "list"
                    | "tuple"
                    | "object"
                    | "Any"
            ),
            [.., last] => {
                matches!(
                    last.as_str(),
                    "Table" | "DataFrame" | "LazyFrame" | "RecordBatch"
                ) && !path.iter().any(|p| p == "sluice")
            }
            [] => false,
        },
        _ => false,
    }
}

/// `@bauplan.something(...)` (not a bare `@something(...)`).
pub(super) fn is_bauplan_call(d: &BodyExpr) -> bool {
    let BodyExpr::Call { func, .. } = d else {
        return false;
    };
    matches!(func.as_ref(), BodyExpr::Attr { object, .. } if matches!(object.as_ref(), BodyExpr::Name(m) if m.text == "bauplan"))
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
pub(super) fn is_wildcard(columns: &[(String, Span)]) -> bool {
    columns.iter().any(|(c, _)| c == "*")
}

/// `key="text"` of a call.
pub(super) fn string_kwarg(
    call: &crate::syntax::python::BodyExpr,
    key: &str,
) -> Option<(String, Span)> {
    use crate::syntax::python::BodyExpr;
    let BodyExpr::Call { kwargs, .. } = call else {
        return None;
    };
    match kwargs.iter().find(|(k, _)| k.text == key)? {
        (_, BodyExpr::Str(s, at)) => Some((s.clone(), at.clone())),
        _ => None,
    }
}

/// `columns=["a", "b"]` of a call, with each name's span.
pub(super) fn string_list_kwarg(
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
