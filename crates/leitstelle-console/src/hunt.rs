//! The hunt page: search bar (the query text lives in the URL, so a hunt is a link), time
//! range, a histogram of hits over time (inline SVG), the result table with every event
//! expandable to its stored document, a field sidebar whose values add filters, saved
//! hunts and a retro-hunt of a Sigma rule over the current search.
//!
//! Everything here is pure: the server runs the search and hands over the results. Event
//! data is attacker-controlled and only ever spliced through maud's escaping.

use std::collections::HashMap;

use leitstelle_control::hunts::SavedHunt;
use maud::{Markup, html};
use serde_json::Value;

use crate::fmt::time;
use crate::{Viewer, csrf_field, layout};

/// Hits per page.
pub const PAGE_SIZE: usize = 50;
/// Fields the sidebar lists at most.
pub const SIDEBAR_FIELDS: usize = 40;
/// Top values per field in the sidebar.
pub const SIDEBAR_VALUES: usize = 5;
/// Values longer than this many bytes get no filter link (the URL would be unwieldy).
const MAX_LINK_VALUE: usize = 1024;
/// Characters of a value shown before it is cut (the expanded event shows it whole).
const SHOWN_CHARS: usize = 160;

/// The time range presets: (URL value, label, the `from` text the search gets).
pub const PRESETS: &[(&str, &str, &str)] = &[
    ("15m", "Last 15 minutes", "-15m"),
    ("1h", "Last hour", "-1h"),
    ("24h", "Last 24 hours", "-24h"),
    ("7d", "Last 7 days", "-7d"),
    ("30d", "Last 30 days", "-30d"),
];

/// The preset used when the URL names no range.
pub const DEFAULT_PRESET: &str = "24h";

/// A time range as the page's URL carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeRange {
    /// One of [`PRESETS`], by its URL value: from that long ago until now.
    Preset(&'static str),
    /// No bounds.
    All,
    /// Free bounds in any form the search accepts (RFC 3339, `now`, `-24h`, `now-7d`);
    /// empty means unbounded.
    Custom { from: String, to: String },
}

impl TimeRange {
    /// Reads the `range`, `from` and `to` parameters: `range=all`, a preset's value, or
    /// `custom` (the default when `from` or `to` is given) with free bounds. A free `from`
    /// that is a preset's text with no `to` reads as that preset (saved hunts).
    pub fn from_params(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> TimeRange {
        let clean = |s: Option<&str>| s.map(str::trim).unwrap_or("").to_string();
        let (from, to) = (clean(from), clean(to));
        match range.map(str::trim).unwrap_or("") {
            "all" => TimeRange::All,
            "custom" => TimeRange::of_bounds(&from, &to),
            r => match PRESETS.iter().find(|p| p.0 == r) {
                Some(p) => TimeRange::Preset(p.0),
                None if from.is_empty() && to.is_empty() => TimeRange::Preset(DEFAULT_PRESET),
                None => TimeRange::of_bounds(&from, &to),
            },
        }
    }

    /// The range of two bounds as stored (a saved hunt's `from` and `to`).
    pub fn of_bounds(from: &str, to: &str) -> TimeRange {
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() && to.is_empty() {
            return TimeRange::All;
        }
        if to.is_empty()
            && let Some(p) = PRESETS.iter().find(|p| p.2 == from)
        {
            return TimeRange::Preset(p.0);
        }
        TimeRange::Custom {
            from: from.to_string(),
            to: to.to_string(),
        }
    }

    /// The lower bound as the search takes it (`None`: unbounded).
    pub fn from_text(&self) -> Option<String> {
        match self {
            TimeRange::Preset(p) => PRESETS.iter().find(|x| x.0 == *p).map(|x| x.2.to_string()),
            TimeRange::All => None,
            TimeRange::Custom { from, .. } => Some(from.clone()).filter(|f| !f.is_empty()),
        }
    }

    /// The upper bound as the search takes it (`None`: now / unbounded).
    pub fn to_text(&self) -> Option<String> {
        match self {
            TimeRange::Custom { to, .. } => Some(to.clone()).filter(|t| !t.is_empty()),
            _ => None,
        }
    }

    /// The value of the range selector.
    fn select_value(&self) -> &str {
        match self {
            TimeRange::Preset(p) => p,
            TimeRange::All => "all",
            TimeRange::Custom { .. } => "custom",
        }
    }

    /// A short label (`Last 24 hours`, `All time`, `2024-05-01T00:00:00Z … now`).
    pub fn label(&self) -> String {
        match self {
            TimeRange::Preset(p) => PRESETS
                .iter()
                .find(|x| x.0 == *p)
                .map_or_else(|| (*p).to_string(), |x| x.1.to_string()),
            TimeRange::All => "All time".into(),
            TimeRange::Custom { from, to } => format!(
                "{} … {}",
                if from.is_empty() { "the start" } else { from },
                if to.is_empty() { "now" } else { to }
            ),
        }
    }
}

/// Where a hunt is: the state the page's URL carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HuntQuery {
    /// The query text.
    pub q: String,
    pub range: TimeRange,
    /// The tenant picked in the switcher (`None`: every tenant in scope).
    pub tenant: Option<String>,
    /// Hits skipped (paging).
    pub offset: usize,
}

