//! Occurrences in a SQL node: its header (output, schema, inputs), the relations its
//! query reads, the column identifiers of the query resolved against the relations in
//! scope and the inputs' effective outputs, and the names its select items define.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, SelectItem,
    SetExpr, Spanned, TableFactor, Visit, Visitor,
};

use super::index::{Builder, Edit, Occurrence, Role, Symbol};
use crate::analysis::{TableId, TableKind};
use crate::source::{FileId, Span};
use crate::syntax::sql::{SqlNode, object_name, to_span};

pub(super) fn node(b: &mut Builder, file: FileId, node: &SqlNode) {
    let table = b.tables_in(file, |t| t.kind == TableKind::Sql);
    // The output schema: the header's, or Bauplan's `-- bauplan: output_schema = S`.
    if let Some(schema) = node.output_schema()
        && let Some(s) = b.schema_named(file, &schema.text)
    {
        let last = schema.text.rsplit('.').next().unwrap_or(&schema.text);
        let span = schema.span.end - last.len()..schema.span.end;
        b.named(
            file,
            &span,
            last,
            Symbol::Schema(s),
            Role::Reference,
            table,
            None,
        );
    }
    if let Some(header) = &node.header {
        b.named(
            file,
            &header.output.span,
            &header.output.text,
            Symbol::Table(header.output.text.clone()),
            Role::Definition,
            table,
            None,
        );
        for input in header.inputs.iter().flatten() {
            let symbol = Symbol::Table(input.text.clone());
            b.named(
                file,
                &input.span,
                &input.text,
                symbol,
                Role::Reference,
                table,
                None,
            );
        }
    } else if let Some((_, name)) = node.bauplan.iter().find(|(k, _)| k == "name") {
        let symbol = Symbol::Table(name.text.clone());
        b.named(
            file,
            &name.span,
            &name.text,
            symbol,
            Role::Definition,
            table,
            None,
        );
    }
    for read in &node.reads {
        let symbol = Symbol::Table(read.name.clone());
        b.named(
            file,
            &read.span,
            &read.name,
            symbol,
            Role::Reference,
            table,
            None,
        );
    }
    let (Some(query), Some(table)) = (&node.query, table) else {
        return;
    };
    columns(b, file, table, query);
}

/// What the query's visitor collects: relations with their aliases, select aliases,
/// and every column identifier.
#[derive(Default)]
struct Names {
    /// Qualifier (alias, table name or its last part) -> the relation's name, `None`
    /// for a subquery's alias.
    qualifiers: HashMap<String, Option<String>>,
    /// Names a select item gives to something other than a column of that name.
    aliases: HashSet<String>,
    idents: Vec<Vec<Ident>>,
    /// The columns of `JOIN ... USING (...)`: both sides' columns at one span.
    using: Vec<Ident>,
    /// `NATURAL JOIN`s: the relations on its left, the one it joins, and where that is.
    natural: Vec<(Vec<String>, String, sqlparser::tokenizer::Span)>,
}

/// The column list of a `USING` join.
fn using_columns(op: &JoinOperator) -> &[ObjectName] {
    match join_constraint(op) {
        Some(JoinConstraint::Using(names)) => names,
        _ => &[],
    }
}

