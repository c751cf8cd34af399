//! Completion at scale (a bench, not CI): checks a project once, then times the
//! compiler's part of a completion request (`ide::complete::context` + `items`) at a
//! few cursors of a mid-DAG SQL node and a Python node, p50 / p95 over 200 requests each.
//!
//!     python3 bench/gen_project.py --nodes 10000 --out /tmp/p10k
//!     cargo run -p sluice-compiler --example complete -- /tmp/p10k

use std::time::{Duration, Instant};

use sluice_compiler::ide::complete;
use sluice_compiler::{TableKind, check, load_project};

fn main() {
    let Some(project) = std::env::args().nth(1) else {
        eprintln!("usage: complete PROJECT_DIR");
        std::process::exit(2);
    };
    let sources = load_project(std::path::Path::new(&project)).expect("project loads");
    let started = Instant::now();
    let analysis = check(&sources);
    println!(
        "checked {} tables in {:?}",
        analysis.tables.len(),
        started.elapsed()
    );
    let order = analysis.order.clone().unwrap_or_default();
    let pick = |kind: TableKind| {
        let of_kind: Vec<_> = order
            .iter()
            .filter(|id| analysis.tables[id.0].kind == kind)
            .collect();
        of_kind
            .get(of_kind.len() / 2)
            .map(|id| &analysis.tables[id.0])
    };
    let mut cases: Vec<(String, sluice_compiler::FileId, String, usize)> = Vec::new();
    if let Some(sql) = pick(TableKind::Sql) {
        let file = sources.file(sql.file);
        let text = &file.text;
        let select = text.find("SELECT").expect("a select") + "SELECT".len();
        let qualified = format!("{}\n    a.{}", &text[..select], &text[select..]);
        cases.push(("SQL `a.`".into(), sql.file, qualified, select + 7));
        let unqualified = format!("{}\n    {}", &text[..select], &text[select..]);
        cases.push(("SQL select list".into(), sql.file, unqualified, select + 5));
        let from = text.rfind("FROM ").expect("a FROM") + "FROM ".len();
        cases.push((
            "SQL after FROM (every table)".into(),
            sql.file,
            text.clone(),
            from,
        ));
    }
    if let Some(py) = pick(TableKind::Python) {
        let file = sources.file(py.file);
        let text = &file.text;
        if let Some(at) = text[py.span.end..].find("col(\"") {
            let at = py.span.end + at + "col(\"".len();
            cases.push(("Python `col(\"`".into(), py.file, text.clone(), at));
        }
    }
    for (name, file, text, cursor) in cases {
        let kind = sources.file(file).kind;
        let mut times: Vec<Duration> = Vec::new();
        let mut count = 0;
        for _ in 0..200 {
            let started = Instant::now();
            let Some(context) = complete::context(kind, &text, cursor) else {
                println!("{name}: no context");
                break;
            };
            count = complete::items(&analysis, file, kind, &text, &context).len();
            times.push(started.elapsed());
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{name}: {count} items, p50 {:?}, p95 {:?}, max {:?}",
            p(0.5),
            p(0.95),
            times[times.len() - 1]
        );
    }
}
