//! The SOC desk API: login sessions, the alert queue and triage, cases, suppressions, rules
//! under change control, tenants' responsibility matrices and SLAs, triage reports, users,
//! tokens and the audit log. Every handler authenticates, then calls the control plane's
//! domain layer, which checks the permission for the tenant it touches (the console calls
//! the same layer).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leitstelle_control::{
    AlertFilter, CaseUpdate, Desk, Login, NewCase, NewSuppression, Perm, Principal, Proposal, Role,
    SlaPolicy, Status, TriageAction, sla_of,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::api::{
    ApiError, authenticate, authorize, bad, control, parse_time, session_cookie,
    session_from_headers,
};
use crate::pipeline::now_ns;
use crate::search::narrow;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/bulk", post(bulk_triage))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/triage", post(triage))
        .route("/api/v1/cases", get(list_cases).post(create_case))
        .route("/api/v1/cases/{id}", get(get_case).patch(update_case))
        .route("/api/v1/cases/{id}/alerts", post(case_alerts))
        .route("/api/v1/cases/{id}/tasks", post(add_task))
        .route(
            "/api/v1/cases/{id}/tasks/{task}",
            axum::routing::patch(update_task),
        )
        .route("/api/v1/cases/{id}/observables", post(add_observable))
        .route(
            "/api/v1/cases/{id}/observables/{obs}/sightings",
            get(sightings),
        )
        .route("/api/v1/cases/{id}/comments", post(case_comment))
        .route("/api/v1/cases/{id}/evidence", post(add_evidence))
        .route("/api/v1/cases/{id}/evidence/{ev}", get(get_evidence))
        .route("/api/v1/cases/{id}/export", get(export_case))
        .route(
            "/api/v1/suppressions",
            get(list_suppressions).post(create_suppression),
        )
        .route(
            "/api/v1/suppressions/{id}",
            axum::routing::delete(remove_suppression),
        )
        .route("/api/v1/rules/stored", get(stored_rules))
        .route("/api/v1/rules/stored/{id}", get(stored_rule))
        .route("/api/v1/rules/overlays", get(overlays))
        .route("/api/v1/rules/changes", get(list_changes).post(propose))
        .route("/api/v1/rules/changes/{id}", get(get_change))
        .route("/api/v1/rules/changes/{id}/approve", post(approve))
        .route("/api/v1/rules/changes/{id}/reject", post(reject))
        .route("/api/v1/rules/changes/{id}/withdraw", post(withdraw))
        .route("/api/v1/tenants", get(list_tenants))
        .route("/api/v1/tenants/{t}/desk", get(get_desk).put(put_desk))
        .route("/api/v1/tenants/{t}/sla", get(get_sla).put(put_sla))
        .route("/api/v1/reports/triage", get(triage_report))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}/roles", post(set_role))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/audit", get(audit_log))
}

/// A JSON body, with a 400 that says what is wrong.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("body: {e}")))
}

fn id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no such {what}")))
}

fn ok(v: impl serde::Serialize) -> Result<Response, ApiError> {
    Ok(Json(v).into_response())
}

// ---------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

fn principal_json(p: &Principal) -> Value {
    json!({
        "actor": p.actor(),
        "tenant": p.tenant,
        "operator": p.operator,
        "scope": p.scope,
        "roles": p.grants.iter().map(|(t, r)| {
            (t.clone(), r.iter().map(|r| r.as_str()).collect::<Vec<_>>())
        }).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// `POST /api/v1/auth/login`: opens a session (cookie) and returns its CSRF token.
async fn login(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let b: LoginBody = body(&raw)?;
    if b.user.len() > 64 || b.password.len() > 1024 {
        return Err(bad("user or password too long"));
    }
    let now = now_ns();
    match control(&app, move |c| c.login(&b.user, &b.password, now)).await? {
        Login::Ok(s) => {
            let mut resp = Json(json!({
                "csrf": s.csrf,
                "expires_ns": s.expires_ns,
                "principal": principal_json(&s.principal),
            }))
            .into_response();
            let age = (s.expires_ns - now) / 1_000_000_000;
            resp.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&s.secret, age)?);
            Ok(resp)
        }
        Login::Invalid => {
            app.metrics.auth_failures.inc();
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ))
        }
        Login::Locked { until_ns } => {
            app.metrics.auth_failures.inc();
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins: locked until {}",
                    leitstelle_store::format_time(until_ns)
                ),
            ))
        }
    }
}

