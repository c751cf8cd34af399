//! The navigation requests over a fixture project (`fixtures/navigate`): hover,
//! definition, type definition, references, rename (and its refusals), symbols, the
//! `sluice/lineage` request and the call hierarchy. Each answer is rendered with file
//! names, 0-based UTF-16 positions and the text the ranges cover, and kept as a
//! snapshot; positions are found by searching the fixture's text, so the cases read
//! as "at `o.amount` in enriched.sql".

mod support;

use serde_json::{Value, json};
use support::{Client, copy_dir, repo, url};

/// A client offering only UTF-16 and able to rename files.
fn client() -> (tempfile::TempDir, Client) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("navigate");
    copy_dir(&repo().join("lsp/tests/fixtures/navigate"), &root);
    let caps = json!({ "workspace": { "workspaceEdit": {
        "documentChanges": true, "resourceOperations": ["create", "rename", "delete"]
    } } });
    let client = Client::start_in(&root, caps);
    (tmp, client)
}

fn text(c: &Client, rel: &str) -> String {
    std::fs::read_to_string(c.path(rel)).unwrap()
}

/// The position `delta` bytes into the `nth` match of `needle` in `rel`, in UTF-16.
fn pos(c: &Client, rel: &str, needle: &str, nth: usize, delta: usize) -> Value {
    let text = text(c, rel);
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in {rel}"))
        .0
        + delta;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count();
    let character = text[line_start..at].encode_utf16().count();
    json!({ "line": line, "character": character })
}

fn params(c: &Client, rel: &str, position: Value) -> Value {
    json!({ "textDocument": { "uri": url(&c.path(rel)) }, "position": position })
}

/// The byte offset of an LSP position (UTF-16) in `text`.
fn offset(text: &str, p: &Value) -> usize {
    let line = p["line"].as_u64().unwrap() as usize;
    let character = p["character"].as_u64().unwrap() as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (i, ch) in text[start..].char_indices() {
        if units >= character || ch == '\n' {
            return start + i;
        }
        units += ch.len_utf16();
    }
    text.len()
}

/// `file L:C-L:C «covered text»`.
fn place(c: &Client, uri: &Value, range: &Value) -> String {
    let rel = c.rel(&uri.as_str().unwrap().parse().unwrap());
    let (s, e) = (&range["start"], &range["end"]);
    let covered = std::fs::read_to_string(c.path(&rel))
        .map(|t| t[offset(&t, s)..offset(&t, e)].to_owned())
        .unwrap_or_default();
    format!(
        "{rel} {}:{}-{}:{} «{covered}»",
        s["line"], s["character"], e["line"], e["character"]
    )
}

/// Renders any answer: locations become `place`s, the rest stays JSON.
fn render(c: &Client, v: &Value) -> String {
    match v {
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|i| format!("- {}", render(c, i).replace('\n', "\n  ")))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(o) if o.contains_key("uri") && o.contains_key("range") => {
            place(c, &o["uri"], &o["range"])
        }
        other => serde_json::to_string_pretty(other).unwrap(),
    }
}

struct Session {
    client: Client,
    out: String,
}

impl Session {
    fn ask(&mut self, title: &str, method: &str, params: Value) -> Value {
        let response = self.client.request(method, params);
        let rendered = match &response.response_result {
            Err(e) => format!("error {}: {}", e.code, e.message),
            Ok(Value::Null) => "null".to_owned(),
            Ok(v) => self.render_result(method, v),
        };
        self.out
            .push_str(&format!("## {title}\n{method}\n{rendered}\n\n"));
        response.response_result.unwrap_or(Value::Null)
    }

    fn render_result(&self, method: &str, v: &Value) -> String {
        let c = &self.client;
        match method {
            "textDocument/hover" if !v.is_null() => {
                format!(
                    "range {}:{}-{}:{}\n{}",
                    v["range"]["start"]["line"],
                    v["range"]["start"]["character"],
                    v["range"]["end"]["line"],
                    v["range"]["end"]["character"],
                    v["contents"]["value"].as_str().unwrap()
                )
            }
            "textDocument/rename" if !v.is_null() => render_edit(c, v),
            "textDocument/documentSymbol" | "workspace/symbol" => {
                render_symbols(v, 0).trim_end().to_owned()
            }
            "textDocument/prepareCallHierarchy"
            | "callHierarchy/incomingCalls"
            | "callHierarchy/outgoingCalls" => render_calls(c, v),
            _ => render(c, v),
        }
    }
}

