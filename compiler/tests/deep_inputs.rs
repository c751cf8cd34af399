//! Regression tests: inputs nested deeper than the checker accepts get one `E0007` on
//! the construct, never a stack overflow, and input just inside the limit still checks.
//! Each runs on a normal test thread (2 MiB stack): `check` must not depend on its
//! caller's stack.

use sluice_compiler::limits::MAX_NESTING;
use sluice_compiler::source::FileId;
use sluice_compiler::{Code, Diagnostic, FileKind, SourceFile, SourceSet, bauplan_project};

const SCHEMA: &str = "from sluice import Schema, Source\nimport polars as pl\n\n\
class S(Schema):\n    a: int\n\nsrc = Source(S, name=\"raw.t\")\n";

fn check(files: &[(&str, String)]) -> (SourceSet, Vec<Diagnostic>) {
    let files = files
        .iter()
        .map(|(path, text)| {
            let kind = FileKind::of(std::path::Path::new(path)).expect("known kind");
            SourceFile::new(*path, kind, text.clone())
        })
        .collect();
    let sources = SourceSet::new("/project", files);
    let diagnostics = sluice_compiler::check(&sources).diagnostics;
    (sources, diagnostics)
}

/// A Python node whose body line is `line`, checked with the schema module.
fn python_body(line: &str) -> Vec<(&'static str, String)> {
    let node = format!(
        "from s import S, src\nimport polars as pl\n\n\ndef node(df: S = src) -> S:\n    {line}\n"
    );
    vec![("s.py", SCHEMA.to_owned()), ("n.py", node)]
}

fn sql_node(query: &str) -> Vec<(&'static str, String)> {
    vec![
        ("s.py", SCHEMA.to_owned()),
        ("out.sql", format!("-- out <- raw.t\n{query}\n")),
    ]
}

/// Exactly one `E0007`, in `path`, whose primary span starts with `token`.
fn assert_too_deep(files: Vec<(&'static str, String)>, path: &str, token: &str) {
    let (sources, diagnostics) = check(&files);
    let deep: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.code == Code::NestingTooDeep)
        .collect();
    assert_eq!(deep.len(), 1, "{diagnostics:#?}");
    let d = deep[0];
    let file = sources.file(d.file);
    assert_eq!(file.path, path);
    assert!(
        file.text[d.span.clone()].starts_with(token),
        "span {:?} is `{}`, expected `{token}`",
        d.span,
        &file.text[d.span.clone()]
    );
    assert!(d.message.contains("nested more than"), "{}", d.message);
}

