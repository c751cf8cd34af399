//! The planning budget. DataFusion's SQL planner is quadratic in the width of a query:
//! it resolves every column reference, and every column a wildcard expands to, by a
//! linear search of its input's schema (apache/datafusion#7698), and it deduplicates a
//! select list by comparing each item's display name with every item before it. A query
//! is estimated before it is planned, and one above [`PLANNING_BUDGET`] is not planned:
//! its contract is validated at run time and `W0005` says why.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::SchemaRef;
use sqlparser::ast::{
    Expr, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, Statement, TableFactor, TableWithJoins, Visit, Visitor,
};

use crate::diagnostic::{Code, Diagnostic, thousands};
use crate::source::{FileId, Span};

/// Most planning steps the checker lets DataFusion's planner take for one query (see
/// [`PlanningCost::steps`](PlanningCost#structfield.steps)). Measured with `examples/plan_width.rs` on a release build
/// (BENCHMARKS.md): about 75 ns a step, so a query at the budget plans in about a
/// second (`SELECT *` over 2,828 columns); beyond it the time grows with the square of
/// the width (200,000,000 steps, 10,000 columns, took 13 to 15 s).
pub const PLANNING_BUDGET: u64 = 16_000_000;

/// The estimated work of planning one query, before planning it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanningCost {
    /// Items of every select list, a wildcard counting its `FROM`'s width.
    pub items: u64,
    /// The widest `FROM` of any select (the columns of its tables, a CTE or subquery
    /// counting its select list's width).
    pub width: u64,
    /// The planner's steps: each column reference searches the columns of its select's
    /// `FROM`, as does each column a wildcard (or a `NATURAL`/`USING` join) expands to;
    /// and each select item is compared with the items before it in its list.
    pub steps: u64,
}

impl PlanningCost {
    /// Estimates `statement` against its `inputs` (dotted table name -> schema).
    pub fn of(statement: &Statement, inputs: &HashMap<String, SchemaRef>) -> PlanningCost {
        let mut counter = Counter {
            widths: Widths {
                inputs,
                ctes: HashMap::new(),
            },
            selects: Vec::new(),
            last_width: 0,
            cost: PlanningCost::default(),
        };
        let _ = statement.visit(&mut counter);
        counter.cost
    }

    /// Whether the query is too wide to plan at check time.
    pub fn over_budget(&self) -> bool {
        self.steps > PLANNING_BUDGET
    }
}

/// The width of tables, CTEs and subqueries: how many columns each gives a `FROM`.
struct Widths<'a> {
    inputs: &'a HashMap<String, SchemaRef>,
    /// CTE name -> its select list's width.
    ctes: HashMap<String, u64>,
}

impl Widths<'_> {
    fn relation(&self, name: &ObjectName) -> u64 {
        let parts: Option<Vec<&str>> = name
            .0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(ident.value.as_str()),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        let Some(parts) = parts else { return 0 };
        match self.inputs.get(&parts.join(".")) {
            Some(schema) => schema.fields().len() as u64,
            None => self.ctes.get(&parts.join(".")).copied().unwrap_or(0),
        }
    }

    fn factor(&self, factor: &TableFactor) -> u64 {
        match factor {
            TableFactor::Table { name, .. } => self.relation(name),
            TableFactor::Derived { subquery, .. } => self.query(subquery),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.from(std::slice::from_ref(table_with_joins)),
            _ => 0,
        }
    }

    /// The columns a `FROM` list gives its select.
    fn from(&self, from: &[TableWithJoins]) -> u64 {
        from.iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
            .fold(0u64, |sum, f| sum.saturating_add(self.factor(f)))
    }

    /// The width of a query's output: its (first) select list's.
    fn query(&self, query: &Query) -> u64 {
        let mut body = query.body.as_ref();
        loop {
            match body {
                SetExpr::Select(select) => return self.items(select).0,
                SetExpr::Query(q) => body = q.body.as_ref(),
                SetExpr::SetOperation { left, .. } => body = left.as_ref(),
                _ => return 0,
            }
        }
    }

    /// A select's list width and its `FROM`'s width.
    fn items(&self, select: &Select) -> (u64, u64) {
        let from = self.from(&select.from);
        let items = select.projection.iter().fold(0u64, |sum, item| {
            sum.saturating_add(match item {
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => from,
                _ => 1,
            })
        });
        (items, from)
    }
}

struct Counter<'a> {
    widths: Widths<'a>,
    /// The `FROM` width of each select being visited, innermost last.
    selects: Vec<u64>,
    /// The `FROM` width of the last select visited (for `ORDER BY` after it).
    last_width: u64,
    cost: PlanningCost,
}

impl Counter<'_> {
    fn add(&mut self, steps: u64) {
        self.cost.steps = self.cost.steps.saturating_add(steps);
    }
}

