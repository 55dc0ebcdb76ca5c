//! Suppressions and the detection gate.
//!
//! A suppression (owned by an engineer, with a reason and an expiry) holds back matches of a
//! tenant, optionally of one rule, whose event fields equal given values (for example: this
//! rule on this host with this parent process). Suppressed matches are counted on the
//! suppression, never alerted. Per-tenant rule overlays (approved rule changes: enable or
//! disable a rule for one tenant, change its level, add exceptions) act at the same point.
//! [`Gate`] is the snapshot of both the detection pipeline consults for every match; it is
//! pure, so the pipeline keeps one and reloads it when [`Control::gate_generation`] moves.
//! Rules disabled for every tenant are dropped here too (they stay compiled), so a tenant's
//! overlay can enable one for itself and disabling needs no recompilation.

use std::collections::HashMap;

use serde_json::json;

use crate::audit::{append, chain_of};
use crate::auth::require;
use crate::authz::{Perm, Principal};
use crate::db::{Conn, Row, params};
use crate::triage::check_text;
use crate::{Control, ControlError, Result, tenant_id};

/// A field condition: the event's field (a Sigma field name, resolved by the event's source
/// profile) has this value, compared without regard to case; `*` matches any run of
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub value: String,
}

impl Condition {
    /// Whether any of the field's values matches.
    pub fn matches(&self, values: &[String]) -> bool {
        let pattern = self.value.to_lowercase();
        values.iter().any(|v| glob(&pattern, &v.to_lowercase()))
    }
}

/// `*` wildcard matching (iterative, linear in practice).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Whether every condition holds (an empty list never holds).
fn all_hold(conds: &[Condition], lookup: &mut dyn FnMut(&str) -> Vec<String>) -> bool {
    !conds.is_empty() && conds.iter().all(|c| c.matches(&lookup(&c.field)))
}

fn check_conditions(conds: &[Condition]) -> Result<()> {
    if conds.len() > 32 {
        return Err(ControlError::Invalid("at most 32 conditions".into()));
    }
    for c in conds {
        if c.field.trim().is_empty() || c.field.len() > 256 || c.value.len() > 4096 {
            return Err(ControlError::Invalid(
                "a condition needs a field name (up to 256 bytes) and a value (up to 4096)".into(),
            ));
        }
    }
    Ok(())
}

/// A suppression.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    pub id: i64,
    pub tenant: String,
    /// Only this rule's matches (`None`: any rule's).
    pub rule_id: Option<String>,
    pub conditions: Vec<Condition>,
    pub owner: String,
    pub reason: String,
    pub created_by: String,
    pub created_ns: i64,
    pub expires_ns: i64,
    pub removed_ns: Option<i64>,
    /// Matches held back so far.
    pub hits: i64,
    pub last_hit_ns: Option<i64>,
}

/// What a new suppression says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    pub tenant: String,
    #[serde(default)]
    pub rule_id: Option<String>,
    pub conditions: Vec<Condition>,
    /// Who answers for it (default: its creator).
    #[serde(default)]
    pub owner: Option<String>,
    pub reason: String,
    pub expires_ns: i64,
}

/// The longest a suppression may run (a year): every one must come up for review.
pub const MAX_SUPPRESSION_NS: i64 = 366 * 24 * 3600 * 1_000_000_000;

/// A tenant's overlay on one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// `Some(false)`: the rule is off for this tenant; `Some(true)`: on even if globally off.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The alert level for this tenant.
    #[serde(default)]
    pub level: Option<String>,
    /// Matches where all conditions of any one exception hold are dropped.
    #[serde(default)]
    pub exceptions: Vec<Vec<Condition>>,
}

impl Overlay {
    pub fn validate(&self) -> Result<()> {
        if let Some(l) = &self.level
            && crate::triage::level_rank(l).is_none()
        {
            return Err(ControlError::Invalid(format!("unknown level `{l}`")));
        }
        for e in &self.exceptions {
            if e.is_empty() {
                return Err(ControlError::Invalid(
                    "an exception needs at least one condition".into(),
                ));
            }
            check_conditions(e)?;
        }
        Ok(())
    }
}

/// What the gate says about a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Raise (or join) an alert, at this level.
    Alert { level: String },
    /// Held back by this suppression.
    Suppressed(i64),
    /// Dropped by the tenant's overlay (rule off for the tenant, or an exception).
    Excluded,
}

/// Suppressions and overlays in force, as the pipeline consults them.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    suppressions: HashMap<String, Vec<Suppression>>,
    /// Tenant → rule id → overlay (nested so a match is looked up without allocating).
    overlays: HashMap<String, HashMap<String, Overlay>>,
    /// Rules disabled for every tenant (a tenant's overlay may enable one for itself).
    disabled: std::collections::HashSet<String>,
    /// The [`Control::gate_generation`] it was read at.
    pub generation: i64,
}

