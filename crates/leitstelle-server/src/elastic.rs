//! Elasticsearch-compatible intake: the bulk API and the probes that Filebeat, Winlogbeat,
//! Elastic Agent, Logstash, Fluent Bit and Vector make before they send.
//!
//! Every response carries `X-Elastic-Product: Elasticsearch` (the official clients refuse a
//! server without it). Probes (`GET /`, `/_license`, `/_xpack`, templates, ILM policies,
//! ingest pipelines, data streams) are answered so the shipper proceeds: templates and
//! policies "exist", and putting one is acknowledged and ignored (the documents are kept
//! with their source-native fields; nothing is mapped). Bulk needs a token (Basic with the
//! token as password, `ApiKey`, or `Bearer`).
//!
//! Bulk actions `index` and `create` take the next line as the document; `delete` and
//! `update` are answered per item with an error (this is an intake, not a document store).
//! A document that cannot be parsed gets a per-item 400 (`mapper_parsing_exception`) and is
//! kept as a dead letter; the rest of the request goes on.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leitstelle_control::Perm;
use serde_json::{Value, json};

use crate::App;
use crate::api::{ApiError, authorize, decoded_body, parse_all};
use crate::pipeline::RecordFormat;

/// The version this intake presents itself as (8.x: what current shippers expect).
pub const VERSION: &str = "8.15.0";

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(root))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_cluster/health", get(cluster_health))
        .route(
            "/_index_template/{name}",
            get(exists_named).put(acknowledge),
        )
        .route("/_template/{name}", get(exists_named).put(acknowledge))
        .route(
            "/_component_template/{name}",
            get(exists_named).put(acknowledge),
        )
        .route("/_ilm/policy/{name}", get(exists_named).put(acknowledge))
        .route(
            "/_ingest/pipeline/{name}",
            get(exists_named).put(acknowledge),
        )
        .route("/_data_stream/{name}", get(exists_named).put(acknowledge))
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .layer(axum::middleware::map_response(product_header))
}

async fn product_header(mut r: Response) -> Response {
    r.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    r
}

/// `GET /`: a browser (asking for HTML) is sent to the console; Elasticsearch clients and
/// shippers probing the cluster get the version document they check.
async fn root(headers: HeaderMap) -> Response {
    let browser = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser {
        return axum::response::Redirect::to("/alerts").into_response();
    }
    Json(json!({
        "name": "leitstelle",
        "cluster_name": "leitstelle",
        "cluster_uuid": "bGVpdHN0ZWxsZS1pbnRha2U",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "leitstelle",
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": false,
            "lucene_version": "9.11.1",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
    .into_response()
}

fn license_body() -> Value {
    json!({
        "status": "active",
        "uid": "leitstelle",
        "type": "basic",
        "issue_date_in_millis": 0,
        "max_nodes": 1000,
        "issued_to": "leitstelle",
        "issuer": "leitstelle",
        "start_date_in_millis": -1
    })
}

async fn license() -> Json<Value> {
    Json(json!({ "license": license_body() }))
}

async fn xpack() -> Json<Value> {
    Json(json!({
        "build": {"hash": "leitstelle", "date": "2024-08-05T10:05:34.233336849Z"},
        "license": {"uid": "leitstelle", "type": "basic", "mode": "basic", "status": "active"},
        "features": {}
    }))
}

async fn cluster_health() -> Json<Value> {
    Json(json!({
        "cluster_name": "leitstelle",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1
    }))
}

/// Templates, policies and pipelines "exist" (with an empty body of the right shape).
async fn exists_named(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ name: {} }))
}

async fn acknowledge() -> Json<Value> {
    Json(json!({"acknowledged": true}))
}

async fn bulk(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    run_bulk(app, None, headers, body).await
}

async fn bulk_index(
    State(app): State<Arc<App>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    run_bulk(app, Some(index), headers, body).await
}

/// One bulk action line, as understood.
pub enum Action {
    /// `index`/`create` with its document (the line after it).
    Doc {
        op: String,
        index: String,
        id: Option<String>,
        doc: Vec<u8>,
    },
    /// An action answered with an error without a document.
    Refused {
        op: String,
        index: String,
        status: u16,
        kind: &'static str,
        reason: String,
    },
}

/// Splits a bulk body into actions. Never fails as a whole: every problem is an item.
pub fn parse_bulk(body: &[u8], default_index: Option<&str>) -> Vec<Action> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty());
    let mut out = Vec::new();
    let default_index = default_index.unwrap_or("");
    while let Some(line) = lines.next() {
        let refused = |op: &str, index: &str, kind, reason: String| Action::Refused {
            op: op.to_string(),
            index: index.to_string(),
            status: 400,
            kind,
            reason,
        };
        let meta: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                out.push(refused(
                    "index",
                    default_index,
                    "action_request_validation_exception",
                    format!("malformed action line: {e}"),
                ));
                continue;
            }
        };
        let Some((op, params)) = meta
            .as_object()
            .and_then(|o| if o.len() == 1 { o.iter().next() } else { None })
        else {
            out.push(refused(
                "index",
                default_index,
                "action_request_validation_exception",
                "an action line must be an object with one key (index, create, update, delete)"
                    .into(),
            ));
            continue;
        };
        let index = params
            .get("_index")
            .and_then(Value::as_str)
            .unwrap_or(default_index)
            .to_string();
        let id = params.get("_id").and_then(Value::as_str).map(String::from);
        match op.as_str() {
            "index" | "create" => match lines.next() {
                Some(doc) => out.push(Action::Doc {
                    op: op.clone(),
                    index,
                    id,
                    doc: doc.to_vec(),
                }),
                None => out.push(refused(
                    op,
                    &index,
                    "action_request_validation_exception",
                    "the action has no document line".into(),
                )),
            },
            "update" => {
                lines.next();
                out.push(refused(
                    op,
                    &index,
                    "illegal_argument_exception",
                    "update is not supported: this is an event intake".into(),
                ));
            }
            "delete" => out.push(refused(
                op,
                &index,
                "illegal_argument_exception",
                "delete is not supported: this is an event intake".into(),
            )),
            other => out.push(refused(
                other,
                &index,
                "illegal_argument_exception",
                format!("unknown bulk action `{other}`"),
            )),
        }
    }
    out
}

