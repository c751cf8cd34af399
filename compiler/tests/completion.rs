//! Completion candidates over fixture projects, at cursors in their real text (the
//! analysis of the saved project, the text as the editor has it): Bauplan SDK forms,
//! Polars bodies, SQL aliases. `|` in a needle marks the cursor.

use std::path::Path;

use sluice_compiler::ide::complete;
use sluice_compiler::{check, load_project};

/// `label  detail` per item at the `|` of `needle` in `rel`, after replacing `from`
/// with `to` in the text (an unsaved edit; the analysis stays that of the saved text).
fn at(project: &str, rel: &str, edit: (&str, &str), needle: &str) -> String {
    at_edits(project, rel, &[edit], needle)
}

/// [`at`] after several replacements, in order.
fn at_edits(project: &str, rel: &str, edits: &[(&str, &str)], needle: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(project);
    let sources = load_project(&root).expect("fixture loads");
    let analysis = check(&sources);
    let file = sources.file_id(rel).expect("a project file");
    let kind = sources.file(file).kind;
    let mut text = sources.file(file).text.clone();
    for edit in edits {
        assert!(text.contains(edit.0), "`{}` in {rel}", edit.0);
        text = text.replacen(edit.0, edit.1, 1);
    }
    let plain = needle.replace('|', "");
    let cursor = text.find(&plain).expect("needle in text") + needle.find('|').unwrap();
    let Some(context) = complete::context(kind, &text, cursor) else {
        return "(no context)\n".to_owned();
    };
    let mut out = format!("{:?}\n", context.expected);
    for item in complete::items(&analysis, file, kind, &text, &context) {
        out.push_str(&format!("{}  {}\n", item.label, item.detail));
    }
    out
}

#[test]
fn bauplan_forms_polars_and_sql_aliases() {
    let bauplan = "tests/fixtures/check/err_bauplan_contracts";
    let zones = "customers.py";
    let shop = "examples/shop";
    let report = [
        (
            "@bauplan.model(columns=[\"",
            at(bauplan, zones, ("", ""), "@bauplan.model(columns=[\"|customer_id\", \"revenue\"])\n@bauplan.python(\"3.11\")\ndef big"),
        ),
        (
            "bauplan.Model(\"orders_clean\", columns=[\"customer_id\", \"",
            at(bauplan, zones, ("", ""), "columns=[\"customer_id\", \"|amount"),
        ),
        (
            "pl.col(\" in a body",
            at(bauplan, zones, ("", ""), "agg(\n        pl.col(\"|"),
        ),
        (
            "bauplan.Model(\"",
            at(bauplan, zones, ("", ""), "bauplan.Model(\"|orders_clean\", columns=[\"customer_id\", \"amount"),
        ),
        (
            "SQL `l.` in ON",
            at(
                shop,
                "models/orders_enriched.sql",
                ("ON l.order_id", "ON l.| l.order_id"),
                "ON l.|",
            ),
        ),
        (
            "schema class body",
            at(shop, "schemas.py", ("    order_date: date", "    order_date: Da"), "order_date: Da|"),
        ),
    ]
    .map(|(what, items)| format!("## {what}\n{items}"))
    .join("\n");
    insta::assert_snapshot!("completion", report);
}

/// The columns of a query's CTEs: after the CTE's name or alias (`t.`), and among the
/// unqualified columns in scope of a query reading it; copied columns carry their
/// type, computed ones say so.
#[test]
fn cte_columns() {
    let ctes = "tests/fixtures/check/ok_sql_ctes_joins";
    let file = "category_revenue.sql";
    let report = [
        (
            "`t.` (alias of CTE line_totals) in SELECT",
            at(ctes, file, ("SELECT t.category,", "SELECT t., t.category,"), "SELECT t.|"),
        ),
        (
            "`paid_orders.` in a WHERE of the outer query",
            at(
                ctes,
                file,
                ("GROUP BY t.category,", "WHERE paid_orders. GROUP BY t.category,"),
                "WHERE paid_orders.|",
            ),
        ),
        (
            "unqualified in the outer ORDER BY (tables read and CTEs read)",
            at(ctes, file, (";", "\nORDER BY ;"), "ORDER BY |"),
        ),
        (
            "`t.` of a CTE that names its columns: `line_totals (oid, cat, total) AS (...)`",
            at(
                ctes,
                file,
                ("line_totals AS (", "line_totals (oid, cat, total) AS ("),
                "SELECT t.|category",
            ),
        ),
        (
            "`b.` of a CTE over another CTE (`SELECT *`, an alias, a computed column)",
            at_edits(
                ctes,
                file,
                &[
                    (
                        "),\nline_totals AS (",
                        "),\nbig AS (SELECT o.*, o.order_id AS id, 1 AS one FROM paid_orders AS o),\nline_totals AS (",
                    ),
                    ("INNER JOIN paid_orders AS o", "INNER JOIN big AS b ON b. JOIN paid_orders AS o"),
                ],
                "ON b.|",
            ),
        ),
    ]
    .map(|(what, items)| format!("## {what}\n{items}"))
    .join("\n");
    insta::assert_snapshot!("cte_columns", report);
}
