//! The REST catalog's routes, in process: the ref in the path (with `/`, `~`,
//! `@` and percent-encoding), the spec's responses and error documents, and
//! every write refused.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use sluice_iceberg::{IcebergCatalog, ServeOptions, router};
use sluice_lake::{ImportMode, Lake, LakeConfig};
use tower::ServiceExt;

struct Fixture {
    _dir: tempfile::TempDir,
    lake: Lake,
}

async fn lake() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = LakeConfig::from_uri(dir.path().join("lake").to_str().unwrap(), None).unwrap();
    let lake = Lake::open(&config).await.unwrap();
    let csv = dir.path().join("orders.csv");
    std::fs::write(&csv, "id,amount\n1,9.5\n2,3.25\n").unwrap();
    lake.import_file(&csv, "orders", "main", ImportMode::Create)
        .await
        .unwrap();
    lake.import_file(&csv, "raw.customers", "main", ImportMode::Create)
        .await
        .unwrap();
    lake.create_branch("feature/x", "main").await.unwrap();
    std::fs::write(&csv, "id,amount\n3,1.0\n").unwrap();
    lake.import_file(&csv, "orders", "feature/x", ImportMode::Append)
        .await
        .unwrap();
    Fixture { _dir: dir, lake }
}

/// Sends one request; the status and the JSON body (`Null` when empty).
async fn call(f: &Fixture, method: Method, path: &str) -> (StatusCode, Value) {
    let service = router(IcebergCatalog::new(f.lake.clone()), ServeOptions::default());
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

async fn get(f: &Fixture, path: &str) -> (StatusCode, Value) {
    call(f, Method::GET, path).await
}

/// The record count of the current snapshot of a loaded table.
fn total_records(body: &Value) -> &str {
    let m = &body["metadata"];
    let current = &m["current-snapshot-id"];
    let snap = m["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| &s["snapshot-id"] == current)
        .unwrap();
    snap["summary"]["total-records"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ref_is_part_of_the_catalog_uri() {
    let f = lake().await;
    let (status, body) = get(&f, "/iceberg/v1/namespaces/default/tables/orders").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(total_records(&body), "2");
    // A branch with `/` in its name, as is and percent-encoded.
    for r in ["feature/x", "feature%2Fx"] {
        let (status, body) = get(
            &f,
            &format!("/iceberg/{r}/v1/namespaces/default/tables/orders"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{r}: {body}");
        assert_eq!(total_records(&body), "3", "{r}");
    }
    // Ancestors and commit hashes.
    let (_, body) = get(
        &f,
        "/iceberg/feature/x~1/v1/namespaces/default/tables/orders",
    )
    .await;
    assert_eq!(total_records(&body), "2");
    let head = f.lake.branch_head("feature/x").await.unwrap();
    let path = format!(
        "/iceberg/@{}/v1/namespaces/default/tables/orders",
        head.id.short()
    );
    let (status, body) = get(&f, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(total_records(&body), "3");
    assert!(
        body["metadata-location"]
            .as_str()
            .unwrap()
            .starts_with("file:///")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_tables_are_listed() {
    let f = lake().await;
    let (status, body) = get(&f, "/iceberg/v1/config").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["endpoints"].as_array().unwrap().len() >= 4);
    let (_, body) = get(&f, "/iceberg/v1/namespaces").await;
    assert_eq!(
        body["namespaces"],
        serde_json::json!([["default"], ["raw"]])
    );
    let (_, body) = get(&f, "/iceberg/v1/namespaces?parent=raw").await;
    assert_eq!(body["namespaces"], serde_json::json!([]));
    let (_, body) = get(&f, "/iceberg/v1/namespaces/raw/tables").await;
    assert_eq!(
        body["identifiers"],
        serde_json::json!([{"namespace": ["raw"], "name": "customers"}])
    );
    let (status, body) = get(&f, "/iceberg/v1/namespaces/raw").await;
    assert_eq!(
        (status, &body["namespace"]),
        (StatusCode::OK, &serde_json::json!(["raw"]))
    );
    let (status, _) = call(
        &f,
        Method::HEAD,
        "/iceberg/v1/namespaces/raw/tables/customers",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&f, Method::HEAD, "/iceberg/v1/namespaces/raw/tables/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&f, Method::HEAD, "/iceberg/v1/namespaces/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The spec's error document, naming what was not found.
fn error(body: &Value) -> (&str, &str) {
    (
        body["error"]["type"].as_str().unwrap(),
        body["error"]["message"].as_str().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_refs_namespaces_and_tables_are_the_specs_errors() {
    let f = lake().await;
    let (status, body) = get(&f, "/iceberg/nope/v1/config").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a client learns of a bad ref first: {body}"
    );
    let (status, body) = get(&f, "/iceberg/nope/v1/namespaces").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (kind, message) = error(&body);
    assert_eq!(kind, "NoSuchReferenceException");
    assert!(message.contains("`nope`"), "{message}");
    assert_eq!(body["error"]["code"], 404);
    let (status, body) = get(&f, "/iceberg/main~9/v1/namespaces").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).1.contains("main~9"), "{body}");
    let (status, body) = get(&f, "/iceberg/v1/namespaces/staging/tables").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body).0, "NoSuchNamespaceException");
    assert!(error(&body).1.contains("`staging`"));
    let (status, body) = get(&f, "/iceberg/v1/namespaces/default/tables/ordrs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error(&body).0, "NoSuchTableException");
    assert!(error(&body).1.contains("`default.ordrs`"), "{body}");
    let (status, body) = get(&f, "/elsewhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&body).1.contains("/iceberg"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_refused() {
    let f = lake().await;
    for (method, path) in [
        (Method::POST, "/iceberg/v1/namespaces"),
        (Method::DELETE, "/iceberg/v1/namespaces/raw"),
        (Method::POST, "/iceberg/v1/namespaces/raw/tables"),
        (Method::POST, "/iceberg/v1/namespaces/raw/tables/customers"),
        (
            Method::DELETE,
            "/iceberg/dev/v1/namespaces/raw/tables/customers",
        ),
        (Method::POST, "/iceberg/v1/tables/rename"),
        (Method::POST, "/iceberg/v1/transactions/commit"),
    ] {
        let (status, body) = call(&f, method.clone(), path).await;
        assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{method} {path}");
        assert!(
            error(&body).1.contains("read-only"),
            "{method} {path}: {body}"
        );
    }
    // Nothing was written: the table is as it was.
    let (_, body) = get(&f, "/iceberg/v1/namespaces/raw/tables/customers").await;
    assert_eq!(total_records(&body), "2");
}
