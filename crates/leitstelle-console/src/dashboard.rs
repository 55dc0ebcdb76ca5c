//! The dashboard: alerts over time by level, open alerts and SLA breaches per tenant,
//! MTTA / MTTR per tenant and tier, the rules that alerted most, intake per source, and an
//! ATT&CK coverage matrix of the enabled rules.
//!
//! Charts are SVG built here: no script, no inline styles (colours come from CSS classes,
//! so both themes work), a `<title>` tooltip on every bar and cell, and each chart has a
//! table of the same numbers next to it. The ATT&CK matrix needs no dataset: techniques
//! and tactics come from the rules' own tags (`attack.t1059.001`, `attack.execution`).

use std::collections::{BTreeMap, BTreeSet};

use leitstelle_control::LEVELS;
use leitstelle_control::stats::AlertStats;
use maud::{Markup, html};

use crate::fmt::{duration, time};
use crate::{Viewer, layout};

/// The periods the dashboard covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Period {
    /// The last 24 hours, by hour (the default).
    #[default]
    Day,
    /// The last 7 days, by 6 hours.
    Week,
    /// The last 30 days, by day.
    Month,
}

const HOUR: i64 = 3600 * 1_000_000_000;

impl Period {
    /// Every period, in the picker's order.
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// `24h`, `7d`, `30d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Week => "7d",
            Period::Month => "30d",
        }
    }

    /// The period named `24h`, `7d` or `30d`.
    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// How long it is (ns).
    pub fn span_ns(self) -> i64 {
        match self {
            Period::Day => 24 * HOUR,
            Period::Week => 7 * 24 * HOUR,
            Period::Month => 30 * 24 * HOUR,
        }
    }

    /// The width of one bar of the time chart (ns): an hour, six hours, a day.
    pub fn bucket_ns(self) -> i64 {
        match self {
            Period::Day => HOUR,
            Period::Week => 6 * HOUR,
            Period::Month => 24 * HOUR,
        }
    }

    /// The start of the period ending at `now_ns`, aligned to a whole bucket so that the
    /// bars line up with hours and days (the last bar is the one running now).
    pub fn start(self, now_ns: i64) -> i64 {
        let b = self.bucket_ns();
        (now_ns.div_euclid(b) + 1) * b - self.span_ns()
    }

    fn label(self) -> &'static str {
        match self {
            Period::Day => "last 24 hours",
            Period::Week => "last 7 days",
            Period::Month => "last 30 days",
        }
    }
}

// -------------------------------------------------------------------------------------
// ATT&CK tags

