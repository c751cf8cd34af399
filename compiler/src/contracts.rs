//! Contracts through the DAG: each table's effective output schema (declared, or inferred
//! from its body), the comparison of inferred with declared schemas, the edge checks, and
//! the obligation ledger: every contract fact ends proven, violated or deferred.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};

use crate::analysis::{Table, TableId, TableKind};
use crate::diagnostic::{Code, Diagnostic, Edit, Fix};
use crate::py_infer::NullableOrigin;
use crate::quickfix;
use crate::schema::{SchemaDef, SchemaId, Schemas};
use crate::source::{FileId, SourceSet, Span};
use crate::sql_plan::{
    ColumnTrace, PlanFailure, SqlPlanner, output_schema, too_wide, trace_columns,
};
use crate::suggest::did_you_mean;
use crate::syntax::sql::SqlNode;
use crate::types::{ColumnType, DataType, display_type, widens_losslessly};

mod edges;
mod sql_infer;

use edges::{check_edges, check_filters};
use sql_infer::infer_sql;

/// One column of a table's effective output.
#[derive(Clone, Debug)]
pub struct OutColumn {
    pub name: String,
    /// `None` when its declared type is invalid (reported): checks skip it.
    pub ty: Option<ColumnType>,
    /// Where it is declared or computed.
    pub file: FileId,
    pub span: Span,
    /// Nullable only because of the engine's conservative typing (an aggregate, an
    /// outer join, a function), not because a contract upstream allows nulls: a non-null
    /// requirement on it is deferred to the runtime, not violated.
    pub conservative_null: bool,
}

/// What a table provides to its consumers.
#[derive(Clone, Debug)]
pub struct Output {
    pub columns: Vec<OutColumn>,
    /// The declared schema (the contract), when there is one.
    pub declared: Option<SchemaId>,
    /// For messages: `OrderSchema`, or `the schema inferred from its query`.
    pub described_as: String,
    /// Column positions by name, built on the first lookup ([`Output::column`]), so
    /// comparing two outputs is linear in their columns.
    by_name: std::sync::OnceLock<HashMap<String, usize>>,
}

impl Output {
    pub fn new(columns: Vec<OutColumn>, declared: Option<SchemaId>, described_as: String) -> Self {
        Output {
            columns,
            declared,
            described_as,
            by_name: std::sync::OnceLock::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&OutColumn> {
        self.position(name).map(|at| &self.columns[at])
    }

    /// The position of the (first) column named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        let by_name = self.by_name.get_or_init(|| {
            let mut map = HashMap::with_capacity(self.columns.len());
            for (at, c) in self.columns.iter().enumerate() {
                // The first of duplicate names, as a linear search finds it.
                map.entry(c.name.clone()).or_insert(at);
            }
            map
        });
        by_name.get(name).copied()
    }

    /// As an Arrow schema, when every column has a valid type.
    pub fn arrow(&self) -> Option<SchemaRef> {
        let fields: Option<Vec<Field>> = self
            .columns
            .iter()
            .map(|c| {
                c.ty.as_ref()
                    .map(|t| Field::new(&c.name, t.data_type.clone(), t.nullable))
            })
            .collect();
        fields.map(|f| Arc::new(Schema::new(f)))
    }

    fn declared(id: SchemaId, def: &SchemaDef) -> Output {
        Output {
            columns: def
                .columns
                .iter()
                .map(|c| OutColumn {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    file: c.file,
                    span: c.span.clone(),
                    conservative_null: false,
                })
                .collect(),
            declared: Some(id),
            described_as: format!("`{}`", def.name),
            by_name: std::sync::OnceLock::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The column exists.
    Exists,
    /// The column has the declared type (or one that widens to it).
    Type,
    /// The column holds no nulls.
    NonNull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Proven,
    Deferred,
    Violated,
}

/// One contract fact about one column of one table's output (or of an edge's input).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Obligation {
    pub table: String,
    pub column: String,
    pub fact: Fact,
    pub status: Status,
    /// Why it has that status, for people.
    pub reason: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObligationCounts {
    pub proven: usize,
    pub deferred: usize,
    pub violated: usize,
}

pub fn count<'a>(obligations: impl IntoIterator<Item = &'a Obligation>) -> ObligationCounts {
    let mut c = ObligationCounts::default();
    for o in obligations {
        match o.status {
            Status::Proven => c.proven += 1,
            Status::Deferred => c.deferred += 1,
            Status::Violated => c.violated += 1,
        }
    }
    c
}

