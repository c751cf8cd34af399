//! SQL node bodies planned by DataFusion's SQL planner against the input tables' schemas:
//! the inferred output schema, and where each output column comes from.
//!
//! No data is touched: tables are registered as schemas only. The runtime executes with
//! the same [`session_config`], so inference and execution agree on every type.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Column, DFSchema, DFSchemaRef, DataFusionError, TableReference};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::logical_plan::builder::LogicalTableSource;
use datafusion::logical_expr::planner::{ContextProvider, ExprPlanner, RelationPlanner};
use datafusion::logical_expr::{
    AggregateUDF, Expr, HigherOrderUDF, JoinType, LogicalPlan, ScalarUDF, TableSource, WindowUDF,
};
use datafusion::sql::planner::{ParserOptions, SqlToRel};
use sqlparser::ast::Statement;

use crate::bauplan_project::ProjectParameter;

mod budget;

pub use budget::{PLANNING_BUDGET, PlanningCost, too_wide};

/// The DataFusion session sluice plans and executes SQL with. Identifiers are case
/// sensitive (no normalization), and string types stay `Utf8`.
/// The SQL semantics sluice checks and runs with: identifiers are case-sensitive (no
/// normalization) and string literals are `Utf8`. The runtime executes with this
/// configuration so that run-time types equal the types the compiler proved.
pub fn session_config() -> datafusion::prelude::SessionConfig {
    datafusion::prelude::SessionConfig::new()
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
}

/// The planning session of the checker: [`session_config`] on one partition (planning
/// only, no data).
pub fn session_state() -> SessionState {
    let mut config = session_config();
    config.options_mut().execution.target_partitions = 1;
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build()
}

/// 1-based `(line, column)` start and end of a range in a query, end exclusive.
pub type LineColRange = ((u32, u32), (u32, u32));

/// A planning failure, located in the query when DataFusion knows where.
#[derive(Debug)]
pub struct PlanError {
    pub message: String,
    /// 1-based (line, column) start and end, end exclusive.
    pub span: Option<LineColRange>,
    pub help: Option<String>,
    /// Located notes (e.g. each operand's type), as secondary labels.
    pub notes: Vec<(String, LineColRange)>,
}

/// Why a query has no plan.
#[derive(Debug)]
pub enum PlanFailure {
    /// DataFusion refused the query: it is wrong.
    Error(PlanError),
    /// Not planned: the query is too wide to plan at check time (see [`PLANNING_BUDGET`]).
    TooWide(PlanningCost),
}

/// Plans SQL node queries. A [`crate::Database`] builds one and keeps it for every analysis.
pub struct SqlPlanner {
    state: SessionState,
}

impl Default for SqlPlanner {
    fn default() -> Self {
        SqlPlanner::new()
    }
}

impl SqlPlanner {
    pub fn new() -> SqlPlanner {
        SqlPlanner {
            state: session_state(),
        }
    }

