//! Triage: the alert state machine, assignment, severity, comments, the history every change
//! leaves, SLA clocks, and the MTTA / MTTR figures that follow from the history.
//!
//! States: `new` → `acknowledged` → `in_progress` → `escalated` → `closed` (with a verdict
//! and a reason); steps may be skipped forward, an escalated alert goes back to
//! `in_progress` when the responder takes it, a closed one is reopened to `in_progress`.
//! Every change of state, owner, severity, verdict or escalation team is one history row
//! (who, when, old, new) and one audit record, in the same transaction as the change.

use std::collections::BTreeMap;

use serde_json::json;

use crate::alerts::{Alert, Status, alert_by_id};
use crate::audit::append;
use crate::auth::require;
use crate::authz::{Perm, Principal};
use crate::db::{Conn, params};
use crate::{Control, ControlError, Result};

/// Sigma levels, by rank (the alert's `level_rank` is the index).
pub const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// The rank of a level name.
pub fn level_rank(level: &str) -> Option<i64> {
    LEVELS.iter().position(|l| *l == level).map(|i| i as i64)
}

/// How a closed alert was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    TruePositive,
    Benign,
    FalsePositive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TruePositive => "true_positive",
            Verdict::Benign => "benign",
            Verdict::FalsePositive => "false_positive",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Some(match s {
            "true_positive" => Verdict::TruePositive,
            "benign" => Verdict::Benign,
            "false_positive" => Verdict::FalsePositive,
            _ => return None,
        })
    }
}

/// One thing an analyst does to an alert.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum TriageAction {
    /// `new` → `acknowledged` (and takes the alert if nobody has it).
    Acknowledge,
    /// → `in_progress` (from `new`, `acknowledged` or `escalated`; takes the alert).
    Start,
    /// → `escalated`, to `to` or else the team the tenant's responsibility matrix names.
    Escalate {
        #[serde(default)]
        to: Option<String>,
        #[serde(default)]
        note: String,
    },
    /// → `closed`, with a verdict and a reason (both required).
    Close {
        verdict: Verdict,
        reason: String,
    },
    /// `closed` → `in_progress`, with a reason.
    Reopen {
        reason: String,
    },
    /// Gives the alert to a user (who must be able to triage in its tenant), or to nobody.
    Assign {
        #[serde(default)]
        user: Option<String>,
    },
    /// Changes the severity (a Sigma level name).
    Severity {
        level: String,
    },
    Comment {
        body: String,
    },
}

impl TriageAction {
    fn verb(&self) -> &'static str {
        match self {
            TriageAction::Acknowledge => "acknowledge",
            TriageAction::Start => "start",
            TriageAction::Escalate { .. } => "escalate",
            TriageAction::Close { .. } => "close",
            TriageAction::Reopen { .. } => "reopen",
            TriageAction::Assign { .. } => "assign",
            TriageAction::Severity { .. } => "severity",
            TriageAction::Comment { .. } => "comment",
        }
    }
}

/// One change in an alert's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub at_ns: i64,
    pub actor: String,
    /// `status`, `assignee`, `severity`, `verdict`, `escalated_to`, `case`.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub note: String,
}

/// A comment on an alert or case.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Comment {
    pub id: i64,
    pub at_ns: i64,
    pub author: String,
    pub body: String,
}

/// Comments of an alert or a case (`table` is `alert_comments` or `case_comments`, `key`
/// its id column), oldest first.
pub(crate) fn comments(c: &mut dyn Conn, table: &str, key: &str, id: i64) -> Result<Vec<Comment>> {
    c.query(
        &format!("SELECT id, at_ns, author, body FROM {table} WHERE {key} = $1 ORDER BY id"),
        params![id],
    )?
    .iter()
    .map(|r| {
        Ok(Comment {
            id: r.int(0)?,
            at_ns: r.int(1)?,
            author: r.text(2)?,
            body: r.text(3)?,
        })
    })
    .collect()
}

/// The longest comment, reason or note accepted.
pub const MAX_TEXT: usize = 64 * 1024;

