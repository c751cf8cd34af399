//! Docs as tests: every fenced code block of README.md, CONTRIBUTING.md and docs/**/*.md
//! is checked, so an example cannot silently stop working when copied.
//!
//! A block's info string is its language and attributes (`python file=schemas.py`,
//! `sh no-run="needs an S3 bucket"`); CONTRIBUTING.md ("Docs are tests") states the
//! rules, and every block must fall under one of them (a block with no language, or a
//! language nothing here can check and no `no-check` reason, fails):
//!
//! - `file=PATH`: a file of the document's project (`project=NAME`, default `main`). Each
//!   project is written to a temporary folder and `sluice check` must report exactly the
//!   codes its blocks list in `expect=CODE,...` (none by default).
//! - `sh` / `bash`: run with bash (`set -euo pipefail`) with the built `sluice` first on
//!   PATH, in the document's scratch folder (or its project's folder with `project=NAME`),
//!   on a lake of its own (`own-lake`: without SLUICE_LAKE, for a block that makes the
//!   lake its project's sluice.toml names); it must exit 0. `no-run="reason"` skips running it, but every
//!   `sluice ...` command in it must still parse (subcommands and flags exist).
//! - `python` parses (Python's `ast`), `sql` parses (sqlparser, generic dialect), `json`
//!   parses (`json fragment`: as the members of an object), `toml` and `yaml` parse.
//! - `text`: output, synopses and grammar, shown as is.
//! - any other language: `no-check="reason"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// One fenced code block.
struct Block {
    /// `docs/lake.md:254`: where a failure points.
    at: String,
    lang: String,
    attrs: BTreeMap<String, String>,
    text: String,
}

impl Block {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is inside the repository")
        .to_path_buf()
}

/// The documents whose blocks are checked, in a stable order.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md"]
        .iter()
        .map(|name| root.join(name))
        .filter(|p| p.is_file())
        .collect();
    let mut nested = Vec::new();
    let mut stack = vec![root.join("docs")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                nested.push(path);
            }
        }
    }
    nested.sort();
    docs.extend(nested);
    docs
}

/// Splits an info string into its language and `key=value` / `key="value"` / `flag`
/// attributes.
fn parse_info(info: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let words = shlex::split(info).ok_or_else(|| format!("unbalanced quotes in `{info}`"))?;
    let mut words = words.into_iter();
    let lang = words.next().unwrap_or_default();
    let mut attrs = BTreeMap::new();
    for word in words {
        match word.split_once('=') {
            Some((k, v)) => attrs.insert(k.to_owned(), v.to_owned()),
            None => attrs.insert(word, String::new()),
        };
    }
    Ok((lang, attrs))
}

