//! The project tools of `sluice mcp` (`check`, `plan`, `lineage`, `explain_code`): the
//! compiler calls of `sluice check`, `plan` and `lineage`, on the project as it is on
//! disk with the agent's unsaved texts laid over it.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::{Value, json};
use sluice_compiler::diagnostic::JsonReport;
use sluice_compiler::lineage::Direction;
use sluice_compiler::source::project_file;
use sluice_compiler::{Analysis, Code, SourceFile, SourceSet};

use super::ToolError;

/// Loads the project in `dir` and lays `overlay` (project-relative path -> text) over
/// it: a path that exists is replaced, a new one added. A path that is absolute,
/// climbs out (`..`) or is not a project file (`.py`, `.sql`, root `sluice.toml` or
/// `bauplan_project.yml`) is refused.
pub fn load(dir: &Path, overlay: &BTreeMap<String, String>) -> Result<SourceSet, ToolError> {
    let sources = sluice_compiler::load_project(dir)
        .map_err(|e| ToolError::new("project", format!("{}: {e}", dir.display())))?;
    if overlay.is_empty() {
        return Ok(sources);
    }
    let mut files: BTreeMap<String, SourceFile> = sources
        .files()
        .map(|(_, f)| (f.path.clone(), f.clone()))
        .collect();
    for (path, text) in overlay {
        let rel = overlay_path(path)?;
        let kind = project_file(&rel).ok_or_else(|| {
            ToolError::usage(format!(
                "files: `{path}` is not a project file (a .py or .sql file, or sluice.toml \
                 or bauplan_project.yml at the project root)"
            ))
        })?;
        files.insert(rel.clone(), SourceFile::new(rel, kind, text.as_str()));
    }
    Ok(SourceSet::new(
        sources.root.clone(),
        files.into_values().collect(),
    ))
}

/// An overlay path as the compiler spells project paths (`a/b.py`), or why not.
fn overlay_path(path: &str) -> Result<String, ToolError> {
    let p = Path::new(path);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ToolError::usage(format!(
                    "files: `{path}` must be relative to the project folder, inside it \
                     (no leading `/`, no `..`)"
                )));
            }
        }
    }
    if parts.is_empty() {
        return Err(ToolError::usage("files: an empty path".to_string()));
    }
    Ok(parts.join("/"))
}

/// Checks a project: the `sluice check --format json` report.
pub fn check(dir: &Path, overlay: &BTreeMap<String, String>) -> Result<Value, ToolError> {
    let sources = load(dir, overlay)?;
    let analysis = sluice_compiler::check(&sources);
    Ok(report(&sources, &analysis))
}

fn report(sources: &SourceSet, analysis: &Analysis) -> Value {
    let r = JsonReport::new(&analysis.diagnostics, sources, analysis.summary);
    serde_json::to_value(&r).unwrap_or(Value::Null)
}

/// A checked project, or the tool error carrying its check report (as `sluice plan`
/// prints the report instead of a plan).
fn checked(dir: &Path) -> Result<(SourceSet, Analysis), ToolError> {
    let sources = load(dir, &BTreeMap::new())?;
    let analysis = sluice_compiler::check(&sources);
    if analysis.summary.errors > 0 {
        let mut err = ToolError::new(
            "check_failed",
            format!(
                "the project has {} error(s): fix them first (the check tool shows them)",
                analysis.summary.errors
            ),
        );
        err.detail = report(&sources, &analysis);
        return Err(err);
    }
    Ok((sources, analysis))
}

/// The typed plan (`sluice plan --format json`).
pub fn plan(dir: &Path) -> Result<Value, ToolError> {
    let (sources, analysis) = checked(dir)?;
    let plan = sluice_compiler::plan::build(&analysis, &sources);
    Ok(serde_json::to_value(&plan).unwrap_or(Value::Null))
}

