//! `sluice plan` and `sluice lineage`: the typed plan and column lineage of a project.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use sluice_compiler::lineage::{self, Direction, LineageEdge};
use sluice_compiler::plan::{self, Plan};
use sluice_compiler::{Analysis, SourceSet, TableKind};

use crate::{check, exit};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// For people: nodes in execution order with their schemas.
    #[default]
    Text,
    /// The versioned plan (docs/plan.md): what the runtime executes.
    Json,
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The project folder (default: the nearest folder from the current one upward
    /// that holds sluice.toml or bauplan_project.yml, else the current folder).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: PlanFormat,
}

#[derive(clap::Args)]
pub struct LineageArgs {
    /// The project folder (default: the nearest folder from the current one upward
    /// that holds sluice.toml or bauplan_project.yml, else the current folder).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The column, as `TABLE.COLUMN` (the table name may itself be dotted).
    #[arg(value_name = "TABLE.COLUMN")]
    column: String,
    /// Follow the column back to the sources (the default).
    #[arg(long, conflicts_with = "downstream")]
    upstream: bool,
    /// Follow the column forward to every column it reaches.
    #[arg(long)]
    downstream: bool,
    /// Output format: an indented tree, or the edges reached as JSON.
    #[arg(long, value_enum, default_value_t)]
    format: crate::Format,
}

/// Loads and checks a project; on errors prints them (as `check` would) and returns
/// `None`, so no plan is made of an ill-typed project.
fn checked(dir: &std::path::Path, json: bool) -> anyhow::Result<Option<(SourceSet, Analysis)>> {
    let sources = sluice_compiler::load_project(dir)?;
    let analysis = sluice_compiler::check(&sources);
    if analysis.summary.errors == 0 {
        return Ok(Some((sources, analysis)));
    }
    let format = if json {
        crate::Format::Json
    } else {
        crate::Format::Text
    };
    check::print_report(&sources, &analysis, format, crate::ColorChoice::Auto)?;
    Ok(None)
}

pub fn run_plan(args: PlanArgs) -> anyhow::Result<u8> {
    let Some((sources, analysis)) = checked(
        &crate::lake_loc::project_dir(args.dir.clone()),
        args.format == PlanFormat::Json,
    )?
    else {
        return Ok(exit::FAILED);
    };
    let plan = plan::build(&analysis, &sources);
    let text = match args.format {
        PlanFormat::Json => {
            serde_json::to_string_pretty(&plan).context("serializing the plan")? + "\n"
        }
        PlanFormat::Text => text(&plan),
        PlanFormat::Dot => dot(&plan),
        PlanFormat::Mermaid => mermaid(&plan),
    };
    crate::output::write(text.as_bytes());
    Ok(exit::OK)
}

