//! The tenants pages: per tenant, the responsibility matrix (who triages, who takes
//! escalations, who approves which response action), the emergency contacts with the
//! escalation plan per severity ("whom to call now"), and the SLA policy; with forms to
//! change them for those who may.

use leitstelle_control::{Approval, Contact, Desk, LEVELS, SlaPolicy};
use maud::{Markup, html};

use crate::alerts::level_badge;
use crate::{Viewer, csrf_field, duration, layout};

/// Blank contact rows the edit form offers for new contacts.
pub const NEW_CONTACT_ROWS: usize = 3;

/// One tenant's desk as the pages show it.
#[derive(Clone, Debug)]
pub struct TenantDesk {
    pub tenant: String,
    pub desk: Desk,
    /// The SLA policy per level (levels without one have no SLA).
    pub sla: Vec<SlaPolicy>,
    /// Whether the viewer may change them.
    pub can_manage: bool,
}

fn contact_line(c: &Contact) -> Markup {
    html! {
        strong { (c.name) }
        @if !c.role.is_empty() { " (" (c.role) ")" }
        @if !c.phone.is_empty() { " · " a href={ "tel:" (c.phone) } { (c.phone) } }
        @if !c.email.is_empty() { " · " a href={ "mailto:" (c.email) } { (c.email) } }
        @if !c.hours.is_empty() { " · " (c.hours) }
    }
}

/// The levels, most severe first.
fn levels() -> impl Iterator<Item = &'static str> {
    LEVELS.iter().rev().copied()
}

fn summary(t: &TenantDesk, heading_link: bool) -> Markup {
    let d = &t.desk;
    html! {
        article.tenant-desk data-tenant=(t.tenant) {
            h2 {
                @if heading_link { a href={ "/tenants/" (t.tenant) } { (t.tenant) } } @else { (t.tenant) }
            }
            dl.facts {
                dt { "Triage" } dd { (if d.triage.is_empty() { "—" } else { &d.triage }) }
                dt { "Escalations go to" } dd { (d.escalation_team()) }
            }
            h3 { "Whom to call" }
            @if d.escalation_plan.is_empty() {
                p.muted { "No escalation plan." }
            } @else {
                table.list.plan {
                    thead { tr { th { "Level" } th { "Call, in order" } } }
                    tbody {
                        @for level in levels() {
                            @let calls = d.call_list(level);
                            @if !calls.is_empty() {
                                tr {
                                    td { (level_badge(level)) }
                                    td { ol.calls { @for c in &calls { li { (contact_line(c)) } } } }
                                }
                            }
                        }
                    }
                }
            }
            @if !d.contacts.is_empty() {
                details {
                    summary { "All contacts (" (d.contacts.len()) ")" }
                    ul { @for c in &d.contacts { li { (contact_line(c)) } } }
                }
            }
            @if !d.approvals.is_empty() {
                h3 { "Who approves response actions" }
                table.list {
                    thead { tr { th { "Action" } th { "Approvers" } } }
                    tbody { @for a in &d.approvals { tr { td { (a.action) } td { (a.approvers.join(", ")) } } } }
                }
            }
            h3 { "SLA" }
            @if t.sla.is_empty() { p.muted { "No SLA." } } @else {
                table.list.sla-policy {
                    thead { tr { th { "Level" } th { "Acknowledge within" } th { "Escalate or close within" } } }
                    tbody {
                        @for level in levels() {
                            @if let Some(p) = t.sla.iter().find(|p| p.level == level) {
                                tr { td { (level_badge(level)) } td { (duration(p.ack_secs)) } td { (duration(p.resolve_secs)) } }
                            }
                        }
                    }
                }
            }
            @if !d.notes.is_empty() { h3 { "Notes" } p.description { (d.notes) } }
        }
    }
}

/// `/tenants`: every tenant in view.
pub fn list_page(v: &Viewer, tenants: &[TenantDesk]) -> Markup {
    let body = html! {
        h1 { "Tenants and contacts" }
        @if tenants.is_empty() { p.muted { "No tenant in view." } }
        div.tenant-grid {
            @for t in tenants { (summary(t, true)) }
        }
    };
    layout("Tenants", "/tenants", Some(v), body)
}