/// `POST /api/v1/auth/logout`.
async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(s) = session_from_headers(&headers) {
        let now = now_ns();
        control(&app, move |c| c.logout(&s, now)).await?;
    }
    let mut resp = Json(json!({"ok": true})).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0)?);
    Ok(resp)
}

/// `GET /api/v1/auth/me`: who the caller is (and, for a session, its CSRF token).
async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let who = authenticate(&app, &headers).await?;
    let mut v = principal_json(&who);
    if let Some(s) =
        session_from_headers(&headers).filter(|_| !headers.contains_key(header::AUTHORIZATION))
    {
        let now = now_ns();
        if let Some((_, csrf)) = control(&app, move |c| c.authenticate_session(&s, now)).await? {
            v["csrf"] = json!(csrf);
        }
    }
    ok(v)
}

// ---------------------------------------------------------------------------------------
// Alerts

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
    tenants: Option<String>,
    assignee: Option<String>,
    /// `true`: only alerts not closed.
    open: Option<bool>,
}

async fn list_alerts(
    State(app): State<Arc<App>>,
    Query(q): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadAlerts).await?;
    let tenants = narrow(who.scope_for(Perm::ReadAlerts), q.tenants.as_deref())?;
    let filter = AlertFilter {
        tenants: tenants.clone(),
        status: q
            .status
            .as_deref()
            .map(|s| Status::parse(s).ok_or_else(|| bad(format!("unknown status `{s}`"))))
            .transpose()?,
        min_level_rank: q
            .level
            .as_deref()
            .map(|l| {
                leitstelle_control::level_rank(l).ok_or_else(|| bad(format!("unknown level `{l}`")))
            })
            .transpose()?,
        rule_id: q.rule,
        open_only: q.open.unwrap_or(false),
        assignee: q.assignee,
        from_ns: q
            .from
            .as_deref()
            .map(|s| parse_time("from", s))
            .transpose()?,
        to_ns: q.to.as_deref().map(|s| parse_time("to", s)).transpose()?,
        limit: q.limit,
        before_id: q.before,
    };
    let now = now_ns();
    let (page, slas) = control(&app, move |c| {
        Ok((c.alerts(&filter)?, c.sla_policies(&tenants)?))
    })
    .await?;
    let alerts: Vec<Value> = page
        .alerts
        .iter()
        .map(|a| {
            let mut v = json!(a);
            if let Some(s) = sla_of(&slas, a, now) {
                v["sla"] = json!(s);
            }
            v
        })
        .collect();
    ok(json!({"alerts": alerts, "next": page.next}))
}

async fn get_alert(
    State(app): State<Arc<App>>,
    Path(alert): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadAlerts).await?;
    let alert = id(&alert, "alert")?;
    let now = now_ns();
    let v = control(&app, move |c| {
        let scope = who.scope_for(Perm::ReadAlerts);
        let Some((a, events)) = c.alert(&scope, alert)? else {
            return Err(leitstelle_control::ControlError::NotFound(format!(
                "alert {alert}"
            )));
        };
        let desk = c.desk(&who, &a.tenant).unwrap_or_default();
        let sla = c.alert_sla(&a, now)?;
        Ok(json!({
            "alert": a,
            "events": events,
            "history": c.alert_history(&who, alert)?,
            "comments": c.alert_comments(&who, alert)?,
            "sla": sla,
            "call": desk.call_list(&a.level),
            "escalation_team": desk.escalation,
        }))
    })
    .await?;
    ok(v)
}

