//! The web console's routes: pages rendered by `leitstelle-console` from the same domain
//! layer the API uses (every permission check is the control plane's), forms carrying the
//! session's CSRF token, a server-sent event stream of alert ids for the live queue, and the
//! embedded static files. Every page gets the Content-Security-Policy and the other
//! security headers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leitstelle_console::{self as ui, AlertDetail, QueueFilter, QueueRow, RuleView, Viewer};
use leitstelle_control::{
    AlertFilter, ControlError, Login, Perm, Principal, Status, TriageAction, Verdict, sla_of,
};
use maud::Markup;

use crate::App;
use crate::api::{control, session_cookie, session_from_headers};
use crate::pipeline::now_ns;

mod admin;
mod cases;
mod dashboard;
mod hunt;
mod rules;
mod tenants;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/alerts", get(queue))
        .route("/alerts/bulk", post(bulk))
        .route("/alerts/{id}", get(alert))
        .route("/alerts/{id}/triage", post(triage))
        .route("/console/alerts/stream", get(stream))
        .route("/console/alerts/{id}/row", get(row))
        .route("/static/{file}", get(asset))
        .merge(admin::routes())
        .merge(cases::routes())
        .merge(dashboard::routes())
        .merge(hunt::routes())
        .merge(rules::routes())
        .merge(tenants::routes())
}

