//! Physical validation of a node's output against its contract, batch by batch,
//! while it is written: column names, Arrow types, and null counts of non-null
//! columns. A violation stops the writing (nothing of the table is committed) but
//! the stream is still counted to the end, so the error says how many rows break
//! the contract.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use sluice_compiler::plan::PlanColumn;
use sluice_compiler::types::widens_losslessly;

/// One declared column; `None` parts are unknown to the compiler and accepted as
/// produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ContractColumn {
    pub name: String,
    pub data_type: Option<DataType>,
    pub nullable: Option<bool>,
}

/// What a table must look like; `columns: None` accepts any output.
#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    pub table: String,
    pub columns: Option<Vec<ContractColumn>>,
}

impl Contract {
    /// The contract of a plan node (its effective output schema).
    pub fn from_plan(table: &str, columns: Option<&[PlanColumn]>) -> Contract {
        Contract {
            table: table.to_string(),
            columns: columns.map(|cols| {
                cols.iter()
                    .map(|c| ContractColumn {
                        name: c.name.clone(),
                        data_type: c
                            .data_type
                            .as_deref()
                            .and_then(|t| DataType::from_str(t).ok()),
                        nullable: c.nullable,
                    })
                    .collect()
            }),
        }
    }
}

/// A broken contract fact, with what was expected and found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    MissingColumn {
        column: String,
        declared: String,
    },
    UndeclaredColumn {
        column: String,
        found: String,
    },
    WrongType {
        column: String,
        declared: String,
        found: String,
    },
    Nulls {
        column: String,
        nulls: u64,
        rows: u64,
    },
}

impl Violation {
    pub fn column(&self) -> &str {
        match self {
            Violation::MissingColumn { column, .. }
            | Violation::UndeclaredColumn { column, .. }
            | Violation::WrongType { column, .. }
            | Violation::Nulls { column, .. } => column,
        }
    }
}

/// `1,234,567` (the compiler's, so checks and runs print numbers alike).
pub use sluice_compiler::diagnostic::thousands;

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::MissingColumn { column, declared } => write!(
                f,
                "column `{column}` is declared ({declared}) but the output has no such column"
            ),
            Violation::UndeclaredColumn { column, found } => write!(
                f,
                "the output has column `{column}` ({found}), which the contract does not declare"
            ),
            Violation::WrongType {
                column,
                declared,
                found,
            } => write!(
                f,
                "column `{column}` is declared {declared} but the output's type is {found}"
            ),
            Violation::Nulls {
                column,
                nulls,
                rows,
            } => write!(
                f,
                "column `{column}` is declared non-null but {} of {} rows are null",
                thousands(*nulls),
                thousands(*rows)
            ),
        }
    }
}

/// Two types that hold the same values in different physical layouts: the output
/// is converted to the declared one.
fn same_values(found: &DataType, declared: &DataType) -> bool {
    use DataType::*;
    let family = |t: &DataType| match t {
        Utf8 | LargeUtf8 | Utf8View => Some(0),
        Binary | LargeBinary | BinaryView => Some(1),
        Dictionary(_, v) if matches!(v.as_ref(), Utf8 | LargeUtf8 | Utf8View) => Some(0),
        Dictionary(_, v) if matches!(v.as_ref(), Binary | LargeBinary | BinaryView) => Some(1),
        _ => None,
    };
    family(found).is_some() && family(found) == family(declared)
}

/// Validates and converts the batches of one output stream.
pub struct OutputValidator {
    contract: Contract,
    /// The schema the table is written with.
    schema: SchemaRef,
    /// Per output column: the index in the produced batch and the cast to apply.
    columns: Vec<(usize, Option<DataType>)>,
    /// Per output column: count nulls (declared non-null).
    non_null: Vec<bool>,
    nulls: Vec<u64>,
    rows: u64,
}

impl OutputValidator {
    /// Binds the contract to the schema the node produces: the schema-level facts
    /// (names and types) are checked here, once.
    pub fn new(contract: Contract, produced: &Schema) -> Result<OutputValidator, Vec<Violation>> {
        let Some(declared) = &contract.columns else {
            let n = produced.fields().len();
            return Ok(OutputValidator {
                schema: Arc::new(produced.clone()),
                columns: (0..n).map(|i| (i, None)).collect(),
                non_null: vec![false; n],
                nulls: vec![0; n],
                rows: 0,
                contract,
            });
        };
        let mut violations = Vec::new();
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for c in declared {
            let Some((index, field)) = produced.column_with_name(&c.name) else {
                violations.push(Violation::MissingColumn {
                    column: c.name.clone(),
                    declared: c
                        .data_type
                        .as_ref()
                        .map_or("unknown type".into(), |t| t.to_string()),
                });
                continue;
            };
            let found = field.data_type();
            let (target, cast) = match &c.data_type {
                None => (found.clone(), None),
                Some(t) if t == found => (t.clone(), None),
                Some(t) if same_values(found, t) || widens_losslessly(found, t) => {
                    (t.clone(), Some(t.clone()))
                }
                Some(t) => {
                    violations.push(Violation::WrongType {
                        column: c.name.clone(),
                        declared: t.to_string(),
                        found: found.to_string(),
                    });
                    continue;
                }
            };
            let nullable = c.nullable.unwrap_or(true);
            columns.push((index, cast));
            fields.push(Field::new(&c.name, target, nullable));
        }
        for field in produced.fields() {
            if !declared.iter().any(|c| &c.name == field.name()) {
                violations.push(Violation::UndeclaredColumn {
                    column: field.name().clone(),
                    found: field.data_type().to_string(),
                });
            }
        }
        if !violations.is_empty() {
            return Err(violations);
        }
        let non_null: Vec<bool> = fields.iter().map(|f| !f.is_nullable()).collect();
        Ok(OutputValidator {
            nulls: vec![0; fields.len()],
            schema: Arc::new(Schema::new(fields)),
            columns,
            non_null,
            rows: 0,
            contract,
        })
    }