fn blocks_of(root: &Path, doc: &Path, failures: &mut Vec<String>) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).expect("read a document");
    let rel = doc.strip_prefix(root).unwrap_or(doc).display().to_string();
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (event, range) in Parser::new(&text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let at = format!("{rel}:{}", line_of(range.start));
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                match parse_info(&info) {
                    Ok((lang, attrs)) => {
                        current = Some(Block {
                            at,
                            lang,
                            attrs,
                            text: String::new(),
                        })
                    }
                    Err(e) => failures.push(format!("{at}: {e}")),
                }
            }
            Event::Text(t) => {
                if let Some(block) = current.as_mut() {
                    block.text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// A command with the environment every block gets: the built `sluice` first on PATH,
/// no lake from the caller's environment.
fn command(program: &str, lake: &Path) -> Command {
    let bin_dir = Path::new(sluice_bin())
        .parent()
        .expect("the binary's folder");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new(program);
    cmd.env("PATH", std::env::join_paths(dirs).expect("a PATH"))
        .env("SLUICE_LAKE", lake)
        .env_remove("SLUICE_DATA")
        .env("SLUICE_AUTHOR", "docs")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `sluice` commands of a shell script, as argument lists (continuation lines
/// joined, comments dropped, split at `|`, `&&`, `||`, `;`, `&`; leading `VAR=value`
/// assignments skipped).
fn sluice_commands(script: &str) -> Result<Vec<Vec<String>>, String> {
    let joined = script.replace("\\\n", " ");
    let mut commands = Vec::new();
    for line in joined.lines() {
        let words = shlex::split(line).ok_or_else(|| format!("cannot split `{line}`"))?;
        for segment in words.split(|w| matches!(w.as_str(), "|" | "&&" | "||" | ";" | "&")) {
            let mut rest = segment
                .iter()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'));
            if rest.next().is_some_and(|w| w == "sluice") {
                commands.push(rest.cloned().collect());
            }
        }
    }
    Ok(commands)
}

/// Every project of a document must check with the codes its blocks expect.
fn check_projects(doc_blocks: &[Block], scratch: &Path, failures: &mut Vec<String>) {
    let mut projects: BTreeMap<&str, Vec<&Block>> = BTreeMap::new();
    for block in doc_blocks.iter().filter(|b| b.attrs.contains_key("file")) {
        projects
            .entry(block.attr("project").unwrap_or("main"))
            .or_default()
            .push(block);
    }
    for (name, blocks) in projects {
        let dir = scratch.join(name);
        for block in &blocks {
            let rel = block.attr("file").unwrap_or_default();
            if rel.is_empty() || Path::new(rel).is_absolute() || rel.contains("..") {
                failures.push(format!("{}: `file=` needs a relative path", block.at));
                continue;
            }
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, &block.text).expect("write a project file");
        }
        let mut expected: Vec<String> = blocks
            .iter()
            .filter_map(|b| b.attr("expect"))
            .flat_map(|e| e.split(',').map(str::to_owned))
            .collect();
        expected.sort();
        expected.dedup();
        let out = command(sluice_bin(), &scratch.join(".sluice"))
            .args(["check", "--format", "json"])
            .arg(&dir)
            .output()
            .expect("run sluice check");
        let first = blocks[0].at.as_str();
        let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "{first}: project `{name}`: check printed no JSON ({e})\n{}",
                    output_text(&out)
                ));
                continue;
            }
        };
        let mut codes: Vec<String> = report["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["code"].as_str().map(str::to_owned))
            .collect();
        codes.sort();
        codes.dedup();
        if codes != expected {
            failures.push(format!(
                "{first}: project `{name}`: `sluice check` reported {codes:?}, the blocks expect {expected:?}\n{}",
                serde_json::to_string_pretty(&report["diagnostics"]).unwrap_or_default()
            ));
        }
    }
}

fn check_shell(block: &Block, scratch: &Path, failures: &mut Vec<String>) {
    let lake = scratch.join(".sluice");
    if let Some(reason) = block.attr("no-run") {
        if reason.trim().is_empty() {
            failures.push(format!("{}: `no-run` needs a reason", block.at));
        }
        let commands = match sluice_commands(&block.text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", block.at));
                return;
            }
        };
        for args in commands {
            let out = command(sluice_bin(), &lake)
                .args(&args)
                .arg("--help")
                .output()
                .expect("run sluice --help");
            if !out.status.success() {
                failures.push(format!(
                    "{}: `sluice {}` does not parse\n{}",
                    block.at,
                    args.join(" "),
                    output_text(&out)
                ));
            }
        }
        return;
    }
    let cwd = match block.attr("project") {
        Some(p) => scratch.join(p),
        None => scratch.to_path_buf(),
    };
    if !cwd.is_dir() {
        failures.push(format!(
            "{}: no project `{}` in this document",
            block.at,
            cwd.display()
        ));
        return;
    }
    let mut bash = command("bash", &lake);
    if block.attr("own-lake").is_some() {
        // The block makes its own lake (`sluice init --lake`), which its sluice.toml
        // names: as for a user, no SLUICE_LAKE overrides it.
        bash.env_remove("SLUICE_LAKE");
    }
    let out = bash
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", block.text))
        .current_dir(&cwd)
        .output()
        .expect("run bash");
    if !out.status.success() {
        failures.push(format!(
            "{}: the block exited with {}\n{}",
            block.at,
            out.status,
            output_text(&out)
        ));
    }
}

