//! The typed plan: the versioned contract between the compiler and the runtime
//! (docs/plan.md). Built from a checked [`Analysis`]; serialized as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::analysis::PythonSettings;
use crate::analysis::{Analysis, TableId, TableKind};
use crate::bauplan_project::ProjectParameter;
use crate::contracts::{Fact, ObligationCounts, Status, count};
use crate::lineage::LineageEdge;
use crate::source::SourceSet;

/// Bumped on any incompatible change of the JSON shape.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Plan {
    pub version: u32,
    pub nodes: Vec<PlanNode>,
    pub edges: Vec<PlanEdge>,
    /// Table names in topological order (empty when the project has a cycle).
    pub order: Vec<String>,
    pub obligations: PlanObligations,
    pub lineage: Vec<LineageEdge>,
    /// `@expectation()` functions, in file order.
    pub expectations: Vec<PlanExpectation>,
    /// Run parameters declared in `bauplan_project.yml`, by name.
    pub parameters: BTreeMap<String, ProjectParameter>,
    /// Bare names Python code uses for a table other than its own name (the variable a
    /// `Source(...)` is assigned to), name -> table; omitted when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct PlanNode {
    pub name: String,
    pub kind: TableKind,
    /// Relative to the project folder.
    pub file: String,
    pub line: u32,
    /// SHA-256 of the defining file's text.
    pub code_hash: String,
    pub inputs: Vec<String>,
    /// The declared schema (contract) name, if any.
    pub declared_schema: Option<String>,
    /// Whether `output_schema` was inferred from the body (otherwise declared).
    pub inferred: bool,
    /// The effective output schema; `null` when undeclared and not inferable.
    pub output_schema: Option<Vec<PlanColumn>>,
    /// Python nodes: the function and the packages its decorators ask for.
    pub python: Option<PythonNode>,
    /// How the output reaches the lake: `{"strategy": "replace"}` (the default),
    /// `append`, `none` (computed and validated, never published) or
    /// `overwrite_partitions` (with `partitioned_by` and `overwrite_filter`).
    pub materialization: crate::bauplan::Materialization,
}

#[derive(Debug, Serialize)]
pub struct PlanColumn {
    pub name: String,
    /// Arrow's spelling of the type (`arrow_schema::DataType::from_str` reads it back);
    /// `null` when the compiler could not infer it (validated at run time).
    #[serde(rename = "type")]
    pub data_type: Option<String>,
    /// `null` with an unknown type.
    pub nullable: Option<bool>,
    /// The column's documentation (Bauplan's `TableField(doc=...)`); omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PythonNode {
    pub function: String,
    pub packages: BTreeMap<String, String>,
    pub python_version: Option<String>,
    /// How inputs are handed to the function: `polars`, `pyarrow` or `pandas`.
    pub dataframe: String,
    /// The table parameters, in order: `{"param": "df", "table": "parent_table"}`.
    pub params: Vec<PlanParam>,
    /// The run parameters it reads, in order: `{"param": "m", "key": "min_miles"}` for
    /// `m=bauplan.Parameter("min_miles")`.
    pub run_params: Vec<PlanRunParam>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanParam {
    pub param: String,
    pub table: String,
    /// Bauplan's `Model("t", columns=[...])`: only these columns are handed over.
    pub columns: Option<Vec<String>>,
    /// Bauplan's `Model("t", filter="...")`: only the rows this SQL predicate keeps.
    pub filter: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanRunParam {
    pub param: String,
    pub key: String,
    /// The Python type the function annotates it with (`Annotated[float,
    /// Parameter("k")]`); omitted for the untyped form.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
}

/// An `@expectation()` function: a check over tables that must return true.
#[derive(Clone, Debug, Serialize)]
pub struct PlanExpectation {
    pub name: String,
    pub file: String,
    pub line: u32,
    pub code_hash: String,
    pub inputs: Vec<String>,
    pub python: PythonNode,
}

#[derive(Debug, Serialize)]
pub struct PlanEdge {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize)]
pub struct PlanObligations {
    pub counts: ObligationCounts,
    /// What the runtime must validate: every deferred fact.
    pub deferred: Vec<DeferredObligation>,
}

#[derive(Debug, Serialize)]
pub struct DeferredObligation {
    pub table: String,
    pub column: String,
    pub fact: Fact,
    pub reason: String,
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Plan {
    /// Every table by the bare names Python code may use for it: each table's own
    /// name, and the [`Plan::bindings`]. Name -> table.
    pub fn python_names(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.name.clone()))
            .chain(self.bindings.clone())
            .collect()
    }
}

