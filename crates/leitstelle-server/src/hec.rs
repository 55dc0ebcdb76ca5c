//! Splunk HTTP Event Collector-compatible intake.
//!
//! - `POST /services/collector/event` (also `/services/collector` and `…/event/1.0`): one
//!   or more JSON envelopes, concatenated or one per line: `{"time": …, "host": …,
//!   "sourcetype": …, "event": {…} or "text", "fields": {…}}`. The envelope is journaled as
//!   received; an object `event` is parsed as a JSON event (classified by the profiles), a
//!   string `event` with the `auto` parser (syslog, CEF, LEEF, auditd). The envelope's `time`
//!   is the event's time when the event itself has none.
//! - `POST /services/collector/raw`: text, one event per line, `auto` parser.
//! - `GET /services/collector/health`.
//!
//! `Authorization: Splunk TOKEN` (or Bearer / Basic). Responses and codes as HEC's:
//! `{"text":"Success","code":0}`; 401 code 2 token required, 401 code 3 invalid
//! authorization, 403 code 4 invalid token, 400 code 5 no data, 400 code 6 invalid data
//! format (with `invalid-event-number`), 400 code 12 event field is required, 400 code 13
//! event field cannot be blank, 503 code 9 server busy, 413 for bodies over the limit.
//! Like HEC, a request with an invalid event is refused from that event on; events before
//! it are accepted (and the response says which event was invalid).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leitstelle_control::Perm;
use leitstelle_parsers::Format;
use serde_json::{Value, json};

use crate::App;
use crate::api::{authorize, decoded_body, parse_all, split_records};
use crate::pipeline::RecordFormat;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/services/collector", post(event))
        .route("/services/collector/event", post(event))
        .route("/services/collector/event/1.0", post(event))
        .route("/services/collector/raw", post(raw))
        .route("/services/collector/raw/1.0", post(raw))
        .route("/services/collector/health", get(health))
        .route("/services/collector/health/1.0", get(health))
}

fn reply(status: StatusCode, code: u32, text: &str) -> Response {
    (status, Json(json!({"text": text, "code": code}))).into_response()
}

fn reply_invalid(status: StatusCode, code: u32, text: &str, n: usize) -> Response {
    (
        status,
        Json(json!({"text": text, "code": code, "invalid-event-number": n})),
    )
        .into_response()
}

async fn health() -> Response {
    reply(StatusCode::OK, 17, "HEC is healthy")
}

/// A HEC answer: status, code, text.
type HecReply = (StatusCode, u32, &'static str);

/// Authenticates like HEC: its codes, not the API's.
async fn hec_auth(
    app: &Arc<App>,
    headers: &HeaderMap,
) -> Result<leitstelle_control::Principal, HecReply> {
    if headers.get(axum::http::header::AUTHORIZATION).is_none() {
        app.metrics.auth_failures.inc();
        return Err((StatusCode::UNAUTHORIZED, 2, "Token is required"));
    }
    if crate::api::token_from_headers(headers).is_none() {
        app.metrics.auth_failures.inc();
        return Err((StatusCode::UNAUTHORIZED, 3, "Invalid authorization"));
    }
    let who = authorize(app, headers, Perm::Ingest)
        .await
        .map_err(|e| match e.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                (StatusCode::FORBIDDEN, 4, "Invalid token")
            }
            _ => (StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy"),
        })?;
    if who.can(Perm::Ingest, &who.tenant) {
        Ok(who)
    } else {
        Err((StatusCode::FORBIDDEN, 4, "Invalid token"))
    }
}

/// The first invalid envelope of a request: HEC code, text, and its index.
pub type Invalid = (u32, &'static str, usize);

/// Splits an event-endpoint body into envelopes. Returns the envelopes before the first
/// invalid one, and the problem if there was one.
pub fn split_envelopes(body: &[u8]) -> (Vec<Vec<u8>>, Option<Invalid>) {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => return (out, None),
            Some(Err(_)) => return (out.clone(), Some((6, "Invalid data format", out.len()))),
            Some(Ok(v)) => {
                let end = stream.byte_offset();
                let problem = match v.get("event") {
                    None => Some((12, "Event field is required")),
                    Some(Value::Null) => Some((13, "Event field cannot be blank")),
                    Some(Value::String(s)) if s.is_empty() => {
                        Some((13, "Event field cannot be blank"))
                    }
                    Some(_) if !v.is_object() => Some((6, "Invalid data format")),
                    Some(_) => None,
                };
                if let Some((code, text)) = problem {
                    return (out.clone(), Some((code, text, out.len())));
                }
                out.push(body[start..end].trim_ascii().to_vec());
            }
        }
    }
}

