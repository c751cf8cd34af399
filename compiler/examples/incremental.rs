//! Incremental analysis at scale (a bench, not CI): loads a project into a
//! [`Database`], then applies one-character body edits to a mid-DAG node and prints the
//! time of each phase (p50 / p95) and the work done per edit.
//!
//!     python3 bench/gen_project.py --nodes 10000 --out /tmp/p10k
//!     cargo run -p sluice-compiler --example incremental -- /tmp/p10k [EDITS] [sql|python]
//!
//! EDITS (default 100) alternate between inserting a space into the middle of the
//! node's query or body and removing it again. The node is the SQL node (or, with
//! `python`, the Python node) in the middle of the topological order. With `contract`,
//! the edits alternate between renaming a column of a source schema in
//! `schemas/sources.py` (the one most pipeline files name, as bench/lsp_bench.py picks
//! it) and renaming it back: a contract edit whose errors reach ~100 files.

use std::time::{Duration, Instant};

use sluice_compiler::{Database, TableKind};

/// The `sluice` binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(project) = args.next() else {
        eprintln!("usage: incremental PROJECT_DIR [EDITS]");
        std::process::exit(2);
    };
    let edits: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let (kind, contract) = match args.next().as_deref() {
        None | Some("sql") => (TableKind::Sql, false),
        Some("python") => (TableKind::Python, false),
        Some("contract") => (TableKind::Sql, true),
        Some(other) => {
            eprintln!("unknown edit `{other}`: sql, python or contract");
            std::process::exit(2);
        }
    };
    let root = std::path::PathBuf::from(&project);
    let sources = match sluice_compiler::load_project(&root) {
        Ok(sources) => sources,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };

    let started = Instant::now();
    let cold = sluice_compiler::check(&sources);
    println!(
        "cold check(): {:.0} ms ({} nodes, {} errors, {} warnings)",
        ms(started.elapsed()),
        cold.summary.nodes,
        cold.summary.errors,
        cold.summary.warnings
    );

    let mut db = Database::new(root);
    let started = Instant::now();
    for (_, file) in sources.files() {
        db.set_file(&file.path, file.text.clone());
    }
    let (analysis, db_sources) = db.analysis();
    println!(
        "database, first analysis: {:.0} ms (parse {:.0} ms, front {:.0} ms, contracts {:.0} ms, finish {:.0} ms)",
        ms(started.elapsed()),
        ms(db.stats().timings.parse),
        ms(db.stats().timings.front),
        ms(db.stats().timings.contracts),
        ms(db.stats().timings.finish),
    );

    let order = analysis.order.clone().unwrap_or_default();
    let nodes: Vec<_> = order
        .iter()
        .filter(|t| analysis.tables[t.0].kind == kind)
        .collect();
    let Some(node) = nodes.get(nodes.len() / 2) else {
        eprintln!("the project has no {kind:?} node (or a cycle)");
        std::process::exit(1);
    };
    let table = &analysis.tables[node.0];
    let file = db_sources.file(table.file);
    let (mut path, mut original) = (file.path.clone(), file.text.clone());
    // A whitespace position in the middle of the query, or after the `return` of the
    // Python function's body.
    let mut at = match kind {
        TableKind::Python => original[table.span.end..]
            .find("return ")
            .map_or(table.span.end, |i| table.span.end + i + "return".len()),
        _ => original.len() / 2,
    };
    while at < original.len() && !original[at..].starts_with(' ') {
        at += 1;
    }
    let mut renamed = None;
    if contract {
        let Some((at_column, name)) = most_used_source_column(&db_sources) else {
            eprintln!("the project has no schemas/sources.py with a column");
            std::process::exit(1);
        };
        path = "schemas/sources.py".to_owned();
        original = db_sources
            .files()
            .find(|(_, f)| f.path == path)
            .map(|(_, f)| f.text.clone())
            .unwrap_or_default();
        at = at_column + name.len() - 1;
        println!("renaming source column `{name}` (last character -> Q), {edits} edits");
        renamed = Some(name);
    }
    let consumers = analysis.edges.iter().filter(|(p, _)| p == *node).count();
    if renamed.is_none() {
        println!(
            "editing `{}` ({path}, {consumers} consumers) at byte {at}, {edits} edits",
            table.name
        );
    }
    drop(analysis);

    let mut total = Vec::new();
    let (mut parse, mut front, mut contracts, mut finish) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut checked = Vec::new();
    let (mut py_front_rebuilt, mut sql_definitions) = (0, Vec::new());
    let (mut schemas_resolved, mut modules_defined) = (0, 0);
    for i in 0..edits {
        let mut text = original.clone();
        if i % 2 == 0 {
            if renamed.is_some() {
                text.replace_range(at..at + 1, "Q");
            } else {
                text.insert(at, ' ');
            }
        }
        let started = Instant::now();
        db.set_file(&path, text);
        let (analysis, _) = db.analysis();
        total.push(started.elapsed());
        let stats = db.stats();
        parse.push(stats.timings.parse);
        front.push(stats.timings.front);
        contracts.push(stats.timings.contracts);
        finish.push(stats.timings.finish);
        checked.push(stats.tables_checked.len());
        py_front_rebuilt += usize::from(stats.py_front_rebuilt);
        sql_definitions.push(stats.sql_definitions_made);
        schemas_resolved = schemas_resolved.max(stats.schemas_resolved);
        modules_defined = modules_defined.max(stats.py_modules_defined);
        assert_eq!(stats.files_parsed, 1);
        drop(analysis);
    }
    checked.sort_unstable();
    sql_definitions.sort_unstable();
    println!("per edit (p50 / p95):");
    for (name, times) in [
        ("total (set_file + analysis)", &mut total),
        ("parse", &mut parse),
        ("front (modules, schemas, tables, graph)", &mut front),
        ("contracts", &mut contracts),
        ("finish (warnings, sort)", &mut finish),
    ] {
        times.sort_unstable();
        println!(
            "  {name:<42} {:>8.1} ms / {:>8.1} ms",
            ms(percentile(times, 50)),
            ms(percentile(times, 95))
        );
    }
    println!(
        "  tables re-checked per edit: p50 {}, max {}",
        checked.get(checked.len() / 2).copied().unwrap_or(0),
        checked.last().copied().unwrap_or(0)
    );
    println!(
        "  Python front rebuilt on {py_front_rebuilt} of {edits} edits; SQL definitions made per edit: p50 {}, max {}",
        sql_definitions
            .get(sql_definitions.len() / 2)
            .copied()
            .unwrap_or(0),
        sql_definitions.last().copied().unwrap_or(0)
    );
    println!(
        "  at most {schemas_resolved} schemas resolved and {modules_defined} Python modules' nodes made per edit"
    );
}

/// The byte offset and name of the column of `schemas/sources.py` that most other files
/// name (`entity_id`, the join key, excluded).
fn most_used_source_column(sources: &sluice_compiler::SourceSet) -> Option<(usize, String)> {
    let (_, file) = sources
        .files()
        .find(|(_, f)| f.path == "schemas/sources.py")?;
    let mut best: Option<(usize, usize, String)> = None;
    let mut offset = 0;
    for line in file.text.split_inclusive('\n') {
        let name: String = line
            .strip_prefix("    ")
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        let is_column = !name.is_empty() && line[4 + name.len()..].starts_with(": ");
        if is_column && name != "entity_id" {
            let uses = sources
                .files()
                .filter(|(_, f)| f.path.starts_with("pipelines/") && f.text.contains(&name))
                .count();
            if best.as_ref().is_none_or(|b| uses > b.0) {
                best = Some((uses, offset + 4, name));
            }
        }
        offset += line.len();
    }
    best.map(|(_, at, name)| (at, name))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
