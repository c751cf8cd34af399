//! Bauplan's SDK forms in a function's signature and decorators, and in a SQL node's
//! `-- bauplan:` directives: which parameter is a table input, which a run parameter,
//! what the return annotation declares, and how a model's output is materialized.
//!
//! Both of Bauplan's spellings are read: the typed SDK (`data: Annotated[pa.Table,
//! Model("t", projection_schema=S)]`, `rate: Annotated[float, Parameter("rate")]`,
//! `-> Annotated[pa.Table, S]`) and the older defaults (`data=bauplan.Model("t",
//! columns=[...])`, `rate=bauplan.Parameter("rate")`). The table definitions that use
//! these are made in [`crate::analysis`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::{RunParam, Table};
use crate::bauplan_project::ProjectParameter;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::python::{BodyExpr, Expr, Ident};

/// `Annotated[T, meta, ...]`: `T` and the metadata.
pub(crate) fn annotated(expr: &Expr) -> Option<(&Expr, &[Expr])> {
    match expr {
        Expr::Subscript { value, index, .. }
            if value.last_name() == Some("Annotated") && !index.is_empty() =>
        {
            Some((&index[0], &index[1..]))
        }
        _ => None,
    }
}

/// The metadata call named `name` of an `Annotated[...]` annotation:
/// `Model("t", ...)` of `Annotated[pa.Table, Model("t", ...)]`.
pub(crate) fn annotated_call<'a>(annotation: &'a Expr, name: &str) -> Option<&'a Expr> {
    let (_, metas) = annotated(annotation)?;
    metas.iter().find(|m| m.call_name() == Some(name))
}

/// The first positional argument of a call, or its keyword argument `key`.
pub(crate) fn arg<'a>(call: &'a Expr, key: &str) -> Option<&'a Expr> {
    match call {
        Expr::Call { args, .. } => args.first().or_else(|| call.kwarg(key)),
        _ => None,
    }
}

/// Whether a decorator list makes a function a Bauplan model (`@bauplan.model(...)`,
/// `@model(...)` imported from `bauplan`), whatever else decorates it.
pub(crate) fn is_model(decorators: &[BodyExpr]) -> bool {
    decorators
        .iter()
        .any(|d| crate::analysis::decorator_name(d) == Some("model"))
}

/// A run parameter read through `Annotated[T, Parameter("key")]` or
/// `=bauplan.Parameter("key")`. `None` when the parameter is neither.
pub(crate) fn run_param(param: &crate::syntax::python::Param) -> Option<RunParam> {
    // `p=Parameter.key` (Bauplan's attribute form): the run parameter `key`.
    if let Some(Expr::Name { path, span }) = param.default.as_ref()
        && let [.., class, key] = path.as_slice()
        && class == "Parameter"
    {
        return Some(RunParam {
            param: param.name.text.clone(),
            key: key.clone(),
            key_span: span.end.saturating_sub(key.len())..span.end,
            ty: None,
        });
    }
    let (call, ty) = match param.annotation.as_ref().and_then(|a| {
        let (ty, _) = annotated(a)?;
        Some((annotated_call(a, "Parameter")?, ty))
    }) {
        Some((call, ty)) => (call, Some(ty)),
        None => {
            let default = param.default.as_ref()?;
            if default.call_name() != Some("Parameter") {
                return None;
            }
            (default, None)
        }
    };
    let Some(Expr::Str(key, key_span)) = arg(call, "param_name").or_else(|| call.kwarg("name"))
    else {
        // `Parameter()` without a literal key: a run parameter sluice cannot name.
        return Some(RunParam {
            param: param.name.text.clone(),
            key: String::new(),
            key_span: call.span(),
            ty: None,
        });
    };
    Some(RunParam {
        param: param.name.text.clone(),
        key: key.clone(),
        key_span: key_span.clone(),
        ty: ty.and_then(|t| {
            let name = t.last_name()?;
            Some(Ident {
                text: name.to_owned(),
                span: t.span(),
            })
        }),
    })
}

/// The first occurrence of each key.
pub(crate) fn first_of_each(idents: impl Iterator<Item = Ident>) -> Vec<Ident> {
    let mut seen = std::collections::HashSet::new();
    idents.filter(|i| seen.insert(i.text.clone())).collect()
}