impl Gate {
    /// Decides about a match of `rule_id` (at `level`) in `tenant`; `lookup` gives the
    /// event's values of a Sigma field name.
    pub fn decide(
        &self,
        tenant: &str,
        rule_id: &str,
        level: &str,
        now_ns: i64,
        lookup: &mut dyn FnMut(&str) -> Vec<String>,
    ) -> Decision {
        let mut level = level.to_string();
        let overlay = self
            .overlays
            .get(tenant)
            .and_then(|rules| rules.get(rule_id));
        let enabled = match overlay.and_then(|o| o.enabled) {
            Some(on) => on,
            None => !self.disabled.contains(rule_id),
        };
        if !enabled {
            return Decision::Excluded;
        }
        if let Some(o) = overlay {
            if o.exceptions.iter().any(|e| all_hold(e, lookup)) {
                return Decision::Excluded;
            }
            if let Some(l) = &o.level {
                level = l.clone();
            }
        }
        for s in self.suppressions.get(tenant).into_iter().flatten() {
            if s.expires_ns > now_ns
                && s.rule_id.as_deref().is_none_or(|r| r == rule_id)
                && all_hold(&s.conditions, lookup)
            {
                return Decision::Suppressed(s.id);
            }
        }
        Decision::Alert { level }
    }

    /// Whether any suppression or overlay concerns `tenant` (so the pipeline can skip the
    /// field lookups otherwise).
    pub fn concerns(&self, tenant: &str) -> bool {
        !self.disabled.is_empty()
            || self.suppressions.contains_key(tenant)
            || self.overlays.contains_key(tenant)
    }
}

const SUPPRESSION_COLUMNS: &str = "s.id, t.name, s.rule_id, s.conditions, s.owner, s.reason,
    s.created_by, s.created_ns, s.expires_ns, s.removed_ns, s.hits, s.last_hit_ns
    FROM suppressions s JOIN tenants t ON t.id = s.tenant_id";

fn suppression_row(r: &Row) -> Result<Suppression> {
    Ok(Suppression {
        id: r.int(0)?,
        tenant: r.text(1)?,
        rule_id: r.opt_text(2)?,
        conditions: serde_json::from_str(&r.text(3)?).map_err(|e| ControlError::Corrupt {
            column: "suppressions.conditions",
            detail: e.to_string(),
        })?,
        owner: r.text(4)?,
        reason: r.text(5)?,
        created_by: r.text(6)?,
        created_ns: r.int(7)?,
        expires_ns: r.int(8)?,
        removed_ns: r.opt_int(9)?,
        hits: r.int(10)?,
        last_hit_ns: r.opt_int(11)?,
    })
}

/// Moves the generation the pipeline watches.
pub(crate) fn bump_generation(c: &mut dyn Conn) -> Result<()> {
    crate::bump_counter(c, "gate_generation")
}

pub(crate) fn overlay_rows(c: &mut dyn Conn) -> Result<Vec<(String, String, Overlay)>> {
    c.query(
        "SELECT t.name, o.rule_id, o.enabled, o.level, o.exceptions FROM rule_overlays o
         JOIN tenants t ON t.id = o.tenant_id ORDER BY t.name, o.rule_id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok((
            r.text(0)?,
            r.text(1)?,
            Overlay {
                enabled: r.opt_int(2)?.map(|v| v != 0),
                level: r.opt_text(3)?,
                exceptions: serde_json::from_str(&r.text(4)?).map_err(|e| {
                    ControlError::Corrupt {
                        column: "rule_overlays.exceptions",
                        detail: e.to_string(),
                    }
                })?,
            },
        ))
    })
    .collect()
}