fn text(plan: &Plan) -> String {
    let mut s = String::new();
    for name in &plan.order {
        let Some(node) = plan.nodes.iter().find(|n| &n.name == name) else {
            continue;
        };
        let kind = match node.kind {
            TableKind::Source => "source",
            TableKind::Python => "python",
            TableKind::Sql => "sql",
        };
        let _ = write!(s, "{} ({kind}, {}:{})", node.name, node.file, node.line);
        if !node.inputs.is_empty() {
            let _ = write!(s, " <- {}", node.inputs.join(", "));
        }
        let schema = match (&node.declared_schema, node.inferred) {
            (Some(name), _) => format!("declared {name}"),
            (None, true) => "inferred".to_owned(),
            (None, false) => "unknown".to_owned(),
        };
        let _ = writeln!(s, "  [{schema}]");
        for c in node.output_schema.iter().flatten() {
            let ty = c.data_type.as_deref().unwrap_or("(type not inferred)");
            let nullable = if c.nullable == Some(true) {
                " (nullable)"
            } else {
                ""
            };
            let _ = writeln!(s, "    {}: {ty}{nullable}", c.name);
        }
    }
    let c = plan.obligations.counts;
    let _ = writeln!(
        s,
        "{} proven, {} deferred, {} violated",
        c.proven, c.deferred, c.violated
    );
    s
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn dot(plan: &Plan) -> String {
    let mut s = String::from("digraph sluice {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for node in &plan.nodes {
        let shape = match node.kind {
            TableKind::Source => "cylinder",
            TableKind::Python => "box",
            TableKind::Sql => "note",
        };
        let _ = writeln!(s, "  {} [shape={shape}];", quote(&node.name));
    }
    for e in &plan.edges {
        let _ = writeln!(s, "  {} -> {};", quote(&e.from), quote(&e.to));
    }
    s.push_str("}\n");
    s
}

fn mermaid(plan: &Plan) -> String {
    let id = |name: &str| {
        plan.nodes
            .iter()
            .position(|n| n.name == name)
            .map_or_else(|| "unknown".to_owned(), |i| format!("n{i}"))
    };
    let mut s = String::from("flowchart LR\n");
    for (i, node) in plan.nodes.iter().enumerate() {
        let label = node.name.replace('"', "'");
        let shape = match node.kind {
            TableKind::Source => format!("[(\"{label}\")]"),
            TableKind::Python => format!("[\"{label}\"]"),
            TableKind::Sql => format!("[/\"{label}\"/]"),
        };
        let _ = writeln!(s, "  n{i}{shape}");
    }
    for e in &plan.edges {
        let _ = writeln!(s, "  {} --> {}", id(&e.from), id(&e.to));
    }
    s
}

pub fn run_lineage(args: LineageArgs) -> anyhow::Result<u8> {
    let json = args.format == crate::Format::Json;
    let Some((_, analysis)) = checked(&crate::lake_loc::project_dir(args.dir.clone()), json)?
    else {
        return Ok(exit::FAILED);
    };
    let direction = if args.downstream {
        Direction::Downstream
    } else {
        Direction::Upstream
    };
    let lineage = lineage_of(&analysis, &args.column, direction)?;
    let mut out = Vec::new();
    if json {
        serde_json::to_writer_pretty(&mut out, &lineage.json())?;
        writeln!(out)?;
    } else {
        write!(
            out,
            "{}",
            tree(&lineage.edges, &lineage.table, &lineage.column, direction)
        )?;
    }
    crate::output::write(&out);
    Ok(exit::OK)
}

/// The lineage of one column of a checked project (`sluice lineage`, and the
/// `lineage` tool of `sluice mcp`).
pub(crate) struct ColumnLineage {
    /// `TABLE.COLUMN` as asked.
    pub spelled: String,
    pub table: String,
    pub column: String,
    pub direction: Direction,
    /// The edges reached from the column.
    pub edges: Vec<LineageEdge>,
}

impl ColumnLineage {
    /// The document of `sluice lineage --format json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "column": self.spelled,
            "direction": match self.direction {
                Direction::Upstream => "upstream",
                Direction::Downstream => "downstream",
            },
            "edges": self.edges,
        })
    }
}

/// Follows `column` (`TABLE.COLUMN`) through a checked project: an error names a
/// malformed column, an unknown table or an unknown column.
pub(crate) fn lineage_of(
    analysis: &Analysis,
    column: &str,
    direction: Direction,
) -> anyhow::Result<ColumnLineage> {
    let spelled = column;
    let Some((table, column)) = spelled.rsplit_once('.') else {
        anyhow::bail!("expected TABLE.COLUMN, found `{spelled}`");
    };
    let Some(id) = analysis.tables.iter().position(|t| t.name == table) else {
        anyhow::bail!("no table `{table}` in the project");
    };
    let known = analysis
        .contracts
        .output(sluice_compiler::TableId(id))
        .is_some_and(|o| o.column(column).is_some());
    if !known {
        anyhow::bail!("table `{table}` has no column `{column}` (or its schema is unknown)");
    }
    let all = lineage::edges(analysis);
    let edges = lineage::walk(&all, table, column, direction);
    Ok(ColumnLineage {
        spelled: spelled.to_string(),
        table: table.to_string(),
        column: column.to_string(),
        direction,
        edges,
    })
}

/// `t.c` and what it depends on (or feeds), indented.
fn tree(edges: &[LineageEdge], table: &str, column: &str, direction: Direction) -> String {
    fn go(
        edges: &[LineageEdge],
        t: &str,
        c: &str,
        dir: Direction,
        depth: usize,
        path: &mut Vec<(String, String)>,
        s: &mut String,
    ) {
        let next: Vec<&LineageEdge> = edges
            .iter()
            .filter(|e| match dir {
                Direction::Upstream => e.table == t && e.column == c,
                Direction::Downstream => e.source_table == t && e.source_column == c,
            })
            .collect();
        for e in next {
            let (nt, nc) = match dir {
                Direction::Upstream => (&e.source_table, &e.source_column),
                Direction::Downstream => (&e.table, &e.column),
            };
            let kind = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(s, "{}{}.{} ({kind})", "  ".repeat(depth + 1), nt, nc);
            if !path.contains(&(nt.clone(), nc.clone())) {
                path.push((nt.clone(), nc.clone()));
                go(edges, nt, nc, dir, depth + 1, path, s);
                path.pop();
            }
        }
    }
    let mut s = format!("{table}.{column}\n");
    go(
        edges,
        table,
        column,
        direction,
        0,
        &mut vec![(table.to_owned(), column.to_owned())],
        &mut s,
    );
    s
}
