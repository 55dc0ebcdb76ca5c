//! Search, field statistics and retro-hunts over the event store: the HTTP handlers and the
//! pieces the CLI and the console's hunt page share with them (request building, the
//! histogram of hits over time, bounded retro-hunts), and the saved hunts API
//! (`/api/v1/hunts`, stored in the control plane).
//!
//! The tenants searched always come from the caller's token ([`scope`]); a `tenants`
//! parameter may only narrow that scope, never widen it.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use leitstelle_control::{Perm, Principal};
use leitstelle_event::{Event, Raw, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch};
use leitstelle_store::{EventStore, NewEvent, SearchRequest, StoreError, format_time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::App;
use crate::api::{ApiError, authorize};
use crate::pipeline::now_ns;

/// Hits per page at most.
pub const MAX_LIMIT: usize = 10_000;
/// Hits a page may skip at most (deeper paging: narrow the time range instead).
pub const MAX_OFFSET: usize = 100_000;
/// Retro-hunt matches returned at most.
pub const MAX_RETRO_MATCHES: usize = 10_000;

/// The tenants a caller may search: its token's tenant, plus the customers of a provider
/// tenant (`leitstelle admin tenant scope add`).
pub fn scope(who: &Principal, perm: Perm) -> Vec<String> {
    who.scope_for(perm)
}

/// Narrows a scope to the comma-separated `tenants` asked for; asking for a tenant outside
/// the scope is refused (403), not silently dropped.
pub fn narrow(scope: Vec<String>, asked: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(asked) = asked.filter(|a| !a.trim().is_empty()) else {
        return Ok(scope);
    };
    let mut out = Vec::new();
    for t in asked.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !scope.iter().any(|s| s == t) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("tenant `{t}` is outside this token's scope"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// A time parameter: RFC 3339, `now`, or relative (`-24h`, `now-15m`).
pub fn time_param(name: &str, text: Option<&str>, now: i64) -> Result<Option<i64>, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => leitstelle_query::parse_time(t, now)
            .map(Some)
            .map_err(|e| format!("`{name}`: {e}")),
    }
}

/// Builds a request from the query text and parameters; errors are for the user.
pub fn build_request(
    tenants: Vec<String>,
    q: &str,
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<usize>,
    offset: Option<usize>,
) -> Result<SearchRequest, RequestError> {
    let now = now_ns();
    if offset.unwrap_or(0) > MAX_OFFSET {
        return Err(RequestError::Param(format!(
            "`offset` may be at most {MAX_OFFSET}; narrow the time range to page further"
        )));
    }
    let query = leitstelle_query::parse(q).map_err(|e| RequestError::Query {
        column: e.column,
        message: e.to_string(),
    })?;
    Ok(SearchRequest {
        tenants,
        from_ns: time_param("from", from, now).map_err(RequestError::Param)?,
        to_ns: time_param("to", to, now).map_err(RequestError::Param)?,
        query,
        limit: limit.unwrap_or(100).clamp(1, MAX_LIMIT),
        offset: offset.unwrap_or(0),
    })
}

/// Why a search request is refused before it runs.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{message}")]
    Query { column: usize, message: String },
    #[error("{0}")]
    Param(String),
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Query(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
        StoreError::TooLarge(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
        other => {
            tracing::error!(error = %other, "search");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("event store: {other}"),
            )
        }
    }
}

/// Runs store work on the blocking pool; store errors become API errors.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(store_error)
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    tenants: Option<String>,
}

/// One hit as the API returns it.
pub fn hit_json(h: &leitstelle_store::Hit) -> Value {
    let mut v = json!({
        "tenant": h.tenant,
        "seq": h.seq,
        "time": format_time(h.time_ns),
        "event": h.document,
    });
    if let Some(f) = &h.fields {
        v["fields"] = json!(f);
    }
    v
}

