//! Python syntax errors worded as Python words them. tree-sitter only says where it gave
//! up (an ERROR node and its first token); the usual mistakes are recognised from the
//! text around it: a compound statement's line without its `:` ("expected `:`"), a
//! bracket that is never closed, two items with no `,` between them, and `=` where a
//! condition compares.

use crate::source::Span;

/// A better wording of one syntax error.
pub(super) struct Explained {
    pub span: Span,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

const COMPOUND: [&str; 13] = [
    "def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally",
    "async", "match",
];

const STATEMENT_STARTS: [&str; 14] = [
    "return", "def", "class", "if", "for", "while", "import", "from", "with", "try", "elif",
    "else", "pass", "raise",
];

/// Explains the ERROR node spanning `error` whose first token spans `token`.
pub(super) fn explain(text: &str, error: Span, token: Span) -> Option<Explained> {
    let token_text = text.get(token.clone())?;
    let scan = scan(text);
    // A bracket that is never closed, opened before the error ends.
    if let Some(&open) = scan
        .unclosed
        .iter()
        .find(|&&p| p < error.end.max(token.end))
    {
        let bracket = &text[open..open + 1];
        return Some(Explained {
            span: open..open + 1,
            message: format!("syntax error: `{bracket}` was never closed"),
            label: "opened here".to_owned(),
            help: Some(format!("close it with `{}`", closer(bracket))),
        });
    }
    // A compound statement's line without its `:`: the error's line or the one before.
    let token_line = line_start(text, token.start);
    let mut lines = vec![line_start(text, error.start), token_line];
    if let Some(prev) = previous_line(text, token_line) {
        lines.push(prev);
    }
    for start in lines {
        if let Some(explained) = missing_colon(text, start, &scan) {
            return Some(explained);
        }
    }
    // `if x = 1:`
    if token_text == "=" {
        let line = text[token_line..].trim_start();
        if ["if ", "elif ", "while "]
            .iter()
            .any(|k| line.starts_with(k))
        {
            return Some(Explained {
                span: token,
                message: "syntax error: `=` assigns, it does not compare".to_owned(),
                label: "`=` in a condition".to_owned(),
                help: Some(
                    "compare with `==` (or assign inside the condition with `:=`)".to_owned(),
                ),
            });
        }
    }
    // `[col("a") col("b")]`: two items with no `,` between them.
    let starts_item = token_text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || "\"'([{".contains(c));
    let before = text[..token.start].trim_end();
    let ends_item = before
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || "\"')]}".contains(c));
    let last_word = before
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    let is_keyword = [
        "and", "or", "not", "in", "is", "if", "else", "for", "lambda",
    ]
    .contains(&last_word);
    if starts_item && ends_item && !is_keyword && scan.depth_at(token.start) > 0 {
        let shown = token_text.lines().next().unwrap_or(token_text);
        return Some(Explained {
            span: token,
            message: format!("syntax error: expected `,` before `{shown}`"),
            label: "two items with no `,` between them".to_owned(),
            help: Some("separate the items with `,` (perhaps you forgot a comma?)".to_owned()),
        });
    }
    // A statement keyword inside brackets that are closed only later.
    if STATEMENT_STARTS.contains(&token_text) && scan.depth_at(token.start) > 0 {
        return Some(Explained {
            span: token,
            message: format!("syntax error: `{token_text}` inside unclosed brackets"),
            label: "a new statement before the brackets above are closed".to_owned(),
            help: None,
        });
    }
    None
}

