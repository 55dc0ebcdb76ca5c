//! The console's rules pages: the loaded rule set with its search, one rule (text,
//! versions, overlays, suppressions, changes), proposing a change, and the review queue.
//! Proposals, reviews and withdrawals go through the control plane's change-control
//! functions, which check the permission and four-eyes review; a refusal is shown on the
//! change's page with the status the API would answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leitstelle_console::rules::{
    self as ui_rules, ChangeView, ProposeForm, RuleDetail, RuleFilter, RuleSummary,
};
use leitstelle_console::{Viewer, error_page};
use leitstelle_control::{Control, LEVELS, Perm, Principal, Proposal, RuleChange, StoredRule};

use super::{failed, form, nonempty, page, viewer};
use crate::App;
use crate::api::{ApiError, control};
use crate::pipeline::{now_ns, rule_id};

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/rules", get(list))
        .route("/rules/new", get(propose_form).post(propose))
        .route("/rules/changes", get(changes))
        .route("/rules/changes/{id}", get(change))
        .route("/rules/changes/{id}/review", post(review))
        .route("/rules/changes/{id}/withdraw", post(withdraw))
        .route("/rules/{id}", get(show))
}

fn forbidden(v: &Viewer, what: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        error_page(Some(v), 403, &format!("{} may not {what}.", v.name)),
    )
}

/// The list entry of a loaded rule.
fn summary(r: &leitstelle_sigma::Rule, stored: &HashMap<String, StoredRule>) -> RuleSummary {
    let id = rule_id(r);
    let ls = &r.logsource;
    let logsource = [&ls.product, &ls.category, &ls.service]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("/");
    RuleSummary {
        disabled: stored.get(&id).is_some_and(|s| !s.enabled),
        origin: if r.file.starts_with("stored:") {
            "stored".into()
        } else {
            "folder".into()
        },
        title: r.title.clone(),
        level: r.level.as_str().into(),
        status: r.status.clone().unwrap_or_default(),
        tags: r.tags.clone(),
        logsource,
        description: r.description.clone().unwrap_or_default(),
        id,
    }
}

fn stored_by_id(c: &Control) -> leitstelle_control::Result<HashMap<String, StoredRule>> {
    Ok(c.stored_rules()?
        .into_iter()
        .map(|r| (r.rule_id.clone(), r))
        .collect())
}

/// The text of a loaded rule: the stored text, else its file (read on the blocking pool).
fn rule_text(
    loaded: Option<&leitstelle_sigma::Rule>,
    stored: Option<&StoredRule>,
) -> Option<String> {
    if let Some(s) = stored.filter(|s| !s.yaml.is_empty()) {
        return Some(s.yaml.clone());
    }
    loaded
        .filter(|r| !r.file.starts_with("stored:"))
        .and_then(|r| std::fs::read_to_string(&r.file).ok())
}

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    tenant: Option<String>,
    q: Option<String>,
    level: Option<String>,
}

async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, q.tenant.as_deref(), "/rules").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::ReadRules) {
        return forbidden(&v, "read rules");
    }
    let f = RuleFilter {
        q: nonempty(&q.q),
        level: nonempty(&q.level).filter(|l| LEVELS.contains(&l.as_str())),
    };
    let rules = app.rules.load_full();
    let res = control(&app, move |c| {
        let pending = c.rule_changes(&who, Some("proposed"))?.len();
        Ok((stored_by_id(c)?, pending))
    })
    .await;
    let (stored, pending) = match res {
        Ok(x) => x,
        Err(e) => return failed(&v, &e),
    };
    let all = rules.engine.rules();
    let mut rows: Vec<RuleSummary> = all
        .iter()
        .map(|r| summary(r, &stored))
        .filter(|r| f.matches(r))
        .collect();
    rows.sort_by(|a, b| {
        leitstelle_control::level_rank(&b.level)
            .cmp(&leitstelle_control::level_rank(&a.level))
            .then_with(|| a.title.cmp(&b.title))
    });
    page(
        StatusCode::OK,
        ui_rules::rules_page(&v, &f, &rows, all.len(), pending),
    )
}

