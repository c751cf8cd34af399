//! SQL front end: the node header comment, one query parsed by sqlparser, and the tables
//! the query reads (CTE names excluded), each with its span in the file.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, ObjectNamePart, Query, Spanned, Statement, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Tokenizer;

use crate::diagnostic::{Code, Diagnostic};
use crate::limits;
use crate::source::{FileId, LineIndex, Span};
use crate::syntax::python::Ident;

/// `-- <output_table>[: <Schema>] [<- <input>, <input>...]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub output: Ident,
    pub schema: Option<Ident>,
    /// `None` when the header has no `<-` part: inputs come from the query.
    pub inputs: Option<Vec<Ident>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// Dotted name as written, identifiers unquoted (`ns.table`).
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectItemInfo {
    /// The output column name the item defines (alias, or column name); `None` for
    /// wildcards and unnamed expressions.
    pub name: Option<String>,
    pub wildcard: bool,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct SqlNode {
    pub header: Option<Header>,
    /// The parsed query; `None` when the file did not parse to exactly one query.
    pub query: Option<Box<Query>>,
    /// Tables the query reads, in source order, CTE names excluded.
    pub reads: Vec<TableRef>,
    /// The first token of the query (where a headerless node is reported).
    pub first_token: Span,
    /// The items of the top-level SELECT list: output name (when the item names one) and
    /// span. Empty when the query's body is not a plain SELECT.
    pub select_items: Vec<SelectItemInfo>,
    /// The file has an error (reported): its output is unknown.
    pub broken: bool,
    /// Bauplan's `-- bauplan: key=value` comment lines before the query.
    pub bauplan: Vec<(String, Ident)>,
    /// The run parameters the query names, `$key` (not `$1`), in source order, each
    /// with its span (the `$` included).
    pub placeholders: Vec<Ident>,
}

/// The run parameter a `$key` placeholder token names (`key`); `None` for any other
/// token and for positional placeholders (`$1`: a position names no parameter).
pub fn run_parameter(token: &sqlparser::tokenizer::Token) -> Option<&str> {
    match token {
        sqlparser::tokenizer::Token::Placeholder(p) => p
            .strip_prefix('$')
            .filter(|k| !k.is_empty() && !k.chars().all(|c| c.is_ascii_digit())),
        _ => None,
    }
}

impl SqlNode {
    /// The output schema the node names: its header's, else Bauplan's
    /// `-- bauplan: output_schema = S`.
    pub fn output_schema(&self) -> Option<&Ident> {
        self.header
            .as_ref()
            .and_then(|h| h.schema.as_ref())
            .or_else(|| {
                self.bauplan
                    .iter()
                    .find(|(k, _)| k == "output_schema")
                    .map(|(_, v)| v)
            })
    }
}

/// The recursion limit of sqlparser's parser (its `DEFAULT_REMAINING_DEPTH`), which
/// DataFusion's parser shares: deeper bracket nesting is `E0007`.
pub const SQL_PARSER_DEPTH: usize = 50;

/// Parses one SQL node file. Never fails: problems come back as diagnostics.
pub fn parse(file: FileId, text: &str, index: &LineIndex) -> (SqlNode, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let header = parse_header(file, text, &mut diagnostics);
    let mut node = SqlNode {
        header,
        bauplan: bauplan_directives(text),
        ..SqlNode::default()
    };
    node.first_token = first_token(text);
    let dialect = GenericDialect {};
    let tokens = match Tokenizer::new(&dialect, text).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(err) => {
            diagnostics.push(syntax_error(file, text, index, &err.into()));
            node.broken = true;
            return (node, diagnostics);
        }
    };
    node.placeholders = tokens
        .iter()
        .filter_map(|t| {
            Some(Ident {
                text: run_parameter(&t.token)?.to_owned(),
                span: to_span(text, index, t.span),
            })
        })
        .collect();
    // Refused before parsing: the parser, DataFusion and `Drop` all recurse on depth.
    let depth = limits::sql_too_deep(&tokens);
    if let Some((span, construct)) = depth.too_deep {
        let construct = format!("{construct} in this SQL query");
        let span = to_span(text, index, span);
        diagnostics.push(limits::too_deep(
            file,
            span,
            &construct,
            limits::MAX_NESTING,
        ));
        node.broken = true;
        return (node, diagnostics);
    }
    let statements = match Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
    {
        Ok(statements) => statements,
        // sqlparser's own limit on brackets, `CASE` and prefix operators.
        Err(ParserError::RecursionLimitExceeded) => {
            let span = to_span(text, index, depth.deepest);
            let construct = "this SQL expression (brackets, CASE and prefix operators)";
            diagnostics.push(limits::too_deep(file, span, construct, SQL_PARSER_DEPTH));
            node.broken = true;
            return (node, diagnostics);
        }
        Err(err) => {
            diagnostics.push(syntax_error(file, text, index, &err));
            node.broken = true;
            return (node, diagnostics);
        }
    };
    let mut statements = statements.into_iter();
    match (statements.next(), statements.next()) {
        (None, _) => diagnostics.push(
            Diagnostic::new(
                Code::SqlNotAQuery,
                file,
                0..0,
                "this SQL file holds no query",
            )
            .with_help("a SQL node is one SELECT (or WITH ... SELECT) query"),
        ),
        (Some(Statement::Query(query)), None) => {
            node.reads = table_refs(&query, text, index);
            node.select_items = select_items(&query, text, index);
            node.query = Some(query);
        }
        (Some(Statement::Query(_)), Some(second)) => {
            let span = to_span(text, index, second.span());
            diagnostics.push(
                Diagnostic::new(
                    Code::SqlNotAQuery,
                    file,
                    span,
                    "a SQL node holds exactly one query, but this file has more than one statement",
                )
                .with_label("second statement")
                .with_help("move each query into a file of its own: one file is one table"),
            );
        }
        (Some(other), _) => {
            let span = to_span(text, index, other.span());
            let keyword = other.to_string();
            let keyword = keyword
                .split_whitespace()
                .next()
                .unwrap_or("statement")
                .to_uppercase();
            diagnostics.push(
                Diagnostic::new(
                    Code::SqlNotAQuery,
                    file,
                    span,
                    format!(
                        "a SQL node must be a query, found {} {keyword} statement",
                        if keyword.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" }
                    ),
                )
                .with_label("not a SELECT query")
                .with_help("sluice writes the node's output table itself: write only the SELECT that computes it"),
            );
        }
    }
    node.broken |= !diagnostics.is_empty();
    (node, diagnostics)
}

