//! Completion: what may be written at the cursor, in partially typed and unparsable text.
//!
//! The context comes from the text before the cursor alone ([`context`]: a small
//! lexer-level scan, because the last keystroke usually breaks the parse), and the
//! candidates from the latest analysis ([`items`]): tables where a table is expected,
//! the in-scope input columns (with SQL alias qualification `o.`), schema names in
//! annotations, type names in schema classes. Each item carries its type as detail.
//!
//! Work per request is proportional to the file and to the tables in scope, except
//! where the context asks for any table or schema of the project.

use crate::analysis::{Analysis, TableId, TableKind};
use crate::resolve::{TYPE_NAMES, plain_type};
use crate::source::{FileId, FileKind};
use crate::types::display_type;

/// What is expected at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A table name (SQL FROM/JOIN, header inputs, `Table("`, `Model("`, a Python default).
    Table,
    /// A column of the node's inputs; `qualifier` is the alias or table before a `.`.
    Column { qualifier: Option<String> },
    /// Columns of one named table (`bauplan.Model("t", columns=["`).
    ColumnOf { table: String },
    /// The output columns the body of the decorated function computes
    /// (`@bauplan.model(columns=["`).
    OutputColumn,
    /// A schema class name (annotations, the SQL header's `: Schema`).
    Schema,
    /// A column type (an annotation in a schema class body).
    Type,
}

/// The completion context at a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub expected: Expected,
    /// Byte offset where the word being typed starts (the cursor when none is).
    pub word_start: usize,
}

/// Where a completion item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Table,
    Column,
    Schema,
    Type,
}

/// One candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    pub kind: ItemKind,
    /// The candidate's type: a column's Arrow type, a table's or schema's columns.
    pub detail: String,
}

/// The context at byte `offset` of `text` (a file of `kind`), or `None` where nothing
/// sluice knows is expected (a comment, a string literal, a new alias, …).
pub fn context(kind: FileKind, text: &str, offset: usize) -> Option<Context> {
    let offset = floor_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let expected = match kind {
        FileKind::Sql => sql_context(&text[..word_start])?,
        FileKind::Python => python_context(&text[..word_start])?,
        _ => return None,
    };
    Some(Context {
        expected,
        word_start,
    })
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A token of SQL text, as far as completion needs one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An identifier or keyword, unquoted (`"x"` identifiers unquoted too).
    Word(String),
    Punct(char),
}

/// Tokens of SQL text; `None` when the text ends inside a string literal or a comment.
fn sql_tokens(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if text[i..].starts_with("--") => {
                let end = text[i..].find('\n')?;
                while chars.peek().is_some_and(|(j, _)| *j <= i + end) {
                    chars.next();
                }
            }
            '/' if text[i..].starts_with("/*") => {
                let end = text[i + 2..].find("*/")?;
                while chars.peek().is_some_and(|(j, _)| *j < i + 2 + end + 2) {
                    chars.next();
                }
            }
            '\'' | '"' | '`' => {
                let close = text[i + 1..].find(c)?;
                let inner = &text[i + 1..i + 1 + close];
                while chars.peek().is_some_and(|(j, _)| *j <= i + 1 + close) {
                    chars.next();
                }
                tokens.push(if c == '\'' {
                    Token::Punct('\'')
                } else {
                    Token::Word(inner.to_owned())
                });
            }
            c if is_ident(c) => {
                let mut end = i + c.len_utf8();
                while let Some((j, d)) = chars.peek().copied() {
                    if !is_ident(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                tokens.push(Token::Word(text[i..end].to_owned()));
            }
            c => tokens.push(Token::Punct(c)),
        }
    }
    Some(tokens)
}