/// `GET /api/v1/search`.
pub async fn search(
    State(app): State<Arc<App>>,
    Query(p): Query<SearchParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Search).await?;
    let tenants = narrow(scope(&who, Perm::Search), p.tenants.as_deref())?;
    let req = build_request(
        tenants,
        &p.q,
        p.from.as_deref(),
        p.to.as_deref(),
        p.limit,
        p.offset,
    )?;
    let started = Instant::now();
    let store = Arc::clone(&app.store);
    let r2 = req.clone();
    let res = blocking(move || store.search(&r2)).await?;
    let took = started.elapsed();
    app.metrics.searches.inc();
    app.metrics.search_seconds.observe(took.as_secs_f64());
    let shown = req.offset + res.hits.len();
    let next_offset = (res.table.is_none() && (shown as u64) < res.total && !res.hits.is_empty())
        .then_some(shown);
    Ok(Json(json!({
        "total": res.total,
        "hits": res.hits.iter().map(hit_json).collect::<Vec<_>>(),
        "table": res.table,
        "next_offset": next_offset,
        "took_ms": took.as_secs_f64() * 1000.0,
        "tenants": req.tenants,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct FieldParams {
    #[serde(default)]
    q: String,
    field: String,
    from: Option<String>,
    to: Option<String>,
    n: Option<usize>,
    tenants: Option<String>,
}

/// `GET /api/v1/search/fields`: the top values of one field over a query's result set.
pub async fn field_stats(
    State(app): State<Arc<App>>,
    Query(p): Query<FieldParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Search).await?;
    let tenants = narrow(scope(&who, Perm::Search), p.tenants.as_deref())?;
    let req = build_request(
        tenants,
        &p.q,
        p.from.as_deref(),
        p.to.as_deref(),
        None,
        None,
    )?;
    let store = Arc::clone(&app.store);
    let n = p.n.unwrap_or(10).clamp(1, 1000);
    let field = p.field;
    let res = blocking(move || store.field_stats(&req, &field, n)).await?;
    app.metrics.searches.inc();
    Ok(Json(res).into_response())
}

/// A retro-hunt's answer.
#[derive(Debug, Default, Serialize)]
pub struct RetroResult {
    /// Events read from the store.
    pub scanned: u64,
    pub matches: Vec<RetroMatch>,
    /// More matches than were returned.
    pub truncated: bool,
    /// Rules that could not be used, as text.
    pub diagnostics: Vec<String>,
    pub rules: usize,
    /// The scan stopped after its limit of events, before the end of the result set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub scan_limited: bool,
}

/// One rule match of a retro-hunt.
#[derive(Debug, Serialize)]
pub struct RetroMatch {
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub tenant: String,
    pub seq: u64,
    pub time: String,
    pub event: Value,
}

/// Rebuilds the event the engine sees from a stored event (classified again by the
/// profiles, as at intake).
pub fn engine_event(profiles: &ProfileSet, e: &NewEvent) -> Event {
    let kind = SourceKind::from_name(&e.kind).unwrap_or(SourceKind::Json);
    let mut event = Event::new(kind, e.data.clone());
    let (profile, logsource) = profiles.classify(kind, &event.data);
    event.profile = profile;
    event.logsource = logsource;
    event.tenant = e.tenant.as_str().into();
    event.timestamp = Some(e.time_ns);
    if let Some(raw) = &e.raw {
        event.raw = Raw::Text(raw.as_str().into());
    }
    event
}

/// Compiles rules given as YAML texts (name, text).
pub fn compile_rules(
    texts: &[(String, String)],
    profiles: &ProfileSet,
) -> (Engine, Vec<String>, usize) {
    let set = RuleSet::load(
        texts.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        &LoadOptions::default(),
    );
    let diagnostics = set.diagnostics.iter().map(|d| d.to_string()).collect();
    let n = set.rules.len();
    (Engine::compile(set.rules, profiles), diagnostics, n)
}

/// Runs compiled rules over the stored events matching `req` (same engine as live
/// detection). Returns at most `max` matches.
pub fn retrohunt(
    store: &dyn EventStore,
    profiles: &ProfileSet,
    engine: &Engine,
    req: &SearchRequest,
    max: usize,
) -> Result<RetroResult, StoreError> {
    retrohunt_limited(store, profiles, engine, req, max, u64::MAX)
}

/// [`retrohunt`] reading at most `max_scanned` events (the console bounds the work one page
/// load may cause; [`RetroResult::scan_limited`] says when it stopped early).
pub fn retrohunt_limited(
    store: &dyn EventStore,
    profiles: &ProfileSet,
    engine: &Engine,
    req: &SearchRequest,
    max: usize,
    max_scanned: u64,
) -> Result<RetroResult, StoreError> {
    let mut out = RetroResult::default();
    let mut scratch = Scratch::new();
    let mut hits = Vec::new();
    store.scan(req, &mut |e| {
        if out.scanned >= max_scanned {
            out.scan_limited = true;
            return false;
        }
        out.scanned += 1;
        let event = engine_event(profiles, &e);
        hits.clear();
        engine.matches_into(&event, &mut scratch, &mut hits);
        for &i in &hits {
            if out.matches.len() >= max {
                out.truncated = true;
                return false;
            }
            let rule = engine.rule(i);
            out.matches.push(RetroMatch {
                rule_id: crate::pipeline::rule_id(rule),
                title: rule.title.clone(),
                level: rule.level.as_str().to_string(),
                tenant: e.tenant.clone(),
                seq: e.seq,
                time: format_time(e.time_ns),
                event: e.document(),
            });
        }
        true
    })?;
    out.matches
        .sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.seq.cmp(&a.seq)));
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetroBody {
    /// Sigma rules as YAML texts; without them, the server's loaded rule set runs.
    #[serde(default)]
    rules: Vec<String>,
    /// An optional search query narrowing the events scanned.
    #[serde(default)]
    q: String,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    tenants: Option<String>,
}

/// `POST /api/v1/retrohunt`.
pub async fn retrohunt_handler(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Retrohunt).await?;
    let body: RetroBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    let tenants = narrow(scope(&who, Perm::Retrohunt), body.tenants.as_deref())?;
    let req = build_request(
        tenants,
        &body.q,
        body.from.as_deref(),
        body.to.as_deref(),
        None,
        None,
    )?;
    let max = body.limit.unwrap_or(1000).clamp(1, MAX_RETRO_MATCHES);
    let app2 = Arc::clone(&app);
    let started = Instant::now();
    let res = blocking(move || {
        let profiles = &app2.profiles;
        if body.rules.is_empty() {
            let state = app2.rules.load_full();
            let mut r = retrohunt(app2.store.as_ref(), profiles, &state.engine, &req, max)?;
            r.rules = state.rules;
            Ok::<_, StoreError>(r)
        } else {
            let texts: Vec<(String, String)> = body
                .rules
                .into_iter()
                .enumerate()
                .map(|(i, t)| (format!("rule[{i}]"), t))
                .collect();
            let (engine, diagnostics, n) = compile_rules(&texts, profiles);
            let mut r = retrohunt(app2.store.as_ref(), profiles, &engine, &req, max)?;
            r.diagnostics = diagnostics;
            r.rules = n;
            Ok(r)
        }
    })
    .await?;
    app.metrics.searches.inc();
    app.metrics
        .search_seconds
        .observe(started.elapsed().as_secs_f64());
    if res.rules == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "no usable rule{}",
                if res.diagnostics.is_empty() {
                    String::new()
                } else {
                    format!(": {}", res.diagnostics.join("; "))
                }
            ),
        ));
    }
    Ok(Json(res).into_response())
}

