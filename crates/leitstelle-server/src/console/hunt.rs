//! The console's hunt page: `/hunt` (search, histogram, results, field sidebar, saved
//! hunts), the forms that save and delete hunts, and the retro-hunt form.
//!
//! The tenants searched are always the viewer's `search` scope, narrowed by the layout's
//! tenant switcher (never widened: `viewer` drops a tenant outside the scope, and
//! `tenants_of` keeps only tenants where the permission holds). The search runs through the
//! same functions as `/api/v1/search`.
//!
//! Cost of one page load: the page of hits (`count` + the newest [`h::PAGE_SIZE`]
//! documents), and the histogram as one `timechart … count` pass over the matching events'
//! time column, run side by side on the blocking pool; the field sidebar is computed from
//! the hits shown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leitstelle_console::hunt::{
    self as h, HuntHit, HuntOutcome, HuntPage, HuntQuery, HuntTable, RetroRow, RetroView, TimeRange,
};
use leitstelle_console::{self as ui, Viewer};
use leitstelle_control::hunts::NewHunt;
use leitstelle_control::{ControlError, Perm, Principal};
use leitstelle_sigma::Engine;
use leitstelle_store::{SearchRequest, StoreError};

use super::{fail, failed, form, page, tenants_of, viewer};
use crate::App;
use crate::api::control;
use crate::pipeline::now_ns;
use crate::search::{self, RequestError};

/// Retro-hunt matches the page shows at most.
const RETRO_MATCHES: usize = 200;
/// Events a retro-hunt from the page reads at most (each is loaded and matched).
const RETRO_SCAN: u64 = 100_000;
/// Bars the histogram aims for.
const BARS: i64 = 60;
const NS: i64 = 1_000_000_000;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/hunt", get(hunt))
        .route("/hunt/saved", post(save))
        .route("/hunt/saved/{id}/delete", post(delete))
        .route("/hunt/retro", post(retro))
}

#[derive(serde::Deserialize, Default)]
struct HuntParams {
    q: Option<String>,
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    tenant: Option<String>,
    /// Text, so a bad value means the first page rather than a bare 400.
    offset: Option<String>,
}

/// The hunt a set of parameters describes (form fields or the URL).
fn hunt_query(get: &dyn Fn(&str) -> Option<String>, v: &Viewer) -> HuntQuery {
    HuntQuery {
        q: get("q").unwrap_or_default(),
        range: TimeRange::from_params(
            get("range").as_deref(),
            get("from").as_deref(),
            get("to").as_deref(),
        ),
        tenant: v.tenant.clone(),
        offset: get("offset")
            .and_then(|o| o.trim().parse().ok())
            .unwrap_or(0)
            .min(search::MAX_OFFSET),
    }
}

async fn hunt(
    State(app): State<Arc<App>>,
    Query(p): Query<HuntParams>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, p.tenant.as_deref(), "/hunt").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::Search) {
        return page(
            StatusCode::FORBIDDEN,
            ui::error_page(Some(&v), 403, "Your roles do not allow searching events."),
        );
    }
    let map: HashMap<&str, Option<String>> = HashMap::from([
        ("q", p.q),
        ("range", p.range),
        ("from", p.from),
        ("to", p.to),
        ("offset", p.offset),
    ]);
    let hq = hunt_query(&|k| map.get(k).cloned().flatten(), &v);
    render(&app, &who, &v, hq, None, StatusCode::OK).await
}

/// A request error as the page shows it.
fn outcome_of(e: RequestError) -> HuntOutcome {
    match e {
        RequestError::Query { column, message } => HuntOutcome::Error {
            message,
            column: Some(column),
        },
        RequestError::Param(message) => HuntOutcome::Error {
            message,
            column: None,
        },
    }
}

/// A store error as the page shows it (the detail of an internal one goes to the log).
fn store_message(e: StoreError) -> String {
    match e {
        StoreError::Query(m) => m,
        StoreError::TooLarge(m) => format!("too large: {m}"),
        other => {
            tracing::error!(error = %other, "hunt page search");
            "the event store failed; see the server log".into()
        }
    }
}

/// Runs store work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r.map_err(store_message),
        Err(e) => {
            tracing::error!(error = %e, "hunt page task");
            Err("the search failed; see the server log".into())
        }
    }
}