fn is_word(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

/// Clause keywords after which columns are expected.
const COLUMN_CLAUSES: &[&str] = &["select", "where", "on", "by", "having", "distinct"];
/// Keywords that end an expression or start a clause (not aliases).
const SQL_KEYWORDS: &[&str] = &[
    "select", "from", "join", "where", "on", "group", "order", "by", "having", "limit", "as",
    "and", "or", "not", "inner", "left", "right", "full", "outer", "cross", "union", "with",
    "distinct", "case", "when", "then", "else", "end", "is", "null", "in", "using", "all",
    "offset", "asc", "desc", "between", "like",
];

fn sql_context(before: &str) -> Option<Expected> {
    // The header: `-- out: Schema <- a, b` on the node's first comment lines.
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = &before[line_start..];
    if line.trim_start().starts_with("--") {
        let in_header = before[..line_start]
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"));
        if !in_header {
            return None;
        }
        let body = line.trim_start().trim_start_matches('-');
        if let Some(at) = body.find("<-") {
            let after = body[at + 2..].trim_end();
            return (after.is_empty() || after.ends_with(',')).then_some(Expected::Table);
        }
        let (_, after) = body.split_once(':')?;
        return after.trim().is_empty().then_some(Expected::Schema);
    }
    let tokens = sql_tokens(before)?;
    let last = tokens.last();
    if matches!(last, Some(Token::Punct('.'))) {
        let Some(Token::Word(qualifier)) = tokens.get(tokens.len().wrapping_sub(2)) else {
            return None;
        };
        return Some(Expected::Column {
            qualifier: Some(qualifier.clone()),
        });
    }
    if is_word(last, "from") || is_word(last, "join") {
        return Some(Expected::Table);
    }
    if is_word(last, "as") {
        return None;
    }
    // The clause the cursor is in: the last clause keyword before it.
    for (i, token) in tokens.iter().enumerate().rev() {
        let Token::Word(w) = token else { continue };
        let w = w.to_ascii_lowercase();
        if w == "from" || w == "join" {
            // `FROM a, ` expects a table; `FROM a ` an alias or a keyword.
            return matches!(last, Some(Token::Punct(','))).then_some(Expected::Table);
        }
        if COLUMN_CLAUSES.contains(&w.as_str()) {
            // `SELECT a ` (after a complete expression) expects a keyword or an alias.
            let after_expression = i + 1 < tokens.len()
                && matches!(last, Some(Token::Word(w)) if !SQL_KEYWORDS.contains(&w.to_ascii_lowercase().as_str()))
                || matches!(last, Some(Token::Punct(')' | '\'')));
            return (!after_expression).then_some(Expected::Column { qualifier: None });
        }
    }
    None
}

/// The tables an SQL text reads with their aliases: `(alias or name, table name)`.
fn sql_aliases(text: &str) -> Vec<(String, String)> {
    aliases_in(&sql_tokens_lenient(text))
}

/// The tokens of `text`; when it ends inside a string or comment, of what precedes it.
fn sql_tokens_lenient(text: &str) -> Vec<Token> {
    sql_tokens(text).unwrap_or_else(|| {
        let cut = text.rfind(['\'', '"']).unwrap_or(0);
        sql_tokens(&text[..cut]).unwrap_or_default()
    })
}

/// The tables `tokens` read with their aliases: `(alias or name, table name)`.
fn aliases_in(tokens: &[Token]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = is_word(tokens.get(i), "from")
            || is_word(tokens.get(i), "join")
            || (matches!(tokens.get(i), Some(Token::Punct(','))) && in_from_list(&tokens[..i]));
        i += 1;
        if !starts {
            continue;
        }
        let Some(Token::Word(first)) = tokens.get(i) else {
            continue;
        };
        let mut name = first.clone();
        i += 1;
        while matches!(tokens.get(i), Some(Token::Punct('.')))
            && let Some(Token::Word(part)) = tokens.get(i + 1)
        {
            name = format!("{name}.{part}");
            i += 2;
        }
        if is_word(tokens.get(i), "as") {
            i += 1;
        }
        let alias = match tokens.get(i) {
            Some(Token::Word(w)) if !SQL_KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) => {
                i += 1;
                w.clone()
            }
            _ => name.clone(),
        };
        out.push((alias, name));
    }
    out
}

/// Whether the last clause keyword of `tokens` is FROM (so `,` separates tables).
fn in_from_list(tokens: &[Token]) -> bool {
    for token in tokens.iter().rev() {
        if let Token::Word(w) = token {
            let w = w.to_ascii_lowercase();
            if w == "from" {
                return true;
            }
            if ["select", "where", "on", "join", "group", "order", "having"].contains(&w.as_str()) {
                return false;
            }
        }
    }
    false
}