/// A column's lineage (`sluice lineage --format json`).
pub fn lineage(dir: &Path, column: &str, direction: Option<&str>) -> Result<Value, ToolError> {
    let direction = match direction.unwrap_or("upstream") {
        "upstream" => Direction::Upstream,
        "downstream" => Direction::Downstream,
        other => {
            return Err(ToolError::usage(format!(
                "direction: `{other}` is neither `upstream` nor `downstream`"
            )));
        }
    };
    let (_, analysis) = checked(dir)?;
    let l = crate::plan::lineage_of(&analysis, column, direction)
        .map_err(|e| ToolError::usage(e.to_string()))?;
    Ok(l.json())
}

/// The reference text of docs/language.md (section 15 holds a row per code).
pub const LANGUAGE_MD: &str = include_str!("../../../docs/language.md");

/// Every diagnostic code: code, severity and title.
pub fn codes() -> Value {
    let codes: Vec<Value> = Code::ALL
        .iter()
        .map(|c| json!({ "code": c.as_str(), "severity": c.severity(), "title": c.title() }))
        .collect();
    json!({ "codes": codes })
}

/// The docs of one diagnostic code: its title and severity, and its row of
/// docs/language.md's table (meaning, primary span, example and fix).
pub fn explain(code: &str) -> Result<Value, ToolError> {
    let wanted = code.trim().to_ascii_uppercase();
    let Some(c) = Code::ALL.iter().find(|c| c.as_str() == wanted) else {
        let known: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        return Err(ToolError::usage(format!(
            "no diagnostic code `{code}` (the codes: {})",
            known.join(", ")
        )));
    };
    let row = LANGUAGE_MD
        .lines()
        .find(|l| l.starts_with(&format!("| {} |", c.as_str())))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            cells
        });
    let cell = |i: usize| row.as_ref().and_then(|r| r.get(i)).map(|s| s.to_string());
    Ok(json!({
        "code": c.as_str(),
        "severity": c.severity(),
        "title": c.title(),
        "meaning": cell(1),
        "primary_span": cell(2),
        "example_and_fix": cell(3),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{explain, overlay_path};

    #[test]
    fn overlay_paths_stay_inside_the_project() {
        assert_eq!(overlay_path("models/a.py").unwrap(), "models/a.py");
        assert_eq!(overlay_path("./a.sql").unwrap(), "a.sql");
        for bad in ["../x.py", "/etc/x.py", "a/../../x.py", ""] {
            let e = overlay_path(bad).unwrap_err();
            assert_eq!(e.kind, "usage", "{bad}");
        }
    }

    #[test]
    fn overlay_refuses_files_that_are_not_project_files() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = BTreeMap::from([("notes.txt".to_string(), "x".to_string())]);
        let e = super::load(dir.path(), &overlay).unwrap_err();
        assert!(e.message.contains("not a project file"), "{}", e.message);
    }

    #[test]
    fn overlay_replaces_and_adds_texts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        let overlay = BTreeMap::from([
            ("a.py".to_string(), "y = 2\n".to_string()),
            ("m/b.sql".to_string(), "SELECT 1".to_string()),
        ]);
        let set = super::load(dir.path(), &overlay).unwrap();
        let files: Vec<(String, String)> = set
            .files()
            .map(|(_, f)| (f.path.clone(), f.text.clone()))
            .collect();
        assert_eq!(
            files,
            [
                ("a.py".to_string(), "y = 2\n".to_string()),
                ("m/b.sql".to_string(), "SELECT 1".to_string())
            ]
        );
        // The disk is untouched.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.py")).unwrap(),
            "x = 1\n"
        );
        assert!(!dir.path().join("m").exists());
    }

    #[test]
    fn explain_reads_the_code_table() {
        let v = explain("e0501").unwrap();
        assert_eq!(v["code"], "E0501");
        assert!(
            v["meaning"].as_str().unwrap().contains("reads a column"),
            "{v}"
        );
        assert!(
            v["example_and_fix"]
                .as_str()
                .unwrap()
                .contains("did-you-mean")
        );
        let e = explain("E9999").unwrap_err();
        assert!(e.message.contains("E0501"), "{}", e.message);
    }
}