impl HuntQuery {
    /// The page's URL for this state.
    pub fn url(&self) -> String {
        let mut params: Vec<(&str, String)> = vec![("q", self.q.clone())];
        match &self.range {
            TimeRange::Preset(p) => params.push(("range", (*p).to_string())),
            TimeRange::All => params.push(("range", "all".into())),
            TimeRange::Custom { from, to } => {
                params.push(("range", "custom".into()));
                params.push(("from", from.clone()));
                params.push(("to", to.clone()));
            }
        }
        if let Some(t) = &self.tenant {
            params.push(("tenant", t.clone()));
        }
        if self.offset > 0 {
            params.push(("offset", self.offset.to_string()));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        format!("/hunt?{}", query.join("&"))
    }

    /// The same hunt with another query text, from the first page.
    pub fn with_q(&self, q: String) -> HuntQuery {
        HuntQuery {
            q,
            offset: 0,
            ..self.clone()
        }
    }
}

/// Percent-encodes a URL query value (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
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

/// Whether the query language takes `name` as a field name: letters, digits and
/// `_ . @ # - /`, not starting with `-`.
fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_.@#-/".contains(c))
}

/// The filter `field:"value"` in the query language, or `None` when the value cannot be
/// written so that it matches exactly (see `leitstelle_query::parse`): inside quotes only
/// `\"` is an escape (every other backslash is literal), so a quote becomes `\"` and a
/// backslash stays; a value ending in a backslash cannot be quoted and is written unquoted
/// when it has no character that would end or change an unquoted value.
pub fn filter_clause(field: &str, value: &str) -> Option<String> {
    if !valid_field_name(field) || value.len() > MAX_LINK_VALUE {
        return None;
    }
    if !value.ends_with('\\') {
        return Some(format!("{field}:\"{}\"", value.replace('"', "\\\"")));
    }
    let bare_ok = !value.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '*' | '?' | '|' | '(' | ')')
    }) && !value.starts_with(['[', '{', '<', '>', '=', '!']);
    bare_ok.then(|| format!("{field}:{value}"))
}

/// Splits a query into its filter and its pipe stages (from the first `|` that is not
/// inside quotes or a range and not part of `||`, as the parser does).
pub fn split_stages(q: &str) -> (&str, &str) {
    let bytes = q.as_bytes();
    let mut in_quote = false;
    let mut in_range = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quote {
            if b == b'\\' && bytes.get(i + 1) == Some(&b'"') {
                i += 2;
                continue;
            }
            if b == b'"' {
                in_quote = false;
            }
        } else if in_range {
            if b == b']' || b == b'}' {
                in_range = false;
            } else if b == b'"' {
                in_quote = true;
            }
        } else {
            match b {
                b'"' => in_quote = true,
                b'[' | b'{' => in_range = true,
                b'|' if bytes.get(i + 1) == Some(&b'|') => {
                    i += 2;
                    continue;
                }
                b'|' => return (&q[..i], &q[i..]),
                _ => {}
            }
        }
        i += 1;
    }
    (q, "")
}

/// Whether a filter has an `OR` (or `||`) outside quotes, so adding a term needs
/// parentheses around it.
fn has_or(filter: &str) -> bool {
    let mut in_quote = false;
    let mut word = String::new();
    let mut prev = '\0';
    for c in filter.chars().chain(std::iter::once(' ')) {
        if in_quote {
            if c == '"' && prev != '\\' {
                in_quote = false;
            }
        } else if c == '"' {
            in_quote = true;
        } else if c == '|' && prev == '|' {
            return true;
        } else if c.is_whitespace() || c == '(' || c == ')' {
            if word.eq_ignore_ascii_case("or") {
                return true;
            }
            word.clear();
        } else {
            word.push(c);
        }
        prev = c;
    }
    false
}

/// The query with `clause` (or `NOT clause`) added to its filter; the pipe stages stay.
pub fn add_clause(q: &str, clause: &str, negate: bool) -> String {
    let (filter, stages) = split_stages(q);
    let filter = filter.trim();
    let clause = if negate {
        format!("NOT {clause}")
    } else {
        clause.to_string()
    };
    let new_filter = if filter.is_empty() || filter == "*" {
        clause
    } else if has_or(filter) {
        format!("({filter}) {clause}")
    } else {
        format!("{filter} {clause}")
    };
    match stages.trim() {
        "" => new_filter,
        s => format!("{new_filter} {s}"),
    }
}

/// One matching event.
#[derive(Clone, Debug, PartialEq)]
pub struct HuntHit {
    pub tenant: String,
    pub seq: u64,
    pub time_ns: i64,
    /// The stored document (`leitstelle_store::NewEvent::document`).
    pub document: Value,
}

/// The table of a query's `stats` / `top` / `timechart` stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HuntTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Hits per time bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Bucket width in ns.
    pub span_ns: i64,
    /// Consecutive buckets: (start in ns, events), oldest first.
    pub buckets: Vec<(i64, u64)>,
}

/// What the search gave.
#[derive(Clone, Debug, PartialEq)]
pub enum HuntOutcome {
    /// The query or a parameter is wrong: the message (with the column for syntax errors).
    Error {
        message: String,
        column: Option<usize>,
    },
    /// Events, newest first: the page asked for and the number of all matching ones.
    Events { total: u64, hits: Vec<HuntHit> },
    /// The table of a pipe stage, over `total` matching events.
    Table { total: u64, table: HuntTable },
}

/// One retro-hunt match.
#[derive(Clone, Debug, PartialEq)]
pub struct RetroRow {
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub tenant: String,
    pub time_ns: i64,
    pub document: Value,
}