fn python_context(before: &str) -> Option<Expected> {
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = &before[line_start..];
    if line.contains('#') && !line.contains(['"', '\'']) {
        return None;
    }
    // Inside a string just opened: `col("`, `Table("`, `columns=["a", "`.
    if let Some(stripped) = line.strip_suffix(['"', '\'']) {
        let call = stripped.trim_end();
        let word = call
            .strip_suffix('(')
            .map(|c| {
                let c = c.trim_end();
                let start = c.rfind(|ch: char| !is_ident(ch)).map_or(0, |i| i + 1);
                &c[start..]
            })
            .unwrap_or("");
        return match word {
            "col" => Some(Expected::Column { qualifier: None }),
            "Table" | "Model" => Some(Expected::Table),
            _ => columns_list(before),
        };
    }
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    // The signature of a `def`: `name: Schema` and `-> Schema` annotations, defaults.
    if let Some(def) = open_def(before) {
        let sig = def.trim_end();
        if sig.ends_with("->") || sig.ends_with(':') {
            return Some(Expected::Schema);
        }
        if sig.ends_with('=') && !sig.ends_with("==") {
            return Some(Expected::Table);
        }
        return None;
    }
    // `name: ` in a schema class body.
    if indent > 0
        && let Some((name, rest)) = trimmed.split_once(':')
        && is_identifier(name.trim())
        && rest.trim().is_empty()
        && enclosing_block(&before[..line_start]).is_some_and(|b| b.starts_with("class "))
    {
        return Some(Expected::Type);
    }
    None
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_ident) && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// The text of a `def` signature the cursor is still inside (its parenthesis or return
/// annotation not closed by `:`), from the `def` on.
fn open_def(before: &str) -> Option<&str> {
    let at = before.rfind("def ")?;
    if at > 0 && !before[..at].ends_with(['\n', ' ', '\t']) {
        return None;
    }
    let sig = &before[at..];
    let mut depth = 0i32;
    let mut opened = false;
    let mut closed_at = None;
    for (i, c) in sig.char_indices() {
        match c {
            '(' | '[' => {
                depth += 1;
                opened = true;
            }
            ')' | ']' => {
                depth -= 1;
                if depth == 0 && opened && c == ')' && closed_at.is_none() {
                    closed_at = Some(i);
                }
            }
            ':' if depth == 0 && closed_at.is_some() => return None,
            '\n' if depth == 0 && opened => return None,
            _ => {}
        }
    }
    opened.then_some(sig)
}

/// The first line of the innermost unindented block (`class …` / `def …`) above.
fn enclosing_block(before: &str) -> Option<&str> {
    before
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']))
}

/// `columns=["a", "` inside `Model("t", …)` or `@bauplan.model(…)`.
fn columns_list(before: &str) -> Option<Expected> {
    let open = before.rfind('[')?;
    let head = before[..open].trim_end().strip_suffix('=')?.trim_end();
    if !head.ends_with("columns") {
        return None;
    }
    let inside = &before[open + 1..before.len() - 1];
    if inside.contains(']') || !inside.matches(['"', '\'']).count().is_multiple_of(2) {
        return None;
    }
    // `Model("t", columns=[…`: the columns of t.
    let call = &before[..open];
    if let Some(at) = call.rfind("Model(") {
        let args = &call[at + "Model(".len()..];
        if !args.contains(')') {
            let quoted = args.trim_start();
            let quote = quoted.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let name = quoted[1..].split(quote).next()?;
            return Some(Expected::ColumnOf {
                table: name.to_owned(),
            });
        }
    }
    // `@bauplan.model(columns=[…`: the columns the decorated function's body computes.
    let decorator = before[..open].rfind('@').is_some_and(|at| {
        let call = &before[at..open];
        !call.contains('\n') && call.contains('(') && !call.contains(')')
    });
    Some(if decorator {
        Expected::OutputColumn
    } else {
        Expected::Column { qualifier: None }
    })
}