/// The `$key` run parameters of `filter=` strings (not `$1`: positions name nothing),
/// each at its string's span. A filter that does not tokenize names none here.
pub(crate) fn filter_placeholders(filters: &[(String, Span)]) -> Vec<Ident> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::tokenizer::Tokenizer;
    first_of_each(filters.iter().flat_map(|(filter, span)| {
        Tokenizer::new(&GenericDialect {}, filter)
            .tokenize()
            .unwrap_or_default()
            .into_iter()
            .filter_map(move |t| {
                Some(Ident {
                    text: crate::syntax::sql::run_parameter(&t)?.to_owned(),
                    span: span.clone(),
                })
            })
    }))
}

/// The Arrow type a run parameter of a project-file type is planned with.
pub fn parameter_data_type(project_type: &str) -> Option<arrow_schema::DataType> {
    use arrow_schema::DataType;
    Some(match project_type {
        "int" => DataType::Int64,
        "float" => DataType::Float64,
        "bool" => DataType::Boolean,
        "str" | "secret" | "vault" => DataType::Utf8,
        _ => return None,
    })
}

/// The values the checker plans `$key` placeholders with: for each key, a non-null
/// value of its declared type (what a run binds has that type), or `NULL` for a key the
/// project file does not declare (reported as `E0804`).
pub(crate) fn planning_values<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    declared: &BTreeMap<String, ProjectParameter>,
) -> std::collections::HashMap<String, datafusion::common::ScalarValue> {
    use datafusion::common::ScalarValue;
    keys.into_iter()
        .map(|key| {
            let value = declared
                .get(key)
                .and_then(|d| parameter_data_type(&d.ty))
                .and_then(|t| ScalarValue::new_default(&t).ok())
                .unwrap_or(ScalarValue::Null);
            (key.to_owned(), value)
        })
        .collect()
}

/// The Python type a run parameter of a project-file type arrives as.
fn python_type(project_type: &str) -> Option<&'static str> {
    Some(match project_type {
        "int" => "int",
        "float" => "float",
        "bool" => "bool",
        "str" | "secret" | "vault" => "str",
        _ => return None,
    })
}