fn closer(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
        _ => "}",
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The start of the last non-blank line before the line starting at `start`.
fn previous_line(text: &str, start: usize) -> Option<usize> {
    let mut end = start.checked_sub(1)?;
    loop {
        let s = line_start(text, end);
        if !text[s..end].trim().is_empty() {
            return Some(s);
        }
        end = s.checked_sub(1)?;
    }
}

/// `def f(x)` / `class A(Schema)` / `if x` ... with no `:` at the end of the line.
fn missing_colon(text: &str, start: usize, scan: &Scan) -> Option<Explained> {
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let code_end = scan.comment_at(start, end).unwrap_or(end);
    let line = text[start..code_end].trim_end();
    let indent = line.len() - line.trim_start().len();
    let body = line.trim_start();
    let keyword = body
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    if !COMPOUND.contains(&keyword) || body.ends_with(':') || body.ends_with('\\') {
        return None;
    }
    // Inside brackets that go on to the next line: not the end of the statement.
    let line_end = start + line.len();
    if scan.depth_at(line_end) != scan.depth_at(start) {
        return None;
    }
    // `else` and friends stand alone; the others take an expression or a name.
    let after = &body[keyword.len()..];
    if matches!(keyword, "else" | "try" | "finally") && !after.trim().is_empty() {
        return None;
    }
    let _ = indent;
    Some(Explained {
        span: line_end..line_end,
        message: "syntax error: expected `:`".to_owned(),
        label: format!("`:` expected at the end of this `{keyword}` line"),
        help: Some(format!("a `{keyword}` line ends with `:`")),
    })
}

/// Brackets and comments of a file, skipping strings.
struct Scan {
    /// Byte offsets of brackets never closed (or closed by a bracket of another kind).
    unclosed: Vec<usize>,
    /// `(offset, depth after it)` at every bracket.
    depths: Vec<(usize, usize)>,
    /// Byte offsets of `#` starting a comment.
    comments: Vec<usize>,
}

impl Scan {
    /// The bracket depth just before byte `at`.
    fn depth_at(&self, at: usize) -> usize {
        let i = self.depths.partition_point(|&(p, _)| p < at);
        if i == 0 { 0 } else { self.depths[i - 1].1 }
    }

    fn comment_at(&self, start: usize, end: usize) -> Option<usize> {
        let i = self.comments.partition_point(|&p| p < start);
        self.comments.get(i).copied().filter(|&p| p < end)
    }
}

fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Scan {
        unclosed: Vec::new(),
        depths: Vec::new(),
        comments: Vec::new(),
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                out.comments.push(i);
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let triple = bytes[i..].starts_with(&[q, q, q]);
                i += if triple { 3 } else { 1 };
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if triple && bytes[i..].starts_with(&[q, q, q]) {
                        i += 3;
                        break;
                    }
                    if !triple && (bytes[i] == q || bytes[i] == b'\n') {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                stack.push(i);
                out.depths.push((i, stack.len()));
            }
            c @ (b')' | b']' | b'}') => {
                if let Some(open) = stack.pop() {
                    let expected = match bytes[open] {
                        b'(' => b')',
                        b'[' => b']',
                        _ => b'}',
                    };
                    if expected != c {
                        out.unclosed.push(open);
                    }
                }
                out.depths.push((i, stack.len()));
            }
            _ => {}
        }
        i += 1;
    }
    out.unclosed.extend(stack);
    out.unclosed.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::super::python::parse;
    use crate::source::FileId;

    fn message(text: &str) -> (String, String) {
        let (_, diags) = parse(FileId(0), text);
        let d = diags.first().expect("a syntax error");
        (d.message.clone(), text[d.span.clone()].to_owned())
    }

    #[test]
    fn missing_colons() {
        for text in [
            "def f(x)\n    return x\n",
            "class A(Schema)\n    x: int\n",
            "def f(x):\n    if x > 1\n        return x\n",
            "for x in y  # loop\n    pass\n",
        ] {
            assert_eq!(message(text).0, "syntax error: expected `:`", "{text:?}");
        }
    }

    #[test]
    fn unclosed_bracket() {
        let (m, at) = message("def g(x):\n    return (x + 1\n\ny = 2\n");
        assert_eq!(m, "syntax error: `(` was never closed");
        assert_eq!(at, "(");
    }

    #[test]
    fn missing_comma() {
        let (m, at) =
            message("def h(df):\n    return df.agg([col(\"a\").sum() col(\"b\").sum()])\n");
        assert_eq!(m, "syntax error: expected `,` before `col`");
        assert_eq!(at, "col");
    }

    #[test]
    fn assignment_in_a_condition() {
        let (m, at) = message("def k(x):\n    if x = 1:\n        return x\n");
        assert_eq!(m, "syntax error: `=` assigns, it does not compare");
        assert_eq!(at, "=");
    }

    #[test]
    fn strings_and_comments_hold_no_brackets() {
        let (m, _) = message("x = \"(\"  # [\ndef f(x)\n    return x\n");
        assert_eq!(m, "syntax error: expected `:`");
    }
}