/// The candidates for `context` in file `file` whose current text is `text` (the
/// editor's buffer: aliases and the enclosing function are read from it).
pub fn items(
    analysis: &Analysis,
    file: FileId,
    kind: FileKind,
    text: &str,
    context: &Context,
) -> Vec<Item> {
    match &context.expected {
        Expected::Table => analysis
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| Item {
                label: t.name.clone(),
                kind: ItemKind::Table,
                detail: table_detail(analysis, TableId(i)),
            })
            .collect(),
        Expected::Schema => analysis
            .schemas
            .iter()
            .map(|s| Item {
                label: s.name.clone(),
                kind: ItemKind::Schema,
                detail: format!("schema · {}", column_count(s.columns.len())),
            })
            .collect(),
        Expected::Type => TYPE_NAMES
            .iter()
            .filter_map(|name| {
                Some(Item {
                    label: (*name).to_owned(),
                    kind: ItemKind::Type,
                    detail: display_type(&plain_type(name)?),
                })
            })
            .collect(),
        Expected::ColumnOf { table } => match table_id(analysis, table) {
            Some(id) => columns_of(analysis, &[id]),
            None => Vec::new(),
        },
        Expected::OutputColumn => {
            let next = next_function(&text[floor_boundary(text, context.word_start)..]);
            let node = analysis
                .tables
                .iter()
                .enumerate()
                .filter(|(_, t)| t.file == file && t.kind == TableKind::Python)
                .find(|(_, t)| {
                    next.is_some_and(|f| t.name == f || text.get(t.span.clone()) == Some(f))
                });
            match node {
                Some((i, _)) => {
                    let id = TableId(i);
                    let output = analysis
                        .contracts
                        .inferred(id)
                        .or_else(|| analysis.contracts.output(id));
                    output.map_or_else(Vec::new, |o| {
                        column_items(&analysis.tables[i].name, o, None, &mut Default::default())
                    })
                }
                None => Vec::new(),
            }
        }
        Expected::Column { .. } if kind == FileKind::Python => {
            match enclosing_node(analysis, file, text, context.word_start) {
                Some(node) => python_input_columns(analysis, node),
                None => Vec::new(),
            }
        }
        Expected::Column { qualifier } => sql_columns(analysis, file, text, qualifier.as_deref()),
    }
}

fn column_count(n: usize) -> String {
    if n == 1 {
        "1 column".to_owned()
    } else {
        format!("{n} columns")
    }
}

fn table_detail(analysis: &Analysis, id: TableId) -> String {
    let table = &analysis.tables[id.0];
    let kind = match table.kind {
        TableKind::Source => "source",
        TableKind::Python => "Python node",
        TableKind::Sql => "SQL node",
    };
    match analysis.contracts.output(id) {
        Some(output) => format!(
            "{kind} · {} · {}",
            output.described_as,
            column_count(output.columns.len())
        ),
        None => kind.to_owned(),
    }
}

fn table_id(analysis: &Analysis, name: &str) -> Option<TableId> {
    analysis
        .tables
        .iter()
        .position(|t| t.name == name)
        .map(TableId)
}

/// The columns of the effective outputs of `tables`, each name once (first wins).
fn columns_of(analysis: &Analysis, tables: &[TableId]) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in tables {
        let Some(output) = analysis.contracts.output(*id) else {
            continue;
        };
        items.extend(column_items(
            &analysis.tables[id.0].name,
            output,
            None,
            &mut seen,
        ));
    }
    items
}

/// The columns of a Python node's inputs, each narrowed to its projection
/// (`bauplan.Model("t", columns=[...])` reads only those).
fn python_input_columns(analysis: &Analysis, node: &crate::analysis::Table) -> Vec<Item> {
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in &node.inputs {
        let Some(id) = input.resolved else { continue };
        let Some(output) = analysis.contracts.output(id) else {
            continue;
        };
        let table = &analysis.tables[id.0].name;
        items.extend(column_items(
            table,
            output,
            input.projection.as_deref(),
            &mut seen,
        ));
    }
    items
}

/// The columns of one output not `seen` yet, each with its type and table as detail.
fn column_items(
    table: &str,
    output: &crate::contracts::Output,
    only: Option<&[(String, crate::source::Span)]>,
    seen: &mut std::collections::HashSet<String>,
) -> Vec<Item> {
    let mut items = Vec::new();
    for column in &output.columns {
        if only.is_some_and(|only| !only.iter().any(|(name, _)| *name == column.name)) {
            continue;
        }
        if !seen.insert(column.name.clone()) {
            continue;
        }
        let ty = column.ty.as_ref().map_or("unknown type".to_owned(), |t| {
            let nullable = if t.nullable { " (nullable)" } else { "" };
            format!("{}{nullable}", display_type(&t.data_type))
        });
        items.push(Item {
            label: column.name.clone(),
            kind: ItemKind::Column,
            detail: format!("{ty} · {table}"),
        });
    }
    items
}

