//! The server driven in-process over the protocol, on fixture projects: what it
//! publishes (insta snapshots of what the editor shows) as buffers change unsaved,
//! close, and as files change on disk; projects in multi-root and nested workspaces;
//! positions in UTF-8 and UTF-16; the life cycle.

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use support::{Client, copy_dir, repo, url};

/// (line, UTF-16 column) of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).unwrap();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() as u32;
    (line, text[line_start..at].encode_utf16().count() as u32)
}

fn shop() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&repo().join("examples/shop"), &root);
    (tmp, root)
}

/// Renames `status` in `OrderSchema` (unsaved): `models/orders_enriched.sql` reads
/// `o.status`, and is not open.
fn break_status(client: &mut Client) -> ((u32, u32), (u32, u32)) {
    let text = std::fs::read_to_string(client.path("schemas.py")).unwrap();
    let (line, col) = position_of(&text, "status: str");
    let range = ((line, col), (line, col + "status".len() as u32));
    client.edit("schemas.py", range, "state");
    range
}

#[test]
fn an_unsaved_schema_edit_reaches_the_dependent_sql_file_and_clears() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    assert_eq!(client.render(), "(no diagnostics)\n");
    client.open("schemas.py");
    client.settle();
    assert!(client.take_published().is_empty());

    let ((line, col), _) = break_status(&mut client);
    client.settle();
    assert!(
        client
            .take_published()
            .contains(&"models/orders_enriched.sql".to_owned())
    );
    insta::assert_snapshot!("shop_status_renamed", client.render());
    let disk = std::fs::read_to_string(root.join("schemas.py")).unwrap();
    assert!(disk.contains("status: str"), "the edit was never saved");

    // Fixing the buffer clears the dependent file, with an empty publication.
    client.edit("schemas.py", ((line, col), (line, col + 5)), "status");
    client.settle();
    assert_eq!(client.take_published(), ["models/orders_enriched.sql"]);
    assert_eq!(client.render(), "(no diagnostics)\n");

    // Break it again, then close without saving: the disk text is back.
    break_status(&mut client);
    client.settle();
    assert_ne!(client.render(), "(no diagnostics)\n");
    client.close("schemas.py");
    client.settle();
    assert_eq!(client.render(), "(no diagnostics)\n");
    assert!(client.logs.is_empty(), "{:?}", client.logs);
    assert_eq!(client.shutdown(), sluice_lsp::Ending::Exited);
}

#[test]
fn open_documents_carry_their_version() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    client.open("models/daily_revenue.sql");
    client.edit("models/daily_revenue.sql", ((1, 7), (1, 17)), "order_day");
    client.edit("models/daily_revenue.sql", ((1, 7), (1, 7)), " ");
    client.settle();
    let uri = url(&root.join("models/daily_revenue.sql"));
    let (version, diagnostics) = &client.diagnostics[&uri];
    assert_eq!(*version, Some(3));
    assert!(!diagnostics.is_empty());
    insta::assert_snapshot!("shop_daily_revenue_typed", client.render());
}

#[test]
fn files_deleted_and_created_on_disk_are_read_again() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    let enriched = root.join("models/orders_enriched.sql");
    let saved = std::fs::read_to_string(&enriched).unwrap();
    std::fs::remove_file(&enriched).unwrap();
    client.watched("models/orders_enriched.sql", 3);
    client.settle();
    insta::assert_snapshot!("shop_orders_enriched_deleted", client.render());

    // A checkout brings it back; a file in a hidden folder stays ignored.
    std::fs::write(&enriched, saved).unwrap();
    std::fs::create_dir_all(root.join(".drafts")).unwrap();
    std::fs::write(root.join(".drafts/broken.sql"), "SELEC nope").unwrap();
    client.watched("models/orders_enriched.sql", 1);
    client.watched(".drafts/broken.sql", 1);
    client.settle();
    assert_eq!(client.render(), "(no diagnostics)\n");

    // A whole folder deleted: its files go with it.
    std::fs::remove_dir_all(root.join("models")).unwrap();
    client.watched("models", 3);
    client.settle();
    assert!(
        client.render().contains("`orders_enriched`"),
        "{}",
        client.render()
    );
    assert!(!client.render().contains("models/"), "{}", client.render());
}