/// A retro-hunt's outcome, with the form's input to show again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetroView {
    /// The pasted rule text.
    pub rule_text: String,
    /// The loaded rule picked by id.
    pub rule_id: String,
    /// Why it could not run (no usable rule, unknown id, bad query).
    pub error: Option<String>,
    /// Problems found in the pasted rule, as text.
    pub diagnostics: Vec<String>,
    pub rules: usize,
    pub scanned: u64,
    pub matches: Vec<RetroRow>,
    /// More matches than shown.
    pub truncated: bool,
    /// The scan stopped at its bound before the end of the result set.
    pub scan_limited: bool,
}

/// Everything the hunt page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct HuntPage {
    pub query: HuntQuery,
    pub outcome: HuntOutcome,
    pub histogram: Option<Histogram>,
    /// The tenants searched.
    pub tenants: Vec<String>,
    pub saved: Vec<SavedHunt>,
    /// Whether the viewer may run retro-hunts.
    pub can_retro: bool,
    pub retro: Option<RetroView>,
    /// How long the search took, for the status line.
    pub took_ms: u64,
    /// The deepest offset paging may reach.
    pub max_offset: usize,
}

/// One field of the sidebar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSummary {
    /// The name a query uses (`host`, `Event.EventData.Image`).
    pub name: String,
    /// Events (of those counted) that have it.
    pub present: usize,
    /// Distinct values among them.
    pub distinct: usize,
    /// The most frequent values with the events having them, most frequent first.
    pub top: Vec<(String, usize)>,
    /// Whether filters on it can be written (a valid name that is not shadowed by a meta
    /// field).
    pub filterable: bool,
}

/// Meta fields of a stored document shown as fields: (document key, query name).
const DOC_META: &[(&str, &str)] = &[
    ("host", "host"),
    ("user", "user"),
    ("level", "level"),
    ("event_id", "event_id"),
    ("source", "source"),
    ("kind", "kind"),
    ("tenant", "tenant"),
];

/// A scalar as text (strings as they are, numbers and booleans printed, null: `None`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every (path, value) of a tree's scalar leaves, paths in the source's own case, array
/// elements under their array's path.
fn leaves(v: &Value, path: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                leaves(child, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for item in items {
                leaves(item, path, out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push((path.clone(), s));
            }
        }
    }
}

/// The fields of one stored document, as (meta field?, name, value): the meta fields, then
/// the event's own leaves.
fn document_fields(doc: &Value) -> Vec<(bool, String, String)> {
    let mut out = Vec::new();
    for (key, name) in DOC_META {
        if let Some(s) = doc.get(*key).and_then(scalar) {
            out.push((true, name.to_string(), s));
        }
    }
    if let Some(data) = doc.get("data") {
        let mut path = String::new();
        let mut own = Vec::new();
        leaves(data, &mut path, &mut own);
        out.extend(own.into_iter().map(|(k, v)| (false, k, v)));
    }
    out
}

/// Whether a filter on a field can be written with its name: meta fields always; the
/// event's own fields when the name is valid and not shadowed by a meta field's name.
fn filterable(name: &str, meta: bool) -> bool {
    if meta {
        return true;
    }
    valid_field_name(name) && leitstelle_query::meta_field(name).is_none()
}

/// The sidebar: for each field of the given events, how many have it and its top values.
/// Meta fields first (in a fixed order), then the others by how many events have them.
pub fn field_summary(hits: &[HuntHit], max_fields: usize, top_n: usize) -> Vec<FieldSummary> {
    // (meta?, name) -> (events having it, value -> events)
    type Counts = HashMap<(bool, String), (usize, HashMap<String, usize>)>;
    let mut fields: Counts = HashMap::new();
    for h in hits {
        let mut seen = document_fields(&h.document);
        seen.sort();
        seen.dedup();
        let mut last: Option<(bool, &str)> = None;
        for (meta, name, value) in &seen {
            let e = fields.entry((*meta, name.clone())).or_default();
            if last != Some((*meta, name.as_str())) {
                e.0 += 1;
            }
            *e.1.entry(value.clone()).or_default() += 1;
            last = Some((*meta, name.as_str()));
        }
    }
    let rank = |meta: bool, name: &str| {
        if meta {
            DOC_META.iter().position(|(_, m)| *m == name).unwrap_or(0)
        } else {
            DOC_META.len()
        }
    };
    let mut out: Vec<(usize, FieldSummary)> = fields
        .into_iter()
        .map(|((meta, name), (present, values))| {
            let distinct = values.len();
            let mut top: Vec<(String, usize)> = values.into_iter().collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            top.truncate(top_n);
            let f = FieldSummary {
                filterable: filterable(&name, meta),
                name,
                present,
                distinct,
                top,
            };
            (rank(meta, &f.name), f)
        })
        .collect();
    out.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.present.cmp(&a.1.present))
            .then_with(|| a.1.name.cmp(&b.1.name))
    });
    out.into_iter().take(max_fields).map(|x| x.1).collect()
}

/// A nice bucket width (seconds) for a range, at most about `bars` buckets.
pub fn bucket_secs(range_secs: i64, bars: i64) -> i64 {
    const SPANS: &[i64] = &[
        1,
        5,
        10,
        15,
        30,
        60,
        300,
        600,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        7 * 86_400,
        30 * 86_400,
        90 * 86_400,
        365 * 86_400,
    ];
    let bars = bars.max(1);
    SPANS
        .iter()
        .copied()
        .find(|s| (range_secs + s - 1).div_euclid(*s) <= bars)
        .unwrap_or(365 * 86_400 * (range_secs / (365 * 86_400 * bars) + 1))
}

