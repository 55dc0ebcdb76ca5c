//! The console's admin page: users and roles, tokens, sources and their health, the
//! server's state and the latest audit records. Every change goes through the control
//! plane's user and token functions (permission `Admin` on the tenant, audited).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use leitstelle_console::admin::{self as ui_admin, AdminView, ServerState, SourceHealth};
use leitstelle_console::{Viewer, error_page};
use leitstelle_control::{Perm, Principal, Role};

use super::{change_then, failed, form, page, viewer};
use crate::App;
use crate::api::{ApiError, control};
use crate::pipeline::now_ns;

/// Audit records the page shows.
const AUDIT_SHOWN: u32 = 50;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin", get(show))
        .route("/admin/users", post(create_user))
        .route("/admin/roles", post(set_role))
        .route("/admin/tokens", post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

fn error(v: &Viewer, e: ApiError) -> Response {
    failed(v, &e)
}

/// The page's data for what `who` administers.
async fn view(app: &Arc<App>, who: Principal) -> Result<AdminView, ApiError> {
    let tenants = who.scope_for(Perm::Admin);
    let now = now_ns();
    let sources = app
        .metrics
        .intake
        .snapshot(Some(&tenants))
        .into_iter()
        .map(|s| SourceHealth {
            rate_5m: s.rate(now, 5),
            source: s.source,
            tenant: s.tenant,
            received: s.received,
            parsed: s.parsed,
            failed: s.failed,
            first_ns: s.first_ns,
            last_ns: s.last_ns,
        })
        .collect();
    let rules = app.rules.load_full();
    let store = Arc::clone(&app.store);
    let t2 = tenants.clone();
    let usage = tokio::task::spawn_blocking(move || store.usage())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .unwrap_or_default()
        .into_iter()
        .filter(|u| t2.contains(&u.tenant))
        .map(|u| (u.tenant, u.events, u.bytes))
        .collect();
    let server = ServerState {
        version: env!("CARGO_PKG_VERSION").to_string(),
        rules_loaded: rules.rules as u64,
        rule_diagnostics: rules.diagnostics.len(),
        journal_lag: app.metrics.journal_lag.get(),
        store_lag: app.metrics.store_lag.get(),
        store_errors: app.metrics.store_errors.get(),
        store: usage,
    };
    let t3 = tenants.clone();
    let (users, tokens, audit) = control(app, move |c| {
        let audit = if who.can_somewhere(Perm::ReadAudit) {
            c.audit_log(
                &who.scope_for(Perm::ReadAudit),
                who.can_globally(Perm::ReadAudit),
                AUDIT_SHOWN,
            )?
        } else {
            Vec::new()
        };
        let tokens = c
            .tokens(None)?
            .into_iter()
            .filter(|t| t3.contains(&t.tenant))
            .collect();
        Ok((c.users(&t3)?, tokens, audit))
    })
    .await?;
    Ok(AdminView {
        users,
        tokens,
        sources,
        server,
        audit,
        tenants,
        new_secret: None,
    })
}

/// The viewer, who must administer some tenant (else the error page).
async fn admin(app: &Arc<App>, headers: &HeaderMap) -> Result<(Principal, Viewer), Response> {
    let (who, v) = viewer(app, headers, None, "/admin").await?;
    if !who.can_somewhere(Perm::Admin) {
        return Err(page(
            StatusCode::FORBIDDEN,
            error_page(Some(&v), 403, "Administration needs the admin role."),
        ));
    }
    Ok((who, v))
}

async fn show(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let (who, v) = match admin(&app, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match view(&app, who).await {
        Ok(d) => page(StatusCode::OK, ui_admin::admin_page(&v, &d, now_ns())),
        Err(e) => failed(&v, &e),
    }
}

fn role_of(name: &str) -> Result<Role, ApiError> {
    Role::parse(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown role `{name}` (one of {})", Role::NAMES.join(", ")),
        )
    })
}

async fn create_user(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match admin(&app, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (name, password, tenant) = (field("name"), field("password"), field("tenant"));
    let role = match role_of(&field("role")) {
        Ok(r) => r,
        Err(e) => return failed(&v, &e),
    };
    if password.chars().count() < 12 {
        return error(
            &v,
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "passwords need at least 12 characters",
            ),
        );
    }
    change_then(&app, &v, "/admin", move |c, now| {
        c.create_user(&who, name.trim(), &password, &tenant, role, now)
            .map(|_| ())
    })
    .await
}

async fn set_role(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match admin(&app, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (user, tenant, grant) = (field("user"), field("tenant"), field("grant") != "0");
    let role = match role_of(&field("role")) {
        Ok(r) => r,
        Err(e) => return failed(&v, &e),
    };
    change_then(&app, &v, "/admin", move |c, now| {
        c.set_role(&who, user.trim(), &tenant, role, grant, now)
            .map(|_| ())
    })
    .await
}

async fn create_token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match admin(&app, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (f, _) = form(&body);
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (tenant, label) = (field("tenant"), field("label"));
    let role = match role_of(&field("role")) {
        Ok(r) => r,
        Err(e) => return failed(&v, &e),
    };
    let now = now_ns();
    let w2 = who.clone();
    let l2 = label.clone();
    let created = control(&app, move |c| c.create_token(&w2, &tenant, role, &l2, now)).await;
    let secret = match created {
        Ok((_, secret)) => secret,
        Err(e) => return failed(&v, &e),
    };
    // The secret is shown once, on this response (not kept anywhere to show again).
    match view(&app, who).await {
        Ok(mut d) => {
            d.new_secret = Some((label, secret));
            page(StatusCode::CREATED, ui_admin::admin_page(&v, &d, now_ns()))
        }
        Err(e) => failed(&v, &e),
    }
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match admin(&app, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return page(
            StatusCode::NOT_FOUND,
            error_page(Some(&v), 404, "No such token."),
        );
    };
    change_then(&app, &v, "/admin", move |c, now| {
        if c.revoke_token(&who, id, now)? {
            Ok(())
        } else {
            Err(leitstelle_control::ControlError::NotFound(format!(
                "token {id}"
            )))
        }
    })
    .await
}