    /// Every function name SQL can call (scalar, aggregate, window), sorted.
    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .scalar_functions()
            .keys()
            .chain(self.state.aggregate_functions().keys())
            .chain(self.state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Plans one query with `inputs` (dotted table name -> schema) as its tables, and
    /// runs DataFusion's analyzer so the types are those execution will see. A query
    /// whose [`PlanningCost`] is over [`PLANNING_BUDGET`] is not planned.
    pub fn plan(
        &self,
        statement: &Statement,
        inputs: &HashMap<String, SchemaRef>,
    ) -> Result<LogicalPlan, PlanFailure> {
        self.plan_with_parameters(statement, inputs, &ParamTypes::new())
    }

    /// [`SqlPlanner::plan`] with run parameters: each `$key` placeholder of a declared
    /// parameter is planned as a value of its declared type (`bind_placeholders`).
    pub fn plan_with_parameters(
        &self,
        statement: &Statement,
        inputs: &HashMap<String, SchemaRef>,
        params: &ParamTypes,
    ) -> Result<LogicalPlan, PlanFailure> {
        let cost = PlanningCost::of(statement, inputs);
        if cost.over_budget() {
            return Err(PlanFailure::TooWide(cost));
        }
        self.plan_unbounded_with_parameters(statement, inputs, params)
            .map_err(PlanFailure::Error)
    }

    /// [`SqlPlanner::plan`] without the budget: as slow as DataFusion is on the query.
    pub fn plan_unbounded(
        &self,
        statement: &Statement,
        inputs: &HashMap<String, SchemaRef>,
    ) -> Result<LogicalPlan, PlanError> {
        self.plan_unbounded_with_parameters(statement, inputs, &ParamTypes::new())
    }

    /// [`SqlPlanner::plan_with_parameters`] without the budget.
    pub fn plan_unbounded_with_parameters(
        &self,
        statement: &Statement,
        inputs: &HashMap<String, SchemaRef>,
        params: &ParamTypes,
    ) -> Result<LogicalPlan, PlanError> {
        let provider = Provider {
            state: &self.state,
            tables: inputs,
        };
        let options = ParserOptions::new()
            .with_enable_ident_normalization(false)
            .with_collect_spans(true)
            .with_map_string_types_to_utf8view(false);
        let planner = SqlToRel::new_with_options(&provider, options);
        let plan = planner
            .sql_statement_to_plan(statement.clone())
            .map_err(|e| plan_error(&e))?;
        let plan = bind_placeholders(plan, params).map_err(|e| plan_error(&e))?;
        self.state
            .analyzer()
            .execute_and_check(plan, self.state.config_options(), |_, _| {})
            .map_err(|e| plan_error(&e))
    }
}

/// Run parameters' declared types by key (`bauplan_project.yml`): what a SQL node's
/// `$key` placeholders are planned as.
pub type ParamTypes = BTreeMap<String, DataType>;

/// The types of the declared run parameters a query can bind: `int` → `Int64`,
/// `float` → `Float64`, `bool` → `Boolean`, `str` (and `secret`, `vault`) → `Utf8`,
/// the types the runtime binds their values as. Other types are left out.
pub fn param_types(declared: &BTreeMap<String, ProjectParameter>) -> ParamTypes {
    declared
        .iter()
        .filter_map(|(key, p)| {
            let ty = match p.ty.as_str() {
                "int" => DataType::Int64,
                "float" => DataType::Float64,
                "bool" => DataType::Boolean,
                "str" | "secret" | "vault" => DataType::Utf8,
                _ => return None,
            };
            Some((key.clone(), ty))
        })
        .collect()
}

/// Replaces every `$key` placeholder of a declared run parameter by a non-null value
/// of its declared type, before the analyzer: the query is planned with the types
/// (and the non-nullness) it runs with, as the runtime binds the parameter's value
/// the same way (DataFusion's `with_param_values`). Without this, a placeholder that
/// its context does not type (`SELECT $country AS c`) is planned as an always-null
/// `Null` column. Output names stay as written (`$country`), as at run time. An
/// undeclared placeholder is left as DataFusion planned it.
fn bind_placeholders(
    plan: LogicalPlan,
    params: &ParamTypes,
) -> Result<LogicalPlan, DataFusionError> {
    use datafusion::common::ScalarValue;
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::expr::Placeholder;
    use datafusion::logical_expr::expr_rewriter::NamePreserver;
    if params.is_empty() {
        return Ok(plan);
    }
    let value = |id: &str| -> Option<ScalarValue> {
        Some(match params.get(id.strip_prefix('$')?)? {
            DataType::Int64 => ScalarValue::Int64(Some(1)),
            DataType::Float64 => ScalarValue::Float64(Some(1.0)),
            DataType::Boolean => ScalarValue::Boolean(Some(true)),
            _ => ScalarValue::Utf8(Some(String::new())),
        })
    };
    plan.transform_up_with_subqueries(|plan| {
        let names = NamePreserver::new(&plan);
        let plan = plan.map_expressions(|e| {
            let name = names.save(&e);
            let bound = e.transform_up(|e| match &e {
                Expr::Placeholder(Placeholder { id, .. }) => match value(id) {
                    Some(v) => Ok(Transformed::yes(Expr::Literal(v, None))),
                    None => Ok(Transformed::no(e)),
                },
                _ => Ok(Transformed::no(e)),
            })?;
            Ok(if bound.transformed {
                bound.update_data(|e| name.restore(e))
            } else {
                bound
            })
        })?;
        if plan.transformed {
            plan.map_data(|p| p.recompute_schema())
        } else {
            Ok(plan)
        }
    })
    .map(|t| t.data)
}

fn plan_error(err: &DataFusionError) -> PlanError {
    let diagnostic = err.diagnostic();
    let message = match diagnostic {
        Some(d) => d.message.clone(),
        None => {
            let root = err.find_root();
            root.message().trim().to_owned()
        }
    };
    let location = |s: datafusion::common::Span| {
        (s.start.line > 0).then_some((
            (s.start.line as u32, s.start.column as u32),
            (s.end.line as u32, s.end.column as u32),
        ))
    };
    let span = diagnostic.and_then(|d| d.span).and_then(location);
    let mut notes = Vec::new();
    let mut helps = Vec::new();
    if let Some(d) = diagnostic {
        for note in &d.notes {
            match note.span.and_then(location) {
                Some(at) => notes.push((note.message.clone(), at)),
                None => helps.push(note.message.clone()),
            }
        }
        helps.extend(d.helps.iter().map(|h| h.message.clone()));
    }
    let help = (!helps.is_empty()).then(|| helps.join("; "));
    PlanError {
        message,
        span,
        help,
        notes,
    }
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort();
    names
}

/// Resolves tables to the given schemas and functions to the session's registry.
struct Provider<'a> {
    state: &'a SessionState,
    tables: &'a HashMap<String, SchemaRef>,
}

