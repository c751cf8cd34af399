//! "Declare a Source for this lake table": a node reads a table no source or node
//! defines (E0101, or W0004 in a Bauplan project), through a parameter annotated with a
//! schema. The fix declares `name = Source(Schema)` (or `n = Source(Schema,
//! name="ns.n")` for a name that is no Python identifier) at the end of the file holding
//! the project's sources (the one with the most `Source(...)` declarations, the first by
//! path on a tie), or, in a project without sources, of the file defining the schema;
//! and imports `Source` there if that file does not yet.

use std::collections::BTreeMap;

use crate::analysis::{Table, TableKind};
use crate::diagnostic::{Edit, Fix};
use crate::schema::{SchemaId, Schemas};
use crate::source::{FileId, FileKind, SourceSet};

use super::is_python_identifier;

/// The declaration of lake table `name` with schema `schema`. `None` when no variable
/// name can be made for it, or the name is already bound in the chosen file.
pub(crate) fn declare_source(
    sources: &SourceSet,
    tables: &[Table],
    schemas: &Schemas,
    name: &str,
    schema: SchemaId,
) -> Option<Fix> {
    let schema = schemas.get(schema);
    // The file with the most declared sources (implicit lake tables have no schema).
    let mut counts: BTreeMap<&str, (usize, FileId)> = BTreeMap::new();
    for t in tables {
        if t.kind == TableKind::Source
            && t.output.is_some()
            && sources.file(t.file).kind == FileKind::Python
        {
            counts
                .entry(sources.file(t.file).path.as_str())
                .or_insert((0, t.file))
                .0 += 1;
        }
    }
    let sources_file = counts
        .values()
        .fold(None::<(usize, FileId)>, |best, &(n, f)| match best {
            Some((m, _)) if m >= n => best,
            _ => Some((n, f)),
        })
        .map(|(_, f)| f);
    // Another file names the schema through the project-wide lookup, which needs the
    // name to be unique.
    let unique = schemas.names().filter(|n| *n == schema.name).count() == 1;
    let (file, has_sources) = match sources_file {
        Some(f) if f == schema.file || unique => (f, true),
        _ => (schema.file, false),
    };
    let text = sources.file(file).text.as_str();
    let (var, call) = if is_python_identifier(name) {
        (name, format!("Source({})", schema.name))
    } else {
        let last = name.rsplit('.').next().unwrap_or(name);
        if !is_python_identifier(last) || name.contains('"') || name.contains('\\') {
            return None;
        }
        (last, format!("Source({}, name=\"{name}\")", schema.name))
    };
    if binds(text, var) {
        return None;
    }
    let mut edits = Vec::new();
    if !has_sources && let Some(edit) = import_source(file, text) {
        edits.push(edit);
    }
    let sep = match text {
        "" => "",
        t if t.ends_with("\n\n") => "",
        t if t.ends_with('\n') => "\n",
        _ => "\n\n",
    };
    edits.push(Edit {
        file,
        span: text.len()..text.len(),
        replacement: format!("{sep}{var} = {call}\n"),
    });
    Some(Fix {
        title: format!(
            "Declare lake table `{name}` in {}: `{var} = {call}`",
            sources.file(file).path
        ),
        preferred: false,
        edits,
    })
}

/// Whether a top-level statement of `text` binds `var` (assignment, def, class, import
/// as written on one line).
fn binds(text: &str, var: &str) -> bool {
    let ident = |c: char| c == '_' || c.is_ascii_alphanumeric();
    let name_at = |s: &str| {
        s.strip_prefix(var)
            .is_some_and(|after| !after.starts_with(ident))
    };
    text.lines().any(|line| {
        if name_at(line) {
            let after = line[var.len()..].trim_start();
            if after.starts_with('=') && !after.starts_with("==") || after.starts_with(':') {
                return true;
            }
        }
        if ["def ", "class "].iter().any(|kw| {
            line.strip_prefix(kw)
                .is_some_and(|r| name_at(r.trim_start()))
        }) {
            return true;
        }
        (line.starts_with("from ") || line.starts_with("import "))
            && line.split(|c: char| !ident(c)).any(|w| w == var)
    })
}

/// The edit that makes `Source` importable in `text`: `, Source` after a one-line
/// `from sluice import ...`, else a new `from sluice import Source` line before the first
/// import (after `from __future__` imports), else at the top. `None` when `Source` is
/// imported already (or all of `sluice` is).
fn import_source(file: FileId, text: &str) -> Option<Edit> {
    let mut offset = 0;
    let mut first_import = None;
    for line in text.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("").trim_end();
        if let Some(names) = code.strip_prefix("from sluice import ") {
            let names = names.trim();
            if names == "*"
                || names
                    .split(',')
                    .any(|n| n.trim() == "Source" || n.trim().starts_with("Source "))
            {
                return None;
            }
            if !names.contains('(') && !names.contains('\\') {
                let end = offset + code.len();
                return Some(Edit {
                    file,
                    span: end..end,
                    replacement: ", Source".to_owned(),
                });
            }
        }
        if first_import.is_none()
            && (code.starts_with("import ") || code.starts_with("from "))
            && !code.starts_with("from __future__")
        {
            first_import = Some(offset);
        }
        offset += line.len();
    }
    let at = first_import.unwrap_or(0);
    Some(Edit {
        file,
        span: at..at,
        replacement: "from sluice import Source\n".to_owned(),
    })
}