pub(crate) fn check_text(what: &str, text: &str, required: bool) -> Result<()> {
    if required && text.trim().is_empty() {
        return Err(ControlError::Invalid(format!("{what} is required")));
    }
    if text.len() > MAX_TEXT {
        return Err(ControlError::Invalid(format!(
            "{what} is longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn history(
    c: &mut dyn Conn,
    alert: i64,
    at_ns: i64,
    actor: &str,
    field: &str,
    (old, new): (Option<&str>, Option<&str>),
    note: &str,
) -> Result<()> {
    c.execute(
        "INSERT INTO alert_history (alert_id, at_ns, actor, field, old_value, new_value, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![alert, at_ns, actor, field, old, new, note],
    )?;
    Ok(())
}

/// Whether `user` may triage in `tenant` (so an alert may be assigned to them).
fn can_triage(c: &mut dyn Conn, user: &str, tenant: &str) -> Result<bool> {
    let Some(r) = c.query_opt(
        "SELECT id FROM users WHERE name = $1 AND disabled = 0",
        params![user],
    )?
    else {
        return Ok(false);
    };
    let uid = r.int(0)?;
    Ok(crate::auth::principal_by_id(c, uid)?.is_some_and(|p| p.can(Perm::Triage, tenant)))
}

/// Applies one action to one alert, in the caller's transaction.
pub(crate) fn apply_action(
    c: &mut dyn Conn,
    who: &Principal,
    id: i64,
    action: &TriageAction,
    now_ns: i64,
) -> Result<Alert> {
    let a = alert_by_id(c, id)?
        .filter(|a| who.can(Perm::ReadAlerts, &a.tenant))
        .ok_or_else(|| ControlError::NotFound(format!("alert {id}")))?;
    require(who, Perm::Triage, &a.tenant)?;
    let actor = who.actor();
    let tenant_id = crate::audit::chain_of(c, &a.tenant)?;
    let conflict = |what: &str| {
        Err(ControlError::Conflict(format!(
            "alert {id} is {}: cannot {what}",
            a.status.as_str()
        )))
    };
    let set_status = |c: &mut dyn Conn, to: Status, note: &str| -> Result<()> {
        history(
            c,
            id,
            now_ns,
            &actor,
            "status",
            (Some(a.status.as_str()), Some(to.as_str())),
            note,
        )?;
        c.execute(
            "UPDATE alerts SET status = $2, updated_ns = $3,
               ack_ns = CASE WHEN ack_ns IS NULL THEN $3 ELSE ack_ns END
             WHERE id = $1",
            params![id, to.as_str(), now_ns],
        )?;
        Ok(())
    };
    let take = |c: &mut dyn Conn| -> Result<()> {
        if a.assignee.is_none() && who.user_id().is_some() {
            history(c, id, now_ns, &actor, "assignee", (None, Some(&actor)), "")?;
            c.execute(
                "UPDATE alerts SET assignee = $2 WHERE id = $1",
                params![id, &actor],
            )?;
        }
        Ok(())
    };
    let mut detail = json!({"from": a.status.as_str()});
    match action {
        TriageAction::Acknowledge => {
            if a.status != Status::New {
                return conflict("acknowledge");
            }
            set_status(c, Status::Acknowledged, "")?;
            take(c)?;
        }
        TriageAction::Start => {
            if !matches!(
                a.status,
                Status::New | Status::Acknowledged | Status::Escalated
            ) {
                return conflict("start work");
            }
            set_status(c, Status::InProgress, "")?;
            take(c)?;
        }
        TriageAction::Escalate { to, note } => {
            check_text("note", note, false)?;
            if matches!(a.status, Status::Escalated | Status::Closed) {
                return conflict("escalate");
            }
            let team = match to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                Some(t) => t.to_string(),
                None => crate::desk::escalation_team(c, &a.tenant)?,
            };
            check_text("team", &team, true)?;
            set_status(c, Status::Escalated, note)?;
            history(
                c,
                id,
                now_ns,
                &actor,
                "escalated_to",
                (a.escalated_to.as_deref(), Some(&team)),
                note,
            )?;
            c.execute(
                "UPDATE alerts SET escalated_to = $2, escalated_ns = $3 WHERE id = $1",
                params![id, &team, now_ns],
            )?;
            detail["to"] = json!(team);
        }
        TriageAction::Close { verdict, reason } => {
            check_text("reason", reason, true)?;
            if a.status == Status::Closed {
                return conflict("close");
            }
            set_status(c, Status::Closed, reason)?;
            history(
                c,
                id,
                now_ns,
                &actor,
                "verdict",
                (a.verdict.as_deref(), Some(verdict.as_str())),
                reason,
            )?;
            c.execute(
                "UPDATE alerts SET verdict = $2, reason = $3, closed_ns = $4 WHERE id = $1",
                params![id, verdict.as_str(), reason, now_ns],
            )?;
            detail["verdict"] = json!(verdict.as_str());
            detail["reason"] = json!(reason);
        }
        TriageAction::Reopen { reason } => {
            check_text("reason", reason, true)?;
            if a.status != Status::Closed {
                return conflict("reopen");
            }
            set_status(c, Status::InProgress, reason)?;
            history(
                c,
                id,
                now_ns,
                &actor,
                "verdict",
                (a.verdict.as_deref(), None),
                reason,
            )?;
            c.execute(
                "UPDATE alerts SET verdict = NULL, reason = $2 WHERE id = $1",
                params![id, reason],
            )?;
            detail["reason"] = json!(reason);
        }
        TriageAction::Assign { user } => {
            let user = user.as_deref().map(str::trim).filter(|u| !u.is_empty());
            if let Some(u) = user
                && !can_triage(c, u, &a.tenant)?
            {
                return Err(ControlError::Invalid(format!(
                    "`{u}` is not a user who can triage alerts of tenant `{}`",
                    a.tenant
                )));
            }
            if user == a.assignee.as_deref() {
                return Ok(a);
            }
            history(
                c,
                id,
                now_ns,
                &actor,
                "assignee",
                (a.assignee.as_deref(), user),
                "",
            )?;
            c.execute(
                "UPDATE alerts SET assignee = $2, updated_ns = $3 WHERE id = $1",
                params![id, user, now_ns],
            )?;
            detail["assignee"] = json!(user);
        }
        TriageAction::Severity { level } => {
            let rank = level_rank(level)
                .ok_or_else(|| ControlError::Invalid(format!("unknown level `{level}`")))?;
            if *level == a.level {
                return Ok(a);
            }
            history(
                c,
                id,
                now_ns,
                &actor,
                "severity",
                (Some(&a.level), Some(level)),
                "",
            )?;
            c.execute(
                "UPDATE alerts SET level = $2, level_rank = $3, updated_ns = $4 WHERE id = $1",
                params![id, level, rank, now_ns],
            )?;
            detail["level"] = json!(level);
        }
        TriageAction::Comment { body } => {
            check_text("comment", body, true)?;
            c.execute(
                "INSERT INTO alert_comments (alert_id, at_ns, author, body) VALUES ($1, $2, $3, $4)",
                params![id, now_ns, &actor, body],
            )?;
            c.execute(
                "UPDATE alerts SET updated_ns = $2 WHERE id = $1",
                params![id, now_ns],
            )?;
        }
    }
    append(
        c,
        tenant_id,
        now_ns,
        &actor,
        &format!("alert.{}", action.verb()),
        &id.to_string(),
        &detail,
    )?;
    alert_by_id(c, id)?.ok_or_else(|| ControlError::NotFound(format!("alert {id}")))
}

/// An SLA policy: how long an alert of a level may wait for acknowledgement, and for
/// escalation or closing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlaPolicy {
    pub level: String,
    pub ack_secs: i64,
    pub resolve_secs: i64,
}

/// The policies a tenant gets until it sets its own.
pub fn default_sla() -> Vec<SlaPolicy> {
    [
        ("critical", 15 * 60, 4 * 3600),
        ("high", 30 * 60, 8 * 3600),
        ("medium", 4 * 3600, 24 * 3600),
        ("low", 24 * 3600, 72 * 3600),
    ]
    .into_iter()
    .map(|(l, a, r)| SlaPolicy {
        level: l.into(),
        ack_secs: a,
        resolve_secs: r,
    })
    .collect()
}

/// Where an alert stands against its SLA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SlaState {
    /// Acknowledge by then.
    pub ack_due_ns: i64,
    /// Escalate or close by then.
    pub resolve_due_ns: i64,
    /// Acknowledged late, or not yet and already late.
    pub ack_breached: bool,
    pub resolve_breached: bool,
}

const NS: i64 = 1_000_000_000;

/// An alert's SLA state at `now_ns` under `policy`.
pub fn sla_state(a: &Alert, policy: &SlaPolicy, now_ns: i64) -> SlaState {
    let ack_due_ns = a
        .created_ns
        .saturating_add(policy.ack_secs.saturating_mul(NS));
    let resolve_due_ns = a
        .created_ns
        .saturating_add(policy.resolve_secs.saturating_mul(NS));
    let resolved = match (a.escalated_ns, a.closed_ns) {
        (Some(e), Some(c)) => Some(e.min(c)),
        (e, c) => e.or(c),
    };
    SlaState {
        ack_due_ns,
        resolve_due_ns,
        ack_breached: a.ack_ns.unwrap_or(now_ns) > ack_due_ns,
        resolve_breached: resolved.unwrap_or(now_ns) > resolve_due_ns,
    }
}

/// SLA policies of a set of tenants: (tenant, level) → policy, defaults filled in.
pub type SlaMap = BTreeMap<(String, String), SlaPolicy>;

/// An alert's SLA state at `now_ns` under its tenant's policy for its level, if any.
pub fn sla_of(slas: &SlaMap, a: &Alert, now_ns: i64) -> Option<SlaState> {
    slas.get(&(a.tenant.clone(), a.level.clone()))
        .map(|p| sla_state(a, p, now_ns))
}

/// MTTA / MTTR and SLA figures of one group of alerts.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TriageFigures {
    pub alerts: u64,
    pub acknowledged: u64,
    pub closed: u64,
    /// Mean time to acknowledge, seconds (over acknowledged alerts).
    pub mtta_secs: Option<f64>,
    /// Mean time to resolve (close), seconds (over closed alerts).
    pub mttr_secs: Option<f64>,
    pub ack_breaches: u64,
    pub resolve_breaches: u64,
    #[serde(skip)]
    ack_sum: i128,
    #[serde(skip)]
    close_sum: i128,
}

