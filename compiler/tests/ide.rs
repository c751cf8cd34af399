//! The symbol index (`sluice_compiler::ide`): what SQL identifiers resolve to, where a
//! column's identity ends, and that no query panics at any position of any fixture
//! project.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_compiler::ide::{Symbol, SymbolIndex};
use sluice_compiler::{Database, FileId};

fn index_of(files: &[(&str, &str)]) -> SymbolIndex {
    let mut db = Database::new(PathBuf::from("/project"));
    for (path, text) in files {
        db.set_file(path, (*text).to_owned());
    }
    index(&mut db)
}

fn index(db: &mut Database) -> SymbolIndex {
    let (analysis, sources) = db.analysis();
    SymbolIndex::build(analysis, Arc::clone(&sources), &db.syntax())
}

fn file(index: &SymbolIndex, path: &str) -> FileId {
    index.sources().file_id(path).unwrap()
}

/// The byte offset of the `nth` match of `needle` in `path`, plus `delta`.
fn at(index: &SymbolIndex, path: &str, needle: &str, nth: usize, delta: usize) -> usize {
    let text = &index.sources().file(file(index, path)).text;
    text.match_indices(needle).nth(nth).unwrap().0 + delta
}

/// `path:start-end «text»` of every reference of the symbol at a position.
fn references(index: &SymbolIndex, path: &str, offset: usize) -> Vec<String> {
    index
        .references(file(index, path), offset, true)
        .into_iter()
        .map(|l| {
            let f = index.sources().file(l.file);
            format!(
                "{}:{}-{} «{}»",
                f.path,
                l.span.start,
                l.span.end,
                &f.text[l.span.clone()]
            )
        })
        .collect()
}

const SCHEMAS: &str = "\
from sluice import Schema, Source

class Orders(Schema):
    order_id: int
    amount: float

class Refunds(Schema):
    order_id: int
    amount: float

orders = Source(Orders)
refunds = Source(Refunds)
";

#[test]
fn sql_identifiers_resolve_through_aliases_and_the_inputs_outputs() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "net.sql",
            "SELECT o.order_id, o.amount - r.amount AS net, o.\"amount\" AS quoted\n\
             FROM orders o JOIN refunds r ON o.order_id = r.order_id\n",
        ),
        (
            "totals.sql",
            "SELECT amount AS total FROM orders WHERE amount > 0\n",
        ),
        (
            "ctes.sql",
            "WITH t AS (SELECT amount * 2 AS amount FROM refunds) SELECT amount FROM t\n",
        ),
    ]);
    let refunds_amount = at(&index, "schemas.py", "amount", 1, 0);
    assert_eq!(
        references(&index, "schemas.py", refunds_amount),
        ["schemas.py:139-145 «amount»", "net.sql:32-38 «amount»"],
        "`r.amount` is Refunds.amount; the CTE's computed `amount` shadows it"
    );
    let orders_amount = at(&index, "schemas.py", "amount", 0, 0);
    let refs = references(&index, "schemas.py", orders_amount);
    assert_eq!(
        refs,
        [
            "schemas.py:79-85 «amount»",
            "net.sql:21-27 «amount»",
            "net.sql:50-56 «amount»",
            "totals.sql:7-13 «amount»",
            "totals.sql:41-47 «amount»",
        ],
        "a quoted identifier is found inside its quotes"
    );
    // `amount AS total` is a new column: its uses are not `amount`'s.
    let total = at(&index, "totals.sql", "total", 0, 1);
    assert_eq!(
        references(&index, "totals.sql", total),
        ["totals.sql:17-22 «total»"]
    );
    let renamed = index
        .rename(file(&index, "schemas.py"), orders_amount, "price")
        .unwrap()
        .unwrap();
    let edited: usize = renamed.edits.values().map(Vec::len).sum();
    assert_eq!(edited, 5);
    assert!(renamed.file_renames.is_empty());
}