/// The first token after comments and white space.
fn first_token(text: &str) -> Span {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            offset += line.len();
            continue;
        }
        let start = offset + (line.len() - trimmed.len());
        return start..token_end(text, start);
    }
    0..0
}

/// Converts a sqlparser span (1-based line and column, end exclusive) to a byte range.
pub(crate) fn to_span(text: &str, index: &LineIndex, span: sqlparser::tokenizer::Span) -> Span {
    if span.start.line == 0 {
        return 0..0;
    }
    let start = index.offset(text, span.start.line as u32, span.start.column as u32);
    let end = index.offset(text, span.end.line as u32, span.end.column as u32);
    start..end.max(start)
}

fn syntax_error(file: FileId, text: &str, index: &LineIndex, err: &ParserError) -> Diagnostic {
    let raw = match err {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the query is nested too deeply".to_owned(),
    };
    // sqlparser appends " at Line: L, Column: C" to its messages.
    let (message, span) = match raw.rfind(" at Line: ") {
        Some(pos) => {
            let location = &raw[pos + " at Line: ".len()..];
            let mut parts = location.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse::<u32>().ok());
            let column = parts.next().and_then(|c| c.trim().parse::<u32>().ok());
            let span = match (line, column) {
                (Some(line), Some(column)) => {
                    let start = index.offset(text, line, column);
                    start..token_end(text, start)
                }
                _ => end_span(text),
            };
            (raw[..pos].to_owned(), span)
        }
        None => (raw, end_span(text)),
    };
    // "Expected: ), found: AS" reads better as "expected `)`, found `AS`".
    let message = match message
        .strip_prefix("Expected: ")
        .and_then(|m| m.rsplit_once(", found: "))
    {
        Some((expected, found)) => {
            let expected = if expected.contains(' ') {
                expected.to_owned()
            } else {
                format!("`{expected}`")
            };
            if found == "EOF" {
                format!("expected {expected}")
            } else {
                format!("expected {expected}, found `{found}`")
            }
        }
        None => message,
    };
    let at_end = span.start >= text.trim_end().len();
    let message = if at_end {
        format!("syntax error: {message} at the end of the query")
    } else {
        format!("syntax error: {message}")
    };
    Diagnostic::new(Code::SqlSyntax, file, span, message)
}

fn end_span(text: &str) -> Span {
    let end = text.trim_end().len();
    end..end
}

fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    let mut chars = rest.char_indices();
    match chars.next() {
        None => start,
        Some((_, c)) if c.is_alphanumeric() || c == '_' => {
            start
                + rest
                    .char_indices()
                    .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                    .map_or(rest.len(), |(i, _)| i)
        }
        Some((_, c)) => start + c.len_utf8(),
    }
}