pub fn table_name(reference: &TableReference) -> String {
    reference.to_vec().join(".")
}

impl ContextProvider for Provider<'_> {
    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion::common::Result<Arc<dyn TableSource>> {
        let key = table_name(&name);
        match self.tables.get(&key) {
            Some(schema) => Ok(Arc::new(LogicalTableSource::new(Arc::clone(schema)))),
            None => Err(DataFusionError::Plan(format!("table '{key}' not found"))),
        }
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        self.state.expr_planners()
    }

    fn get_relation_planners(&self) -> &[Arc<dyn RelationPlanner>] {
        self.state.relation_planners()
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.state.scalar_functions().get(name).cloned()
    }

    fn get_higher_order_meta(&self, name: &str) -> Option<Arc<HigherOrderUDF>> {
        self.state.higher_order_functions().get(name).cloned()
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.state.aggregate_functions().get(name).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.state.window_functions().get(name).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        self.state.config_options()
    }

    // Sorted: DataFusion's suggestions must not depend on hash map order.
    fn udf_names(&self) -> Vec<String> {
        sorted(self.state.scalar_functions().keys())
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        sorted(self.state.higher_order_functions().keys())
    }

    fn udaf_names(&self) -> Vec<String> {
        sorted(self.state.aggregate_functions().keys())
    }

    fn udwf_names(&self) -> Vec<String> {
        sorted(self.state.window_functions().keys())
    }
}

/// How an output column depends on one input column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// Passed through unchanged.
    Copy,
    /// Computed from it.
    Transform,
    /// Influences which rows exist only (filters, join keys, grouping).
    Filter,
}

/// Where one output column of a plan comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnTrace {
    /// `(table, column, kind)` of every input column it depends on.
    pub sources: Vec<(String, String, DependencyKind)>,
    /// Every step from the scan is a plain column reference.
    pub copy: bool,
    /// A filter on the way removes its nulls (`WHERE c IS NOT NULL`).
    pub nulls_removed: bool,
    /// It sits on the outer side of an outer join on the way.
    pub outer_join: bool,
}

/// Traces every output column of `plan` back to the scanned tables.
///
/// Linear in the plan's columns: each plan node's schema is indexed by column name once
/// (DataFusion's own lookup, [`DFSchema::index_of_column`], is a linear search), and
/// what a node adds to every column (its filter's and join keys' sources) is computed
/// once per node.
pub fn trace_columns(plan: &LogicalPlan) -> Vec<ColumnTrace> {
    let mut tracer = Tracer::default();
    (0..plan.schema().fields().len())
        .map(|i| tracer.trace(plan, i, 0))
        .collect()
}

fn computed(traces: impl IntoIterator<Item = ColumnTrace>) -> ColumnTrace {
    let mut out = ColumnTrace::default();
    for t in traces {
        out.outer_join |= t.outer_join;
        for (table, column, kind) in t.sources {
            let kind = if kind == DependencyKind::Filter {
                kind
            } else {
                DependencyKind::Transform
            };
            out.sources.push((table, column, kind));
        }
    }
    out.sources.sort();
    out.sources.dedup();
    out
}

fn unalias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => unalias(&alias.expr),
        other => other,
    }
}

type Sources = Vec<(String, String, DependencyKind)>;