/// A redirect that also sets (or, with an empty value, ends) the session cookie.
fn redirect_with_session(to: &str, value: &str, max_age_secs: i64) -> Response {
    match session_cookie(value, max_age_secs) {
        Ok(cookie) => {
            let mut r = Redirect::to(to).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(e) => e.into_response(),
    }
}

/// A rendered page with the console's security headers.
fn page(status: StatusCode, m: Markup) -> Response {
    let mut r = (status, m.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ui::CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The logged-in viewer, or a redirect to the login page.
async fn viewer(
    app: &Arc<App>,
    headers: &HeaderMap,
    tenant: Option<&str>,
    next: &str,
) -> Result<(Principal, Viewer), Response> {
    let to_login = || Redirect::to(&format!("/login?next={}", encode(next))).into_response();
    let Some(session) = session_from_headers(headers) else {
        return Err(to_login());
    };
    let now = now_ns();
    let found = control(app, move |c| c.authenticate_session(&session, now))
        .await
        .map_err(|e| {
            page(
                e.status,
                ui::error_page(None, e.status.as_u16(), &e.message),
            )
        })?;
    let Some((who, csrf)) = found else {
        return Err(to_login());
    };
    let tenant = tenant
        .filter(|t| !t.is_empty() && who.scope.iter().any(|s| s == t))
        .map(String::from);
    let v = Viewer {
        name: who.actor(),
        tenants: who.scope.clone(),
        tenant,
        csrf,
        can_triage: who.can_somewhere(Perm::Triage),
    };
    Ok((who, v))
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The error page for a failed control-plane call.
fn failed(v: &Viewer, e: &crate::api::ApiError) -> Response {
    page(
        e.status,
        ui::error_page(Some(v), e.status.as_u16(), &e.message),
    )
}

fn fail(v: &Viewer, e: ControlError) -> Response {
    failed(v, &e.into())
}

/// Runs a change through the control plane (given the time), then redirects to `to`; or
/// shows why it was refused.
async fn change_then(
    app: &Arc<App>,
    v: &Viewer,
    to: &str,
    work: impl FnOnce(&leitstelle_control::Control, i64) -> leitstelle_control::Result<()>
    + Send
    + 'static,
) -> Response {
    let now = now_ns();
    match control(app, move |c| work(c, now)).await {
        Ok(()) => Redirect::to(to).into_response(),
        Err(e) => failed(v, &e),
    }
}

/// A form body as a map (the last value of a repeated key wins) plus every `ids` value.
fn form(body: &[u8]) -> (HashMap<String, String>, Vec<i64>) {
    let mut map = HashMap::new();
    let mut ids = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if k == "ids" {
            if let Ok(id) = v.parse() {
                ids.push(id);
            }
        } else {
            map.insert(k.into_owned(), v.into_owned());
        }
    }
    (map, ids)
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths of this server are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/alerts".into(),
    }
}

async fn login_form(Query(q): Query<NextQuery>) -> Response {
    page(
        StatusCode::OK,
        ui::login_page(None, &safe_next(q.next.as_deref())),
    )
}

async fn login(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let (f, _) = form(&body);
    let user = f.get("user").cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = safe_next(f.get("next").map(String::as_str));
    if user.len() > 64 || password.len() > 1024 {
        return page(
            StatusCode::BAD_REQUEST,
            ui::login_page(Some("User or password too long."), &next),
        );
    }
    let now = now_ns();
    match control(&app, move |c| c.login(&user, &password, now)).await {
        Ok(Login::Ok(s)) => {
            redirect_with_session(&next, &s.secret, (s.expires_ns - now) / 1_000_000_000)
        }
        Ok(Login::Invalid) => {
            app.metrics.auth_failures.inc();
            page(
                StatusCode::UNAUTHORIZED,
                ui::login_page(Some("Wrong user name or password."), &next),
            )
        }
        Ok(Login::Locked { .. }) => {
            app.metrics.auth_failures.inc();
            page(
                StatusCode::TOO_MANY_REQUESTS,
                ui::login_page(
                    Some("Too many failed logins: try again in 15 minutes."),
                    &next,
                ),
            )
        }
        Err(e) => page(e.status, ui::login_page(Some(&e.message), &next)),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(s) = session_from_headers(&headers) {
        let now = now_ns();
        let _ = control(&app, move |c| c.logout(&s, now)).await;
    }
    redirect_with_session("/login", "", 0)
}

#[derive(serde::Deserialize, Default)]
struct QueueQuery {
    tenant: Option<String>,
    status: Option<String>,
    level: Option<String>,
    rule: Option<String>,
    assignee: Option<String>,
    since: Option<String>,
    open: Option<String>,
    before: Option<i64>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The tenants a view covers: the one picked, or every one in scope where `perm` holds.
fn tenants_of(who: &Principal, v: &Viewer, perm: Perm) -> Vec<String> {
    match &v.tenant {
        Some(t) if who.can(perm, t) => vec![t.clone()],
        Some(_) => Vec::new(),
        None => who.scope_for(perm),
    }
}

async fn queue(
    State(app): State<Arc<App>>,
    Query(q): Query<QueueQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/alerts").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The default view is the open queue; a filter form sent without `open` shows all.
    let filtered = q.status.is_some() || q.level.is_some() || q.rule.is_some() || q.since.is_some();
    let f = QueueFilter {
        status: nonempty(&q.status),
        level: nonempty(&q.level),
        rule: nonempty(&q.rule),
        assignee: nonempty(&q.assignee),
        since: nonempty(&q.since).filter(|s| ui::since_secs(s).is_some()),
        open: q.open.is_some() || !filtered,
    };
    let now = now_ns();
    let filter = AlertFilter {
        tenants: tenants_of(&who, &v, Perm::ReadAlerts),
        status: f.status.as_deref().and_then(Status::parse),
        min_level_rank: f.level.as_deref().and_then(leitstelle_control::level_rank),
        rule_id: f.rule.clone(),
        open_only: f.open,
        assignee: f.assignee.clone(),
        from_ns: f
            .since
            .as_deref()
            .and_then(ui::since_secs)
            .map(|s| now - s * 1_000_000_000),
        limit: Some(200),
        before_id: q.before,
        ..AlertFilter::default()
    };
    let tenants = filter.tenants.clone();
    let res = control(&app, move |c| {
        Ok((c.alerts(&filter)?, c.sla_policies(&tenants)?))
    })
    .await;
    let (page_, slas) = match res {
        Ok(x) => x,
        Err(e) => {
            return failed(&v, &e);
        }
    };
    let mut rows: Vec<QueueRow> = page_
        .alerts
        .into_iter()
        .map(|a| {
            let sla = sla_of(&slas, &a, now);
            QueueRow { alert: a, sla }
        })
        .collect();
    // Most severe first, then newest.
    rows.sort_by(|a, b| {
        leitstelle_control::level_rank(&b.alert.level)
            .cmp(&leitstelle_control::level_rank(&a.alert.level))
            .then(b.alert.id.cmp(&a.alert.id))
    });
    let next = page_.next.map(|n| {
        let mut url = format!("/alerts?before={n}");
        for (k, val) in [
            ("tenant", v.tenant.clone()),
            ("status", f.status.clone()),
            ("level", f.level.clone()),
            ("rule", f.rule.clone()),
            ("assignee", f.assignee.clone()),
            ("since", f.since.clone()),
        ] {
            if let Some(val) = val {
                url.push_str(&format!("&{k}={}", encode(&val)));
            }
        }
        if f.open {
            url.push_str("&open=1");
        }
        url
    });
    page(StatusCode::OK, ui::queue_page(&v, &f, &rows, next, now))
}

async fn alert(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &format!("/alerts/{id}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return page(
            StatusCode::NOT_FOUND,
            ui::error_page(Some(&v), 404, "No such alert."),
        );
    };
    let now = now_ns();
    let rules = app.rules.load_full();
    let profiles = Arc::clone(&app.profiles);
    let who2 = who.clone();
    let res = control(&app, move |c| {
        let scope = who2.scope_for(Perm::ReadAlerts);
        let Some((a, events)) = c.alert(&scope, id)? else {
            return Err(ControlError::NotFound(format!("alert {id}")));
        };
        let desk = c.desk(&who2, &a.tenant).unwrap_or_default();
        let sla = c.alert_sla(&a, now)?;
        let related = c
            .alerts(&AlertFilter {
                tenants: vec![a.tenant.clone()],
                limit: Some(50),
                ..AlertFilter::default()
            })?
            .alerts
            .into_iter()
            .filter(|r| r.id != a.id && r.group_key == a.group_key)
            .take(10)
            .collect();
        // The rule as loaded, with the fields it reads and its YAML.
        let loaded = rules
            .engine
            .rules()
            .iter()
            .find(|r| crate::pipeline::rule_id(r) == a.rule_id)
            .cloned();
        let (rule, fields) = match &loaded {
            Some(r) => {
                let yaml = match r.file.strip_prefix("stored:") {
                    Some(_) => c.stored_rule(&a.rule_id)?.map(|(s, _)| s.yaml),
                    None => std::fs::read_to_string(&r.file).ok(),
                };
                (
                    Some(RuleView {
                        title: r.title.clone(),
                        description: r.description.clone().unwrap_or_default(),
                        level: r.level.as_str().to_string(),
                        tags: r.tags.clone(),
                        author: r.author.clone().unwrap_or_default(),
                        references: r.references.clone(),
                        falsepositives: r.falsepositives.clone(),
                        yaml,
                    }),
                    r.fields_used(),
                )
            }
            None => (None, Vec::new()),
        };
        let used_fields = events
            .iter()
            .map(|e| used_values(&profiles, &e.event, &fields))
            .collect();
        Ok(AlertDetail {
            can_open_case: who2.can(Perm::WriteCases, &a.tenant),
            history: c.alert_history(&who2, id)?,
            comments: c.alert_comments(&who2, id)?,
            sla,
            call: desk.call_list(&a.level),
            escalation_team: desk.escalation_team(),
            rule,
            related,
            used_fields,
            alert: a,
            events,
        })
    })
    .await;
    match res {
        Ok(d) => page(StatusCode::OK, ui::alert_page(&v, &d, now)),
        Err(e) => failed(&v, &e),
    }
}

/// The values of the fields a rule reads, in a kept event document (its `data` tree,
/// resolved by the first profile that knows the field).
fn used_values(
    profiles: &leitstelle_profile::ProfileSet,
    doc: &serde_json::Value,
    fields: &[String],
) -> Vec<(String, String)> {
    let data = &doc["data"];
    let mut out = Vec::new();
    for f in fields {
        let found = profiles
            .iter()
            .find_map(|p| leitstelle_profile::Profile::first_text(&p.resolve(f), data));
        if let Some(val) = found {
            out.push((f.clone(), val));
        }
    }
    out
}

/// A triage action from a form.
fn action_of(f: &HashMap<String, String>, me: &str) -> Result<TriageAction, String> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    Ok(match get("action").as_str() {
        "acknowledge" => TriageAction::Acknowledge,
        "start" => TriageAction::Start,
        "escalate" => TriageAction::Escalate {
            to: Some(get("to")).filter(|t| !t.trim().is_empty()),
            note: get("note"),
        },
        "close" => TriageAction::Close {
            verdict: Verdict::parse(&get("verdict")).ok_or("choose a verdict")?,
            reason: get("reason"),
        },
        "reopen" => TriageAction::Reopen {
            reason: get("reason"),
        },
        "assign" => TriageAction::Assign {
            user: Some(get("user")).filter(|u| !u.trim().is_empty()),
        },
        "assign_me" => TriageAction::Assign {
            user: Some(me.to_string()),
        },
        "severity" => TriageAction::Severity {
            level: get("level"),
        },
        "comment" => TriageAction::Comment { body: get("body") },
        other => return Err(format!("unknown action `{other}`")),
    })
}

async fn triage(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/alerts").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return page(
            StatusCode::NOT_FOUND,
            ui::error_page(Some(&v), 404, "No such alert."),
        );
    };
    let (f, _) = form(&body);
    let action = match action_of(&f, &who.actor()) {
        Ok(a) => a,
        Err(e) => return page(StatusCode::BAD_REQUEST, ui::error_page(Some(&v), 400, &e)),
    };
    let now = now_ns();
    match control(&app, move |c| c.triage(&who, id, &action, now)).await {
        Ok(a) => {
            let _ = app.alert_updates.send(a.id);
            Redirect::to(&format!("/alerts/{id}")).into_response()
        }
        Err(e) => failed(&v, &e),
    }
}