async fn triage(
    State(app): State<Arc<App>>,
    Path(alert): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Triage).await?;
    let alert = id(&alert, "alert")?;
    let action: TriageAction = body(&raw)?;
    let now = now_ns();
    let a = control(&app, move |c| c.triage(&who, alert, &action, now)).await?;
    let _ = app.alert_updates.send(a.id);
    ok(a)
}

#[derive(Deserialize)]
struct BulkBody {
    ids: Vec<i64>,
    #[serde(flatten)]
    action: TriageAction,
}

async fn bulk_triage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Triage).await?;
    let b: BulkBody = body(&raw)?;
    if b.ids.len() > 1000 {
        return Err(bad("at most 1000 alerts at once"));
    }
    let now = now_ns();
    let out = control(&app, move |c| c.triage_bulk(&who, &b.ids, &b.action, now)).await?;
    let results: Vec<Value> = out
        .into_iter()
        .map(|(id, r)| match r {
            Ok(a) => {
                let _ = app.alert_updates.send(a.id);
                json!({"id": id, "ok": true, "status": a.status})
            }
            Err(e) => json!({"id": id, "ok": false, "error": e.to_string()}),
        })
        .collect();
    ok(json!({"results": results}))
}

// ---------------------------------------------------------------------------------------
// Cases

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesQuery {
    tenants: Option<String>,
    open: Option<bool>,
}

async fn list_cases(
    State(app): State<Arc<App>>,
    Query(q): Query<CasesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadCases).await?;
    let tenants = narrow(who.scope_for(Perm::ReadCases), q.tenants.as_deref())?;
    let open = q.open.unwrap_or(false);
    ok(control(&app, move |c| c.cases(&who, &tenants, open)).await?)
}

async fn create_case(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let mut new: NewCase = body(&raw)?;
    if new.tenant.is_empty() {
        new.tenant = who.tenant.clone();
    }
    let now = now_ns();
    let case = control(&app, move |c| c.create_case(&who, &new, now)).await?;
    Ok((StatusCode::CREATED, Json(case)).into_response())
}

async fn get_case(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadCases).await?;
    let case = id(&case, "case")?;
    let v = control(&app, move |c| {
        Ok(json!({
            "case": c.case(&who, case)?,
            "tasks": c.tasks(&who, case)?,
            "observables": c.observables(&who, case)?,
            "comments": c.case_comments(&who, case)?,
            "timeline": c.case_timeline(&who, case)?,
            "evidence": c.evidence(&who, case)?,
        }))
    })
    .await?;
    ok(v)
}

