//! The Iceberg REST catalog (read side of the Apache Iceberg REST catalog spec)
//! over an [`IcebergCatalog`], as an axum router.
//!
//! The ref is part of the catalog URI: `/iceberg/v1/...` serves `main` and
//! `/iceberg/<REF>/v1/...` serves any ref of the lake's ref syntax (`dev`,
//! `v1`, `@3fa2c1`, `main~2`, `run/<id>`: a branch name may hold `/`). Clients
//! append the spec's `v1/...` paths to the URI they are given, so an outer
//! layer ([`router`]) takes the ref off the path before axum routes it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use iceberg::{NamespaceIdent, TableIdent};
use iceberg_catalog_rest::{
    ErrorModel, ListNamespaceResponse, ListTablesResponse, LoadTableResult, NamespaceResponse,
};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use sluice_lake::LakeError;

use crate::catalog::IcebergCatalog;
use crate::error::IcebergError;

/// The path every catalog URI starts with.
pub const BASE: &str = "/iceberg";

/// What the server adds to every loaded table's `config` (for an S3 lake: the
/// endpoint and region clients need; never credentials).
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub table_config: HashMap<String, String>,
}

struct Shared {
    catalog: IcebergCatalog,
    options: ServeOptions,
}

type AppState = Arc<Shared>;

/// The ref a request is for, taken off its path.
#[derive(Clone, Debug)]
struct Ref(String);

/// The REST catalog as a service: the ref is taken off the path, then the spec's
/// routes answer.
pub fn router(
    catalog: IcebergCatalog,
    options: ServeOptions,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    use tower::ServiceExt;
    let state = Arc::new(Shared { catalog, options });
    let routes = Router::new()
        .route("/v1/config", get(config))
        .route("/v1/namespaces", get(list_namespaces).post(read_only))
        .route(
            "/v1/namespaces/{ns}",
            get(load_namespace)
                .head(namespace_exists)
                .delete(read_only)
                .post(read_only),
        )
        .route("/v1/namespaces/{ns}/properties", post(read_only))
        .route(
            "/v1/namespaces/{ns}/tables",
            get(list_tables).post(read_only),
        )
        .route(
            "/v1/namespaces/{ns}/tables/{table}",
            get(load_table)
                .head(table_exists)
                .post(read_only)
                .delete(read_only),
        )
        .route("/v1/namespaces/{ns}/register", post(read_only))
        .route("/v1/tables/rename", post(read_only))
        .route("/v1/transactions/commit", post(read_only))
        .fallback(unknown_route)
        .with_state(state);
    routes.map_request(take_ref)
}

/// Moves the ref from the path into the request's extensions:
/// `/iceberg/dev/v1/config` becomes `/v1/config` for `dev`. The ref ends at the
/// first `v1` segment after which a spec route follows (a namespace or a branch
/// may itself be called `v1`). Any other path is left to fail as unknown.
fn take_ref(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix(BASE).and_then(|r| r.strip_prefix('/')) else {
        return req;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let split = (0..segments.len()).find(|&i| {
        segments[i] == "v1"
            && matches!(
                segments.get(i + 1),
                Some(&("config" | "namespaces" | "tables" | "transactions" | "oauth" | "views"))
            )
    });
    let Some(i) = split else { return req };
    let reference = if i == 0 {
        "main".to_string()
    } else {
        segments[..i]
            .iter()
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut new_path = format!("/{}", segments[i..].join("/"));
    if let Some(q) = req.uri().query() {
        new_path = format!("{new_path}?{q}");
    }
    if let Ok(uri) = new_path.parse::<Uri>() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(Ref(reference));
    }
    req
}

/// An error response in the spec's form (`{"error": {"message", "type", "code"}}`).
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let model = ErrorModel {
            message: self.message,
            r#type: self.kind.to_string(),
            code: self.status.as_u16(),
            stack: None,
        };
        (self.status, Json(serde_json::json!({ "error": model }))).into_response()
    }
}

