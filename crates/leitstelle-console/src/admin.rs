//! The admin page: users and their roles per tenant, API tokens, the sources sending
//! events and their health, the server's own state, and the latest audit records.

use leitstelle_control::{AuditRecord, Role, TokenInfo, User};
use maud::{Markup, html};

use crate::{Viewer, csrf_field, duration, layout, time};

/// A source silent for longer than this is flagged.
pub const SILENT_AFTER_SECS: i64 = 15 * 60;
/// A source whose share of unparseable records is above this is flagged (percent).
pub const FAILING_PERCENT: f64 = 5.0;

/// What one source sent for one tenant (from the server's intake counters).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceHealth {
    pub source: String,
    pub tenant: String,
    pub received: u64,
    pub parsed: u64,
    pub failed: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Records per second over the last five whole minutes.
    pub rate_5m: f64,
}

impl SourceHealth {
    /// `ok`, `silent` (nothing for [`SILENT_AFTER_SECS`]) or `failing` (more than
    /// [`FAILING_PERCENT`] of records unparseable).
    pub fn state(&self, now_ns: i64) -> &'static str {
        if self.received > 0 && self.failed as f64 * 100.0 / self.received as f64 > FAILING_PERCENT
        {
            "failing"
        } else if (now_ns - self.last_ns) / 1_000_000_000 > SILENT_AFTER_SECS {
            "silent"
        } else {
            "ok"
        }
    }
}

/// The server's own state.
#[derive(Clone, Debug, Default)]
pub struct ServerState {
    pub version: String,
    pub rules_loaded: u64,
    pub rule_diagnostics: usize,
    /// Records received but not yet through detection.
    pub journal_lag: i64,
    /// Events not yet searchable.
    pub store_lag: i64,
    pub store_errors: u64,
    /// Stored events and bytes per tenant.
    pub store: Vec<(String, u64, u64)>,
}

/// Everything the admin page shows.
#[derive(Clone, Debug, Default)]
pub struct AdminView {
    pub users: Vec<User>,
    pub tokens: Vec<TokenInfo>,
    pub sources: Vec<SourceHealth>,
    pub server: ServerState,
    pub audit: Vec<AuditRecord>,
    /// Tenants the viewer administers (for the forms).
    pub tenants: Vec<String>,
    /// A token just created: shown once.
    pub new_secret: Option<(String, String)>,
}

fn role_select(name: &str) -> Markup {
    html! {
        select name=(name) aria-label="Role" {
            @for r in Role::NAMES { option value=(r) selected[*r == "tier1"] { (r) } }
        }
    }
}

fn tenant_select(v: &AdminView) -> Markup {
    html! {
        select name="tenant" aria-label="Tenant" {
            @for t in &v.tenants { option value=(t) { (t) } }
        }
    }
}

