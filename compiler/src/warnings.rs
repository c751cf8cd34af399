//! Project-level warnings that need the contract results: unused sources, undeclared
//! outputs a consumer relies on, unannotated inputs.

use crate::analysis::{Table, TableId, TableKind};
use crate::contracts::Contracts;
use crate::diagnostic::{Code, Diagnostic};
use crate::schema::Schemas;

/// `bauplan`: the project is written for Bauplan's SDK (helps use its spellings).
pub(crate) fn warnings(
    (tables, expectations): (&[Table], &[Table]),
    schemas: &Schemas,
    bauplan: bool,
    live: &[bool],
    edges: &[(TableId, TableId)],
    contracts: &Contracts,
    diagnostics: &mut Vec<Diagnostic>,
) {
    // The consumers of each table, in edge order (one pass: linear in the edges).
    let mut consumers_of: Vec<Vec<TableId>> = vec![Vec::new(); tables.len()];
    for (parent, child) in edges {
        consumers_of[parent.0].push(*child);
    }
    // Expectations read tables too (they are no edges).
    let mut checked = vec![false; tables.len()];
    for input in expectations.iter().flat_map(|e| &e.inputs) {
        if let Some(t) = input.resolved {
            checked[t.0] = true;
        }
    }
    for (i, table) in tables.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let consumers: Vec<&Table> = consumers_of[i].iter().map(|c| &tables[c.0]).collect();
        // An implicit lake table exists because something reads it (an expectation,
        // maybe: those are no edges); its unknown schema is its `W0004`.
        if table.kind == TableKind::Source && consumers.is_empty() && !checked[i] && !table.implicit
        {
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
        // An undeclared output matters when a consumer declares a contract for it.
        let unknown = contracts.output(TableId(i)).is_none() && !contracts.broken(TableId(i));
        if unknown && !table.output_invalid && !table.implicit {
            undeclared_output(
                tables,
                schemas,
                bauplan,
                TableId(i),
                &consumers,
                diagnostics,
            );
        }
        for input in &table.inputs {
            let Some(param) = &input.param else { continue };
            if input.required.is_some()
                || input.annotation_invalid
                || input.projection.is_some()
                || input.resolved.is_some_and(|p| tables[p.0].implicit)
            {
                continue;
            }
            let parent_schema = input
                .resolved
                .and_then(|p| tables[p.0].output)
                .map(|s| schemas.get(s).name.as_str());
            // Bauplan's way to require columns of an input is a projection schema.
            let bauplan = table.python.as_ref().is_some_and(|p| p.bauplan);
            let suggestion = match (bauplan, parent_schema) {
                (true, schema) => format!(
                    "read it through a projection schema: `{}: Annotated[pa.Table, bauplan.Model(\"{}\", projection_schema={})]`",
                    param.text,
                    input.table,
                    schema.unwrap_or("SomeSchema")
                ),
                (false, Some(schema)) => format!("annotate it: `{}: {schema} = ...`", param.text),
                (false, None) => {
                    "annotate it with the schema this node requires of its input".into()
                }
            };
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

/// The warning for a table whose output is unknown (undeclared, not inferable, not
/// broken): when a consumer declares a contract for it, that contract is unchecked.
fn undeclared_output(
    tables: &[Table],
    schemas: &Schemas,
    bauplan: bool,
    id: TableId,
    consumers: &[&Table],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let table = &tables[id.0];
    // Consumers that declare a contract for this table's output, as `node (Schema)`.
    let mut consumer_contracts: Vec<String> = consumers
        .iter()
        .flat_map(|consumer| {
            consumer
                .inputs
                .iter()
                .filter(|input| input.resolved == Some(id))
                .filter_map(|input| input.required)
                .map(|schema| format!("`{}` (`{}`)", consumer.name, schemas.get(schema).name))
        })
        .collect();
    consumer_contracts.dedup();
    let first_contract = consumers
        .iter()
        .flat_map(|consumer| consumer.inputs.iter())
        .filter(|input| input.resolved == Some(id))
        .find_map(|input| input.required);
    if !consumer_contracts.is_empty() {
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
            TableKind::Python if table.python.as_ref().is_some_and(|p| p.bauplan) => format!(
                "declare the output with a return annotation, e.g. `-> Annotated[pa.Table, {wanted}]`"
            ),
            TableKind::Python => {
                format!("declare the output with a return annotation, e.g. `-> {wanted}`")
            }
            TableKind::Sql if bauplan => {
                format!("name the output schema: `-- bauplan: output_schema = {wanted}`")
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
}