/// What the contract phase produces: each checked table's step result, shared with the
/// database's memo (an analysis after an edit copies nothing of the unchanged tables).
#[derive(Clone, Debug, Default)]
pub struct Contracts {
    /// By `TableId`: the table's step (`None`: not checked, e.g. a duplicate).
    steps: Vec<Option<Arc<TableContract>>>,
    /// The checked tables in the order they were checked: the ledger's order.
    checked: Vec<TableId>,
}

/// The effective outputs of the tables checked so far, by id: what a contract step
/// reads of its inputs.
pub(crate) trait Outputs {
    fn output(&self, id: TableId) -> Option<&Output>;
}

impl Outputs for Contracts {
    fn output(&self, id: TableId) -> Option<&Output> {
        Contracts::output(self, id)
    }
}

impl Outputs for Vec<Option<Output>> {
    fn output(&self, id: TableId) -> Option<&Output> {
        self.get(id.0)?.as_ref()
    }
}

impl Contracts {
    /// The effective output of a table (`None`: undeclared and not inferable).
    pub fn output(&self, id: TableId) -> Option<&Output> {
        self.step(id)?.output.as_ref()
    }

    /// The output inferred from a table's body, where the body could be inferred.
    pub fn inferred(&self, id: TableId) -> Option<&Output> {
        self.step(id)?.inferred.as_ref()
    }

    /// Column traces of an inferred body (lineage).
    pub fn traces(&self, id: TableId) -> Option<&[ColumnTrace]> {
        self.step(id)?.traces.as_deref()
    }

    /// Where an inferred Python body reads its input columns unchanged (empty for SQL
    /// nodes and bodies that were not inferred).
    pub fn column_uses(&self, id: TableId) -> &[crate::py_infer::ColumnUse] {
        self.step(id).map_or(&[], |s| &s.column_uses)
    }

    /// Whether a table's body failed to check or an input edge is violated (reported):
    /// no follow-on warnings about it.
    pub fn broken(&self, id: TableId) -> bool {
        self.step(id).is_some_and(|s| s.broken)
    }

    /// The contract facts of one table's step (empty when it was not checked).
    pub fn obligations_of(&self, id: TableId) -> &[Obligation] {
        self.step(id).map_or(&[], |s| s.obligations.as_slice())
    }

    /// The obligation ledger: every contract fact, in the order the tables were checked.
    pub fn obligations(&self) -> impl Iterator<Item = &Obligation> {
        self.checked
            .iter()
            .filter_map(|id| self.step(*id))
            .flat_map(|s| s.obligations.iter())
    }

    /// How many tables the contracts are for (checked or not).
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    fn step(&self, id: TableId) -> Option<&TableContract> {
        self.steps.get(id.0)?.as_deref()
    }
}

pub(crate) struct Context<'a> {
    pub sources: &'a SourceSet,
    pub modules: &'a crate::resolve::Modules,
    pub tables: &'a [Table],
    pub schemas: &'a Schemas,
    pub sql: &'a HashMap<FileId, &'a SqlNode>,
    /// The run parameters `bauplan_project.yml` declares: a SQL query's `$key` is
    /// planned with its declared type.
    pub parameters:
        &'a std::collections::BTreeMap<String, crate::bauplan_project::ProjectParameter>,
}

/// Infers a Python node's output from its body. `None` when the body is not inspectable
/// (deferred) or an error was reported.
fn infer_python(
    ctx: &Context,
    outputs: &dyn Outputs,
    id: TableId,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Output, Vec<ColumnTrace>, Body<'static>)> {
    let table = &ctx.tables[id.0];
    let (module, index) = table.function?;
    let function = &ctx.modules.modules[module].ast.functions[index];
    // A PyArrow body that writes its output schema needs no input frames.
    let inferred = match crate::py_infer::literal_schema(&function.statements) {
        Some(inferred) => inferred,
        None => crate::py_infer::infer(
            table.file,
            &table.name,
            &function.statements,
            input_frames(ctx, outputs, table)?,
            diagnostics,
        )
        .ok()?,
    };
    let mut columns = Vec::new();
    let mut traces = Vec::new();
    let mut origins = Vec::new();
    for c in inferred.columns {
        columns.push(OutColumn {
            name: c.name.clone(),
            ty: (!c.unknown_type)
                .then(|| ColumnType::new(c.ty.clone().unwrap_or(DataType::Null), c.nullable)),
            file: table.file,
            span: c.span.clone(),
            // Only a plain copy of a column its contract declares nullable is "really"
            // nullable; anything computed is the engine's conservative typing.
            conservative_null: c.nullable
                && (c.conservative || !c.copy || c.nullable_origin.is_none()),
        });
        traces.push(ColumnTrace {
            sources: c.sources.clone(),
            copy: c.copy,
            nulls_removed: false,
            outer_join: c.conservative,
        });
        origins.push(if c.copy {
            c.nullable_origin.clone()
        } else {
            None
        });
    }
    let missing_at = table.returns_span.clone().unwrap_or(table.span.clone());
    Some((
        Output::new(
            columns,
            None,
            "the schema inferred from its body".to_owned(),
        ),
        traces,
        Body {
            what: "body",
            missing_at,
            origins,
            uses: inferred.uses,
        },
    ))
}

