//! Occurrences in a Python module: schema classes (their columns, bases and inherited
//! `col = Other.col` columns), `Source(...)` and `Table(...)` assignments, imports of
//! node functions, and node signatures (inputs, annotations, Bauplan's `columns=`
//! lists, `@bauplan.model(name=...)`) with the columns their bodies read.

use super::index::{Builder, Edit, Occurrence, Owner, Role, Symbol};
use crate::analysis::{Table, TableId, TableKind};
use crate::schema::SchemaId;
use crate::source::{FileId, Span};
use crate::syntax::python::{BodyExpr, ClassItem, Expr, FnDef, PyModule};

pub(super) fn module(b: &mut Builder, file: FileId, module: &PyModule) {
    let analysis = b.analysis;
    schema_classes(b, file, module);
    for assign in &module.assigns {
        match assign.value.call_name() {
            Some("Source") => {
                let table = b.tables_in(file, |t| {
                    t.kind == TableKind::Source
                        && (t.span == assign.target.span
                            || assign.value.kwarg("name").map(Expr::span) == Some(t.span.clone()))
                });
                let Some(id) = table else {
                    continue;
                };
                let t = &analysis.tables[id.0];
                let (name, span, output) = (t.name.clone(), t.span.clone(), t.output);
                b.named(
                    file,
                    &span,
                    &name,
                    Symbol::Table(name.clone()),
                    Role::Definition,
                    Some(id),
                    None,
                );
                let schema = match &assign.value {
                    Expr::Call { args, .. } => {
                        args.first().or_else(|| assign.value.kwarg("schema"))
                    }
                    _ => None,
                };
                if let (Some(expr), Some(s)) = (schema, output) {
                    schema_ref(b, file, &expr.span(), s, Some(id));
                }
            }
            Some("Table") => {
                if let Expr::Call { args, .. } = &assign.value
                    && let Some(Expr::Str(name, span)) = args.first()
                {
                    b.named(
                        file,
                        span,
                        name,
                        Symbol::Table(name.clone()),
                        Role::Reference,
                        None,
                        None,
                    );
                }
            }
            _ => {}
        }
    }
    for import in &module.imports {
        let Some(item) = &import.item else { continue };
        // A table named by a Python identifier (a node function, a `Source` variable).
        let is_node = b.table_ids.get(item).is_some_and(|t| {
            let t = &analysis.tables[t.0];
            t.kind != TableKind::Sql && t.span.len() == item.len()
        });
        if !is_node {
            if let Some(s) = b.schema_named(file, item) {
                let edit = if &import.local.text == item {
                    Edit::Text
                } else {
                    Edit::Blocked("a schema imported under another name".to_owned())
                };
                b.push(Occurrence {
                    file,
                    span: import.local.span.clone(),
                    symbol: Symbol::Schema(s),
                    role: Role::Reference,
                    edit,
                    node: None,
                    table: None,
                });
            }
            continue;
        }
        let edit = if &import.local.text == item {
            Edit::Text
        } else {
            Edit::Blocked("a node function imported under another name".to_owned())
        };
        b.push(Occurrence {
            file,
            span: import.local.span.clone(),
            symbol: Symbol::Table(item.clone()),
            role: Role::Reference,
            edit,
            node: None,
            table: None,
        });
    }
    for function in &module.functions {
        let table = b.tables_in(file, |t| {
            t.kind == TableKind::Python && t.span == function.name.span
        });
        match table {
            Some(id) => node(b, file, id, &analysis.tables[id.0], Some(function)),
            None => {
                let expectation = analysis
                    .expectations
                    .iter()
                    .find(|t| t.file == file && t.span == function.name.span);
                if let Some(check) = expectation {
                    node(b, file, TableId(usize::MAX), check, None);
                }
            }
        }
    }
}

