//! The HTTP API: event intake, alerts, rules, health, metrics, OpenAPI.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use leitstelle_control::{Perm, Principal};
use leitstelle_parsers::Format;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::pipeline::{Received, RecordFormat, SubmitError, Wait, parse_context, parse_record};

/// The router of the whole HTTP API.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/events", post(post_events))
        .route("/api/v1/rules/reload", post(reload_rules))
        .route("/api/v1/rules", get(rules_status))
        .route("/api/v1/search", get(crate::search::search))
        .route("/api/v1/search/fields", get(crate::search::field_stats))
        .route(
            "/api/v1/retrohunt",
            axum::routing::post(crate::search::retrohunt_handler),
        )
        .route(
            "/api/v1/hunts",
            get(crate::search::list_hunts).post(crate::search::create_hunt),
        )
        .route(
            "/api/v1/hunts/{id}",
            axum::routing::delete(crate::search::delete_hunt),
        )
        .merge(crate::desk::router())
        .merge(crate::console::router())
        .merge(crate::elastic::router())
        .merge(crate::hec::router())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            csrf_guard,
        ))
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
        let mut r = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

impl From<leitstelle_control::ControlError> for ApiError {
    fn from(e: leitstelle_control::ControlError) -> Self {
        use leitstelle_control::ControlError as E;
        let status = match &e {
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::NotFound(_) | E::NoTenant(_) | E::NoUser(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) | E::TenantExists(_) | E::UserExists(_) => StatusCode::CONFLICT,
            E::Invalid(_) | E::InvalidName(_) => StatusCode::BAD_REQUEST,
            _ => {
                tracing::error!(error = %e, "control plane");
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        if let SubmitError::Busy(m) = e {
            // Shippers retry on 429 (and drop on the other 4xx).
            return ApiError::new(StatusCode::TOO_MANY_REQUESTS, m);
        }
        tracing::error!(error = %e, "submitting events");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// How long an HTTP intake request may wait for room in the pipeline.
pub fn http_wait(app: &App) -> Wait {
    Wait::UpTo(std::time::Duration::from_millis(
        app.config.limits.admission_wait_ms,
    ))
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

/// The cookie that carries a console session.
pub const SESSION_COOKIE: &str = "leitstelle_session";
/// The header a console request repeats its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The `Set-Cookie` value of a console session (an empty value with age 0 ends it).
pub fn session_cookie(value: &str, max_age_secs: i64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}"
    ))
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The session id in a `Cookie` header, if any.
pub fn session_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.to_string())
        })
}

/// Runs control-plane work on the blocking pool (the control plane is synchronous, and the
/// PostgreSQL client must not run on a runtime worker); its errors become API errors.
pub async fn control<T: Send + 'static>(
    app: &Arc<App>,
    work: impl FnOnce(&leitstelle_control::Control) -> leitstelle_control::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || work(&app.control))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

/// Who is calling: from a token in `Authorization`, else from a console session cookie
/// (whose CSRF token the [`csrf_guard`] layer has checked on state-changing requests).
pub async fn authenticate(app: &Arc<App>, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let unauthorized = |msg: &str| {
        app.metrics.auth_failures.inc();
        ApiError::new(StatusCode::UNAUTHORIZED, msg)
    };
    if headers.contains_key(header::AUTHORIZATION) {
        let Some(token) = token_from_headers(headers) else {
            return Err(unauthorized(
                "missing or malformed Authorization header (Bearer TOKEN)",
            ));
        };
        return control(app, move |c| c.authenticate_token(&token))
            .await?
            .ok_or_else(|| unauthorized("invalid or revoked token"));
    }
    let Some(session) = session_from_headers(headers) else {
        return Err(unauthorized(
            "missing Authorization header (Bearer TOKEN) or session",
        ));
    };
    let now = crate::pipeline::now_ns();
    control(app, move |c| c.authenticate_session(&session, now))
        .await?
        .map(|(p, _)| p)
        .ok_or_else(|| unauthorized("the session has ended; log in again"))
}

