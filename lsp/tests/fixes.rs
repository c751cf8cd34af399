//! The quick fixes that add text, over the protocol on a copy of the `fixes` fixture:
//! "declare a Source" for an undeclared lake table (E0101), "add the missing column to
//! the contract" (E0602), and "filter out nulls" next to "make the contract column
//! nullable" (E0604). Each is asked for at its diagnostic, applied as the editor would
//! (its edits may change another file than the one asked about), and the project is
//! checked again: that diagnostic must be gone. The snapshot shows every action offered
//! and the files the applied one changed.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use lsp_types::{CodeAction, CodeActionOrCommand, TextEdit, Url};
use serde_json::json;
use support::{Client, apply, copy_dir, repo, url};

const FILES: &[&str] = &["schemas.py", "contacts.sql", "regions.sql", "refunds.py"];

fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(&repo().join("lsp/tests/fixtures/fixes"), &root);
    (tmp, root)
}

/// (line, UTF-16 column) of the start of the first `needle` in `text`.
fn start_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).unwrap();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() as u32;
    (line, text[line_start..at].encode_utf16().count() as u32)
}

/// The code actions at the start of `needle` in `rel`.
fn actions(
    client: &mut Client,
    texts: &BTreeMap<String, String>,
    rel: &str,
    needle: &str,
) -> Vec<CodeAction> {
    let (line, character) = start_of(&texts[rel], needle);
    let response = client.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": url(&client.path(rel)) },
            "range": { "start": { "line": line, "character": character },
                       "end": { "line": line, "character": character } },
            "context": { "diagnostics": [] },
        }),
    );
    let actions: Vec<CodeActionOrCommand> =
        serde_json::from_value(response.response_result.unwrap()).unwrap();
    actions
        .into_iter()
        .map(|a| match a {
            CodeActionOrCommand::CodeAction(a) => a,
            CodeActionOrCommand::Command(c) => panic!("a command, not an action: {c:?}"),
        })
        .collect()
}

/// Applies `action` to the open buffers; returns the files it changed, as changed.
fn apply_action(
    client: &mut Client,
    texts: &mut BTreeMap<String, String>,
    action: &CodeAction,
) -> String {
    let changes = action.edit.as_ref().unwrap().changes.as_ref().unwrap();
    let mut changed: Vec<(&Url, &Vec<TextEdit>)> = changes.iter().collect();
    changed.sort_by_key(|(uri, _)| uri.as_str().to_owned());
    let mut out = String::new();
    for (uri, edits) in changed {
        let rel = client.rel(uri);
        let fixed = apply(&texts[&rel], edits);
        client.change(&rel, json!({ "text": fixed }));
        out.push_str(&format!("--- {rel}\n{fixed}"));
        texts.insert(rel, fixed);
    }
    out
}

#[test]
fn fixes_that_add_text_repair_their_diagnostics() {
    // (file, where the diagnostic is, the code, the title of the action to apply)
    let cases = [
        ("refunds.py", "lake_refunds", "E0101", "Declare lake table"),
        (
            "regions.sql",
            "COUNT(*)",
            "E0602",
            "Declare `customer_count",
        ),
        ("contacts.sql", "phone", "E0604", "Filter out the nulls"),
        ("contacts.sql", "phone", "E0604", "Declare `phone` nullable"),
    ];
    let mut report = String::new();
    for (rel, needle, code, title) in cases {
        let (_tmp, root) = project();
        let mut client = Client::start_in(&root, json!({}));
        let mut texts = BTreeMap::new();
        for file in FILES {
            client.open(file);
            texts.insert(
                (*file).to_owned(),
                std::fs::read_to_string(root.join(file)).unwrap(),
            );
        }
        client.settle();
        let before = client.render();
        assert!(before.contains(code), "{before}");
        let offered = actions(&mut client, &texts, rel, needle);
        report.push_str(&format!("=== {rel} at `{needle}` ({code})\n"));
        for action in &offered {
            report.push_str(&format!(
                "offered: {} (kind {:?}, preferred {:?})\n",
                action.title,
                action.kind.as_ref().map(|k| k.as_str()),
                action.is_preferred
            ));
        }
        let action = offered
            .iter()
            .find(|a| a.title.starts_with(title))
            .unwrap_or_else(|| panic!("no `{title}` among {offered:?}"));
        report.push_str(&format!("applied: {}\n", action.title));
        report.push_str(&apply_action(&mut client, &mut texts, action));
        client.settle();
        let after = client.render();
        assert!(!after.contains(code), "{title} left {code}:\n{after}");
        report.push_str(&format!("after: {after}\n"));
        assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
    }
    insta::assert_snapshot!("fixes", report);
}
