//! How deeply inputs may nest. Every tree the compiler builds or hands to a library
//! (Python expressions, SQL expressions and query plans, YAML documents) is walked
//! recursively somewhere: by our own walkers, by DataFusion's planner, by `Drop`. The
//! front ends refuse input nested deeper than [`MAX_NESTING`] levels with one
//! `E0007` diagnostic on the construct, so every tree stays shallow enough for the stack
//! [`crate::check`] runs on.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Deepest nesting the front ends accept: each bracket, call, attribute access,
/// subscript, operator of a chain (`a + b + c` nests twice), `CASE`, set operation and
/// join is one level.
pub const MAX_NESTING: usize = 1000;

/// The `E0007` diagnostic: `construct` (e.g. "this Python expression") nests deeper
/// than `limit` levels at `span`.
pub fn too_deep(file: FileId, span: Span, construct: &str, limit: usize) -> Diagnostic {
    Diagnostic::new(
        Code::NestingTooDeep,
        file,
        span,
        format!("{construct} is nested more than {limit} levels deep"),
    )
    .with_label(format!("level {} starts here", limit + 1))
    .with_help(
        "sluice does not check input nested this deeply: split it up \
         (intermediate variables, CTEs, or more nodes)",
    )
}

/// One bracket (or `CASE ... END`) level of a SQL token stream.
#[derive(Default)]
struct SqlLevel {
    /// Operators since the last `,` (or `WHEN`/`THEN`/`ELSE` in a `CASE`): the depth of
    /// the left-deep expression they build.
    operators: usize,
    /// Set operations, joins and CTEs at this level: each nests the plan one level
    /// deeper.
    relations: usize,
    /// Inside a `FROM` list, where a `,` is a cross join.
    in_from: bool,
}

/// What [`sql_too_deep`] finds in a SQL token stream.
pub struct SqlDepth {
    /// Where nesting first exceeds [`MAX_NESTING`], and what nests there.
    pub too_deep: Option<(sqlparser::tokenizer::Span, &'static str)>,
    /// The most deeply bracketed token (where the SQL parser's recursion limit trips).
    pub deepest: sqlparser::tokenizer::Span,
}

/// Scans a SQL token stream for nesting deeper than [`MAX_NESTING`]: brackets, `CASE`,
/// chains of operators, of set operations and of joins. The bound is conservative (an
/// operator chain of N terms is N levels whatever its precedence).
pub fn sql_too_deep(tokens: &[TokenWithSpan]) -> SqlDepth {
    let mut levels = vec![SqlLevel::default()];
    // The deepest point by brackets, `CASE` and runs of prefix operators (`- - x`,
    // `NOT NOT x`): where the parser's own recursion limit trips.
    let (mut run, mut deepest) = (0usize, 0usize);
    let mut deepest_at = tokens
        .first()
        .map(|t| t.span)
        .unwrap_or(sqlparser::tokenizer::Span::empty());
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    for (at, token) in significant.iter().enumerate() {
        run = if is_operator(&token.token) {
            run + 1
        } else {
            0
        };
        if levels.len() + run > deepest {
            (deepest, deepest_at) = (levels.len() + run, token.span);
        }
        let what = match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                levels.push(SqlLevel::default());
                "this bracket"
            }
            Token::Word(w) if w.keyword == Keyword::CASE => {
                levels.push(SqlLevel::default());
                "this CASE expression"
            }
            Token::RParen | Token::RBracket | Token::RBrace => {
                pop(&mut levels);
                continue;
            }
            Token::Word(w) if w.keyword == Keyword::END => {
                pop(&mut levels);
                continue;
            }
            Token::SemiColon => {
                levels = vec![SqlLevel::default()];
                continue;
            }
            Token::Comma => {
                let level = last(&mut levels);
                level.operators = 0;
                if !level.in_from {
                    continue;
                }
                level.relations += 1;
                "this list of joined tables"
            }
            Token::Word(w) if w.keyword == Keyword::FROM => {
                last(&mut levels).in_from = true;
                continue;
            }
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::SELECT
                        | Keyword::WHERE
                        | Keyword::GROUP
                        | Keyword::HAVING
                        | Keyword::ORDER
                        | Keyword::LIMIT
                        | Keyword::WINDOW
                        | Keyword::QUALIFY
                ) =>
            {
                last(&mut levels).in_from = false;
                continue;
            }
            Token::Word(w)
                if matches!(w.keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE) =>
            {
                last(&mut levels).operators = 0;
                continue;
            }
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::UNION
                        | Keyword::EXCEPT
                        | Keyword::INTERSECT
                        | Keyword::MINUS
                        | Keyword::JOIN
                ) =>
            {
                last(&mut levels).relations += 1;
                "this chain of set operations and joins"
            }
            // `name AS (query)`: a CTE, which may read the one before it.
            Token::Word(w)
                if w.keyword == Keyword::AS
                    && significant
                        .get(at + 1)
                        .is_some_and(|t| t.token == Token::LParen) =>
            {
                last(&mut levels).relations += 1;
                "this chain of common table expressions"
            }
            t if is_operator(t) => {
                last(&mut levels).operators += 1;
                "this expression"
            }
            _ => continue,
        };
        let depth = levels.len()
            + levels
                .iter()
                .map(|l| l.operators + l.relations)
                .sum::<usize>();
        if depth > MAX_NESTING {
            return SqlDepth {
                too_deep: Some((token.span, what)),
                deepest: deepest_at,
            };
        }
    }
    SqlDepth {
        too_deep: None,
        deepest: deepest_at,
    }
}

fn last(levels: &mut Vec<SqlLevel>) -> &mut SqlLevel {
    if levels.is_empty() {
        levels.push(SqlLevel::default());
    }
    let at = levels.len() - 1;
    &mut levels[at]
}

fn pop(levels: &mut Vec<SqlLevel>) {
    if levels.len() > 1 {
        levels.pop();
    }
}

/// Tokens that combine the expression before them with the one after (or wrap it).
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::RLIKE
                | Keyword::REGEXP
                | Keyword::IN
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::DIV
                | Keyword::OVERLAPS
        ),
        Token::Whitespace(_)
        | Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::Comma
        | Token::Period
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace
        | Token::SemiColon
        | Token::Placeholder(_) => false,
        t => !is_literal(t),
    }
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
}