/// The node's inputs as its body sees them: each input's columns (as the node's contract
/// for it types them; only the projected ones for a Bauplan projection). `None` when an
/// input's columns are unknown.
fn input_frames(
    ctx: &Context,
    outputs: &dyn Outputs,
    table: &Table,
) -> Option<Vec<crate::py_infer::InputFrame>> {
    use crate::py_infer::{ColVal, InputFrame};
    let mut frames = Vec::new();
    for input in &table.inputs {
        let param = input.param.as_ref()?;
        let parent_output = input.resolved.and_then(|p| outputs.output(p));
        let (columns, described_as, table_name) = match (parent_output, input.required) {
            // The parent's columns, as the node's contract for this input types them:
            // edge mismatches are reported once, at the edge.
            (Some(out), Some(req)) => {
                let req_out = Output::declared(req, ctx.schemas.get(req));
                let columns = out
                    .columns
                    .iter()
                    .map(|c| {
                        req_out
                            .column(&c.name)
                            .filter(|r| r.ty.is_some())
                            .cloned()
                            .unwrap_or_else(|| c.clone())
                    })
                    .collect();
                (columns, out.described_as.clone(), input.table.clone())
            }
            (Some(out), None) => (
                out.columns.clone(),
                out.described_as.clone(),
                input.table.clone(),
            ),
            (None, Some(req)) => (
                Output::declared(req, ctx.schemas.get(req)).columns,
                format!("`{}`", ctx.schemas.get(req).name),
                input.table.clone(),
            ),
            (None, None) => return None,
        };
        // Bauplan delivers only the projected columns.
        let projected: Option<HashSet<&str>> = match (&input.projection, input.required) {
            (Some(projection), _) => Some(projection.iter().map(|(p, _)| p.as_str()).collect()),
            (None, Some(req)) if input.projection_schema => Some(
                ctx.schemas
                    .get(req)
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect(),
            ),
            _ => None,
        };
        let columns: Vec<OutColumn> = match projected {
            Some(projected) => columns
                .into_iter()
                .filter(|c| projected.contains(c.name.as_str()))
                .collect(),
            None => columns,
        };
        let mut cols = Vec::new();
        for c in columns {
            let ty = c.ty.as_ref()?;
            cols.push(ColVal {
                name: c.name.clone(),
                ty: Some(ty.data_type.clone()),
                unknown_type: false,
                dynamic: false,
                nullable: ty.nullable,
                conservative: c.conservative_null,
                sources: vec![(
                    table_name.clone(),
                    c.name.clone(),
                    crate::sql_plan::DependencyKind::Copy,
                )],
                copy: true,
                span: input.span.clone(),
                nullable_origin: (ty.nullable && !c.conservative_null).then(|| NullableOrigin {
                    table: table_name.clone(),
                    column: c.name.clone(),
                    described_as: described_as.clone(),
                    file: c.file,
                    span: c.span.clone(),
                }),
            });
        }
        frames.push(InputFrame {
            param: param.text.clone(),
            columns: cols,
        });
    }
    Some(frames)
}