impl From<IcebergError> for ApiError {
    fn from(e: IcebergError) -> ApiError {
        let (status, kind) = match &e {
            IcebergError::NoSuchNamespace { .. } => {
                (StatusCode::NOT_FOUND, "NoSuchNamespaceException")
            }
            IcebergError::NoSuchTable { .. } => (StatusCode::NOT_FOUND, "NoSuchTableException"),
            IcebergError::Lake(
                LakeError::RefNotFound(_)
                | LakeError::BranchNotFound(_)
                | LakeError::TagNotFound(_)
                | LakeError::CommitNotFound(_),
            ) => (StatusCode::NOT_FOUND, "NoSuchReferenceException"),
            IcebergError::Lake(LakeError::TableNotFound { .. }) => {
                (StatusCode::NOT_FOUND, "NoSuchTableException")
            }
            IcebergError::Lake(
                LakeError::InvalidRef { .. }
                | LakeError::AmbiguousCommit { .. }
                | LakeError::InvalidName { .. },
            ) => (StatusCode::BAD_REQUEST, "BadRequestException"),
            IcebergError::UnsupportedColumn { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "UnsupportedOperationException",
            ),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        };
        ApiError {
            status,
            kind,
            message: e.to_string(),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The request's ref, or an error for a path that had none (not under `/iceberg`).
fn reference(r: Option<axum::Extension<Ref>>) -> ApiResult<String> {
    r.map(|axum::Extension(Ref(r))| r).ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "NotFoundException",
        message: format!("the catalog is at `{BASE}` (or `{BASE}/REF` for a ref other than main)"),
    })
}

/// A namespace path segment: its levels, separated by the unit separator (0x1F)
/// as the spec says.
fn namespace(segment: &str) -> Vec<String> {
    segment.split('\u{1f}').map(str::to_string).collect()
}

/// The catalog's configuration; a client asks for it first, so an unknown ref is
/// reported here, before any table is looked up.
async fn config(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
) -> ApiResult<Response> {
    let reference = reference(r)?;
    state.catalog.namespaces(&reference).await?;
    let endpoints = [
        "GET /v1/{prefix}/namespaces",
        "GET /v1/{prefix}/namespaces/{namespace}",
        "HEAD /v1/{prefix}/namespaces/{namespace}",
        "GET /v1/{prefix}/namespaces/{namespace}/tables",
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    ];
    Ok(Json(serde_json::json!({
        "defaults": {},
        "overrides": {},
        "endpoints": endpoints,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct ParentQuery {
    parent: Option<String>,
}

async fn list_namespaces(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Query(q): Query<ParentQuery>,
) -> ApiResult<Json<ListNamespaceResponse>> {
    let reference = reference(r)?;
    // Namespaces have one level: under a parent that exists there are none.
    if let Some(parent) = q.parent.filter(|p| !p.is_empty()) {
        state
            .catalog
            .namespace(&reference, &namespace(&parent))
            .await?;
        return Ok(Json(ListNamespaceResponse {
            namespaces: Vec::new(),
            next_page_token: None,
        }));
    }
    let namespaces = state
        .catalog
        .namespaces(&reference)
        .await?
        .into_iter()
        .map(NamespaceIdent::new)
        .collect();
    Ok(Json(ListNamespaceResponse {
        namespaces,
        next_page_token: None,
    }))
}

async fn load_namespace(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Path(ns): Path<String>,
) -> ApiResult<Json<NamespaceResponse>> {
    let reference = reference(r)?;
    let levels = namespace(&ns);
    state.catalog.namespace(&reference, &levels).await?;
    Ok(Json(NamespaceResponse {
        namespace: ident(levels)?,
        properties: HashMap::new(),
    }))
}

async fn namespace_exists(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Path(ns): Path<String>,
) -> ApiResult<StatusCode> {
    let reference = reference(r)?;
    state.catalog.namespace(&reference, &namespace(&ns)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tables(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Path(ns): Path<String>,
) -> ApiResult<Json<ListTablesResponse>> {
    let reference = reference(r)?;
    let levels = namespace(&ns);
    let tables = state.catalog.tables(&reference, &levels).await?;
    let ns = ident(levels)?;
    Ok(Json(ListTablesResponse {
        identifiers: tables
            .into_iter()
            .map(|t| TableIdent::new(ns.clone(), t))
            .collect(),
        next_page_token: None,
    }))
}

async fn load_table(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Path((ns, table)): Path<(String, String)>,
) -> ApiResult<Json<LoadTableResult>> {
    let reference = reference(r)?;
    let loaded = state
        .catalog
        .load(&reference, &namespace(&ns), &table)
        .await?;
    Ok(Json(LoadTableResult {
        metadata_location: Some(loaded.metadata_location.clone()),
        metadata: loaded.metadata.clone(),
        config: state.options.table_config.clone(),
        storage_credentials: None,
    }))
}

async fn table_exists(
    State(state): State<AppState>,
    r: Option<axum::Extension<Ref>>,
    Path((ns, table)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let reference = reference(r)?;
    state
        .catalog
        .exists(&reference, &namespace(&ns), &table)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every write: refused, saying how sluice writes.
async fn read_only(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_ACCEPTABLE,
        kind: "UnsupportedOperationException",
        message: format!(
            "the sluice Iceberg catalog is read-only ({}): write with `sluice import`, \
             `sluice run` or `sluice merge`, and read the result here",
            uri.path()
        ),
    }
}

async fn unknown_route(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "NotFoundException",
        message: format!(
            "no such endpoint `{}`: the catalog is at `{BASE}` (main) or `{BASE}/REF`",
            uri.path()
        ),
    }
}

fn ident(levels: Vec<String>) -> ApiResult<NamespaceIdent> {
    NamespaceIdent::from_vec(levels).map_err(|e| IcebergError::Spec(e).into())
}
