//! Per tenant, the responsibility matrix (who triages, who takes escalations, who approves
//! which kind of response action) and the emergency contacts with the escalation plan per
//! severity: kept as one validated document per tenant.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::append;
use crate::auth::require;
use crate::authz::{Perm, Principal};
use crate::db::{Conn, params};
use crate::triage::level_rank;
use crate::{Control, ControlError, Result, tenant_id};

/// An emergency contact.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    /// What they are (`CISO`, `IT on call`).
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    /// When to call (`24/7`, `Mon-Fri 08:00-18:00 CET`).
    #[serde(default)]
    pub hours: String,
}

/// Who may approve one kind of response action (isolating a host, disabling an account).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub action: String,
    /// Teams or people.
    pub approvers: Vec<String>,
}

/// A tenant's responsibility matrix and escalation plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desk {
    /// Who triages this tenant's alerts (for example `provider tier1`).
    #[serde(default)]
    pub triage: String,
    /// Who takes escalations (for example `acme incident response`); alerts escalated
    /// without a named team go here. Empty: `tier2`.
    #[serde(default)]
    pub escalation: String,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Per severity level, the contacts to call, in order (names from `contacts`).
    #[serde(default)]
    pub escalation_plan: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub notes: String,
}

impl Desk {
    /// Checks the document: contact names unique and non-empty, the plan names known
    /// levels and contacts.
    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.contacts {
            if c.name.trim().is_empty() {
                return Err(ControlError::Invalid("a contact has no name".into()));
            }
            if !names.insert(c.name.as_str()) {
                return Err(ControlError::Invalid(format!(
                    "contact `{}` is listed twice",
                    c.name
                )));
            }
        }
        for (level, who) in &self.escalation_plan {
            if level_rank(level).is_none() {
                return Err(ControlError::Invalid(format!(
                    "escalation plan: unknown level `{level}`"
                )));
            }
            if let Some(n) = who.iter().find(|n| !names.contains(n.as_str())) {
                return Err(ControlError::Invalid(format!(
                    "escalation plan for {level}: no contact named `{n}`"
                )));
            }
        }
        let size = serde_json::to_string(self).map_or(0, |s| s.len());
        if size > crate::triage::MAX_TEXT * 4 {
            return Err(ControlError::Invalid("the document is too large".into()));
        }
        Ok(())
    }

    /// The team escalations go to: the matrix's, or `tier2` when it names none.
    pub fn escalation_team(&self) -> String {
        if self.escalation.trim().is_empty() {
            "tier2".into()
        } else {
            self.escalation.clone()
        }
    }

    /// Whom to call now for an alert of `level`: the plan's contacts for that level, or for
    /// the nearest more severe level that has a plan, in order.
    pub fn call_list(&self, level: &str) -> Vec<Contact> {
        let rank = level_rank(level).unwrap_or(0);
        let plan = crate::triage::LEVELS
            .iter()
            .skip(rank as usize)
            .find_map(|l| self.escalation_plan.get(*l));
        plan.into_iter()
            .flatten()
            .filter_map(|n| self.contacts.iter().find(|c| &c.name == n).cloned())
            .collect()
    }
}

fn load(c: &mut dyn Conn, tenant: &str) -> Result<Desk> {
    let tid = tenant_id(c, tenant)?;
    match c.query_opt(
        "SELECT doc FROM tenant_desk WHERE tenant_id = $1",
        params![tid],
    )? {
        None => Ok(Desk::default()),
        Some(r) => serde_json::from_str(&r.text(0)?).map_err(|e| ControlError::Corrupt {
            column: "tenant_desk.doc",
            detail: e.to_string(),
        }),
    }
}

/// The team a tenant's escalations go to.
pub(crate) fn escalation_team(c: &mut dyn Conn, tenant: &str) -> Result<String> {
    Ok(load(c, tenant)?.escalation_team())
}

impl Control {
    /// A tenant's responsibility matrix and contacts (empty until set).
    pub fn desk(&self, who: &Principal, tenant: &str) -> Result<Desk> {
        if !who.can(Perm::ReadDesk, tenant) {
            return Err(ControlError::NotFound(format!("tenant `{tenant}`")));
        }
        self.read(|c| load(c, tenant))
    }

    /// Replaces a tenant's responsibility matrix and contacts. Needs `manage desk`.
    pub fn set_desk(&self, who: &Principal, tenant: &str, desk: &Desk, now_ns: i64) -> Result<()> {
        require(who, Perm::ManageDesk, tenant)?;
        desk.validate()?;
        let doc = serde_json::to_string(desk).map_err(|e| ControlError::Invalid(e.to_string()))?;
        self.write(|c| {
            let tid = tenant_id(c, tenant)?;
            c.execute(
                "INSERT INTO tenant_desk (tenant_id, doc, updated_ns, updated_by)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id) DO UPDATE SET doc = excluded.doc,
                   updated_ns = excluded.updated_ns, updated_by = excluded.updated_by",
                params![tid, &doc, now_ns, who.actor()],
            )?;
            append(
                c,
                tid,
                now_ns,
                &who.actor(),
                "desk.set",
                tenant,
                &json!({"contacts": desk.contacts.len(), "escalation": desk.escalation}),
            )
        })
    }
}