/// Authenticates the caller and checks it may do `perm` in at least one tenant (each
/// operation checks the tenant it touches).
pub async fn authorize(
    app: &Arc<App>,
    headers: &HeaderMap,
    perm: Perm,
) -> Result<Principal, ApiError> {
    let who = authenticate(app, headers).await?;
    if who.can_somewhere(perm) {
        Ok(who)
    } else {
        app.metrics.auth_failures.inc();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} may not {perm:?}", who.actor()),
        ))
    }
}

/// Refuses state-changing requests that ride on a session cookie without the session's
/// CSRF token in `X-CSRF-Token` (requests with a token in `Authorization` carry no ambient
/// credential and need none).
pub async fn csrf_guard(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let safe = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let headers = req.headers();
    // Logging in needs no token (there is no session yet; a stale cookie must not block it).
    let login = matches!(req.uri().path(), "/login" | "/api/v1/auth/login");
    if safe || login || headers.contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let Some(session) = session_from_headers(headers) else {
        return next.run(req).await;
    };
    let mut sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // Console forms carry the token as the field `csrf` of a form body.
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let req = if sent.is_empty() && form {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "form body too large")
                .into_response();
        };
        if let Some((_, v)) = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf") {
            sent = v.into_owned();
        }
        axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        req
    };
    let now = crate::pipeline::now_ns();
    let expected = control(&app, move |c| c.authenticate_session(&session, now)).await;
    match expected {
        Ok(Some((_, csrf))) if !sent.is_empty() && constant_time_eq(&csrf, &sent) => {
            next.run(req).await
        }
        Ok(None) => next.run(req).await, // a dead session authenticates nobody anyway
        Ok(Some(_)) => {
            app.metrics.auth_failures.inc();
            ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token (X-CSRF-Token, or the form field csrf)",
            )
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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

/// Parses records on a parser thread (parsing is CPU work; see `ParserThreads`). An error
/// (the parser job failed) means none of the records was taken; the sender must be told,
/// never a silent drop.
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
    app.pipeline.parse(job).await.inspect_err(|e| {
        tracing::error!(error = %e, "parser task failed");
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
    // SLA breaches of open alerts are counted at each scrape, so they are never stale.
    let now = crate::pipeline::now_ns();
    match control(&app, move |c| c.sla_breaches(now)).await {
        Ok(breaches) => {
            let m = &app.metrics;
            m.sla_ack_breaches.clear();
            m.sla_resolve_breaches.clear();
            for (tenant, (ack, resolve)) in breaches {
                let l = crate::metrics::tenant(&tenant);
                m.sla_ack_breaches.get_or_create(&l).set(ack as i64);
                m.sla_resolve_breaches.get_or_create(&l).set(resolve as i64);
            }
        }
        Err(e) => tracing::warn!(error = %e.message, "counting SLA breaches failed"),
    }
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
    let who = authorize(&app, &headers, Perm::Ingest).await?;
    if !who.can(Perm::Ingest, &who.tenant) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this token may not send events",
        ));
    }
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
    let admission = app
        .pipeline
        .admit(&tenant, records.len(), http_wait(&app))
        .await?;
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
        .submit(admission, &tenant, &source, parsed, received)
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

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, msg)
}

/// A time for a query parameter: RFC 3339, or nanoseconds since the epoch.
pub(crate) fn parse_time(name: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    leitstelle_parsers::parse_timestamp(s)
        .ok_or_else(|| bad(format!("`{name}`: not an RFC 3339 time: `{s}`")))
}

async fn reload_rules(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    if !who.can_globally(Perm::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "reloading rules needs the operator's admin",
        ));
    }
    let app2 = Arc::clone(&app);
    let result = tokio::task::spawn_blocking(move || app2.reload_rules())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(state) => {
            let (actor, now, n) = (who.actor(), crate::pipeline::now_ns(), state.rules);
            control(&app, move |c| {
                c.audit(None, now, &actor, "rules.reload", "", &json!({"rules": n}))
            })
            .await?;
            Ok(Json(rules_json(&state)).into_response())
        }
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
    authorize(&app, &headers, Perm::ReadRules).await?;
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
