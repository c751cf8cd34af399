//! The columns of a SQL query's common table expressions (`WITH x AS (SELECT a, b AS c
//! FROM t) SELECT x.| FROM x`), read from the tokens of the editor's text: each select
//! item's name (its alias, or the column it copies), and its type when the item copies a
//! column of a table or of an earlier CTE (`computed` otherwise); `*` and `q.*` expand.
//! `WITH x(a, b) AS (...)` names the columns itself.

use std::collections::HashSet;

use super::{Item, ItemKind, SQL_KEYWORDS, Token, aliases_in, column_items, is_word};
use crate::analysis::{Analysis, TableId};
use crate::source::FileId;

/// One CTE: its name, the column names it declares (`x(a, b)`), and its body's tokens.
pub(super) struct Cte {
    pub name: String,
    columns: Option<Vec<String>>,
    body: Vec<Token>,
}

/// The CTEs of the `WITH` clauses in `tokens`, in order.
pub(super) fn ctes(tokens: &[Token]) -> Vec<Cte> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !is_word(tokens.get(i), "with") {
            i += 1;
            continue;
        }
        i += 1;
        if is_word(tokens.get(i), "recursive") {
            i += 1;
        }
        // `name [(a, b)] AS [NOT] [MATERIALIZED] (body)`, comma-separated.
        while let Some(Token::Word(name)) = tokens.get(i) {
            i += 1;
            let mut columns = None;
            if tokens.get(i) == Some(&Token::Punct('(')) {
                let close = matching(tokens, i);
                columns = Some(
                    tokens[i + 1..close]
                        .iter()
                        .filter_map(|t| match t {
                            Token::Word(w) => Some(w.clone()),
                            Token::Punct(_) => None,
                        })
                        .collect(),
                );
                i = close + 1;
            }
            if !is_word(tokens.get(i), "as") {
                break;
            }
            i += 1;
            while is_word(tokens.get(i), "not") || is_word(tokens.get(i), "materialized") {
                i += 1;
            }
            if tokens.get(i) != Some(&Token::Punct('(')) {
                break;
            }
            let close = matching(tokens, i);
            out.push(Cte {
                name: name.clone(),
                columns,
                body: tokens[i + 1..close].to_vec(),
            });
            i = close + 1;
            if tokens.get(i) != Some(&Token::Punct(',')) {
                break;
            }
            i += 1;
        }
    }
    out
}

/// The index of the `)` closing the `(` at `open` (the end when unclosed).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// What a name in a FROM list stands for: a CTE (by index) or a table.
enum Relation {
    Cte(usize),
    Table(TableId),
}

/// The columns of CTE `index` of `ctes`, as completion items.
pub(super) fn columns(analysis: &Analysis, file: FileId, ctes: &[Cte], index: usize) -> Vec<Item> {
    columns_at(analysis, file, ctes, index, 0)
}

fn columns_at(
    analysis: &Analysis,
    file: FileId,
    ctes: &[Cte],
    index: usize,
    depth: usize,
) -> Vec<Item> {
    let cte = &ctes[index];
    if depth > ctes.len() {
        return Vec::new();
    }
    // The relations its body reads: earlier CTEs, else the project's tables.
    let relations: Vec<(String, Relation)> = aliases_in(&cte.body)
        .into_iter()
        .filter_map(|(alias, name)| {
            let relation = match ctes[..index]
                .iter()
                .rposition(|c| c.name.eq_ignore_ascii_case(&name))
            {
                Some(at) => Relation::Cte(at),
                None => Relation::Table(super::resolve_read(analysis, file, &name)?),
            };
            Some((alias, relation))
        })
        .collect();
    let of = |relation: &Relation| -> Vec<Item> {
        match relation {
            Relation::Cte(at) => columns_at(analysis, file, ctes, *at, depth + 1),
            Relation::Table(id) => match analysis.contracts.output(*id) {
                Some(output) => column_items(
                    &analysis.tables[id.0].name,
                    output,
                    None,
                    &mut HashSet::new(),
                ),
                None => Vec::new(),
            },
        }
    };
    let lookup = |qualifier: Option<&str>, column: &str| -> Option<Item> {
        relations
            .iter()
            .filter(|(alias, _)| qualifier.is_none_or(|q| alias.eq_ignore_ascii_case(q)))
            .find_map(|(_, r)| of(r).into_iter().find(|i| i.label == column))
    };
    let mut items = Vec::new();
    for item in select_items(&cte.body) {
        match item {
            [Token::Punct('*')] => relations.iter().for_each(|(_, r)| items.extend(of(r))),
            [Token::Word(q), Token::Punct('.'), Token::Punct('*')] => relations
                .iter()
                .filter(|(alias, _)| alias.eq_ignore_ascii_case(q))
                .for_each(|(_, r)| items.extend(of(r))),
            _ => {
                let Some((name, copied)) = item_name(item) else {
                    continue;
                };
                let detail = copied
                    .and_then(|(q, c)| lookup(q, c))
                    .map_or_else(|| "computed".to_owned(), |i| i.detail);
                items.push(Item {
                    label: name.to_owned(),
                    kind: ItemKind::Column,
                    detail,
                });
            }
        }
    }
    if let Some(names) = &cte.columns {
        // `x(a, b)` renames the body's columns in order.
        items = names
            .iter()
            .enumerate()
            .map(|(k, name)| Item {
                label: name.clone(),
                kind: ItemKind::Column,
                detail: items
                    .get(k)
                    .map_or_else(|| "computed".to_owned(), |i| i.detail.clone()),
            })
            .collect();
    }
    for item in &mut items {
        item.detail = format!("{} · CTE {}", item.detail, cte.name);
    }
    let mut seen = HashSet::new();
    items.retain(|i| seen.insert(i.label.clone()));
    items
}

