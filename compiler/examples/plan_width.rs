//! How long DataFusion takes to plan a wide query, and sluice to trace it: the
//! measurement behind `sql_plan::PLANNING_BUDGET` (a bench, not CI; BENCHMARKS.md).
//!
//!     cargo run --release -p sluice-compiler --example plan_width -- 1000 10000 20000
//!
//! For each width N: a table of N columns, and two queries over it, one selecting all N
//! by name, one `SELECT *`. Each is estimated ([`PlanningCost`]), planned without the
//! budget, and traced; one line per query with the estimate and both times.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_compiler::sql_plan::{PLANNING_BUDGET, PlanningCost, SqlPlanner, trace_columns};

fn main() {
    let widths: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let planner = SqlPlanner::new();
    println!("budget: {PLANNING_BUDGET} steps");
    for n in widths {
        let fields: Vec<Field> = (0..n)
            .map(|i| {
                let ty = if i % 2 == 0 {
                    DataType::Int64
                } else {
                    DataType::Utf8
                };
                Field::new(format!("c{i}"), ty, i % 3 == 0)
            })
            .collect();
        let inputs: HashMap<String, SchemaRef> =
            HashMap::from([("raw.wide".to_owned(), Arc::new(Schema::new(fields)))]);
        let named: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        for (what, sql) in [
            (
                "named",
                format!("SELECT {} FROM raw.wide", named.join(", ")),
            ),
            ("star", "SELECT * FROM raw.wide".to_owned()),
        ] {
            let dialect = sqlparser::dialect::GenericDialect {};
            let statement = match sqlparser::parser::Parser::parse_sql(&dialect, &sql) {
                Ok(mut statements) if statements.len() == 1 => statements.remove(0),
                other => {
                    eprintln!("plan_width: the generated query does not parse: {other:?}");
                    std::process::exit(2);
                }
            };
            let cost = PlanningCost::of(&statement, &inputs);
            let start = Instant::now();
            let plan = match planner.plan_unbounded(&statement, &inputs) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("plan_width: {n} columns, {what}: {}", e.message);
                    std::process::exit(2);
                }
            };
            let planned = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let traces = trace_columns(&plan);
            let traced = start.elapsed().as_secs_f64();
            println!(
                "{n} columns, {what}: {} steps{}, planned in {planned:.3} s, \
                 {} columns traced in {traced:.3} s",
                cost.steps,
                if cost.over_budget() {
                    " (over budget)"
                } else {
                    ""
                },
                traces.len()
            );
        }
    }
}
