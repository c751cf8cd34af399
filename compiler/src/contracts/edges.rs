//! The edge checks of a contract step: what a node requires of each input (an
//! annotation, a Bauplan projection or projection schema, a `filter=`) against what the
//! parent provides, each fact proven, violated or deferred.

use super::*;

/// Edge contracts: what each child requires of an input against what the parent provides.
/// Checks the edges into `child`; true when one of them is violated.
pub(super) fn check_edges(
    ctx: &Context,
    child_id: TableId,
    outputs: &dyn Outputs,
    obligations: &mut Vec<Obligation>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let before = diagnostics.len();
    let child = &ctx.tables[child_id.0];
    {
        for input in &child.inputs {
            if let (Some(projection), Some(parent_id)) = (&input.projection, input.resolved) {
                check_projection(
                    child,
                    input,
                    projection,
                    &ctx.tables[parent_id.0],
                    outputs.output(parent_id),
                    obligations,
                    diagnostics,
                );
            }
            let (Some(required), Some(parent_id)) = (input.required, input.resolved) else {
                continue;
            };
            let parent = &ctx.tables[parent_id.0];
            let req = ctx.schemas.get(required);
            let Some(prov) = outputs.output(parent_id).cloned() else {
                for column in req.columns.iter() {
                    let c = OutColumn {
                        name: column.name.clone(),
                        ty: column.ty.clone(),
                        file: column.file,
                        span: column.span.clone(),
                        conservative_null: false,
                    };
                    defer_column(
                        obligations,
                        &child.name,
                        &c,
                        "input from an undeclared output: validated at run time",
                    );
                }
                continue;
            };
            let at = input.annotation_span.clone().unwrap_or(input.span.clone());
            let param = input
                .param
                .as_ref()
                .map_or("input".to_owned(), |p| format!("`{}`", p.text));
            let edge = format!("input `{}` of `{}`", parent.name, child.name);
            for column in req.columns.iter() {
                let Some(req_ty) = &column.ty else { continue };
                let Some(found) = prov.column(&column.name) else {
                    push(
                        obligations,
                        &child.name,
                        &column.name,
                        Fact::Exists,
                        Status::Violated,
                        format!("missing from {edge}"),
                    );
                    let help = match did_you_mean(
                        &column.name,
                        prov.columns.iter().map(|c| c.name.as_str()),
                    ) {
                        Some(s) => format!(
                            "`{}` has a column `{s}`: did you mean it? Rename it in `{}` or in {}",
                            parent.name, req.name, prov.described_as
                        ),
                        None => format!(
                            "`{}` has columns {}",
                            parent.name,
                            out_column_list(&prov.columns)
                        ),
                    };
                    diagnostics.push(
                        Diagnostic::new(
                            Code::MissingColumn,
                            child.file,
                            at.clone(),
                            format!(
                                "column `{}` required by `{}` is missing from `{}`",
                                column.name, child.name, parent.name
                            ),
                        )
                        .with_label(format!("{param} requires `{}.{}`", req.name, column.name))
                        .with_secondary(
                            child.file,
                            input.span.clone(),
                            format!("`{}` produces {}", parent.name, prov.described_as),
                        )
                        .with_secondary(
                            column.file,
                            column.span.clone(),
                            format!("`{}` required here", column.name),
                        )
                        .with_help(help),
                    );
                    continue;
                };
                push(
                    obligations,
                    &child.name,
                    &column.name,
                    Fact::Exists,
                    Status::Proven,
                    format!("provided by {edge}"),
                );
                let Some(found_ty) = &found.ty else { continue };
                if found_ty.data_type != DataType::Null
                    && !widens_losslessly(&found_ty.data_type, &req_ty.data_type)
                    && !same_strings(&found_ty.data_type, &req_ty.data_type)
                {
                    push(
                        obligations,
                        &child.name,
                        &column.name,
                        Fact::Type,
                        Status::Violated,
                        format!("{edge} provides {}", display_type(&found_ty.data_type)),
                    );
                    diagnostics.push(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            child.file,
                            at.clone(),
                            format!(
                                "column `{}` of `{}` is {}, but `{}` requires {}",
                                column.name,
                                parent.name,
                                display_type(&found_ty.data_type),
                                child.name,
                                display_type(&req_ty.data_type)
                            ),
                        )
                        .with_label(format!("{param} requires `{}: {}`", column.name, display_type(&req_ty.data_type)))
                        .with_secondary(found.file, found.span.clone(), format!("`{}` is {} here", column.name, display_type(&found_ty.data_type)))
                        .with_secondary(column.file, column.span.clone(), format!("`{}.{}` is required as {} here", req.name, column.name, display_type(&req_ty.data_type)))
                        .with_help(format!(
                            "{} to {} is not a lossless widening: cast it explicitly in `{}`, or change `{}.{}` to {}",
                            display_type(&found_ty.data_type),
                            display_type(&req_ty.data_type),
                            parent.name,
                            req.name,
                            column.name,
                            display_type(&found_ty.data_type)
                        )),
                    );
                    continue;
                }
                push(
                    obligations,
                    &child.name,
                    &column.name,
                    Fact::Type,
                    Status::Proven,
                    format!("{edge} provides {}", display_type(&found_ty.data_type)),
                );
                if req_ty.nullable {
                    continue;
                }
                if found_ty.nullable && found.conservative_null {
                    push(
                        obligations,
                        &child.name,
                        &column.name,
                        Fact::NonNull,
                        Status::Deferred,
                        format!(
                            "{edge} is nullable by the engine's typing: null count checked at run time"
                        ),
                    );
                } else if found_ty.nullable {
                    push(
                        obligations,
                        &child.name,
                        &column.name,
                        Fact::NonNull,
                        Status::Violated,
                        format!("{edge} may hold nulls"),
                    );
                    diagnostics.push(
                        Diagnostic::new(
                            Code::NullabilityMismatch,
                            child.file,
                            at.clone(),
                            format!("column `{}` of `{}` is nullable, but `{}` requires it non-null", column.name, parent.name, child.name),
                        )
                        .with_label(format!("{param} requires `{}` non-null", column.name))
                        .with_secondary(found.file, found.span.clone(), format!("`{}` is nullable here", column.name))
                        .with_fix_opt(nullable_fix(req, &column.name))
                        .with_help(format!(
                            "declare it nullable in `{}` ({}), or remove the nulls in `{}` and declare it non-null there",
                            req.name,
                            nullable_spelling(column, &req_ty.data_type, ctx.schemas),
                            parent.name
                        )),
                    );
                } else {
                    push(
                        obligations,
                        &child.name,
                        &column.name,
                        Fact::NonNull,
                        Status::Proven,
                        format!("{edge} is non-null"),
                    );
                }
            }
        }
    }
    diagnostics.len() > before
}