impl Histogram {
    /// Buckets of `span_ns` covering `[from_ns, to_ns)` (aligned to multiples of the span,
    /// like `timechart`), with the counts given per bucket start (others are zero). Counts
    /// whose start is not aligned are added to the bucket that holds them.
    pub fn fill(from_ns: i64, to_ns: i64, span_ns: i64, counts: &[(i64, u64)]) -> Histogram {
        let span_ns = span_ns.max(1);
        let first = from_ns.div_euclid(span_ns) * span_ns;
        let n = ((to_ns - first + span_ns - 1).div_euclid(span_ns)).clamp(1, 10_000);
        let mut buckets: Vec<(i64, u64)> = (0..n).map(|i| (first + i * span_ns, 0)).collect();
        for &(t, c) in counts {
            let i = (t - first).div_euclid(span_ns);
            if let Some(b) = usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)) {
                b.1 += c;
            }
        }
        Histogram { span_ns, buckets }
    }

    /// All events counted.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.1).sum()
    }
}

/// The width and height of the histogram's drawing (it scales to the page's width).
const SVG_W: i64 = 1000;
const SVG_H: i64 = 120;
const AXIS_H: i64 = 18;

/// The histogram as inline SVG: one bar per bucket with events, each with a tooltip and a
/// link (`link(start, end)`) to the hunt narrowed to that bucket; labels of the first and
/// last bucket. No inline styles (the CSP forbids them): presentation attributes and
/// classes only.
pub fn histogram_svg(h: &Histogram, link: &dyn Fn(i64, i64) -> String) -> Markup {
    let max = h.buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = h.buckets.len().max(1) as i64;
    let slot = SVG_W as f64 / n as f64;
    let plot = (SVG_H - AXIS_H) as f64;
    let total = h.total();
    let label = format!(
        "Hits over time: {total} events in {} buckets of {}",
        h.buckets.len(),
        crate::fmt::duration(h.span_ns / 1_000_000_000)
    );
    let first = h.buckets.first().map(|b| b.0).unwrap_or(0);
    let end = h.buckets.last().map(|b| b.0 + h.span_ns).unwrap_or(0);
    html! {
        svg.histogram xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (SVG_W) " " (SVG_H) }
            preserveAspectRatio="none" role="img" aria-label=(label) {
            title { (label) }
            line.axis x1="0" y1=(plot) x2=(SVG_W) y2=(plot) stroke-width="1" {}
            @for (i, (start, count)) in h.buckets.iter().enumerate() {
                @if *count > 0 {
                    @let height = ((*count as f64 / max as f64) * (plot - 2.0)).max(1.0);
                    @let x = i as f64 * slot;
                    a href=(link(*start, start + h.span_ns)) {
                        rect.bar x=(fmt_f(x + slot * 0.1)) y=(fmt_f(plot - height))
                            width=(fmt_f((slot * 0.8).max(0.5))) height=(fmt_f(height)) {
                            title { (time(*start)) " – " (time(start + h.span_ns)) " UTC: " (count) " events" }
                        }
                    }
                }
            }
            text.tick x="0" y=(SVG_H - 4) text-anchor="start" { (time(first)) }
            text.tick x=(SVG_W) y=(SVG_H - 4) text-anchor="end" { (time(end)) }
        }
    }
}

/// A coordinate with at most two decimals.
fn fmt_f(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A value cut to [`SHOWN_CHARS`] characters.
fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        s.to_string()
    } else {
        let cut: String = s.chars().take(SHOWN_CHARS).collect();
        format!("{cut}…")
    }
}

/// A one-line summary of an event: its raw text, else its first fields as `k=v`.
fn summary(doc: &Value) -> String {
    if let Some(raw) = doc
        .get("raw")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        return shown(&raw.replace(['\n', '\r'], " "));
    }
    let mut out = Vec::new();
    if let Some(data) = doc.get("data") {
        let mut path = String::new();
        leaves(data, &mut path, &mut out);
    }
    let parts: Vec<String> = out
        .iter()
        .rev()
        .take(6)
        .map(|(k, v)| {
            let key = k.rsplit('.').next().unwrap_or(k);
            format!("{key}={v}")
        })
        .collect();
    shown(&parts.join(" "))
}

/// The `+` and `−` links of a field value, when a filter can be written for it.
fn value_links(hq: &HuntQuery, field: &str, value: &str, allowed: bool) -> Markup {
    let clause = allowed.then(|| filter_clause(field, value)).flatten();
    html! {
        @if let Some(c) = clause {
            span.filter-links {
                a.add href=(hq.with_q(add_clause(&hq.q, &c, false)).url())
                    title={ "Filter for " (c) } aria-label={ "Filter for " (field) " = " (shown(value)) } { "+" }
                a.exclude href=(hq.with_q(add_clause(&hq.q, &c, true)).url())
                    title={ "Exclude " (c) } aria-label={ "Exclude " (field) " = " (shown(value)) } { "NOT" }
            }
        }
    }
}