async fn run_bulk(
    app: Arc<App>,
    index: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let received = started;
    let who = authorize(&app, &headers, Perm::Ingest)
        .await
        .map_err(es_error)?;
    if !who.can(Perm::Ingest, &who.tenant) {
        return Err(es_error(ApiError::new(
            StatusCode::FORBIDDEN,
            "this token may not send events",
        )));
    }
    let body = decoded_body(&app, &headers, body).map_err(es_error)?;
    let mut actions = parse_bulk(&body, index.as_deref());
    let tenant: Arc<str> = who.tenant.as_str().into();
    let source: Arc<str> = "elastic".into();
    // The documents go to the parser; the actions keep what the answer needs.
    let docs: Vec<Vec<u8>> = actions
        .iter_mut()
        .filter_map(|a| match a {
            Action::Doc { doc, .. } => Some(std::mem::take(doc)),
            Action::Refused { .. } => None,
        })
        .collect();
    let admission = app
        .pipeline
        .admit(&tenant, docs.len(), crate::api::http_wait(&app))
        .await?;
    let parsed = parse_all(&app, RecordFormat::json(), &tenant, &source, docs).await?;
    let outcomes: Vec<Option<String>> = parsed
        .iter()
        .map(|r| r.outcome.as_ref().err().cloned())
        .collect();
    let range = app
        .pipeline
        .submit(admission, &tenant, &source, parsed, received)
        .await?;
    let mut items = Vec::with_capacity(actions.len());
    let mut errors = false;
    let mut doc_i = 0usize;
    for a in actions {
        match a {
            Action::Doc { op, index, id, .. } => {
                let seq = range.start + doc_i as u64;
                let item = match &outcomes[doc_i] {
                    None => json!({
                        "_index": index,
                        "_id": id.unwrap_or_else(|| format!("ls-{seq}")),
                        "_version": 1,
                        "result": "created",
                        "_shards": {"total": 1, "successful": 1, "failed": 0},
                        "_seq_no": seq,
                        "_primary_term": 1,
                        "status": 201
                    }),
                    Some(reason) => {
                        errors = true;
                        json!({
                            "_index": index,
                            "_id": id,
                            "status": 400,
                            "error": {"type": "mapper_parsing_exception", "reason": reason}
                        })
                    }
                };
                doc_i += 1;
                items.push(json!({ op: item }));
            }
            Action::Refused {
                op,
                index,
                status,
                kind,
                reason,
            } => {
                errors = true;
                items.push(json!({ op: {
                    "_index": index,
                    "status": status,
                    "error": {"type": kind, "reason": reason}
                }}));
            }
        }
    }
    Ok(Json(json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": errors,
        "items": items
    }))
    .into_response())
}

/// Errors in Elasticsearch's shape, so shippers log something meaningful.
fn es_error(e: ApiError) -> ApiError {
    let kind = match e.status {
        StatusCode::UNAUTHORIZED => "security_exception",
        StatusCode::FORBIDDEN => "security_exception",
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        _ => "parse_exception",
    };
    ApiError {
        message: json!({"type": kind, "reason": e.message}).to_string(),
        ..e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_bodies_split_into_items() {
        let body = b"{\"index\":{\"_index\":\"winlogbeat\"}}\n{\"a\":1}\n{\"create\":{}}\r\n{\"b\":2}\n\n{\"delete\":{\"_id\":\"x\"}}\nnot json\n{\"update\":{}}\n{\"doc\":{}}\n{\"index\":{}}";
        let a = parse_bulk(body, Some("logs"));
        assert_eq!(a.len(), 6);
        assert!(
            matches!(&a[0], Action::Doc { op, index, doc, .. } if op == "index" && index == "winlogbeat" && doc == b"{\"a\":1}")
        );
        assert!(
            matches!(&a[1], Action::Doc { op, index, .. } if op == "create" && index == "logs")
        );
        assert!(matches!(&a[2], Action::Refused { op, .. } if op == "delete"));
        assert!(
            matches!(&a[3], Action::Refused { reason, .. } if reason.starts_with("malformed action line"))
        );
        assert!(matches!(&a[4], Action::Refused { op, .. } if op == "update"));
        assert!(
            matches!(&a[5], Action::Refused { reason, .. } if reason.contains("no document line"))
        );
    }
}