/// The histogram of a request's filter: buckets sized for its time range; without a lower
/// bound, days first, then finer when the events span less than a few days.
fn histogram(
    store: &dyn leitstelle_store::EventStore,
    req: &SearchRequest,
    now: i64,
) -> Result<Option<h::Histogram>, StoreError> {
    let to = req.to_ns.unwrap_or(now);
    let from = match req.from_ns {
        Some(f) => f,
        None => {
            let days = search::histogram(store, req, 86_400)?;
            let (Some(first), Some(last)) = (days.first(), days.last()) else {
                return Ok(None);
            };
            let to = to.max(last.0 + 86_400 * NS);
            let span = h::bucket_secs((to - first.0) / NS, BARS);
            if span >= 86_400 {
                // Coarser than a day: add the days up.
                return Ok(Some(h::Histogram::fill(first.0, to, span * NS, &days)));
            }
            first.0
        }
    };
    if to <= from {
        return Ok(None);
    }
    let span = h::bucket_secs((to - from) / NS, BARS);
    let counts = search::histogram(store, req, span as u64)?;
    Ok(Some(h::Histogram::fill(from, to, span * NS, &counts)))
}

/// Runs the hunt and renders the page (with a retro-hunt's outcome, after that form).
async fn render(
    app: &Arc<App>,
    who: &Principal,
    v: &Viewer,
    hq: HuntQuery,
    retro: Option<RetroView>,
    status: StatusCode,
) -> Response {
    let tenants = tenants_of(who, v, Perm::Search);
    let started = Instant::now();
    let (from, to) = (hq.range.from_text(), hq.range.to_text());
    let req = search::build_request(
        tenants.clone(),
        &hq.q,
        from.as_deref(),
        to.as_deref(),
        Some(h::PAGE_SIZE),
        Some(hq.offset),
    );
    let saved = {
        let who = who.clone();
        control(app, move |c| {
            c.saved_hunts(&who, &who.scope_for(Perm::Search))
        })
    };
    let (outcome, histogram, saved) = match req {
        Err(e) => (outcome_of(e), None, saved.await),
        Ok(req) => {
            let now = now_ns();
            let (s1, s2) = (Arc::clone(&app.store), Arc::clone(&app.store));
            let r1 = req.clone();
            let results = blocking(move || s1.search(&r1));
            let hist = blocking(move || histogram(s2.as_ref(), &req, now));
            let (results, hist, saved) = tokio::join!(results, hist, saved);
            app.metrics.searches.inc();
            app.metrics
                .search_seconds
                .observe(started.elapsed().as_secs_f64());
            let outcome = match results {
                Err(message) => HuntOutcome::Error {
                    message,
                    column: None,
                },
                Ok(res) => match res.table {
                    Some(t) => HuntOutcome::Table {
                        total: res.total,
                        table: HuntTable {
                            columns: t.columns,
                            rows: t.rows,
                        },
                    },
                    None => HuntOutcome::Events {
                        total: res.total,
                        hits: res
                            .hits
                            .into_iter()
                            .map(|x| HuntHit {
                                tenant: x.tenant,
                                seq: x.seq,
                                time_ns: x.time_ns,
                                document: x.document,
                            })
                            .collect(),
                    },
                },
            };
            let histogram = match (&outcome, hist) {
                (HuntOutcome::Error { .. }, _) => None,
                (_, Ok(h)) => h,
                (_, Err(e)) => {
                    tracing::warn!(error = %e, "hunt histogram");
                    None
                }
            };
            (outcome, histogram, saved)
        }
    };
    let saved = match saved {
        Ok(s) => s,
        Err(e) => {
            return failed(v, &e);
        }
    };
    // A search that cannot run is the request's fault.
    let status = match outcome {
        HuntOutcome::Error { .. } if status == StatusCode::OK => StatusCode::BAD_REQUEST,
        _ => status,
    };
    let p = HuntPage {
        query: hq,
        outcome,
        histogram,
        tenants,
        saved,
        can_retro: who.can_somewhere(Perm::Retrohunt),
        retro,
        took_ms: started.elapsed().as_millis() as u64,
        max_offset: search::MAX_OFFSET,
    };
    page(status, h::hunt_page(v, &p))
}

/// The form's fields as a lookup.
fn field(f: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |k| f.get(k).cloned()
}

async fn save(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (f, _) = form(&body);
    let (who, v) = match viewer(&app, &headers, f.get("tenant").map(String::as_str), "/hunt").await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = field(&f);
    let new = NewHunt {
        name: get("name").unwrap_or_default(),
        query: get("q").unwrap_or_default(),
        from: get("from").unwrap_or_default(),
        to: get("to").unwrap_or_default(),
        tenant: None,
    };
    if let Err(e) = search::check_hunt(&new.query, &new.from, &new.to) {
        return fail(&v, ControlError::Invalid(e.to_string()));
    }
    let back = HuntQuery {
        q: new.query.clone(),
        range: TimeRange::of_bounds(&new.from, &new.to),
        tenant: v.tenant.clone(),
        offset: 0,
    };
    let now = now_ns();
    match control(&app, move |c| c.save_hunt(&who, &new, now)).await {
        Ok(_) => Redirect::to(&back.url()).into_response(),
        Err(e) => failed(&v, &e),
    }
}

