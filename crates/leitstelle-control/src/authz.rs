//! Roles, permissions and principals: who may do what, in which tenant. Pure: the one table
//! every API endpoint, console page and CLI command asks.

use std::collections::{BTreeMap, BTreeSet};

/// A role a user or token holds in a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May only send events.
    Ingest,
    /// First-line analyst: works the alert queue.
    Tier1,
    /// Incident responder: takes escalations, runs cases.
    Tier2,
    /// Threat hunter: searches, retro-hunts, opens cases.
    Hunter,
    /// Detection engineer: proposes and reviews rule changes, owns suppressions.
    Engineer,
    /// SOC manager: triage, cases, SLAs, responsibility matrix, reports, audit.
    Manager,
    /// The customer: reads its own tenant and approves changes for it.
    Customer,
    /// Everything within its tenants.
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Ingest,
        Role::Tier1,
        Role::Tier2,
        Role::Hunter,
        Role::Engineer,
        Role::Manager,
        Role::Customer,
        Role::Admin,
    ];

    /// Every role name, for messages.
    pub const NAMES: &'static [&'static str] = &[
        "ingest", "tier1", "tier2", "hunter", "engineer", "manager", "customer", "admin",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Tier1 => "tier1",
            Role::Tier2 => "tier2",
            Role::Hunter => "hunter",
            Role::Engineer => "engineer",
            Role::Manager => "manager",
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do `p` in a tenant where it is held.
    pub fn allows(self, p: Perm) -> bool {
        use Perm::*;
        match self {
            Role::Admin => true,
            Role::Ingest => matches!(p, Ingest),
            Role::Tier1 => matches!(
                p,
                ReadAlerts | Triage | ReadCases | Search | ReadRules | ReadDesk | ReadMetrics
            ),
            Role::Tier2 => matches!(
                p,
                ReadAlerts
                    | Triage
                    | ReadCases
                    | WriteCases
                    | Search
                    | Retrohunt
                    | ReadRules
                    | ReadDesk
                    | ReadMetrics
            ),
            Role::Hunter => matches!(
                p,
                ReadAlerts
                    | ReadCases
                    | WriteCases
                    | Search
                    | Retrohunt
                    | ReadRules
                    | ReadDesk
                    | ReadMetrics
            ),
            Role::Engineer => matches!(
                p,
                ReadAlerts
                    | ReadCases
                    | Search
                    | Retrohunt
                    | ReadRules
                    | ProposeRules
                    | ApproveRules
                    | ManageSuppressions
                    | ReadDesk
                    | ReadMetrics
            ),
            Role::Manager => matches!(
                p,
                ReadAlerts
                    | Triage
                    | ReadCases
                    | WriteCases
                    | Search
                    | ReadRules
                    | ApproveRules
                    | ReadDesk
                    | ManageDesk
                    | ReadMetrics
                    | ReadAudit
            ),
            Role::Customer => matches!(
                p,
                ReadAlerts | ReadCases | ReadRules | ApproveRules | ReadDesk | ReadMetrics
            ),
        }
    }

    /// Whether a provider's grant of this role reaches the provider's customers. The
    /// customer role never does: it is the customer's own.
    fn reaches_customers(self) -> bool {
        self != Role::Customer
    }
}

/// Something a principal may be allowed to do in a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Perm {
    /// Send events.
    Ingest,
    /// See alerts, their events and history.
    ReadAlerts,
    /// Acknowledge, assign, comment, escalate, close, reopen, change severity.
    Triage,
    ReadCases,
    /// Open and edit cases: tasks, observables, evidence, comments.
    WriteCases,
    /// Search stored events.
    Search,
    /// Run rules over stored events.
    Retrohunt,
    ReadRules,
    /// Propose a rule change (new, edit, disable, tenant overlay).
    ProposeRules,
    /// Approve or reject someone else's change.
    ApproveRules,
    /// Create and remove suppressions.
    ManageSuppressions,
    /// Read the responsibility matrix, contacts, SLA policies.
    ReadDesk,
    /// Change them.
    ManageDesk,
    /// MTTA / MTTR / SLA figures.
    ReadMetrics,
    /// Read the audit log.
    ReadAudit,
    /// Users, roles, tokens, tenants, scopes.
    Admin,
}

/// What kind of caller a principal is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    User {
        id: i64,
        name: String,
    },
    Token {
        id: i64,
        label: String,
    },
    /// The server itself (detection, retention) and local CLI commands.
    System,
}

/// Who is calling, with every role it holds, per tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The tenant the user or token belongs to.
    pub tenant: String,
    pub tenant_id: i64,
    /// Roles per tenant: the principal's own grants, plus, when its tenant is a provider,
    /// the same roles (except `customer`) in every tenant it is contracted for.
    pub grants: BTreeMap<String, BTreeSet<Role>>,
    /// Whether its tenant is nobody's customer: the operator of the deployment, which may
    /// change what applies to every tenant (global rules).
    pub operator: bool,
    /// Every tenant it holds a role in, sorted.
    pub scope: Vec<String>,
}

