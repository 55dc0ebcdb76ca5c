//! The console's case pages: the list, opening a case (by hand or from an alert), merging
//! alerts, and the case page with its tasks, observables, comments, evidence and timeline.
//! Every change goes through the control plane's case functions, which check the
//! permission on the case's tenant and write the timeline and the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leitstelle_console::cases::{self as ui_cases, CaseDetail, CaseFilter, CaseList};
use leitstelle_control::{CaseUpdate, NewCase, Perm};

use super::{change_then, failed, form, nonempty, page, tenants_of, viewer};
use crate::App;
use crate::api::control;
use crate::pipeline::now_ns;

/// Merged alerts shown on a case page at most.
const MAX_CASE_ALERTS_SHOWN: usize = 200;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/cases", get(list).post(create))
        .route("/cases/merge", post(merge_from_alert))
        .route("/cases/{id}", get(show))
        .route("/cases/{id}/edit", post(edit))
        .route("/cases/{id}/alerts", post(merge))
        .route("/cases/{id}/tasks", post(add_task))
        .route("/cases/{id}/tasks/{task}", post(set_task))
        .route("/cases/{id}/observables", post(add_observable))
        .route("/cases/{id}/comments", post(comment))
}

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    tenant: Option<String>,
    text: Option<String>,
    open: Option<String>,
    filtered: Option<String>,
}

async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/cases").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tenants = tenants_of(&who, &v, Perm::ReadCases);
    let writable_tenants = tenants_of(&who, &v, Perm::WriteCases);
    // The default view is the open cases; a filter form sent without `open` shows all.
    let filter = CaseFilter {
        open: q.open.is_some() || q.filtered.is_none(),
        text: nonempty(&q.text),
    };
    let who2 = who.clone();
    match control(&app, move |c| c.cases(&who2, &tenants, false)).await {
        Ok(cases) => page(
            StatusCode::OK,
            ui_cases::list_page(
                &v,
                &CaseList {
                    cases,
                    filter,
                    writable_tenants,
                },
            ),
        ),
        Err(e) => failed(&v, &e),
    }
}

/// The not-found page for a bad path id.
fn not_found(v: &leitstelle_console::Viewer, what: &str) -> Response {
    page(
        StatusCode::NOT_FOUND,
        leitstelle_console::error_page(Some(v), 404, &format!("No such {what}.")),
    )
}

fn field(f: &HashMap<String, String>, k: &str) -> String {
    f.get(k).cloned().unwrap_or_default()
}

/// Runs a case change and goes back to the case page (or shows why not).
async fn change(
    app: &Arc<App>,
    v: &leitstelle_console::Viewer,
    case: i64,
    work: impl FnOnce(&leitstelle_control::Control, i64) -> leitstelle_control::Result<()>
    + Send
    + 'static,
) -> Response {
    change_then(app, v, &format!("/cases/{case}"), work).await
}

/// `POST /cases`: a new case, by hand or from an alert (`alert`).
async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/cases").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let alerts: Vec<i64> = f
        .get("alert")
        .and_then(|a| a.trim().parse().ok())
        .into_iter()
        .collect();
    let new = NewCase {
        tenant: field(&f, "tenant"),
        title: field(&f, "title"),
        description: field(&f, "description"),
        severity: f.get("severity").cloned().filter(|s| !s.is_empty()),
        tlp: f.get("tlp").cloned().filter(|s| !s.is_empty()),
        alerts: alerts.clone(),
    };
    let now = now_ns();
    match control(&app, move |c| c.create_case(&who, &new, now)).await {
        Ok(case) => {
            for a in alerts {
                let _ = app.alert_updates.send(a);
            }
            Redirect::to(&format!("/cases/{}", case.id)).into_response()
        }
        Err(e) => failed(&v, &e),
    }
}

/// `POST /cases/merge`: an alert's "merge into case #".
async fn merge_from_alert(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/cases").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let (Ok(case), Ok(alert)) = (
        field(&f, "case").trim().parse::<i64>(),
        field(&f, "alert").trim().parse::<i64>(),
    ) else {
        return page(
            StatusCode::BAD_REQUEST,
            leitstelle_console::error_page(Some(&v), 400, "A case number and an alert are needed."),
        );
    };
    let updates = app.alert_updates.clone();
    change(&app, &v, case, move |c, now| {
        c.add_case_alerts(&who, case, &[alert], now)?;
        let _ = updates.send(alert);
        Ok(())
    })
    .await
}