#[test]
fn a_new_sluice_toml_makes_a_new_project() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    // `analytics/` becomes a project of its own: its tables lose their inputs.
    std::fs::write(
        root.join("analytics/sluice.toml"),
        "[project]\nname = \"a\"\n",
    )
    .unwrap();
    client.watched("analytics/sluice.toml", 1);
    client.settle();
    insta::assert_snapshot!("shop_analytics_split_off", client.render());
    std::fs::remove_file(root.join("analytics/sluice.toml")).unwrap();
    client.watched("analytics/sluice.toml", 3);
    client.settle();
    assert_eq!(client.render(), "(no diagnostics)\n");
}

#[test]
fn projects_of_a_multi_root_workspace_are_analysed_each_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    copy_dir(&repo().join("lsp/tests/fixtures/multi"), &ws);
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("stray.sql"), "SELECT x FROM nowhere").unwrap();
    let folders = [ws.join("first"), ws.join("second")];
    let mut client = Client::start(&ws, &folders, json!({}));
    insta::assert_snapshot!("multi_root", client.render());

    // A file outside every project: no diagnostics, no error, still serving.
    client.base = tmp.path().to_owned();
    client.open("outside/stray.sql");
    client.edit("outside/stray.sql", ((0, 7), (0, 8)), "y");
    client.close("outside/stray.sql");
    client.settle();
    assert!(
        client
            .take_published()
            .iter()
            .all(|f| !f.starts_with("outside"))
    );
    assert!(client.logs.is_empty(), "{:?}", client.logs);

    // Editing the nested project's file touches only it.
    client.base = ws.clone();
    client.open("first/nested/reads_parent.sql");
    client.edit(
        "first/nested/reads_parent.sql",
        ((1, 21), (1, 27)),
        "(SELECT 1 AS order_id) AS t",
    );
    client.settle();
    assert_eq!(client.take_published(), ["first/nested/reads_parent.sql"]);
    assert!(
        !client.render().contains("first/nested"),
        "{}",
        client.render()
    );
}

fn unicode_client(capabilities: Value) -> (tempfile::TempDir, Client) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("unicode");
    copy_dir(&repo().join("lsp/tests/fixtures/unicode"), &root);
    let client = Client::start_in(&root, capabilities);
    (tmp, client)
}

#[test]
fn positions_are_utf16_unless_the_client_offers_utf8() {
    let text =
        std::fs::read_to_string(repo().join("lsp/tests/fixtures/unicode/labels.sql")).unwrap();
    let line = text.lines().nth(1).unwrap();
    let before = &line[..line.find("amout").unwrap()];

    let (_tmp16, mut utf16) = unicode_client(json!({}));
    assert_eq!(
        utf16.capabilities["capabilities"]["positionEncoding"],
        "utf-16"
    );
    let (_tmp8, utf8) =
        unicode_client(json!({ "general": { "positionEncodings": ["utf-16", "utf-8"] } }));
    assert_eq!(
        utf8.capabilities["capabilities"]["positionEncoding"],
        "utf-8"
    );
    let start = |c: &Client| {
        let (_, diagnostics) = c
            .diagnostics
            .values()
            .next()
            .expect("labels.sql is published");
        diagnostics[0].range.start
    };
    assert_eq!(
        start(&utf16).character as usize,
        before.encode_utf16().count()
    );
    assert_eq!(start(&utf8).character as usize, before.len());
    assert_ne!(before.len(), before.encode_utf16().count());
    insta::assert_snapshot!("unicode_utf16", utf16.render());
    insta::assert_snapshot!("unicode_utf8", utf8.render());
    // The did-you-mean reaches the editor.
    assert!(utf16.render().contains("help: "), "{}", utf16.render());

    // An incremental edit in UTF-16 units: `🚚` (2 units) becomes `é` (1 unit).
    utf16.open("labels.sql");
    let (l, c) = position_of(line, "🚚");
    utf16.edit("labels.sql", ((l + 1, c), (l + 1, c + 2)), "é");
    utf16.settle();
    assert_eq!(
        start(&utf16).character as usize,
        before.encode_utf16().count() - 1
    );
}