/// The name of the first `def` after the cursor (the function a decorator decorates).
fn next_function(after: &str) -> Option<&str> {
    let at = after.find("def ")?;
    let rest = &after[at + 4..];
    let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|n| !n.is_empty())
}

/// The Python node whose function encloses `at` (the last `def` before it).
fn enclosing_node<'a>(
    analysis: &'a Analysis,
    file: FileId,
    text: &str,
    at: usize,
) -> Option<&'a crate::analysis::Table> {
    let function = enclosing_function(&text[..floor_boundary(text, at.min(text.len()))])?;
    analysis
        .tables
        .iter()
        .filter(|t| t.file == file && t.kind == TableKind::Python)
        .find(|t| t.name == function || text.get(t.span.clone()) == Some(function))
}

/// The columns in scope at a SQL cursor: of the tables read (see [`scope`]) and of the
/// CTEs read, each name once (a qualifier naming a CTE or its alias: that CTE's only).
fn sql_columns(
    analysis: &Analysis,
    file: FileId,
    text: &str,
    qualifier: Option<&str>,
) -> Vec<Item> {
    let tokens = sql_tokens_lenient(text);
    let ctes = cte::ctes(&tokens);
    let aliases = aliases_in(&tokens);
    if let Some(q) = qualifier {
        let name = aliases
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(q))
            .map_or(q, |(_, name)| name.as_str());
        if let Some(items) = cte::named(analysis, file, &ctes, name) {
            return items;
        }
        return columns_of(analysis, &scope(analysis, file, text, Some(q)));
    }
    let mut items = columns_of(analysis, &scope(analysis, file, text, None));
    let mut seen: std::collections::HashSet<String> =
        items.iter().map(|i| i.label.clone()).collect();
    for (_, name) in &aliases {
        for item in cte::named(analysis, file, &ctes, name).unwrap_or_default() {
            if seen.insert(item.label.clone()) {
                items.push(item);
            }
        }
    }
    items
}

/// The tables whose columns are in scope at a SQL cursor: the tables the text reads
/// (narrowed to one by a qualifier) and the node's resolved inputs.
fn scope(analysis: &Analysis, file: FileId, text: &str, qualifier: Option<&str>) -> Vec<TableId> {
    let node_inputs = |table: &crate::analysis::Table| -> Vec<TableId> {
        table.inputs.iter().filter_map(|i| i.resolved).collect()
    };
    let aliases = sql_aliases(text);
    if let Some(q) = qualifier {
        let Some((_, name)) = aliases.iter().find(|(a, _)| a.eq_ignore_ascii_case(q)) else {
            return table_id(analysis, q).into_iter().collect();
        };
        return resolve_read(analysis, file, name).into_iter().collect();
    }
    let mut ids: Vec<TableId> = aliases
        .iter()
        .filter_map(|(_, name)| resolve_read(analysis, file, name))
        .collect();
    for table in analysis.tables.iter().filter(|t| t.file == file) {
        ids.extend(node_inputs(table));
    }
    dedup(ids)
}

/// A table a SQL node reads by `name`: the project's table of that name, or the input of
/// this file's node that the name resolved to (a Source variable, a lake table).
fn resolve_read(analysis: &Analysis, file: FileId, name: &str) -> Option<TableId> {
    table_id(analysis, name).or_else(|| {
        analysis
            .tables
            .iter()
            .filter(|t| t.file == file)
            .flat_map(|t| &t.inputs)
            .find(|i| i.table == name || i.table.ends_with(&format!(".{name}")))
            .and_then(|i| i.resolved)
    })
}

fn dedup(mut ids: Vec<TableId>) -> Vec<TableId> {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    ids
}

/// The name of the last `def` that starts before the cursor.
fn enclosing_function(before: &str) -> Option<&str> {
    let mut search = before;
    loop {
        let at = search.rfind("def ")?;
        if at == 0 || search[..at].ends_with(['\n', ' ', '\t']) {
            let rest = &search[at + 4..];
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            return Some(&rest[..end]).filter(|n| !n.is_empty());
        }
        search = &search[..at];
    }
}

mod cte;
#[cfg(test)]
mod tests;