/// A workspace edit: each file's edits with the text they replace.
fn render_edit(c: &Client, v: &Value) -> String {
    let mut lines = Vec::new();
    let edits = |lines: &mut Vec<String>, uri: &Value, list: &Value| {
        for e in list.as_array().unwrap() {
            lines.push(format!(
                "{} -> {}",
                place(c, uri, &e["range"]),
                e["newText"].as_str().unwrap()
            ));
        }
    };
    if let Some(changes) = v["changes"].as_object() {
        for (uri, list) in changes {
            edits(&mut lines, &json!(uri), list);
        }
    }
    for op in v["documentChanges"].as_array().into_iter().flatten() {
        if op["kind"] == "rename" {
            let rel = |k: &str| c.rel(&op[k].as_str().unwrap().parse().unwrap());
            lines.push(format!(
                "rename file {} -> {}",
                rel("oldUri"),
                rel("newUri")
            ));
        } else {
            edits(&mut lines, &op["textDocument"]["uri"], &op["edits"]);
        }
    }
    lines.sort();
    lines.join("\n")
}

fn render_symbols(v: &Value, depth: usize) -> String {
    let mut out = String::new();
    for s in v.as_array().into_iter().flatten() {
        let range = if s["location"].is_object() {
            &s["location"]["range"]
        } else {
            &s["selectionRange"]
        };
        let detail = s["detail"]
            .as_str()
            .or(s["containerName"].as_str())
            .unwrap_or("");
        out.push_str(&format!(
            "{}{} (kind {}) {}:{} {detail}\n",
            "  ".repeat(depth),
            s["name"].as_str().unwrap(),
            s["kind"],
            range["start"]["line"],
            range["start"]["character"],
        ));
        out.push_str(&render_symbols(&s["children"], depth + 1));
    }
    out
}

fn render_calls(c: &Client, v: &Value) -> String {
    let mut out = Vec::new();
    for call in v.as_array().into_iter().flatten() {
        let item = if call["from"].is_object() {
            &call["from"]
        } else if call["to"].is_object() {
            &call["to"]
        } else {
            call
        };
        out.push(format!(
            "{} at {} ({})",
            item["name"].as_str().unwrap(),
            place(c, &item["uri"], &item["selectionRange"]),
            item["detail"].as_str().unwrap_or("-")
        ));
    }
    if out.is_empty() {
        return "[]".to_owned();
    }
    out.join("\n")
}