/// The enterprise ATT&CK tactics in kill-chain order: (tag name, label).
pub const TACTICS: [(&str, &str); 14] = [
    ("reconnaissance", "Reconnaissance"),
    ("resource_development", "Resource Development"),
    ("initial_access", "Initial Access"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege_escalation", "Privilege Escalation"),
    ("defense_evasion", "Defense Evasion"),
    ("credential_access", "Credential Access"),
    ("discovery", "Discovery"),
    ("lateral_movement", "Lateral Movement"),
    ("collection", "Collection"),
    ("command_and_control", "Command and Control"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// What an `attack.*` tag names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttackTag {
    /// A tactic, as its tag name (`execution`, `command_and_control`).
    Tactic(String),
    /// A technique or sub-technique id (`T1059`, `T1059.001`).
    Technique(String),
}

/// Reads an ATT&CK tag: `attack.t1059.001` is technique `T1059.001`, `attack.execution`
/// (or `attack.Command-and-Control`) a tactic. Groups (`attack.g0016`), software
/// (`attack.s0002`) and anything else are `None`.
pub fn parse_attack_tag(tag: &str) -> Option<AttackTag> {
    let rest = tag.get(..7).filter(|p| p.eq_ignore_ascii_case("attack."))?;
    let rest = &tag[rest.len()..];
    let lower = rest.to_ascii_lowercase();
    if let Some(num) = lower.strip_prefix('t') {
        let (main, sub) = match num.split_once('.') {
            Some((m, s)) => (m, Some(s)),
            None => (num, None),
        };
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if digits(main, 4) && sub.is_none_or(|s| digits(s, 3)) {
            return Some(AttackTag::Technique(format!("T{num}")));
        }
        if main.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let name = lower.replace('-', "_");
    let wordy = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && !name.starts_with('_');
    // g0016, s0002 and the like have digits, so they are not wordy.
    wordy.then_some(AttackTag::Tactic(name))
}

/// The technique id of a tag (`attack.t1059.001` → `T1059.001`).
pub fn technique_of(tag: &str) -> Option<String> {
    match parse_attack_tag(tag) {
        Some(AttackTag::Technique(t)) => Some(t),
        _ => None,
    }
}

/// A technique some enabled rules cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoveredTechnique {
    pub id: String,
    /// Titles of the rules covering it, sorted.
    pub rules: Vec<String>,
    /// Alerts in the period carrying its tag.
    pub alerts: u64,
}

/// One column of the matrix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TacticColumn {
    /// The tactic's tag name (`execution`), or empty for techniques of rules that name no
    /// tactic.
    pub tactic: String,
    pub label: String,
    /// Sorted by id.
    pub techniques: Vec<CoveredTechnique>,
}

/// The coverage matrix of `rules` ((title, tags) of each enabled rule): every known tactic
/// (in kill-chain order, empty ones too), then tactics the tags name that ATT&CK
/// enterprise does not, then the techniques of rules that name no tactic. A rule's
/// techniques go under each tactic it names. `alert_tags` counts alerts per lowercased
/// tag in the period.
pub fn coverage(
    rules: &[(String, Vec<String>)],
    alert_tags: &BTreeMap<String, u64>,
) -> Vec<TacticColumn> {
    // tactic → technique → rule titles
    let mut cells: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (title, tags) in rules {
        let mut tactics = Vec::new();
        let mut techniques = Vec::new();
        for t in tags {
            match parse_attack_tag(t) {
                Some(AttackTag::Tactic(x)) => tactics.push(x),
                Some(AttackTag::Technique(x)) => techniques.push(x),
                None => {}
            }
        }
        if tactics.is_empty() {
            tactics.push(String::new());
        }
        for tactic in &tactics {
            for tech in &techniques {
                cells
                    .entry(tactic.clone())
                    .or_default()
                    .entry(tech.clone())
                    .or_default()
                    .insert(title.clone());
            }
        }
    }
    let column =
        |tactic: &str, label: &str, cells: &mut BTreeMap<_, BTreeMap<String, BTreeSet<String>>>| {
            let techniques = cells
                .remove(tactic)
                .unwrap_or_default()
                .into_iter()
                .map(|(id, rules)| CoveredTechnique {
                    alerts: alert_tags
                        .get(&format!("attack.{}", id.to_ascii_lowercase()))
                        .copied()
                        .unwrap_or(0),
                    id,
                    rules: rules.into_iter().collect(),
                })
                .collect();
            TacticColumn {
                tactic: tactic.to_string(),
                label: label.to_string(),
                techniques,
            }
        };
    let mut out: Vec<TacticColumn> = TACTICS
        .iter()
        .map(|(t, l)| column(t, l, &mut cells))
        .collect();
    let unmapped = cells.remove("");
    let others: Vec<String> = cells.keys().cloned().collect();
    for t in others {
        let label = t.replace('_', " ");
        out.push(column(&t, &label, &mut cells));
    }
    if let Some(u) = unmapped {
        cells.insert(String::new(), u);
        out.push(column("", "(no tactic tag)", &mut cells));
    }
    out
}

// -------------------------------------------------------------------------------------
// SVG charts

/// One bar: its label, its tooltip heading, and its segments (level or series, count).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    /// The tooltip's first part (a longer label, e.g. the bucket's full time).
    pub heading: String,
    pub segments: Vec<(String, u64)>,
}

impl Bar {
    fn total(&self) -> u64 {
        self.segments.iter().map(|(_, n)| n).sum()
    }
}

/// A round upper bound for an axis: 1, 2, 5 × 10ⁿ at or above `max` (at least 1).
pub fn nice_max(max: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            let v = unit.saturating_mul(m);
            if v >= max || v == u64::MAX {
                return v.max(1);
            }
        }
        unit = unit.saturating_mul(10);
    }
}