impl Visitor for Counter<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        // CTEs in order, each seeing the ones before it.
        for cte in query.with.iter().flat_map(|w| &w.cte_tables) {
            let width = self.widths.query(&cte.query);
            self.widths.ctes.insert(cte.alias.name.value.clone(), width);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let (items, from) = self.widths.items(select);
        let matched_joins = select
            .from
            .iter()
            .flat_map(|t| &t.joins)
            .filter(|j| {
                matches!(
                    constraint(&j.join_operator),
                    Some(JoinConstraint::Natural | JoinConstraint::Using(_))
                )
            })
            .count() as u64;
        let wildcards = select
            .projection
            .iter()
            .filter(|item| {
                matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
            .count() as u64;
        // Each expanded column is looked up in the `FROM`; each item is compared with
        // the items before it.
        self.add(
            wildcards
                .saturating_add(matched_joins)
                .saturating_mul(from)
                .saturating_mul(from),
        );
        self.add(items.saturating_mul(items));
        self.cost.items = self.cost.items.saturating_add(items);
        self.cost.width = self.cost.width.max(from);
        self.selects.push(from);
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<()> {
        self.last_width = self.selects.pop().unwrap_or(0);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if matches!(
            expr,
            Expr::Identifier(_)
                | Expr::CompoundIdentifier(_)
                | Expr::Wildcard(_)
                | Expr::QualifiedWildcard(..)
        ) {
            let width = self.selects.last().copied().unwrap_or(self.last_width);
            self.add(width.max(1));
        }
        ControlFlow::Continue(())
    }
}

fn constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c)
        | JoinOperator::AsOf { constraint: c, .. } => Some(c),
        JoinOperator::CrossApply
        | JoinOperator::OuterApply
        | JoinOperator::ArrayJoin
        | JoinOperator::LeftArrayJoin
        | JoinOperator::InnerArrayJoin => None,
    }
}

/// The `W0005` diagnostic: the query of `node` (at `span`) was not planned.
pub fn too_wide(file: FileId, span: Span, node: &str, cost: PlanningCost) -> Diagnostic {
    Diagnostic::new(
        Code::SqlTooWide,
        file,
        span,
        format!(
            "the query of `{node}` is too wide to check: {} select items over inputs up to \
             {} columns wide would take the SQL planner about {} steps, over the \
             checker's budget of {}",
            thousands(cost.items),
            thousands(cost.width),
            thousands(cost.steps),
            thousands(PLANNING_BUDGET),
        ),
    )
    .with_label("not planned")
    .with_help(
        "its contract is validated when the node runs; to check it now, have the query \
         read fewer columns (select only those the node needs, or split the node)",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::sql_plan::tests::statement;

    fn wide(n: usize) -> HashMap<String, SchemaRef> {
        let fields: Vec<Field> = (0..n)
            .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
            .collect();
        HashMap::from([("raw.wide".to_owned(), Arc::new(Schema::new(fields)))])
    }

    #[test]
    fn counts_references_wildcards_and_widths() {
        let inputs = wide(1000);
        let cost = |sql: &str| {
            let c = PlanningCost::of(&statement(sql), &inputs);
            (c.items, c.width, c.steps)
        };
        // Three references searching 1,000 columns; two items.
        assert_eq!(cost("SELECT c1, c2 + c3 FROM raw.wide"), (2, 1000, 3004));
        // 1,000 expanded columns searching 1,000; 1,000 items.
        assert_eq!(cost("SELECT * FROM raw.wide"), (1000, 1000, 2_000_000));
        // A self-join doubles the width.
        assert_eq!(
            cost("SELECT a.*, b.c1 FROM raw.wide a JOIN raw.wide b ON a.c1 = b.c1"),
            (2001, 2000, 2000 * 2000 + 2001 * 2001 + 3 * 2000)
        );
        // A NATURAL join matches every column of one side against the other.
        assert!(cost("SELECT count(*) FROM raw.wide NATURAL JOIN raw.wide").2 >= 4_000_000);
        // A long select list of constants reads no column, and is still quadratic.
        let constants: Vec<String> = (0..1000).map(|i| format!("{i} AS k{i}")).collect();
        assert_eq!(
            cost(&format!("SELECT {}", constants.join(", "))),
            (1000, 0, 1_000_000)
        );
    }

    #[test]
    fn ctes_and_subqueries_are_as_wide_as_their_select_lists() {
        let inputs = wide(1000);
        // The usual chain of CTEs: only the first is as wide as the table.
        let chain = "WITH source AS (SELECT * FROM raw.wide), \
                     renamed AS (SELECT c1 AS a, c2 AS b FROM source), \
                     final AS (SELECT * FROM renamed) \
                     SELECT * FROM final";
        let c = PlanningCost::of(&statement(chain), &inputs);
        assert_eq!((c.items, c.width), (1000 + 2 + 2 + 2, 1000));
        assert_eq!(c.steps, 2_000_000 + (2 * 1000 + 4) + (4 + 4) + (4 + 4));
        // A CTE selecting everything is as wide as its table, wherever it is read.
        let star = "WITH x AS (SELECT * FROM raw.wide) SELECT * FROM x JOIN x AS y ON x.c1 = y.c1";
        let c = PlanningCost::of(&statement(star), &inputs);
        assert_eq!((c.items, c.width), (1000 + 2000, 2000));
        let derived = "SELECT * FROM (SELECT * FROM raw.wide) AS d";
        let c = PlanningCost::of(&statement(derived), &inputs);
        assert_eq!((c.items, c.width, c.steps), (2000, 1000, 4_000_000));
    }

    #[test]
    fn budget_separates_narrow_from_wide() {
        let sql = |n: usize| {
            let cols: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            statement(&format!("SELECT {} FROM raw.wide", cols.join(", ")))
        };
        assert!(!PlanningCost::of(&sql(1000), &wide(1000)).over_budget());
        assert!(PlanningCost::of(&sql(100_000), &wide(100_000)).over_budget());
        assert!(
            PlanningCost::of(&statement("SELECT * FROM raw.wide"), &wide(100_000)).over_budget()
        );
    }
}