fn check_python(block: &Block, scratch: &Path, failures: &mut Vec<String>) {
    let path = scratch.join("fragment.py");
    std::fs::write(&path, &block.text).expect("write a fragment");
    let out = Command::new("python3")
        .args([
            "-c",
            "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[2])",
        ])
        .arg(&path)
        .arg(&block.at)
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => failures.push(format!(
            "{}: not valid Python\n{}",
            block.at,
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => failures.push(format!(
            "{}: python3 is needed to check Python blocks: {e}",
            block.at
        )),
    }
}

fn check_block(block: &Block, scratch: &Path, failures: &mut Vec<String>) {
    let at = &block.at;
    if block.attrs.contains_key("file") {
        return; // checked with its project
    }
    if let Some(reason) = block.attr("no-check") {
        if reason.trim().is_empty() {
            failures.push(format!("{at}: `no-check` needs a reason"));
        }
        return;
    }
    match block.lang.as_str() {
        "sh" | "bash" => check_shell(block, scratch, failures),
        "python" => check_python(block, scratch, failures),
        "sql" => {
            let dialect = sqlparser::dialect::GenericDialect {};
            if let Err(e) = sqlparser::parser::Parser::parse_sql(&dialect, &block.text) {
                failures.push(format!("{at}: not valid SQL: {e}"));
            }
        }
        "json" => {
            let text = if block.attrs.contains_key("fragment") {
                format!("{{{}}}", block.text)
            } else {
                block.text.clone()
            };
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                failures.push(format!("{at}: not valid JSON: {e}"));
            }
        }
        "toml" => {
            if let Err(e) = block.text.parse::<toml::Table>() {
                failures.push(format!("{at}: not valid TOML: {e}"));
            }
        }
        "yaml" => {
            use saphyr::LoadableYamlNode;
            if let Err(e) = saphyr::Yaml::load_from_str(&block.text) {
                failures.push(format!("{at}: not valid YAML: {e}"));
            }
        }
        "text" => {}
        "" => failures.push(format!(
            "{at}: a code block needs a language (`text` for output, synopses and grammar)"
        )),
        other => failures.push(format!(
            "{at}: nothing checks `{other}` blocks: add `no-check=\"reason\"` (see CONTRIBUTING.md)"
        )),
    }
}

#[test]
fn every_code_block_in_the_docs_works() {
    let root = repo_root();
    let mut failures = Vec::new();
    let mut count = 0;
    for doc in documents(&root) {
        let blocks = blocks_of(&root, &doc, &mut failures);
        count += blocks.len();
        let scratch = tempfile::tempdir().expect("a scratch folder");
        check_projects(&blocks, scratch.path(), &mut failures);
        for block in &blocks {
            check_block(block, scratch.path(), &mut failures);
        }
    }
    assert!(
        count > 50,
        "found only {count} code blocks: is the scan broken?"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} doc code blocks fail (rules: CONTRIBUTING.md, \"Docs are tests\"):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn sluice_commands_are_found_in_shell_text() {
    let script = "export A=1\nSLUICE_DATA=s3://b/p sluice branch list   # creates it\n\
                  sluice import x.csv \\\n  --table t && echo ok | sluice query \"SELECT 1\"\n# sluice gc\n";
    let commands = sluice_commands(script).expect("splits");
    assert_eq!(
        commands,
        vec![
            vec!["branch", "list"],
            vec!["import", "x.csv", "--table", "t"],
            vec!["query", "SELECT 1"],
        ]
    );
}