/// The constraint of a join (`ON`, `USING`, `NATURAL`), for the joins that have one.
fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    use JoinOperator as J;
    match op {
        J::Join(c)
        | J::Inner(c)
        | J::Left(c)
        | J::LeftOuter(c)
        | J::Right(c)
        | J::RightOuter(c)
        | J::FullOuter(c)
        | J::CrossJoin(c)
        | J::Semi(c)
        | J::LeftSemi(c)
        | J::RightSemi(c)
        | J::Anti(c)
        | J::LeftAnti(c)
        | J::RightAnti(c)
        | J::StraightJoin(c) => Some(c),
        _ => None,
    }
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let full = object_name(name);
                match alias {
                    Some(alias) => {
                        self.qualifiers
                            .insert(alias.name.value.clone(), Some(full.clone()));
                    }
                    None => {
                        if let Some(last) = name.0.last() {
                            let last = object_name(&ObjectName(vec![last.clone()]));
                            self.qualifiers.insert(last, Some(full.clone()));
                        }
                        self.qualifiers.insert(full.clone(), Some(full));
                    }
                }
            }
            TableFactor::Derived {
                alias: Some(alias), ..
            } => {
                self.qualifiers.insert(alias.name.value.clone(), None);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &sqlparser::ast::Select) -> ControlFlow<()> {
        let table_name = |factor: &TableFactor| match factor {
            TableFactor::Table { name, .. } => Some((object_name(name), name.span())),
            _ => None,
        };
        for from in &select.from {
            let mut left: Vec<String> = table_name(&from.relation)
                .map(|(n, _)| n)
                .into_iter()
                .collect();
            for join in &from.joins {
                for name in using_columns(&join.join_operator) {
                    if let Some(ObjectNamePart::Identifier(ident)) = name.0.last() {
                        self.using.push(ident.clone());
                    }
                }
                let right = table_name(&join.relation);
                if matches!(
                    join_constraint(&join.join_operator),
                    Some(JoinConstraint::Natural)
                ) && let Some((name, span)) = &right
                {
                    self.natural.push((left.clone(), name.clone(), *span));
                }
                left.extend(right.map(|(n, _)| n));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        for cte in query.with.iter().flat_map(|w| &w.cte_tables) {
            self.qualifiers.insert(cte.alias.name.value.clone(), None);
        }
        if let SetExpr::Select(select) = query.body.as_ref() {
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { expr, alias } = item {
                    let same = match expr {
                        Expr::Identifier(i) => i.value == alias.value,
                        Expr::CompoundIdentifier(p) => {
                            p.last().is_some_and(|i| i.value == alias.value)
                        }
                        _ => false,
                    };
                    if !same {
                        self.aliases.insert(alias.value.clone());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.idents.push(vec![ident.clone()]),
            Expr::CompoundIdentifier(parts) => self.idents.push(parts.clone()),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn columns(b: &mut Builder, file: FileId, table: TableId, query: &Query) {
    let mut names = Names::default();
    let _ = query.visit(&mut names);
    let sources = b.sources;
    let source = sources.file(file);
    let (text, index) = (&source.text, &source.line_index);
    let span_of = |ident: &Ident| -> Span { to_span(text, index, ident.span) };
    // The node's inputs by the name it reads them under.
    let analysis = b.analysis;
    let inputs: Vec<(String, TableId)> = analysis.tables[table.0]
        .inputs
        .iter()
        .filter_map(|i| Some((i.table.clone(), i.resolved?)))
        .collect();
    let input = |name: &str| inputs.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
    let mut found: Vec<(Span, TableId, String, Option<char>)> = Vec::new();
    for parts in &names.idents {
        let Some((column, qualifier)) = parts.split_last() else {
            continue;
        };
        let owner = if qualifier.is_empty() {
            if names.aliases.contains(&column.value) {
                continue;
            }
            let mut having = inputs
                .iter()
                .map(|(_, t)| *t)
                .filter(|t| b.has_column(*t, &column.value));
            match (having.next(), having.next()) {
                (Some(t), None) => t,
                _ => continue,
            }
        } else {
            let q = qualifier
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(".");
            let Some(Some(relation)) = names.qualifiers.get(&q) else {
                continue;
            };
            let Some(t) = input(relation) else { continue };
            if !b.has_column(t, &column.value) {
                continue;
            }
            t
        };
        found.push((
            span_of(column),
            owner,
            column.value.clone(),
            column.quote_style,
        ));
    }
    // A `USING` column names both sides' columns at once: a rename of one side's
    // column cannot rewrite it alone.
    for ident in &names.using {
        for (_, t) in &inputs {
            if b.has_column(*t, &ident.value) {
                let key = b.key_of(*t, &ident.value);
                b.push(Occurrence {
                    file,
                    span: span_of(ident),
                    symbol: Symbol::Column(key),
                    role: Role::Reference,
                    edit: Edit::Blocked("a `JOIN ... USING` column".to_owned()),
                    node: Some(table),
                    table: Some(*t),
                });
            }
        }
    }
    natural_joins(b, file, table, &names.natural, &input);
    for (span, owner, name, quote) in found {
        let key = b.key_of(owner, &name);
        let edit = match quote {
            Some('"' | '`') | None => Edit::Text,
            Some(q) => Edit::Blocked(format!("an identifier quoted with `{q}`")),
        };
        let span = match quote {
            Some(_) if span.len() >= 2 => span.start + 1..span.end - 1,
            _ => span,
        };
        b.push(Occurrence {
            file,
            span,
            symbol: Symbol::Column(key),
            role: Role::Reference,
            edit,
            node: Some(table),
            table: Some(owner),
        });
    }
    select_items(b, file, table, query, &names, &input);
}

/// A `NATURAL JOIN` matches the columns both sides have by name, without naming them:
/// a rename of one of them would change the join, so each is a blocked occurrence at
/// the `NATURAL` keyword (at the joined table's name when the keyword is not found).
fn natural_joins(
    b: &mut Builder,
    file: FileId,
    table: TableId,
    natural: &[(Vec<String>, String, sqlparser::tokenizer::Span)],
    input: &dyn Fn(&str) -> Option<TableId>,
) {
    let sources = b.sources;
    let source = sources.file(file);
    let (text, index) = (&source.text, &source.line_index);
    for (left, right, at) in natural {
        let Some(right) = input(right) else { continue };
        let left: Vec<TableId> = left.iter().filter_map(|n| input(n)).collect();
        let Some(columns) = b.analysis.contracts.output(right) else {
            continue;
        };
        let relation = to_span(text, index, *at);
        let before = &text[..relation.start];
        let span = before
            .to_ascii_lowercase()
            .rfind("natural")
            .filter(|k| before[k + 7..].trim_start().len() <= "full outer join ".len() + 1)
            .map_or(relation.clone(), |k| k..k + 7);
        for column in &columns.columns {
            let sides: Vec<TableId> = left
                .iter()
                .copied()
                .filter(|t| b.has_column(*t, &column.name))
                .collect();
            if sides.is_empty() {
                continue;
            }
            for t in sides.into_iter().chain([right]) {
                let key = b.key_of(t, &column.name);
                b.push(Occurrence {
                    file,
                    span: span.clone(),
                    symbol: Symbol::Column(key),
                    role: Role::Reference,
                    edit: Edit::Blocked(format!(
                        "a column its `NATURAL JOIN` matches by name (`{}`)",
                        column.name
                    )),
                    node: Some(table),
                    table: Some(t),
                });
            }
        }
    }
}

/// The names the top-level select items define, and the wildcards.
fn select_items(
    b: &mut Builder,
    file: FileId,
    table: TableId,
    query: &Query,
    names: &Names,
    input: &dyn Fn(&str) -> Option<TableId>,
) {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    let sources = b.sources;
    let source = sources.file(file);
    let (text, index) = (&source.text, &source.line_index);
    let from: Vec<TableId> = select
        .from
        .iter()
        .flat_map(|f| std::iter::once(&f.relation).chain(f.joins.iter().map(|j| &j.relation)))
        .filter_map(|r| match r {
            TableFactor::Table { name, .. } => input(&object_name(name)),
            _ => None,
        })
        .collect();
    for item in &select.projection {
        match item {
            SelectItem::ExprWithAlias { alias, .. } => {
                let span = to_span(text, index, alias.span);
                let key = b.key_of(table, &alias.value);
                // Where no contract declares the column, the select item defines it.
                let role = match key.owner {
                    super::Owner::Table(_) => Role::Definition,
                    super::Owner::Schema(_) => Role::Reference,
                };
                let symbol = Symbol::Column(key);
                b.named(
                    file,
                    &span,
                    &alias.value,
                    symbol,
                    role,
                    Some(table),
                    Some(table),
                );
            }
            SelectItem::Wildcard(_) => {
                let span = to_span(text, index, sqlparser::ast::Spanned::span(item));
                b.wildcards.push(super::Wildcard {
                    file,
                    span,
                    tables: from.clone(),
                });
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let span = to_span(text, index, sqlparser::ast::Spanned::span(item));
                let tables = match kind {
                    sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(name) => names
                        .qualifiers
                        .get(&object_name(name))
                        .cloned()
                        .flatten()
                        .and_then(|r| input(&r))
                        .into_iter()
                        .collect(),
                    _ => Vec::new(),
                };
                b.wildcards.push(super::Wildcard { file, span, tables });
            }
            _ => {}
        }
    }
}
