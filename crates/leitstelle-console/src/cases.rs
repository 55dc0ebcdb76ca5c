//! The case pages: the list (with a form to open a case by hand) and the case itself with
//! its alerts, tasks, observables (and where else they were seen), comments, evidence files
//! and the timeline of every change.

use leitstelle_control::{
    CASE_STATUSES, Case, Comment, Evidence, OBSERVABLE_KINDS, Observable, Sighting, TASK_STATES,
    TLPS, Task, TimelineEntry,
};
use maud::{Markup, html};

use crate::alerts::level_badge;
use crate::{Viewer, csrf_field, layout, time};

/// Sigma levels, most severe first, for severity pickers.
fn levels() -> Vec<&'static str> {
    leitstelle_control::LEVELS.iter().rev().copied().collect()
}

/// What the case list shows.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    /// Only cases not closed.
    pub open: bool,
    /// Text in the title (case-insensitive).
    pub text: Option<String>,
}

/// Everything the case list page shows.
#[derive(Clone, Debug)]
pub struct CaseList {
    pub cases: Vec<Case>,
    pub filter: CaseFilter,
    /// Tenants where the viewer may open cases (empty: no form).
    pub writable_tenants: Vec<String>,
}

fn case_status(s: &str) -> Markup {
    html! { span class={ "status status-" (s) } { (s.replace('_', " ")) } }
}

fn tlp_badge(t: &str) -> Markup {
    let class = t.replace('+', "-");
    html! { span class={ "tlp tlp-" (class) } { "TLP:" (t.to_uppercase()) } }
}

/// `/cases`.
pub fn list_page(v: &Viewer, d: &CaseList) -> Markup {
    let text = d.filter.text.as_deref().unwrap_or("");
    let shown: Vec<&Case> = d
        .cases
        .iter()
        .filter(|c| !d.filter.open || c.status != "closed")
        .filter(|c| text.is_empty() || c.title.to_lowercase().contains(&text.to_lowercase()))
        .collect();
    let body = html! {
        h1 { "Cases" }
        form.filters method="get" action="/cases" role="search" {
            @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
            label { "Title contains " input type="search" name="text" value=(text); }
            label.check { input type="checkbox" name="open" value="1" checked[d.filter.open]; " Open only" }
            input type="hidden" name="filtered" value="1";
            button type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            p.muted { "No cases." }
        } @else {
            table.list #cases {
                thead { tr {
                    th { "#" } th { "Tenant" } th { "Title" } th { "Severity" } th { "Status" }
                    th { "TLP" } th { "Assignee" } th { "Alerts" } th { "Updated (UTC)" }
                } }
                tbody {
                    @for c in &shown {
                        tr {
                            td { a href={ "/cases/" (c.id) } { (c.id) } }
                            td.tenant { (c.tenant) }
                            td { a href={ "/cases/" (c.id) } { (c.title) } }
                            td { (level_badge(&c.severity)) }
                            td { (case_status(&c.status)) }
                            td { (tlp_badge(&c.tlp)) }
                            td { (c.assignee.as_deref().unwrap_or("—")) }
                            td.num { (c.alerts.len()) }
                            td { (time(c.updated_ns)) }
                        }
                    }
                }
            }
        }
        @if !d.writable_tenants.is_empty() {
            details.new-case {
                summary { "Open a case" }
                form.stack method="post" action="/cases" {
                    (csrf_field(v))
                    label { "Tenant "
                        select name="tenant" required {
                            @for t in &d.writable_tenants {
                                option value=(t) selected[v.tenant.as_deref() == Some(t.as_str())] { (t) }
                            }
                        }
                    }
                    label { "Title " input name="title" required maxlength="500"; }
                    label { "Description " textarea name="description" rows="3" {} }
                    label { "Severity " (select_of("severity", &levels(), "medium")) }
                    label { "TLP " (select_of("tlp", &TLPS, "amber")) }
                    button type="submit" { "Open case" }
                }
            }
        }
    };
    layout("Cases", "/cases", Some(v), body)
}