/// What one plan node adds to each column traced through it, computed once.
#[derive(Default)]
struct NodeFacts {
    /// Row-influencing sources: a filter's predicate, a join's keys, an aggregate's
    /// grouping (the latter for its aggregate columns only).
    filter_sources: Sources,
    /// Indexes of the input columns a filter's `IS NOT NULL` conjuncts name.
    not_null: HashSet<usize>,
}

/// Traces columns through one plan, caching per schema and per node. The caches are
/// keyed by address: the plan is borrowed for the tracer's whole life, so no node or
/// schema moves or is freed while the tracer runs.
#[derive(Default)]
struct Tracer {
    /// Per schema: column name -> indexes of the fields of that name, in order.
    names: HashMap<*const DFSchema, HashMap<String, Vec<usize>>>,
    nodes: HashMap<*const LogicalPlan, NodeFacts>,
}

impl Tracer {
    /// The index [`DFSchema::index_of_column`] finds (the first field of the column's
    /// name whose qualifier matches), through an index built once per schema.
    fn index_of(&mut self, schema: &DFSchemaRef, column: &Column) -> Option<usize> {
        let names = self.names.entry(Arc::as_ptr(schema)).or_insert_with(|| {
            let mut names: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, field) in schema.fields().iter().enumerate() {
                names.entry(field.name().clone()).or_default().push(i);
            }
            names
        });
        names.get(&column.name)?.iter().copied().find(|&i| {
            match (&column.relation, schema.qualified_field(i).0) {
                (Some(wanted), Some(qualifier)) => wanted.resolved_eq(qualifier),
                (Some(_), None) => false,
                (None, _) => true,
            }
        })
    }

    fn expr_trace(&mut self, input: &LogicalPlan, expr: &Expr, depth: usize) -> ColumnTrace {
        let expr = unalias(expr);
        if let Expr::Column(c) = expr
            && let Some(i) = self.index_of(input.schema(), c)
        {
            return self.trace(input, i, depth + 1);
        }
        let traces: Vec<ColumnTrace> = expr
            .column_refs()
            .into_iter()
            .filter_map(|c| self.index_of(input.schema(), c))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|i| self.trace(input, i, depth + 1))
            .collect();
        computed(traces)
    }

    /// Columns `exprs` read, as row-influencing dependencies.
    fn filter_sources<'e>(
        &mut self,
        input: &LogicalPlan,
        exprs: impl IntoIterator<Item = &'e Expr>,
        depth: usize,
    ) -> Sources {
        let mut indexes = Vec::new();
        for expr in exprs {
            for c in expr.column_refs() {
                indexes.extend(self.index_of(input.schema(), c));
            }
        }
        let mut sources: Sources = indexes
            .into_iter()
            .flat_map(|i| self.trace(input, i, depth + 1).sources)
            .map(|(t, c, _)| (t, c, DependencyKind::Filter))
            .collect();
        sources.sort();
        sources.dedup();
        sources
    }

    /// The facts of `node`, computed on first use.
    fn facts(&mut self, node: &LogicalPlan, depth: usize) -> &NodeFacts {
        let key: *const LogicalPlan = node;
        if !self.nodes.contains_key(&key) {
            let facts = match node {
                LogicalPlan::Filter(f) => {
                    let not_null = datafusion::logical_expr::utils::split_conjunction(&f.predicate)
                        .into_iter()
                        .filter_map(|conjunct| match conjunct {
                            Expr::IsNotNull(inner) => match unalias(inner) {
                                Expr::Column(c) => Some(c),
                                _ => None,
                            },
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .into_iter()
                        .filter_map(|c| self.index_of(f.input.schema(), c))
                        .collect();
                    NodeFacts {
                        filter_sources: self.filter_sources(&f.input, [&f.predicate], depth),
                        not_null,
                    }
                }
                LogicalPlan::Aggregate(a) => NodeFacts {
                    filter_sources: self.filter_sources(&a.input, &a.group_expr, depth),
                    not_null: HashSet::new(),
                },
                LogicalPlan::Join(j) => {
                    let mut sources =
                        self.filter_sources(&j.left, j.on.iter().map(|(l, _)| l), depth);
                    sources.extend(self.filter_sources(
                        &j.right,
                        j.on.iter().map(|(_, r)| r),
                        depth,
                    ));
                    NodeFacts {
                        filter_sources: sources,
                        not_null: HashSet::new(),
                    }
                }
                _ => NodeFacts::default(),
            };
            self.nodes.insert(key, facts);
        }
        &self.nodes[&key]
    }

    fn trace(&mut self, plan: &LogicalPlan, index: usize, depth: usize) -> ColumnTrace {
        if depth > 256 {
            return ColumnTrace::default();
        }
        match plan {
            LogicalPlan::TableScan(scan) => {
                let column = scan
                    .projected_schema
                    .fields()
                    .get(index)
                    .map(|f| f.name().clone())
                    .unwrap_or_default();
                ColumnTrace {
                    sources: vec![(table_name(&scan.table_name), column, DependencyKind::Copy)],
                    copy: true,
                    nulls_removed: false,
                    outer_join: false,
                }
            }
            LogicalPlan::Projection(p) => match p.expr.get(index) {
                Some(expr) => self.expr_trace(&p.input, expr, depth),
                None => ColumnTrace::default(),
            },
            LogicalPlan::Filter(f) => {
                let mut t = self.trace(&f.input, index, depth + 1);
                let facts = self.facts(plan, depth);
                t.nulls_removed |= facts.not_null.contains(&index);
                t.sources.extend(facts.filter_sources.iter().cloned());
                t.sources.sort();
                t.sources.dedup();
                t
            }
            LogicalPlan::Aggregate(a) => {
                let groups = a.group_expr.len();
                if index < groups {
                    return self.expr_trace(&a.input, &a.group_expr[index], depth);
                }
                let mut t = match a.aggr_expr.get(index - groups) {
                    Some(expr) => computed([self.expr_trace(&a.input, expr, depth)]),
                    None => ColumnTrace::default(),
                };
                t.sources
                    .extend(self.facts(plan, depth).filter_sources.iter().cloned());
                t.sources.sort();
                t.sources.dedup();
                t
            }
            LogicalPlan::Window(w) => {
                let inputs = w.input.schema().fields().len();
                if index < inputs {
                    self.trace(&w.input, index, depth + 1)
                } else {
                    match w.window_expr.get(index - inputs) {
                        Some(expr) => computed([self.expr_trace(&w.input, expr, depth)]),
                        None => ColumnTrace::default(),
                    }
                }
            }
            LogicalPlan::Join(j) => {
                let left_len = j.left.schema().fields().len();
                let (mut t, outer) = match j.join_type {
                    JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                        (self.trace(&j.left, index, depth + 1), false)
                    }
                    JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                        (self.trace(&j.right, index, depth + 1), false)
                    }
                    jt if index < left_len => (
                        self.trace(&j.left, index, depth + 1),
                        matches!(jt, JoinType::Right | JoinType::Full),
                    ),
                    jt => (
                        self.trace(&j.right, index - left_len, depth + 1),
                        matches!(jt, JoinType::Left | JoinType::Full),
                    ),
                };
                t.outer_join |= outer;
                if outer {
                    // Rows without a match are null here, whatever a filter below removed.
                    t.nulls_removed = false;
                }
                t.sources
                    .extend(self.facts(plan, depth).filter_sources.iter().cloned());
                t.sources.sort();
                t.sources.dedup();
                t
            }
            LogicalPlan::Union(u) => {
                let traces: Vec<ColumnTrace> = u
                    .inputs
                    .iter()
                    .map(|i| self.trace(i, index, depth + 1))
                    .collect();
                let copy = traces.iter().all(|t| t.copy);
                let nulls_removed = traces.iter().all(|t| t.nulls_removed);
                let outer_join = traces.iter().any(|t| t.outer_join);
                let mut sources: Vec<_> = traces.into_iter().flat_map(|t| t.sources).collect();
                sources.sort();
                sources.dedup();
                ColumnTrace {
                    sources,
                    copy,
                    nulls_removed,
                    outer_join,
                }
            }
            LogicalPlan::SubqueryAlias(s) => self.trace(&s.input, index, depth + 1),
            LogicalPlan::Sort(s) => self.trace(&s.input, index, depth + 1),
            LogicalPlan::Limit(l) => self.trace(&l.input, index, depth + 1),
            LogicalPlan::Repartition(r) => self.trace(&r.input, index, depth + 1),
            LogicalPlan::Distinct(d) => self.trace(d.input(), index, depth + 1),
            other => {
                let traces: Vec<ColumnTrace> = other
                    .inputs()
                    .into_iter()
                    .filter(|i| index < i.schema().fields().len())
                    .map(|i| self.trace(i, index, depth + 1))
                    .collect();
                computed(traces)
            }
        }
    }
}

