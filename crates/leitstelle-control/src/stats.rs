//! Aggregates for the dashboard: alerts over time by level, open alerts and SLA breaches per
//! tenant, MTTA / MTTR per tenant and tier, the rules that alerted most, and alerts per tag.
//!
//! Everything is counted by the database (`GROUP BY`), so the cost does not grow with the
//! alerts loaded into memory: a dashboard over ten thousand alerts reads a few hundred rows.
//! The figures agree with [`Control::triage_report`] (which walks every alert's history)
//! because they read the columns triage keeps in step with that history: `ack_ns` (when the
//! alert first left `new`), `closed_ns` (when it was last closed, counted while it is
//! closed) and `escalated_ns` (escalated at least once: tier 2). The conformance suite
//! checks the two against each other.
//!
//! SLA breaches follow [`crate::sla_state`]: each tenant's policy per level (the defaults
//! where it set none) becomes a `CASE` over tenant and level in the query.

use std::collections::BTreeMap;

use crate::authz::{Perm, Principal};
use crate::db::Val;
use crate::triage::{LEVELS, SlaMap};
use crate::{Control, ControlError, Result};

/// The longest time series served (buckets).
pub const MAX_BUCKETS: i64 = 1000;

/// Rules listed in [`AlertStats::top_rules`].
pub const TOP_RULES: i64 = 10;

/// What to aggregate: alerts of `tenants` raised in `[from_ns, to_ns)`, in buckets of
/// `bucket_ns`, with SLA clocks read at `now_ns`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsQuery {
    pub tenants: Vec<String>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub bucket_ns: i64,
    pub now_ns: i64,
}

/// Alerts of one level raised in one time bucket.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LevelCount {
    /// The bucket's start (ns since the epoch).
    pub bucket_ns: i64,
    pub level: String,
    pub alerts: u64,
}

/// Open (not closed) alerts of one tenant and level, now, and how many are past their SLA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OpenCount {
    pub tenant: String,
    pub level: String,
    pub alerts: u64,
    /// Not acknowledged in time (late, or not yet and already late).
    pub ack_breached: u64,
    /// Not escalated or closed in time.
    pub resolve_breached: u64,
}

/// MTTA / MTTR and SLA figures of the alerts of one tenant and tier raised in the period.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TierFigures {
    pub tenant: String,
    /// `tier1` (never escalated) or `tier2` (escalated).
    pub tier: String,
    pub alerts: u64,
    pub acknowledged: u64,
    pub closed: u64,
    /// Mean time to acknowledge, seconds (over acknowledged alerts).
    pub mtta_secs: Option<f64>,
    /// Mean time to resolve (close), seconds (over closed alerts).
    pub mttr_secs: Option<f64>,
    pub ack_breaches: u64,
    pub resolve_breaches: u64,
}

/// A rule by the alerts it raised in the period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleCount {
    pub rule_id: String,
    pub title: String,
    pub alerts: u64,
    /// Matches folded into those alerts.
    pub matches: u64,
}

/// The dashboard's aggregates.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AlertStats {
    /// The tenants counted: those asked for where the caller may read metrics.
    pub tenants: Vec<String>,
    /// Alerts raised per bucket and level (only non-empty cells), by bucket.
    pub timeline: Vec<LevelCount>,
    /// Open alerts per tenant and level.
    pub open: Vec<OpenCount>,
    /// Per tenant and tier.
    pub tiers: Vec<TierFigures>,
    /// The rules that raised the most alerts in the period, most first.
    pub top_rules: Vec<RuleCount>,
    /// Alerts raised in the period per tag (an alert counts once for each of its tags).
    pub tags: BTreeMap<String, u64>,
}

/// Query text and parameters being built: `$n` placeholders numbered as values are added.
#[derive(Default)]
struct Sql {
    args: Vec<Val>,
}

impl Sql {
    /// Adds a value; returns its placeholder.
    fn arg(&mut self, v: impl Into<Val>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }

    /// `t.name IN ($1, $2, …)`.
    fn tenants_in(&mut self, tenants: &[String]) -> String {
        let list: Vec<String> = tenants.iter().map(|t| self.arg(t)).collect();
        format!("t.name IN ({})", list.join(", "))
    }
}

