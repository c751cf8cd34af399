//! The table graph: table names (duplicates), input resolution, edges, cycles and the
//! topological order. Built from the table definitions ([`crate::analysis`]); contracts,
//! the plan and lineage read it.

use std::collections::{BTreeMap, HashMap};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::analysis::{Table, TableId, TableKind};
use crate::diagnostic::{Code, Diagnostic, Fix, Summary};
use crate::quickfix::source::declare_source;
use crate::schema::Schemas;
use crate::source::{SourceSet, Span};
use crate::suggest::did_you_mean;

/// The DAG over a project's tables.
#[derive(Debug, Default)]
pub struct Graph {
    /// `(parent, child)` pairs.
    pub edges: Vec<(TableId, TableId)>,
    /// Topological order of the live tables, when the graph has no cycle.
    pub order: Option<Vec<TableId>>,
    /// Per table: false for a duplicate definition (reported; not part of the graph).
    pub live: Vec<bool>,
    /// Bare names Python code may use for a table other than its own name, name -> table.
    pub bindings: BTreeMap<String, String>,
}

impl Graph {
    /// The counts `sluice check` reports: errors, warnings, nodes (live non-source
    /// tables) and edges.
    pub fn summary(&self, tables: &[Table], diagnostics: &[Diagnostic]) -> Summary {
        let nodes = tables
            .iter()
            .zip(&self.live)
            .filter(|(t, l)| **l && t.kind != TableKind::Source)
            .count();
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        Summary {
            errors,
            warnings: diagnostics.len() - errors,
            nodes,
            edges: self.edges.len(),
        }
    }
}