/// MTTA / MTTR per tenant, severity, tier, rule and analyst.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TriageReport {
    pub total: TriageFigures,
    pub by_tenant: BTreeMap<String, TriageFigures>,
    pub by_level: BTreeMap<String, TriageFigures>,
    /// `tier1` (handled without escalation) or `tier2` (escalated).
    pub by_tier: BTreeMap<String, TriageFigures>,
    pub by_rule: BTreeMap<String, TriageFigures>,
    /// By who acknowledged (for MTTA) and who closed (for MTTR).
    pub by_analyst: BTreeMap<String, TriageFigures>,
}

/// What the history says about one alert.
#[derive(Default)]
struct Timeline {
    ack: Option<(i64, String)>,
    close: Option<(i64, String)>,
    escalated: bool,
}

fn timeline(rows: &[HistoryEntry]) -> Timeline {
    let mut t = Timeline::default();
    for h in rows.iter().filter(|h| h.field == "status") {
        if h.old.as_deref() == Some("new") && t.ack.is_none() {
            t.ack = Some((h.at_ns, h.actor.clone()));
        }
        match h.new.as_deref() {
            Some("closed") => t.close = Some((h.at_ns, h.actor.clone())),
            Some("escalated") => t.escalated = true,
            _ if h.old.as_deref() == Some("closed") => t.close = None,
            _ => {}
        }
    }
    t
}