async fn update_case(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let u: CaseUpdate = body(&raw)?;
    let now = now_ns();
    ok(control(&app, move |c| c.update_case(&who, case, &u, now)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsBody {
    alerts: Vec<i64>,
}

async fn case_alerts(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let b: AlertsBody = body(&raw)?;
    let now = now_ns();
    ok(control(&app, move |c| c.add_case_alerts(&who, case, &b.alerts, now)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskBody {
    title: String,
    #[serde(default)]
    owner: Option<String>,
}

async fn add_task(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let b: TaskBody = body(&raw)?;
    let now = now_ns();
    let t = control(&app, move |c| {
        c.add_task(&who, case, &b.title, b.owner.as_deref(), now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskUpdate {
    #[serde(default)]
    state: Option<String>,
    /// `""` clears the owner.
    #[serde(default)]
    owner: Option<String>,
}

async fn update_task(
    State(app): State<Arc<App>>,
    Path((case, task)): Path<(String, String)>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let (case, task) = (id(&case, "case")?, id(&task, "task")?);
    let b: TaskUpdate = body(&raw)?;
    let now = now_ns();
    ok(control(&app, move |c| {
        let owner = b
            .owner
            .as_deref()
            .map(|o| Some(o.trim()).filter(|o| !o.is_empty()));
        c.update_task(&who, case, task, b.state.as_deref(), owner, now)
    })
    .await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObservableBody {
    kind: String,
    value: String,
    #[serde(default)]
    note: String,
}

async fn add_observable(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let b: ObservableBody = body(&raw)?;
    let now = now_ns();
    let o = control(&app, move |c| {
        c.add_observable(&who, case, &b.kind, &b.value, &b.note, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(o)).into_response())
}

async fn sightings(
    State(app): State<Arc<App>>,
    Path((case, obs)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadCases).await?;
    let (case, obs) = (id(&case, "case")?, id(&obs, "observable")?);
    ok(control(&app, move |c| c.sightings(&who, case, obs)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    body: String,
}

async fn case_comment(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let b: CommentBody = body(&raw)?;
    let now = now_ns();
    let cm = control(&app, move |c| c.add_case_comment(&who, case, &b.body, now)).await?;
    Ok((StatusCode::CREATED, Json(cm)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceQuery {
    name: String,
}

async fn add_evidence(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    Query(q): Query<EvidenceQuery>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::WriteCases).await?;
    let case = id(&case, "case")?;
    let now = now_ns();
    let e = control(&app, move |c| {
        c.add_evidence(&who, case, &q.name, &raw, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

async fn get_evidence(
    State(app): State<Arc<App>>,
    Path((case, ev)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadCases).await?;
    let (case, ev) = (id(&case, "case")?, id(&ev, "evidence")?);
    let now = now_ns();
    let (meta, bytes) = control(&app, move |c| c.evidence_content(&who, case, ev, now)).await?;
    // Served as an attachment of an inert type: evidence is attacker-controlled.
    let name: String = meta
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::HeaderName::from_static("x-content-sha256"),
                meta.sha256,
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn export_case(
    State(app): State<Arc<App>>,
    Path(case): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadCases).await?;
    let case = id(&case, "case")?;
    let now = now_ns();
    ok(control(&app, move |c| c.export_case(&who, case, now)).await?)
}

// ---------------------------------------------------------------------------------------
// Suppressions

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsQuery {
    tenants: Option<String>,
}

async fn list_suppressions(
    State(app): State<Arc<App>>,
    Query(q): Query<TenantsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadAlerts).await?;
    let tenants = narrow(who.scope_for(Perm::ReadAlerts), q.tenants.as_deref())?;
    ok(control(&app, move |c| c.suppressions(&tenants)).await?)
}

async fn create_suppression(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ManageSuppressions).await?;
    let new: NewSuppression = body(&raw)?;
    let now = now_ns();
    let s = control(&app, move |c| c.create_suppression(&who, &new, now)).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

async fn remove_suppression(
    State(app): State<Arc<App>>,
    Path(sup): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ManageSuppressions).await?;
    let sup = id(&sup, "suppression")?;
    let now = now_ns();
    let removed = control(&app, move |c| c.remove_suppression(&who, sup, now)).await?;
    ok(json!({"removed": removed}))
}

// ---------------------------------------------------------------------------------------
// Rules under change control

async fn stored_rules(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Perm::ReadRules).await?;
    ok(control(&app, |c| c.stored_rules()).await?)
}

async fn stored_rule(
    State(app): State<Arc<App>>,
    Path(rule): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Perm::ReadRules).await?;
    match control(&app, move |c| c.stored_rule(&rule)).await? {
        Some((rule, versions)) => ok(json!({"rule": rule, "versions": versions})),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no such stored rule")),
    }
}

async fn overlays(
    State(app): State<Arc<App>>,
    Query(q): Query<TenantsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadRules).await?;
    let tenants = narrow(who.scope_for(Perm::ReadRules), q.tenants.as_deref())?;
    let rows = control(&app, move |c| c.overlays(&tenants)).await?;
    ok(rows
        .into_iter()
        .map(|(t, r, o)| json!({"tenant": t, "rule_id": r, "overlay": o}))
        .collect::<Vec<_>>())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    status: Option<String>,
}

async fn list_changes(
    State(app): State<Arc<App>>,
    Query(q): Query<ChangesQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadRules).await?;
    ok(control(&app, move |c| c.rule_changes(&who, q.status.as_deref())).await?)
}

async fn get_change(
    State(app): State<Arc<App>>,
    Path(change): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadRules).await?;
    let change = id(&change, "change")?;
    ok(control(&app, move |c| c.rule_change(&who, change)).await?)
}

async fn propose(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ProposeRules).await?;
    let p: Proposal = body(&raw)?;
    let now = now_ns();
    let ch = control(&app, move |c| {
        c.propose_rule_change(&who, &p, &crate::rules::check_rule, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(ch)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    #[serde(default)]
    note: String,
}

async fn review(
    app: Arc<App>,
    headers: HeaderMap,
    change: String,
    raw: Bytes,
    approve: bool,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ApproveRules).await?;
    let change = id(&change, "change")?;
    let b: ReviewBody = if raw.is_empty() {
        ReviewBody::default()
    } else {
        body(&raw)?
    };
    let now = now_ns();
    let ch = control(&app, move |c| {
        c.review_rule_change(
            &who,
            change,
            approve,
            &b.note,
            &crate::rules::check_rule,
            now,
        )
    })
    .await?;
    go_live(&app, &ch, approve).await;
    ok(ch)
}

/// After a review (API or console): an approved rule text goes live now by reloading the
/// rules (overlays are read by the detector by itself). A failed reload is logged; the
/// change stays approved and the next reload picks it up.
pub(crate) async fn go_live(app: &Arc<App>, ch: &leitstelle_control::RuleChange, approved: bool) {
    if !approved || ch.kind == "overlay" {
        return;
    }
    let app2 = Arc::clone(app);
    let reloaded = tokio::task::spawn_blocking(move || app2.reload_rules()).await;
    if !matches!(reloaded, Ok(Ok(_))) {
        tracing::error!(
            change = ch.id,
            "the approved change is stored but the rules did not reload"
        );
    }
}

async fn approve(
    State(app): State<Arc<App>>,
    Path(change): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    review(app, headers, change, raw, true).await
}

async fn reject(
    State(app): State<Arc<App>>,
    Path(change): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    review(app, headers, change, raw, false).await
}

async fn withdraw(
    State(app): State<Arc<App>>,
    Path(change): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ProposeRules).await?;
    let change = id(&change, "change")?;
    let now = now_ns();
    control(&app, move |c| c.withdraw_rule_change(&who, change, now)).await?;
    ok(json!({"withdrawn": change}))
}

// ---------------------------------------------------------------------------------------
// Tenants: responsibility matrix, SLAs

async fn list_tenants(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authenticate(&app, &headers).await?;
    let all = control(&app, |c| c.tenants()).await?;
    ok(all
        .into_iter()
        .filter(|t| who.is_system() || who.scope.contains(&t.name))
        .map(|t| {
            let roles: Vec<&str> = who.roles_in(&t.name).iter().map(|r| r.as_str()).collect();
            json!({"name": t.name, "created_ns": t.created_ns, "roles": roles})
        })
        .collect::<Vec<_>>())
}

async fn get_desk(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadDesk).await?;
    ok(control(&app, move |c| c.desk(&who, &tenant)).await?)
}

async fn put_desk(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ManageDesk).await?;
    let d: Desk = body(&raw)?;
    let now = now_ns();
    control(&app, move |c| c.set_desk(&who, &tenant, &d, now)).await?;
    ok(json!({"ok": true}))
}

async fn get_sla(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadDesk).await?;
    if !who.can(Perm::ReadDesk, &tenant) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such tenant"));
    }
    let map = control(&app, move |c| c.sla_policies(&[tenant])).await?;
    ok(map.into_values().collect::<Vec<SlaPolicy>>())
}

async fn put_sla(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ManageDesk).await?;
    let policies: Vec<SlaPolicy> = body(&raw)?;
    let now = now_ns();
    control(&app, move |c| c.set_sla(&who, &tenant, &policies, now)).await?;
    ok(json!({"ok": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    tenants: Option<String>,
}

async fn triage_report(
    State(app): State<Arc<App>>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadMetrics).await?;
    let tenants = narrow(who.scope_for(Perm::ReadMetrics), q.tenants.as_deref())?;
    let now = now_ns();
    let from = crate::search::time_param("from", q.from.as_deref(), now)
        .map_err(bad)?
        .unwrap_or(now - 30 * 24 * 3600 * 1_000_000_000);
    let to = crate::search::time_param("to", q.to.as_deref(), now)
        .map_err(bad)?
        .unwrap_or(now);
    ok(control(&app, move |c| c.triage_report(&tenants, from, to, now)).await?)
}

// ---------------------------------------------------------------------------------------
// Users, tokens, audit

async fn list_users(
    State(app): State<Arc<App>>,
    Query(q): Query<TenantsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let tenants = narrow(who.scope_for(Perm::Admin), q.tenants.as_deref())?;
    ok(control(&app, move |c| c.users(&tenants)).await?)
}

fn role(name: &str) -> Result<Role, ApiError> {
    Role::parse(name).ok_or_else(|| {
        bad(format!(
            "unknown role `{name}` (one of {})",
            Role::NAMES.join(", ")
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    password: String,
    tenant: String,
    role: String,
}

async fn create_user(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let b: UserBody = body(&raw)?;
    let r = role(&b.role)?;
    if b.password.chars().count() < 12 {
        return Err(bad("passwords need at least 12 characters"));
    }
    let now = now_ns();
    let u = control(&app, move |c| {
        c.create_user(&who, &b.name, &b.password, &b.tenant, r, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(u)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    tenant: String,
    role: String,
    /// `false` takes the role away.
    #[serde(default = "yes")]
    grant: bool,
}

fn yes() -> bool {
    true
}

async fn set_role(
    State(app): State<Arc<App>>,
    Path(user): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let b: RoleBody = body(&raw)?;
    let r = role(&b.role)?;
    let now = now_ns();
    let changed = control(&app, move |c| {
        c.set_role(&who, &user, &b.tenant, r, b.grant, now)
    })
    .await?;
    ok(json!({"changed": changed}))
}

async fn list_tokens(
    State(app): State<Arc<App>>,
    Query(q): Query<TenantsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let tenants = narrow(who.scope_for(Perm::Admin), q.tenants.as_deref())?;
    let all = control(&app, |c| c.tokens(None)).await?;
    ok(all
        .into_iter()
        .filter(|t| tenants.contains(&t.tenant))
        .collect::<Vec<_>>())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    tenant: String,
    role: String,
    label: String,
}

async fn create_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let b: TokenBody = body(&raw)?;
    let r = role(&b.role)?;
    let now = now_ns();
    let (info, secret) = control(&app, move |c| {
        c.create_token(&who, &b.tenant, r, &b.label, now)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": info, "secret": secret})),
    )
        .into_response())
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::Admin).await?;
    let token = id(&token, "token")?;
    let now = now_ns();
    if control(&app, move |c| c.revoke_token(&who, token, now)).await? {
        ok(json!({"revoked": token}))
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "no such token"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    tenants: Option<String>,
    limit: Option<u32>,
}

async fn audit_log(
    State(app): State<Arc<App>>,
    Query(q): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = authorize(&app, &headers, Perm::ReadAudit).await?;
    let tenants = narrow(who.scope_for(Perm::ReadAudit), q.tenants.as_deref())?;
    let system = who.can_globally(Perm::ReadAudit);
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    ok(control(&app, move |c| c.audit_log(&tenants, system, limit)).await?)
}
