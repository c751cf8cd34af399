//! A lexer-level scan of Python text for what the syntax tree does not keep: the names
//! and string literals of function bodies and module-level code, with their spans
//! (comments skipped). Used where the exact position of a name in a body matters: a
//! schema rename ([`crate::ide`]), the "filter out nulls" fix of a Polars body.

use crate::source::Span;

/// A token of Python text, as far as name uses need one.
#[derive(Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// An identifier, with the identifier before it when a `.` separates them;
    /// `attribute` when a `.` precedes it at all (`f().x` too).
    Name {
        text: &'a str,
        after: Option<&'a str>,
        attribute: bool,
    },
    /// A string literal's content (`f`: an f-string).
    Str { text: &'a str, f: bool },
}

/// The names and string literals of Python text, with their spans (a string's content,
/// without prefix and quotes); comments skipped.
pub fn tokens(text: &str) -> Vec<(Span, Token<'_>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The last name and whether a `.` followed it.
    let mut last_name: Option<&str> = None;
    let mut dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if c == b'.' {
            dot = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() || c == b'\\' {
            i += 1;
            continue;
        }
        if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80)
            {
                i += 1;
            }
            while !text.is_char_boundary(i) {
                i += 1;
            }
            let word = &text[start..i];
            // A string prefix (`f"`, `rb'`) belongs to the string.
            if i < bytes.len()
                && (bytes[i] == b'"' || bytes[i] == b'\'')
                && word.len() <= 2
                && word.chars().all(|c| "rRbBuUfF".contains(c))
            {
                let f = word.contains(['f', 'F']);
                i = string(text, i, f, &mut out);
                last_name = None;
                dot = false;
                continue;
            }
            out.push((
                start..i,
                Token::Name {
                    text: word,
                    after: if dot { last_name } else { None },
                    attribute: dot,
                },
            ));
            last_name = Some(word);
            dot = false;
            continue;
        }
        if c == b'"' || c == b'\'' {
            i = string(text, i, false, &mut out);
        } else {
            i += 1;
        }
        last_name = None;
        dot = false;
    }
    out
}

/// Reads the string literal whose quote is at `at`; returns the offset after it.
fn string<'a>(text: &'a str, at: usize, f: bool, out: &mut Vec<(Span, Token<'a>)>) -> usize {
    let bytes = text.as_bytes();
    let quote = bytes[at];
    let triple = bytes.get(at..at + 3) == Some(&[quote, quote, quote][..]);
    let open = if triple { 3 } else { 1 };
    let start = at + open;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' if !triple => break,
            q if q == quote && (!triple || bytes.get(i..i + 3) == Some(&[q, q, q][..])) => {
                out.push((
                    start..i,
                    Token::Str {
                        text: &text[start..i],
                        f,
                    },
                ));
                return i + open;
            }
            _ => i += 1,
        }
    }
    i.min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name<'a>(text: &'a str, after: Option<&'a str>) -> Token<'a> {
        Token::Name {
            text,
            after,
            attribute: after.is_some(),
        }
    }

    #[test]
    fn names_strings_and_comments() {
        let text = "x = s.Orders  # Orders\ny = f\"{Orders}\" + 'Orders' + \"\"\"a\nOrders\"\"\"\n";
        let got: Vec<_> = tokens(text).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            got,
            vec![
                name("x", None),
                name("s", None),
                name("Orders", Some("s")),
                name("y", None),
                Token::Str {
                    text: "{Orders}",
                    f: true
                },
                Token::Str {
                    text: "Orders",
                    f: false
                },
                Token::Str {
                    text: "a\nOrders",
                    f: false
                },
            ]
        );
    }
}