impl TriageFigures {
    fn add(&mut self, created: i64, t: &Timeline, sla: Option<&SlaState>, ack: bool, close: bool) {
        self.alerts += 1;
        if let (true, Some((at, _))) = (ack, &t.ack) {
            self.acknowledged += 1;
            self.ack_sum += i128::from(at - created);
            self.mtta_secs = Some(self.ack_sum as f64 / self.acknowledged as f64 / NS as f64);
        }
        if let (true, Some((at, _))) = (close, &t.close) {
            self.closed += 1;
            self.close_sum += i128::from(at - created);
            self.mttr_secs = Some(self.close_sum as f64 / self.closed as f64 / NS as f64);
        }
        if let Some(s) = sla {
            self.ack_breaches += u64::from(s.ack_breached);
            self.resolve_breaches += u64::from(s.resolve_breached);
        }
    }
}

fn history_rows(c: &mut dyn Conn, alert: i64) -> Result<Vec<HistoryEntry>> {
    c.query(
        "SELECT at_ns, actor, field, old_value, new_value, note FROM alert_history
         WHERE alert_id = $1 ORDER BY id",
        params![alert],
    )?
    .into_iter()
    .map(|r| {
        Ok(HistoryEntry {
            at_ns: r.int(0)?,
            actor: r.text(1)?,
            field: r.text(2)?,
            old: r.opt_text(3)?,
            new: r.opt_text(4)?,
            note: r.text(5)?,
        })
    })
    .collect()
}