async fn show(State(app): State<Arc<App>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &ui_rules::rule_href(&id)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::ReadRules) {
        return forbidden(&v, "read rules");
    }
    let rules = app.rules.load_full();
    let res = control(&app, move |c| {
        let loaded = rules
            .engine
            .rules()
            .iter()
            .find(|r| rule_id(r) == id)
            .cloned();
        let stored_map = stored_by_id(c)?;
        let stored_row = stored_map.get(&id).cloned();
        let summary = match (&loaded, &stored_row) {
            (Some(r), _) => summary(r, &stored_map),
            (None, Some(s)) => RuleSummary {
                id: id.clone(),
                title: s.title.clone(),
                origin: s.origin.clone(),
                disabled: !s.enabled,
                status: "not loaded (see the server's rule diagnostics)".into(),
                ..RuleSummary::default()
            },
            (None, None) => {
                return Err(leitstelle_control::ControlError::NotFound(format!(
                    "rule {id}"
                )));
            }
        };
        let yaml = rule_text(loaded.as_deref(), stored_row.as_ref());
        let overlays = c
            .overlays(&who.scope_for(Perm::ReadRules))?
            .into_iter()
            .filter(|(_, r, _)| *r == id)
            .map(|(t, _, o)| (t, o))
            .collect();
        let suppressions = c
            .suppressions(&who.scope_for(Perm::ReadAlerts))?
            .into_iter()
            .filter(|s| s.rule_id.as_deref() == Some(id.as_str()))
            .collect();
        let changes = c
            .rule_changes(&who, None)?
            .into_iter()
            .filter(|ch| ch.rule_id == id)
            .collect();
        let stored = if stored_row.is_some() {
            c.stored_rule(&id)?
        } else {
            None
        };
        let (author, references, falsepositives) = loaded
            .as_ref()
            .map(|r| {
                (
                    r.author.clone().unwrap_or_default(),
                    r.references.clone(),
                    r.falsepositives.clone(),
                )
            })
            .unwrap_or_default();
        Ok(RuleDetail {
            summary,
            author,
            references,
            falsepositives,
            yaml,
            stored,
            overlays,
            suppressions,
            changes,
            can_propose: who.can_globally(Perm::ProposeRules),
        })
    })
    .await;
    match res {
        Ok(d) => page(StatusCode::OK, ui_rules::rule_page(&v, &d)),
        Err(e) => failed(&v, &e),
    }
}

#[derive(serde::Deserialize, Default)]
struct NewQuery {
    rule: Option<String>,
}

/// The proposal form: empty for a new rule; with `?rule=ID`, the rule's current text (an
/// edit of a stored rule, or a stored copy replacing a folder rule).
async fn propose_form(
    State(app): State<Arc<App>>,
    Query(q): Query<NewQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/rules/new").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let can = who.can_globally(Perm::ProposeRules);
    let Some(id) = nonempty(&q.rule) else {
        let f = ProposeForm {
            kind: "create".into(),
            ..ProposeForm::default()
        };
        return page(StatusCode::OK, ui_rules::propose_page(&v, &f, can));
    };
    let rules = app.rules.load_full();
    let res = control(&app, move |c| {
        let stored = c.stored_rule(&id)?.map(|(s, _)| s);
        let loaded = rules
            .engine
            .rules()
            .iter()
            .find(|r| rule_id(r) == id)
            .cloned();
        if stored.is_none() && loaded.is_none() {
            return Err(leitstelle_control::ControlError::NotFound(format!(
                "rule {id}"
            )));
        }
        let yaml = rule_text(loaded.as_deref(), stored.as_ref()).unwrap_or_default();
        Ok(ProposeForm {
            kind: if stored.as_ref().is_some_and(|s| !s.yaml.is_empty()) {
                "edit".into()
            } else {
                "create".into()
            },
            rule_id: id,
            yaml,
            ..ProposeForm::default()
        })
    })
    .await;
    match res {
        Ok(f) => page(StatusCode::OK, ui_rules::propose_page(&v, &f, can)),
        Err(e) => failed(&v, &e),
    }
}