/// What the contract step finds for one table: a pure function of the table, its own
/// file, the schemas it names and its inputs' effective outputs ([`check_table`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct TableContract {
    /// The effective output its consumers see.
    pub output: Option<Output>,
    /// The output inferred from its body.
    pub inferred: Option<Output>,
    /// Column traces of the inferred body.
    pub traces: Option<Vec<ColumnTrace>>,
    /// Where an inferred Python body reads input columns unchanged.
    pub column_uses: Vec<crate::py_infer::ColumnUse>,
    /// The body failed to check, or an input edge is violated (reported).
    pub broken: bool,
    pub obligations: Vec<Obligation>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Contracts {
    /// Room for `n` tables, none checked yet.
    pub(crate) fn with_tables(n: usize) -> Contracts {
        Contracts {
            steps: vec![None; n],
            checked: Vec::new(),
        }
    }

    /// Sets the step of table `id` without entering it in the ledger yet: its consumers
    /// can read its output. [`Contracts::enter`] makes the ledger afterwards.
    pub(crate) fn set(&mut self, id: TableId, step: Arc<TableContract>) {
        self.steps[id.0] = Some(step);
    }

    /// Enters the tables of `order`, whose steps are set, in the ledger in that order;
    /// their diagnostics go to `diagnostics`.
    pub(crate) fn enter(&mut self, order: &[TableId], diagnostics: &mut Vec<Diagnostic>) {
        for &id in order {
            if let Some(step) = self.steps.get(id.0).and_then(Option::as_ref) {
                diagnostics.extend(step.diagnostics.iter().cloned());
                self.checked.push(id);
            }
        }
    }
}

/// A graph with a cycle: no inference, only declared contracts and the edges between
/// them, over the live tables in `tables` order.
pub(crate) fn run_cyclic(
    ctx: &Context,
    live: &[bool],
    diagnostics: &mut Vec<Diagnostic>,
) -> Contracts {
    let outputs: Vec<Option<Output>> = ctx
        .tables
        .iter()
        .zip(live)
        .map(|(t, live)| {
            t.output
                .filter(|_| *live)
                .map(|s| Output::declared(s, ctx.schemas.get(s)))
        })
        .collect();
    let mut out = Contracts::with_tables(ctx.tables.len());
    let checked: Vec<TableId> = (0..ctx.tables.len())
        .filter(|&i| live[i])
        .map(TableId)
        .collect();
    for &id in &checked {
        let mut step = TableContract {
            output: outputs[id.0].clone(),
            ..TableContract::default()
        };
        check_edges(
            ctx,
            id,
            &outputs,
            &mut step.obligations,
            &mut step.diagnostics,
        );
        out.set(id, Arc::new(step));
    }
    out.enter(&checked, diagnostics);
    out
}

/// The contract step of one table of an acyclic graph, its inputs already checked:
/// the edges into it, its body's inference, the comparison with its declared contract,
/// and the effective output its consumers see.
///
/// Reads only: the table, its own file (text and parse), the schemas it names (its
/// output and its inputs' requirements), `outputs` of its inputs, and `planner`. The
/// database's memo key covers exactly these ([`crate::db`]).
pub(crate) fn check_table(
    ctx: &Context,
    planner: Option<&SqlPlanner>,
    outputs: &dyn Outputs,
    id: TableId,
) -> TableContract {
    let mut step = TableContract::default();
    let diagnostics = &mut step.diagnostics;
    let obligations = &mut step.obligations;
    let table = &ctx.tables[id.0];
    let declared = table
        .output
        .map(|s| Output::declared(s, ctx.schemas.get(s)));
    // A violated input edge is the root cause: the body is not inferred against it.
    let mut edge_violated = check_edges(ctx, id, outputs, obligations, diagnostics);
    if let Some(planner) = planner {
        edge_violated |= check_filters(ctx, planner, outputs, table, diagnostics);
    }
    step.broken |= edge_violated;
    let reported = diagnostics.len();
    let inferred = match table.kind {
        _ if edge_violated => None,
        TableKind::Sql => match (planner, ctx.sql.get(&table.file)) {
            (Some(planner), Some(node)) => infer_sql(ctx, planner, outputs, id, node, diagnostics)
                .map(|(output, traces)| {
                    let origins = traces
                        .iter()
                        .map(|t| nullable_copy(outputs, table, t))
                        .collect();
                    let missing_at = node
                        .output_schema()
                        .map_or(table.span.clone(), |s| s.span.clone());
                    (
                        output,
                        traces,
                        Body {
                            what: "query",
                            missing_at,
                            origins,
                            uses: Vec::new(),
                        },
                    )
                }),
            _ => None,
        },
        TableKind::Python => infer_python(ctx, outputs, id, diagnostics),
        _ => None,
    };
    if let Some((output, traces, body)) = inferred {
        check_model_columns(ctx, id, &output, diagnostics, obligations);
        if let Some(declared) = &declared {
            compare(ctx, id, declared, &output, &body, diagnostics, obligations);
        }
        step.traces = Some(traces);
        step.column_uses = body.uses;
        step.inferred = Some(output.clone());
        step.output = Some(declared.unwrap_or(output));
        return step;
    }
    if diagnostics[reported..].iter().any(Diagnostic::is_error) {
        // The body is broken (reported): its contract cannot hold as written.
        step.broken = true;
        for c in declared.iter().flat_map(|d| &d.columns) {
            push(
                obligations,
                &table.name,
                &c.name,
                Fact::Exists,
                Status::Violated,
                "the body does not type-check",
            );
        }
        step.output = declared;
        return step;
    }
    // Not inferable: the declared contract is validated at run time.
    if let Some(declared) = &declared {
        let why = match table.kind {
            _ if edge_violated => "an input edge is violated: the body is not checked",
            TableKind::Source => "a lake table: validated when read",
            TableKind::Python => "Python body not inspectable: validated at run time",
            TableKind::Sql => "query not inferable: validated at run time",
        };
        for c in &declared.columns {
            defer_column(obligations, &table.name, c, why);
        }
    }
    step.output = declared;
    step
}

