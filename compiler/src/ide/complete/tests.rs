//! Completion contexts on partial and broken text: `|` marks the cursor.

use super::{Expected, context, sql_aliases};
use crate::source::FileKind;

fn at(kind: FileKind, marked: &str) -> Option<(Expected, String)> {
    let cursor = marked.find('|').expect("a cursor");
    let text = marked.replacen('|', "", 1);
    let ctx = context(kind, &text, cursor)?;
    Some((ctx.expected, text[ctx.word_start..cursor].to_owned()))
}

fn sql(marked: &str) -> Option<Expected> {
    at(FileKind::Sql, marked).map(|(e, _)| e)
}

fn py(marked: &str) -> Option<Expected> {
    at(FileKind::Python, marked).map(|(e, _)| e)
}

fn column() -> Option<Expected> {
    Some(Expected::Column { qualifier: None })
}

fn qualified(q: &str) -> Option<Expected> {
    Some(Expected::Column {
        qualifier: Some(q.to_owned()),
    })
}

#[test]
fn sql_clauses() {
    assert_eq!(sql("SELECT |"), column());
    assert_eq!(sql("SELECT a, |"), column());
    assert_eq!(sql("SELECT a, am|"), column());
    assert_eq!(
        sql("SELECT a |"),
        None,
        "after an expression: an alias or a keyword"
    );
    assert_eq!(sql("SELECT a FROM |"), Some(Expected::Table));
    assert_eq!(sql("SELECT a FROM ord|"), Some(Expected::Table));
    assert_eq!(sql("SELECT a FROM orders |"), None, "an alias");
    assert_eq!(sql("SELECT a FROM orders AS |"), None);
    assert_eq!(sql("SELECT a FROM orders o JOIN |"), Some(Expected::Table));
    assert_eq!(sql("SELECT a FROM x, |"), Some(Expected::Table));
    assert_eq!(sql("SELECT a FROM x WHERE |"), column());
    assert_eq!(sql("SELECT a FROM x WHERE a > 1 AND |"), column());
    assert_eq!(sql("SELECT a FROM x o JOIN y l ON |"), column());
    assert_eq!(sql("SELECT a FROM x GROUP BY |"), column());
    assert_eq!(sql("SELECT a FROM x ORDER BY a, |"), column());
    assert_eq!(sql("SELECT sum(|"), column());
    assert_eq!(sql("SELECT o.|"), qualified("o"));
    assert_eq!(sql("SELECT o.am|"), qualified("o"));
    assert_eq!(sql("SELECT a FROM x o WHERE o.|"), qualified("o"));
}

#[test]
fn sql_strings_comments_and_headers() {
    assert_eq!(sql("SELECT 'o.|"), None, "inside a string literal");
    assert_eq!(sql("SELECT a -- |"), None, "inside a comment");
    assert_eq!(sql("-- out: |"), Some(Expected::Schema));
    assert_eq!(sql("-- out: Order|"), Some(Expected::Schema));
    assert_eq!(sql("-- out: S <- |"), Some(Expected::Table));
    assert_eq!(sql("-- out: S <- a, |"), Some(Expected::Table));
    assert_eq!(sql("-- out <- a, or|"), Some(Expected::Table));
    assert_eq!(sql("-- out: S <- a\nSELECT |"), column());
    assert_eq!(
        sql("SELECT a\n-- out: |"),
        None,
        "a comment after the query is no header"
    );
}

#[test]
fn sql_non_ascii_before_cursor() {
    // Multi-byte text before the cursor: offsets are bytes, the word is found whole.
    let (e, word) = at(FileKind::Sql, "SELECT 'Zürich – café' AS é, o.prë|").unwrap();
    assert_eq!(
        e,
        Expected::Column {
            qualifier: Some("o".into())
        }
    );
    assert_eq!(word, "prë");
    // A cursor inside a multi-byte character is moved to its start, never a panic.
    let text = "SELECT ü";
    for i in 0..=text.len() {
        let _ = context(FileKind::Sql, text, i);
    }
}

#[test]
fn sql_aliases_of_broken_text() {
    assert_eq!(
        sql_aliases("SELECT o.| FROM raw.orders AS o, stores JOIN lines l ON l.id = o.id"),
        vec![
            ("o".to_owned(), "raw.orders".to_owned()),
            ("stores".to_owned(), "stores".to_owned()),
            ("l".to_owned(), "lines".to_owned()),
        ]
    );
    assert_eq!(
        sql_aliases("SELECT * FROM orders WHERE name = 'unterminated"),
        vec![("orders".to_owned(), "orders".to_owned())]
    );
}

#[test]
fn python_contexts() {
    assert_eq!(py("    return x.select(col(\"|"), column());
    assert_eq!(py("    return x.select(pl.col(\"am|"), column());
    assert_eq!(py("    return x.select(col('|"), column());
    assert_eq!(py("def f(x: S = Table(\"|"), Some(Expected::Table));
    assert_eq!(py("m = bauplan.Model(\"|"), Some(Expected::Table));
    assert_eq!(
        py("def f(data=bauplan.Model(\"orders\", columns=[\"id\", \"|"),
        Some(Expected::ColumnOf {
            table: "orders".into()
        })
    );
    assert_eq!(
        py("@bauplan.model(columns=[\"|"),
        Some(Expected::OutputColumn)
    );
    assert_eq!(py("x = f(columns=[\"|"), column());
    assert_eq!(py("def f(orders: |"), Some(Expected::Schema));
    assert_eq!(py("def f(orders: Order|"), Some(Expected::Schema));
    assert_eq!(
        py("def f(\n    orders: OrderSchema = orders,\n    lines: |"),
        Some(Expected::Schema)
    );
    assert_eq!(py("def f(orders: OrderSchema = |"), Some(Expected::Table));
    assert_eq!(
        py("def f(orders: OrderSchema = ord|"),
        Some(Expected::Table)
    );
    assert_eq!(
        py("def f(orders: OrderSchema) -> |"),
        Some(Expected::Schema)
    );
    assert_eq!(py("def f(orders: OrderSchema) -> Out:\n    x = |"), None);
    assert_eq!(py("class S(Schema):\n    amount: |"), Some(Expected::Type));
    assert_eq!(
        py("class S(Schema):\n    order_id: int\n    amount: Fl|"),
        Some(Expected::Type)
    );
    assert_eq!(
        py("def f():\n    amount: |"),
        None,
        "a local annotation is no schema"
    );
    assert_eq!(py("x = 1  # col(|"), None);
    assert_eq!(py("print(\"|"), None);
}