/// `/tenants/{tenant}`: one tenant, with the edit forms when the viewer may manage it.
pub fn tenant_page(v: &Viewer, t: &TenantDesk) -> Markup {
    let d = &t.desk;
    let base = format!("/tenants/{}", t.tenant);
    let body = html! {
        nav.crumbs { a href="/tenants" { "Tenants" } " / " (t.tenant) }
        (summary(t, false))
        @if t.can_manage {
            details.edit {
                summary { "Edit the responsibility matrix and contacts" }
                form.stack method="post" action={ (base) "/desk" } {
                    (csrf_field(v))
                    label { "Who triages " input name="triage" value=(d.triage) placeholder="provider tier1"; }
                    label { "Who takes escalations (empty: tier2) " input name="escalation" value=(d.escalation); }
                    fieldset {
                        legend { "Contacts" }
                        table.list.contacts {
                            thead { tr { th { "Name" } th { "Role" } th { "Phone" } th { "E-mail" } th { "Hours" } } }
                            tbody {
                                @for (i, c) in d.contacts.iter().map(Some).chain(std::iter::repeat_n(None, NEW_CONTACT_ROWS)).enumerate() {
                                    @let c: Option<&Contact> = c;
                                    tr {
                                        @for (field, value, label) in [
                                            ("name", c.map(|c| c.name.as_str()), "Name"),
                                            ("role", c.map(|c| c.role.as_str()), "Role"),
                                            ("phone", c.map(|c| c.phone.as_str()), "Phone"),
                                            ("email", c.map(|c| c.email.as_str()), "E-mail"),
                                            ("hours", c.map(|c| c.hours.as_str()), "Hours"),
                                        ] {
                                            td { input name={ "c" (i) "_" (field) } value=(value.unwrap_or("")) aria-label={ (label) " of contact " (i + 1) }; }
                                        }
                                    }
                                }
                            }
                        }
                        p.hint { "Clear a contact's name to remove it." }
                    }
                    fieldset {
                        legend { "Escalation plan: contact names per level, in calling order, comma-separated" }
                        @for level in levels() {
                            label { (level) " "
                                input name={ "plan_" (level) } value=(d.escalation_plan.get(level).map(|n| n.join(", ")).unwrap_or_default());
                            }
                        }
                    }
                    label { "Approvals: one action per line, `action: approver, approver`"
                        textarea name="approvals" rows="4" { (approvals_text(&d.approvals)) }
                    }
                    label { "Notes " textarea name="notes" rows="3" { (d.notes) } }
                    button type="submit" { "Save" }
                }
            }
            details.edit {
                summary { "Edit the SLA" }
                form.stack method="post" action={ (base) "/sla" } {
                    (csrf_field(v))
                    p.hint { "Durations like 15m, 4h, 2d; leave both empty for no SLA on a level." }
                    table.list {
                        thead { tr { th { "Level" } th { "Acknowledge within" } th { "Escalate or close within" } } }
                        tbody {
                            @for level in levels() {
                                @let p = t.sla.iter().find(|p| p.level == level);
                                tr {
                                    td { (level) }
                                    td { input name={ "ack_" (level) } value=(p.map(|p| short_duration(p.ack_secs)).unwrap_or_default()) aria-label={ "Acknowledge " (level) " within"} size="6"; }
                                    td { input name={ "resolve_" (level) } value=(p.map(|p| short_duration(p.resolve_secs)).unwrap_or_default()) aria-label={ "Resolve " (level) " within"} size="6"; }
                                }
                            }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        }
    };
    layout(&t.tenant, "/tenants", Some(v), body)
}

/// Approvals as the form's text: `action: a, b` per line.
pub fn approvals_text(a: &[Approval]) -> String {
    a.iter()
        .map(|a| format!("{}: {}", a.action, a.approvers.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses the approvals text of the form; lines without a `:` are refused.
pub fn parse_approvals(text: &str) -> Result<Vec<Approval>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((action, who)) = line.split_once(':') else {
            return Err(format!(
                "approvals, line {}: write `action: approver, approver`",
                i + 1
            ));
        };
        out.push(Approval {
            action: action.trim().to_string(),
            approvers: split_names(who),
        });
    }
    Ok(out)
}

/// Comma-separated names, trimmed, empty ones dropped.
pub fn split_names(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// A duration in seconds as the shortest of `Nd`, `Nh`, `Nm`, `Ns` that is exact.
pub fn short_duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Parses `90s`, `15m`, `4h`, `2d` (a bare number is minutes).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 60),
    };
    let n: i64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 15m, 4h or 2d"))?;
    if n <= 0 {
        return Err(format!("`{s}`: a duration must be positive"));
    }
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> Viewer {
        Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "tok".into(),
            can_triage: true,
        }
    }

    fn desk() -> TenantDesk {
        let evil = "<script>alert(1)</script>";
        TenantDesk {
            tenant: "acme".into(),
            desk: Desk {
                triage: evil.into(),
                escalation: String::new(),
                approvals: vec![Approval {
                    action: "isolate host".into(),
                    approvers: vec!["CISO".into(), evil.into()],
                }],
                contacts: vec![
                    Contact {
                        name: "Eve".into(),
                        role: "CISO".into(),
                        phone: "+49 30 1234".into(),
                        email: "eve@acme.example".into(),
                        hours: "24/7".into(),
                    },
                    Contact {
                        name: evil.into(),
                        ..Contact::default()
                    },
                ],
                escalation_plan: [("high".to_string(), vec!["Eve".to_string()])].into(),
                notes: evil.into(),
            },
            sla: leitstelle_control::default_sla(),
            can_manage: true,
        }
    }

    #[test]
    fn the_plan_lists_whom_to_call_and_escapes_everything() {
        let page = tenant_page(&viewer(), &desk()).into_string();
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("href=\"tel:+49 30 1234\""));
        // Levels without a plan of their own use the next more severe one's: Eve is called
        // for informational up to high, nobody is planned for critical.
        assert_eq!(page.matches("<ol class=\"calls\">").count(), 4);
        assert!(page.contains("Escalations go to"));
        assert!(page.contains(">tier2<"));
        assert!(page.contains("name=\"plan_high\" value=\"Eve\""));
        assert!(page.contains("name=\"ack_critical\" value=\"15m\""));
        // Two contacts plus the blank rows.
        assert!(page.contains(&format!("name=\"c{}_name\"", 1 + NEW_CONTACT_ROWS)));
        let mut d = desk();
        d.can_manage = false;
        let page = tenant_page(&viewer(), &d).into_string();
        assert!(!page.contains("action=\"/tenants/acme/desk\""));
    }

    #[test]
    fn form_texts_round_trip() {
        let a = parse_approvals("isolate host: CISO, IT lead\n\n disable account : HR ")
            .expect("parses");
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].action, "disable account");
        assert_eq!(a[1].approvers, ["HR"]);
        assert_eq!(parse_approvals(&approvals_text(&a)), Ok(a));
        assert!(parse_approvals("no colon here").is_err());
        for secs in [90, 900, 4 * 3600, 2 * 86_400] {
            assert_eq!(parse_duration(&short_duration(secs)), Ok(secs));
        }
        assert_eq!(parse_duration("30"), Ok(1800));
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }
}