async fn bulk(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/alerts").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, ids) = form(&body);
    let action = match action_of(&f, &who.actor()) {
        Ok(a) => a,
        Err(e) => return page(StatusCode::BAD_REQUEST, ui::error_page(Some(&v), 400, &e)),
    };
    let ids: Vec<i64> = ids.into_iter().take(1000).collect();
    let now = now_ns();
    match control(&app, move |c| c.triage_bulk(&who, &ids, &action, now)).await {
        Ok(results) => {
            for (id, r) in &results {
                if r.is_ok() {
                    let _ = app.alert_updates.send(*id);
                }
            }
            let failed: Vec<String> = results
                .iter()
                .filter_map(|(id, r)| r.as_ref().err().map(|e| format!("alert {id}: {e}")))
                .collect();
            if failed.is_empty() {
                Redirect::to("/alerts").into_response()
            } else {
                page(
                    StatusCode::CONFLICT,
                    ui::error_page(Some(&v), 409, &failed.join("; ")),
                )
            }
        }
        Err(e) => fail(&v, ControlError::Invalid(e.message)),
    }
}

#[derive(serde::Deserialize, Default)]
struct StreamQuery {
    tenant: Option<String>,
}

/// Alert ids as they are raised or change, as server-sent events named `alert`, for the
/// alerts the viewer may read.
async fn stream(
    State(app): State<Arc<App>>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/alerts").await {
        Ok(x) => x,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let scope = Arc::new(tenants_of(&who, &v, Perm::ReadAlerts));
    let rx = app.alert_updates.subscribe();
    let events =
        futures_util::stream::unfold((rx, app, scope), |(mut rx, app, scope)| async move {
            loop {
                let id = match rx.recv().await {
                    Ok(id) => id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                let s = Arc::clone(&scope);
                let visible = control(&app, move |c| Ok(c.alert(&s, id)?.is_some()))
                    .await
                    .unwrap_or(false);
                if visible {
                    let ev = SseEvent::default().event("alert").data(id.to_string());
                    return Some((Ok::<_, std::convert::Infallible>(ev), (rx, app, scope)));
                }
            }
        });
    let mut r = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    secure(r.headers_mut());
    r
}

/// One queue row, rendered, for the live queue.
async fn row(State(app): State<Arc<App>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/alerts").await {
        Ok(x) => x,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let Ok(id) = id.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = now_ns();
    let res = control(&app, move |c| {
        let scope = who.scope_for(Perm::ReadAlerts);
        let Some((a, _)) = c.alert(&scope, id)? else {
            return Ok(None);
        };
        let sla = c.alert_sla(&a, now)?;
        Ok(Some(QueueRow { alert: a, sla }))
    })
    .await;
    match res {
        Ok(Some(r)) => {
            let mut resp = ui::queue_row(&v, &r, now).into_string().into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            secure(resp.headers_mut());
            resp
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    match ui::ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => {
            let mut r = (*body).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