fn assert_no_deep(files: Vec<(&'static str, String)>) {
    let (_, diagnostics) = check(&files);
    assert!(
        !diagnostics.iter().any(|d| d.code == Code::NestingTooDeep),
        "{diagnostics:#?}"
    );
}

const N: usize = 20_000;

#[test]
fn deep_python_parentheses() {
    let line = format!("return {}df{}", "(".repeat(N), ")".repeat(N));
    assert_too_deep(python_body(&line), "n.py", "(");
}

#[test]
fn deep_python_unary_minus_and_not() {
    assert_too_deep(
        python_body(&format!("x = {}1\n    return df", "-".repeat(N))),
        "n.py",
        "-",
    );
    assert_too_deep(
        python_body(&format!("x = {}1\n    return df", "not ".repeat(N))),
        "n.py",
        "not",
    );
}

#[test]
fn deep_python_lists_dicts_calls() {
    let list = format!("x = {}{}\n    return df", "[".repeat(N), "]".repeat(N));
    assert_too_deep(python_body(&list), "n.py", "[");
    let dict = format!("x = {}1{}\n    return df", "{1: ".repeat(N), "}".repeat(N));
    assert_too_deep(python_body(&dict), "n.py", "1");
    let call = format!("x = {}{}\n    return df", "f(".repeat(N), ")".repeat(N));
    assert_too_deep(python_body(&call), "n.py", "f");
}

#[test]
fn long_python_operator_chain() {
    let line = format!("x = {}\n    return df", vec!["df"; N].join(" + "));
    assert_too_deep(python_body(&line), "n.py", "df");
}

#[test]
fn twenty_thousand_chained_calls() {
    let line = format!("return df{}", ".filter(pl.col(\"a\") > 1)".repeat(N));
    assert_too_deep(python_body(&line), "n.py", "df");
}

#[test]
fn deep_annotations_and_defaults() {
    let subscript = format!("List[{}int{}]", "List[".repeat(N), "]".repeat(N));
    let node =
        format!("from s import S, src\n\ndef node(df: {subscript} = src) -> S:\n    return df\n");
    assert_too_deep(
        vec![("s.py", SCHEMA.to_owned()), ("n.py", node)],
        "n.py",
        "List",
    );
    let default = format!("{}src{}", "f(".repeat(N), ")".repeat(N));
    let node =
        format!("from s import S, src\n\ndef node(df: S = {default}) -> S:\n    return df\n");
    assert_too_deep(
        vec![("s.py", SCHEMA.to_owned()), ("n.py", node)],
        "n.py",
        "f",
    );
    let union = vec!["S"; N].join(" | ");
    let node =
        format!("from s import S, src\n\ndef node(df: {union} = src) -> S:\n    return df\n");
    assert_too_deep(
        vec![("s.py", SCHEMA.to_owned()), ("n.py", node)],
        "n.py",
        "S",
    );
    let column = format!(
        "class T(Schema):\n    b: {}int{}\n",
        "Optional[".repeat(N),
        "]".repeat(N)
    );
    let module = format!("from sluice import Schema\n{column}");
    assert_too_deep(vec![("t.py", module)], "t.py", "Optional");
}

#[test]
fn deep_decorators_bases_and_module_assignments() {
    let deco = format!(
        "@{}{}\ndef node(df: S = src) -> S:\n    return df\n",
        "f(".repeat(N),
        ")".repeat(N)
    );
    let module = format!("from s import S, src\n{deco}");
    assert_too_deep(
        vec![("s.py", SCHEMA.to_owned()), ("n.py", module)],
        "n.py",
        "f",
    );
    let class = format!(
        "from sluice import Schema\nclass T({}Schema{}):\n    b: int\n",
        "f(".repeat(N),
        ")".repeat(N)
    );
    assert_too_deep(vec![("t.py", class)], "t.py", "f");
    let assign = format!(
        "from sluice import Source\nt = {}{}\n",
        "Source(".repeat(N),
        ")".repeat(N)
    );
    assert_too_deep(vec![("t.py", assign)], "t.py", "Source");
}

#[test]
fn python_just_inside_the_limit_is_checked() {
    // 300 chained calls nest 600 levels: inferred like any chain.
    let line = format!("return df{}", ".select(pl.col(\"a\"))".repeat(300));
    assert_no_deep(python_body(&line));
    let line = format!(
        "return {}df{}",
        "(".repeat(MAX_NESTING - 10),
        ")".repeat(MAX_NESTING - 10)
    );
    assert_no_deep(python_body(&line));
}

#[test]
fn long_sql_operator_chains() {
    let plus = vec!["a"; 2_500].join(" + ");
    assert_too_deep(
        sql_node(&format!("SELECT {plus} AS x FROM raw.t")),
        "out.sql",
        "+",
    );
    let and = vec!["a > 1"; N].join(" AND ");
    assert_too_deep(
        sql_node(&format!("SELECT a FROM raw.t WHERE {and}")),
        "out.sql",
        "AND",
    );
    let concat = vec!["'x'"; N].join(" || ");
    assert_too_deep(
        sql_node(&format!("SELECT {concat} AS x FROM raw.t")),
        "out.sql",
        "||",
    );
    let cast = "::BIGINT".repeat(N);
    assert_too_deep(
        sql_node(&format!("SELECT a{cast} AS x FROM raw.t")),
        "out.sql",
        "::",
    );
}

#[test]
fn deep_sql_nesting_is_the_parsers_limit() {
    let parens = format!("SELECT {}a{} AS x FROM raw.t", "(".repeat(N), ")".repeat(N));
    assert_too_deep(sql_node(&parens), "out.sql", "(");
    let sub = format!(
        "SELECT a FROM {}raw.t{}",
        "(SELECT a FROM ".repeat(60),
        ") s".repeat(60)
    );
    assert_too_deep(sql_node(&sub), "out.sql", "SELECT");
    let case = format!(
        "SELECT {}1{} AS x FROM raw.t",
        "CASE WHEN a > 1 THEN ".repeat(N),
        " ELSE 0 END".repeat(N)
    );
    assert_too_deep(sql_node(&case), "out.sql", "");
    let neg = format!("SELECT {}a AS x FROM raw.t", "- ".repeat(N));
    assert_too_deep(sql_node(&neg), "out.sql", "-");
}

#[test]
fn long_sql_relation_chains() {
    let union = vec!["SELECT a FROM raw.t"; 2_000].join(" UNION ALL ");
    assert_too_deep(sql_node(&union), "out.sql", "UNION");
    let joins: String = (1..2_000)
        .map(|i| format!(" JOIN raw.t AS t{i} ON t{i}.a = t0.a"))
        .collect();
    // A join and its `ON` condition: two levels each.
    assert_too_deep(
        sql_node(&format!("SELECT t0.a FROM raw.t AS t0{joins}")),
        "out.sql",
        "=",
    );
    let tables: Vec<String> = (0..2_000).map(|i| format!("raw.t AS t{i}")).collect();
    let commas = format!("SELECT t0.a FROM {}", tables.join(", "));
    assert_too_deep(sql_node(&commas), "out.sql", ",");
    let ctes: Vec<String> = (0..2_000)
        .map(|i| {
            format!(
                "c{i} AS (SELECT a FROM {})",
                if i == 0 {
                    "raw.t".to_owned()
                } else {
                    format!("c{}", i - 1)
                }
            )
        })
        .collect();
    let with = format!("WITH {} SELECT a FROM c1999", ctes.join(", "));
    assert_too_deep(sql_node(&with), "out.sql", "(");
}

#[test]
fn wide_sql_is_not_deep() {
    // Many columns, a long IN list and many CASE arms are wide, not deep.
    let columns: Vec<String> = (0..5_000).map(|i| format!("a + {i} AS c{i}")).collect();
    assert_no_deep(sql_node(&format!(
        "SELECT {} FROM raw.t",
        columns.join(", ")
    )));
    let list = vec!["1"; 5_000].join(", ");
    assert_no_deep(sql_node(&format!(
        "SELECT a FROM raw.t WHERE a IN ({list})"
    )));
    let arms = " WHEN a = 1 THEN 1".repeat(2_000);
    assert_no_deep(sql_node(&format!(
        "SELECT CASE{arms} ELSE 0 END AS x FROM raw.t"
    )));
}

/// `bauplan_project::parse` called directly on a thread with a 2 MiB stack (a test or
/// tokio thread), not on `check`'s big-stack pool.
fn parse_yaml_on_small_stack(text: String) -> (usize, Option<Diagnostic>) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let (params, diagnostic) = bauplan_project::parse(FileId(0), &text);
            (params.len(), diagnostic)
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_yaml_is_too_deep_on_any_stack() {
    let mapping: String = (0..3_000)
        .map(|i| format!("{}a{i}:\n", " ".repeat(i)))
        .collect();
    for (yml, token) in [
        (format!("parameters:\n  {}a\n", "- ".repeat(100_000)), "-"),
        (mapping, "a1000"),
        // Block sequences, then flow brackets inside them.
        (
            format!("x:\n{}{}\n", "- ".repeat(900), "[".repeat(200)),
            "[",
        ),
    ] {
        let (params, diagnostic) = parse_yaml_on_small_stack(yml.clone());
        let d = diagnostic.expect("a diagnostic");
        assert_eq!((params, d.code), (0, Code::NestingTooDeep), "{d:#?}");
        assert!(yml[d.span.start..].starts_with(token), "{:?}", d.span);
        assert_too_deep(
            vec![
                ("bauplan_project.yml", yml),
                ("a.py", "import bauplan\n".to_owned()),
            ],
            "bauplan_project.yml",
            // The span is the first character of the collection.
            &token[..1],
        );
    }
    // saphyr's scanner stops flow nesting at 255 levels: a syntax error.
    let brackets = format!("parameters: {}{}\n", "[".repeat(N), "]".repeat(N));
    let (_, diagnostic) = parse_yaml_on_small_stack(brackets);
    assert_eq!(diagnostic.map(|d| d.code), Some(Code::BauplanProject));
}

#[test]
fn yaml_just_inside_the_limit_is_read() {
    let yml = format!(
        "parameters:\n  p:\n    type: int\n    default: 1\nx:\n  {}a\n",
        // The root mapping and 999 sequences: 1,000 levels.
        "- ".repeat(MAX_NESTING - 1)
    );
    assert_eq!(parse_yaml_on_small_stack(yml), (1, None));
}

#[test]
fn yaml_aliases_that_copy_too_much_are_refused() {
    // Each level's aliases copy the level before ten times: 10^9 values in all.
    let mut yml = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
    for i in 1..10 {
        yml += &format!(
            "l{i}: &l{i} [{}]\n",
            vec![format!("*l{}", i - 1); 10].join(", ")
        );
    }
    let (_, diagnostic) = parse_yaml_on_small_stack(yml);
    let d = diagnostic.expect("a diagnostic");
    assert_eq!(d.code, Code::BauplanProject);
    assert!(d.message.contains("alias expansion"), "{}", d.message);
}

#[test]
fn yaml_aliases_nest_as_deep_as_their_anchors() {
    // An alias nests as deep as where it is plus its anchor's value.
    let inside = format!(
        "a: &a {}x{}\nb: {}*a{}\n",
        "[".repeat(200),
        "]".repeat(200),
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(parse_yaml_on_small_stack(inside).1, None);
    let deeper = format!(
        "a: &a\n  {}x\nb:\n  {}*a\n",
        "- ".repeat(600),
        "- ".repeat(600)
    );
    let d = parse_yaml_on_small_stack(deeper).1.expect("a diagnostic");
    assert_eq!(d.code, Code::NestingTooDeep, "{d:#?}");
}

#[test]
fn deep_toml_is_reported_not_crashed() {
    let toml = format!("a = {}{}\n", "[".repeat(N), "]".repeat(N));
    let (_, diagnostics) = check(&[("sluice.toml", toml)]);
    assert!(
        diagnostics.iter().any(|d| d.code == Code::Config),
        "{diagnostics:#?}"
    );
}

#[test]
fn check_runs_on_its_own_stack_from_a_small_thread() {
    let line = format!("return df{}", ".select(pl.col(\"a\"))".repeat(400));
    let files = python_body(&line);
    let diagnostics = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || check(&files).1)
        .unwrap()
        .join()
        .unwrap();
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}