/// Bauplan's `Model("t", filter="...")`: the filter is planned (by the planner runs use)
/// as `SELECT * FROM t WHERE <filter>` against `t`'s effective output, with its `$key`
/// run parameters bound to values of their declared types. A filter that does not plan
/// (a column `t` lacks, a comparison of incompatible types) is an error at the filter's
/// string; one over an input of unknown columns is left to the run. Returns whether one
/// was reported.
pub(super) fn check_filters(
    ctx: &Context,
    planner: &SqlPlanner,
    outputs: &dyn Outputs,
    table: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let mut reported = false;
    for input in &table.inputs {
        let (Some(filter), Some(at), Some(parent)) =
            (&input.filter, &input.filter_span, input.resolved)
        else {
            continue;
        };
        let Some(schema) = outputs.output(parent).and_then(Output::arrow) else {
            continue;
        };
        let sql = format!("SELECT * FROM \"__input\" WHERE {filter}");
        let statement = match sqlparser::parser::Parser::parse_sql(
            &sqlparser::dialect::GenericDialect {},
            &sql,
        ) {
            Ok(mut statements) if statements.len() == 1 => statements.remove(0),
            // Not one expression (a `;`, a syntax error): the run reports it.
            _ => continue,
        };
        let keys = crate::bauplan::filter_placeholders(&[(filter.clone(), at.clone())]);
        let params =
            crate::bauplan::planning_values(keys.iter().map(|k| k.text.as_str()), ctx.parameters);
        let inputs = HashMap::from([("__input".to_owned(), schema)]);
        let Err(PlanFailure::Error(err)) = planner.plan_with_params(&statement, &inputs, &params)
        else {
            continue;
        };
        let param = input.param.as_ref().map_or("", |p| p.text.as_str());
        let message = err
            .message
            .replace("__input.", "")
            .replace("\"__input\".", "");
        let columns = outputs
            .output(parent)
            .map_or(Vec::new(), |o| o.columns.clone());
        // DataFusion's "column 'x' not found": an unknown column, with a did-you-mean.
        let unknown = message
            .strip_prefix("column '")
            .and_then(|rest| rest.split_once("' not found"))
            .map(|(name, _)| name.to_owned());
        let code = match unknown {
            Some(_) => Code::SqlUnknownColumn,
            None => Code::SqlPlan,
        };
        let suggestion = unknown
            .as_deref()
            .and_then(|u| did_you_mean(u, columns.iter().map(|c| c.name.as_str())));
        diagnostics.push(
            Diagnostic::new(
                code,
                table.file,
                at.clone(),
                format!(
                    "the filter of input `{param}` of `{}` does not apply to `{}`: {message}",
                    table.name, input.table
                ),
            )
            .with_label("this filter")
            .with_help(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "a filter is a SQL condition over the columns of `{}`: {}",
                    input.table,
                    out_column_list(&columns)
                ),
            }),
        );
        reported = true;
    }
    reported
}