    /// The schema of the converted batches (the table's schema in the lake).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// Rows seen so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Counts a batch; returns it converted to [`Self::schema`], or `None` once the
    /// output has broken a non-null fact (the rest is only counted).
    pub fn apply(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>, String> {
        self.rows += batch.num_rows() as u64;
        let mut broken = self.nulls.iter().any(|n| *n > 0);
        for (i, (index, _)) in self.columns.iter().enumerate() {
            if self.non_null[i] {
                let n = batch.column(*index).logical_null_count() as u64;
                self.nulls[i] += n;
                broken |= n > 0;
            }
        }
        if broken {
            return Ok(None);
        }
        let options = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        let arrays = self
            .columns
            .iter()
            .map(|(index, cast)| {
                let column = batch.column(*index);
                match cast {
                    None => Ok(column.clone()),
                    Some(t) => cast_with_options(column, t, &options).map_err(|e| e.to_string()),
                }
            })
            .collect::<Result<Vec<ArrayRef>, String>>()?;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The facts that failed over the whole stream.
    pub fn finish(&self) -> Result<u64, Vec<Violation>> {
        let violations: Vec<Violation> = self
            .nulls
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| Violation::Nulls {
                column: self.schema.field(i).name().clone(),
                nulls: *n,
                rows: self.rows,
            })
            .collect();
        if violations.is_empty() {
            Ok(self.rows)
        } else {
            Err(violations)
        }
    }
}

/// Checks a lake table's recorded schema and null counts (no scan) against a
/// source's contract.
pub fn check_source(
    contract: &Contract,
    schema: &Schema,
    null_counts: &[u64],
    rows: u64,
) -> Vec<Violation> {
    let mut out = match OutputValidator::new(contract.clone(), schema) {
        Ok(_) => Vec::new(),
        Err(v) => v,
    };
    // Extra columns in a lake table are fine: a source contract is what the
    // project reads.
    out.retain(|v| !matches!(v, Violation::UndeclaredColumn { .. }));
    if let Some(columns) = &contract.columns {
        for c in columns {
            if c.nullable == Some(false)
                && let Some((i, _)) = schema.column_with_name(&c.name)
                && let Some(&n) = null_counts.get(i)
                && n > 0
            {
                out.push(Violation::Nulls {
                    column: c.name.clone(),
                    nulls: n,
                    rows,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, LargeStringArray};

    use super::*;

    fn contract(cols: &[(&str, DataType, bool)]) -> Contract {
        Contract {
            table: "t".into(),
            columns: Some(
                cols.iter()
                    .map(|(n, t, nullable)| ContractColumn {
                        name: n.to_string(),
                        data_type: Some(t.clone()),
                        nullable: Some(*nullable),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn nulls_in_a_non_null_column_are_counted_to_the_end() {
        let c = contract(&[("a", DataType::Int64, false)]);
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let mut v = OutputValidator::new(c, &schema).unwrap();
        let batch = |vals: Vec<Option<i64>>| {
            RecordBatch::try_new(
                Arc::new(schema.clone()),
                vec![Arc::new(Int64Array::from(vals))],
            )
            .unwrap()
        };
        assert!(v.apply(&batch(vec![Some(1), Some(2)])).unwrap().is_some());
        assert!(
            v.apply(&batch(vec![None, Some(2), None]))
                .unwrap()
                .is_none()
        );
        assert!(v.apply(&batch(vec![Some(3)])).unwrap().is_none());
        let err = v.finish().unwrap_err();
        assert_eq!(
            err[0].to_string(),
            "column `a` is declared non-null but 2 of 6 rows are null"
        );
    }

    #[test]
    fn layouts_of_the_same_values_are_converted_and_wrong_types_refused() {
        let c = contract(&[("s", DataType::Utf8, false), ("x", DataType::Int64, false)]);
        let produced = Schema::new(vec![
            Field::new("x", DataType::Int32, false),
            Field::new("s", DataType::LargeUtf8, true),
        ]);
        let mut v = OutputValidator::new(c.clone(), &produced).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(produced),
            vec![
                Arc::new(arrow::array::Int32Array::from(vec![7])),
                Arc::new(LargeStringArray::from(vec!["a"])),
            ],
        )
        .unwrap();
        let out = v.apply(&batch).unwrap().unwrap();
        assert_eq!(out.schema().field(0).data_type(), &DataType::Utf8);
        assert_eq!(out.schema().field(1).data_type(), &DataType::Int64);
        assert!(!out.schema().field(0).is_nullable());

        let wrong = Schema::new(vec![
            Field::new("x", DataType::Float64, false),
            Field::new("s", DataType::Utf8, false),
            Field::new("extra", DataType::Utf8, false),
        ]);
        let errs = OutputValidator::new(c, &wrong).err().unwrap();
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            [
                "column `x` is declared Int64 but the output's type is Float64",
                "the output has column `extra` (Utf8), which the contract does not declare"
            ]
        );
    }
}