/// A HEC error answer: status, code, text.
struct Fail(StatusCode, u32, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        reply(self.0, self.1, &self.2)
    }
}

/// Authenticates (HEC's codes) and decodes the body: the caller's tenant and the body.
async fn accept(
    app: &Arc<App>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Arc<str>, Bytes), Fail> {
    let who = hec_auth(app, headers)
        .await
        .map_err(|(status, code, text)| Fail(status, code, text.into()))?;
    let body = decoded_body(app, headers, body).map_err(|e| Fail(e.status, 6, e.message))?;
    Ok((who.tenant.as_str().into(), body))
}

/// Parses and journals records of a tenant; `Err` is the HEC answer to give.
async fn journal(
    app: &Arc<App>,
    tenant: &Arc<str>,
    format: RecordFormat,
    records: Vec<Vec<u8>>,
    received: std::time::Instant,
) -> Result<(), Fail> {
    let source: Arc<str> = "hec".into();
    let busy = || Fail(StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy".into());
    // HEC's answer to back pressure is 503 "Server is busy" (code 9), which its clients retry.
    let admission = app
        .pipeline
        .admit(tenant, records.len(), crate::api::http_wait(app))
        .await
        .map_err(|_| busy())?;
    let parsed = parse_all(app, format, tenant, &source, records)
        .await
        .map_err(|_| busy())?;
    app.pipeline
        .submit(admission, tenant, &source, parsed, received)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::error!(error = %e, "HEC submit");
            busy()
        })
}

async fn event(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let received = std::time::Instant::now();
    let (tenant, body) = match accept(&app, &headers, body).await {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    if body.trim_ascii().is_empty() {
        return reply(StatusCode::BAD_REQUEST, 5, "No data");
    }
    let (envelopes, problem) = split_envelopes(&body);
    if let Err(f) = journal(&app, &tenant, RecordFormat::HecEvent, envelopes, received).await {
        return f.into_response();
    }
    match problem {
        None => reply(StatusCode::OK, 0, "Success"),
        Some((code, text, n)) => reply_invalid(StatusCode::BAD_REQUEST, code, text, n),
    }
}

async fn raw(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let received = std::time::Instant::now();
    let (tenant, body) = match accept(&app, &headers, body).await {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    let records = match split_records(&body, Format::Auto) {
        Ok(r) if r.is_empty() => return reply(StatusCode::BAD_REQUEST, 5, "No data"),
        Ok(r) => r,
        Err(_) => return reply(StatusCode::BAD_REQUEST, 6, "Invalid data format"),
    };
    let format = RecordFormat::Parser(Format::Auto);
    match journal(&app, &tenant, format, records, received).await {
        Ok(()) => reply(StatusCode::OK, 0, "Success"),
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_split_until_the_first_bad_one() {
        let (e, p) = split_envelopes(
            br#"{"event": {"a": 1}, "time": 1}{"event": "line"}
{"event": "x", "host": "h"}"#,
        );
        assert_eq!(e.len(), 3);
        assert_eq!(e[1], br#"{"event": "line"}"#);
        assert_eq!(p, None);
        let (e, p) = split_envelopes(br#"{"event": 1}{"time": 2}{"event": 3}"#);
        assert_eq!(e.len(), 1);
        assert_eq!(p, Some((12, "Event field is required", 1)));
        let (e, p) = split_envelopes(br#"{"event": ""}"#);
        assert!(e.is_empty());
        assert_eq!(p, Some((13, "Event field cannot be blank", 0)));
        let (e, p) = split_envelopes(br#"{"event": 1} {oops"#);
        assert_eq!(e.len(), 1);
        assert_eq!(p, Some((6, "Invalid data format", 1)));
    }
}