impl Control {
    /// Creates a suppression. Needs `manage suppressions` in the tenant; it must expire
    /// within [`MAX_SUPPRESSION_NS`] and have at least one condition.
    pub fn create_suppression(
        &self,
        who: &Principal,
        new: &NewSuppression,
        now_ns: i64,
    ) -> Result<Suppression> {
        require(who, Perm::ManageSuppressions, &new.tenant)?;
        check_text("reason", &new.reason, true)?;
        if new.conditions.is_empty() {
            return Err(ControlError::Invalid(
                "a suppression needs at least one field condition (to turn a rule off for a \
                 tenant, propose an overlay)"
                    .into(),
            ));
        }
        check_conditions(&new.conditions)?;
        if new.expires_ns <= now_ns || new.expires_ns > now_ns.saturating_add(MAX_SUPPRESSION_NS) {
            return Err(ControlError::Invalid(
                "a suppression must expire in the future, within a year".into(),
            ));
        }
        let owner = new.owner.clone().unwrap_or_else(|| who.actor());
        let conds = serde_json::to_string(&new.conditions)
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        self.write(|c| {
            let tid = tenant_id(c, &new.tenant)?;
            let id = c.insert(
                "INSERT INTO suppressions (tenant_id, rule_id, conditions, owner, reason,
                   created_by, created_ns, expires_ns)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                params![
                    tid,
                    new.rule_id.as_deref(),
                    &conds,
                    &owner,
                    &new.reason,
                    who.actor(),
                    now_ns,
                    new.expires_ns
                ],
            )?;
            bump_generation(c)?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "suppression.create",
                &id.to_string(),
                &json!({"rule_id": new.rule_id, "conditions": new.conditions,
                        "owner": owner, "reason": new.reason, "expires_ns": new.expires_ns}),
            )?;
            c.query_one(
                &format!("SELECT {SUPPRESSION_COLUMNS} WHERE s.id = $1"),
                params![id],
            )
            .and_then(|r| suppression_row(&r))
        })
    }

    /// Ends a suppression early. Returns whether it was in force.
    pub fn remove_suppression(&self, who: &Principal, id: i64, now_ns: i64) -> Result<bool> {
        self.write(|c| {
            let s = c
                .query_opt(
                    &format!("SELECT {SUPPRESSION_COLUMNS} WHERE s.id = $1"),
                    params![id],
                )?
                .as_ref()
                .map(suppression_row)
                .transpose()?
                .filter(|s| who.can(Perm::ReadAlerts, &s.tenant))
                .ok_or_else(|| ControlError::NotFound(format!("suppression {id}")))?;
            require(who, Perm::ManageSuppressions, &s.tenant)?;
            if s.removed_ns.is_some() {
                return Ok(false);
            }
            c.execute(
                "UPDATE suppressions SET removed_ns = $2 WHERE id = $1",
                params![id, now_ns],
            )?;
            bump_generation(c)?;
            let chain = chain_of(c, &s.tenant)?;
            append(
                c,
                chain,
                now_ns,
                &who.actor(),
                "suppression.remove",
                &id.to_string(),
                &json!({}),
            )?;
            Ok(true)
        })
    }

    /// Suppressions of `tenants` (removed ones too), newest first.
    pub fn suppressions(&self, tenants: &[String]) -> Result<Vec<Suppression>> {
        self.read(|c| {
            Ok(c.query(
                &format!("SELECT {SUPPRESSION_COLUMNS} ORDER BY s.id DESC"),
                &[],
            )?
            .iter()
            .map(suppression_row)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|s| tenants.contains(&s.tenant))
            .collect())
        })
    }

    /// The generation of suppressions and overlays: it moves whenever either changes.
    pub fn gate_generation(&self) -> Result<i64> {
        self.read(|c| crate::counter(c, "gate_generation"))
    }

    /// The suppressions in force and every overlay, for the pipeline.
    pub fn gate(&self, now_ns: i64) -> Result<Gate> {
        let generation = self.gate_generation()?;
        self.read(|c| {
            let mut gate = Gate {
                generation,
                ..Gate::default()
            };
            for r in c.query(
                &format!(
                    "SELECT {SUPPRESSION_COLUMNS} WHERE s.removed_ns IS NULL AND s.expires_ns > $1"
                ),
                params![now_ns],
            )? {
                let s = suppression_row(&r)?;
                gate.suppressions
                    .entry(s.tenant.clone())
                    .or_default()
                    .push(s);
            }
            for (t, rule, o) in overlay_rows(c)? {
                gate.overlays.entry(t).or_default().insert(rule, o);
            }
            for r in c.query("SELECT rule_id FROM rules WHERE enabled = 0", &[])? {
                gate.disabled.insert(r.text(0)?);
            }
            Ok(gate)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_case_insensitively_with_stars() {
        let c = |v: &str| Condition {
            field: "f".into(),
            value: v.into(),
        };
        let vals = |v: &str| vec![v.to_string()];
        assert!(c("WS1").matches(&vals("ws1")));
        assert!(!c("ws1").matches(&vals("ws10")));
        assert!(
            c("C:\\Windows\\*\\svchost.exe").matches(&vals("c:\\windows\\system32\\svchost.exe"))
        );
        assert!(c("*").matches(&vals("")));
        assert!(c("a*b*c").matches(&vals("aXbYc")));
        assert!(!c("a*b*c").matches(&vals("aXcYb")));
        assert!(!c("ab*ba").matches(&vals("aba")));
        assert!(!c("x").matches(&[]));
    }
}
