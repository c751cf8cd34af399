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
    Expr, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Select, SelectItem, Statement,
    Visit, Visitor,
};

use crate::diagnostic::{Code, Diagnostic, thousands};
use crate::source::{FileId, Span};

/// Most planning steps the checker lets DataFusion's planner take for one query (see
/// [`PlanningCost::steps`]). Measured with `examples/plan_width.rs` on a release build
/// (BENCHMARKS.md): about 75 ns a step, so a query at the budget plans in about a
/// second (`SELECT *` over 2,828 columns); beyond it the time grows with the square of
/// the width (200,000,000 steps, 10,000 columns, took 13 to 15 s).
pub const PLANNING_BUDGET: u64 = 16_000_000;

/// The estimated work of planning one query, before planning it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanningCost {
    /// Column references of the query, plus the input width once per wildcard
    /// (`*`, `t.*`) and per `NATURAL`/`USING` join: the columns the planner looks up.
    pub lookups: u64,
    /// Items of every select list, a wildcard counting the input width.
    pub items: u64,
    /// Columns of every input table, once per mention; a mention of a CTE counts the
    /// inputs' width again. An upper bound of the schema any lookup searches.
    pub width: u64,
}

impl PlanningCost {
    /// Estimates `statement` against its `inputs` (dotted table name -> schema).
    pub fn of(statement: &Statement, inputs: &HashMap<String, SchemaRef>) -> PlanningCost {
        let mut counter = Counter {
            inputs,
            references: 0,
            items: 0,
            wildcards: 0,
            matched_joins: 0,
            width: 0,
            other_relations: 0,
        };
        let _ = statement.visit(&mut counter);
        let width = counter
            .width
            .saturating_mul(counter.other_relations.saturating_add(1));
        let expanded = |n: u64| n.saturating_mul(width);
        PlanningCost {
            lookups: counter.references.saturating_add(expanded(
                counter.wildcards.saturating_add(counter.matched_joins),
            )),
            items: counter.items.saturating_add(expanded(counter.wildcards)),
            width,
        }
    }

    /// The planner's steps: each lookup searches the input's columns, and each select
    /// item is compared with the items before it (lookups × width + items²).
    pub fn steps(&self) -> u64 {
        self.lookups
            .saturating_mul(self.width)
            .saturating_add(self.items.saturating_mul(self.items))
    }

    /// Whether the query is too wide to plan at check time.
    pub fn over_budget(&self) -> bool {
        self.steps() > PLANNING_BUDGET
    }
}

struct Counter<'a> {
    inputs: &'a HashMap<String, SchemaRef>,
    references: u64,
    /// Select items other than wildcards.
    items: u64,
    wildcards: u64,
    matched_joins: u64,
    width: u64,
    /// Mentions of relations that are not inputs (CTEs): each may be as wide as the
    /// inputs together.
    other_relations: u64,
}

impl Visitor for Counter<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let name: Option<Vec<&str>> = relation
            .0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(ident.value.as_str()),
                ObjectNamePart::Function(_) => None,
            })
            .collect();
        match name.and_then(|n| self.inputs.get(&n.join("."))) {
            Some(schema) => self.width = self.width.saturating_add(schema.fields().len() as u64),
            None => self.other_relations = self.other_relations.saturating_add(1),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let wildcards = select
            .projection
            .iter()
            .filter(|item| {
                matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
            .count();
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
            .count();
        let others = select.projection.len() - wildcards;
        self.items = self.items.saturating_add(others as u64);
        self.wildcards = self.wildcards.saturating_add(wildcards as u64);
        self.matched_joins = self.matched_joins.saturating_add(matched_joins as u64);
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
            self.references = self.references.saturating_add(1);
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
            "the query of `{node}` is too wide to check: {} select items and {} column \
             lookups over inputs {} columns wide would take the SQL planner about {} \
             steps, over the checker's budget of {}",
            thousands(cost.items),
            thousands(cost.lookups),
            thousands(cost.width),
            thousands(cost.steps()),
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
        let named = PlanningCost::of(&statement("SELECT c1, c2 + c3 FROM raw.wide"), &inputs);
        assert_eq!((named.lookups, named.items, named.width), (3, 2, 1000));
        assert_eq!(named.steps(), 3 * 1000 + 2 * 2);
        let star = PlanningCost::of(&statement("SELECT * FROM raw.wide"), &inputs);
        assert_eq!((star.lookups, star.items, star.width), (1000, 1000, 1000));
        assert_eq!(star.steps(), 2_000_000);
        // A self-join doubles the width; each wildcard expands once.
        let joined = PlanningCost::of(
            &statement("SELECT a.*, b.c1 FROM raw.wide a JOIN raw.wide b ON a.c1 = b.c1"),
            &inputs,
        );
        assert_eq!(
            (joined.lookups, joined.items, joined.width),
            (2000 + 3, 2001, 2000)
        );
        // A CTE's mention counts the inputs again.
        let cte = PlanningCost::of(
            &statement("WITH x AS (SELECT * FROM raw.wide) SELECT * FROM x"),
            &inputs,
        );
        assert_eq!((cte.lookups, cte.items, cte.width), (4000, 4000, 2000));
        let natural = PlanningCost::of(
            &statement("SELECT count(*) FROM raw.wide NATURAL JOIN raw.wide"),
            &inputs,
        );
        assert!(natural.lookups >= 2000 && natural.items == 1, "{natural:?}");
        // A long select list of constants reads no column, and is still quadratic.
        let constants: Vec<String> = (0..1000).map(|i| format!("{i} AS k{i}")).collect();
        let constants = PlanningCost::of(
            &statement(&format!("SELECT {}", constants.join(", "))),
            &inputs,
        );
        assert_eq!(
            (constants.lookups, constants.items, constants.width),
            (0, 1000, 0)
        );
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
