//! The rules pages: the loaded rule set with a text and level search, one rule with its
//! text, versions, overlays and suppressions, the form that proposes a change, and the
//! review queue with a line diff of each change. Four-eyes review is the control plane's
//! rule; these pages only leave out what the viewer may not do (the author never sees an
//! approve button) and show a refusal plainly when one comes back.

use leitstelle_control::{LEVELS, Overlay, RuleChange, RuleVersion, StoredRule, Suppression};
use maud::{Markup, html};

use crate::fmt::time;
use crate::{Viewer, csrf_field, layout};

/// At most this many rules are listed on one page (a search narrows the list).
pub const MAX_LISTED: usize = 500;

/// One rule of the loaded set, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSummary {
    pub id: String,
    pub title: String,
    pub level: String,
    /// The Sigma `status` (`stable`, `test`, `experimental`, …).
    pub status: String,
    pub tags: Vec<String>,
    /// `product/category/service`, the parts the rule names.
    pub logsource: String,
    pub description: String,
    /// Where it comes from: `folder` (the configured rule folders) or `stored` (change
    /// control).
    pub origin: String,
    /// Off for every tenant through change control (it stays compiled).
    pub disabled: bool,
}

/// The list's search, as the GET form sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleFilter {
    /// Words that must all occur (case-insensitively) in the id, title, tags, logsource,
    /// status or description.
    pub q: Option<String>,
    /// Exactly this level.
    pub level: Option<String>,
}

impl RuleFilter {
    /// Whether a rule is in the search.
    pub fn matches(&self, r: &RuleSummary) -> bool {
        if let Some(l) = &self.level
            && !r.level.eq_ignore_ascii_case(l)
        {
            return false;
        }
        let Some(q) = &self.q else {
            return true;
        };
        let hay = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            r.id,
            r.title,
            r.tags.join(" "),
            r.logsource,
            r.status,
            r.description
        )
        .to_lowercase();
        q.to_lowercase().split_whitespace().all(|w| hay.contains(w))
    }
}

/// Everything one rule's page shows.
#[derive(Clone, Debug, Default)]
pub struct RuleDetail {
    pub summary: RuleSummary,
    pub author: String,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The Sigma text, when it can be read.
    pub yaml: Option<String>,
    /// The stored rule (under change control) and its versions, oldest first.
    pub stored: Option<(StoredRule, Vec<RuleVersion>)>,
    /// Overlays of the tenants in the viewer's scope: (tenant, overlay).
    pub overlays: Vec<(String, Overlay)>,
    /// Suppressions of this rule in the viewer's scope.
    pub suppressions: Vec<Suppression>,
    /// Changes of this rule the viewer may see, newest first.
    pub changes: Vec<RuleChange>,
    /// Whether the viewer may propose changes for every tenant.
    pub can_propose: bool,
}

/// The proposal form's content (also shown again, with the error, when refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProposeForm {
    /// `create` or `edit`.
    pub kind: String,
    /// The rule edited (empty for a new rule).
    pub rule_id: String,
    pub yaml: String,
    pub note: String,
    pub error: Option<String>,
}

/// A change as the review pages show it.
#[derive(Clone, Debug)]
pub struct ChangeView {
    pub change: RuleChange,
    /// The text the change replaces (the stored rule's current text, or the folder rule's).
    pub old_yaml: Option<String>,
    /// The viewer may approve it: it may review and is not the author.
    pub can_approve: bool,
    /// The viewer may reject it.
    pub can_reject: bool,
    /// The viewer wrote it and it is still proposed.
    pub can_withdraw: bool,
    /// The viewer wrote it (the approve button is never offered then).
    pub is_author: bool,
}

/// One line of a line diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Removed(String),
    Added(String),
}

/// The largest table (lines × lines) the diff aligns line by line; larger changes show as
/// the old text removed and the new one added.
const MAX_DIFF_CELLS: usize = 4_000_000;