#[test]
fn an_unqualified_column_two_inputs_have_is_not_guessed() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "both.sql",
            "SELECT amount FROM orders o JOIN refunds r ON o.order_id = r.order_id\n",
        ),
    ]);
    let amount = at(&index, "both.sql", "amount", 0, 2);
    assert!(index.at(file(&index, "both.sql"), amount).is_none());
    assert!(index.hover(file(&index, "both.sql"), amount).is_none());
}

/// Bauplan's `TableField(doc=...)` documents a column: hover shows it, on the
/// declaration and where a SQL model reads the column; and the schema a SQL model names
/// in `-- bauplan: output_schema = S` is a reference of `S`.
#[test]
fn a_table_field_doc_is_in_the_hover_and_output_schema_is_a_reference() {
    let models = "from typing import Annotated\nimport bauplan\n\n\
        class Rides(bauplan.TableSchema):\n    \
        zone: Annotated[bauplan.Int64, bauplan.TableField(doc=\"Pickup zone, as in the city's map.\")]\n\n\
        class Totals(bauplan.TableSchema):\n    zone: bauplan.Int64\n\n\
        @bauplan.model()\n\
        def rides(raw: Annotated[object, bauplan.Model(\"raw\")]) -> Annotated[object, Rides]:\n    return raw\n";
    let index = index_of(&[
        ("models.py", models),
        (
            "totals.sql",
            "-- bauplan: output_schema = Totals\nSELECT zone FROM rides\n",
        ),
    ]);
    let decl = at(&index, "models.py", "zone", 0, 1);
    let (_, text) = index.hover(file(&index, "models.py"), decl).unwrap();
    assert!(
        text.contains("Pickup zone, as in the city's map."),
        "{text}"
    );
    let read = at(&index, "totals.sql", "zone", 0, 1);
    let (_, text) = index.hover(file(&index, "totals.sql"), read).unwrap();
    assert!(text.contains("Pickup zone"), "{text}");
    let totals = at(&index, "models.py", "Totals", 0, 1);
    assert_eq!(
        references(&index, "models.py", totals),
        ["models.py:183-189 «Totals»", "totals.sql:28-34 «Totals»"]
    );
}

#[test]
fn a_using_join_column_refuses_a_rename_of_one_side() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        (
            "using.sql",
            "SELECT o.amount FROM orders o JOIN refunds r USING (order_id)\n",
        ),
    ]);
    let order_id = at(&index, "schemas.py", "order_id", 0, 1);
    let refused = index
        .rename(file(&index, "schemas.py"), order_id, "id")
        .unwrap_err();
    assert!(refused.0.contains("`JOIN ... USING` column"), "{refused}");
    assert!(refused.0.contains("using.sql:1"), "{refused}");
}

#[test]
fn a_copy_carries_the_column_downstream_and_a_computation_ends_it() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        ("copied.sql", "SELECT order_id, amount FROM orders\n"),
        ("reads_copy.sql", "SELECT amount FROM copied\n"),
        (
            "doubled.sql",
            "SELECT order_id, amount * 2 AS amount FROM orders\n",
        ),
        ("reads_doubled.sql", "SELECT amount FROM doubled\n"),
    ]);
    let at_orders = at(&index, "schemas.py", "amount", 0, 0);
    let refs = references(&index, "schemas.py", at_orders);
    assert!(
        refs.iter().any(|r| r.starts_with("reads_copy.sql")),
        "{refs:?}"
    );
    assert!(
        !refs.iter().any(|r| r.starts_with("reads_doubled.sql")),
        "{refs:?}"
    );
    let doubled = at(&index, "reads_doubled.sql", "amount", 0, 0);
    let o = index
        .at(file(&index, "reads_doubled.sql"), doubled)
        .unwrap();
    let def = index.definition(o.file, doubled);
    let f = index.sources().file(def[0].file);
    assert_eq!(
        (f.path.as_str(), &f.text[def[0].span.clone()]),
        ("doubled.sql", "amount"),
        "an undeclared computed column is defined by its select item"
    );
    assert!(matches!(o.symbol, Symbol::Column(_)));
}

