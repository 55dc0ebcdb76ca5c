//! The console's dashboard: the control plane's aggregates ([`Control::alert_stats`],
//! counted by the database and checked against the viewer's metrics scope), the coverage of
//! the enabled rules' ATT&CK tags, and the intake this server counted since it started.
//!
//! [`Control::alert_stats`]: leitstelle_control::Control::alert_stats

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use leitstelle_console::dashboard::{self as ui_dash, DashboardView, IntakeRow, Period};
use leitstelle_console::error_page;
use leitstelle_control::Perm;
use leitstelle_control::stats::StatsQuery;

use super::{failed, page, tenants_of, viewer};
use crate::App;
use crate::api::control;
use crate::pipeline::{now_ns, rule_id};

/// Whole minutes the intake rate is averaged over.
const RATE_MINUTES: usize = 5;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/dashboard", get(dashboard))
}

#[derive(serde::Deserialize, Default)]
struct DashQuery {
    tenant: Option<String>,
    period: Option<String>,
}

async fn dashboard(
    State(app): State<Arc<App>>,
    Query(q): Query<DashQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/dashboard").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::ReadMetrics) {
        return page(
            StatusCode::FORBIDDEN,
            error_page(Some(&v), 403, &format!("{} may not read metrics.", v.name)),
        );
    }
    let period = q
        .period
        .as_deref()
        .and_then(Period::parse)
        .unwrap_or_default();
    let now = now_ns();
    let from = period.start(now);
    let query = StatsQuery {
        tenants: tenants_of(&who, &v, Perm::ReadMetrics),
        from_ns: from,
        to_ns: from + period.span_ns(),
        bucket_ns: period.bucket_ns(),
        now_ns: now,
    };
    // With one tenant picked, its overlays decide which rules are on for it.
    let picked = v.tenant.clone().filter(|t| who.can(Perm::ReadRules, t));
    let res = control(&app, move |c| {
        let stats = c.alert_stats(&who, &query)?;
        let disabled: HashMap<String, bool> = c
            .stored_rules()?
            .into_iter()
            .map(|r| (r.rule_id, !r.enabled))
            .collect();
        let overlays: HashMap<String, Option<bool>> = match &picked {
            Some(t) => c
                .overlays(std::slice::from_ref(t))?
                .into_iter()
                .map(|(_, r, o)| (r, o.enabled))
                .collect(),
            None => HashMap::new(),
        };
        Ok((stats, disabled, overlays))
    })
    .await;
    let (stats, disabled, overlays) = match res {
        Ok(x) => x,
        Err(e) => {
            return failed(&v, &e);
        }
    };
    let rules = app.rules.load_full();
    let enabled: Vec<(String, Vec<String>)> = rules
        .engine
        .rules()
        .iter()
        .filter(|r| {
            let id = rule_id(r);
            match overlays.get(&id).copied().flatten() {
                Some(on) => on,
                None => !disabled.get(&id).copied().unwrap_or(false),
            }
        })
        .map(|r| (r.title.clone(), r.tags.clone()))
        .collect();
    let attack_rules = enabled
        .iter()
        .filter(|(_, tags)| tags.iter().any(|t| ui_dash::technique_of(t).is_some()))
        .count();
    let coverage = ui_dash::coverage(&enabled, &stats.tags);
    let intake = app
        .metrics
        .intake
        .snapshot(Some(&stats.tenants))
        .into_iter()
        .map(|s| IntakeRow {
            per_sec: Some(s.rate(now, RATE_MINUTES)),
            last_ns: Some(s.last_ns),
            source: s.source,
            tenant: s.tenant,
            received: s.received,
            parsed: s.parsed,
            failed: s.failed,
        })
        .collect();
    let d = DashboardView {
        period,
        from_ns: from,
        to_ns: from + period.span_ns(),
        enabled_rules: enabled.len(),
        attack_rules,
        coverage,
        intake,
        intake_note: format!(
            "Counted by this server since it last started (intake is not stored per period): \
             records received, parsed into events and refused by the parsers, per intake \
             source and tenant; per second is the mean over the last {RATE_MINUTES} whole \
             minutes."
        ),
        stats,
    };
    page(StatusCode::OK, ui_dash::dashboard_page(&v, &d))
}
