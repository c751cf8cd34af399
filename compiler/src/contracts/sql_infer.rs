//! A SQL node's body: its query planned by DataFusion against its inputs' effective
//! outputs, and planning errors turned into located diagnostics.

use super::*;

/// Plans a SQL node against its inputs' effective schemas. `None` when it cannot be
/// inferred (an input unknown) or does not plan (reported).
pub(super) fn infer_sql(
    ctx: &Context,
    planner: &SqlPlanner,
    outputs: &dyn Outputs,
    id: TableId,
    node: &SqlNode,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Output, Vec<ColumnTrace>)> {
    let table = &ctx.tables[id.0];
    let query = node.query.as_ref()?;
    let mut inputs = HashMap::new();
    for input in &table.inputs {
        let parent = input.resolved?;
        let schema = outputs.output(parent)?.arrow()?;
        inputs.insert(input.table.clone(), schema);
    }
    let file = ctx.sources.file(table.file);
    let statement = sqlparser::ast::Statement::Query(query.clone());
    let params = crate::bauplan::planning_values(
        node.placeholders.iter().map(|p| p.text.as_str()),
        ctx.parameters,
    );
    let plan = match planner.plan_with_params(&statement, &inputs, &params) {
        Ok(plan) => plan,
        Err(PlanFailure::Error(err)) => {
            diagnostics.push(plan_diagnostic(ctx, planner, table, file, &err, &inputs));
            return None;
        }
        // Not planned: the declared contract is deferred to run time, with a warning.
        Err(PlanFailure::TooWide(cost)) => {
            let at = node.first_token.clone();
            diagnostics.push(too_wide(table.file, at, &table.name, cost));
            return None;
        }
    };
    let schema = output_schema(&plan);
    let traces = trace_columns(&plan);
    let columns = schema
        .fields()
        .iter()
        .zip(&traces)
        .enumerate()
        .map(|(i, (f, trace))| {
            // A filter that removes the column's nulls makes it non-null, whatever the
            // engine's schema says; a nullable input passed through stays nullable; any
            // other nullability is the engine being conservative.
            let nullable = f.is_nullable() && !trace.nulls_removed;
            let conservative_null = nullable && nullable_copy(outputs, table, trace).is_none();
            OutColumn {
                name: f.name().clone(),
                ty: Some(ColumnType::new(f.data_type().clone(), nullable)),
                file: table.file,
                span: item_span(node, schema.fields().len(), i, f.name()),
                conservative_null,
            }
        })
        .collect();
    Some((
        Output::new(
            columns,
            None,
            "the schema inferred from its query".to_owned(),
        ),
        traces,
    ))
}

/// The SELECT item that produces output column `index` named `name`.
pub(super) fn item_span(node: &SqlNode, width: usize, index: usize, name: &str) -> Span {
    let items = &node.select_items;
    if items.len() == width
        && !items.iter().any(|i| i.wildcard)
        && let Some(item) = items.get(index)
    {
        return item.span.clone();
    }
    items
        .iter()
        .find(|i| i.name.as_deref() == Some(name))
        .or_else(|| items.iter().find(|i| i.wildcard))
        .map_or_else(|| node.first_token.clone(), |i| i.span.clone())
}

