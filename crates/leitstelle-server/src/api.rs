//! The HTTP API: event intake, alerts, rules, health, metrics, OpenAPI.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use leitstelle_control::{AlertFilter, Principal, Role, Status};
use leitstelle_parsers::Format;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::pipeline::{Received, RecordFormat, SubmitError, parse_context, parse_record};

/// The router of the whole HTTP API.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/events", post(post_events))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/rules/reload", post(reload_rules))
        .route("/api/v1/rules", get(rules_status))
        .route("/api/v1/search", get(crate::search::search))
        .route("/api/v1/search/fields", get(crate::search::field_stats))
        .route(
            "/api/v1/retrohunt",
            axum::routing::post(crate::search::retrohunt_handler),
        )
        .merge(crate::elastic::router())
        .merge(crate::hec::router())
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// An API error: a status and a message, as `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

impl From<leitstelle_control::ControlError> for ApiError {
    fn from(e: leitstelle_control::ControlError) -> Self {
        tracing::error!(error = %e, "control database");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        tracing::error!(error = %e, "submitting events");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// The token in an `Authorization` header: `Bearer T`, `Splunk T`, `ApiKey T` or
/// `ApiKey base64(id:T)`, or `Basic base64(any-user:T)`.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    let b64 = base64::engine::general_purpose::STANDARD;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "splunk" => Some(rest.to_string()),
        "basic" => {
            let decoded = String::from_utf8(b64.decode(rest).ok()?).ok()?;
            decoded.split_once(':').map(|(_, p)| p.to_string())
        }
        "apikey" => {
            if rest.starts_with(leitstelle_control::TOKEN_PREFIX) {
                return Some(rest.to_string());
            }
            let decoded = String::from_utf8(b64.decode(rest).ok()?).ok()?;
            Some(match decoded.split_once(':') {
                Some((_, key)) => key.to_string(),
                None => decoded,
            })
        }
        _ => None,
    }
}

/// Authenticates the caller and checks it holds one of `roles`.
pub fn authorize(app: &App, headers: &HeaderMap, roles: &[Role]) -> Result<Principal, ApiError> {
    let Some(token) = token_from_headers(headers) else {
        app.metrics.auth_failures.inc();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or malformed Authorization header (Bearer TOKEN)",
        ));
    };
    match app.control.authenticate_token(&token)? {
        None => {
            app.metrics.auth_failures.inc();
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid or revoked token",
            ))
        }
        Some(p) if roles.contains(&p.role) => Ok(p),
        Some(p) => {
            app.metrics.auth_failures.inc();
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("role `{}` may not do this", p.role.as_str()),
            ))
        }
    }
}

/// The request body, gunzipped when `Content-Encoding: gzip`, within the configured limits.
pub fn decoded_body(app: &App, headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            let max = app.config.limits.max_decompressed_bytes;
            let mut out = Vec::new();
            let mut dec = flate2::read::MultiGzDecoder::new(&body[..]).take(max as u64 + 1);
            dec.read_to_end(&mut out).map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}"))
            })?;
            if out.len() > max {
                app.metrics.too_large.inc();
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("decompressed body is larger than the limit of {max} bytes"),
                ));
            }
            Ok(out.into())
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding `{other}` (gzip or none)"),
        )),
    }
}