#[test]
fn a_table_name_from_the_file_is_a_file_rename() {
    let index = index_of(&[
        ("schemas.py", SCHEMAS),
        ("nested/big.sql", "SELECT * FROM orders WHERE amount > 10\n"),
        ("reads_big.sql", "SELECT order_id FROM big\n"),
    ]);
    let big = at(&index, "reads_big.sql", "big", 0, 1);
    let edits = index
        .rename(file(&index, "reads_big.sql"), big, "large")
        .unwrap()
        .unwrap();
    assert_eq!(
        edits.file_renames,
        [(
            file(&index, "nested/big.sql"),
            "nested/large.sql".to_owned()
        )]
    );
    let err = index
        .rename(file(&index, "reads_big.sql"), big, "orders")
        .unwrap_err();
    assert_eq!(err.0, "a table named `orders` already exists");
}

fn fixture_projects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/check");
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../lsp/tests/fixtures/navigate"));
    out.sort();
    out
}

/// Every query at every position (and past the end) of every fixture answers
/// without panicking, and every edit a rename proposes lies on a char boundary.
#[test]
fn every_query_at_every_position_of_every_fixture() {
    for project in fixture_projects() {
        let sources = sluice_compiler::load_project(&project).unwrap();
        let mut db = Database::from_sources(&sources);
        let index = index(&mut db);
        let ids: Vec<(FileId, usize)> = index
            .sources()
            .files()
            .map(|(id, f)| (id, f.text.len()))
            .collect();
        for (id, len) in ids {
            let _ = index.document_symbols(id);
            for offset in (0..=len + 2).step_by(3) {
                let _ = index.hover(id, offset);
                let _ = index.definition(id, offset);
                let _ = index.type_definition(id, offset);
                let _ = index.references(id, offset, true);
                let _ = index.lineage(id, offset);
                let _ = index.prepare_rename(id, offset);
                if let Ok(Some(edits)) = index.rename(id, offset, "renamed_x") {
                    for (file, list) in &edits.edits {
                        let text = &index.sources().file(*file).text;
                        for (span, _) in list {
                            assert!(
                                text.is_char_boundary(span.start)
                                    && text.is_char_boundary(span.end),
                                "{}: {span:?}",
                                project.display()
                            );
                        }
                        for pair in list.windows(2) {
                            assert!(pair[0].0.end <= pair[1].0.start, "overlapping edits");
                        }
                    }
                }
            }
        }
        let _ = index.workspace_symbols("");
    }
}

/// Bauplan's typed SDK: the table in `Annotated[pa.Table, Model("t", ...)]`, the
/// schema in `projection_schema=S` and in `-> Annotated[pa.Table, S]` are references.
#[test]
fn typed_bauplan_inputs_and_outputs_are_references() {
    let models = "from typing import Annotated\nimport bauplan\nimport pyarrow as pa\n\n\
        class Rides(bauplan.TableSchema):\n    zone: bauplan.Int64\n\n\
        @bauplan.model()\n\
        def rides(raw: Annotated[pa.Table, bauplan.Model(\"raw\", projection_schema=Rides)]) -> Annotated[pa.Table, Rides]:\n    return raw\n\n\
        @bauplan.model()\n\
        def again(r: Annotated[pa.Table, bauplan.Model(\"rides\", projection_schema=Rides)]) -> Annotated[pa.Table, Rides]:\n    return r\n";
    let index = index_of(&[("models.py", models)]);
    let schema = at(&index, "models.py", "Rides", 0, 1);
    let refs = references(&index, "models.py", schema);
    assert_eq!(refs.len(), 5, "{refs:#?}");
    let table = at(&index, "models.py", "def rides", 0, 5);
    let refs = references(&index, "models.py", table);
    assert!(
        refs.iter()
            .any(|r| r.contains("«\"rides\"»") || r.contains("«rides»")),
        "{refs:#?}"
    );
}