/// `/admin`.
pub fn admin_page(v: &Viewer, d: &AdminView, now_ns: i64) -> Markup {
    let body = html! {
        h1 { "Administration" }
        @if let Some((label, secret)) = &d.new_secret {
            section.call role="alert" {
                h2 { "New token " (label) }
                p { "Copy it now: it is shown only once." }
                pre.secret { code { (secret) } }
            }
        }
        nav.toc aria-label="Sections" {
            a href="#sources" { "Sources" } " · " a href="#users" { "Users" } " · "
            a href="#tokens" { "Tokens" } " · " a href="#server" { "Server" } " · " a href="#audit" { "Audit log" }
        }
        section #sources aria-label="Sources" {
            h2 { "Sources and their health" }
            @if d.sources.is_empty() {
                p.muted { "Nothing received since the server started." }
            } @else {
                table.list {
                    thead { tr {
                        th { "Source" } th { "Tenant" } th { "State" } th { "Received" } th { "Parsed" }
                        th { "Unparseable" } th { "Rate (5 min)" } th { "Last record" }
                    } }
                    tbody {
                        @for s in &d.sources {
                            @let state = s.state(now_ns);
                            tr class={ "source source-" (state) } {
                                td { (s.source) }
                                td.tenant { (s.tenant) }
                                td { span class={ "health health-" (state) } { (state) } }
                                td.num { (s.received) }
                                td.num { (s.parsed) }
                                td.num { (s.failed) }
                                td.num { (format!("{:.1}/s", s.rate_5m)) }
                                td { (time(s.last_ns)) " UTC (" (duration((now_ns - s.last_ns) / 1_000_000_000)) " ago)" }
                            }
                        }
                    }
                }
                p.hint { "Counted since the server started. Silent: nothing for " (duration(SILENT_AFTER_SECS)) "; failing: more than " (FAILING_PERCENT) "% unparseable (kept in the dead-letter store)." }
            }
        }
        section #users aria-label="Users" {
            h2 { "Users" }
            table.list {
                thead { tr { th { "User" } th { "Belongs to" } th { "Roles" } th { "State" } } }
                tbody {
                    @for u in &d.users {
                        tr {
                            td { (u.name) @if !u.display_name.is_empty() { " (" (u.display_name) ")" } }
                            td.tenant { (u.tenant) }
                            td { @for (t, r) in &u.roles { span.grant { (r.as_str()) " @ " (t) } " " } }
                            td {
                                @if u.disabled { "disabled" }
                                @else if u.locked_until_ns > now_ns { "locked until " (time(u.locked_until_ns)) }
                                @else { "active" }
                            }
                        }
                    }
                }
            }
            @if !d.tenants.is_empty() {
                div.admin-forms {
                    form.stack method="post" action="/admin/users" {
                        h3 { "New user" }
                        (csrf_field(v))
                        label { "Name " input name="name" required maxlength="64" autocomplete="off"; }
                        label { "Password (12 characters or more) " input name="password" type="password" required minlength="12" autocomplete="new-password"; }
                        label { "Belongs to " (tenant_select(d)) }
                        label { "Role there " (role_select("role")) }
                        button type="submit" { "Create user" }
                    }
                    form.stack method="post" action="/admin/roles" {
                        h3 { "Grant or take a role" }
                        (csrf_field(v))
                        label { "User " input name="user" required maxlength="64"; }
                        label { "Tenant " (tenant_select(d)) }
                        label { "Role " (role_select("role")) }
                        label.check { input type="radio" name="grant" value="1" checked; " grant" }
                        label.check { input type="radio" name="grant" value="0"; " take away" }
                        button type="submit" { "Apply" }
                    }
                }
            }
        }
        section #tokens aria-label="Tokens" {
            h2 { "API tokens" }
            table.list {
                thead { tr { th { "Id" } th { "Tenant" } th { "Role" } th { "Label" } th { "Starts with" } th { "Created" } th { "" } } }
                tbody {
                    @for t in &d.tokens {
                        tr {
                            td { (t.id) }
                            td.tenant { (t.tenant) }
                            td { (t.role.as_str()) }
                            td { (t.label) }
                            td { code { (t.prefix) "…" } }
                            td { (time(t.created_ns)) }
                            td {
                                @if let Some(r) = t.revoked_ns { "revoked " (time(r)) }
                                @else {
                                    form.inline method="post" action={ "/admin/tokens/" (t.id) "/revoke" } {
                                        (csrf_field(v))
                                        button type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !d.tenants.is_empty() {
                form.inline method="post" action="/admin/tokens" {
                    (csrf_field(v))
                    label { "Tenant " (tenant_select(d)) }
                    label { "Role " (role_select("role")) }
                    label { "Label " input name="label" required maxlength="200" placeholder="winlogbeat-dc01" pattern="[A-Za-z0-9_.-]{1,64}"; }
                    button type="submit" { "Create token" }
                }
            }
        }
        section #server aria-label="Server" {
            h2 { "Server" }
            dl.facts {
                dt { "Version" } dd { (d.server.version) }
                dt { "Rules loaded" } dd { (d.server.rules_loaded) @if d.server.rule_diagnostics > 0 { " (" (d.server.rule_diagnostics) " could not be used)" } }
                dt { "Waiting for detection" } dd { (d.server.journal_lag) " records" }
                dt { "Waiting to be searchable" } dd { (d.server.store_lag) " events" }
                dt { "Store errors" } dd { (d.server.store_errors) }
            }
            @if !d.server.store.is_empty() {
                table.list {
                    thead { tr { th { "Tenant" } th { "Stored events" } th { "Bytes" } } }
                    tbody { @for (t, n, b) in &d.server.store { tr { td.tenant { (t) } td.num { (n) } td.num { (b) } } } }
                }
            }
        }
        section #audit aria-label="Audit log" {
            h2 { "Audit log (latest " (d.audit.len()) ")" }
            table.list.history {
                thead { tr { th { "When (UTC)" } th { "Chain" } th { "Who" } th { "What" } th { "Target" } } }
                tbody {
                    @for a in &d.audit {
                        tr {
                            td { (time(a.at_ns)) }
                            td { (a.tenant.as_deref().unwrap_or("system")) " #" (a.seq) }
                            td { (a.actor) }
                            td { (a.action) }
                            td { (a.target) }
                        }
                    }
                }
            }
        }
    };
    layout("Administration", "/admin", Some(v), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn source_states() {
        let s = SourceHealth {
            received: 100,
            parsed: 100,
            last_ns: 1000 * S,
            ..SourceHealth::default()
        };
        assert_eq!(s.state(1000 * S + 60 * S), "ok");
        assert_eq!(s.state(1000 * S + SILENT_AFTER_SECS * S + S), "silent");
        let s = SourceHealth {
            failed: 6,
            parsed: 94,
            ..s
        };
        assert_eq!(s.state(1000 * S), "failing");
    }

    #[test]
    fn admin_page_escapes_and_shows_a_new_secret_once() {
        let v = Viewer {
            name: "root".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "tok".into(),
            can_triage: true,
        };
        let evil = "<script>alert(1)</script>";
        let d = AdminView {
            sources: vec![SourceHealth {
                source: evil.into(),
                tenant: "acme".into(),
                received: 1,
                parsed: 1,
                ..SourceHealth::default()
            }],
            tokens: vec![TokenInfo {
                id: 4,
                tenant: "acme".into(),
                role: Role::Ingest,
                label: evil.into(),
                prefix: "lst_ab".into(),
                created_ns: 0,
                revoked_ns: None,
            }],
            tenants: vec!["acme".into()],
            new_secret: Some(("dc01".into(), "lst_secret".into())),
            ..AdminView::default()
        };
        let page = admin_page(&v, &d, 0).into_string();
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("lst_secret"));
        assert!(page.contains("action=\"/admin/tokens/4/revoke\""));
        assert!(page.contains("action=\"/admin/users\""));
    }
}
