//! A SQL query too wide for DataFusion's planner to plan in reasonable time (its
//! select-list planning is quadratic in the width) is not planned: `W0005`, and its
//! declared contract is deferred to run time. A narrow one over the same schema is
//! planned and proven. Nothing here is timed.

use sluice_compiler::contracts::{Fact, Status};
use sluice_compiler::sql_plan::PLANNING_BUDGET;
use sluice_compiler::{Analysis, Code, FileKind, SourceFile, SourceSet, TableId};

/// A schema `Wide` of `columns` columns, its source `raw.wide`, and `sel.sql` declaring
/// `Wide` as its output and running `query`.
fn check(columns: usize, query: &str) -> (SourceSet, Analysis) {
    let mut schema = "from sluice import Schema, Source\n\n\nclass Wide(Schema):\n".to_owned();
    for i in 0..columns {
        schema += &format!(
            "    c{i}: {}\n",
            if i % 2 == 0 { "int" } else { "str | None" }
        );
    }
    schema += "\n\nraw = Source(Wide, name=\"raw.wide\")\n";
    let files = [
        ("schemas.py", schema),
        ("sel.sql", format!("-- sel: Wide <- raw.wide\n{query}\n")),
    ]
    .into_iter()
    .map(|(path, text)| {
        let kind = FileKind::of(std::path::Path::new(path)).expect("known kind");
        SourceFile::new(path, kind, text)
    })
    .collect();
    let sources = SourceSet::new("/project", files);
    let analysis = sluice_compiler::check(&sources);
    (sources, analysis)
}

/// Statuses of `sel`'s output obligations.
fn statuses(analysis: &Analysis) -> Vec<Status> {
    analysis
        .contracts
        .obligations()
        .filter(|o| o.table == "sel")
        .map(|o| o.status)
        .collect()
}

fn sel(analysis: &Analysis) -> TableId {
    analysis
        .tables
        .iter()
        .position(|t| t.name == "sel")
        .map(TableId)
        .expect("sel is a table")
}

/// The narrowest `SELECT *` over `Wide` that is over the budget: its planning steps are
/// `2 * width²` (a lookup and a select item per column).
fn over_budget_width() -> usize {
    ((PLANNING_BUDGET / 2) as f64).sqrt() as usize + 1
}

#[test]
fn a_select_star_over_the_budget_is_deferred_with_w0005() {
    let columns = over_budget_width();
    let (sources, analysis) = check(columns, "SELECT * FROM raw.wide");
    let codes: Vec<Code> = analysis.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::SqlTooWide], "{:#?}", analysis.diagnostics);
    let d = &analysis.diagnostics[0];
    let file = sources.file(d.file);
    assert_eq!(file.path, "sel.sql");
    assert!(file.text[d.span.clone()].starts_with("SELECT"));
    assert!(d.message.contains("`sel`"), "{}", d.message);
    // Every declared column's existence and type, and the non-null columns' nullability,
    // are deferred, none proven or violated; nothing was inferred.
    let statuses = statuses(&analysis);
    let non_null = columns.div_ceil(2);
    assert_eq!(statuses.len(), 2 * columns + non_null);
    assert!(statuses.iter().all(|s| *s == Status::Deferred));
    assert!(analysis.contracts.inferred(sel(&analysis)).is_none());
    assert_eq!(analysis.summary.errors, 0);
    assert_eq!(analysis.summary.warnings, 1);
}

#[test]
fn the_same_columns_named_one_by_one_are_over_the_budget_too() {
    let columns = over_budget_width();
    let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let (_, analysis) = check(
        columns,
        &format!("SELECT {} FROM raw.wide", names.join(", ")),
    );
    let codes: Vec<Code> = analysis.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::SqlTooWide]);
}

#[test]
fn a_narrow_select_over_a_wide_schema_is_planned_and_proven() {
    let (_, analysis) = check(over_budget_width(), "SELECT c0, c1 FROM raw.wide");
    // Planned: its output (two columns) is inferred.
    assert!(
        analysis
            .diagnostics
            .iter()
            .all(|d| d.code != Code::SqlTooWide)
    );
    let inferred = analysis
        .contracts
        .inferred(sel(&analysis))
        .expect("inferred");
    assert_eq!(inferred.columns.len(), 2);
    // And a query under the budget whose output is the contract: every fact proven.
    let (_, analysis) = check(300, "SELECT * FROM raw.wide");
    assert!(
        analysis.diagnostics.is_empty(),
        "{:#?}",
        analysis.diagnostics
    );
    let proven: Vec<_> = analysis
        .contracts
        .obligations()
        .filter(|o| o.table == "sel" && o.fact == Fact::Type)
        .map(|o| o.status)
        .collect();
    assert_eq!(proven.len(), 300);
    assert!(proven.iter().all(|s| *s == Status::Proven), "{proven:?}");
}