#[test]
fn navigation_answers() {
    let (_tmp, client) = client();
    let mut s = Session {
        client,
        out: String::new(),
    };
    let p = |s: &Session, rel: &str, needle: &str, nth: usize, delta: usize| {
        params(&s.client, rel, pos(&s.client, rel, needle, nth, delta))
    };

    // Hover.
    let at = p(&s, "enriched.sql", "o.amount", 0, 3);
    let hover = s.ask(
        "a column after non-ASCII text (UTF-16)",
        "textDocument/hover",
        at,
    );
    let line = text(&s.client, "enriched.sql")
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let before = &line[..line.find("o.amount").unwrap() + 2];
    assert_eq!(
        hover["range"]["start"]["character"].as_u64().unwrap() as usize,
        before.encode_utf16().count(),
        "UTF-16 column of `amount`"
    );
    assert_ne!(before.len(), before.encode_utf16().count());
    let at = p(&s, "enriched.sql", "orders o", 0, 2);
    s.ask("a table in FROM", "textDocument/hover", at);
    let at = p(&s, "enriched.sql", "enriched", 0, 1);
    s.ask(
        "a SQL node's header: declared and inferred",
        "textDocument/hover",
        at,
    );
    let at = p(&s, "schemas.py", "class Enriched", 0, 7);
    s.ask(
        "a schema class, inherited columns",
        "textDocument/hover",
        at,
    );
    let at = p(&s, "big_orders.py", "col(\"amount\")", 0, 6);
    s.ask("a Polars col() string", "textDocument/hover", at);
    let at = p(&s, "order_amounts.py", "\"amount\"", 0, 2);
    s.ask(
        "an SDK node's output column: proven and deferred",
        "textDocument/hover",
        at,
    );
    let at = p(&s, "all_orders.sql", "*", 0, 0);
    s.ask("SELECT * expanded", "textDocument/hover", at);
    let at = p(&s, "broken.sql", "customers", 0, 1);
    s.ask(
        "a header input in a file with a syntax error",
        "textDocument/hover",
        at,
    );
    let at = p(&s, "big_orders.py", "return", 0, 2);
    s.ask("a keyword: nothing", "textDocument/hover", at);
    let at = params(
        &s.client,
        "enriched.sql",
        json!({ "line": 99, "character": 7 }),
    );
    s.ask("a position past the end", "textDocument/hover", at);

    // Definition and type definition.
    let at = p(&s, "enriched.sql", "o.amount", 0, 3);
    s.ask(
        "SQL column -> its contract's declaration",
        "textDocument/definition",
        at,
    );
    let at = p(&s, "enriched.sql", "orders o", 0, 1);
    s.ask(
        "SQL table -> the Source assignment",
        "textDocument/definition",
        at,
    );
    let at = p(&s, "big_orders.py", "\"enriched\"", 0, 3);
    s.ask(
        "Table(\"x\") -> the SQL header",
        "textDocument/definition",
        at.clone(),
    );
    s.ask(
        "Table(\"x\") -> its schema class",
        "textDocument/typeDefinition",
        at,
    );
    let at = p(&s, "big_orders.py", "col(\"name\")", 0, 6);
    s.ask(
        "col(\"name\") -> Enriched.name",
        "textDocument/definition",
        at,
    );
    let at = p(&s, "schemas.py", "Orders.amount", 0, 8);
    s.ask(
        "inherited Other.col -> Other's column",
        "textDocument/definition",
        at,
    );
    let at = p(&s, "order_amounts.py", "\"orders\"", 0, 2);
    s.ask(
        "bauplan.Model(\"x\") -> the Source",
        "textDocument/definition",
        at,
    );
    let at = p(&s, "spend.sql", "spent", 0, 1);
    s.ask(
        "an alias no contract declares -> itself",
        "textDocument/definition",
        at,
    );

    // References.
    let at = p(&s, "schemas.py", "amount: float", 0, 1);
    let refs = json!({ "context": { "includeDeclaration": true } });
    let mut with = at.clone();
    with["context"] = refs["context"].clone();
    s.ask(
        "a contract column everywhere it flows",
        "textDocument/references",
        with,
    );
    let mut with = p(&s, "schemas.py", "orders = Source", 0, 1);
    with["context"] = json!({ "includeDeclaration": false });
    s.ask("a table's consumers", "textDocument/references", with);

    // Rename.
    let at = p(&s, "big_orders.py", "col(\"amount\")", 0, 6);
    s.ask(
        "prepare a column rename",
        "textDocument/prepareRename",
        at.clone(),
    );
    let mut rename = at.clone();
    rename["newName"] = json!("total");
    let edit = s.ask(
        "a column across schema file, SQL node, Polars node and SDK lists",
        "textDocument/rename",
        rename,
    );
    assert!(edit["changes"].as_object().unwrap().len() >= 4, "{edit}");
    let mut rename = p(&s, "schemas.py", "name: str", 0, 1);
    rename["newName"] = json!("full_name");
    s.ask(
        "refused: an opaque Python body reads it",
        "textDocument/rename",
        rename,
    );
    let mut rename = p(&s, "enriched.sql", "enriched", 0, 1);
    rename["newName"] = json!("orders_enriched");
    s.ask("a table named in a header", "textDocument/rename", rename);
    let mut rename = p(&s, "all_orders.sql", "orders", 0, 1);
    rename["newName"] = json!("raw_orders");
    s.ask(
        "a Source table named by its variable",
        "textDocument/rename",
        rename,
    );
    let mut rename = p(&s, "spend.sql", "spent", 0, 1);
    rename["newName"] = json!("1st");
    s.ask("refused: not a name", "textDocument/rename", rename);
    let mut rename = p(&s, "schemas.py", "amount: float", 0, 1);
    rename["newName"] = json!("note");
    s.ask(
        "refused: the contract has that name",
        "textDocument/rename",
        rename,
    );
    let at = p(&s, "spend.sql", "GROUP", 0, 1);
    s.ask("prepare on a keyword", "textDocument/prepareRename", at);

    // Symbols.
    let doc = json!({ "textDocument": { "uri": url(&s.client.path("schemas.py")) } });
    s.ask(
        "outline of a schema file",
        "textDocument/documentSymbol",
        doc,
    );
    let doc = json!({ "textDocument": { "uri": url(&s.client.path("enriched.sql")) } });
    s.ask("outline of a SQL node", "textDocument/documentSymbol", doc);
    s.ask(
        "tables and schemas",
        "workspace/symbol",
        json!({ "query": "ord" }),
    );

    // Lineage.
    let at = p(&s, "enriched.sql", "o.amount", 0, 3);
    s.ask("lineage at a column", "sluice/lineage", at.clone());
    let items = s.ask(
        "call hierarchy item",
        "textDocument/prepareCallHierarchy",
        at,
    );
    let item = items[0].clone();
    s.ask(
        "incoming: columns computed from it",
        "callHierarchy/incomingCalls",
        json!({ "item": item }),
    );
    let at = p(&s, "big_orders.py", "col(\"amount\")", 1, 6);
    let items = s.ask(
        "item of a Polars output",
        "textDocument/prepareCallHierarchy",
        at,
    );
    s.ask(
        "outgoing: what it is computed from",
        "callHierarchy/outgoingCalls",
        json!({ "item": items[0].clone() }),
    );
    let at = p(&s, "big_orders.py", "return", 0, 2);
    s.ask("lineage on nothing", "sluice/lineage", at);

    insta::assert_snapshot!("navigate", s.out);
}