fn defer_column(obligations: &mut Vec<Obligation>, table: &str, c: &OutColumn, why: &str) {
    let facts: &[Fact] = match &c.ty {
        Some(ty) if !ty.nullable => &[Fact::Exists, Fact::Type, Fact::NonNull],
        _ => &[Fact::Exists, Fact::Type],
    };
    for fact in facts {
        obligations.push(Obligation {
            table: table.to_owned(),
            column: c.name.clone(),
            fact: *fact,
            status: Status::Deferred,
            reason: why.to_owned(),
        });
    }
}

fn push(
    obligations: &mut Vec<Obligation>,
    table: &str,
    column: &str,
    fact: Fact,
    status: Status,
    reason: impl Into<String>,
) {
    obligations.push(Obligation {
        table: table.to_owned(),
        column: column.to_owned(),
        fact,
        status,
        reason: reason.into(),
    });
}

/// If the traced column is a nullable input column passed through unchanged, where that
/// column comes from.
fn nullable_copy(
    outputs: &dyn Outputs,
    table: &Table,
    trace: &ColumnTrace,
) -> Option<NullableOrigin> {
    // Through an outer join or not: a column its contract declares nullable, copied
    // unchanged, may hold those nulls.
    if !trace.copy || trace.nulls_removed {
        return None;
    }
    let (t, c, _) = trace
        .sources
        .iter()
        .find(|s| s.2 == crate::sql_plan::DependencyKind::Copy)?;
    let input = table.inputs.iter().find(|i| &i.table == t)?;
    let out = outputs.output(input.resolved?)?;
    let col = out.column(c)?;
    let nullable = col.ty.as_ref().is_some_and(|ty| ty.nullable) && !col.conservative_null;
    nullable.then(|| NullableOrigin {
        table: t.clone(),
        column: c.clone(),
        described_as: out.described_as.clone(),
        file: col.file,
        span: col.span.clone(),
    })
}

/// What a body comparison needs besides the two schemas.
struct Body<'a> {
    /// "query" or "body", for messages.
    what: &'a str,
    /// Where a declared-but-missing column is reported (the declared schema's name).
    missing_at: Span,
    /// Per inferred column: the nullable input column it passes through unchanged.
    origins: Vec<Option<NullableOrigin>>,
    /// Where a Python body reads input columns unchanged.
    uses: Vec<crate::py_infer::ColumnUse>,
}