/// A line diff of two texts (longest common subsequence of lines, after the common head and
/// tail are set aside).
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<DiffLine> = a[..head]
        .iter()
        .map(|l| DiffLine::Same(l.to_string()))
        .collect();
    let (n, m) = (am.len(), bm.len());
    if n.saturating_mul(m) > MAX_DIFF_CELLS {
        out.extend(am.iter().map(|l| DiffLine::Removed(l.to_string())));
        out.extend(bm.iter().map(|l| DiffLine::Added(l.to_string())));
    } else {
        // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * w + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                out.push(DiffLine::Same(am[i].to_string()));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
                out.push(DiffLine::Removed(am[i].to_string()));
                i += 1;
            } else {
                out.push(DiffLine::Added(bm[j].to_string()));
                j += 1;
            }
        }
    }
    out.extend(
        a[a.len() - tail..]
            .iter()
            .map(|l| DiffLine::Same(l.to_string())),
    );
    out
}

fn level_badge(level: &str) -> Markup {
    html! { span class={ "level level-" (level) } { (level) } }
}

/// Percent-encodes everything but unreserved characters (for a path segment or a query
/// value).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The link of a rule's page.
pub fn rule_href(id: &str) -> String {
    format!("/rules/{}", encode(id))
}

fn tag_list(tags: &[String]) -> Markup {
    html! {
        @for t in tags {
            @if let Some(id) = crate::dashboard::technique_of(t) {
                a.tag href={ "https://attack.mitre.org/techniques/" (id.replace('.', "/")) "/" } rel="noreferrer" { (id) } " "
            } @else {
                span.tag { (t) } " "
            }
        }
    }
}

fn rules_nav(current: &str, pending: usize) -> Markup {
    html! {
        nav.subnav aria-label="Rules" {
            a href="/rules" aria-current=[(current == "list").then_some("page")] { "Rule set" }
            a href="/rules/changes" aria-current=[(current == "changes").then_some("page")] {
                "Review queue"
                @if pending > 0 { " " span.count { (pending) } }
            }
            a href="/rules/new" aria-current=[(current == "new").then_some("page")] { "Propose a rule" }
        }
    }
}