#[test]
fn the_life_cycle_and_bad_messages_never_stop_the_server() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    // Unknown requests, bad parameters, ranges far outside the text.
    let unknown = client.request("textDocument/formatting", json!({}));
    assert_eq!(
        unknown.response_result.unwrap_err().code,
        lsp_server::ErrorCode::MethodNotFound as i32
    );
    let bad = client.request("textDocument/hover", json!({}));
    assert_eq!(
        bad.response_result.unwrap_err().code,
        lsp_server::ErrorCode::InvalidParams as i32
    );
    client.notify("textDocument/didOpen", json!({ "textDocument": 5 }));
    client.notify("textDocument/didChange", json!({ "textDocument": { "uri": "file:///nope.sql", "version": 2 }, "contentChanges": [] }));
    client.open("models/daily_revenue.sql");
    client.edit("models/daily_revenue.sql", ((9_000, 3), (2, 99_999)), "");
    client.edit(
        "models/daily_revenue.sql",
        ((u32::MAX, u32::MAX), (u32::MAX, u32::MAX)),
        "\r\n😀",
    );
    client.settle();
    assert_eq!(client.logs.len(), 1, "{:?}", client.logs);
    assert!(
        client.logs[0].contains("textDocument/didOpen"),
        "{:?}",
        client.logs
    );
    insta::assert_snapshot!("shop_daily_revenue_cut", client.render());

    let shutdown = client.request("shutdown", Value::Null);
    assert_eq!(shutdown.response_result.unwrap(), Value::Null);
    let after = client.request("textDocument/hover", json!({}));
    assert_eq!(
        after.response_result.unwrap_err().code,
        lsp_server::ErrorCode::InvalidRequest as i32
    );
    client.notify("exit", Value::Null);
    assert_eq!(client.join(), sluice_lsp::Ending::Exited);
}

#[test]
fn exit_without_shutdown_is_not_clean() {
    let (_tmp, root) = shop();
    let mut client = Client::start_in(&root, json!({}));
    client.notify("exit", Value::Null);
    let ending = client.join();
    assert_eq!(ending, sluice_lsp::Ending::ExitedWithoutShutdown);
    assert!(!ending.is_clean());
}

#[test]
fn requests_before_initialize_are_refused() {
    let (server_conn, conn) = lsp_server::Connection::memory();
    let server = std::thread::spawn(move || sluice_lsp::run(server_conn));
    let id = lsp_server::RequestId::from(1);
    let request = lsp_server::Request::new(id, "shutdown".into(), Value::Null);
    conn.sender.send(request.into()).unwrap();
    match conn.receiver.recv().unwrap() {
        lsp_server::Message::Response(r) => assert_eq!(
            r.response_result.unwrap_err().code,
            lsp_server::ErrorCode::ServerNotInitialized as i32
        ),
        other => panic!("{other:?}"),
    }
    drop(conn);
    assert_eq!(
        server.join().unwrap().unwrap(),
        sluice_lsp::Ending::Disconnected
    );
}

#[test]
fn progress_and_file_watching_when_the_client_supports_them() {
    let (_tmp, root) = shop();
    let capabilities = json!({
        "window": { "workDoneProgress": true },
        "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } },
    });
    let mut client = Client::start_in(&root, capabilities);
    assert!(
        client
            .server_requests
            .contains(&"window/workDoneProgress/create".to_owned())
    );
    assert!(
        client
            .server_requests
            .contains(&"client/registerCapability".to_owned())
    );
    // The begin waits for the client's answer to create; a fast analysis may be done
    // by then, and then nothing is shown. Either way every begin has its end.
    assert!(
        client.progress == ["begin", "end"] || client.progress.is_empty(),
        "{:?}",
        client.progress
    );
    // Without those capabilities the server asks for neither.
    let plain = Client::start_in(&root, json!({}));
    assert!(
        plain.server_requests.is_empty(),
        "{:?}",
        plain.server_requests
    );
    client.settle();
}
