//! The editing requests over the protocol, on copies of examples/shop and the unicode
//! fixture: completion in broken buffers, quick fixes applied and re-checked, inlay
//! hints (and turning them off), code lenses; insta snapshots of what the editor shows.

mod support;

use std::path::PathBuf;

use lsp_types::{CodeActionOrCommand, CompletionResponse, Url};
use serde_json::{Value, json};
use support::{Client, apply, copy_dir, repo, url};

fn project(from: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(&repo().join(from), &root);
    (tmp, root)
}

/// (line, UTF-16 column) of the end of the first `needle` in `text`.
fn end_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).unwrap() + needle.len();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() as u32;
    (line, text[line_start..at].encode_utf16().count() as u32)
}

/// Opens `rel` with `text` (unsaved) and asks for completion at the end of `needle`:
/// one line per item, `label  detail`.
fn complete(client: &mut Client, rel: &str, text: &str, needle: &str) -> String {
    client.open_text(rel, text);
    client.settle();
    let (line, character) = end_of(text, needle);
    let response = client.request(
        "textDocument/completion",
        json!({
            "textDocument": { "uri": url(&client.path(rel)) },
            "position": { "line": line, "character": character },
        }),
    );
    let result = response.response_result.expect("completion answers");
    if result.is_null() {
        return "(no completion)\n".to_owned();
    }
    let items = match serde_json::from_value(result).unwrap() {
        CompletionResponse::List(list) => list.items,
        CompletionResponse::Array(items) => items,
    };
    let mut out = String::new();
    for item in items {
        let edit = match item.text_edit {
            Some(lsp_types::CompletionTextEdit::Edit(e)) => format!(
                " @{}:{}-{}:{}",
                e.range.start.line,
                e.range.start.character,
                e.range.end.line,
                e.range.end.character
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}  {}{edit}\n",
            item.label,
            item.detail.unwrap_or_default()
        ));
    }
    out
}

#[test]
fn completion_in_broken_sql_and_python() {
    let (_tmp, root) = project("examples/shop");
    let mut client = Client::start_in(&root, json!({}));
    let rel = "models/orders_enriched.sql";
    let disk = std::fs::read_to_string(root.join(rel)).unwrap();

    // `o.` typed in the select list: the query no longer parses.
    let broken = disk.replace("    o.ordered_at,\n", "    o.ordered_at,\n    o.\n");
    let qualified = complete(&mut client, rel, &broken, "    o.ordered_at,\n    o.");
    // `l.qu`: a prefix after the alias of the other input.
    let broken = disk.replace("    COUNT(*) AS items", "    COUNT(*) AS items, l.qu");
    let prefixed = complete(&mut client, rel, &broken, "l.qu");
    // An unqualified column in WHERE sees both inputs.
    let broken = disk.replace("WHERE o.status <> 'cancelled'", "WHERE ");
    let unqualified = complete(&mut client, rel, &broken, "WHERE ");
    // A table after JOIN.
    let broken = disk.replace("JOIN raw.order_lines AS l", "JOIN ");
    let tables = complete(&mut client, rel, &broken, "JOIN ");
    // A schema in the header.
    let header = complete(
        &mut client,
        rel,
        &disk.replace(": EnrichedOrderSchema", ": "),
        "-- orders_enriched: ",
    );

    let py = "analytics/customers.py";
    let py_disk = std::fs::read_to_string(root.join(py)).unwrap();
    let broken = py_disk.replace("col(\"amount\").count()", "col(\"");
    let polars = complete(&mut client, py, &broken, "        col(\"");
    let broken = py_disk.replace(
        "def vip_customers(ltv: LtvSchema",
        "def vip_customers(ltv: ",
    );
    let annotation = complete(&mut client, py, &broken, "def vip_customers(ltv: ");
    let nothing = complete(&mut client, py, &py_disk, "\"\"\"Customer");

    insta::assert_snapshot!(
        "completion",
        format!(
            "## o.\n{qualified}\n## l.qu\n{prefixed}\n## WHERE\n{unqualified}\n## JOIN\n{tables}\n\
             ## header schema\n{header}\n## col(\"\n{polars}\n## annotation\n{annotation}\n\
             ## in a docstring\n{nothing}"
        )
    );
    assert!(client.logs.is_empty(), "{:?}", client.logs);
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

#[test]
fn completion_after_non_ascii_text_in_utf16() {
    let (_tmp, root) = project("lsp/tests/fixtures/unicode");
    let mut client = Client::start_in(&root, json!({}));
    // The cursor after emoji and accents: UTF-16 columns differ from bytes and chars.
    let text = "-- 🚚 livraisons: café\nSELECT '🚚 café' AS label, d.am FROM deliveries AS d\n";
    let items = complete(&mut client, "labels.sql", text, "d.am");
    insta::assert_snapshot!("completion_utf16", items);
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

#[test]
fn a_quick_fix_repairs_a_typo_and_the_diagnostic_clears() {
    let (_tmp, root) = project("lsp/tests/fixtures/unicode");
    let mut client = Client::start_in(&root, json!({}));
    client.open("labels.sql");
    client.settle();
    let before = client.render();
    assert!(before.contains("E0501"), "{before}");
    let text = std::fs::read_to_string(root.join("labels.sql")).unwrap();
    let (line, character) = end_of(&text, "amo");
    let uri = url(&client.path("labels.sql"));
    let response = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": line, "character": character },
                       "end": { "line": line, "character": character } },
            "context": { "diagnostics": [] },
        }),
    );
    let actions: Vec<CodeActionOrCommand> =
        serde_json::from_value(response.response_result.unwrap()).unwrap();
    let CodeActionOrCommand::CodeAction(action) = &actions[0] else {
        panic!("a code action: {actions:?}")
    };
    let changes = action.edit.as_ref().unwrap().changes.as_ref().unwrap();
    let edits = &changes[&uri];
    let fixed = apply(&text, edits);
    insta::assert_snapshot!(
        "quick_fix",
        format!(
            "{}\nkind {:?} preferred {:?}\nfor {}\n--- before\n{text}--- after\n{fixed}",
            action.title,
            action.kind.as_ref().map(|k| k.as_str()),
            action.is_preferred,
            action.diagnostics.as_ref().unwrap()[0]
                .message
                .replace('\n', " ⏎ "),
        )
    );
    // The editor applies it: the diagnostic is gone.
    client.edit("labels.sql", ((0, 0), (99, 0)), &fixed);
    client.settle();
    assert_eq!(client.render(), "(no diagnostics)\n");
    // Nothing to fix at a clean position: an empty answer, not an error.
    let response = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": uri },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } },
            "context": { "diagnostics": [] },
        }),
    );
    assert_eq!(response.response_result.unwrap(), json!([]));
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