/// A `CASE` giving, per alert, the SLA allowance (ns) of its tenant and level, or NULL
/// where no policy applies. Tenant names are parameters; levels are known names and
/// allowances integers, so both are written into the text.
fn allowance(sql: &mut Sql, slas: &SlaMap, ack: bool) -> String {
    let mut by_tenant: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
    for ((tenant, level), p) in slas {
        if !LEVELS.contains(&level.as_str()) {
            continue;
        }
        let secs = if ack { p.ack_secs } else { p.resolve_secs };
        by_tenant
            .entry(tenant)
            .or_default()
            .push((level, secs.saturating_mul(1_000_000_000)));
    }
    if by_tenant.is_empty() {
        return "CAST(NULL AS BIGINT)".into();
    }
    let mut out = String::from("(CASE");
    for (tenant, levels) in by_tenant {
        let t = sql.arg(tenant);
        out.push_str(&format!(" WHEN t.name = {t} THEN CASE a.level"));
        for (level, ns) in levels {
            out.push_str(&format!(" WHEN '{level}' THEN {ns}"));
        }
        out.push_str(" END");
    }
    out.push_str(" END)");
    out
}

/// `1` where the alert breached its acknowledgement SLA at `now`, else `0` (as in
/// [`crate::sla_state`]).
fn ack_breach(allow: &str, now: &str) -> String {
    format!("CASE WHEN COALESCE(a.ack_ns, {now}) - a.created_ns > {allow} THEN 1 ELSE 0 END")
}

/// `1` where the alert breached its resolution SLA (escalate or close) at `now`.
fn resolve_breach(allow: &str, now: &str) -> String {
    format!(
        "CASE WHEN (CASE WHEN a.escalated_ns IS NOT NULL
                      AND (a.closed_ns IS NULL OR a.escalated_ns < a.closed_ns)
                    THEN a.escalated_ns ELSE COALESCE(a.closed_ns, {now}) END)
                   - a.created_ns > {allow} THEN 1 ELSE 0 END"
    )
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn secs(mean_ns: Option<i64>) -> Option<f64> {
    mean_ns.map(|ns| ns as f64 / 1e9)
}

