//! Rename safety: a column a `NATURAL JOIN` or `JOIN ... USING` matches by name refuses a
//! rename, naming the node; a schema rename rewrites the schema's name everywhere Python
//! code uses it (bodies, module-level code, `module.Schema`, modules that see it through
//! `from m import *`), and refuses, naming the file and node, where a string names it.

use std::path::PathBuf;
use std::sync::Arc;

use sluice_compiler::Database;
use sluice_compiler::ide::SymbolIndex;

fn index_of(files: &[(&str, &str)]) -> SymbolIndex {
    let mut db = Database::new(PathBuf::from("/project"));
    for (path, text) in files {
        db.set_file(path, (*text).to_owned());
    }
    let (analysis, sources) = db.analysis();
    SymbolIndex::build(analysis, Arc::clone(&sources), &db.syntax())
}

/// The byte offset of the first `needle` in `path`, plus `delta`.
fn at(
    index: &SymbolIndex,
    path: &str,
    needle: &str,
    delta: usize,
) -> (sluice_compiler::FileId, usize) {
    let file = index.sources().file_id(path).unwrap();
    let text = &index.sources().file(file).text;
    (
        file,
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {path}"))
            + delta,
    )
}

const SCHEMAS: &str = "\
from sluice import Schema, Source

class Orders(Schema):
    order_id: int
    amount: float

class Refunds(Schema):
    order_id: int
    refunded: float

orders = Source(Orders)
refunds = Source(Refunds)
";

#[test]
fn a_natural_join_column_refuses_a_rename_naming_the_node() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "net.sql",
            "SELECT amount - refunded AS net\nFROM orders NATURAL JOIN refunds\n",
        ),
    ]);
    let (file, order_id) = at(&index, "schemas.py", "order_id", 1);
    let refused = index.rename(file, order_id, "id").unwrap_err();
    assert!(refused.0.contains("node `net` (net.sql:2)"), "{refused}");
    assert!(refused.0.contains("`NATURAL JOIN`"), "{refused}");
    // A column only one side has is not matched: its rename goes through.
    let (file, amount) = at(&index, "schemas.py", "amount", 1);
    let edits = index.rename(file, amount, "price").unwrap().unwrap();
    let count: usize = edits.edits.values().map(Vec::len).sum();
    assert_eq!(count, 2, "{edits:?}");
    // At the keyword itself, prepareRename refuses too.
    let (file, natural) = at(&index, "net.sql", "NATURAL", 2);
    assert!(index.prepare_rename(file, natural).is_err());
}

#[test]
fn a_using_join_column_refuses_a_rename_naming_the_node() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "joined.sql",
            "SELECT o.amount, r.refunded FROM orders o JOIN refunds r USING (order_id)\n",
        ),
    ]);
    let (file, order_id) = at(&index, "schemas.py", "order_id", 1);
    let refused = index.rename(file, order_id, "id").unwrap_err();
    assert!(
        refused.0.contains("node `joined` (joined.sql:1)"),
        "{refused}"
    );
}

#[test]
fn a_schema_rename_rewrites_python_uses_and_star_imports() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "nodes.py",
            "\
from schemas import *
import schemas


def big(orders: Orders = orders) -> Orders:
    width = len(Orders.__annotations__) + len(schemas.Orders.__annotations__)
    return orders.filter(orders.amount > width)  # Orders stays in comments


KNOWN = [Orders, schemas.Refunds]
",
        ),
    ]);
    let (file, orders) = at(&index, "schemas.py", "class Orders", 7);
    let edits = index.rename(file, orders, "OrderSchema").unwrap().unwrap();
    let mut lines: Vec<String> = Vec::new();
    for (file, spans) in &edits.edits {
        let f = index.sources().file(*file);
        for (span, new) in spans {
            assert_eq!(&f.text[span.clone()], "Orders");
            assert_eq!(new, "OrderSchema");
            let line = f.line_index.line_col(&f.text, span.start).line;
            lines.push(format!("{}:{line}", f.path));
        }
    }
    lines.sort();
    assert_eq!(
        lines,
        [
            "nodes.py:10",
            "nodes.py:5",
            "nodes.py:5",
            "nodes.py:6",
            "nodes.py:6",
            "schemas.py:11",
            "schemas.py:3",
        ],
        "{edits:?}"
    );
}

#[test]
fn a_schema_named_by_a_string_refuses_the_rename_naming_the_file() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "nodes.py",
            "\
from schemas import Orders, Refunds
import schemas


def big(orders: Orders = orders) -> Orders:
    kind = getattr(schemas, \"Orders\")
    return orders
",
        ),
    ]);
    let (file, orders) = at(&index, "schemas.py", "class Orders", 7);
    let refused = index.rename(file, orders, "OrderSchema").unwrap_err();
    assert!(refused.0.contains("node `big` (nodes.py:6)"), "{refused}");
    assert!(refused.0.contains("the string \"Orders\""), "{refused}");
    // Another schema of the module is not affected.
    let (file, refunds) = at(&index, "schemas.py", "class Refunds", 7);
    assert!(index.rename(file, refunds, "RefundSchema").is_ok());
}