async fn propose(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/rules/new").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::ProposeRules) {
        return forbidden(&v, "propose rule changes");
    }
    let (f, _) = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let kind = get("kind");
    let text_change = matches!(kind.as_str(), "create" | "edit");
    let mut shown = ProposeForm {
        kind: kind.clone(),
        rule_id: get("rule_id").trim().to_string(),
        yaml: get("yaml"),
        note: get("note"),
        error: None,
    };
    let refuse = |status: StatusCode, message: String, mut shown: ProposeForm| {
        if text_change {
            shown.error = Some(message);
            page(status, ui_rules::propose_page(&v, &shown, true))
        } else {
            page(status, error_page(Some(&v), status.as_u16(), &message))
        }
    };
    if shown.note.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "A reason is required: reviewers read it.".into(),
            shown,
        );
    }
    let p = Proposal {
        kind,
        rule_id: Some(shown.rule_id.clone()).filter(|r| !r.is_empty()),
        tenant: None,
        yaml: text_change.then(|| shown.yaml.clone()),
        overlay: None,
        note: shown.note.clone(),
    };
    let now = now_ns();
    let res = control(&app, move |c| {
        c.propose_rule_change(&who, &p, &crate::rules::check_rule, now)
    })
    .await;
    match res {
        Ok(ch) => Redirect::to(&format!("/rules/changes/{}", ch.id)).into_response(),
        Err(e) => {
            shown.error = None;
            refuse(e.status, e.message, shown)
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct ChangesQuery {
    status: Option<String>,
}

/// What `who` may do with a change.
fn change_view(who: &Principal, change: RuleChange, old_yaml: Option<String>) -> ChangeView {
    let proposed = change.status == "proposed";
    let is_author = change.author == who.actor();
    let may_review = match &change.tenant {
        Some(t) => who.can(Perm::ApproveRules, t),
        None => who.can_globally(Perm::ApproveRules),
    };
    ChangeView {
        can_approve: proposed && may_review && !is_author,
        can_reject: proposed && may_review && !is_author,
        can_withdraw: proposed && is_author,
        is_author,
        old_yaml,
        change,
    }
}

async fn changes(
    State(app): State<Arc<App>>,
    Query(q): Query<ChangesQuery>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/rules/changes").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !who.can_somewhere(Perm::ReadRules) {
        return forbidden(&v, "read rules");
    }
    let status = match q.status.as_deref() {
        None | Some("") => Some("proposed".to_string()),
        Some("all") => None,
        Some(s) => Some(s.to_string()),
    };
    let st = status.clone();
    let who2 = who.clone();
    match control(&app, move |c| c.rule_changes(&who2, st.as_deref())).await {
        Ok(list) => {
            let views: Vec<ChangeView> = list
                .into_iter()
                .map(|ch| change_view(&who, ch, None))
                .collect();
            page(
                StatusCode::OK,
                ui_rules::changes_page(&v, status.as_deref(), &views),
            )
        }
        Err(e) => failed(&v, &e),
    }
}

/// A change with the text it replaces: the version it was proposed against (or the
/// current text), or for a new rule replacing a folder rule, that rule's file.
async fn load_change(app: &Arc<App>, who: &Principal, id: i64) -> Result<ChangeView, ApiError> {
    let rules = app.rules.load_full();
    let who2 = who.clone();
    let (ch, old) = control(app, move |c| {
        let ch = c.rule_change(&who2, id)?;
        let mut old = None;
        if matches!(ch.kind.as_str(), "create" | "edit") {
            if let Some((rule, versions)) = c.stored_rule(&ch.rule_id)? {
                old = versions
                    .iter()
                    .find(|v| Some(v.version) == ch.base_version)
                    .map(|v| v.yaml.clone())
                    .or(Some(rule.yaml))
                    .filter(|y| !y.is_empty());
            }
            if old.is_none() {
                let loaded = rules
                    .engine
                    .rules()
                    .iter()
                    .find(|r| rule_id(r) == ch.rule_id)
                    .cloned();
                old = rule_text(loaded.as_deref(), None);
            }
        }
        Ok((ch, old))
    })
    .await?;
    Ok(change_view(who, ch, old))
}

fn no_such_change(v: &Viewer) -> Response {
    page(
        StatusCode::NOT_FOUND,
        error_page(Some(v), 404, "No such change."),
    )
}

async fn change(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, &format!("/rules/changes/{id}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return no_such_change(&v);
    };
    match load_change(&app, &who, id).await {
        Ok(cv) => page(StatusCode::OK, ui_rules::change_page(&v, &cv, None)),
        Err(e) => failed(&v, &e),
    }
}

/// The change page again, with the control plane's refusal, answered with its status.
async fn refused(app: &Arc<App>, who: &Principal, v: &Viewer, id: i64, e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return failed(v, &e);
    }
    match load_change(app, who, id).await {
        Ok(cv) => page(e.status, ui_rules::change_page(v, &cv, Some(&e.message))),
        Err(_) => failed(v, &e),
    }
}

async fn review(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/rules/changes").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return no_such_change(&v);
    };
    if !who.can_somewhere(Perm::ApproveRules) {
        return forbidden(&v, "review rule changes");
    }
    let (f, _) = form(&body);
    let approve = match f.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                error_page(Some(&v), 400, "Choose approve or reject."),
            );
        }
    };
    let note = f.get("note").cloned().unwrap_or_default();
    let now = now_ns();
    let who2 = who.clone();
    let res = control(&app, move |c| {
        c.review_rule_change(&who2, id, approve, &note, &crate::rules::check_rule, now)
    })
    .await;
    match res {
        Ok(ch) => {
            crate::desk::go_live(&app, &ch, approve).await;
            Redirect::to(&format!("/rules/changes/{id}")).into_response()
        }
        Err(e) => refused(&app, &who, &v, id, e).await,
    }
}

async fn withdraw(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (who, v) = match viewer(&app, &headers, None, "/rules/changes").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return no_such_change(&v);
    };
    if !who.can_somewhere(Perm::ProposeRules) {
        return forbidden(&v, "withdraw rule changes");
    }
    let now = now_ns();
    let who2 = who.clone();
    match control(&app, move |c| c.withdraw_rule_change(&who2, id, now)).await {
        Ok(()) => Redirect::to(&format!("/rules/changes/{id}")).into_response(),
        Err(e) => refused(&app, &who, &v, id, e).await,
    }
}