/// Bauplan's `Model("parent", columns=[...])`: every projected column must exist.
pub(super) fn check_projection(
    child: &Table,
    input: &crate::analysis::Input,
    projection: &[(String, Span)],
    parent: &Table,
    provided: Option<&Output>,
    obligations: &mut Vec<Obligation>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(provided) = provided else {
        for (column, _) in projection {
            push(
                obligations,
                &child.name,
                column,
                Fact::Exists,
                Status::Deferred,
                format!("projected from `{}`, whose schema is unknown", parent.name),
            );
        }
        return;
    };
    let mut missing = Vec::new();
    for (column, span) in projection {
        if provided.column(column).is_some() {
            missing.push((column, span, None, None));
        } else {
            let suggestion = did_you_mean(column, provided.columns.iter().map(|c| c.name.as_str()));
            let fix = suggestion.map(|s| Fix::did_you_mean(child.file, span, column, s));
            let help = suggestion
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    format!(
                        "`{}` has columns {}",
                        parent.name,
                        out_column_list(&provided.columns)
                    )
                });
            missing.push((column, span, Some(help), fix));
        }
    }
    for (column, span, help, fix) in missing {
        match help {
            None => push(
                obligations,
                &child.name,
                column,
                Fact::Exists,
                Status::Proven,
                format!("projected from `{}`", parent.name),
            ),
            Some(help) => {
                push(
                    obligations,
                    &child.name,
                    column,
                    Fact::Exists,
                    Status::Violated,
                    format!("projected from `{}`, which lacks it", parent.name),
                );
                diagnostics.push(
                    Diagnostic::new(
                        Code::MissingColumn,
                        child.file,
                        span.clone(),
                        format!(
                            "`{}` projects column `{column}` of `{}`, which `{}` does not produce",
                            child.name, input.table, parent.name
                        ),
                    )
                    .with_label("not a column of the input")
                    .with_secondary(
                        child.file,
                        input.span.clone(),
                        format!("`{}` produces {}", parent.name, provided.described_as),
                    )
                    .with_help(help)
                    .with_fix_opt(fix),
                );
            }
        }
    }
}