/// The output schema of a plan as plain Arrow fields.
pub fn output_schema(plan: &LogicalPlan) -> Schema {
    Schema::new(
        plan.schema()
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), f.is_nullable()))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    /// One parsed statement (also for `budget`'s tests).
    pub(super) fn statement(sql: &str) -> Statement {
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    fn raw() -> HashMap<String, SchemaRef> {
        let schema = Schema::new(vec![
            Field::new("col1", DataType::Utf8, false),
            Field::new(
                "col2",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("col3", DataType::Int64, false),
            Field::new("col5", DataType::Utf8, true),
        ]);
        HashMap::from([
            ("raw_table".to_owned(), Arc::new(schema.clone())),
            ("ns.other".to_owned(), Arc::new(schema)),
        ])
    }

    #[test]
    fn declared_run_parameters_plan_with_their_declared_types() {
        let planner = SqlPlanner::new();
        let query = statement(
            "SELECT col1, $country AS c, $n + 1 AS m, $country FROM raw_table \
             WHERE col3 >= $n AND col1 = $undeclared AND col1 IN (SELECT col1 FROM ns.other WHERE col3 < $n)",
        );
        let declared = BTreeMap::from([
            (
                "country".to_owned(),
                ProjectParameter {
                    ty: "str".to_owned(),
                    default: None,
                },
            ),
            (
                "n".to_owned(),
                ProjectParameter {
                    ty: "int".to_owned(),
                    default: None,
                },
            ),
        ]);
        let fields = |params: &ParamTypes| {
            let plan = planner
                .plan_with_parameters(&query, &raw(), params)
                .unwrap();
            output_schema(&plan)
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
                .collect::<Vec<_>>()
        };
        // Bound: the declared types, non-null (the runtime binds a value), names as written.
        assert_eq!(
            fields(&param_types(&declared)),
            [
                ("col1".to_owned(), DataType::Utf8, false),
                ("c".to_owned(), DataType::Utf8, false),
                ("m".to_owned(), DataType::Int64, false),
                ("$country".to_owned(), DataType::Utf8, false),
            ]
        );
        // Unbound, a placeholder its context does not type is an always-null column.
        assert_eq!(fields(&ParamTypes::new())[1].1, DataType::Null);
    }

    #[test]
    fn infers_types_nullability_and_traces() {
        let planner = SqlPlanner::new();
        let plan = planner
            .plan(
                &statement("SELECT col1, col2, SUM(col3) AS _S FROM raw_table WHERE col5 IS NOT NULL GROUP BY col1, col2"),
                &raw(),
            )
            .unwrap();
        let schema = output_schema(&plan);
        let fields: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(fields[0], ("col1", DataType::Utf8, false));
        assert_eq!(fields[2], ("_S", DataType::Int64, true));
        let traces = trace_columns(&plan);
        assert!(traces[0].copy);
        assert!(traces[0].sources.contains(&(
            "raw_table".into(),
            "col1".into(),
            DependencyKind::Copy
        )));
        assert!(traces[0].sources.contains(&(
            "raw_table".into(),
            "col5".into(),
            DependencyKind::Filter
        )));
        assert!(!traces[2].copy);
        assert!(traces[2].sources.contains(&(
            "raw_table".into(),
            "col3".into(),
            DependencyKind::Transform
        )));
    }

    #[test]
    fn outer_joins_and_null_filters_are_traced() {
        let planner = SqlPlanner::new();
        let plan = planner
            .plan(
                &statement("SELECT a.col1, b.col5 FROM raw_table a LEFT JOIN ns.other b ON a.col1 = b.col1 WHERE a.col5 IS NOT NULL"),
                &raw(),
            )
            .unwrap();
        let traces = trace_columns(&plan);
        assert!(!traces[0].outer_join && traces[1].outer_join);
        assert!(traces[1].sources.contains(&(
            "ns.other".into(),
            "col5".into(),
            DependencyKind::Copy
        )));
        assert!(output_schema(&plan).field(1).is_nullable());
    }

    #[test]
    fn unknown_column_is_located() {
        let planner = SqlPlanner::new();
        let err = planner
            .plan_unbounded(&statement("SELECT col1,\n  colx FROM raw_table"), &raw())
            .unwrap_err();
        assert!(err.message.contains("colx"), "{err:?}");
        assert_eq!(err.span.map(|s| s.0), Some((2, 3)), "{err:?}");
    }
}
