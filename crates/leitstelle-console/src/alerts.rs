//! The alert queue and the alert detail page.

use leitstelle_control::{
    Alert, AlertEvent, Comment, Contact, HistoryEntry, LEVELS, SlaState, Status,
};
use maud::{Markup, html};

use crate::fmt::{duration, time};
use crate::{Viewer, csrf_field, layout};

/// The queue's filters, as the form shows them.
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub level: Option<String>,
    pub rule: Option<String>,
    pub assignee: Option<String>,
    /// Only alerts seen within this long (one of [`SINCE`] by its value).
    pub since: Option<String>,
    /// Only alerts not closed (the default view).
    pub open: bool,
}

/// The queue's time filter: (URL value, label, seconds).
pub const SINCE: &[(&str, &str, i64)] = &[
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
];

/// The seconds of a `since` value, if it is one of [`SINCE`].
pub fn since_secs(value: &str) -> Option<i64> {
    SINCE
        .iter()
        .find(|(v, _, _)| *v == value)
        .map(|(_, _, s)| *s)
}

/// One alert in the queue, with its SLA state.
#[derive(Clone, Debug)]
pub struct QueueRow {
    pub alert: Alert,
    pub sla: Option<SlaState>,
}

/// The rule of an alert, as loaded.
#[derive(Clone, Debug, Default)]
pub struct RuleView {
    pub title: String,
    pub description: String,
    pub level: String,
    pub tags: Vec<String>,
    pub author: String,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The Sigma YAML, when it can be read.
    pub yaml: Option<String>,
}

/// Everything the alert page shows.
#[derive(Clone, Debug)]
pub struct AlertDetail {
    pub alert: Alert,
    pub events: Vec<AlertEvent>,
    /// Per event: the fields the rule looked at, with their values.
    pub used_fields: Vec<Vec<(String, String)>>,
    pub history: Vec<HistoryEntry>,
    pub comments: Vec<Comment>,
    pub sla: Option<SlaState>,
    /// Whom to call, in order.
    pub call: Vec<Contact>,
    pub escalation_team: String,
    pub rule: Option<RuleView>,
    /// Other alerts of the same tenant and group (host, user).
    pub related: Vec<Alert>,
    /// Whether the viewer may open a case from it (or merge it into one).
    pub can_open_case: bool,
}

pub(crate) fn level_badge(level: &str) -> Markup {
    html! { span class={ "level level-" (level) } { (level) } }
}

pub(crate) fn status_badge(s: Status) -> Markup {
    html! { span class={ "status status-" (s.as_str()) } { (s.as_str().replace('_', " ")) } }
}

/// The SLA cell: a countdown to the next due time (acknowledge, then escalate or close),
/// kept ticking by the script; breached ones stand out.
fn sla_cell(a: &Alert, sla: Option<&SlaState>, now_ns: i64) -> Markup {
    let Some(s) = sla else {
        return html! { span.sla.none { "—" } };
    };
    let (due, what, breached) = if a.status == Status::Closed {
        return html! { span.sla.done { "done" } };
    } else if a.ack_ns.is_none() {
        (s.ack_due_ns, "ack", s.ack_breached)
    } else if a.escalated_ns.is_none() {
        (s.resolve_due_ns, "resolve", s.resolve_breached)
    } else {
        return html! { span.sla.done { "escalated" } };
    };
    let left = (due - now_ns) / 1_000_000_000;
    html! {
        span class={ "sla" @if breached { " breached" } } data-due=(due / 1_000_000) data-what=(what)
            title={ (what) " due " (time(due)) " UTC" } {
            @if breached { "breached " (duration(-left)) } @else { (what) " " (duration(left)) }
        }
    }
}

