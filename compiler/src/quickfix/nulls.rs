//! "Filter out nulls" for a node that passes a nullable input column through unchanged
//! into a non-null contract column (E0604). In SQL: `WHERE <item> IS NOT NULL`, or `AND
//! <item> IS NOT NULL` after the query's own `WHERE` condition (in parentheses when that
//! condition is an `OR`). In a Polars-style body: `.filter(col("x").is_not_null())` on
//! the input, where the body names it once.

use sqlparser::ast::{BinaryOperator, Expr, Select, SelectItem, SetExpr, Spanned};
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token as SqlToken, Tokenizer};

use crate::diagnostic::{Edit, Fix};
use crate::source::{FileId, LineIndex, SourceFile};
use crate::syntax::py_tokens::{Token, tokens};
use crate::syntax::python::{FnDef, PyModule};
use crate::syntax::sql::{self, SqlNode, to_span};

use super::line_after;

/// The fix for output column `index` of the `width` the query produces. `None` unless
/// the query's body is one plain `SELECT ... FROM ...` whose item `index` is a column
/// reference (`phone`, `c.phone`, `c.phone AS mobile`): only there is the filter a plain
/// insertion that keeps every other row and column as they are.
pub(crate) fn filter_nulls(
    file_id: FileId,
    file: &SourceFile,
    node: &SqlNode,
    index: usize,
    width: usize,
) -> Option<Fix> {
    let query = node.query.as_ref()?;
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.projection.len() != width {
        return None;
    }
    let column = match select.projection.get(index)? {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    if !matches!(column, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
        return None;
    }
    let (text, lines) = (file.text.as_str(), &file.line_index);
    let condition = format!("{column} IS NOT NULL");
    let edits = match &select.selection {
        Some(existing) => {
            let start = to_span(text, lines, existing.span()).start;
            let span = start..condition_end(text, lines, start)?;
            if span.is_empty() {
                return None;
            }
            let or = matches!(
                existing,
                Expr::BinaryOp {
                    op: BinaryOperator::Or,
                    ..
                }
            );
            let mut edits = Vec::new();
            if or {
                edits.push(insert(file_id, span.start, "("));
            }
            let close = if or { ")" } else { "" };
            edits.push(insert(
                file_id,
                span.end,
                &format!("{close} AND {condition}"),
            ));
            edits
        }
        None => {
            let from = select.from.first()?;
            let start = to_span(text, lines, from.span()).start;
            let end = condition_end(text, lines, start)?;
            let sep = if line_after(text, end).trim().is_empty() {
                "\n"
            } else {
                " "
            };
            vec![insert(file_id, end, &format!("{sep}WHERE {condition}"))]
        }
    };
    if !filters_only(text, &edits, select, column) {
        return None;
    }
    Some(Fix {
        title: format!("Filter out the nulls of `{column}` (`{condition}`)"),
        preferred: false,
        edits,
    })
}

/// Where the clause (the `FROM` list, the `WHERE` condition) starting at `start` ends:
/// before the first later clause keyword, unmatched `)` or `;` at its own bracket depth,
/// trailing comments excluded. (The span sqlparser gives an expression may stop short of
/// its closing bracket: `x IN (1, 2`.)
fn condition_end(text: &str, lines: &LineIndex, start: usize) -> Option<usize> {
    const CLAUSES: &[&str] = &[
        "WHERE",
        "GROUP",
        "HAVING",
        "WINDOW",
        "QUALIFY",
        "ORDER",
        "LIMIT",
        "OFFSET",
        "FETCH",
        "UNION",
        "EXCEPT",
        "INTERSECT",
    ];
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        .tokenize_with_location()
        .ok()?;
    let mut depth = 0usize;
    let mut end = None;
    for t in tokens {
        let span = to_span(text, lines, t.span);
        if span.start < start {
            continue;
        }
        match &t.token {
            SqlToken::Whitespace(_) => continue,
            SqlToken::LParen => depth += 1,
            SqlToken::RParen if depth == 0 => break,
            SqlToken::RParen => depth -= 1,
            SqlToken::SemiColon if depth == 0 => break,
            SqlToken::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && CLAUSES.contains(&w.value.to_ascii_uppercase().as_str()) =>
            {
                break;
            }
            _ => {}
        }
        end = Some(span.end);
    }
    end
}

/// Whether the query with `edits` applied parses to the same `SELECT` but for its
/// condition: `column IS NOT NULL`, or the old condition `AND` it.
fn filters_only(text: &str, edits: &[Edit], select: &Select, column: &Expr) -> bool {
    let mut edited = text.to_owned();
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    for edit in sorted {
        edited.replace_range(edit.span.clone(), &edit.replacement);
    }
    let (node, diagnostics) = sql::parse(FileId(0), &edited, &LineIndex::new(&edited));
    if !diagnostics.is_empty() {
        return false;
    }
    let Some(SetExpr::Select(new)) = node.query.as_ref().map(|q| q.body.as_ref()) else {
        return false;
    };
    let unnest = |e: &Expr| match e {
        Expr::Nested(inner) => inner.as_ref().clone(),
        other => other.clone(),
    };
    let not_null = Expr::IsNotNull(Box::new(column.clone()));
    let condition_ok = match (&select.selection, &new.selection) {
        (None, Some(c)) => *c == not_null,
        (
            Some(old),
            Some(Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            }),
        ) => **right == not_null && unnest(left) == unnest(old),
        _ => false,
    };
    let mut same = new.as_ref().clone();
    same.selection = select.selection.clone();
    condition_ok && same == *select
}

fn insert(file: FileId, at: usize, text: &str) -> Edit {
    Edit {
        file,
        span: at..at,
        replacement: text.to_owned(),
    }
}

/// The fix for a Polars-style body that passes nullable `column` of its input `param`
/// through unchanged: `.filter(<col>("column").is_not_null())` right after the one place
/// the body names `param`. `None` unless the function body names `param` exactly once
/// (then every row the body sees comes through that place) and the module has `col`
/// (`from sluice import col`, `from polars import col`, or `import polars as pl`).
pub(crate) fn filter_nulls_polars(
    file_id: FileId,
    text: &str,
    module: &PyModule,
    function: &FnDef,
    param: &str,
    column: &str,
) -> Option<Fix> {
    let col = module.imports.iter().find_map(|i| match &i.item {
        Some(item) if item == "col" && matches!(i.module.as_str(), "sluice" | "polars") => {
            Some(i.local.text.clone())
        }
        None if i.module == "polars" => Some(format!("{}.col", i.local.text)),
        _ => None,
    })?;
    if column.contains(['"', '\\']) {
        return None;
    }
    let body = text.get(function.body.clone())?;
    let mut uses = tokens(body)
        .into_iter()
        .filter(|(_, t)| matches!(t, Token::Name { text, attribute: false, .. } if *text == param));
    let (span, _) = uses.next()?;
    if uses.next().is_some() {
        return None;
    }
    let at = function.body.start + span.end;
    let call = format!(".filter({col}(\"{column}\").is_not_null())");
    Some(Fix {
        title: format!("Filter out the nulls of `{column}` (`{param}{call}`)"),
        preferred: false,
        edits: vec![insert(file_id, at, &call)],
    })
}
