//! Quick fixes that add text rather than rename a name: declare a `Source` for an
//! unknown lake table ([`source`]), add a produced column to the contract that lacks it
//! ([`mod@column`]), and filter a nullable column's nulls in a SQL node ([`nulls`]). Each is
//! made where its diagnostic is, and each leaves the project without that diagnostic
//! (`compiler/tests/fixes.rs` applies every fix and checks again).

pub(crate) mod column;
pub(crate) mod nulls;
pub(crate) mod source;

/// Python's keywords: not usable as a variable or a column declared `name: type`.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// A name Python accepts as an identifier (ASCII letters, digits and `_`; not a keyword).
pub(crate) fn is_python_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !PYTHON_KEYWORDS.contains(&name)
}

/// The text from `at` to the end of its line (without the line break).
pub(crate) fn line_after(text: &str, at: usize) -> &str {
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[at..end].trim_end_matches('\r')
}
