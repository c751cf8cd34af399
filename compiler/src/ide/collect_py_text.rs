//! Schema names used in Python code the syntax tree does not keep: function bodies,
//! module-level statements, attribute access through an imported module
//! (`schemas.OrderSchema`), in every module where the name means the schema (it defines
//! it, imports it by its own name, or imports everything of its module with
//! `from m import *`). A rename rewrites them; a string that names the schema (`"Order
//! Schema"` exactly, or the name inside an f-string) cannot be rewritten safely and
//! refuses the rename, naming the file and node.

use std::collections::{HashMap, HashSet};

use super::index::{Builder, Edit, Occurrence, Role, Symbol};
use crate::analysis::{TableId, TableKind};
use crate::schema::SchemaId;
use crate::source::{FileId, Span};
use crate::syntax::py_tokens::{Token, tokens};
use crate::syntax::python::PyModule;

/// Adds the uses of the schemas `file` sees that the occurrences from index `from` on
/// (this file's, collected from its syntax tree) do not hold yet.
pub(super) fn schema_uses(b: &mut Builder, file: FileId, module: &PyModule, from: usize) {
    let analysis = b.analysis;
    let sources = b.sources;
    let text = sources.file(file).text.as_str();
    // Name as written -> schema; module alias -> the schemas its module defines.
    let mut names: HashMap<&str, SchemaId> = HashMap::new();
    let mut modules: HashMap<&str, &str> = HashMap::new();
    for s in b.schemas_by_file.get(&file).into_iter().flatten() {
        names.insert(&analysis.schemas[s.0].name, *s);
    }
    for import in &module.imports {
        match &import.item {
            Some(item) if *item == import.local.text && import.level == 0 => {
                if let Some(s) = b.schema_named(file, item)
                    && analysis.schemas[s.0].module == import.module
                {
                    names.insert(&analysis.schemas[s.0].name, s);
                }
            }
            None => {
                modules.insert(&import.local.text, &import.module);
            }
            Some(_) => {}
        }
    }
    let star: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("from ")?;
            let (m, items) = rest.split_once(" import ")?;
            (items.trim() == "*").then_some(m.trim())
        })
        .collect();
    if !star.is_empty() {
        for (i, def) in analysis.schemas.iter().enumerate() {
            if star.contains(&def.module.as_str()) {
                names.entry(&def.name).or_insert(SchemaId(i));
            }
        }
    }
    if names.is_empty() && modules.is_empty() {
        return;
    }
    let by_module = |m: &str, name: &str| -> Option<SchemaId> {
        b.schemas_with_name(name)
            .iter()
            .copied()
            .find(|s| analysis.schemas[s.0].module == m)
    };
    let known: HashSet<usize> = b.occurrences[from..]
        .iter()
        .filter(|o| matches!(o.symbol, Symbol::Schema(_)))
        .map(|o| o.span.start)
        .collect();
    // Function bodies and the nodes they belong to.
    let bodies: Vec<(Span, Option<TableId>)> = module
        .functions
        .iter()
        .map(|f| {
            let node = b.tables_in(file, |t| {
                t.kind == TableKind::Python && t.span == f.name.span
            });
            (f.name.span.start..f.body.end, node)
        })
        .collect();
    let node_at = |at: usize| {
        bodies
            .iter()
            .find(|(span, _)| span.contains(&at))
            .and_then(|(_, n)| *n)
    };
    let mut found = Vec::new();
    for (span, token) in tokens(text) {
        let (s, edit) = match token {
            Token::Name {
                text: name,
                after,
                attribute,
            } => {
                let s = match (after, attribute) {
                    (None, false) => names.get(name).copied(),
                    (Some(q), _) => modules.get(q).and_then(|m| by_module(m, name)),
                    (None, true) => None,
                };
                (s, Edit::Text)
            }
            Token::Str { text: content, f } => {
                let s = names.iter().find(|(name, _)| {
                    if f {
                        content
                            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|w| w == **name)
                    } else {
                        content == **name
                    }
                });
                let Some((name, s)) = s else { continue };
                let why = if f {
                    format!("an f-string that names `{name}`")
                } else {
                    format!("the string \"{name}\"")
                };
                (Some(*s), Edit::Blocked(why))
            }
        };
        let Some(s) = s else { continue };
        if known.contains(&span.start) {
            continue;
        }
        found.push(Occurrence {
            file,
            span: span.clone(),
            symbol: Symbol::Schema(s),
            role: Role::Reference,
            edit,
            node: node_at(span.start),
            table: None,
        });
    }
    for o in found {
        b.push(o);
    }
}