/// The CSS class of a series: `lv-<level>` for Sigma levels, `lv-other` otherwise.
fn series_class(name: &str) -> String {
    if LEVELS.contains(&name) {
        format!("seg lv-{name}")
    } else {
        "seg lv-other".into()
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Vertical stacked bars (a time series): `bars` left to right, each segment a `rect` with
/// a `<title>`, a labelled y axis, every `label_every`-th x label.
pub fn stacked_bars(label: &str, bars: &[Bar], label_every: usize) -> Markup {
    const W: f64 = 760.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 8.0;
    const TOP: f64 = 10.0;
    const BOTTOM: f64 = 28.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = nice_max(bars.iter().map(Bar::total).max().unwrap_or(0));
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let every = label_every.max(1);
    let scale = |n: u64| n as f64 / max as f64 * plot_h;
    html! {
        svg.chart.bars viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet" {
            title { (label) }
            @for (i, tick) in [0, max / 2, max].into_iter().enumerate() {
                @let y = TOP + plot_h - scale(tick);
                line.grid x1=(px(LEFT)) x2=(px(W - RIGHT)) y1=(px(y)) y2=(px(y)) {}
                @if i == 0 || tick > 0 {
                    text.axis x=(px(LEFT - 4.0)) y=(px(y + 4.0)) text-anchor="end" { (tick) }
                }
            }
            @for (i, b) in bars.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
                g.bar {
                    @let mut y = TOP + plot_h;
                    @for (name, n) in b.segments.iter().filter(|(_, n)| *n > 0) {
                        @let h = scale(*n);
                        @let top = { y -= h; y };
                        rect class=(series_class(name)) x=(px(x)) y=(px(top)) width=(px(bar_w)) height=(px(h.max(0.5))) {
                            title { (b.heading) " · " (name) ": " (n) " (total " (b.total()) ")" }
                        }
                    }
                    @if i % every == 0 {
                        text.axis x=(px(x + bar_w / 2.0)) y=(px(H - 10.0)) text-anchor="middle" { (b.label) }
                    }
                }
            }
            line.axis-line x1=(px(LEFT)) x2=(px(W - RIGHT)) y1=(px(TOP + plot_h)) y2=(px(TOP + plot_h)) {}
        }
    }
}

/// Horizontal stacked bars (one per row, e.g. per tenant or rule), labels on the left.
pub fn hbars(label: &str, bars: &[Bar]) -> Markup {
    const W: f64 = 760.0;
    const ROW: f64 = 24.0;
    const LEFT: f64 = 220.0;
    const RIGHT: f64 = 48.0;
    let h = ROW * bars.len().max(1) as f64 + 8.0;
    let plot_w = W - LEFT - RIGHT;
    let max = nice_max(bars.iter().map(Bar::total).max().unwrap_or(0));
    let scale = |n: u64| n as f64 / max as f64 * plot_w;
    html! {
        svg.chart.hbars viewBox={ "0 0 " (W) " " (h) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet" {
            title { (label) }
            @for (i, b) in bars.iter().enumerate() {
                @let y = 4.0 + i as f64 * ROW;
                g.bar {
                    text.axis x=(px(LEFT - 6.0)) y=(px(y + ROW * 0.65)) text-anchor="end" { (short(&b.label, 34)) }
                    @let mut x = LEFT;
                    @for (name, n) in b.segments.iter().filter(|(_, n)| *n > 0) {
                        @let w = scale(*n);
                        @let left = { let l = x; x += w; l };
                        rect class=(series_class(name)) x=(px(left)) y=(px(y + 3.0)) width=(px(w.max(0.5))) height=(px(ROW - 6.0)) {
                            title { (b.heading) " · " (name) ": " (n) " (total " (b.total()) ")" }
                        }
                    }
                    text.axis x=(px(LEFT + scale(b.total()) + 4.0)) y=(px(y + ROW * 0.65)) { (b.total()) }
                }
            }
        }
    }
}