/// Checks the run parameters functions read against the ones `bauplan_project.yml`
/// declares: a key it does not declare is an error (Bauplan refuses the run), an
/// annotation of another type than the declared one is an error, and a declared
/// parameter without a default is a warning at each reader (every run must pass it).
/// `declared` is `None` for a project without a project file: nothing is declared.
pub(crate) fn check_run_params(
    functions: &[&Table],
    declared: Option<&BTreeMap<String, ProjectParameter>>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let empty = BTreeMap::new();
    let declared_map = declared.unwrap_or(&empty);
    for table in functions {
        let function = table
            .python
            .as_ref()
            .map_or(table.name.as_str(), |p| p.function.as_str());
        // `$key` in its SQL or filters: a run parameter too, untyped.
        let placeholders = table.placeholders.iter().map(|p| RunParam {
            param: format!("${}", p.text),
            key: p.text.clone(),
            key_span: p.span.clone(),
            ty: None,
        });
        let params: Vec<RunParam> = table
            .run_params
            .iter()
            .cloned()
            .chain(placeholders)
            .collect();
        for rp in &params {
            if rp.key.is_empty() {
                diagnostics.push(
                    Diagnostic::new(
                        Code::RunParameter,
                        table.file,
                        rp.key_span.clone(),
                        format!(
                            "parameter `{}` of `{function}` reads a run parameter without naming it",
                            rp.param
                        ),
                    )
                    .with_label("no parameter name")
                    .with_help(format!("name it with a string literal: `Parameter(\"{}\")`", rp.param)),
                );
                continue;
            }
            let Some(decl) = declared_map.get(&rp.key) else {
                let suggestion =
                    crate::suggest::did_you_mean(&rp.key, declared_map.keys().map(String::as_str));
                let where_ = if declared.is_some() {
                    "bauplan_project.yml does not declare it"
                } else {
                    "the project has no bauplan_project.yml to declare it"
                };
                diagnostics.push(
                    Diagnostic::new(
                        Code::RunParameter,
                        table.file,
                        rp.key_span.clone(),
                        format!(
                            "`{function}` reads run parameter `{}`, but {where_}",
                            rp.key
                        ),
                    )
                    .with_label("undeclared run parameter")
                    .with_fix_opt(suggestion.and_then(|s| {
                        // The key as written: `"key"`, `$key` or `Parameter.key` (a
                        // filter's key has its whole string's span: no fix).
                        let (written, replacement) = match rp.key_span.len().checked_sub(rp.key.len()) {
                            Some(2) => (format!("\"{}\"", rp.key), format!("\"{s}\"")),
                            Some(1) => (format!("${}", rp.key), format!("${s}")),
                            Some(0) => (rp.key.clone(), s.to_owned()),
                            _ => return None,
                        };
                        Some(crate::diagnostic::Fix::did_you_mean(
                            table.file,
                            &rp.key_span,
                            &written,
                            &replacement,
                        ))
                    }))
                    .with_help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "declare it in bauplan_project.yml:\n  parameters:\n    {}:\n      type: {}\n      default: ...",
                            rp.key,
                            rp.ty.as_ref().map_or("str", |t| t.text.as_str())
                        ),
                    }),
                );
                continue;
            };
            if let (Some(ty), Some(expected)) = (&rp.ty, python_type(&decl.ty))
                && ty.text != expected
                && !(ty.text == "float" && expected == "int")
            {
                diagnostics.push(
                    Diagnostic::new(
                        Code::RunParameterType,
                        table.file,
                        ty.span.clone(),
                        format!(
                            "parameter `{}` of `{function}` is annotated `{}`, but run parameter `{}` is declared `type: {}` in bauplan_project.yml",
                            rp.param, ty.text, rp.key, decl.ty
                        ),
                    )
                    .with_label(format!("a `{}` arrives here", expected))
                    .with_fix(crate::diagnostic::Fix::did_you_mean(
                        table.file,
                        &ty.span,
                        &ty.text,
                        expected,
                    ))
                    .with_help(format!(
                        "annotate it `{expected}`, or change the parameter's `type:` in bauplan_project.yml"
                    )),
                );
            }
            if decl.default.is_none() && !matches!(decl.ty.as_str(), "secret" | "vault") {
                diagnostics.push(
                    Diagnostic::new(
                        Code::RunParameterNoDefault,
                        table.file,
                        rp.key_span.clone(),
                        format!(
                            "run parameter `{}` (read by `{function}`) has no default in bauplan_project.yml: every run must pass `--param {}=...`",
                            rp.key, rp.key
                        ),
                    )
                    .with_label("no default")
                    .with_help(format!(
                        "give `{}` a `default:` in bauplan_project.yml",
                        rp.key
                    )),
                );
            }
        }
    }
}

/// How a model's output reaches the lake: Bauplan's `materialization_strategy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Materialization {
    /// The run's output replaces the table (the default).
    #[default]
    Replace,
    /// The run's rows are added to the table's rows (the schemas must match).
    Append,
    /// Computed and validated, read by the run's other nodes, never published.
    None,
    /// The rows matching `overwrite_filter` are replaced by the run's rows.
    OverwritePartitions {
        partitioned_by: Vec<String>,
        overwrite_filter: Option<String>,
    },
}

impl Materialization {
    pub fn is_replace(&self) -> bool {
        *self == Materialization::Replace
    }
}

const STRATEGIES: &[&str] = &["REPLACE", "APPEND", "NONE", "OVERWRITE_PARTITIONS"];