fn select_items(query: &Query, text: &str, index: &LineIndex) -> Vec<SelectItemInfo> {
    use sqlparser::ast::{Expr, SelectItem, SetExpr};
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    select
        .projection
        .iter()
        .map(|item| {
            let span = to_span(text, index, item.span());
            let (name, wildcard) = match item {
                SelectItem::ExprWithAlias { alias, .. } => (Some(alias.value.clone()), false),
                SelectItem::UnnamedExpr(Expr::Identifier(ident)) => {
                    (Some(ident.value.clone()), false)
                }
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                    (parts.last().map(|p| p.value.clone()), false)
                }
                SelectItem::UnnamedExpr(_) => (None, false),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => (None, true),
                _ => (None, false),
            };
            SelectItemInfo {
                name,
                wildcard,
                span,
            }
        })
        .collect()
}

/// Collects relations and CTE names of a query.
#[derive(Default)]
struct Relations {
    ctes: HashSet<String>,
    relations: Vec<ObjectName>,
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.relations.push(relation.clone());
        ControlFlow::Continue(())
    }
}

/// The dotted name of a relation, identifiers unquoted and case preserved.
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            ObjectNamePart::Function(f) => f.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn table_refs(query: &Query, text: &str, index: &LineIndex) -> Vec<TableRef> {
    let mut visitor = Relations::default();
    let _ = query.visit(&mut visitor);
    visitor
        .relations
        .iter()
        .filter(|r| !(r.0.len() == 1 && visitor.ctes.contains(&object_name(r))))
        .map(|r| TableRef {
            name: object_name(r),
            span: to_span(text, index, r.span()),
        })
        .collect()
}

/// `-- bauplan: name=orders_clean` (and other `key=value` directives) in the leading
/// comments; values keep their spans.
fn bauplan_directives(text: &str) -> Vec<(String, Ident)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some(body) = trimmed.strip_prefix("--") else {
            break;
        };
        let Some(directive) = body.trim_start().strip_prefix("bauplan:") else {
            continue;
        };
        let Some((key, value)) = directive.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let start = line_start + line.rfind(value).unwrap_or(0);
        out.push((
            key.trim().to_owned(),
            Ident {
                text: value.to_owned(),
                span: start..start + value.len(),
            },
        ));
    }
    out
}

/// Finds and parses the header: the first line of the leading comment block (the comment
/// lines before any SQL) that has a header's shape, a `:` or a `<-`, and matches the
/// grammar. Other comment lines are ordinary comments and are skipped (so a
/// `-- parent_table.sql` line above the header does not hide it); lines starting with
/// `-- bauplan:` are Bauplan directives, not headers. A header-shaped line holding `<-`
/// that does not match the grammar is a malformed header (E0004) and ends the search.
fn parse_header(file: FileId, text: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Header> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let body = trimmed.strip_prefix("--")?;
        if body.trim_start().starts_with("bauplan:") || !(body.contains(':') || body.contains("<-"))
        {
            continue;
        }
        let body_start = line_start + line.find("--").unwrap_or(0) + 2;
        let body = &text[body_start..line_start + line.trim_end().len()];
        match HeaderParser::new(body, body_start).header() {
            Ok(header) => return Some(header),
            Err(err) if body.contains("<-") => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::SqlHeader,
                        file,
                        err.span,
                        format!("malformed node header: {}", err.message),
                    )
                    .with_label(err.label)
                    .with_help("the header reads `-- output_table[: Schema] [<- input, input...]`"),
                );
                return None;
            }
            // An ordinary comment that happens to hold a `:`, not a header.
            Err(_) => {}
        }
    }
    None
}

struct HeaderError {
    span: Span,
    message: String,
    label: String,
}

/// A tiny recursive-descent parser for the header grammar.
struct HeaderParser<'a> {
    text: &'a str,
    base: usize,
    pos: usize,
}

impl<'a> HeaderParser<'a> {
    fn new(text: &'a str, base: usize) -> Self {
        HeaderParser { text, base, pos: 0 }
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with([' ', '\t', '\r']) {
            self.pos += 1;
        }
    }

    fn error(&self, message: &str, label: &str) -> HeaderError {
        let start = self.base + self.pos;
        let rest = &self.text[self.pos..];
        let len = if rest.starts_with("<-") {
            2
        } else {
            match rest.chars().next() {
                Some(c) if c.is_alphanumeric() || c == '_' => rest
                    .char_indices()
                    .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
                    .map_or(rest.len(), |(i, _)| i),
                Some(c) if !c.is_whitespace() => c.len_utf8(),
                _ => 0,
            }
        };
        HeaderError {
            span: start..start + len,
            message: message.to_owned(),
            label: label.to_owned(),
        }
    }