/// Compares a node's inferred output with its declared contract.
fn compare(
    ctx: &Context,
    id: TableId,
    declared: &Output,
    inferred: &Output,
    body: &Body,
    diagnostics: &mut Vec<Diagnostic>,
    obligations: &mut Vec<Obligation>,
) {
    let table = &ctx.tables[id.0];
    let what = body.what;
    let schema = ctx.schemas.get(declared.declared.expect("declared output"));
    for want in &declared.columns {
        let Some(want_ty) = &want.ty else { continue };
        let Some((index, got)) = inferred
            .position(&want.name)
            .map(|at| (at, &inferred.columns[at]))
        else {
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::Exists,
                Status::Violated,
                format!("the {what} does not produce it"),
            );
            let produced: Vec<&str> = inferred
                .columns
                .iter()
                .filter(|c| declared.column(&c.name).is_none())
                .map(|c| c.name.as_str())
                .collect();
            let rename = if what == "query" {
                format!("alias it `AS {}`", want.name)
            } else {
                format!("rename it with `.alias(\"{}\")`", want.name)
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::ContractMissingColumn,
                    table.file,
                    body.missing_at.clone(),
                    format!(
                        "`{}` declares column `{}`, but the {what} of `{}` does not produce it",
                        schema.name, want.name, table.name
                    ),
                )
                .with_label(format!("`{}` requires `{}`", schema.name, want.name))
                .with_secondary(want.file, want.span.clone(), "declared here")
                .with_help(
                    match did_you_mean(&want.name, produced.iter().copied()) {
                        Some(s) => format!("the {what} produces `{s}`: {rename}"),
                        None => format!(
                            "produce `{}` in the {what}, or remove it from `{}`",
                            want.name, schema.name
                        ),
                    },
                ),
            );
            continue;
        };
        push(
            obligations,
            &table.name,
            &want.name,
            Fact::Exists,
            Status::Proven,
            format!("produced by the {what}"),
        );
        let Some(got_ty) = &got.ty else {
            let why = format!("type not inferred from the {what}: validated at run time");
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::Type,
                Status::Deferred,
                &why,
            );
            if !want_ty.nullable {
                push(
                    obligations,
                    &table.name,
                    &want.name,
                    Fact::NonNull,
                    Status::Deferred,
                    why,
                );
            }
            continue;
        };
        let got_dt = &got_ty.data_type;
        let fits = *got_dt == DataType::Null
            || widens_losslessly(got_dt, &want_ty.data_type)
            || same_strings(got_dt, &want_ty.data_type);
        if !fits {
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::Type,
                Status::Violated,
                format!("the {what} computes {}", display_type(got_dt)),
            );
            let cast = if what == "query" {
                format!("`CAST(... AS {})`", sql_type_name(&want_ty.data_type))
            } else {
                format!(
                    "`arrow_cast(..., str_lit(\"{}\"))` or `.cast(...)`",
                    display_type(&want_ty.data_type)
                )
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::ContractTypeMismatch,
                    table.file,
                    got.span.clone(),
                    format!(
                        "column `{}` of `{}` is {} in the {what}, but `{}` declares {}",
                        want.name,
                        table.name,
                        display_type(got_dt),
                        schema.name,
                        display_type(&want_ty.data_type)
                    ),
                )
                .with_label(format!("computes {}", display_type(got_dt)))
                .with_secondary(want.file, want.span.clone(), format!("declared {} here", display_type(&want_ty.data_type)))
                .with_help(format!(
                    "{} to {} is not a lossless widening: cast explicitly ({cast}), or declare `{}` as {}",
                    display_type(got_dt),
                    display_type(&want_ty.data_type),
                    want.name,
                    display_type(got_dt)
                )),
            );
        } else {
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::Type,
                Status::Proven,
                format!("the {what} computes {}", display_type(got_dt)),
            );
        }
        if want_ty.nullable {
            continue;
        }
        if !got_ty.nullable {
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::NonNull,
                Status::Proven,
                format!("non-null in the {what}"),
            );
            continue;
        }
        let origin = body.origins.get(index).cloned().flatten();
        let always_null = *got_dt == DataType::Null;
        if origin.is_none() && !always_null {
            let why = if got.conservative_null {
                "nullable by the engine's typing (aggregate, outer join or function): null count checked at run time"
            } else {
                "computed from nullable inputs: null count checked at run time"
            };
            push(
                obligations,
                &table.name,
                &want.name,
                Fact::NonNull,
                Status::Deferred,
                why,
            );
            continue;
        }
        let (message, help) = match &origin {
            Some(o) => (
                format!(
                    "column `{}` of `{}` passes nullable `{}.{}` through unchanged, but `{}` declares it non-null",
                    want.name, table.name, o.table, o.column, schema.name
                ),
                if what == "query" {
                    format!(
                        "remove the nulls (`WHERE {c} IS NOT NULL`, or `COALESCE({c}, ...)`), or declare `{}` nullable in `{}`",
                        want.name,
                        schema.name,
                        c = o.column
                    )
                } else {
                    format!(
                        "remove the nulls (`.filter(col(\"{c}\").is_not_null())` or `.fill_null(...)`), or declare `{}` nullable in `{}`",
                        want.name,
                        schema.name,
                        c = o.column
                    )
                },
            ),
            None => (
                format!(
                    "column `{}` of `{}` is always null, but `{}` declares it non-null",
                    want.name, table.name, schema.name
                ),
                format!(
                    "give it a value, or declare `{}` nullable in `{}`",
                    want.name, schema.name
                ),
            ),
        };
        push(
            obligations,
            &table.name,
            &want.name,
            Fact::NonNull,
            Status::Violated,
            message.clone(),
        );
        let mut d = Diagnostic::new(
            Code::ContractNullability,
            table.file,
            got.span.clone(),
            message,
        )
        .with_label("may be null")
        .with_help(help)
        .with_fix_opt(nullable_fix(schema, &want.name))
        .with_fix_opt(
            origin
                .as_ref()
                .and_then(|o| filter_fix(ctx, table, what, o, index, inferred)),
        );
        if let Some(o) = origin {
            d = d.with_secondary(
                o.file,
                o.span,
                format!("declared nullable in {}", o.described_as),
            );
        }
        diagnostics.push(d);
    }
    // A schema with a broken column (reported) would make every use of that column
    // look undeclared.
    let complete = !schema.incomplete;
    for got in inferred.columns.iter().filter(|_| complete) {
        if declared.column(&got.name).is_none() {
            let missing: Vec<&str> = declared
                .columns
                .iter()
                .filter(|c| inferred.column(&c.name).is_none())
                .map(|c| c.name.as_str())
                .collect();
            push(
                obligations,
                &table.name,
                &got.name,
                Fact::Exists,
                Status::Violated,
                "produced but not declared",
            );
            diagnostics.push(
                Diagnostic::new(
                    Code::ContractExtraColumn,
                    table.file,
                    got.span.clone(),
                    format!(
                        "the {what} of `{}` produces column `{}`, which `{}` does not declare",
                        table.name, got.name, schema.name
                    ),
                )
                .with_label("not in the contract")
                .with_secondary(
                    schema.file,
                    schema.span.clone(),
                    format!("`{}` is declared here", schema.name),
                )
                .with_fix_opt(got.ty.as_ref().and_then(|ty| {
                    quickfix::column::add_column(
                        schema,
                        &ctx.sources.file(schema.file).text,
                        &got.name,
                        ty,
                    )
                }))
                .with_help(
                    match did_you_mean(&got.name, missing.iter().copied()) {
                        Some(s) => format!("`{}` declares `{s}`: rename it to `{s}`", schema.name),
                        None => format!(
                            "declare it in `{}` (`{}: ...`), or drop it from the {what}",
                            schema.name, got.name
                        ),
                    },
                ),
            );
        }
    }
}