fn hints(client: &mut Client, rel: &str) -> String {
    let response = client.request(
        "textDocument/inlayHint",
        json!({
            "textDocument": { "uri": url(&client.path(rel)) },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 999, "character": 0 } },
        }),
    );
    let hints: Vec<lsp_types::InlayHint> =
        serde_json::from_value(response.response_result.unwrap()).unwrap();
    let text = std::fs::read_to_string(client.path(rel)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for hint in hints {
        let lsp_types::InlayHintLabel::String(label) = hint.label else {
            panic!("a string label")
        };
        let p = hint.position;
        let line = lines[p.line as usize];
        let units: Vec<u16> = line.encode_utf16().take(p.character as usize).collect();
        let at = String::from_utf16_lossy(&units);
        out.push_str(&format!("{}:{} {at}⟨{label}⟩\n", p.line, p.character));
    }
    out
}

fn lenses(client: &mut Client, rel: &str) -> String {
    let response = client.request(
        "textDocument/codeLens",
        json!({ "textDocument": { "uri": url(&client.path(rel)) } }),
    );
    let lenses: Vec<lsp_types::CodeLens> =
        serde_json::from_value(response.response_result.unwrap()).unwrap();
    lenses
        .iter()
        .map(|l| {
            format!(
                "{}:{} {}\n",
                l.range.start.line,
                l.range.start.character,
                l.command.as_ref().unwrap().title
            )
        })
        .collect()
}

#[test]
fn inlay_hints_and_code_lenses() {
    let (_tmp, root) = project("examples/shop");
    let mut client = Client::start_in(&root, json!({}));
    let sql = "models/orders_enriched.sql";
    let py = "analytics/customers.py";
    client.open(sql);
    client.open(py);
    client.settle();
    insta::assert_snapshot!(
        "hints_and_lenses",
        format!(
            "## {sql}\n{}{}\n## {py}\n{}{}",
            hints(&mut client, sql),
            lenses(&mut client, sql),
            hints(&mut client, py),
            lenses(&mut client, py)
        )
    );
    // Turned off in the settings: no hints, lenses stay.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "sluice": { "inlayHints": false } } }),
    );
    assert_eq!(hints(&mut client, sql), "");
    assert_ne!(lenses(&mut client, sql), "");
    client.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "sluice": { "inlayHints": true } } }),
    );
    assert_ne!(hints(&mut client, sql), "");
    // A file sluice does not analyse: `null`.
    let response = client.request(
        "textDocument/inlayHint",
        json!({
            "textDocument": { "uri": Url::from_file_path(root.join("README.md")).unwrap() },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } },
        }),
    );
    assert_eq!(response.response_result.unwrap(), Value::Null);
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

#[test]
fn inlay_hints_off_from_initialization_options() {
    let (_tmp, root) = project("examples/shop");
    let mut client = Client::start_with(
        &root,
        std::slice::from_ref(&root),
        json!({}),
        json!({ "sluice": { "inlayHints": false } }),
    );
    client.open("models/orders_enriched.sql");
    client.settle();
    assert_eq!(hints(&mut client, "models/orders_enriched.sql"), "");
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}