fn select_of(name: &str, options: &[&str], selected: &str) -> Markup {
    html! {
        select name=(name) {
            @for o in options {
                option value=(o) selected[*o == selected] { (o.replace('_', " ")) }
            }
        }
    }
}

/// Everything the case page shows.
#[derive(Clone, Debug)]
pub struct CaseDetail {
    pub case: Case,
    /// The merged alerts: (id, rule title, level).
    pub alerts: Vec<(i64, String, String)>,
    pub tasks: Vec<Task>,
    /// Each observable with where else it was seen.
    pub observables: Vec<(Observable, Vec<Sighting>)>,
    pub comments: Vec<Comment>,
    pub evidence: Vec<Evidence>,
    pub timeline: Vec<TimelineEntry>,
    /// Whether the viewer may change the case.
    pub can_write: bool,
}

/// `/cases/{id}`.
pub fn case_page(v: &Viewer, d: &CaseDetail) -> Markup {
    let c = &d.case;
    let base = format!("/cases/{}", c.id);
    let body = html! {
        nav.crumbs { a href="/cases" { "Cases" } " / " (c.id) }
        h1 { (level_badge(&c.severity)) " " (c.title) }
        dl.facts {
            dt { "Tenant" } dd.tenant { (c.tenant) }
            dt { "Status" } dd { (case_status(&c.status)) }
            dt { "TLP" } dd { (tlp_badge(&c.tlp)) }
            dt { "Assignee" } dd { (c.assignee.as_deref().unwrap_or("—")) }
            dt { "Opened" } dd { (time(c.created_ns)) " UTC by " (c.created_by) }
            dt { "Updated" } dd { (time(c.updated_ns)) " UTC" }
            @if let Some(t) = c.closed_ns { dt { "Closed" } dd { (time(t)) " UTC" } }
            @if let Some(r) = &c.resolution { dt { "Resolution" } dd { (r) } }
        }
        @if !c.description.is_empty() { p.description { (c.description) } }
        @if d.can_write {
            details.edit {
                summary { "Edit case" }
                form.stack method="post" action={ (base) "/edit" } {
                    (csrf_field(v))
                    label { "Title " input name="title" value=(c.title) required maxlength="500"; }
                    label { "Description " textarea name="description" rows="3" { (c.description) } }
                    label { "Severity " (select_of("severity", &levels(), &c.severity)) }
                    label { "Status " (select_of("status", &CASE_STATUSES, &c.status)) }
                    label { "TLP " (select_of("tlp", &TLPS, &c.tlp)) }
                    label { "Assignee " input name="assignee" value=(c.assignee.as_deref().unwrap_or("")) placeholder="user name, empty: nobody"; }
                    label { "Resolution (needed to close) " input name="resolution" value=(c.resolution.as_deref().unwrap_or("")); }
                    button type="submit" { "Save" }
                }
            }
        }
        section aria-label="Alerts" {
            h2 { "Alerts (" (d.alerts.len()) ")" }
            @if d.alerts.is_empty() { p.muted { "No alerts merged." } }
            ul {
                @for (id, title, level) in &d.alerts {
                    li { a href={ "/alerts/" (id) } { "#" (id) " " (title) } " " (level_badge(level)) }
                }
            }
            @if d.can_write {
                form.inline method="post" action={ (base) "/alerts" } {
                    (csrf_field(v))
                    label { "Merge alert # " input name="alert" inputmode="numeric" pattern="[0-9]+" required size="8"; }
                    button type="submit" { "Merge" }
                }
            }
        }
        section aria-label="Tasks" {
            h2 { "Tasks" }
            @if d.tasks.is_empty() { p.muted { "No tasks." } }
            @else {
                table.list #tasks {
                    thead { tr { th { "Task" } th { "Owner" } th { "State" } th { "Updated (UTC)" } } }
                    tbody {
                        @for t in &d.tasks {
                            tr {
                                td { (t.title) }
                                td { (t.owner.as_deref().unwrap_or("—")) }
                                td {
                                    @if d.can_write {
                                        form.inline method="post" action={ (base) "/tasks/" (t.id) } {
                                            (csrf_field(v))
                                            (select_of("state", &TASK_STATES, &t.state))
                                            button type="submit" { "Set" }
                                        }
                                    } @else { (t.state.replace('_', " ")) }
                                }
                                td { (time(t.updated_ns)) }
                            }
                        }
                    }
                }
            }
            @if d.can_write {
                form.inline method="post" action={ (base) "/tasks" } {
                    (csrf_field(v))
                    label { "New task " input name="title" required maxlength="500"; }
                    label { "Owner " input name="owner" size="12"; }
                    button type="submit" { "Add task" }
                }
            }
        }
        section aria-label="Observables" {
            h2 { "Observables" }
            @if d.observables.is_empty() { p.muted { "No observables." } }
            @else {
                table.list #observables {
                    thead { tr { th { "Kind" } th { "Value" } th { "Note" } th { "Also seen in" } th { "Added" } } }
                    tbody {
                        @for (o, seen) in &d.observables {
                            tr {
                                td { (o.kind) }
                                td { code.observable { (o.value) } }
                                td { (o.note) }
                                td {
                                    @if seen.is_empty() { span.muted { "nowhere else" } }
                                    @for s in seen {
                                        @let href = if s.kind == "case" { format!("/cases/{}", s.id) } else { format!("/alerts/{}", s.id) };
                                        a.sighting href=(href) { (s.kind) " #" (s.id) " · " (s.tenant) " · " (s.title) } " "
                                    }
                                }
                                td { (o.created_by) ", " (time(o.created_ns)) }
                            }
                        }
                    }
                }
            }
            @if d.can_write {
                form.inline method="post" action={ (base) "/observables" } {
                    (csrf_field(v))
                    label { "Kind " (select_of("kind", &OBSERVABLE_KINDS, "ip")) }
                    label { "Value " input name="value" required maxlength="2000"; }
                    label { "Note " input name="note" maxlength="2000"; }
                    button type="submit" { "Add observable" }
                }
            }
        }
        section aria-label="Evidence" {
            h2 { "Evidence" }
            @if d.evidence.is_empty() { p.muted { "No files." } }
            @else {
                table.list #evidence {
                    thead { tr { th { "File" } th { "Size" } th { "SHA-256" } th { "Uploaded" } } }
                    tbody {
                        @for e in &d.evidence {
                            tr {
                                td { a href={ "/api/v1/cases/" (c.id) "/evidence/" (e.id) } download { (e.name) } }
                                td.num { (e.size) }
                                td { code { (e.sha256) } }
                                td { (e.uploaded_by) ", " (time(e.uploaded_ns)) }
                            }
                        }
                    }
                }
            }
            @if d.can_write {
                // Sent by the script as the raw file body to the API (with the CSRF header).
                form.inline.upload data-upload={ "/api/v1/cases/" (c.id) "/evidence" } data-csrf=(v.csrf) {
                    label { "Upload a file " input type="file" name="file" required; }
                    button type="submit" { "Upload" }
                    output.upload-status {}
                }
            }
        }
        section.comments aria-label="Comments" {
            h2 { "Comments" }
            @if d.comments.is_empty() { p.muted { "None yet." } }
            @for cm in &d.comments {
                article.comment {
                    p.meta { strong { (cm.author) } " · " (time(cm.at_ns)) " UTC" }
                    p.body { (cm.body) }
                }
            }
            @if d.can_write {
                form.stack method="post" action={ (base) "/comments" } {
                    (csrf_field(v))
                    label { "Comment " textarea name="body" rows="3" required {} }
                    button type="submit" { "Add comment" }
                }
            }
        }
        section.history aria-label="Timeline" {
            h2 { "Timeline" }
            table.history {
                thead { tr { th { "When (UTC)" } th { "Who" } th { "What" } th { "Detail" } } }
                tbody {
                    @for t in &d.timeline {
                        tr {
                            td { (time(t.at_ns)) }
                            td { (t.actor) }
                            td { (t.what.replace('_', " ")) }
                            td { code { (detail_text(&t.detail)) } }
                        }
                    }
                }
            }
        }
        p { a href={ "/api/v1/cases/" (c.id) "/export" } { "Export the case as JSON" } }
    };
    layout(&c.title, "/cases", Some(v), body)
}

