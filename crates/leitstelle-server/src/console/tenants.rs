//! The console's tenants pages: the responsibility matrix, emergency contacts, escalation
//! plan and SLA per tenant, and their edit forms (through the control plane's desk and SLA
//! functions, which check `ManageDesk` and audit every change).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use leitstelle_console::error_page;
use leitstelle_console::tenants::{self as ui_tenants, TenantDesk};
use leitstelle_control::{Contact, Desk, LEVELS, Perm, Principal, SlaPolicy};

use super::{change_then, failed, form, page, tenants_of, viewer};
use crate::App;
use crate::api::control;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/tenants", get(list))
        .route("/tenants/{tenant}", get(show))
        .route("/tenants/{tenant}/desk", post(save_desk))
        .route("/tenants/{tenant}/sla", post(save_sla))
}

#[derive(serde::Deserialize, Default)]
struct TenantQuery {
    tenant: Option<String>,
}

/// The desks of `tenants` (each must be readable by `who`).
fn desks(
    c: &leitstelle_control::Control,
    who: &Principal,
    tenants: &[String],
) -> leitstelle_control::Result<Vec<TenantDesk>> {
    let slas = c.sla_policies(tenants)?;
    tenants
        .iter()
        .map(|t| {
            Ok(TenantDesk {
                desk: c.desk(who, t)?,
                sla: slas
                    .iter()
                    .filter(|((tenant, _), _)| tenant == t)
                    .map(|(_, p)| p.clone())
                    .collect(),
                can_manage: who.can(Perm::ManageDesk, t),
                tenant: t.clone(),
            })
        })
        .collect()
}

async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<TenantQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/tenants").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let tenants = tenants_of(&who, &v, Perm::ReadDesk);
    match control(&app, move |c| desks(c, &who, &tenants)).await {
        Ok(d) => page(StatusCode::OK, ui_tenants::list_page(&v, &d)),
        Err(e) => failed(&v, &e),
    }
}

async fn show(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &format!("/tenants/{tenant}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can(Perm::ReadDesk, &tenant) {
        return page(
            StatusCode::NOT_FOUND,
            error_page(Some(&v), 404, "No such tenant in your scope."),
        );
    }
    match control(&app, move |c| desks(c, &who, &[tenant])).await {
        Ok(mut d) if d.len() == 1 => {
            let t = d.remove(0);
            page(StatusCode::OK, ui_tenants::tenant_page(&v, &t))
        }
        Ok(_) => page(
            StatusCode::NOT_FOUND,
            error_page(Some(&v), 404, "No such tenant."),
        ),
        Err(e) => failed(&v, &e),
    }
}

/// The desk document from the edit form; the contacts' rows are `c{i}_{field}`.
fn desk_of(f: &std::collections::HashMap<String, String>) -> Result<Desk, String> {
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let mut contacts = Vec::new();
    // Rows are numbered densely by the form; a gap ends them.
    for i in 0..1000 {
        if !f.contains_key(&format!("c{i}_name")) {
            break;
        }
        let name = get(&format!("c{i}_name"));
        if name.is_empty() {
            continue;
        }
        contacts.push(Contact {
            name,
            role: get(&format!("c{i}_role")),
            phone: get(&format!("c{i}_phone")),
            email: get(&format!("c{i}_email")),
            hours: get(&format!("c{i}_hours")),
        });
    }
    let mut plan = BTreeMap::new();
    for level in LEVELS {
        let names = ui_tenants::split_names(&get(&format!("plan_{level}")));
        if !names.is_empty() {
            plan.insert(level.to_string(), names);
        }
    }
    Ok(Desk {
        triage: get("triage"),
        escalation: get("escalation"),
        approvals: ui_tenants::parse_approvals(&get("approvals"))?,
        contacts,
        escalation_plan: plan,
        notes: get("notes"),
    })
}

/// The SLA policies from the edit form (`ack_{level}`, `resolve_{level}`).
fn sla_of_form(f: &std::collections::HashMap<String, String>) -> Result<Vec<SlaPolicy>, String> {
    let mut out = Vec::new();
    for level in LEVELS {
        let ack = f.get(&format!("ack_{level}")).map_or("", |s| s.trim());
        let resolve = f.get(&format!("resolve_{level}")).map_or("", |s| s.trim());
        match (ack.is_empty(), resolve.is_empty()) {
            (true, true) => continue,
            (false, false) => out.push(SlaPolicy {
                level: level.to_string(),
                ack_secs: ui_tenants::parse_duration(ack)
                    .map_err(|e| format!("{level}, acknowledge: {e}"))?,
                resolve_secs: ui_tenants::parse_duration(resolve)
                    .map_err(|e| format!("{level}, escalate or close: {e}"))?,
            }),
            _ => return Err(format!("{level}: give both durations or neither")),
        }
    }
    Ok(out)
}

/// A POST to `/tenants/{tenant}/…`: parses the form with `parse`, then saves with `save`.
async fn save<T: Send + 'static>(
    app: Arc<App>,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    parse: fn(&std::collections::HashMap<String, String>) -> Result<T, String>,
    save: fn(
        &leitstelle_control::Control,
        &Principal,
        &str,
        &T,
        i64,
    ) -> leitstelle_control::Result<()>,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &format!("/tenants/{tenant}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let value = match parse(&f) {
        Ok(d) => d,
        Err(e) => return page(StatusCode::BAD_REQUEST, error_page(Some(&v), 400, &e)),
    };
    let to = format!("/tenants/{}", super::encode(&tenant));
    change_then(&app, &v, &to, move |c, now| {
        save(c, &who, &tenant, &value, now)
    })
    .await
}

async fn save_desk(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    save(app, tenant, headers, body, desk_of, |c, who, t, d, now| {
        c.set_desk(who, t, d, now)
    })
    .await
}

async fn save_sla(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    save(
        app,
        tenant,
        headers,
        body,
        sla_of_form,
        |c, who, t, p, now| c.set_sla(who, t, p, now),
    )
    .await
}