/// An event's stored document as a field/value list and its raw text.
fn event_detail(hq: &HuntQuery, doc: &Value) -> Markup {
    let fields = document_fields(doc);
    let raw = doc.get("raw").and_then(Value::as_str);
    html! {
        div.event-detail {
            table.fields {
                tbody {
                    @for (meta, name, value) in &fields {
                        @let meta = *meta;
                        tr {
                            th scope="row" { (name) }
                            td { span.value { (value) } (value_links(hq, name, value, filterable(name, meta))) }
                        }
                    }
                }
            }
            @if let Some(r) = raw {
                h4 { "Raw" }
                pre.raw { (r) }
            }
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn search_form(v: &Viewer, hq: &HuntQuery) -> Markup {
    let (from, to) = match &hq.range {
        TimeRange::Custom { from, to } => (from.as_str(), to.as_str()),
        _ => ("", ""),
    };
    html! {
        form.hunt-search #hunt-form method="get" action="/hunt" role="search" {
            @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
            label.q for="hunt-q" { span.hunt-sr { "Query" }
                input #hunt-q type="search" name="q" value=(hq.q) autocomplete="off" spellcheck="false"
                    placeholder="Image:*\\mimikatz.exe AND NOT User:SYSTEM | stats count by host   (press / to focus)";
            }
            label { span.hunt-sr { "Time range" }
                select name="range" #hunt-range {
                    @for (value, label, _) in PRESETS {
                        option value=(value) selected[hq.range.select_value() == *value] { (label) }
                    }
                    option value="all" selected[hq.range == TimeRange::All] { "All time" }
                    option value="custom" selected[matches!(hq.range, TimeRange::Custom { .. })] { "Custom (from / to)" }
                }
            }
            label { "from " input #hunt-from name="from" value=(from) size="22" placeholder="-24h, 2024-05-01T00:00:00Z"; }
            label { "to " input #hunt-to name="to" value=(to) size="22" placeholder="now"; }
            button type="submit" { "Search" }
        }
    }
}

fn saved_section(v: &Viewer, hq: &HuntQuery, saved: &[SavedHunt]) -> Markup {
    let (from, to) = (
        hq.range.from_text().unwrap_or_default(),
        hq.range.to_text().unwrap_or_default(),
    );
    html! {
        section.saved aria-label="Saved hunts" {
            h2 { "Saved hunts" }
            form.inline.save-hunt method="post" action="/hunt/saved" {
                (csrf_field(v))
                input type="hidden" name="q" value=(hq.q);
                input type="hidden" name="from" value=(from);
                input type="hidden" name="to" value=(to);
                @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
                label { "Save this hunt as " input name="name" required maxlength="120" size="20"; }
                button type="submit" { "Save" }
            }
            @if saved.is_empty() {
                p.empty { "No saved hunts yet." }
            } @else {
                ul.saved-list {
                    @for h in saved {
                        @let open = HuntQuery { q: h.query.clone(), range: TimeRange::of_bounds(&h.from, &h.to), tenant: hq.tenant.clone(), offset: 0 };
                        li {
                            a.open href=(open.url()) title=(h.query) { (h.name) }
                            " " span.muted { (open.range.label()) " · " (h.owner) @if v.tenants.len() > 1 { " · " (h.tenant) } }
                            @if h.owner == v.name {
                                form.delete method="post" action={ "/hunt/saved/" (h.id) "/delete" } {
                                    (csrf_field(v))
                                    @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
                                    button type="submit" aria-label={ "Delete saved hunt " (h.name) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn retro_section(v: &Viewer, hq: &HuntQuery, retro: Option<&RetroView>) -> Markup {
    let (from, to) = (
        hq.range.from_text().unwrap_or_default(),
        hq.range.to_text().unwrap_or_default(),
    );
    let empty = RetroView::default();
    let r = retro.unwrap_or(&empty);
    html! {
        details.retro #retro open[retro.is_some()] {
            summary { h2 { "Retro-hunt a Sigma rule over this search" } }
            form.retro-form method="post" action="/hunt/retro" {
                (csrf_field(v))
                input type="hidden" name="q" value=(hq.q);
                input type="hidden" name="range" value=(hq.range.select_value());
                input type="hidden" name="from" value=(from);
                input type="hidden" name="to" value=(to);
                @if let Some(t) = &v.tenant { input type="hidden" name="tenant" value=(t); }
                label for="retro-rule" { "Paste a Sigma rule (YAML)" }
                textarea #retro-rule name="rule" rows="10" spellcheck="false" { (r.rule_text) }
                label { "or the id of a loaded rule " input name="rule_id" value=(r.rule_id) size="40"; }
                button type="submit" { "Run over " (hq.range.label().to_lowercase()) }
            }
            @if let Some(r) = retro {
                div.retro-result aria-live="polite" {
                    @if let Some(e) = &r.error {
                        p.error role="alert" { (e) }
                    }
                    @if !r.diagnostics.is_empty() {
                        h3 { "Problems in the rule" }
                        ul.diagnostics { @for d in &r.diagnostics { li { pre { (d) } } } }
                    }
                    @if r.error.is_none() {
                        p.status {
                            (r.matches.len()) " match" @if r.matches.len() != 1 { "es" }
                            " of " (r.rules) " rule" @if r.rules != 1 { "s" }
                            " in " (r.scanned) " events scanned"
                            @if r.truncated { " (more matches not shown)" }
                            @if r.scan_limited { " (the scan stopped at its limit; narrow the search to scan everything)" }
                        }
                        @if !r.matches.is_empty() {
                            table.retro-matches {
                                thead { tr { th { "Rule" } th { "Level" } th { "Time (UTC)" } th { "Tenant" } th { "Event" } } }
                                tbody {
                                    @for m in &r.matches {
                                        tr {
                                            td { (m.title) br; span.muted { (m.rule_id) } }
                                            td { span class={ "level level-" (m.level) } { (m.level) } }
                                            td.time { (time(m.time_ns)) }
                                            td { (m.tenant) }
                                            td.summary {
                                                details {
                                                    summary { (summary(&m.document)) }
                                                    (event_detail(hq, &m.document))
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sidebar(hq: &HuntQuery, hits: &[HuntHit]) -> Markup {
    let fields = field_summary(hits, SIDEBAR_FIELDS, SIDEBAR_VALUES);
    html! {
        aside.fields-sidebar aria-label="Fields" {
            h2 { "Fields" }
            p.hint { "Top values in the " (hits.len()) " event" @if hits.len() != 1 { "s" } " shown." }
            @for f in &fields {
                details.field open[f.present == hits.len() && f.distinct <= SIDEBAR_VALUES && f.distinct > 1] {
                    summary {
                        span.name { (f.name) }
                        " " span.muted { (f.present) "/" (hits.len()) @if f.distinct > 1 { " · " (f.distinct) " values" } }
                    }
                    ul.values {
                        @for (value, n) in &f.top {
                            li {
                                span.value title=(value) { (shown(value)) }
                                " " span.count { (n) }
                                (value_links(hq, &f.name, value, f.filterable))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn events_table(hq: &HuntQuery, hits: &[HuntHit]) -> Markup {
    let get = |d: &Value, k: &str| d.get(k).and_then(scalar).unwrap_or_default();
    html! {
        table.hits {
            thead { tr { th { "Time (UTC)" } th { "Tenant" } th { "Host" } th { "Event" } th { "User" } th.summary { "Event (click to expand)" } } }
            tbody {
                @for h in hits {
                    tr.hit data-seq=(h.seq) {
                        td.time { (time(h.time_ns)) }
                        td { (h.tenant) }
                        td { (get(&h.document, "host")) }
                        td { (get(&h.document, "event_id")) }
                        td { (get(&h.document, "user")) }
                        td.summary {
                            details {
                                summary { (summary(&h.document)) }
                                (event_detail(hq, &h.document))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn table_view(t: &HuntTable) -> Markup {
    html! {
        table.stage-table {
            thead { tr { @for c in &t.columns { th { (c) } } } }
            tbody {
                @for r in &t.rows {
                    tr { @for c in r { td class=[c.is_number().then_some("num")] { (text_of(c)) } } }
                }
            }
        }
        @if t.rows.is_empty() { p.empty { "No rows." } }
    }
}

fn pager(p: &HuntPage, shown: usize, total: u64) -> Markup {
    let hq = &p.query;
    let prev = (hq.offset > 0).then(|| HuntQuery {
        offset: hq.offset.saturating_sub(PAGE_SIZE),
        ..hq.clone()
    });
    let next_offset = hq.offset + shown;
    let next =
        (shown > 0 && (next_offset as u64) < total && next_offset <= p.max_offset).then(|| {
            HuntQuery {
                offset: next_offset,
                ..hq.clone()
            }
        });
    html! {
        nav.pager aria-label="Pages" {
            @if let Some(q) = prev { a.prev href=(q.url()) rel="prev" { "← Newer" } }
            span.muted { "Events " (hq.offset + 1) "–" (hq.offset + shown) " of " (total) }
            @if let Some(q) = next { a.next href=(q.url()) rel="next" { "Older →" } }
        }
    }
}

/// The hunt page.
pub fn hunt_page(v: &Viewer, p: &HuntPage) -> Markup {
    let hq = &p.query;
    let hist_link = |start: i64, end: i64| {
        HuntQuery {
            q: hq.q.clone(),
            range: TimeRange::Custom {
                from: rfc3339(start),
                to: rfc3339(end),
            },
            tenant: hq.tenant.clone(),
            offset: 0,
        }
        .url()
    };
    let body = html! {
        h1 { "Hunt" }
        (search_form(v, hq))
        p.hint { "Search language: " code { "field:value" } ", " code { "field:\"a phrase\"" } ", "
            code { "field:*wild*" } ", " code { "bytes>1000" } ", " code { "AND OR NOT ( )" }
            ", pipes " code { "| stats count by host" } ", " code { "| top 10 User" } ", "
            code { "| timechart span=1h count" } ". Tenants searched: "
            @if p.tenants.is_empty() { "none" } @else { (p.tenants.join(", ")) } "." }
        div.hunt-layout {
            div.hunt-main {
                @match &p.outcome {
                    HuntOutcome::Error { message, column } => {
                        div.query-error role="alert" {
                            p.error { "The search could not run: " (message) }
                            @if let Some(col) = column {
                                @if !hq.q.contains('\n') {
                                    pre.caret { (hq.q) "\n" (" ".repeat(col.saturating_sub(1))) "^" }
                                }
                            }
                        }
                    }
                    HuntOutcome::Events { total, hits } => {
                        p.status { strong { (total) } " matching events · " (hq.range.label()) " · " (p.took_ms) " ms" }
                        @if let Some(h) = &p.histogram { (histogram_svg(h, &hist_link)) }
                        @if hits.is_empty() {
                            p.empty { "No events match. Widen the time range or loosen the query." }
                        } @else {
                            (pager(p, hits.len(), *total))
                            (events_table(hq, hits))
                            (pager(p, hits.len(), *total))
                        }
                    }
                    HuntOutcome::Table { total, table } => {
                        p.status { strong { (total) } " matching events · " (table.rows.len()) " rows · " (hq.range.label()) " · " (p.took_ms) " ms" }
                        @if let Some(h) = &p.histogram { (histogram_svg(h, &hist_link)) }
                        (table_view(table))
                    }
                }
                @if p.can_retro { (retro_section(v, hq, p.retro.as_ref())) }
            }
            div.hunt-side {
                @if let HuntOutcome::Events { hits, .. } = &p.outcome {
                    @if !hits.is_empty() { (sidebar(hq, hits)) }
                }
                (saved_section(v, hq, &p.saved))
            }
        }
    };
    layout("Hunt", "/hunt", Some(v), body)
}

/// RFC 3339 (UTC, seconds, or nanoseconds when not whole) of a time in ns.
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) if frac == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => format!("{}.{frac:09}Z", t.format("%Y-%m-%dT%H:%M:%S")),
        None => ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hq(q: &str) -> HuntQuery {
        HuntQuery {
            q: q.into(),
            range: TimeRange::Preset("24h"),
            tenant: None,
            offset: 0,
        }
    }

    #[test]
    fn filter_clauses_quote_what_the_parser_unquotes() {
        let check = |field: &str, value: &str, expected: Option<&str>| {
            assert_eq!(
                filter_clause(field, value).as_deref(),
                expected,
                "{field} = {value}"
            );
        };
        check("host", "ws1", Some(r#"host:"ws1""#));
        check(
            "CommandLine",
            r#"say "hi""#,
            Some(r#"CommandLine:"say \"hi\"""#),
        );
        check(
            "Image",
            r"C:\Windows\cmd.exe",
            Some(r#"Image:"C:\Windows\cmd.exe""#),
        );
        // A backslash before a quote: the backslash stays, the quote is escaped.
        check("f", r#"a\"b"#, Some(r#"f:"a\\"b""#));
        // A trailing backslash cannot be quoted; unquoted when nothing else interferes.
        check("Dir", r"C:\Temp\", Some(r"Dir:C:\Temp\"));
        check("Dir", r"C:\My Files\", None);
        check("Dir", r"*\", None);
        check("bad name", "x", None);
        check("-x", "x", None);
        check(
            "Event.System.Provider.#attributes.Name",
            "Sysmon",
            Some(r#"Event.System.Provider.#attributes.Name:"Sysmon""#),
        );
        check("f", &"x".repeat(2000), None);
    }

    #[test]
    fn clauses_are_added_to_the_filter_not_the_stages() {
        let c = r#"host:"a""#;
        let check = |q: &str, negate: bool, expected: &str| {
            assert_eq!(add_clause(q, c, negate), expected, "{q}");
        };
        check("", false, r#"host:"a""#);
        check("*", true, r#"NOT host:"a""#);
        check("EventID:1", false, r#"EventID:1 host:"a""#);
        check("a OR b", false, r#"(a OR b) host:"a""#);
        check("a || b", false, r#"(a || b) host:"a""#);
        check("x:\"a OR b\"", false, r#"x:"a OR b" host:"a""#);
        check(
            "EventID:1 | stats count by host",
            true,
            r#"EventID:1 NOT host:"a" | stats count by host"#,
        );
        check(
            r#"x:"a|b" | top User"#,
            false,
            r#"x:"a|b" host:"a" | top User"#,
        );
        check(
            "bytes:[1 TO 5] | head 3",
            false,
            r#"bytes:[1 TO 5] host:"a" | head 3"#,
        );
        assert_eq!(
            split_stages(r#"x:"a\"|b" | head"#),
            (r#"x:"a\"|b" "#, "| head")
        );
    }

    #[test]
    fn time_ranges_read_from_and_back_to_the_url() {
        assert_eq!(
            TimeRange::from_params(None, None, None),
            TimeRange::Preset("24h")
        );
        assert_eq!(
            TimeRange::from_params(Some("7d"), Some("-1h"), None),
            TimeRange::Preset("7d")
        );
        assert_eq!(
            TimeRange::from_params(Some("all"), None, None),
            TimeRange::All
        );
        assert_eq!(
            TimeRange::from_params(None, Some("-1h"), None),
            TimeRange::Preset("1h")
        );
        let custom = TimeRange::from_params(Some("custom"), Some("2024-05-01T00:00:00Z"), Some(""));
        assert_eq!(custom.from_text().as_deref(), Some("2024-05-01T00:00:00Z"));
        assert_eq!(custom.to_text(), None);
        assert_eq!(TimeRange::of_bounds("", ""), TimeRange::All);
        assert_eq!(
            TimeRange::Preset("15m").from_text().as_deref(),
            Some("-15m")
        );
        let mut q = hq(r#"Image:"C:\x" | top host"#);
        q.tenant = Some("acme".into());
        q.offset = 50;
        assert_eq!(
            q.url(),
            "/hunt?q=Image%3A%22C%3A%5Cx%22%20%7C%20top%20host&range=24h&tenant=acme&offset=50"
        );
    }

    #[test]
    fn buckets_are_nice_and_bounded() {
        assert_eq!(bucket_secs(15 * 60, 60), 15);
        assert_eq!(bucket_secs(3600, 60), 60);
        assert_eq!(bucket_secs(86_400, 60), 1800);
        assert_eq!(bucket_secs(7 * 86_400, 60), 3 * 3600);
        assert_eq!(bucket_secs(30 * 86_400, 60), 12 * 3600);
        let h = Histogram::fill(90, 400, 100, &[(0, 3), (200, 5), (250, 1)]);
        assert_eq!(h.buckets, vec![(0, 3), (100, 0), (200, 6), (300, 0)]);
        assert_eq!(h.total(), 9);
    }

    #[test]
    fn the_histogram_is_svg_with_linked_titled_bars_and_no_styles() {
        let s = 1_000_000_000i64;
        let h = Histogram {
            span_ns: 60 * s,
            buckets: vec![
                (1_714_557_600 * s, 4),
                (1_714_557_660 * s, 0),
                (1_714_557_720 * s, 2),
            ],
        };
        let svg = histogram_svg(&h, &|a, b| format!("/hunt?from={a}&to={b}")).into_string();
        assert!(svg.starts_with("<svg class=\"histogram\""), "{svg}");
        // In SVG (foreign content) an element without an end tag swallows what follows.
        assert_eq!(svg.matches("<line").count(), svg.matches("</line>").count());
        assert_eq!(
            svg.matches("<rect").count(),
            2,
            "no bar for an empty bucket"
        );
        assert!(
            svg.contains("<title>2024-05-01 10:00:00 – 2024-05-01 10:01:00 UTC: 4 events</title>"),
            "{svg}"
        );
        assert!(svg.contains(&format!(
            "href=\"/hunt?from={}&amp;to={}\"",
            1_714_557_600 * s,
            1_714_557_660 * s
        )));
        // The tallest bar fills the plot; the other is half as high.
        assert!(svg.contains("height=\"100\""), "{svg}");
        assert!(svg.contains("height=\"50\""), "{svg}");
        assert!(!svg.contains("style"));
        assert!(
            svg.contains("aria-label=\"Hits over time: 6 events in 3 buckets of 1m 00s\""),
            "{svg}"
        );
    }

    fn viewer() -> Viewer {
        Viewer {
            name: "ann".into(),
            tenants: vec!["acme".into()],
            tenant: None,
            csrf: "t0k".into(),
            can_triage: false,
        }
    }

    fn hostile_hit() -> HuntHit {
        let x = "<script>alert(1)</script>";
        let y = "\"><img src=x onerror=alert(1)>";
        HuntHit {
            tenant: "acme".into(),
            seq: 7,
            time_ns: 1_714_557_600_000_000_000,
            document: json!({
                "tenant": "acme", "host": y, "user": x, "event_id": "1", "source": "api",
                "kind": "json",
                "data": {"CommandLine": x, "Image": y, y: x, "nested": {"list": [x, y]}},
                "raw": format!("{x} {y}"),
            }),
        }
    }

    #[test]
    fn event_data_renders_as_text_everywhere() {
        let page = HuntPage {
            query: hq("<script>alert(2)</script>"),
            outcome: HuntOutcome::Events {
                total: 1,
                hits: vec![hostile_hit()],
            },
            histogram: Some(Histogram::fill(
                0,
                60_000_000_000,
                60_000_000_000,
                &[(0, 1)],
            )),
            tenants: vec!["acme".into()],
            saved: vec![SavedHunt {
                id: 1,
                tenant: "acme".into(),
                owner: "<b>mallory</b>".into(),
                name: "<script>alert(3)</script>".into(),
                query: "\"><img src=x onerror=alert(3)>".into(),
                from: "-24h".into(),
                to: String::new(),
                created_ns: 0,
                updated_ns: 0,
            }],
            can_retro: true,
            retro: Some(RetroView {
                rule_text: "</textarea><script>alert(4)</script>".into(),
                diagnostics: vec!["<script>alert(5)</script>".into()],
                rules: 1,
                matches: vec![RetroRow {
                    rule_id: "<i>r</i>".into(),
                    title: "<script>alert(6)</script>".into(),
                    level: "high\"><script>".into(),
                    tenant: "acme".into(),
                    time_ns: 0,
                    document: hostile_hit().document,
                }],
                ..RetroView::default()
            }),
            took_ms: 3,
            max_offset: 100_000,
        };
        let html = hunt_page(&viewer(), &page).into_string();
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the external script"
        );
        assert!(!html.contains("<img"), "no injected element");
        assert!(!html.contains("<b>mallory"));
        assert!(!html.contains("<i>r</i>"));
        assert!(!html.contains("style="));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("<details"), "rows expand without script");
        assert!(html.contains("name=\"csrf\" value=\"t0k\""));
        // The saved hunt was not saved by ann: no delete button.
        assert!(!html.contains("/hunt/saved/1/delete"));
    }

    #[test]
    fn the_sidebar_counts_values_of_the_events_shown() {
        let hit = |host: &str, img: &str| HuntHit {
            tenant: "acme".into(),
            seq: 1,
            time_ns: 0,
            document: json!({"tenant": "acme", "host": host, "data": {"Image": img, "host": "shadowed"}}),
        };
        let hits = vec![hit("a", "x"), hit("a", "y"), hit("b", "x")];
        let f = field_summary(&hits, 10, 5);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["host", "tenant", "Image", "host"]);
        assert_eq!(f[0].top, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
        assert_eq!((f[0].present, f[0].distinct), (3, 2));
        assert!(f[0].filterable);
        assert!(
            !f[3].filterable,
            "the event's own `host` is shadowed by the meta field"
        );
        let page = sidebar(&hq("EventID:1"), &hits).into_string();
        assert!(page.contains("Top values in the 3 events shown."));
        assert!(page.contains(&format!(
            "href=\"{}\"",
            hq("")
                .with_q(r#"EventID:1 Image:"x""#.into())
                .url()
                .replace('&', "&amp;")
        )));
        assert!(page.contains(&format!(
            "href=\"{}\"",
            hq("")
                .with_q(r#"EventID:1 NOT Image:"x""#.into())
                .url()
                .replace('&', "&amp;")
        )));
    }

    #[test]
    fn a_syntax_error_shows_its_column() {
        let page = HuntPage {
            query: hq("(a OR b"),
            outcome: HuntOutcome::Error {
                message: "column 8: expected ')' to close '(' at column 1".into(),
                column: Some(8),
            },
            histogram: None,
            tenants: vec![],
            saved: vec![],
            can_retro: false,
            retro: None,
            took_ms: 0,
            max_offset: 0,
        };
        let html = hunt_page(&viewer(), &page).into_string();
        assert!(
            html.contains("column 8: expected &#39;)&#39; to close")
                || html.contains("column 8: expected ')' to close"),
            "{html}"
        );
        assert!(html.contains("(a OR b\n       ^"), "{html}");
    }
}