impl Control {
    /// Applies an action to an alert `who` may triage; returns the alert as it is now.
    pub fn triage(
        &self,
        who: &Principal,
        id: i64,
        action: &TriageAction,
        now_ns: i64,
    ) -> Result<Alert> {
        self.write(|c| apply_action(c, who, id, action, now_ns))
    }

    /// Applies one action to many alerts, each on its own (one failing does not stop the
    /// others); returns each alert's outcome.
    pub fn triage_bulk(
        &self,
        who: &Principal,
        ids: &[i64],
        action: &TriageAction,
        now_ns: i64,
    ) -> Result<Vec<(i64, Result<Alert>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let r = self.write(|c| apply_action(c, who, id, action, now_ns));
            match r {
                Err(e @ (ControlError::Sql(_) | ControlError::Pg(_))) => return Err(e),
                r => out.push((id, r)),
            }
        }
        Ok(out)
    }

    /// An alert's history, oldest first (if `who` may read the alert).
    pub fn alert_history(&self, who: &Principal, id: i64) -> Result<Vec<HistoryEntry>> {
        self.read(|c| {
            alert_by_id(c, id)?
                .filter(|a| who.can(Perm::ReadAlerts, &a.tenant))
                .ok_or_else(|| ControlError::NotFound(format!("alert {id}")))?;
            history_rows(c, id)
        })
    }

    /// An alert's comments, oldest first.
    pub fn alert_comments(&self, who: &Principal, id: i64) -> Result<Vec<Comment>> {
        self.read(|c| {
            alert_by_id(c, id)?
                .filter(|a| who.can(Perm::ReadAlerts, &a.tenant))
                .ok_or_else(|| ControlError::NotFound(format!("alert {id}")))?;
            comments(c, "alert_comments", "alert_id", id)
        })
    }

    /// Sets a tenant's SLA policies (replacing them all). Needs `manage desk`.
    pub fn set_sla(
        &self,
        who: &Principal,
        tenant: &str,
        policies: &[SlaPolicy],
        now_ns: i64,
    ) -> Result<()> {
        require(who, Perm::ManageDesk, tenant)?;
        for p in policies {
            if level_rank(&p.level).is_none() {
                return Err(ControlError::Invalid(format!(
                    "unknown level `{}`",
                    p.level
                )));
            }
            if p.ack_secs <= 0 || p.resolve_secs <= 0 {
                return Err(ControlError::Invalid("SLA times must be positive".into()));
            }
        }
        self.write(|c| {
            let tid = crate::tenant_id(c, tenant)?;
            c.execute(
                "DELETE FROM sla_policies WHERE tenant_id = $1",
                params![tid],
            )?;
            for p in policies {
                c.execute(
                    "INSERT INTO sla_policies (tenant_id, level, ack_secs, resolve_secs)
                     VALUES ($1, $2, $3, $4)",
                    params![tid, &p.level, p.ack_secs, p.resolve_secs],
                )?;
            }
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "sla.set",
                tenant,
                &serde_json::to_value(policies).unwrap_or_default(),
            )
        })
    }

    /// One alert's SLA state at `now_ns` (its tenant's policy for its level, if any).
    pub fn alert_sla(&self, a: &Alert, now_ns: i64) -> Result<Option<SlaState>> {
        let slas = self.sla_policies(std::slice::from_ref(&a.tenant))?;
        Ok(sla_of(&slas, a, now_ns))
    }

    /// The SLA policies of `tenants` (the defaults where a tenant set none).
    pub fn sla_policies(&self, tenants: &[String]) -> Result<SlaMap> {
        self.read(|c| sla_map(c, tenants))
    }

    /// MTTA / MTTR / SLA figures over the alerts of `tenants` raised in `[from_ns, to_ns)`,
    /// computed from their histories.
    pub fn triage_report(
        &self,
        tenants: &[String],
        from_ns: i64,
        to_ns: i64,
        now_ns: i64,
    ) -> Result<TriageReport> {
        self.read(|c| {
            let slas = sla_map(c, tenants)?;
            let mut report = TriageReport::default();
            let rows = c.query(
                &format!(
                    "SELECT {} FROM alerts a JOIN tenants t ON t.id = a.tenant_id
                     WHERE a.created_ns >= $1 AND a.created_ns < $2 ORDER BY a.id",
                    crate::alerts::ALERT_COLUMNS
                ),
                params![from_ns, to_ns],
            )?;
            for r in rows {
                let a = crate::alerts::alert_row(&r)?;
                if !tenants.contains(&a.tenant) {
                    continue;
                }
                let t = timeline(&history_rows(c, a.id)?);
                let sla = sla_of(&slas, &a, now_ns);
                let sla = sla.as_ref();
                let created = a.created_ns;
                report.total.add(created, &t, sla, true, true);
                for (map, key) in [
                    (&mut report.by_tenant, a.tenant.clone()),
                    (&mut report.by_level, a.level.clone()),
                    (
                        &mut report.by_tier,
                        if t.escalated { "tier2" } else { "tier1" }.to_string(),
                    ),
                    (&mut report.by_rule, a.rule_id.clone()),
                ] {
                    map.entry(key)
                        .or_default()
                        .add(created, &t, sla, true, true);
                }
                let acker = t.ack.as_ref().map(|(_, w)| w.clone());
                let closer = t.close.as_ref().map(|(_, w)| w.clone());
                if let Some(w) = &acker {
                    let same = closer.as_ref() == Some(w);
                    report
                        .by_analyst
                        .entry(w.clone())
                        .or_default()
                        .add(created, &t, None, true, same);
                }
                if let Some(w) = closer.filter(|w| Some(w) != acker.as_ref()) {
                    report
                        .by_analyst
                        .entry(w)
                        .or_default()
                        .add(created, &t, None, false, true);
                }
            }
            Ok(report)
        })
    }

    /// Open alerts past their SLA now, per tenant: (acknowledge breaches, resolve breaches).
    pub fn sla_breaches(&self, now_ns: i64) -> Result<BTreeMap<String, (u64, u64)>> {
        self.read(|c| {
            let tenants: Vec<String> = c
                .query("SELECT name FROM tenants", &[])?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<_>>()?;
            let slas = sla_map(c, &tenants)?;
            let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for r in c.query(
                &format!(
                    "SELECT {} FROM alerts a JOIN tenants t ON t.id = a.tenant_id
                     WHERE a.status != 'closed'",
                    crate::alerts::ALERT_COLUMNS
                ),
                &[],
            )? {
                let a = crate::alerts::alert_row(&r)?;
                if let Some(s) = sla_of(&slas, &a, now_ns) {
                    let e = out.entry(a.tenant).or_default();
                    e.0 += u64::from(s.ack_breached);
                    e.1 += u64::from(s.resolve_breached);
                }
            }
            Ok(out)
        })
    }
}

fn sla_map(c: &mut dyn Conn, tenants: &[String]) -> Result<SlaMap> {
    let mut out = SlaMap::new();
    let mut set: BTreeMap<String, Vec<SlaPolicy>> = BTreeMap::new();
    for r in c.query(
        "SELECT t.name, s.level, s.ack_secs, s.resolve_secs FROM sla_policies s
         JOIN tenants t ON t.id = s.tenant_id",
        &[],
    )? {
        set.entry(r.text(0)?).or_default().push(SlaPolicy {
            level: r.text(1)?,
            ack_secs: r.int(2)?,
            resolve_secs: r.int(3)?,
        });
    }
    for t in tenants {
        let policies = set.remove(t).unwrap_or_else(default_sla);
        for p in policies {
            out.insert((t.clone(), p.level.clone()), p);
        }
    }
    Ok(out)
}