/// Names the tables, resolves every input (of tables and of expectations) to a table,
/// and orders the graph. `aliases` are each module's `Source`/`Table` variables
/// (variable -> table name); with `bauplan`, undefined inputs may become implicit lake
/// tables (appended to `tables`).
pub(crate) fn build(
    tables: &mut Vec<Table>,
    expectations: &mut [Table],
    sources: &SourceSet,
    aliases: &[HashMap<String, String>],
    schemas: &Schemas,
    bauplan: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Graph {
    // Table names: the first definition wins; later ones are duplicates.
    let mut by_name: HashMap<String, TableId> = HashMap::new();
    let mut live = vec![true; tables.len()];
    for (i, table) in tables.iter().enumerate() {
        match by_name.get(&table.name) {
            Some(first) => {
                let first = &tables[first.0];
                live[i] = false;
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateTable,
                        table.file,
                        table.span.clone(),
                        format!(
                            "table `{}` is defined more than once ({} and {})",
                            table.name,
                            kind_word(first.kind),
                            kind_word(table.kind)
                        ),
                    )
                    .with_label("defined again here")
                    .with_secondary(first.file, first.span.clone(), "first defined here")
                    .with_help("each table has exactly one definition: rename one of them"),
                );
            }
            None => {
                by_name.insert(table.name.clone(), TableId(i));
            }
        }
    }

    // Resolve inputs and build the graph.
    // The defined table names, sorted (for did-you-mean): made only when needed, and
    // before implicit lake tables are added.
    let mut names: Option<Vec<String>> = None;
    // A bare name that is no table may name a `Source` variable of another module.
    let mut source_vars: HashMap<&str, Option<&str>> = HashMap::new();
    for module_aliases in aliases {
        for (var, table) in module_aliases {
            source_vars
                .entry(var.as_str())
                .and_modify(|t| {
                    if *t != Some(table.as_str()) {
                        *t = None;
                    }
                })
                .or_insert(Some(table.as_str()));
        }
    }
    let bindings = source_vars
        .iter()
        .filter_map(|(var, table)| Some((var.to_string(), (*table)?.to_string())))
        .filter(|(var, table)| var != table)
        .collect();
    if bauplan {
        let names = names.get_or_insert_with(|| sorted_names(&by_name));
        implicit_lake_tables(
            (sources, schemas),
            (tables, expectations),
            &mut live,
            &mut by_name,
            names,
            &source_vars,
            diagnostics,
        );
    }
    let mut graph: DiGraph<TableId, usize> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..tables.len())
        .map(|i| graph.add_node(TableId(i)))
        .collect();
    let mut edges = Vec::new();
    let mut unknown = Vec::new();
    for (i, table) in tables.iter_mut().enumerate() {
        if !live[i] {
            continue;
        }
        let siblings: Vec<(String, Span)> = table
            .inputs
            .iter()
            .map(|i| (i.table.clone(), i.span.clone()))
            .collect();
        for (k, input) in table.inputs.iter_mut().enumerate() {
            if input.bare_name
                && !by_name.contains_key(&input.table)
                && let Some(Some(target)) = source_vars.get(input.table.as_str())
            {
                input.table = (*target).to_owned();
            }
            match by_name.get(&input.table) {
                Some(&parent) => {
                    input.resolved = Some(parent);
                    graph.add_edge(nodes[parent.0], nodes[i], k);
                    edges.push((parent, TableId(i)));
                }
                None => unknown.push((
                    table.file,
                    input.span.clone(),
                    input.table.clone(),
                    table.name.clone(),
                    siblings.clone(),
                    input.bare_name,
                    input.required,
                )),
            }
        }
    }
    for check in expectations.iter_mut() {
        for input in &mut check.inputs {
            if input.bare_name
                && !by_name.contains_key(&input.table)
                && let Some(Some(target)) = source_vars.get(input.table.as_str())
            {
                input.table = (*target).to_owned();
            }
            match by_name.get(&input.table) {
                Some(&table) => input.resolved = Some(table),
                None => unknown.push((
                    check.file,
                    input.span.clone(),
                    input.table.clone(),
                    format!("expectation {}", check.name),
                    Vec::new(),
                    input.bare_name,
                    input.required,
                )),
            }
        }
    }
    let names = match (names, unknown.is_empty()) {
        (Some(names), _) => names,
        (None, true) => Vec::new(),
        (None, false) => sorted_names(&by_name),
    };
    for (file, span, name, child, siblings, bare_name, required) in unknown {
        // Not the reading node itself: reading its own output would be a cycle.
        let suggestion = did_you_mean(
            &name,
            names.iter().map(String::as_str).filter(|n| *n != child),
        );
        // One mistake, one diagnostic: the header disagreements (E0401) a misspelt SQL
        // table causes are this error's consequences, not mistakes of their own — the
        // read missing from the header, and the listed table the typo was meant to be.
        let dependent: Vec<&Span> = std::iter::once(&span)
            .chain(
                siblings
                    .iter()
                    .filter(|(table, _)| Some(table.as_str()) == suggestion)
                    .map(|(_, span)| span),
            )
            .collect();
        diagnostics.retain(|d| {
            !(d.code == Code::SqlHeaderInputs && d.file == file && dependent.contains(&&d.span))
        });
        // A Python default names a variable: `raw.orders` written there would be an
        // attribute access, not the table, so only a plain name is offered as a fix.
        let fix = suggestion
            .filter(|s| !bare_name || !s.contains('.'))
            .map(|s| Fix::did_you_mean(file, &span, &name, s));
        let declare =
            required.and_then(|schema| declare_source(sources, tables, schemas, &name, schema));
        diagnostics.push(
            Diagnostic::new(Code::UnknownTable, file, span, format!("unknown table `{name}` (read by `{child}`)"))
                .with_label("no source or node defines this table")
                .with_fix_opt(fix)
                .with_fix_opt(declare)
                .with_help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "declare it as a lake table with `{} = Source(SomeSchema)`, or add a node that produces it",
                        name.rsplit('.').next().unwrap_or(&name)
                    ),
                }),
        );
    }

    // The order, when there is no cycle (self-loops included); else one diagnostic per
    // cycle, i.e. per strongly connected component with an edge inside it.
    let order: Option<Vec<TableId>> = toposort(&graph, None).ok().map(|o| {
        o.into_iter()
            .map(|n| graph[n])
            .filter(|t| live[t.0])
            .collect()
    });
    if order.is_none() {
        for scc in tarjan_scc(&graph) {
            let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            diagnostics.push(cycle_diagnostic(&graph, &scc, tables, sources));
        }
    }

    Graph {
        edges,
        order,
        live,
        bindings,
    }
}