/// One queue row (also sent alone to update the queue live).
pub fn queue_row(v: &Viewer, r: &QueueRow, now_ns: i64) -> Markup {
    let a = &r.alert;
    let breached = r
        .sla
        .as_ref()
        .is_some_and(|s| a.status != Status::Closed && (s.ack_breached || s.resolve_breached));
    html! {
        tr data-id=(a.id) class={ "alert-row" @if breached { " breached" } } tabindex="0" {
            @if v.can_triage {
                td { input type="checkbox" name="ids" value=(a.id) form="bulk" aria-label={ "Select alert " (a.id) }; }
            }
            td { (sla_cell(a, r.sla.as_ref(), now_ns)) }
            td { (level_badge(&a.level)) }
            td.tenant { (a.tenant) }
            td.title { a href={ "/alerts/" (a.id) } { (a.rule_title) } }
            td.group { (a.group_key) }
            td.num { (a.count) }
            td { (status_badge(a.status)) }
            td { (a.assignee.as_deref().unwrap_or("—")) }
            td.time { (time(a.last_seen_ns)) }
        }
    }
}

/// The alert queue.
pub fn queue_page(
    v: &Viewer,
    f: &QueueFilter,
    rows: &[QueueRow],
    next: Option<String>,
    now_ns: i64,
) -> Markup {
    let statuses = ["new", "acknowledged", "in_progress", "escalated", "closed"];
    let body = html! {
        h1 { "Alerts" }
        form.filters method="get" action="/alerts" {
            @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in statuses {
                        option value=(s) selected[f.status.as_deref() == Some(s)] { (s.replace('_', " ")) }
                    }
                }
            }
            label { "Level at least "
                select name="level" {
                    option value="" { "any" }
                    @for l in LEVELS {
                        option value=(l) selected[f.level.as_deref() == Some(l)] { (l) }
                    }
                }
            }
            label { "Rule id " input name="rule" value=(f.rule.as_deref().unwrap_or("")) size="12"; }
            label { "Assignee " input name="assignee" value=(f.assignee.as_deref().unwrap_or("")) size="10"; }
            label { "Seen "
                select name="since" {
                    option value="" { "any time" }
                    @for (val, label, _) in SINCE {
                        option value=(val) selected[f.since.as_deref() == Some(*val)] { (label) }
                    }
                }
            }
            label.check { input type="checkbox" name="open" value="1" checked[f.open]; " open only" }
            button type="submit" { "Filter" }
        }
        @if v.can_triage {
            form #bulk.bulk method="post" action="/alerts/bulk" {
                (csrf_field(v))
                label { "Selected: "
                    select name="action" {
                        option value="acknowledge" { "acknowledge" }
                        option value="start" { "start work" }
                        option value="assign_me" { "assign to me" }
                        option value="close" { "close" }
                    }
                }
                label { "verdict "
                    select name="verdict" {
                        option value="false_positive" { "false positive" }
                        option value="benign" { "benign" }
                        option value="true_positive" { "true positive" }
                    }
                }
                label { "reason " input name="reason" size="24"; }
                button type="submit" { "Apply" }
            }
        }
        table #queue.queue data-stream="/console/alerts/stream" {
            thead {
                tr {
                    @if v.can_triage {
                        th { input type="checkbox" data-select-all aria-label="Select all"; }
                    }
                    th { "SLA" } th { "Level" } th { "Tenant" } th { "Rule" } th { "Host / group" }
                    th { "Count" } th { "Status" } th { "Assignee" } th { "Last seen (UTC)" }
                }
            }
            tbody {
                @for r in rows { (queue_row(v, r, now_ns)) }
            }
        }
        @if rows.is_empty() { p.empty { "No alerts match." } }
        @if let Some(n) = next { p { a.next href=(n) { "Older alerts →" } } }
        p.hint { "Keys: j / k move, Enter opens, x selects." }
    };
    layout("Alerts", "/alerts", Some(v), body)
}

fn attack_link(tag: &str) -> Markup {
    // attack.t1059.001 -> T1059.001
    let technique = tag
        .strip_prefix("attack.t")
        .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()));
    match technique {
        Some(t) => {
            let id = format!("T{}", t.to_uppercase());
            let path = id.replace('.', "/");
            html! { a.tag href={ "https://attack.mitre.org/techniques/" (path) "/" } rel="noreferrer" { (id) } }
        }
        None => html! { span.tag { (tag) } },
    }
}