pub(super) fn plan_diagnostic(
    ctx: &Context,
    planner: &SqlPlanner,
    table: &Table,
    file: &crate::source::SourceFile,
    err: &crate::sql_plan::PlanError,
    inputs: &HashMap<String, SchemaRef>,
) -> Diagnostic {
    let text = &file.text;
    let index = &file.line_index;
    let to_span = |((l1, c1), (l2, c2)): ((u32, u32), (u32, u32))| {
        let start = index.offset(text, l1, c1);
        start..index.offset(text, l2, c2).max(start)
    };
    // DataFusion messages carry suggestions and field lists after the first sentence.
    let raw = err.message.trim();
    let first_sentence = raw.split(". ").next().unwrap_or(raw).trim_end_matches('.');
    let lower = first_sentence.to_lowercase();
    let code = if lower.contains("function")
        && (lower.contains("not found") || lower.contains("invalid"))
    {
        Code::SqlUnknownFunction
    } else if lower.contains("no field named")
        || lower.contains("column") && lower.contains("not found")
    {
        Code::SqlUnknownColumn
    } else {
        Code::SqlPlan
    };
    let name = quoted_name(first_sentence);
    // The token DataFusion located; else the first mention of the quoted name; else the
    // span covering the located notes (e.g. both operands); else the query's start.
    let notes_span = err
        .notes
        .iter()
        .map(|(_, at)| to_span(*at))
        .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end));
    let span = match (code, err.span, &notes_span) {
        (Code::SqlPlan, _, Some(all)) => all.clone(),
        (_, Some(at), _) => to_span(at),
        _ => name
            .and_then(|n| find_word(text, n, node_start(ctx, table)))
            .unwrap_or_else(|| {
                ctx.sql
                    .get(&table.file)
                    .map_or(0..0, |n| n.first_token.clone())
            }),
    };
    let message = match (code, name) {
        (Code::SqlUnknownColumn, Some(name)) => {
            let qualified = match first_sentence.split(" not found in '").nth(1) {
                Some(rel) => format!("{}.{name}", rel.trim_end_matches(['\'', '.'])),
                None => name.to_owned(),
            };
            format!(
                "`{}` reads column `{qualified}`, which its inputs do not have",
                table.name
            )
        }
        (Code::SqlUnknownFunction, Some(name)) => {
            format!("`{}` calls unknown function `{name}`", table.name)
        }
        _ if lower.contains("internal error") || raw.contains("likely caused by a bug") => {
            format!(
                "the query of `{}` could not be typed (the SQL engine failed on it)",
                table.name
            )
        }
        _ => format!(
            "the query of `{}` does not type-check: {}",
            table.name,
            lowercase_first(first_sentence)
        ),
    };
    let mut help = None;
    let mut fix = None;
    if code == Code::SqlUnknownColumn
        && let Some(name) = name
    {
        let bare = name.rsplit('.').next().unwrap_or(name);
        let mut candidates: Vec<String> = inputs
            .values()
            .flat_map(|s| {
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        candidates.sort();
        candidates.dedup();
        let mut tables: Vec<_> = inputs.keys().map(|t| format!("`{t}`")).collect();
        tables.sort();
        let suggestion = did_you_mean(bare, candidates.iter().map(String::as_str));
        fix = suggestion.map(|s| Fix::did_you_mean(table.file, &span, bare, s));
        help = Some(match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "the inputs of `{}` ({}) have no column `{bare}`",
                table.name,
                tables.join(", ")
            ),
        });
    } else if code == Code::SqlUnknownFunction {
        let names = planner.function_names();
        help = name
            .and_then(|n| did_you_mean(&n.to_lowercase(), names.iter().map(String::as_str)))
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| {
                Some("see DataFusion's SQL function reference for the available functions".into())
            });
    } else if !err.notes.is_empty() || err.help.is_some() {
        let all_notes: Vec<&str> = err
            .notes
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(err.help.as_deref())
            .collect();
        let timestamp_plus_int = all_notes
            .iter()
            .any(|n| n.contains("Timestamp") || n.contains("Date"))
            && all_notes.iter().any(|n| n.contains("Int"));
        help = Some(if timestamp_plus_int {
            "add a duration, not a number: e.g. `ts + INTERVAL '30 days'`".to_owned()
        } else {
            "make the types agree with an explicit `CAST(... AS ...)`".to_owned()
        });
    }
    let mut d = Diagnostic::new(code, table.file, span, message)
        .with_label(match code {
            Code::SqlUnknownColumn => "unknown column",
            Code::SqlUnknownFunction => "unknown function",
            _ => "does not type-check",
        })
        .with_help_opt(help)
        .with_fix_opt(fix);
    for (note, at) in &err.notes {
        d = d.with_secondary(table.file, to_span(*at), note.clone());
    }
    d
}

pub(super) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if chars.clone().next().is_some_and(|n| n.is_lowercase()) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_owned(),
    }
}

pub(super) fn node_start(ctx: &Context, table: &Table) -> usize {
    ctx.sql.get(&table.file).map_or(0, |n| n.first_token.start)
}

/// The first name quoted in a DataFusion message: `No field named colx.` or `'colx'`.
pub(super) fn quoted_name(message: &str) -> Option<&str> {
    if let Some(rest) = message.split("No field named ").nth(1) {
        let name = rest.split([' ', ',', '\n']).next()?.trim_end_matches('.');
        return Some(name.trim_matches(['"', '\'']));
    }
    let start = message.find(['\'', '"'])?;
    let quote = message[start..].chars().next()?;
    let rest = &message[start + 1..];
    rest.find(quote).map(|end| &rest[..end])
}

/// The first whole-word occurrence of `name` (or its last dotted part) after `from`.
pub(super) fn find_word(text: &str, name: &str, from: usize) -> Option<Span> {
    let word = name.rsplit('.').next().unwrap_or(name);
    if word.is_empty() {
        return None;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut at = from.min(text.len());
    while let Some(pos) = text[at..].find(word) {
        let start = at + pos;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(start..end);
        }
        at = end;
    }
    None
}