/// "Filter out nulls" for output column `index` of `table`, which passes nullable
/// `origin` through unchanged.
fn filter_fix(
    ctx: &Context,
    table: &Table,
    what: &str,
    origin: &NullableOrigin,
    index: usize,
    inferred: &Output,
) -> Option<Fix> {
    let file = ctx.sources.file(table.file);
    if what == "query" {
        let node = ctx.sql.get(&table.file)?;
        return quickfix::nulls::filter_nulls(
            table.file,
            file,
            node,
            index,
            inferred.columns.len(),
        );
    }
    let (module, function) = table.function?;
    let module = &ctx.modules.modules.get(module)?.ast;
    let function = module.functions.get(function)?;
    let input = table.inputs.iter().find(|i| i.table == origin.table)?;
    quickfix::nulls::filter_nulls_polars(
        table.file,
        &file.text,
        module,
        function,
        &input.param.as_ref()?.text,
        &origin.column,
    )
}

/// Utf8 and its large and view forms are the same strings to a contract.
fn same_strings(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    matches!(a, Utf8 | LargeUtf8 | Utf8View) && matches!(b, Utf8 | LargeUtf8 | Utf8View)
}

/// The SQL spelling of a type for a suggested CAST.
fn sql_type_name(t: &DataType) -> String {
    use DataType::*;
    match t {
        Int8 => "TINYINT".into(),
        Int16 => "SMALLINT".into(),
        Int32 => "INT".into(),
        Int64 => "BIGINT".into(),
        UInt8 => "TINYINT UNSIGNED".into(),
        UInt16 => "SMALLINT UNSIGNED".into(),
        UInt32 => "INT UNSIGNED".into(),
        UInt64 => "BIGINT UNSIGNED".into(),
        Float32 => "REAL".into(),
        Float64 => "DOUBLE".into(),
        Utf8 | LargeUtf8 | Utf8View => "VARCHAR".into(),
        Boolean => "BOOLEAN".into(),
        Date32 | Date64 => "DATE".into(),
        Timestamp(_, None) => "TIMESTAMP".into(),
        Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        other => display_type(other),
    }
}