/// The rule set with its search. `rows` are the matching rules (at most [`MAX_LISTED`]
/// are shown), `total` the size of the loaded set, `pending` the changes awaiting review.
pub fn rules_page(
    v: &Viewer,
    f: &RuleFilter,
    rows: &[RuleSummary],
    total: usize,
    pending: usize,
) -> Markup {
    let body = html! {
        h1 { "Rules" }
        (rules_nav("list", pending))
        form.filters method="get" action="/rules" role="search" {
            @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
            label { "Search "
                input type="search" name="q" value=(f.q.as_deref().unwrap_or(""))
                    placeholder="title, id, tag, logsource…" size="32";
            }
            label { "Level "
                select name="level" {
                    option value="" { "any" }
                    @for l in LEVELS {
                        option value=(l) selected[f.level.as_deref() == Some(l)] { (l) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        p.muted {
            (rows.len()) " of " (total) " loaded rules match"
            @if rows.len() > MAX_LISTED { "; the first " (MAX_LISTED) " are listed, narrow the search to see the others" }
            "."
        }
        table.rules {
            thead {
                tr { th { "Level" } th { "Title" } th { "Logsource" } th { "ATT&CK / tags" } th { "Status" } th { "Origin" } }
            }
            tbody {
                @for r in rows.iter().take(MAX_LISTED) {
                    tr class={ "rule-row" @if r.disabled { " disabled" } } {
                        td { (level_badge(&r.level)) }
                        td.title {
                            a href=(rule_href(&r.id)) { (r.title) }
                            br; code.muted { (r.id) }
                        }
                        td { code { (r.logsource) } }
                        td.tags { (tag_list(&r.tags)) }
                        td { (r.status) @if r.disabled { " · " span.off { "disabled" } } }
                        td { (r.origin) }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "No rule matches." } }
    };
    layout("Rules", "/rules", Some(v), body)
}

fn overlay_text(o: &Overlay) -> String {
    let mut parts = Vec::new();
    match o.enabled {
        Some(true) => parts.push("enabled".to_string()),
        Some(false) => parts.push("disabled".to_string()),
        None => {}
    }
    if let Some(l) = &o.level {
        parts.push(format!("level {l}"));
    }
    for e in &o.exceptions {
        let conds: Vec<String> = e
            .iter()
            .map(|c| format!("{} = {}", c.field, c.value))
            .collect();
        parts.push(format!("except when {}", conds.join(" and ")));
    }
    if parts.is_empty() {
        "no effect".into()
    } else {
        parts.join("; ")
    }
}

fn change_status(s: &str) -> Markup {
    html! { span class={ "change-status change-" (s) } { (s) } }
}

/// One rule's page.
pub fn rule_page(v: &Viewer, d: &RuleDetail) -> Markup {
    let r = &d.summary;
    let body = html! {
        nav.crumbs { a href="/rules" { "Rules" } " / " code { (r.id) } }
        h1 { (level_badge(&r.level)) " " (r.title) }
        dl.facts {
            dt { "Id" } dd { code { (r.id) } }
            dt { "Level" } dd { (r.level) }
            dt { "Status" } dd { (r.status) @if r.disabled { " · " span.off { "disabled for every tenant" } } }
            dt { "Logsource" } dd { code { (r.logsource) } }
            dt { "Tags" } dd.tags { (tag_list(&r.tags)) }
            dt { "Origin" } dd { (r.origin) }
            @if !d.author.is_empty() { dt { "Author" } dd { (d.author) } }
        }
        @if !r.description.is_empty() { p.description { (r.description) } }
        @if !d.references.is_empty() {
            h2 { "References" }
            ul.references {
                @for u in &d.references {
                    li {
                        @if u.starts_with("https://") || u.starts_with("http://") {
                            a href=(u) rel="noreferrer" { (u) }
                        } @else { (u) }
                    }
                }
            }
        }
        @if !d.falsepositives.is_empty() {
            h2 { "False positives" }
            ul { @for f in &d.falsepositives { li { (f) } } }
        }
        @if d.can_propose {
            section.actions aria-label="Propose a change" {
                h2 { "Propose a change" }
                p { a.button href={ "/rules/new?rule=" (encode(&r.id)) } { "Edit the rule text…" } }
                form.inline method="post" action="/rules/new" {
                    (csrf_field(v))
                    input type="hidden" name="rule_id" value=(r.id);
                    input type="hidden" name="kind" value=(if r.disabled { "enable" } else { "disable" });
                    label { "Reason " input name="note" required size="40"; }
                    button type="submit" data-action="toggle" {
                        @if r.disabled { "Propose enabling it" } @else { "Propose disabling it" }
                    }
                }
            }
        }
        section aria-label="Sigma rule" {
            h2 { "Sigma rule" }
            @match &d.yaml {
                Some(y) => { pre.yaml { code { (y) } } }
                None => { p.muted { "The rule's text cannot be read." } }
            }
        }
        @if let Some((rule, versions)) = &d.stored {
            section aria-label="Versions" {
                h2 { "Versions" }
                p.muted { "Under change control: version " (rule.version) ", " (rule.origin)
                    @if !rule.enabled { ", disabled" } "." }
                table.versions {
                    thead { tr { th { "Version" } th { "When (UTC)" } th { "Author" } th { "Approved by" } th { "Change" } th { "State" } } }
                    tbody {
                        @for ver in versions.iter().rev() {
                            tr {
                                td.num { (ver.version) }
                                td.time { (time(ver.created_ns)) }
                                td { (ver.author) }
                                td { (ver.approver) }
                                td { @if let Some(c) = ver.change_id { a href={ "/rules/changes/" (c) } { "#" (c) } } @else { "—" } }
                                td { @if ver.enabled { "enabled" } @else { "disabled" } " · " (ver.origin) }
                            }
                        }
                    }
                }
                @if let Some(up) = &rule.upstream_yaml {
                    details {
                        summary { "Newer upstream text (not applied: the rule was edited here)" }
                        pre.yaml { code { (up) } }
                    }
                }
            }
        }
        section aria-label="Tenant overlays" {
            h2 { "Tenant overlays" }
            @if d.overlays.is_empty() { p.muted { "No tenant in your scope has an overlay on this rule." } }
            @else {
                table {
                    thead { tr { th { "Tenant" } th { "Overlay" } } }
                    tbody { @for (t, o) in &d.overlays { tr { td.tenant { (t) } td { (overlay_text(o)) } } } }
                }
            }
        }
        section aria-label="Suppressions" {
            h2 { "Suppressions" }
            @if d.suppressions.is_empty() { p.muted { "No suppression of this rule in your scope." } }
            @else {
                table {
                    thead { tr { th { "Tenant" } th { "When" } th { "Owner" } th { "Reason" } th { "Expires (UTC)" } th { "Hits" } } }
                    tbody {
                        @for s in &d.suppressions {
                            tr class=[s.removed_ns.map(|_| "removed")] {
                                td.tenant { (s.tenant) }
                                td {
                                    @for (i, c) in s.conditions.iter().enumerate() {
                                        @if i > 0 { " and " }
                                        code { (c.field) } " = " code { (c.value) }
                                    }
                                }
                                td { (s.owner) }
                                td { (s.reason) }
                                td.time { (time(s.expires_ns)) @if s.removed_ns.is_some() { " (removed)" } }
                                td.num { (s.hits) }
                            }
                        }
                    }
                }
            }
        }
        section aria-label="Changes" {
            h2 { "Changes" }
            @if d.changes.is_empty() { p.muted { "No change of this rule was proposed." } }
            @else { (changes_table(&d.changes)) }
        }
    };
    layout(&r.title, "/rules", Some(v), body)
}

fn changes_table(changes: &[RuleChange]) -> Markup {
    html! {
        table.changes {
            thead { tr { th { "#" } th { "Kind" } th { "Rule" } th { "Tenant" } th { "Author" } th { "Reason" } th { "Proposed (UTC)" } th { "State" } } }
            tbody {
                @for c in changes {
                    tr {
                        td.num { a href={ "/rules/changes/" (c.id) } { "#" (c.id) } }
                        td { (c.kind) }
                        td { code { (c.rule_id) } }
                        td.tenant { (c.tenant.as_deref().unwrap_or("all")) }
                        td { (c.author) }
                        td { (c.note) }
                        td.time { (time(c.created_ns)) }
                        td { (change_status(&c.status)) @if let Some(r) = &c.reviewer { " by " (r) } }
                    }
                }
            }
        }
    }
}

/// The form proposing a new rule or an edit.
pub fn propose_page(v: &Viewer, f: &ProposeForm, can_propose: bool) -> Markup {
    let editing = f.kind == "edit" || !f.rule_id.is_empty();
    let body = html! {
        h1 { @if editing { "Propose an edit of " code { (f.rule_id) } } @else { "Propose a new rule" } }
        (rules_nav(if editing { "" } else { "new" }, 0))
        @if let Some(e) = &f.error {
            p.error.refusal role="alert" { (e) }
        }
        @if !can_propose {
            p.muted { "Your roles do not include proposing rule changes for every tenant." }
        } @else {
            form.propose method="post" action="/rules/new" {
                (csrf_field(v))
                input type="hidden" name="kind" value=(if f.kind.is_empty() { "create" } else { f.kind.as_str() });
                input type="hidden" name="rule_id" value=(f.rule_id);
                label for="yaml" { "Sigma rule (YAML)" }
                textarea #yaml.yaml name="yaml" rows="24" cols="100" required spellcheck="false" { (f.yaml) }
                label for="note" { "Reason (required: reviewers read it)" }
                input #note name="note" required size="80" value=(f.note);
                p.hint { "The change goes live only when another person approves it." }
                button type="submit" { "Propose" }
            }
        }
    };
    layout("Propose a rule change", "/rules", Some(v), body)
}

/// The review queue: changes in `status` (all when `None`).
pub fn changes_page(v: &Viewer, status: Option<&str>, changes: &[ChangeView]) -> Markup {
    let states = ["proposed", "approved", "rejected", "withdrawn"];
    let pending = if status == Some("proposed") {
        changes.len()
    } else {
        0
    };
    let list: Vec<RuleChange> = changes.iter().map(|c| c.change.clone()).collect();
    let body = html! {
        h1 { "Rule changes" }
        (rules_nav("changes", pending))
        form.filters method="get" action="/rules/changes" {
            label { "State "
                select name="status" {
                    option value="all" selected[status.is_none()] { "any" }
                    @for s in states { option value=(s) selected[status == Some(s)] { (s) } }
                }
            }
            button type="submit" { "Show" }
        }
        @if list.is_empty() {
            p.empty { @if status == Some("proposed") { "Nothing awaits review." } @else { "No changes." } }
        } @else {
            (changes_table(&list))
        }
    };
    layout("Rule changes", "/rules", Some(v), body)
}

/// A diff line as shown: old and new line numbers, row class, marker, text.
type DiffRow = (
    Option<usize>,
    Option<usize>,
    &'static str,
    &'static str,
    String,
);

fn diff_table(old: &str, new: &str) -> Markup {
    let (mut o, mut n) = (0usize, 0usize);
    let rows: Vec<DiffRow> = line_diff(old, new)
        .into_iter()
        .map(|l| match l {
            DiffLine::Same(t) => {
                o += 1;
                n += 1;
                (Some(o), Some(n), "same", " ", t)
            }
            DiffLine::Removed(t) => {
                o += 1;
                (Some(o), None, "del", "−", t)
            }
            DiffLine::Added(t) => {
                n += 1;
                (None, Some(n), "ins", "+", t)
            }
        })
        .collect();
    html! {
        table.diff aria-label="Line diff: removed lines marked −, added lines marked +" {
            thead { tr { th.num { "Old" } th.num { "New" } th { "±" } th { "Line" } } }
            tbody {
                @for (a, b, class, mark, text) in &rows {
                    tr class=(class) {
                        td.num { @if let Some(a) = a { (a) } }
                        td.num { @if let Some(b) = b { (b) } }
                        td.mark { (mark) }
                        td {
                            @match *class {
                                "del" => { del { code { (text) } } }
                                "ins" => { ins { code { (text) } } }
                                _ => { code { (text) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One change: what it does (a diff for text changes), its state, and the actions the
/// viewer may take. `refusal` is a refusal from the control plane to show (for example an
/// author's approval).
pub fn change_page(v: &Viewer, cv: &ChangeView, refusal: Option<&str>) -> Markup {
    let c = &cv.change;
    let action = format!("/rules/changes/{}", c.id);
    let body = html! {
        nav.crumbs { a href="/rules/changes" { "Rule changes" } " / #" (c.id) }
        h1 { "Change #" (c.id) ": " (c.kind) " " code { (c.rule_id) } }
        @if let Some(r) = refusal {
            p.error.refusal role="alert" { "Refused: " (r) }
        }
        dl.facts {
            dt { "State" } dd { (change_status(&c.status)) }
            dt { "Rule" } dd { a href=(rule_href(&c.rule_id)) { code { (c.rule_id) } } }
            dt { "For" } dd { (c.tenant.as_deref().map_or("every tenant".to_string(), |t| format!("tenant {t}"))) }
            dt { "Author" } dd { (c.author) }
            dt { "Reason" } dd { (c.note) }
            dt { "Proposed" } dd { (time(c.created_ns)) " UTC" }
            @if let Some(b) = c.base_version { dt { "Against version" } dd { (b) } }
            @if let Some(r) = &c.reviewer { dt { "Reviewed by" } dd { (r) } }
            @if let Some(n) = &c.review_note { dt { "Review note" } dd { (n) } }
            @if let Some(t) = c.reviewed_ns { dt { "Decided" } dd { (time(t)) " UTC" } }
        }
        @match c.kind.as_str() {
            "create" | "edit" => {
                section aria-label="Proposed text" {
                    h2 { @if cv.old_yaml.is_some() { "Changes to the rule text" } @else { "The new rule" } }
                    (diff_table(cv.old_yaml.as_deref().unwrap_or(""), &c.payload))
                    div.side-by-side {
                        @if let Some(old) = &cv.old_yaml {
                            details { summary { "Current text" } pre.yaml { code { (old) } } }
                        }
                        details { summary { "Proposed text" } pre.yaml { code { (c.payload) } } }
                    }
                }
            }
            "overlay" => {
                section { h2 { "Overlay" } pre { code { (c.payload) } } }
            }
            k => { p { "The rule is to be " (if k == "disable" { "disabled" } else { "enabled" }) " for every tenant." } }
        }
        @if c.status == "proposed" {
            section.actions aria-label="Review" {
                h2 { "Review" }
                @if cv.is_author {
                    p.muted { "You proposed this change: another person must approve it." }
                }
                @if cv.can_approve || cv.can_reject {
                    form.review method="post" action={ (action) "/review" } {
                        (csrf_field(v))
                        label for="review-note" { "Comment" }
                        textarea #review-note name="note" rows="3" {}
                        div.buttons {
                            @if cv.can_approve {
                                button type="submit" name="decision" value="approve" data-action="approve" { "Approve and make live" }
                            }
                            @if cv.can_reject {
                                button type="submit" name="decision" value="reject" data-action="reject" { "Reject" }
                            }
                        }
                    }
                }
                @if cv.can_withdraw {
                    form.inline method="post" action={ (action) "/withdraw" } {
                        (csrf_field(v))
                        button type="submit" data-action="withdraw" { "Withdraw" }
                    }
                }
                @if !cv.can_approve && !cv.can_reject && !cv.can_withdraw {
                    p.muted { "Your roles do not include reviewing this change." }
                }
            }
        }
    };
    layout(&format!("Change #{}", c.id), "/rules", Some(v), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> Viewer {
        Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "c".into(),
            can_triage: false,
        }
    }

    fn check(old: &str, new: &str, expect: &str) {
        let got: Vec<String> = line_diff(old, new)
            .into_iter()
            .map(|l| match l {
                DiffLine::Same(t) => format!(" {t}"),
                DiffLine::Removed(t) => format!("-{t}"),
                DiffLine::Added(t) => format!("+{t}"),
            })
            .collect();
        assert_eq!(got.join("|"), expect, "{old:?} -> {new:?}");
    }

    #[test]
    fn line_diffs() {
        check("", "", "");
        check("a\nb", "a\nb", " a| b");
        check("", "a\nb", "+a|+b");
        check("a\nb", "", "-a|-b");
        check("a\nb\nc", "a\nx\nc", " a|-b|+x| c");
        check("a\nb\nc\nd", "a\nc\nd\ne", " a|-b| c| d|+e");
        check("x\na\nb", "a\nb\ny", "-x| a| b|+y");
        check(
            "title: t\nlevel: low\ndetection: x",
            "title: t\nlevel: high\nstatus: test\ndetection: x",
            " title: t|-level: low|+level: high|+status: test| detection: x",
        );
    }

    #[test]
    fn line_diffs_of_huge_texts_fall_back_to_replace() {
        let old: String = (0..3000).map(|i| format!("o{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("n{i}\n")).collect();
        let d = line_diff(&old, &new);
        assert_eq!(d.len(), 6000);
        assert_eq!(d[0], DiffLine::Removed("o0".into()));
        assert_eq!(d[3000], DiffLine::Added("n0".into()));
    }

    #[test]
    fn the_search_looks_at_every_field_and_the_level() {
        let r = RuleSummary {
            id: "abc-1".into(),
            title: "Suspicious PowerShell".into(),
            level: "high".into(),
            tags: vec!["attack.t1059.001".into()],
            logsource: "windows/process_creation".into(),
            ..RuleSummary::default()
        };
        let f = |q: &str, level: Option<&str>| RuleFilter {
            q: Some(q.into()),
            level: level.map(String::from),
        };
        assert!(f("powershell", None).matches(&r));
        assert!(f("T1059.001 process_creation", Some("high")).matches(&r));
        assert!(!f("powershell", Some("low")).matches(&r));
        assert!(!f("powershell linux", None).matches(&r));
        assert!(RuleFilter::default().matches(&r));
    }

    const EVIL: &str = "<script>alert(1)</script>";

    fn change(author: &str) -> RuleChange {
        RuleChange {
            id: 3,
            tenant: None,
            rule_id: EVIL.into(),
            kind: "edit".into(),
            payload: format!("title: {EVIL}\n"),
            base_version: Some(1),
            author: author.into(),
            note: EVIL.into(),
            status: "proposed".into(),
            reviewer: None,
            review_note: None,
            created_ns: 0,
            reviewed_ns: None,
        }
    }

    #[test]
    fn the_author_is_never_offered_the_approve_button() {
        let cv = ChangeView {
            change: change("ann"),
            old_yaml: Some("title: old\n".into()),
            can_approve: false,
            can_reject: true,
            can_withdraw: true,
            is_author: true,
        };
        let page = change_page(&viewer(), &cv, Some("the author cannot approve")).into_string();
        assert!(!page.contains("value=\"approve\""), "{page}");
        assert!(page.contains("value=\"reject\""));
        assert!(page.contains("/rules/changes/3/withdraw"));
        assert!(page.contains("role=\"alert\">Refused: the author cannot approve"));
        let other = ChangeView {
            can_approve: true,
            can_withdraw: false,
            is_author: false,
            ..cv
        };
        let page = change_page(&viewer(), &other, None).into_string();
        assert!(page.contains("value=\"approve\""));
        assert!(!page.contains("/withdraw"));
    }

    #[test]
    fn rule_text_and_metadata_render_inert() {
        let s = RuleSummary {
            id: EVIL.into(),
            title: EVIL.into(),
            level: "high".into(),
            status: EVIL.into(),
            tags: vec![EVIL.into()],
            logsource: EVIL.into(),
            description: EVIL.into(),
            origin: "stored".into(),
            disabled: false,
        };
        let d = RuleDetail {
            summary: s.clone(),
            author: EVIL.into(),
            references: vec![EVIL.into(), "javascript:alert(1)".into()],
            yaml: Some(EVIL.into()),
            can_propose: true,
            changes: vec![change(EVIL)],
            ..RuleDetail::default()
        };
        let cv = ChangeView {
            change: change(EVIL),
            old_yaml: Some(EVIL.into()),
            can_approve: true,
            can_reject: true,
            can_withdraw: false,
            is_author: false,
        };
        let form = ProposeForm {
            yaml: format!("</textarea>{EVIL}"),
            note: EVIL.into(),
            error: Some(EVIL.into()),
            ..ProposeForm::default()
        };
        for page in [
            rules_page(&viewer(), &RuleFilter::default(), &[s], 1, 1).into_string(),
            rule_page(&viewer(), &d).into_string(),
            change_page(&viewer(), &cv, Some(EVIL)).into_string(),
            propose_page(&viewer(), &form, true).into_string(),
        ] {
            assert_eq!(page.matches("<script").count(), 1, "only the app's script");
            assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(!page.contains("href=\"javascript:"));
            assert!(!page.contains("</textarea><script"));
            assert!(!page.contains("style="));
        }
    }

    #[test]
    fn rule_links_encode_the_id() {
        assert_eq!(rule_href("a b/c"), "/rules/a%20b%2Fc");
        assert_eq!(rule_href("0b8e-1"), "/rules/0b8e-1");
    }
}