/// Splits an NDJSON body (or, for JSON, a top-level array) into records.
pub fn split_records(body: &[u8], format: Format) -> Result<Vec<Vec<u8>>, String> {
    let trimmed = body.trim_ascii_start();
    if matches!(format, Format::Json | Format::Auto) && trimmed.first() == Some(&b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_slice(trimmed)
            .map_err(|e| format!("body starts with `[` but is not a JSON array: {e}"))?;
        return Ok(values.iter().map(|v| v.to_string().into_bytes()).collect());
    }
    Ok(body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Parses records on a blocking thread (parsing is CPU work). An error (the parser task
/// failed) means none of the records was taken; the sender must be told, never a silent drop.
pub async fn parse_all(
    app: &Arc<App>,
    format: RecordFormat,
    tenant: &Arc<str>,
    source: &Arc<str>,
    records: Vec<Vec<u8>>,
) -> Result<Vec<Received>, SubmitError> {
    let app2 = Arc::clone(app);
    let (t, s) = (Arc::clone(tenant), Arc::clone(source));
    let max = app.config.limits.max_event_bytes;
    let job = move || {
        let ctx = parse_context();
        records
            .into_iter()
            .map(|r| parse_record(app2.pipeline.profiles(), &ctx, format, &t, &s, r, max))
            .collect::<Vec<_>>()
    };
    tokio::task::spawn_blocking(job).await.map_err(|e| {
        tracing::error!(error = %e, "parser task failed");
        SubmitError::Parser(e.to_string())
    })
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.ready.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    format: Option<String>,
}

async fn post_events(
    State(app): State<Arc<App>>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = std::time::Instant::now();
    let who = authorize(&app, &headers, &[Role::Ingest, Role::Admin])?;
    let format = match q.format.as_deref() {
        None => Format::Json,
        Some(f) => Format::from_name(f).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown format `{f}` (json, syslog, cef, leef, auditd, auto)"),
            )
        })?,
    };
    let body = decoded_body(&app, &headers, body)?;
    let records =
        split_records(&body, format).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let tenant: Arc<str> = who.tenant.as_str().into();
    let source: Arc<str> = "http".into();
    let parsed = parse_all(
        &app,
        RecordFormat::Parser(format),
        &tenant,
        &source,
        records,
    )
    .await?;
    let mut errors = Vec::new();
    let mut rejected = 0usize;
    for (i, r) in parsed.iter().enumerate() {
        if let Err(e) = &r.outcome {
            rejected += 1;
            if errors.len() < 100 {
                errors.push(json!({"index": i, "error": e}));
            }
        }
    }
    let accepted = parsed.len() - rejected;
    let range = app
        .pipeline
        .submit(&tenant, &source, parsed, received)
        .await?;
    let status = if accepted == 0 && rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "accepted": accepted,
            "rejected": rejected,
            "errors": errors,
            "first_seq": range.start,
            "last_seq": range.end.saturating_sub(1),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    status: Option<String>,
    /// Minimum level.
    level: Option<String>,
    rule: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, msg)
}

/// A time for a query parameter: RFC 3339, or nanoseconds since the epoch.
fn parse_time(name: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    leitstelle_parsers::parse_timestamp(s)
        .ok_or_else(|| bad(format!("`{name}`: not an RFC 3339 time: `{s}`")))
}

async fn list_alerts(
    State(app): State<Arc<App>>,
    Query(q): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, &[Role::Admin])?;
    let filter = AlertFilter {
        tenants: who.scope.clone(),
        status: q
            .status
            .as_deref()
            .map(|s| Status::parse(s).ok_or_else(|| bad(format!("unknown status `{s}`"))))
            .transpose()?,
        min_level_rank: q
            .level
            .as_deref()
            .map(|l| {
                leitstelle_sigma::Level::parse(l)
                    .map(|l| l as i64)
                    .ok_or_else(|| bad(format!("unknown level `{l}`")))
            })
            .transpose()?,
        rule_id: q.rule,
        from_ns: q
            .from
            .as_deref()
            .map(|s| parse_time("from", s))
            .transpose()?,
        to_ns: q.to.as_deref().map(|s| parse_time("to", s)).transpose()?,
        limit: q.limit,
        before_id: q.before,
    };
    let page = app.control.alerts(&filter)?;
    Ok(Json(page).into_response())
}

async fn get_alert(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, &[Role::Admin])?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such alert");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let Some((alert, events)) = app.control.alert(&who.scope, id)? else {
        return Err(not_found());
    };
    Ok(Json(json!({"alert": alert, "events": events})).into_response())
}

async fn reload_rules(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, &[Role::Admin])?;
    let app2 = Arc::clone(&app);
    let result = tokio::task::spawn_blocking(move || app2.reload_rules())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(state) => Ok(Json(rules_json(&state)).into_response()),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
    }
}

async fn rules_status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, &[Role::Admin])?;
    Ok(Json(rules_json(&app.rules.load())).into_response())
}

fn rules_json(s: &crate::rules::RuleState) -> serde_json::Value {
    json!({
        "rules": s.rules,
        "correlations_not_evaluated": s.correlations,
        "skipped": s.skipped.iter().map(|(r, n)| json!({"reason": r, "count": n})).collect::<Vec<_>>(),
        "diagnostics": s.diagnostics,
        "loaded_ns": s.loaded_ns,
    })
}
