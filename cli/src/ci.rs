//! `sluice check --format github|sarif|junit|gitlab`: the diagnostics in the formats
//! CI systems read natively. Every renderer reads the one diagnostic model (through
//! [`JsonDiagnostic`], the located form of the JSON report) and returns text; `check`
//! prints it.
//!
//! Paths are the project folder joined with the file's path inside it, so a check
//! run from the repository root (`sluice check pipelines`) annotates
//! `pipelines/orders.sql`, which is what GitHub, code scanning and GitLab expect.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_compiler::diagnostic::{Code, JsonDiagnostic, Summary};
use sluice_compiler::{Analysis, Severity, SourceSet};

/// The SARIF 2.1.0 schema every SARIF document names.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where the diagnostic codes are documented (docs/language.md's code table).
fn codes_url() -> String {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    format!(
        "{repository}/blob/main/docs/language.md#{}",
        sluice_lsp::CODES_ANCHOR
    )
}

/// One diagnostic located relative to where `sluice check` was run.
struct Located {
    d: JsonDiagnostic,
    path: String,
}

fn located(analysis: &Analysis, sources: &SourceSet, dir: &Path) -> Vec<Located> {
    analysis
        .diagnostics
        .iter()
        .map(|diagnostic| {
            let d = JsonDiagnostic::new(diagnostic, sources);
            let joined = dir.join(&d.file);
            let path = joined.to_string_lossy();
            let path = path.strip_prefix("./").unwrap_or(&path).replace('\\', "/");
            Located { d, path }
        })
        .collect()
}

/// The message with its help, for formats that have one text field.
fn full_message(d: &JsonDiagnostic) -> String {
    match &d.help {
        Some(help) => format!("{}\nhelp: {help}", d.message),
        None => d.message.clone(),
    }
}

/// GitHub Actions workflow commands: one `::error` or `::warning` line per
/// diagnostic, shown as annotations on the pull request's diff.
pub fn github(analysis: &Analysis, sources: &SourceSet, dir: &Path) -> String {
    // https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for Located { d, path } in located(analysis, sources, dir) {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            property(&path),
            d.line,
            d.column,
            d.end_line,
            d.end_column,
            property(d.code),
            data(&full_message(&d))
        );
    }
    out
}

/// SARIF 2.1.0 (GitHub code scanning and other static-analysis viewers): one run
/// whose driver lists every stable code as a rule.
pub fn sarif(analysis: &Analysis, sources: &SourceSet, dir: &Path) -> Value {
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": { "text": c.title() },
                "helpUri": codes_url(),
                "defaultConfiguration": { "level": level(c.severity()) },
            })
        })
        .collect();
    let results: Vec<Value> = located(analysis, sources, dir)
        .into_iter()
        .map(|Located { d, path }| {
            let index = Code::ALL.iter().position(|c| c.as_str() == d.code);
            json!({
                "ruleId": d.code,
                "ruleIndex": index,
                "level": level(d.severity),
                "message": { "text": full_message(&d) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": path },
                        "region": {
                            "startLine": d.line,
                            "startColumn": d.column,
                            "endLine": d.end_line,
                            "endColumn": d.end_column,
                        }
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "sluice",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": codes_url(),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// XML text and attribute escaping.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && c != '\t' && c != '\r' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML (GitLab and Jenkins test reports): one test case per diagnostic;
/// errors are failures, warnings are skipped cases carrying the message (they do
/// not fail `check`). A clean project is one passing case.
pub fn junit(analysis: &Analysis, sources: &SourceSet, dir: &Path, summary: Summary) -> String {
    let all = located(analysis, sources, dir);
    let tests = all.len().max(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sluice check\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        summary.errors, summary.warnings
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"sluice check\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
        summary.errors, summary.warnings
    );
    if all.is_empty() {
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"sluice\"/>",
            xml(&format!("{} checked clean", dir.display()))
        );
    }
    for Located { d, path } in &all {
        let name = format!("{} {path}:{}:{}", d.code, d.line, d.column);
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\">",
            xml(&name),
            xml(path),
            xml(path),
            d.line
        );
        let body = format!("{path}:{}:{}: {}", d.line, d.column, full_message(d));
        match d.severity {
            Severity::Error => {
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    d.code,
                    xml(&d.message),
                    xml(&body)
                );
            }
            Severity::Warning => {
                let _ = writeln!(
                    out,
                    "      <skipped message=\"{}\"/>",
                    xml(&format!("warning {}: {}", d.code, d.message))
                );
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// GitLab Code Quality (a JSON array of issues). The fingerprint hashes the code,
/// the path, the message and the issue's rank among identical ones, not the line,
/// so it is stable across runs and across edits that only move the issue.
pub fn gitlab(analysis: &Analysis, sources: &SourceSet, dir: &Path) -> Value {
    let mut seen: std::collections::HashMap<(String, String, String), usize> =
        std::collections::HashMap::new();
    let issues: Vec<Value> = located(analysis, sources, dir)
        .into_iter()
        .map(|Located { d, path }| {
            let key = (d.code.to_string(), path.clone(), d.message.clone());
            let rank = seen.entry(key).or_insert(0);
            let mut hasher = Sha256::new();
            for part in [d.code, path.as_str(), d.message.as_str()] {
                hasher.update(part.as_bytes());
                hasher.update([0]);
            }
            hasher.update(rank.to_le_bytes());
            *rank += 1;
            let fingerprint: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            json!({
                "description": format!("{}: {}", d.code, d.message),
                "check_name": d.code,
                "fingerprint": fingerprint,
                "severity": match d.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                "location": {
                    "path": path,
                    "lines": { "begin": d.line, "end": d.end_line },
                },
            })
        })
        .collect();
    Value::Array(issues)
}