pub fn build(analysis: &Analysis, sources: &SourceSet) -> Plan {
    let contracts = &analysis.contracts;
    let mut nodes = Vec::new();
    for (i, table) in analysis.tables.iter().enumerate() {
        if i >= contracts.len() {
            continue;
        }
        let file = sources.file(table.file);
        let line = file.line_index.line_col(&file.text, table.span.start).line;
        let output_schema = contracts.output(TableId(i)).map(|o| {
            o.columns
                .iter()
                .map(|c| PlanColumn {
                    name: c.name.clone(),
                    data_type: c.ty.as_ref().map(|t| t.data_type.to_string()),
                    nullable: c.ty.as_ref().map(|t| t.nullable),
                    doc: table
                        .output
                        .and_then(|s| analysis.schemas[s.0].column(&c.name))
                        .and_then(|col| col.doc.clone()),
                })
                .collect()
        });
        // A Bauplan model whose body is not inferred still names its output columns
        // (`@bauplan.model(columns=[...])`): the runtime checks those names.
        let output_schema = output_schema.or_else(|| {
            table.model_columns.as_ref().map(|columns| {
                columns
                    .iter()
                    .map(|(name, _)| PlanColumn {
                        name: name.clone(),
                        data_type: None,
                        nullable: None,
                        doc: None,
                    })
                    .collect()
            })
        });
        let python = table
            .python
            .as_ref()
            .map(|p| python_node(p, table, &analysis.schemas));
        nodes.push(PlanNode {
            name: table.name.clone(),
            kind: table.kind,
            file: file.path.clone(),
            line,
            code_hash: sha256(&file.text),
            inputs: table.inputs.iter().map(|i| i.table.clone()).collect(),
            declared_schema: table.output.map(|s| analysis.schemas[s.0].name.clone()),
            inferred: table.output.is_none() && contracts.inferred(TableId(i)).is_some(),
            output_schema,
            python,
            materialization: table.materialization.clone(),
        });
    }
    let edges = analysis
        .edges
        .iter()
        .map(|(p, c)| PlanEdge {
            from: analysis.tables[p.0].name.clone(),
            to: analysis.tables[c.0].name.clone(),
        })
        .collect();
    let order = analysis
        .order
        .as_ref()
        .map(|o| {
            o.iter()
                .map(|t| analysis.tables[t.0].name.clone())
                .collect()
        })
        .unwrap_or_default();
    let deferred = contracts
        .obligations()
        .filter(|o| o.status == Status::Deferred)
        .map(|o| DeferredObligation {
            table: o.table.clone(),
            column: o.column.clone(),
            fact: o.fact,
            reason: o.reason.clone(),
        })
        .collect();
    Plan {
        version: PLAN_VERSION,
        nodes,
        edges,
        order,
        obligations: PlanObligations {
            counts: count(contracts.obligations()),
            deferred,
        },
        lineage: crate::lineage::edges(analysis),
        expectations: analysis
            .expectations
            .iter()
            .filter_map(|check| {
                let file = sources.file(check.file);
                Some(PlanExpectation {
                    name: check.name.clone(),
                    file: file.path.clone(),
                    line: file.line_index.line_col(&file.text, check.span.start).line,
                    code_hash: sha256(&file.text),
                    inputs: check.inputs.iter().map(|i| i.table.clone()).collect(),
                    python: python_node(check.python.as_ref()?, check, &analysis.schemas),
                })
            })
            .collect(),
        parameters: analysis.parameters.clone(),
        bindings: analysis.bindings.clone(),
    }
}