/// At most `n` characters, with an ellipsis when cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The ATT&CK matrix as SVG: a column per tactic, a cell per covered technique (marked
/// when it had alerts in the period), each with a `<title>`.
pub fn matrix_svg(columns: &[TacticColumn]) -> Markup {
    const COL: f64 = 112.0;
    const HEAD: f64 = 40.0;
    const CELL: f64 = 22.0;
    let rows = columns
        .iter()
        .map(|c| c.techniques.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let w = COL * columns.len().max(1) as f64;
    let h = HEAD + CELL * rows as f64 + 4.0;
    html! {
        svg.chart.matrix viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="ATT&CK techniques covered by enabled rules, per tactic"
            xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet" {
            title { "ATT&CK techniques covered by enabled rules, per tactic" }
            @for (i, c) in columns.iter().enumerate() {
                @let x = i as f64 * COL;
                g.tactic {
                    rect.head x=(px(x + 1.0)) y="1" width=(px(COL - 2.0)) height=(px(HEAD - 4.0)) {
                        title { (c.label) ": " (c.techniques.len()) " techniques covered" }
                    }
                    @let words: Vec<&str> = c.label.split(' ').collect();
                    @let (l1, l2) = split_label(&words);
                    text.head x=(px(x + COL / 2.0)) y="16" text-anchor="middle" { (short(&l1, 18)) }
                    text.head x=(px(x + COL / 2.0)) y="30" text-anchor="middle" { (short(&l2, 18)) }
                    @for (j, t) in c.techniques.iter().enumerate() {
                        @let y = HEAD + j as f64 * CELL;
                        g {
                            rect class={ "cell" @if t.alerts > 0 { " hit" } } x=(px(x + 1.0)) y=(px(y)) width=(px(COL - 2.0)) height=(px(CELL - 2.0)) {
                                title {
                                    (t.id) " · " (c.label) " · " (t.rules.len()) " rule(s): " (t.rules.join("; "))
                                    " · " (t.alerts) " alert(s) in the period"
                                }
                            }
                            text.cell x=(px(x + COL / 2.0)) y=(px(y + CELL * 0.68)) text-anchor="middle" {
                                (t.id) @if t.alerts > 0 { " ●" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A tactic label over two lines.
fn split_label(words: &[&str]) -> (String, String) {
    match words.len() {
        0 | 1 => (words.join(" "), String::new()),
        2 => (words[0].to_string(), words[1].to_string()),
        n => (words[..n / 2].join(" "), words[n / 2..].join(" ")),
    }
}

// -------------------------------------------------------------------------------------
// The page

/// What one intake source received for one tenant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntakeRow {
    pub source: String,
    pub tenant: String,
    pub received: u64,
    pub parsed: u64,
    pub failed: u64,
    /// Records per second recently, when the server keeps a rate.
    pub per_sec: Option<f64>,
    /// When the last record arrived.
    pub last_ns: Option<i64>,
}

/// Everything the dashboard shows.
#[derive(Clone, Debug, Default)]
pub struct DashboardView {
    pub period: Period,
    pub from_ns: i64,
    pub to_ns: i64,
    pub stats: AlertStats,
    /// The coverage matrix.
    pub coverage: Vec<TacticColumn>,
    /// Enabled rules counted in the matrix, and those with ATT&CK technique tags.
    pub enabled_rules: usize,
    pub attack_rules: usize,
    pub intake: Vec<IntakeRow>,
    /// What the intake figures are (since when, what a rate covers).
    pub intake_note: String,
}

/// Levels, most severe first.
fn levels_desc() -> impl Iterator<Item = &'static str> {
    LEVELS.iter().rev().copied()
}

/// The time chart's bars: one per bucket of the period, empty ones too.
pub fn time_bars(d: &DashboardView) -> Vec<Bar> {
    let b = d.period.bucket_ns();
    let n = ((d.to_ns - d.from_ns) / b).max(0) as usize;
    let mut counts: BTreeMap<(i64, &str), u64> = BTreeMap::new();
    for l in &d.stats.timeline {
        *counts.entry((l.bucket_ns, l.level.as_str())).or_default() += l.alerts;
    }
    (0..n)
        .map(|i| {
            let start = d.from_ns + i as i64 * b;
            let dt = chrono::DateTime::from_timestamp(start.div_euclid(1_000_000_000), 0);
            let fmt = |f: &str| dt.map(|t| t.format(f).to_string()).unwrap_or_default();
            let label = match d.period {
                Period::Day => fmt("%H:%M"),
                Period::Week => fmt("%a %Hh"),
                Period::Month => fmt("%m-%d"),
            };
            let mut segments: Vec<(String, u64)> = levels_desc()
                .map(|l| (l.to_string(), counts.remove(&(start, l)).unwrap_or(0)))
                .collect();
            // levels outside the Sigma names (should not happen) still count
            let others: u64 = counts
                .iter()
                .filter(|((s, _), _)| *s == start)
                .map(|(_, n)| n)
                .sum();
            if others > 0 {
                segments.push(("other".into(), others));
            }
            Bar {
                label,
                heading: format!("{} UTC", fmt("%Y-%m-%d %H:%M")),
                segments,
            }
        })
        .collect()
}

fn mean(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| duration(s.round() as i64))
}

/// The dashboard page.
pub fn dashboard_page(v: &Viewer, d: &DashboardView) -> Markup {
    let s = &d.stats;
    let bars = time_bars(d);
    let label_every = match d.period {
        Period::Day => 3,
        Period::Week => 4,
        Period::Month => 3,
    };
    let total: u64 = bars.iter().map(Bar::total).sum();
    // open alerts per tenant
    let mut open: BTreeMap<&str, (BTreeMap<&str, u64>, u64, u64)> = BTreeMap::new();
    for o in &s.open {
        let e = open.entry(o.tenant.as_str()).or_default();
        *e.0.entry(o.level.as_str()).or_default() += o.alerts;
        e.1 += o.ack_breached;
        e.2 += o.resolve_breached;
    }
    let open_bars: Vec<Bar> = open
        .iter()
        .map(|(t, (levels, _, _))| Bar {
            label: t.to_string(),
            heading: format!("{t}, open now"),
            segments: levels_desc()
                .map(|l| (l.to_string(), levels.get(l).copied().unwrap_or(0)))
                .collect(),
        })
        .collect();
    let rule_bars: Vec<Bar> = s
        .top_rules
        .iter()
        .map(|r| Bar {
            label: r.title.clone(),
            heading: format!("{} ({})", r.title, r.rule_id),
            segments: vec![("alerts".into(), r.alerts)],
        })
        .collect();
    let tenant_q = v
        .tenant
        .as_deref()
        .map(|t| format!("&tenant={t}"))
        .unwrap_or_default();
    let hits = d
        .coverage
        .iter()
        .flat_map(|c| &c.techniques)
        .filter(|t| t.alerts > 0)
        .map(|t| t.id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let covered = d
        .coverage
        .iter()
        .flat_map(|c| &c.techniques)
        .map(|t| t.id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let body = html! {
        h1 { "Dashboard" }
        nav.periods aria-label="Period" {
            @for p in Period::ALL {
                a.period href={ "/dashboard?period=" (p.as_str()) (tenant_q) }
                    aria-current=[(p == d.period).then_some("page")] { (p.as_str()) }
            }
            span.muted {
                (d.period.label()) ": " (time(d.from_ns)) " – " (time(d.to_ns)) " UTC · "
                @match v.tenant.as_deref() {
                    Some(t) => { "tenant " (t) }
                    None => { (s.tenants.len()) " tenant(s) in scope" }
                }
            }
        }
        @if s.tenants.is_empty() {
            p.empty role="note" { "None of the tenants picked is in your scope for metrics." }
        }
        section.panel aria-labelledby="h-time" {
            h2 #h-time { "Alerts raised by level (" (total) ")" }
            (stacked_bars(&format!("Alerts raised per {} by level", match d.period { Period::Day => "hour", Period::Week => "6 hours", Period::Month => "day" }), &bars, label_every))
            (legend())
            details {
                summary { "Table of this chart" }
                table.figures {
                    thead { tr { th { "From (UTC)" } @for l in levels_desc() { th.num { (l) } } th.num { "Total" } } }
                    tbody {
                        @for b in bars.iter().filter(|b| b.total() > 0) {
                            tr {
                                td { (b.heading) }
                                @for (_, n) in b.segments.iter().take(LEVELS.len()) { td.num { (n) } }
                                td.num { (b.total()) }
                            }
                        }
                    }
                }
            }
        }
        div.grid {
            section.panel aria-labelledby="h-open" {
                h2 #h-open { "Open alerts per tenant (now)" }
                @if open.is_empty() { p.empty { "No open alerts." } }
                @else {
                    (hbars("Open alerts per tenant by level", &open_bars))
                    table.figures {
                        thead { tr { th { "Tenant" } @for l in levels_desc() { th.num { (l) } } th.num { "Open" } th.num { "Ack SLA breached" } th.num { "Resolve SLA breached" } } }
                        tbody {
                            @for (t, (levels, ack, res)) in &open {
                                tr {
                                    td.tenant { (t) }
                                    @for l in levels_desc() { td.num { (levels.get(l).copied().unwrap_or(0)) } }
                                    td.num { (levels.values().sum::<u64>()) }
                                    td.num class=[(*ack > 0).then_some("breached")] { (ack) }
                                    td.num class=[(*res > 0).then_some("breached")] { (res) }
                                }
                            }
                        }
                    }
                }
            }
            section.panel aria-labelledby="h-rules" {
                h2 #h-rules { "Top rules by alerts" }
                @if rule_bars.is_empty() { p.empty { "No alerts in the period." } }
                @else {
                    (hbars("Rules by alerts raised in the period", &rule_bars))
                    table.figures {
                        thead { tr { th { "Rule" } th.num { "Alerts" } th.num { "Matches" } } }
                        tbody {
                            @for r in &s.top_rules {
                                tr {
                                    td { a href=(crate::rules::rule_href(&r.rule_id)) { (r.title) } }
                                    td.num { (r.alerts) }
                                    td.num { (r.matches) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="h-sla" {
            h2 #h-sla { "Response times and SLA per tenant and tier" }
            p.muted { "Alerts raised in the period. Tier 1: handled without escalation; tier 2: escalated. SLA breaches are counted against each tenant's policy as of now." }
            @if s.tiers.is_empty() { p.empty { "No alerts in the period." } }
            @else {
                table.figures {
                    thead { tr { th { "Tenant" } th { "Tier" } th.num { "Alerts" } th.num { "Acknowledged" } th.num { "Closed" } th.num { "MTTA" } th.num { "MTTR" } th.num { "Ack SLA breached" } th.num { "Resolve SLA breached" } } }
                    tbody {
                        @for f in &s.tiers {
                            tr {
                                td.tenant { (f.tenant) }
                                td { (f.tier) }
                                td.num { (f.alerts) }
                                td.num { (f.acknowledged) }
                                td.num { (f.closed) }
                                td.num { (mean(f.mtta_secs)) }
                                td.num { (mean(f.mttr_secs)) }
                                td.num class=[(f.ack_breaches > 0).then_some("breached")] { (f.ack_breaches) }
                                td.num class=[(f.resolve_breaches > 0).then_some("breached")] { (f.resolve_breaches) }
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="h-intake" {
            h2 #h-intake { "Intake per source" }
            p.muted { (d.intake_note) }
            @if d.intake.is_empty() { p.empty { "Nothing received for these tenants since the server started." } }
            @else {
                table.figures {
                    thead { tr { th { "Source" } th { "Tenant" } th.num { "Received" } th.num { "Parsed" } th.num { "Failed" } th.num { "Per second" } th { "Last record (UTC)" } } }
                    tbody {
                        @for r in &d.intake {
                            tr {
                                td { (r.source) }
                                td.tenant { (r.tenant) }
                                td.num { (r.received) }
                                td.num { (r.parsed) }
                                td.num class=[(r.failed > 0).then_some("breached")] { (r.failed) }
                                td.num { @match r.per_sec { Some(x) => { (format!("{x:.2}")) } None => { "—" } } }
                                td.time { @match r.last_ns { Some(t) => { (time(t)) } None => { "—" } } }
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="h-attack" {
            h2 #h-attack { "ATT&CK coverage" }
            p.muted {
                (covered) " techniques covered by " (d.attack_rules) " of " (d.enabled_rules)
                " enabled rules (from their tags); " (hits) " had alerts in the period (marked ●). "
                "Tactics come from the rules' tactic tags; techniques of rules without one are in the last column."
            }
            div.matrix-wrap { (matrix_svg(&d.coverage)) }
            details {
                summary { "Table of the matrix" }
                table.figures {
                    thead { tr { th { "Tactic" } th { "Techniques (rules, alerts in the period)" } } }
                    tbody {
                        @for c in d.coverage.iter().filter(|c| !c.techniques.is_empty()) {
                            tr {
                                td { (c.label) }
                                td {
                                    @for (i, t) in c.techniques.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        span class=[(t.alerts > 0).then_some("hit")] { (t.id) " (" (t.rules.len()) ", " (t.alerts) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Dashboard", "/dashboard", Some(v), body)
}

fn legend() -> Markup {
    html! {
        ul.legend aria-hidden="true" {
            @for l in levels_desc() {
                li { svg.swatch viewBox="0 0 10 10" width="10" height="10" { rect class={ "lv-" (l) } width="10" height="10" {} } " " (l) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leitstelle_control::stats::{LevelCount, OpenCount, RuleCount, TierFigures};

    #[test]
    fn attack_tags() {
        let t = |s: &str| parse_attack_tag(s);
        let tech = |s: &str| Some(AttackTag::Technique(s.into()));
        let tactic = |s: &str| Some(AttackTag::Tactic(s.into()));
        assert_eq!(t("attack.t1059"), tech("T1059"));
        assert_eq!(t("attack.t1059.001"), tech("T1059.001"));
        assert_eq!(t("attack.T1003.001"), tech("T1003.001"));
        assert_eq!(t("ATTACK.execution"), tactic("execution"));
        assert_eq!(
            t("attack.command-and-control"),
            tactic("command_and_control")
        );
        assert_eq!(t("attack.defense_evasion"), tactic("defense_evasion"));
        for none in [
            "attack.g0016",
            "attack.s0002",
            "attack.t105",
            "attack.t1059.01",
            "attack.t1059.001.1",
            "attack.",
            "attack",
            "car.2013-05-004",
            "cve.2021-44228",
            "attack.t1059x",
            "attàck.t1059",
        ] {
            assert_eq!(t(none), None, "{none}");
        }
        assert_eq!(
            technique_of("attack.t1566.001").as_deref(),
            Some("T1566.001")
        );
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn coverage_places_techniques_under_their_rules_tactics() {
        let rules = vec![
            (
                "PowerShell".to_string(),
                tags(&["attack.execution", "attack.t1059.001"]),
            ),
            (
                "Cmd".to_string(),
                tags(&["attack.execution", "attack.persistence", "attack.t1059"]),
            ),
            ("Lsass".to_string(), tags(&["attack.t1003.001"])),
            (
                "Ics".to_string(),
                tags(&["attack.inhibit_response_function", "attack.t0800"]),
            ),
            ("Nothing".to_string(), tags(&["attack.g0016"])),
        ];
        let alerts = BTreeMap::from([("attack.t1059".to_string(), 3)]);
        let m = coverage(&rules, &alerts);
        assert_eq!(m.len(), TACTICS.len() + 2);
        let col = |name: &str| m.iter().find(|c| c.tactic == name).expect(name);
        let exec = col("execution");
        assert_eq!(exec.label, "Execution");
        let ids: Vec<_> = exec
            .techniques
            .iter()
            .map(|t| (t.id.as_str(), t.alerts))
            .collect();
        assert_eq!(ids, [("T1059", 3), ("T1059.001", 0)]);
        assert_eq!(exec.techniques[0].rules, ["Cmd"]);
        assert_eq!(col("persistence").techniques.len(), 1);
        assert!(col("impact").techniques.is_empty(), "empty tactics stay");
        assert_eq!(col("inhibit_response_function").techniques[0].id, "T0800");
        let last = m.last().expect("columns");
        assert_eq!(
            (last.tactic.as_str(), last.label.as_str()),
            ("", "(no tactic tag)")
        );
        assert_eq!(last.techniques[0].id, "T1003.001");
        // kill-chain order first
        assert_eq!(m[0].tactic, "reconnaissance");
        assert_eq!(m[13].tactic, "impact");
    }

    #[test]
    fn nice_axis_maxima() {
        for (max, want) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 5),
            (7, 10),
            (11, 20),
            (250, 500),
            (1000, 1000),
        ] {
            assert_eq!(nice_max(max), want, "{max}");
        }
        assert!(nice_max(u64::MAX) >= 1);
    }

    fn bar(label: &str, segs: &[(&str, u64)]) -> Bar {
        Bar {
            label: label.into(),
            heading: format!("at {label}"),
            segments: segs.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        }
    }

    /// The `height` of each rect of an SVG, in order.
    fn heights(svg: &str) -> Vec<f64> {
        svg.split("<rect ")
            .skip(1)
            .filter_map(|r| {
                let h = r.split("height=\"").nth(1)?.split('"').next()?;
                h.parse().ok()
            })
            .collect()
    }

    #[test]
    fn stacked_bars_scale_stack_and_title_every_segment() {
        let svg = stacked_bars(
            "Alerts",
            &[
                bar("10:00", &[("critical", 1), ("high", 3)]),
                bar("11:00", &[]),
                bar("12:00", &[("low", 2)]),
            ],
            1,
        )
        .into_string();
        // axis max 5 over 202 px of plot: 1 → 40.4, 3 → 121.2, 2 → 80.8
        assert_eq!(heights(&svg), [40.4, 121.2, 80.8]);
        assert_eq!(
            svg.matches("<title>").count(),
            4,
            "the chart's and one per segment"
        );
        assert!(svg.contains("<title>at 10:00 · high: 3 (total 4)</title>"));
        assert!(svg.contains("class=\"seg lv-critical\""));
        // the critical segment sits on the axis, high on top of it
        let ys: Vec<f64> = svg
            .split("<rect ")
            .skip(1)
            .filter_map(|r| r.split(" y=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(ys[0], 10.0 + 202.0 - 40.4);
        assert!((ys[1] - (ys[0] - 121.2)).abs() < 0.11, "{ys:?}");
        assert!(svg.contains(">5</text>"), "the axis maximum is labelled");
        assert!(!svg.contains("style="));
    }

    #[test]
    fn hbars_and_matrix_are_inert_and_titled() {
        let evil = "<script>alert(1)</script>";
        let h = hbars("Open", &[bar(evil, &[("high", 2), ("x", 1)])]).into_string();
        assert!(!h.contains("<script>"));
        assert!(h.contains("class=\"seg lv-other\""));
        assert_eq!(heights(&h).len(), 2);
        let m = matrix_svg(&[TacticColumn {
            tactic: "execution".into(),
            label: "Execution".into(),
            techniques: vec![
                CoveredTechnique {
                    id: "T1059".into(),
                    rules: vec![evil.into()],
                    alerts: 2,
                },
                CoveredTechnique {
                    id: "T1106".into(),
                    rules: vec!["b".into()],
                    alerts: 0,
                },
            ],
        }])
        .into_string();
        assert!(!m.contains("<script>"));
        assert_eq!(m.matches("<rect class=\"cell hit\"").count(), 1);
        assert_eq!(m.matches("<rect class=\"cell\"").count(), 1);
        assert!(m.contains("T1059 · Execution · 1 rule(s): &lt;script&gt;"));
    }

    #[test]
    fn periods_align_to_buckets() {
        let now = 1_714_557_600_000_000_000 + 25 * 60 * 1_000_000_000; // 10:25
        let p = Period::Day;
        let start = p.start(now);
        assert_eq!(start % p.bucket_ns(), 0);
        assert_eq!(start + p.span_ns(), 1_714_557_600_000_000_000 + HOUR);
        assert_eq!(Period::parse("7d"), Some(Period::Week));
        assert_eq!(Period::parse("1y"), None);
    }

    #[test]
    fn the_page_renders_every_panel_inert() {
        let evil = "<script>alert(1)</script>";
        let v = Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: Some("acme".into()),
            csrf: "c".into(),
            can_triage: false,
        };
        let now = 1_714_557_600_000_000_000;
        let period = Period::Day;
        let from = period.start(now);
        let d = DashboardView {
            period,
            from_ns: from,
            to_ns: from + period.span_ns(),
            stats: AlertStats {
                tenants: vec!["acme".into()],
                timeline: vec![LevelCount {
                    bucket_ns: from + HOUR,
                    level: "high".into(),
                    alerts: 7,
                }],
                open: vec![OpenCount {
                    tenant: "acme".into(),
                    level: "high".into(),
                    alerts: 5,
                    ack_breached: 2,
                    resolve_breached: 0,
                }],
                tiers: vec![TierFigures {
                    tenant: "acme".into(),
                    tier: "tier1".into(),
                    alerts: 7,
                    acknowledged: 2,
                    closed: 1,
                    mtta_secs: Some(125.0),
                    mttr_secs: None,
                    ack_breaches: 2,
                    resolve_breaches: 0,
                }],
                top_rules: vec![RuleCount {
                    rule_id: evil.into(),
                    title: evil.into(),
                    alerts: 7,
                    matches: 9,
                }],
                tags: BTreeMap::new(),
            },
            coverage: coverage(
                &[(
                    evil.to_string(),
                    tags(&["attack.execution", "attack.t1059"]),
                )],
                &BTreeMap::new(),
            ),
            enabled_rules: 1,
            attack_rules: 1,
            intake: vec![IntakeRow {
                source: evil.into(),
                tenant: "acme".into(),
                received: 10,
                parsed: 9,
                failed: 1,
                per_sec: Some(0.5),
                last_ns: Some(now),
            }],
            intake_note: "since start".into(),
        };
        let page = dashboard_page(&v, &d).into_string();
        assert_eq!(page.matches("<script").count(), 1, "only the app's script");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("style="));
        assert!(page.contains("Alerts raised by level (7)"));
        assert!(page.contains(">2m 05s<"), "MTTA");
        assert!(page.contains("href=\"/dashboard?period=7d&amp;tenant=acme\""));
        assert!(page.contains("aria-current=\"page\">24h<"));
        assert!(page.contains(">0.50<"));
        assert_eq!(time_bars(&d).len(), 24);
    }
}