#[test]
fn a_headerless_sql_table_is_renamed_with_its_file() {
    let (_tmp, mut client) = client();
    let at = params(&client, "spend.sql", json!({ "line": 0, "character": 0 }));
    // The file's first token is no name of the table: nothing to rename there.
    let r = client.request("textDocument/prepareRename", at);
    assert_eq!(r.response_result.as_ref().ok(), Some(&Value::Null), "{r:?}");
    // From a reference it is a file rename.
    std::fs::write(
        client.path("reads_spend.sql"),
        "SELECT customer_id, spent FROM spend\n",
    )
    .unwrap();
    client.open("reads_spend.sql");
    client.settle();
    let at = params(
        &client,
        "reads_spend.sql",
        json!({ "line": 0, "character": 33 }),
    );
    let mut rename = at;
    rename["newName"] = json!("customer_spend");
    let r = client.request("textDocument/rename", rename);
    let edit = r.response_result.unwrap();
    let rendered = render_edit(&client, &edit);
    assert_eq!(
        rendered,
        "reads_spend.sql 0:31-0:36 «spend» -> customer_spend\nrename file spend.sql -> customer_spend.sql",
    );
}

#[test]
fn an_unsaved_edit_is_navigated_at_once() {
    let (_tmp, mut client) = client();
    // Rename the alias in the buffer only: definitions follow the unsaved text.
    let line = text(&client, "spend.sql")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let start = line.find("spent").unwrap() as u32;
    client.open("spend.sql");
    client.edit("spend.sql", ((0, start), (0, start + 5)), "total_spent");
    client.settle();
    let at = json!({ "line": 0, "character": start + 3 });
    let r = client.request("textDocument/definition", params(&client, "spend.sql", at));
    let result = r.response_result.unwrap();
    assert_eq!(result[0]["range"]["start"]["character"], start, "{result}");
    assert_eq!(
        result[0]["range"]["end"]["character"],
        start + 11,
        "{result}"
    );
}
