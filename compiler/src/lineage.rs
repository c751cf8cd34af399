//! Column lineage across the whole DAG: for every output column, the input columns it
//! comes from and how (copy, transform, filter/join key). From the DataFusion plans of
//! SQL nodes, from inferred Python bodies, and from explicit inheritance
//! (`col2 = ChildSchema.col2`) where a body is not inferred.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::Serialize;

use crate::analysis::{Analysis, TableId};
use crate::sql_plan::DependencyKind;

/// `table.column` depends on `source_table.source_column`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineageEdge {
    pub table: String,
    pub column: String,
    pub source_table: String,
    pub source_column: String,
    pub kind: DependencyKind,
}

/// Every lineage edge of the project, sorted.
pub fn edges(analysis: &Analysis) -> Vec<LineageEdge> {
    let mut out = BTreeSet::new();
    let contracts = &analysis.contracts;
    for (i, table) in analysis.tables.iter().enumerate() {
        let id = TableId(i);
        if let (Some(traces), Some(inferred)) = (contracts.traces(id), contracts.inferred(id)) {
            for (column, trace) in inferred.columns.iter().zip(traces) {
                for (source_table, source_column, kind) in &trace.sources {
                    out.insert(LineageEdge {
                        table: table.name.clone(),
                        column: column.name.clone(),
                        source_table: source_table.clone(),
                        source_column: source_column.clone(),
                        kind: *kind,
                    });
                }
            }
            continue;
        }
        // Not inferred: explicit inheritance from a schema one of the inputs provides.
        let Some(schema) = table.output else { continue };
        for column in analysis.schemas[schema.0].columns.iter() {
            let Some((from_schema, from_column)) = &column.inherited_from else {
                continue;
            };
            for input in &table.inputs {
                let provides = input
                    .resolved
                    .and_then(|p| contracts.output(p))
                    .is_some_and(|o| {
                        o.declared == Some(*from_schema) || input.required == Some(*from_schema)
                    });
                if provides {
                    out.insert(LineageEdge {
                        table: table.name.clone(),
                        column: column.name.clone(),
                        source_table: input.table.clone(),
                        source_column: from_column.clone(),
                        kind: DependencyKind::Copy,
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
}

/// The lineage edges reachable from `table.column` in one direction, breadth first.
pub fn walk(
    edges: &[LineageEdge],
    table: &str,
    column: &str,
    direction: Direction,
) -> Vec<LineageEdge> {
    let mut index: HashMap<(&str, &str), Vec<&LineageEdge>> = HashMap::new();
    for e in edges {
        let key = match direction {
            Direction::Upstream => (e.table.as_str(), e.column.as_str()),
            Direction::Downstream => (e.source_table.as_str(), e.source_column.as_str()),
        };
        index.entry(key).or_default().push(e);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut queue = VecDeque::from([(table.to_owned(), column.to_owned())]);
    while let Some((t, c)) = queue.pop_front() {
        if !seen.insert((t.clone(), c.clone())) {
            continue;
        }
        for e in index.get(&(t.as_str(), c.as_str())).into_iter().flatten() {
            out.push((*e).clone());
            let next = match direction {
                Direction::Upstream => (e.source_table.clone(), e.source_column.clone()),
                Direction::Downstream => (e.table.clone(), e.column.clone()),
            };
            queue.push_back(next);
        }
    }
    out
}