/// The materialization a strategy name asks for; a diagnostic at `span` for a name
/// Bauplan does not have.
fn strategy(
    file: FileId,
    table: &str,
    value: &str,
    span: Span,
    partitioned_by: Vec<String>,
    overwrite_filter: Option<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Materialization {
    match value.to_ascii_uppercase().as_str() {
        "REPLACE" => Materialization::Replace,
        "APPEND" => Materialization::Append,
        "NONE" => Materialization::None,
        "OVERWRITE_PARTITIONS" => Materialization::OverwritePartitions {
            partitioned_by,
            overwrite_filter,
        },
        _ => {
            let suggestion = crate::suggest::did_you_mean(
                &value.to_ascii_uppercase(),
                STRATEGIES.iter().copied(),
            );
            diagnostics.push(
                Diagnostic::new(
                    Code::Materialization,
                    file,
                    span,
                    format!("unknown materialization strategy `{value}` for `{table}`"),
                )
                .with_label("not a strategy")
                .with_help(match suggestion {
                    Some(s) => format!("did you mean `{s}`? The strategies are REPLACE, APPEND, NONE and OVERWRITE_PARTITIONS"),
                    None => "the strategies are REPLACE (the default), APPEND, NONE and OVERWRITE_PARTITIONS".to_owned(),
                }),
            );
            Materialization::Replace
        }
    }
}

/// `@bauplan.model(materialization_strategy="APPEND", partitioned_by=...,
/// overwrite_filter=...)`.
pub(crate) fn model_materialization(
    file: FileId,
    table: &str,
    decorators: &[BodyExpr],
    constants: &[crate::syntax::python::Assign],
    diagnostics: &mut Vec<Diagnostic>,
) -> Materialization {
    let Some(BodyExpr::Call { kwargs, .. }) = decorators
        .iter()
        .find(|d| crate::analysis::decorator_name(d) == Some("model"))
    else {
        return Materialization::Replace;
    };
    let kwarg = |key: &str| kwargs.iter().find(|(k, _)| k.text == key).map(|(_, v)| v);
    let partitioned_by = match kwarg("partitioned_by") {
        Some(BodyExpr::Str(s, _)) => vec![s.clone()],
        Some(BodyExpr::List(items, _)) => items
            .iter()
            .filter_map(|i| match i {
                BodyExpr::Str(s, _) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let overwrite_filter = match kwarg("overwrite_filter") {
        Some(BodyExpr::Str(s, _)) => Some(s.clone()),
        _ => None,
    };
    let (value, span) = match kwarg("materialization_strategy") {
        None => return Materialization::Replace,
        Some(BodyExpr::Str(value, span)) => (value.clone(), span.clone()),
        // A module-level constant: `STRATEGY = "APPEND"`.
        Some(BodyExpr::Name(name)) => match constants
            .iter()
            .rev()
            .find(|a| a.target.text == name.text)
            .map(|a| &a.value)
        {
            Some(Expr::Str(value, _)) => (value.clone(), name.span.clone()),
            _ => return unreadable_strategy(file, table, name.span.clone(), diagnostics),
        },
        Some(other) => return unreadable_strategy(file, table, other.span(), diagnostics),
    };
    strategy(
        file,
        table,
        &value,
        span,
        partitioned_by,
        overwrite_filter,
        diagnostics,
    )
}

/// A strategy sluice cannot read is an error, not a silent REPLACE: replacing a table
/// that was meant to be appended to loses its rows.
fn unreadable_strategy(
    file: FileId,
    table: &str,
    span: Span,
    diagnostics: &mut Vec<Diagnostic>,
) -> Materialization {
    diagnostics.push(
        Diagnostic::new(
            Code::Materialization,
            file,
            span,
            format!("sluice cannot read the materialization strategy of `{table}`"),
        )
        .with_label("not a string literal or a module-level string constant")
        .with_help("write the strategy as a string: `materialization_strategy=\"APPEND\"`"),
    );
    Materialization::Replace
}

/// `-- bauplan: materialization_strategy = NONE` (and `partitioned_by`,
/// `overwrite_filter`) of a SQL node.
pub(crate) fn sql_materialization(
    file: FileId,
    table: &str,
    directives: &[(String, Ident)],
    diagnostics: &mut Vec<Diagnostic>,
) -> Materialization {
    let get = |key: &str| directives.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    let Some(value) = get("materialization_strategy") else {
        return Materialization::Replace;
    };
    let partitioned_by = get("partitioned_by")
        .map(|v| {
            v.text
                .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
                .split(',')
                .map(unquote)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let overwrite_filter = get("overwrite_filter").map(|v| unquote(&v.text));
    strategy(
        file,
        table,
        &unquote(&value.text),
        value.span.clone(),
        partitioned_by,
        overwrite_filter,
        diagnostics,
    )
}