fn python_node(
    settings: &PythonSettings,
    table: &crate::analysis::Table,
    schemas: &[crate::schema::SchemaDef],
) -> PythonNode {
    PythonNode {
        function: settings.function.clone(),
        packages: settings.packages.clone(),
        python_version: settings.version.clone(),
        dataframe: settings.dataframe.clone(),
        params: table
            .inputs
            .iter()
            .filter_map(|i| {
                Some(PlanParam {
                    param: i.param.as_ref()?.text.clone(),
                    table: i.table.clone(),
                    // `columns=[...]`, or the columns of a `projection_schema`.
                    columns: match (&i.projection, i.required) {
                        (Some(p), _) => Some(p.iter().map(|(c, _)| c.clone()).collect()),
                        (None, Some(s)) if i.projection_schema => Some(
                            schemas[s.0]
                                .columns
                                .iter()
                                .map(|c| c.name.clone())
                                .collect(),
                        ),
                        _ => None,
                    },
                    filter: i.filter.clone(),
                })
            })
            .collect(),
        run_params: table
            .run_params
            .iter()
            .map(|r| PlanRunParam {
                param: r.param.clone(),
                key: r.key.clone(),
                ty: r.ty.as_ref().map(|t| t.text.clone()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use crate::source::{FileKind, SourceFile, SourceSet};

    /// Bauplan's inputs and run parameters reach the plan: projections, filters, the
    /// wildcard `columns=["*"]` (every column: no contract), `bauplan.Parameter(...)`
    /// arguments, and the project file's declared parameters.
    #[test]
    fn bauplan_inputs_and_parameters() {
        let model = r#"
import bauplan
from sluice import Schema, Source

class Trips(Schema):
    zone: int
    miles: float

trips = Source(Trips)

@bauplan.model(columns=["*"])
@bauplan.python("3.11")
def long_trips(
    data=bauplan.Model("trips", columns=["*"], filter="miles > $min_miles"),
    rate=bauplan.Parameter("interest_rate"),
    m=bauplan.Parameter(param_name="min_miles"),
):
    return data
"#;
        let yml = "parameters:\n  min_miles:\n    type: float\n    default: 2\n  interest_rate:\n    default: 1.5\n";
        let sources = SourceSet::new(
            "/p",
            vec![
                SourceFile::new("models.py", FileKind::Python, model),
                SourceFile::new("bauplan_project.yml", FileKind::BauplanProject, yml),
            ],
        );
        let analysis = crate::check(&sources);
        // No E0301/E0601 for `*`; the input reads every column, unchecked (W0001).
        let codes: Vec<_> = analysis.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [crate::Code::UncheckedInput]);
        let plan = super::build(&analysis, &sources);
        let node = plan.nodes.iter().find(|n| n.name == "long_trips").unwrap();
        let json = serde_json::to_value(node.python.as_ref().unwrap()).unwrap();
        assert_eq!(
            json["params"],
            serde_json::json!([{"param": "data", "table": "trips", "columns": null, "filter": "miles > $min_miles"}])
        );
        assert_eq!(
            json["run_params"],
            serde_json::json!([{"param": "rate", "key": "interest_rate"}, {"param": "m", "key": "min_miles"}])
        );
        assert_eq!(
            serde_json::to_value(&plan.parameters).unwrap(),
            serde_json::json!({
                "interest_rate": {"type": "float", "default": 1.5},
                "min_miles": {"type": "float", "default": 2.0}
            })
        );
    }

    /// `@bauplan.model(columns=[...])` over a body the compiler cannot infer: the
    /// plan still lists the output's column names (types unknown) for the runtime.
    #[test]
    fn bauplan_model_columns_name_the_output_of_an_opaque_body() {
        let model = r#"
import bauplan
import pyarrow.compute as pc

@bauplan.model(columns=["zone", "total"])
@bauplan.python("3.11")
def totals(data=bauplan.Model("trips", columns=["zone", "miles"])):
    return some_helper(data, pc)
"#;
        let sources = SourceSet::new(
            "/p",
            vec![SourceFile::new("models.py", FileKind::Python, model)],
        );
        let analysis = crate::check(&sources);
        let plan = super::build(&analysis, &sources);
        let node = plan.nodes.iter().find(|n| n.name == "totals").unwrap();
        assert_eq!(
            serde_json::to_value(&node.output_schema).unwrap(),
            serde_json::json!([
                {"name": "zone", "type": null, "nullable": null},
                {"name": "total", "type": null, "nullable": null}
            ])
        );
    }

    use crate::types::{DataType, TimeUnit};

    /// The plan spells types with Arrow's `Display`; the runtime reads them back.
    #[test]
    fn type_names_round_trip() {
        for t in [
            DataType::Int64,
            DataType::Utf8,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("America/New_York".into())),
            DataType::Decimal128(12, 2),
            DataType::Duration(TimeUnit::Millisecond),
            DataType::Date32,
        ] {
            assert_eq!(DataType::from_str(&t.to_string()).unwrap(), t, "{t}");
        }
    }
}