impl Principal {
    /// Builds a principal from its own grants and its tenant's customers.
    pub fn new(
        kind: PrincipalKind,
        tenant: String,
        tenant_id: i64,
        own: &[(String, Role)],
        customers_of: &BTreeMap<String, Vec<String>>,
        operator: bool,
    ) -> Principal {
        let mut grants: BTreeMap<String, BTreeSet<Role>> = BTreeMap::new();
        for (t, r) in own {
            grants.entry(t.clone()).or_default().insert(*r);
            if r.reaches_customers()
                && let Some(cs) = customers_of.get(t)
            {
                for c in cs {
                    grants.entry(c.clone()).or_default().insert(*r);
                }
            }
        }
        let scope = grants.keys().cloned().collect();
        Principal {
            kind,
            tenant,
            tenant_id,
            grants,
            operator,
            scope,
        }
    }

    /// The system itself: every permission everywhere.
    pub fn system() -> Principal {
        Principal {
            kind: PrincipalKind::System,
            tenant: String::new(),
            tenant_id: 0,
            grants: BTreeMap::new(),
            operator: true,
            scope: Vec::new(),
        }
    }

    /// The name that goes into histories and the audit log: `alice`, `token:7:winlogbeat`,
    /// `system`.
    pub fn actor(&self) -> String {
        match &self.kind {
            PrincipalKind::User { name, .. } => name.clone(),
            PrincipalKind::Token { id, label } => format!("token:{id}:{label}"),
            PrincipalKind::System => "system".into(),
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self.kind {
            PrincipalKind::User { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_system(&self) -> bool {
        self.kind == PrincipalKind::System
    }

    /// Whether it may do `p` in `tenant`.
    pub fn can(&self, p: Perm, tenant: &str) -> bool {
        self.is_system()
            || self
                .grants
                .get(tenant)
                .is_some_and(|roles| roles.iter().any(|r| r.allows(p)))
    }

    /// Whether it may do `p` for every tenant at once (global rules): it must be the
    /// operator's staff and hold `p` in its own tenant.
    pub fn can_globally(&self, p: Perm) -> bool {
        self.is_system() || (self.operator && self.can(p, &self.tenant))
    }

    /// Whether it may do `p` in at least one tenant.
    pub fn can_somewhere(&self, p: Perm) -> bool {
        self.is_system() || self.grants.values().flatten().any(|r| r.allows(p))
    }

    /// The tenants where it may do `p`, sorted.
    pub fn scope_for(&self, p: Perm) -> Vec<String> {
        self.grants
            .iter()
            .filter(|(_, roles)| roles.iter().any(|r| r.allows(p)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Its roles in `tenant`.
    pub fn roles_in(&self, tenant: &str) -> Vec<Role> {
        self.grants
            .get(tenant)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(own: &[(&str, Role)], customers: &[(&str, &[&str])]) -> Principal {
        let own: Vec<_> = own.iter().map(|(t, r)| (t.to_string(), *r)).collect();
        let customers = customers
            .iter()
            .map(|(p, cs)| (p.to_string(), cs.iter().map(|c| c.to_string()).collect()))
            .collect();
        Principal::new(
            PrincipalKind::User {
                id: 1,
                name: "u".into(),
            },
            own[0].0.clone(),
            1,
            &own,
            &customers,
            true,
        )
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::NAMES.len(), Role::ALL.len());
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn provider_roles_reach_customers_except_the_customer_role() {
        let p = principal(
            &[("mssp", Role::Tier1), ("mssp", Role::Customer)],
            &[("mssp", &["acme", "globex"])],
        );
        assert_eq!(p.scope, ["acme", "globex", "mssp"]);
        assert!(p.can(Perm::Triage, "acme"));
        assert_eq!(p.roles_in("acme"), [Role::Tier1]);
        assert!(!p.can(Perm::Triage, "initech"));
        assert!(!p.can(Perm::ProposeRules, "acme"));
    }

    #[test]
    fn customers_only_read_and_approve() {
        let p = principal(&[("acme", Role::Customer)], &[]);
        for perm in [Perm::ReadAlerts, Perm::ReadCases, Perm::ApproveRules] {
            assert!(p.can(perm, "acme"), "{perm:?}");
        }
        for perm in [
            Perm::Triage,
            Perm::WriteCases,
            Perm::ProposeRules,
            Perm::Admin,
            Perm::Ingest,
            Perm::Search,
        ] {
            assert!(!p.can(perm, "acme"), "{perm:?}");
        }
    }

    #[test]
    fn global_changes_need_the_operator() {
        let mut p = principal(&[("acme", Role::Engineer)], &[]);
        assert!(p.can_globally(Perm::ProposeRules));
        p.operator = false;
        assert!(!p.can_globally(Perm::ProposeRules));
        assert!(p.can(Perm::ProposeRules, "acme"));
        assert!(Principal::system().can_globally(Perm::Admin));
    }
}