async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (f, _) = form(&body);
    let (who, v) = match viewer(&app, &headers, f.get("tenant").map(String::as_str), "/hunt").await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return fail(&v, ControlError::NotFound("saved hunt".into()));
    };
    let now = now_ns();
    match control(&app, move |c| c.delete_hunt(&who, id, now)).await {
        Ok(_) => {
            let to = match &v.tenant {
                Some(t) => format!("/hunt?tenant={}", h::url_encode(t)),
                None => "/hunt".into(),
            };
            Redirect::to(&to).into_response()
        }
        Err(e) => failed(&v, &e),
    }
}

/// A compiled retro-hunt rule set: the engine, how many rules it holds, their diagnostics.
type RetroRules = (Engine, usize, Vec<String>);

/// The engine of the rule a retro-hunt form asks for: the pasted text, else a loaded rule
/// by id. `Err` is the message for the page, with the pasted rule's diagnostics.
fn retro_engine(app: &App, text: &str, rule_id: &str) -> Result<RetroRules, (String, Vec<String>)> {
    if !text.trim().is_empty() {
        let (engine, diagnostics, n) =
            search::compile_rules(&[("pasted rule".into(), text.to_string())], &app.profiles);
        if n == 0 {
            return Err((
                "The pasted text holds no usable Sigma rule.".into(),
                diagnostics,
            ));
        }
        return Ok((engine, n, diagnostics));
    }
    let id = rule_id.trim();
    if id.is_empty() {
        return Err((
            "Paste a Sigma rule or give the id of a loaded rule.".into(),
            Vec::new(),
        ));
    }
    let state = app.rules.load_full();
    let found = state
        .engine
        .rules()
        .iter()
        .find(|r| crate::pipeline::rule_id(r) == id)
        .map(|r| (**r).clone());
    match found {
        Some(rule) => Ok((Engine::compile(vec![rule], &app.profiles), 1, Vec::new())),
        None => Err((format!("No loaded rule has the id `{id}`."), Vec::new())),
    }
}

async fn retro(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (f, _) = form(&body);
    let (who, v) = match viewer(&app, &headers, f.get("tenant").map(String::as_str), "/hunt").await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::Retrohunt) {
        return page(
            StatusCode::FORBIDDEN,
            ui::error_page(Some(&v), 403, "Your roles do not allow retro-hunts."),
        );
    }
    let get = field(&f);
    let mut hq = hunt_query(&get, &v);
    hq.offset = 0;
    let mut view = RetroView {
        rule_text: get("rule").unwrap_or_default(),
        rule_id: get("rule_id").unwrap_or_default(),
        ..RetroView::default()
    };
    let (from, to) = (hq.range.from_text(), hq.range.to_text());
    let req = search::build_request(
        tenants_of(&who, &v, Perm::Retrohunt),
        &hq.q,
        from.as_deref(),
        to.as_deref(),
        None,
        None,
    );
    let engine = match req {
        Err(e) => Err((format!("The search could not run: {e}"), Vec::new())),
        Ok(req) => retro_engine(&app, &view.rule_text, &view.rule_id).map(|x| (x, req)),
    };
    let status = match engine {
        Err((message, diagnostics)) => {
            view.error = Some(message);
            view.diagnostics = diagnostics;
            StatusCode::BAD_REQUEST
        }
        Ok(((engine, rules, diagnostics), req)) => {
            let app2 = Arc::clone(&app);
            let started = Instant::now();
            let res = blocking(move || {
                search::retrohunt_limited(
                    app2.store.as_ref(),
                    &app2.profiles,
                    &engine,
                    &req,
                    RETRO_MATCHES,
                    RETRO_SCAN,
                )
            })
            .await;
            app.metrics.searches.inc();
            app.metrics
                .search_seconds
                .observe(started.elapsed().as_secs_f64());
            view.diagnostics = diagnostics;
            view.rules = rules;
            match res {
                Ok(r) => {
                    view.scanned = r.scanned;
                    view.truncated = r.truncated;
                    view.scan_limited = r.scan_limited;
                    view.matches = r
                        .matches
                        .into_iter()
                        .map(|m| RetroRow {
                            time_ns: m.event.get("time").and_then(|t| t.as_i64()).unwrap_or(0),
                            rule_id: m.rule_id,
                            title: m.title,
                            level: m.level,
                            tenant: m.tenant,
                            document: m.event,
                        })
                        .collect();
                    StatusCode::OK
                }
                Err(message) => {
                    view.error = Some(message);
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }
    };
    render(&app, &who, &v, hq, Some(view), status).await
}