fn triage_forms(v: &Viewer, a: &Alert) -> Markup {
    let action = format!("/alerts/{}/triage", a.id);
    html! {
        section.actions aria-label="Actions" {
            h2 { "Actions" }
            div.buttons {
                @if a.status == Status::New {
                    form method="post" action=(action) {
                        (csrf_field(v)) input type="hidden" name="action" value="acknowledge";
                        button type="submit" data-action="acknowledge" { "Acknowledge" }
                    }
                }
                @if matches!(a.status, Status::New | Status::Acknowledged | Status::Escalated) {
                    form method="post" action=(action) {
                        (csrf_field(v)) input type="hidden" name="action" value="start";
                        button type="submit" data-action="start" { "Start work" }
                    }
                }
            }
            @if !matches!(a.status, Status::Escalated | Status::Closed) {
                form.inline method="post" action=(action) {
                    (csrf_field(v)) input type="hidden" name="action" value="escalate";
                    label { "Escalate to " input name="to" placeholder="(the tenant's escalation team)" size="24"; }
                    label { "note " input name="note" size="30"; }
                    button type="submit" data-action="escalate" { "Escalate" }
                }
            }
            @if a.status != Status::Closed {
                form.inline method="post" action=(action) {
                    (csrf_field(v)) input type="hidden" name="action" value="close";
                    label { "Verdict "
                        select name="verdict" required {
                            option value="true_positive" { "true positive" }
                            option value="benign" { "benign" }
                            option value="false_positive" { "false positive" }
                        }
                    }
                    label { "reason " input name="reason" required size="30"; }
                    button type="submit" data-action="close" { "Close" }
                }
            } @else {
                form.inline method="post" action=(action) {
                    (csrf_field(v)) input type="hidden" name="action" value="reopen";
                    label { "Reason " input name="reason" required size="30"; }
                    button type="submit" data-action="reopen" { "Reopen" }
                }
            }
            form.inline method="post" action=(action) {
                (csrf_field(v)) input type="hidden" name="action" value="assign";
                label { "Assign to " input name="user" value=(a.assignee.as_deref().unwrap_or("")) size="14"; }
                button type="submit" { "Assign" }
            }
            form.inline method="post" action=(action) {
                (csrf_field(v)) input type="hidden" name="action" value="severity";
                label { "Severity "
                    select name="level" {
                        @for l in LEVELS { option value=(l) selected[a.level == l] { (l) } }
                    }
                }
                button type="submit" { "Set" }
            }
            form.comment method="post" action=(action) {
                (csrf_field(v)) input type="hidden" name="action" value="comment";
                label for="comment-body" { "Comment" }
                textarea #comment-body name="body" rows="3" required {}
                button type="submit" { "Add comment" }
            }
        }
    }
}