impl Control {
    /// The dashboard's aggregates over `q.tenants` (those where `who` may read metrics;
    /// the others are left out, as if they had no alerts). Refused when `who` may read
    /// metrics nowhere, or the period or bucket is unusable.
    pub fn alert_stats(&self, who: &Principal, q: &StatsQuery) -> Result<AlertStats> {
        if !who.can_somewhere(Perm::ReadMetrics) {
            return Err(ControlError::Forbidden(format!(
                "{} may not read metrics",
                who.actor()
            )));
        }
        if q.bucket_ns <= 0 || q.to_ns <= q.from_ns {
            return Err(ControlError::Invalid(
                "the period must be non-empty and the bucket positive".into(),
            ));
        }
        if (q.to_ns - q.from_ns) / q.bucket_ns >= MAX_BUCKETS {
            return Err(ControlError::Invalid(format!(
                "at most {MAX_BUCKETS} buckets"
            )));
        }
        let mut tenants: Vec<String> = q
            .tenants
            .iter()
            .filter(|t| who.can(Perm::ReadMetrics, t))
            .cloned()
            .collect();
        tenants.sort();
        tenants.dedup();
        let mut out = AlertStats {
            tenants: tenants.clone(),
            ..AlertStats::default()
        };
        if tenants.is_empty() {
            return Ok(out);
        }
        let slas = self.sla_policies(&tenants)?;

        // Alerts over time, by level.
        let mut timeline = Sql::default();
        let (from, bucket) = (timeline.arg(q.from_ns), timeline.arg(q.bucket_ns));
        let to = timeline.arg(q.to_ns);
        let scope = timeline.tenants_in(&tenants);
        let timeline_sql = format!(
            "SELECT (a.created_ns - {from}) / {bucket}, a.level, count(*)
             FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE {scope} AND a.created_ns >= {from} AND a.created_ns < {to}
             GROUP BY 1, 2 ORDER BY 1, 2"
        );

        // Open alerts now, per tenant and level, with breaches.
        let mut open = Sql::default();
        let now = open.arg(q.now_ns);
        let (ack, res) = (
            allowance(&mut open, &slas, true),
            allowance(&mut open, &slas, false),
        );
        let scope = open.tenants_in(&tenants);
        let open_sql = format!(
            "SELECT t.name, a.level, count(*), CAST(sum({}) AS BIGINT), CAST(sum({}) AS BIGINT)
             FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE {scope} AND a.status != 'closed'
             GROUP BY 1, 2 ORDER BY 1, 2",
            ack_breach(&ack, &now),
            resolve_breach(&res, &now)
        );

        // MTTA / MTTR / breaches per tenant and tier, over the alerts raised in the period.
        let mut tiers = Sql::default();
        let now = tiers.arg(q.now_ns);
        let (from, to) = (tiers.arg(q.from_ns), tiers.arg(q.to_ns));
        let (ack, res) = (
            allowance(&mut tiers, &slas, true),
            allowance(&mut tiers, &slas, false),
        );
        let scope = tiers.tenants_in(&tenants);
        let tiers_sql = format!(
            "SELECT t.name,
                CASE WHEN a.escalated_ns IS NULL THEN 'tier1' ELSE 'tier2' END,
                count(*),
                CAST(sum(CASE WHEN a.ack_ns IS NULL THEN 0 ELSE 1 END) AS BIGINT),
                CAST(sum(CASE WHEN a.status = 'closed' THEN 1 ELSE 0 END) AS BIGINT),
                CAST(avg(CASE WHEN a.ack_ns IS NOT NULL THEN a.ack_ns - a.created_ns END)
                     AS BIGINT),
                CAST(avg(CASE WHEN a.status = 'closed' THEN a.closed_ns - a.created_ns END)
                     AS BIGINT),
                CAST(sum({}) AS BIGINT), CAST(sum({}) AS BIGINT)
             FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE {scope} AND a.created_ns >= {from} AND a.created_ns < {to}
             GROUP BY 1, 2 ORDER BY 1, 2",
            ack_breach(&ack, &now),
            resolve_breach(&res, &now)
        );

        // Top rules and tags in the period.
        let mut rules = Sql::default();
        let (from, to) = (rules.arg(q.from_ns), rules.arg(q.to_ns));
        let scope = rules.tenants_in(&tenants);
        let limit = rules.arg(TOP_RULES);
        let rules_sql = format!(
            "SELECT a.rule_id, min(a.rule_title), count(*), CAST(sum(a.count) AS BIGINT)
             FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE {scope} AND a.created_ns >= {from} AND a.created_ns < {to}
             GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT {limit}"
        );
        let mut tags = Sql::default();
        let (from, to) = (tags.arg(q.from_ns), tags.arg(q.to_ns));
        let scope = tags.tenants_in(&tenants);
        let tags_sql = format!(
            "SELECT a.tags, count(*) FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE {scope} AND a.created_ns >= {from} AND a.created_ns < {to}
             GROUP BY 1"
        );

        self.read(|c| {
            for r in c.query(&timeline_sql, &timeline.args)? {
                out.timeline.push(LevelCount {
                    bucket_ns: q
                        .from_ns
                        .saturating_add(r.int(0)?.saturating_mul(q.bucket_ns)),
                    level: r.text(1)?,
                    alerts: count(r.int(2)?),
                });
            }
            for r in c.query(&open_sql, &open.args)? {
                out.open.push(OpenCount {
                    tenant: r.text(0)?,
                    level: r.text(1)?,
                    alerts: count(r.int(2)?),
                    ack_breached: count(r.int(3)?),
                    resolve_breached: count(r.int(4)?),
                });
            }
            for r in c.query(&tiers_sql, &tiers.args)? {
                out.tiers.push(TierFigures {
                    tenant: r.text(0)?,
                    tier: r.text(1)?,
                    alerts: count(r.int(2)?),
                    acknowledged: count(r.int(3)?),
                    closed: count(r.int(4)?),
                    mtta_secs: secs(r.opt_int(5)?),
                    mttr_secs: secs(r.opt_int(6)?),
                    ack_breaches: count(r.int(7)?),
                    resolve_breaches: count(r.int(8)?),
                });
            }
            for r in c.query(&rules_sql, &rules.args)? {
                out.top_rules.push(RuleCount {
                    rule_id: r.text(0)?,
                    title: r.text(1)?,
                    alerts: count(r.int(2)?),
                    matches: count(r.int(3)?),
                });
            }
            for r in c.query(&tags_sql, &tags.args)? {
                let text = r.text(0)?;
                let list: Vec<String> =
                    serde_json::from_str(&text).map_err(|e| ControlError::Corrupt {
                        column: "alerts.tags",
                        detail: e.to_string(),
                    })?;
                let n = count(r.int(1)?);
                let mut seen = std::collections::BTreeSet::new();
                for t in list {
                    let t = t.to_ascii_lowercase();
                    if seen.insert(t.clone()) {
                        *out.tags.entry(t).or_default() += n;
                    }
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}