/// A timeline entry's detail as one line (`key: value, …` for objects).
fn detail_text(d: &serde_json::Value) -> String {
    match d {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
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

    fn case(title: &str) -> Case {
        Case {
            id: 3,
            tenant: "acme".into(),
            title: title.into(),
            description: "<b>d</b>".into(),
            severity: "high".into(),
            status: "open".into(),
            tlp: "amber+strict".into(),
            assignee: None,
            created_by: "ann".into(),
            created_ns: 0,
            updated_ns: 0,
            closed_ns: None,
            resolution: None,
            alerts: vec![1],
        }
    }

    fn detail(can_write: bool) -> CaseDetail {
        let evil = "<script>alert(1)</script>";
        CaseDetail {
            case: case(evil),
            alerts: vec![(1, evil.into(), "high".into())],
            tasks: vec![Task {
                id: 1,
                case_id: 3,
                title: evil.into(),
                owner: Some(evil.into()),
                state: "todo".into(),
                created_ns: 0,
                updated_ns: 0,
            }],
            observables: vec![(
                Observable {
                    id: 1,
                    case_id: 3,
                    kind: "host".into(),
                    value: evil.into(),
                    note: evil.into(),
                    created_by: "ann".into(),
                    created_ns: 0,
                },
                vec![Sighting {
                    kind: "alert".into(),
                    id: 9,
                    tenant: "acme".into(),
                    title: evil.into(),
                    at_ns: 0,
                }],
            )],
            comments: vec![Comment {
                id: 1,
                at_ns: 0,
                author: "ann".into(),
                body: evil.into(),
            }],
            evidence: vec![Evidence {
                id: 4,
                case_id: 3,
                name: "\"><img src=x onerror=alert(1)>".into(),
                sha256: "ab".into(),
                size: 2,
                uploaded_by: "ann".into(),
                uploaded_ns: 0,
            }],
            timeline: vec![TimelineEntry {
                at_ns: 0,
                actor: "ann".into(),
                what: "opened".into(),
                detail: serde_json::json!({ "title": evil }),
            }],
            can_write,
        }
    }

    #[test]
    fn case_page_escapes_everything_it_shows() {
        let page = case_page(&viewer(), &detail(true)).into_string();
        assert!(!page.contains("<script>alert"), "no live script");
        assert!(!page.contains("<img src=x"), "no live image");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("TLP:AMBER+STRICT"));
        assert!(
            page.contains("href=\"/alerts/9\""),
            "sighting links to the alert"
        );
        assert!(page.contains("href=\"/api/v1/cases/3/evidence/4\""));
    }

    #[test]
    fn readers_get_no_forms() {
        let page = case_page(&viewer(), &detail(false)).into_string();
        assert!(!page.contains("action=\"/cases/3/"));
        assert!(!page.contains("data-upload"));
        let page = case_page(&viewer(), &detail(true)).into_string();
        for action in [
            "/cases/3/edit",
            "/cases/3/tasks",
            "/cases/3/observables",
            "/cases/3/comments",
        ] {
            assert!(page.contains(&format!("action=\"{action}\"")), "{action}");
        }
        assert_eq!(page.matches("name=\"csrf\" value=\"tok\"").count(), 7);
    }

    #[test]
    fn list_filters_and_offers_a_form_only_where_writable() {
        let mut closed = case("old one");
        closed.status = "closed".into();
        let d = CaseList {
            cases: vec![case("Ransomware on FS01"), closed],
            filter: CaseFilter {
                open: true,
                text: Some("ransom".into()),
            },
            writable_tenants: vec![],
        };
        let page = list_page(&viewer(), &d).into_string();
        assert!(page.contains("Ransomware on FS01"));
        assert!(!page.contains("old one"));
        assert!(!page.contains("Open a case"));
        let d = CaseList {
            filter: CaseFilter::default(),
            writable_tenants: vec!["acme".into()],
            ..d
        };
        let page = list_page(&viewer(), &d).into_string();
        assert!(page.contains("old one"));
        assert!(page.contains("Open a case"));
    }
}