    /// `ident(.ident)*`
    fn name(&mut self, what: &str) -> Result<Ident, HeaderError> {
        self.skip_ws();
        let start = self.pos;
        loop {
            let rest = &self.text[self.pos..];
            let mut chars = rest.chars();
            match chars.next() {
                Some(c) if c.is_alphabetic() || c == '_' => {}
                _ => {
                    return Err(self.error(
                        &format!("expected {what}"),
                        &format!("expected {what} here"),
                    ));
                }
            }
            let len = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(rest.len(), |(i, _)| i);
            self.pos += len;
            if self.text[self.pos..].starts_with('.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(Ident {
            text: self.text[start..self.pos].to_owned(),
            span: self.base + start..self.base + self.pos,
        })
    }

    fn header(mut self) -> Result<Header, HeaderError> {
        let output = self.name("the output table name")?;
        self.skip_ws();
        let mut schema = None;
        if self.text[self.pos..].starts_with(':') {
            self.pos += 1;
            schema = Some(self.name("a schema name after `:`")?);
            self.skip_ws();
        }
        let mut inputs = None;
        if self.text[self.pos..].starts_with("<-") {
            self.pos += 2;
            let mut list = vec![self.name("an input table after `<-`")?];
            loop {
                self.skip_ws();
                if self.text[self.pos..].starts_with(',') {
                    self.pos += 1;
                    list.push(self.name("an input table after `,`")?);
                } else {
                    break;
                }
            }
            inputs = Some(list);
        }
        self.skip_ws();
        if self.pos < self.text.len() {
            let starts_name =
                self.text[self.pos..].starts_with(|c: char| c.is_alphabetic() || c == '_');
            return Err(match (&inputs, starts_name) {
                (Some(_), true) => self.error(
                    "expected `,` between inputs",
                    "`,` expected before this input",
                ),
                (Some(_), false) => self.error(
                    "unexpected text after the inputs",
                    "expected `,` or the end of the header",
                ),
                (None, _) => self.error(
                    "unexpected text",
                    "expected `:`, `<-` or the end of the header",
                ),
            });
        }
        Ok(Header {
            output,
            schema,
            inputs,
            span: self.base..self.base + self.text.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (SqlNode, Vec<Diagnostic>) {
        parse(FileId(0), text, &LineIndex::new(text))
    }

    #[test]
    fn header_and_reads() {
        let text = "-- parent_table: ParentSchema <- raw_table, ns.other\nWITH t AS (SELECT * FROM raw_table)\nSELECT a FROM t JOIN ns.other o ON t.a = o.a\n";
        let (node, diags) = parse_str(text);
        assert!(diags.is_empty(), "{diags:?}");
        let h = node.header.unwrap();
        assert_eq!(h.output.text, "parent_table");
        assert_eq!(&text[h.output.span.clone()], "parent_table");
        assert_eq!(h.schema.unwrap().text, "ParentSchema");
        let inputs: Vec<_> = h.inputs.unwrap().into_iter().map(|i| i.text).collect();
        assert_eq!(inputs, ["raw_table", "ns.other"]);
        let reads: Vec<_> = node
            .reads
            .iter()
            .map(|r| (r.name.as_str(), &text[r.span.clone()]))
            .collect();
        assert_eq!(
            reads,
            [("raw_table", "raw_table"), ("ns.other", "ns.other")]
        );
    }

    #[test]
    fn ordinary_comments_are_not_headers() {
        let (node, diags) = parse_str("-- totals per customer, daily\nSELECT 1");
        assert!(diags.is_empty());
        assert!(node.header.is_none());
    }

    #[test]
    fn comments_before_the_header_are_skipped() {
        let text =
            "-- parent_table.sql\n-- Note: totals per day\n\n-- out: S <- raw\nSELECT * FROM raw";
        let (node, diags) = parse_str(text);
        assert!(diags.is_empty(), "{diags:?}");
        let h = node.header.expect("the header on line 4");
        assert_eq!(h.output.text, "out");
        assert_eq!(h.schema.unwrap().text, "S");
    }

    #[test]
    fn a_bare_name_comment_is_not_a_header() {
        let (node, diags) = parse_str("-- revenue\nSELECT 1");
        assert!(diags.is_empty());
        assert!(node.header.is_none());
    }

    #[test]
    fn the_header_is_in_the_leading_comments_only() {
        let (node, _) = parse_str("SELECT 1\n-- out: S <- raw\n");
        assert!(node.header.is_none());
    }

    #[test]
    fn malformed_header_is_located() {
        let text = "-- out: <- a\nSELECT * FROM a";
        let (_, diags) = parse_str(text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::SqlHeader);
        assert_eq!(&text[diags[0].span.clone()], "<-");
    }

    #[test]
    fn syntax_error_points_at_token() {
        let text = "SELECT a,\nFROM t WHERE";
        let (_, diags) = parse_str(text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::SqlSyntax);
    }

    #[test]
    fn two_statements() {
        let (_, diags) = parse_str("SELECT 1; SELECT 2");
        assert_eq!(diags[0].code, Code::SqlNotAQuery);
    }
}