/// Bauplan projects read lake tables they never declare: an input of a node or an
/// expectation that no table defines becomes an implicit source, with a warning (which
/// suggests a defined table with a close name: a typo there is likely, but a valid lake
/// table such as `telemetry.signal_bronze` beside a node `telemetry.signal` is common).
fn implicit_lake_tables(
    (sources, schemas): (&SourceSet, &Schemas),
    (tables, expectations): (&mut Vec<Table>, &[Table]),
    live: &mut Vec<bool>,
    by_name: &mut HashMap<String, TableId>,
    names: &[String],
    source_vars: &HashMap<&str, Option<&str>>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut implicit: Vec<Table> = Vec::new();
    let readers = tables
        .iter()
        .enumerate()
        .filter(|(i, _)| live[*i])
        .map(|(_, t)| t)
        .chain(expectations);
    for table in readers {
        for input in &table.inputs {
            let defined = by_name.contains_key(&input.table)
                || input.bare_name
                    && matches!(source_vars.get(input.table.as_str()), Some(Some(_)));
            if defined || implicit.iter().any(|t| t.name == input.table) {
                continue;
            }
            let suggestion = did_you_mean(
                &input.table,
                names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| *n != table.name),
            );
            let help = match suggestion {
                Some(s) => format!(
                    "if you meant the table `{s}` that the project defines, fix the name; else declare it with `{} = Source(SomeSchema)` to check its columns statically",
                    input.table.rsplit('.').next().unwrap_or(&input.table)
                ),
                None => format!(
                    "declare it with `{} = Source(SomeSchema)` to check its columns statically",
                    input.table.rsplit('.').next().unwrap_or(&input.table)
                ),
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::ImplicitLakeTable,
                    table.file,
                    input.span.clone(),
                    format!("`{}` reads `{}`, which the project does not define: assumed to be a lake table", table.name, input.table),
                )
                .with_label("assumed lake table")
                .with_fix_opt(
                    suggestion
                        .filter(|s| !input.bare_name || !s.contains('.'))
                        .map(|s| Fix::did_you_mean(table.file, &input.span, &input.table, s)),
                )
                .with_fix_opt(input.required.and_then(|schema| {
                    declare_source(sources, tables, schemas, &input.table, schema)
                }))
                .with_help(help),
            );
            implicit.push(Table {
                implicit: true,
                ..Table::source(
                    input.table.clone(),
                    table.file,
                    input.span.clone(),
                    None,
                    false,
                )
            });
        }
    }
    for table in implicit {
        by_name.insert(table.name.clone(), TableId(tables.len()));
        tables.push(table);
        live.push(true);
    }
}

fn sorted_names(by_name: &HashMap<String, TableId>) -> Vec<String> {
    let mut names: Vec<String> = by_name.keys().cloned().collect();
    names.sort_unstable();
    names
}

fn kind_word(kind: TableKind) -> &'static str {
    match kind {
        TableKind::Source => "a source",
        TableKind::Python => "a Python node",
        TableKind::Sql => "a SQL node",
    }
}

fn cycle_diagnostic(
    graph: &DiGraph<TableId, usize>,
    scc: &[NodeIndex],
    tables: &[Table],
    sources: &SourceSet,
) -> Diagnostic {
    // Report order: file path, then position (file ids are not in path order).
    let at = |n: NodeIndex| {
        let t = &tables[graph[n].0];
        (sources.file(t.file).path.as_str(), t.span.start)
    };
    // Start at the first table in report order and walk edges inside the component
    // until we are back: a concrete cycle to show.
    let start = *scc
        .iter()
        .min_by_key(|n| at(**n))
        .expect("non-empty component");
    // The shortest cycle through `start`: breadth-first over the component's edges
    // until an edge leads back to `start`.
    let mut via: HashMap<NodeIndex, petgraph::graph::EdgeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut closing = None;
    'search: while let Some(node) = queue.pop_front() {
        let mut out: Vec<_> = graph
            .edges(node)
            .filter(|e| scc.contains(&e.target()))
            .collect();
        out.sort_by_key(|e| at(e.target()));
        for edge in out {
            if edge.target() == start {
                closing = Some(edge.id());
                break 'search;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = via.entry(edge.target()) {
                slot.insert(edge.id());
                queue.push_back(edge.target());
            }
        }
    }
    // Walk back from the closing edge to `start`.
    let mut cycle_edges = Vec::new();
    let mut edge = closing;
    while let Some(e) = edge {
        cycle_edges.push(e);
        let (source, _) = graph.edge_endpoints(e).expect("edge of this graph");
        edge = if source == start {
            None
        } else {
            via.get(&source).copied()
        };
    }
    cycle_edges.reverse();
    let mut path = vec![start];
    let mut labels = Vec::new();
    for e in cycle_edges {
        let (_, target) = graph.edge_endpoints(e).expect("edge of this graph");
        let child = &tables[graph[target].0];
        let input = &child.inputs[graph[e]];
        labels.push((
            child.file,
            input.span.clone(),
            format!("`{}` reads `{}`", child.name, input.table),
        ));
        path.push(target);
    }
    let names: Vec<String> = path
        .iter()
        .map(|n| format!("`{}`", tables[graph[*n].0].name))
        .collect();
    let first = &tables[graph[start].0];
    let mut d = Diagnostic::new(
        Code::Cycle,
        first.file,
        first.span.clone(),
        format!("dependency cycle: {}", names.join(" -> ")),
    )
    .with_label("this table depends on itself")
    .with_help("a pipeline is a DAG: one of these tables must stop reading the next");
    for (file, span, message) in labels {
        d = d.with_secondary(file, span, message);
    }
    d
}