/// The alert detail page.
pub fn alert_page(v: &Viewer, d: &AlertDetail, now_ns: i64) -> Markup {
    let a = &d.alert;
    let urgent = matches!(a.level.as_str(), "critical" | "high") && a.status != Status::Closed;
    let body = html! {
        nav.crumbs { a href="/alerts" { "Alerts" } " / " (a.id) }
        h1 { (level_badge(&a.level)) " " (a.rule_title) }
        @if urgent && !d.call.is_empty() {
            section.call role="note" aria-label="Whom to call now" {
                h2 { "Whom to call now" }
                ol {
                    @for c in &d.call {
                        li {
                            strong { (c.name) }
                            @if !c.role.is_empty() { " (" (c.role) ")" }
                            @if !c.phone.is_empty() { " · " a href={ "tel:" (c.phone) } { (c.phone) } }
                            @if !c.email.is_empty() { " · " a href={ "mailto:" (c.email) } { (c.email) } }
                            @if !c.hours.is_empty() { " · " (c.hours) }
                        }
                    }
                }
            }
        }
        dl.facts {
            dt { "Tenant" } dd.tenant { (a.tenant) }
            dt { "Status" } dd { (status_badge(a.status)) }
            dt { "SLA" } dd { (sla_cell(a, d.sla.as_ref(), now_ns)) }
            dt { "Assignee" } dd { (a.assignee.as_deref().unwrap_or("—")) }
            dt { "Host / group" } dd { (a.group_key) }
            dt { "Matches" } dd { (a.count) }
            dt { "First seen" } dd { (time(a.first_seen_ns)) " UTC" }
            dt { "Last seen" } dd { (time(a.last_seen_ns)) " UTC" }
            @if let Some(t) = &a.escalated_to { dt { "Escalated to" } dd { (t) } }
            @if let Some(verdict) = &a.verdict {
                dt { "Verdict" } dd { (verdict.replace('_', " ")) ": " (a.reason.as_deref().unwrap_or("")) }
            }
            @if let Some(c) = a.case_id { dt { "Case" } dd { a href={ "/cases/" (c) } { "#" (c) } } }
            dt { "Escalation team" } dd { (d.escalation_team) }
        }
        @if v.can_triage { (triage_forms(v, a)) }
        @if d.can_open_case && a.case_id.is_none() {
            section.case-forms aria-label="Case" {
                form.inline method="post" action="/cases" {
                    (csrf_field(v))
                    input type="hidden" name="tenant" value=(a.tenant);
                    input type="hidden" name="title" value=(a.rule_title);
                    input type="hidden" name="alert" value=(a.id);
                    button type="submit" { "Open case" }
                }
                form.inline method="post" action="/cases/merge" {
                    (csrf_field(v))
                    input type="hidden" name="alert" value=(a.id);
                    label { "or merge into case # " input name="case" inputmode="numeric" pattern="[0-9]+" required size="6"; }
                    button type="submit" { "Merge" }
                }
            }
        }
        section.rule aria-label="Rule" {
            h2 { "Rule" }
            @match &d.rule {
                Some(r) => {
                    p.rule-title { strong { (r.title) } " · " (level_badge(&r.level)) " · " code { (a.rule_id) } }
                    @if !r.description.is_empty() { p { (r.description) } }
                    p.tags { @for t in &r.tags { (attack_link(t)) " " } }
                    @if !r.falsepositives.is_empty() {
                        p { "False positives: " (r.falsepositives.join("; ")) }
                    }
                    @if !r.author.is_empty() { p.muted { "Author: " (r.author) } }
                    @if let Some(y) = &r.yaml {
                        details { summary { "Sigma rule (YAML)" } pre.yaml { code { (y) } } }
                    }
                }
                None => { p.muted { "The rule " code { (a.rule_id) } " is not loaded any more." } }
            }
        }
        section.events aria-label="Matched events" {
            h2 { "Matched events (" (d.events.len()) " kept of " (a.count) ")" }
            @for (i, e) in d.events.iter().enumerate() {
                article.event {
                    h3 { "Event " (e.seq) @if let Some(t) = e.seen_ns { " · " (time(t)) " UTC" } }
                    @if let Some(fields) = d.used_fields.get(i).filter(|f| !f.is_empty()) {
                        table.fields {
                            caption { "Fields the rule looked at" }
                            @for (k, val) in fields {
                                tr { th { (k) } td { mark { (val) } } }
                            }
                        }
                    }
                    details {
                        summary { "Raw event" }
                        pre.raw { (serde_json::to_string_pretty(&e.event).unwrap_or_default()) }
                    }
                }
            }
        }
        @if !d.related.is_empty() {
            section.related aria-label="Related alerts" {
                h2 { "Other alerts for " (a.group_key) }
                ul {
                    @for r in &d.related {
                        li { a href={ "/alerts/" (r.id) } { (r.rule_title) } " · " (level_badge(&r.level)) " · " (status_badge(r.status)) " · " (time(r.last_seen_ns)) }
                    }
                }
            }
        }
        section.comments aria-label="Comments" {
            h2 { "Comments" }
            @if d.comments.is_empty() { p.muted { "None yet." } }
            @for c in &d.comments {
                article.comment {
                    p.meta { strong { (c.author) } " · " (time(c.at_ns)) " UTC" }
                    p.body { (c.body) }
                }
            }
        }
        section.history aria-label="History" {
            h2 { "History" }
            table.history {
                thead { tr { th { "When (UTC)" } th { "Who" } th { "What" } th { "From" } th { "To" } th { "Note" } } }
                tbody {
                    @for h in &d.history {
                        tr {
                            td { (time(h.at_ns)) }
                            td { (h.actor) }
                            td { (h.field) }
                            td { (h.old.as_deref().unwrap_or("—")) }
                            td { (h.new.as_deref().unwrap_or("—")) }
                            td { (h.note) }
                        }
                    }
                }
            }
        }
    };
    layout(&a.rule_title, "/alerts", Some(v), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(title: &str, group: &str) -> Alert {
        Alert {
            id: 7,
            tenant: "acme".into(),
            rule_id: "r".into(),
            rule_title: title.into(),
            level: "critical".into(),
            tags: vec![],
            group_key: group.into(),
            first_seen_ns: 0,
            last_seen_ns: 0,
            count: 1,
            status: Status::New,
            created_ns: 0,
            updated_ns: 0,
            assignee: None,
            verdict: None,
            reason: None,
            escalated_to: None,
            ack_ns: None,
            escalated_ns: None,
            closed_ns: None,
            case_id: None,
        }
    }

    fn viewer() -> Viewer {
        Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "c".into(),
            can_triage: true,
        }
    }

    const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

    #[test]
    fn attacker_controlled_text_renders_inert_in_the_queue_and_the_detail() {
        let a = alert(EVIL, EVIL);
        let row = QueueRow {
            alert: a.clone(),
            sla: None,
        };
        let q = queue_page(&viewer(), &QueueFilter::default(), &[row], None, 0).into_string();
        let detail = AlertDetail {
            alert: a,
            events: vec![AlertEvent {
                seq: 1,
                seen_ns: Some(0),
                event: serde_json::json!({"cmd": EVIL}),
            }],
            used_fields: vec![vec![("CommandLine".into(), EVIL.into())]],
            history: vec![HistoryEntry {
                at_ns: 0,
                actor: EVIL.into(),
                field: "status".into(),
                old: None,
                new: Some(EVIL.into()),
                note: EVIL.into(),
            }],
            comments: vec![Comment {
                id: 1,
                at_ns: 0,
                author: EVIL.into(),
                body: EVIL.into(),
            }],
            sla: None,
            call: vec![Contact {
                name: EVIL.into(),
                phone: EVIL.into(),
                ..Contact::default()
            }],
            escalation_team: EVIL.into(),
            rule: Some(RuleView {
                title: EVIL.into(),
                description: EVIL.into(),
                yaml: Some(EVIL.into()),
                tags: vec![EVIL.into()],
                ..RuleView::default()
            }),
            related: vec![alert(EVIL, EVIL)],
            can_open_case: true,
        };
        let d = alert_page(&viewer(), &detail, 0).into_string();
        for page in [q, d] {
            assert_eq!(page.matches("<script").count(), 1, "only the app's script");
            assert!(!page.contains("<img"));
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        }
    }

    #[test]
    fn attack_tags_link_to_their_technique() {
        let m = attack_link("attack.t1059.001").into_string();
        assert!(m.contains("https://attack.mitre.org/techniques/T1059/001/"));
        assert!(m.contains(">T1059.001<"));
        assert!(
            attack_link("attack.execution")
                .into_string()
                .contains("attack.execution")
        );
    }

    #[test]
    fn breached_slas_stand_out() {
        let a = alert("t", "h");
        let s = SlaState {
            ack_due_ns: 1_000_000_000,
            resolve_due_ns: 2_000_000_000,
            ack_breached: true,
            resolve_breached: false,
        };
        let cell = sla_cell(&a, Some(&s), 61_000_000_000).into_string();
        assert!(cell.contains("sla breached"), "{cell}");
        assert!(cell.contains("breached 1m 00s"), "{cell}");
        assert!(cell.contains("data-due=\"1000\""));
    }
}