/// Events per time bucket of `span_secs` (aligned to multiples of the span since the
/// epoch) for the filter of `req`, oldest first: the query's own stages are replaced by
/// `timechart span=… count`, so the store counts in one pass over the matching events'
/// time column without loading any document.
pub fn histogram(
    store: &dyn EventStore,
    req: &SearchRequest,
    span_secs: u64,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let mut r = req.clone();
    r.query.stages = vec![leitstelle_query::Stage::Timechart {
        span_secs: span_secs.max(1),
        aggs: vec![leitstelle_query::Agg {
            func: leitstelle_query::AggFunc::Count,
            field: None,
            alias: None,
        }],
        by: None,
    }];
    r.offset = 0;
    let res = store.search(&r)?;
    let Some(table) = res.table else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let start = row
            .first()
            .and_then(Value::as_str)
            .and_then(|t| leitstelle_query::parse_time(t, 0).ok());
        let count = row.get(1).and_then(Value::as_u64);
        match (start, count) {
            (Some(s), Some(c)) => out.push((s, c)),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "timechart row not (time, count): {row:?}"
                )));
            }
        }
    }
    Ok(out)
}

/// Checks a saved hunt's query and time bounds before it is stored (the control plane does
/// not know the query language).
pub fn check_hunt(q: &str, from: &str, to: &str) -> Result<(), RequestError> {
    leitstelle_query::parse(q).map_err(|e| RequestError::Query {
        column: e.column,
        message: e.to_string(),
    })?;
    let now = now_ns();
    time_param("from", Some(from), now).map_err(RequestError::Param)?;
    time_param("to", Some(to), now).map_err(RequestError::Param)?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct HuntListParams {
    tenants: Option<String>,
}

/// `GET /api/v1/hunts`: the saved hunts of the tenants the caller may search (narrowed by
/// `tenants`).
pub async fn list_hunts(
    State(app): State<Arc<App>>,
    Query(p): Query<HuntListParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Search).await?;
    let tenants = narrow(scope(&who, Perm::Search), p.tenants.as_deref())?;
    let hunts = crate::api::control(&app, move |c| c.saved_hunts(&who, &tenants)).await?;
    Ok(Json(json!({ "hunts": hunts })).into_response())
}

/// `POST /api/v1/hunts`: saves a hunt (`{"name", "q", "from", "to", "tenant"}`); the same
/// owner saving a name again replaces it.
pub async fn create_hunt(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Search).await?;
    let new: leitstelle_control::hunts::NewHunt = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    check_hunt(&new.query, &new.from, &new.to)?;
    let now = now_ns();
    let saved = crate::api::control(&app, move |c| c.save_hunt(&who, &new, now)).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// `DELETE /api/v1/hunts/{id}`: deletes a saved hunt (its owner only).
pub async fn delete_hunt(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Search).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "no such saved hunt"))?;
    let now = now_ns();
    let gone = crate::api::control(&app, move |c| c.delete_hunt(&who, id, now)).await?;
    Ok(Json(json!({ "deleted": gone.id })).into_response())
}