/// Bauplan's `@bauplan.model(columns=[...])` against what the body produces.
fn check_model_columns(
    ctx: &Context,
    id: TableId,
    inferred: &Output,
    diagnostics: &mut Vec<Diagnostic>,
    obligations: &mut Vec<Obligation>,
) {
    let table = &ctx.tables[id.0];
    let Some(listed) = &table.model_columns else {
        return;
    };
    for (column, span) in listed {
        if inferred.column(column).is_some() {
            push(
                obligations,
                &table.name,
                column,
                Fact::Exists,
                Status::Proven,
                "produced by the body",
            );
            continue;
        }
        push(
            obligations,
            &table.name,
            column,
            Fact::Exists,
            Status::Violated,
            "listed in `columns=[...]` but not produced",
        );
        diagnostics.push(
            Diagnostic::new(
                Code::ContractMissingColumn,
                table.file,
                span.clone(),
                format!(
                    "`{}` lists output column `{column}`, but its body does not produce it",
                    table.name
                ),
            )
            .with_label("listed in `columns=[...]`")
            .with_help(
                match did_you_mean(column, inferred.columns.iter().map(|c| c.name.as_str())) {
                    Some(s) => format!("the body produces `{s}`: rename it, or fix the list"),
                    None => "produce it in the body, or remove it from the list".to_owned(),
                },
            ),
        );
    }
    let listed: HashSet<&str> = listed.iter().map(|(c, _)| c.as_str()).collect();
    for got in &inferred.columns {
        if !listed.contains(got.name.as_str()) {
            push(
                obligations,
                &table.name,
                &got.name,
                Fact::Exists,
                Status::Violated,
                "produced but not listed in `columns=[...]`",
            );
            diagnostics.push(
                Diagnostic::new(
                    Code::ContractExtraColumn,
                    table.file,
                    got.span.clone(),
                    format!("the body of `{}` produces column `{}`, which its `columns=[...]` does not list", table.name, got.name),
                )
                .with_label("not listed")
                .with_help(format!("add \"{}\" to `columns=[...]`, or drop it from the body", got.name)),
            );
        }
    }
}

fn out_column_list(columns: &[OutColumn]) -> String {
    const MAX: usize = 12;
    let mut names: Vec<String> = columns
        .iter()
        .take(MAX)
        .map(|c| format!("`{}`", c.name))
        .collect();
    if columns.len() > MAX {
        names.push(format!("and {} more", columns.len() - MAX));
    }
    names.join(", ")
}

/// How the user would declare `column` nullable, in their own spelling: the annotation
/// as written, wrapped (`email: UNION(str, None)`), or `[Nullable]` on an inherited
/// column; the Arrow type only when the annotation is not known.
fn nullable_spelling(
    column: &crate::schema::Column,
    data_type: &DataType,
    schemas: &Schemas,
) -> String {
    match (&column.inherited_from, &column.annotation) {
        (Some((schema, from)), _) => format!(
            "`{} = {}.{from}[Nullable]`",
            column.name,
            schemas.get(*schema).name
        ),
        (None, Some(written)) => format!("`{}: UNION({written}, None)`", column.name),
        (None, None) => format!(
            "`{}: UNION({}, None)`",
            column.name,
            display_type(data_type)
        ),
    }
}

/// "Make the contract column nullable": `| None` after the annotation of a column
/// declared `name: type` (an inherited column has no annotation to extend: no fix).
fn nullable_fix(schema: &SchemaDef, column: &str) -> Option<Fix> {
    let declared = schema.columns.iter().find(|c| c.name == column)?;
    let annotation = declared.annotation_span.as_ref()?;
    Some(Fix {
        title: format!("Declare `{column}` nullable in `{}`", schema.name),
        preferred: false,
        edits: vec![Edit {
            file: declared.file,
            span: annotation.end..annotation.end,
            replacement: " | None".to_owned(),
        }],
    })
}