/// The select items of the first top-level `SELECT` of `body`, split at top-level commas.
fn select_items(body: &[Token]) -> Vec<&[Token]> {
    let mut depth = 0usize;
    let mut start = None;
    let mut items = Vec::new();
    for (i, t) in body.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 => {
                let w = w.to_ascii_lowercase();
                match (start, w.as_str()) {
                    (None, "select") => start = Some(i + 1),
                    (Some(s), "distinct" | "all") if s == i => start = Some(i + 1),
                    (Some(s), "from" | "where" | "group" | "order" | "limit" | "union") => {
                        items.push(&body[s..i]);
                        return items.into_iter().filter(|i| !i.is_empty()).collect();
                    }
                    _ => {}
                }
            }
            Token::Punct(',') if depth == 0 => {
                if let Some(s) = start {
                    items.push(&body[s..i]);
                    start = Some(i + 1);
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        items.push(&body[s..]);
    }
    items.into_iter().filter(|i| !i.is_empty()).collect()
}

/// A word that is no SQL keyword.
fn word(t: &Token) -> Option<&str> {
    match t {
        Token::Word(w) if !SQL_KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => {
            Some(w.as_str())
        }
        _ => None,
    }
}

/// A column reference: `(qualifier, column)`.
type ColumnRef<'a> = (Option<&'a str>, &'a str);

/// The column a select item's expression copies unchanged.
fn copied(expr: &[Token]) -> Option<ColumnRef<'_>> {
    match expr {
        [c] => word(c).map(|c| (None, c)),
        [q, Token::Punct('.'), c] => Some((Some(word(q)?), word(c)?)),
        _ => None,
    }
}

/// The output name of a select item, and the column it copies unchanged (`(qualifier,
/// column)`) when it is a plain column reference.
fn item_name(item: &[Token]) -> Option<(&str, Option<ColumnRef<'_>>)> {
    match item {
        [expr @ .., Token::Word(kw), alias] if kw.eq_ignore_ascii_case("as") => {
            Some((word(alias)?, copied(expr)))
        }
        [c] => Some((word(c)?, copied(item))),
        [_, Token::Punct('.'), c] => Some((word(c)?, copied(item))),
        // `expr alias` without AS: the alias follows a complete expression.
        [expr @ .., Token::Word(_)]
            if !expr.is_empty() && !matches!(expr.last(), Some(Token::Punct('.'))) =>
        {
            let alias = word(item.last()?)?;
            Some((alias, copied(expr)))
        }
        _ => None,
    }
}

/// The columns of the CTE a name in a FROM list stands for, if it names one.
pub(super) fn named(
    analysis: &Analysis,
    file: FileId,
    ctes: &[Cte],
    name: &str,
) -> Option<Vec<Item>> {
    let at = ctes
        .iter()
        .rposition(|c| c.name.eq_ignore_ascii_case(name))?;
    Some(columns(analysis, file, ctes, at))
}