async fn show(State(app): State<Arc<App>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &format!("/cases/{id}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found(&v, "case");
    };
    let res = control(&app, move |c| {
        let case = c.case(&who, id)?;
        let scope = who.scope_for(Perm::ReadAlerts);
        let mut alerts = Vec::new();
        for a in case.alerts.iter().take(MAX_CASE_ALERTS_SHOWN) {
            if let Some((a, _)) = c.alert(&scope, *a)? {
                alerts.push((a.id, a.rule_title, a.level));
            }
        }
        let mut observables = Vec::new();
        for o in c.observables(&who, id)? {
            let seen = c.sightings(&who, id, o.id)?;
            observables.push((o, seen));
        }
        Ok(CaseDetail {
            can_write: who.can(Perm::WriteCases, &case.tenant),
            alerts,
            tasks: c.tasks(&who, id)?,
            observables,
            comments: c.case_comments(&who, id)?,
            evidence: c.evidence(&who, id)?,
            timeline: c.case_timeline(&who, id)?,
            case,
        })
    })
    .await;
    match res {
        Ok(d) => page(StatusCode::OK, ui_cases::case_page(&v, &d)),
        Err(e) => failed(&v, &e),
    }
}

/// The viewer, the case id and the form of a POST to `/cases/{id}/…`.
async fn posted(
    app: &Arc<App>,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Result<
    (
        leitstelle_control::Principal,
        leitstelle_console::Viewer,
        i64,
        HashMap<String, String>,
    ),
    Response,
> {
    let (who, v) = viewer(app, headers, None, &format!("/cases/{id}")).await?;
    let id = id.parse::<i64>().map_err(|_| not_found(&v, "case"))?;
    let (f, _) = form(body);
    Ok((who, v, id, f))
}

async fn edit(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let upd = CaseUpdate {
        title: f.get("title").cloned(),
        description: f.get("description").cloned(),
        severity: f.get("severity").cloned(),
        status: f.get("status").cloned(),
        tlp: f.get("tlp").cloned(),
        assignee: f.get("assignee").map(|a| a.trim().to_string()),
        resolution: f
            .get("resolution")
            .cloned()
            .filter(|r| !r.trim().is_empty()),
    };
    change(&app, &v, id, move |c, now| {
        c.update_case(&who, id, &upd, now).map(|_| ())
    })
    .await
}

async fn merge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(alert) = field(&f, "alert").trim().parse::<i64>() else {
        return page(
            StatusCode::BAD_REQUEST,
            leitstelle_console::error_page(Some(&v), 400, "An alert number is needed."),
        );
    };
    let updates = app.alert_updates.clone();
    change(&app, &v, id, move |c, now| {
        c.add_case_alerts(&who, id, &[alert], now)?;
        let _ = updates.send(alert);
        Ok(())
    })
    .await
}

async fn add_task(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let title = field(&f, "title");
    let owner = nonempty(&f.get("owner").cloned());
    change(&app, &v, id, move |c, now| {
        c.add_task(&who, id, &title, owner.as_deref(), now)
            .map(|_| ())
    })
    .await
}

async fn set_task(
    State(app): State<Arc<App>>,
    Path((id, task)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(task) = task.parse::<i64>() else {
        return not_found(&v, "task");
    };
    let state = field(&f, "state");
    change(&app, &v, id, move |c, now| {
        c.update_task(&who, id, task, Some(&state), None, now)
            .map(|_| ())
    })
    .await
}

async fn add_observable(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (kind, value, note) = (field(&f, "kind"), field(&f, "value"), field(&f, "note"));
    change(&app, &v, id, move |c, now| {
        c.add_observable(&who, id, &kind, &value, &note, now)
            .map(|_| ())
    })
    .await
}

async fn comment(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v, id, f) = match posted(&app, &headers, &id, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = field(&f, "body");
    change(&app, &v, id, move |c, now| {
        c.add_case_comment(&who, id, &text, now).map(|_| ())
    })
    .await
}