/// A node's signature and body (`id` is `usize::MAX` for an expectation).
fn node(b: &mut Builder, file: FileId, id: TableId, table: &Table, function: Option<&FnDef>) {
    let analysis = b.analysis;
    let node = (id.0 != usize::MAX).then_some(id);
    if let (Some(id), Some(function)) = (node, function) {
        let symbol = Symbol::Table(table.name.clone());
        b.named(
            file,
            &table.span,
            &table.name,
            symbol.clone(),
            Role::Definition,
            Some(id),
            None,
        );
        // `@bauplan.model(name="...")` names the table.
        let named = function.decorator_exprs.iter().find_map(|d| match d {
            BodyExpr::Call { kwargs, .. }
                if crate::analysis::decorator_name(d) == Some("model") =>
            {
                kwargs
                    .iter()
                    .find(|(k, _)| k.text == "name")
                    .map(|(_, v)| v)
            }
            _ => None,
        });
        if let Some(BodyExpr::Str(name, span)) = named {
            b.named(file, span, name, symbol, Role::Definition, Some(id), None);
        }
        if let (Some(span), Some(s)) = (&table.returns_span, table.output) {
            schema_ref(b, file, span, s, Some(id));
        }
        // Where no contract declares them, `columns=[...]` declares the output columns.
        let role = if table.output.is_some() {
            Role::Reference
        } else {
            Role::Definition
        };
        for (name, span) in table.model_columns.iter().flatten() {
            b.column(file, span, id, name, role, Some(id));
        }
        for used in analysis.contracts.column_uses(id) {
            let input = table.inputs.iter().find(|i| i.table == used.table);
            if let Some(t) = input.and_then(|i| i.resolved) {
                b.column(file, &used.span, t, &used.column, Role::Reference, Some(id));
            }
        }
    }
    for input in &table.inputs {
        let symbol = Symbol::Table(input.table.clone());
        b.named(
            file,
            &input.span,
            &input.table,
            symbol,
            Role::Reference,
            node,
            None,
        );
        if let (Some(span), Some(s)) = (&input.annotation_span, input.required) {
            schema_ref(b, file, span, s, node);
        }
        if let Some(t) = input.resolved {
            for (name, span) in input.projection.iter().flatten() {
                b.column(file, span, t, name, Role::Reference, node);
            }
        }
    }
}

/// A reference to schema `s` written as `span` (`Orders`, `schemas.Orders`,
/// `"Orders"`): the occurrence is the schema's name in it.
fn schema_ref(b: &mut Builder, file: FileId, span: &Span, s: SchemaId, node: Option<TableId>) {
    let name = b.analysis.schemas[s.0].name.clone();
    let sources = b.sources;
    let text = &sources.file(file).text;
    let Some(slice) = text.get(span.clone()) else {
        return;
    };
    let Some(at) = slice.rfind(&name) else { return };
    let start = span.start + at;
    let bounded = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if !bounded(slice[..at].chars().next_back())
        || !bounded(slice[at + name.len()..].chars().next())
    {
        return;
    }
    b.push(Occurrence {
        file,
        span: start..start + name.len(),
        symbol: Symbol::Schema(s),
        role: Role::Reference,
        edit: Edit::Text,
        node,
        table: None,
    });
}

fn schema_classes(b: &mut Builder, file: FileId, module: &PyModule) {
    let schemas = std::sync::Arc::clone(&b.analysis.schemas);
    for class in &module.classes {
        let in_file = b.schemas_by_file.get(&file).map_or(&[][..], Vec::as_slice);
        let Some(s) = in_file
            .iter()
            .copied()
            .find(|s| schemas[s.0].span == class.name.span)
        else {
            continue;
        };
        let def = &schemas[s.0];
        b.named(
            file,
            &class.name.span,
            &def.name,
            Symbol::Schema(s),
            Role::Definition,
            None,
            None,
        );
        for base in &class.bases {
            if let Some(last) = base.last_name()
                && let Some(base_id) = b.schema_named(file, last)
            {
                schema_ref(b, file, &base.span(), base_id, None);
            }
        }
        for item in &class.items {
            let (name, value) = match item {
                ClassItem::Annotated { name, .. } => (name, None),
                ClassItem::Assigned { name, value } => (name, Some(value)),
            };
            let Some(column) = def.column(&name.text).filter(|c| c.span == name.span) else {
                continue;
            };
            let key = super::ColumnKey {
                owner: Owner::Schema(s),
                name: name.text.clone(),
            };
            b.named(
                file,
                &name.span,
                &name.text,
                Symbol::Column(key),
                Role::Definition,
                None,
                None,
            );
            // `col = Other.col` (or `Other.col[NotNull]`).
            let path = match value {
                Some(Expr::Subscript { value, .. }) => value.as_ref(),
                Some(v) => v,
                None => continue,
            };
            let (Some((from, from_column)), Expr::Name { path, span }) =
                (&column.inherited_from, path)
            else {
                continue;
            };
            let sources = b.sources;
            let text = &sources.file(file).text;
            if path.len() < 2 || text.get(span.clone()) != Some(path.join(".").as_str()) {
                continue;
            }
            let column_start = span.end - from_column.len();
            let schema_end = column_start - 1;
            let schema_name = &path[path.len() - 2];
            schema_ref(
                b,
                file,
                &(schema_end - schema_name.len()..schema_end),
                *from,
                None,
            );
            let key = super::ColumnKey {
                owner: Owner::Schema(*from),
                name: from_column.clone(),
            };
            let symbol = Symbol::Column(key);
            b.named(
                file,
                &(column_start..span.end),
                from_column,
                symbol,
                Role::Reference,
                None,
                None,
            );
        }
    }
}
