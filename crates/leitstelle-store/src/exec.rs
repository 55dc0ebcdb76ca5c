//! What both backends share: the meaning of a predicate on one value, and everything after
//! the filter (paging, `sort`, `head`, `fields`, `stats`, `top`, `timechart`, field stats).
//! A backend implements [`Backend`]: count, newest page, visit rows of field values, fetch.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use leitstelle_query::{Agg, AggFunc, Expr, Pred, SortKey, Stage, WildPart};
use regex::Regex;
use serde_json::Value;

use crate::model::{FieldResolver, NewEvent, PathPattern, numeric, pairs};
use crate::{FieldStats, Hit, SearchRequest, SearchResult, StoreError, Table, format_time};

/// Events a `sort` over events may order at most.
pub const SORT_CAP: usize = 1_000_000;
/// Rows an aggregation table returns at most (`head` picks fewer).
pub const TABLE_CAP: usize = 10_000;

/// The filter part of a request.
pub(crate) struct Filter<'a> {
    pub tenants: &'a [String],
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub expr: &'a Expr,
}

impl<'a> Filter<'a> {
    pub fn of(req: &'a SearchRequest) -> Self {
        Filter {
            tenants: &req.tenants,
            from_ns: req.from_ns,
            to_ns: req.to_ns,
            expr: &req.query.filter,
        }
    }

    /// Whether an event's tenant and time are inside the request.
    pub fn admits(&self, tenant: &str, time_ns: i64) -> bool {
        self.tenants.iter().any(|t| t == tenant)
            && self.from_ns.is_none_or(|f| time_ns >= f)
            && self.to_ns.is_none_or(|t| time_ns < t)
    }
}

/// One matching event with the values of the requested fields.
pub(crate) struct Row<'a> {
    pub tenant: &'a str,
    pub seq: u64,
    pub time_ns: i64,
    /// Per requested field: its values in this event (no duplicates).
    pub values: &'a [Vec<String>],
}

/// What a backend provides; everything else is in [`search`].
pub(crate) trait Backend {
    fn resolver(&self) -> &FieldResolver;
    /// Matching events.
    fn count(&self, f: &Filter<'_>) -> Result<u64, StoreError>;
    /// Matching events ordered by time then sequence number, newest first.
    fn newest(
        &self,
        f: &Filter<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError>;
    /// Calls `sink` with every matching event and the values of `fields`.
    fn visit(
        &self,
        f: &Filter<'_>,
        fields: &[Vec<PathPattern>],
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<(), StoreError>;
    /// The events with these keys, in this order (missing ones left out).
    fn fetch(&self, keys: &[(String, u64)]) -> Result<Vec<NewEvent>, StoreError>;

    /// Optional fast path of `stats count by F`, `top F` and field statistics: per distinct
    /// value of one field, the matching events that have it. `None` means "use `visit`"
    /// (the reference store always does, which is what the fast path is tested against).
    fn count_by(
        &self,
        _f: &Filter<'_>,
        _field: &[PathPattern],
    ) -> Result<Option<CountBy>, StoreError> {
        Ok(None)
    }
}

/// The answer of [`Backend::count_by`].
#[derive(Debug, Default)]
pub(crate) struct CountBy {
    /// Matching events.
    pub total: u64,
    /// Matching events with at least one value.
    pub present: u64,
    /// Events per value.
    pub counts: HashMap<String, u64>,
}

/// Matches paths against a field's patterns.
pub(crate) struct PathMatcher {
    exact: Vec<String>,
    regex: Option<Regex>,
}

impl PathMatcher {
    pub fn new(patterns: &[PathPattern]) -> Self {
        let exact = patterns
            .iter()
            .filter(|p| p.is_exact())
            .map(|p| p.0.clone())
            .collect();
        let wild: Vec<String> = patterns
            .iter()
            .filter(|p| !p.is_exact())
            .map(|p| p.regex())
            .collect();
        let regex = (!wild.is_empty())
            .then(|| Regex::new(&format!("^(?:{})$", wild.join("|"))).ok())
            .flatten();
        PathMatcher { exact, regex }
    }

    pub fn matches(&self, path: &str) -> bool {
        self.exact.iter().any(|e| e == path)
            || self.regex.as_ref().is_some_and(|r| r.is_match(path))
    }
}

/// The values of a field in an event's pairs, without duplicates, in pair order.
pub(crate) fn values_of(pairs: &[(String, String)], m: &PathMatcher) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (p, v) in pairs {
        if m.matches(p) && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// What a value must satisfy, compiled from a [`Pred`] of a field predicate.
pub(crate) enum ValueTest {
    /// Lowercase equality.
    Eq(String),
    /// A whole-value match of the lowercased value.
    Wild(Regex),
    Num(Bound<f64>, Bound<f64>),
    /// Bounds lowercased; compared bytewise with the lowercased value.
    Text(Bound<String>, Bound<String>),
}

/// The anchored regular expression (over lowercased text) of a wildcard pattern.
pub(crate) fn wildcard_regex(parts: &[WildPart]) -> String {
    let mut re = String::from("(?s)");
    for p in parts {
        match p {
            WildPart::Literal(l) => re.push_str(&regex::escape(&l.to_lowercase())),
            WildPart::Many => re.push_str(".*"),
            WildPart::One => re.push('.'),
        }
    }
    re
}

/// Whether a range compares numerically: every given bound is a number (and one is given).
pub(crate) fn numeric_bounds(
    lower: &Bound<String>,
    upper: &Bound<String>,
) -> Option<(Bound<f64>, Bound<f64>)> {
    fn conv(b: &Bound<String>) -> Option<Bound<f64>> {
        Some(match b {
            Bound::Unbounded => Bound::Unbounded,
            Bound::Included(s) => Bound::Included(numeric(s)?),
            Bound::Excluded(s) => Bound::Excluded(numeric(s)?),
        })
    }
    let (l, u) = (conv(lower)?, conv(upper)?);
    if matches!((l, u), (Bound::Unbounded, Bound::Unbounded)) {
        return None;
    }
    Some((l, u))
}

pub(crate) fn lower_bound(b: &Bound<String>) -> Bound<String> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(s) => Bound::Included(s.to_lowercase()),
        Bound::Excluded(s) => Bound::Excluded(s.to_lowercase()),
    }
}

fn in_bounds<T: PartialOrd>(v: &T, lo: &Bound<T>, hi: &Bound<T>) -> bool {
    (match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => v >= l,
        Bound::Excluded(l) => v > l,
    }) && (match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => v <= h,
        Bound::Excluded(h) => v < h,
    })
}

impl ValueTest {
    pub fn compile(pred: &Pred) -> Result<ValueTest, StoreError> {
        Ok(match pred {
            Pred::Term(t) | Pred::Phrase(t) => ValueTest::Eq(t.to_lowercase()),
            Pred::Wildcard(parts) => {
                let re = format!("^(?:{})$", wildcard_regex(parts));
                ValueTest::Wild(
                    Regex::new(&re).map_err(|e| StoreError::Query(format!("wildcard: {e}")))?,
                )
            }
            Pred::Range { lower, upper } => match numeric_bounds(lower, upper) {
                Some((l, u)) => ValueTest::Num(l, u),
                None => ValueTest::Text(lower_bound(lower), lower_bound(upper)),
            },
        })
    }

    pub fn test(&self, value: &str) -> bool {
        match self {
            ValueTest::Eq(t) => value.to_lowercase() == *t,
            ValueTest::Wild(re) => re.is_match(&value.to_lowercase()),
            ValueTest::Num(l, u) => numeric(value).is_some_and(|n| in_bounds(&n, l, u)),
            ValueTest::Text(l, u) => in_bounds(&value.to_lowercase(), l, u),
        }
    }
}

/// Rejects queries no backend can run, with a message for the user.
pub(crate) fn validate(expr: &Expr) -> Result<(), StoreError> {
    match expr {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().try_for_each(validate),
        Expr::Not(x) => validate(x),
        Expr::Any(Pred::Range { .. }) => Err(StoreError::Query(
            "a range needs a field (`field:[a TO b]`, `field>10`)".into(),
        )),
        _ => Ok(()),
    }
}

/// How the stages split: an aggregation (if any) and what comes before and after it.
struct Plan<'a> {
    agg: Option<&'a Stage>,
    /// `sort` / `head` / `fields` on events (no aggregation), or on rows (after it).
    sort: Option<&'a [SortKey]>,
    head: Option<usize>,
    fields: Option<&'a [String]>,
}

fn plan(stages: &[Stage]) -> Result<Plan<'_>, StoreError> {
    let mut p = Plan {
        agg: None,
        sort: None,
        head: None,
        fields: None,
    };
    for (i, s) in stages.iter().enumerate() {
        match s {
            Stage::Stats { .. } | Stage::Top { .. } | Stage::Timechart { .. } => {
                if p.agg.is_some() {
                    return Err(StoreError::Query(
                        "only one of stats, top or timechart per query".into(),
                    ));
                }
                if i > 0 {
                    return Err(StoreError::Query(format!(
                        "`{}` must be the first pipe stage (sort, head and fields come after it)",
                        stage_name(s)
                    )));
                }
                p.agg = Some(s);
            }
            Stage::Sort(keys) => {
                if p.head.is_some() {
                    return Err(StoreError::Query(
                        "`sort` after `head` is not supported".into(),
                    ));
                }
                p.sort = Some(keys);
            }
            Stage::Head(n) => p.head = Some(p.head.map_or(*n, |h| h.min(*n))),
            Stage::Fields(f) => p.fields = Some(f),
        }
    }
    Ok(p)
}

fn stage_name(s: &Stage) -> &'static str {
    match s {
        Stage::Stats { .. } => "stats",
        Stage::Top { .. } => "top",
        Stage::Timechart { .. } => "timechart",
        Stage::Sort(_) => "sort",
        Stage::Head(_) => "head",
        Stage::Fields(_) => "fields",
    }
}

/// Runs a request on a backend.
pub(crate) fn search(b: &dyn Backend, req: &SearchRequest) -> Result<SearchResult, StoreError> {
    validate(&req.query.filter)?;
    let p = plan(&req.query.stages)?;
    let f = Filter::of(req);
    if req.tenants.is_empty() {
        return Ok(SearchResult::default());
    }
    if let Some(agg) = p.agg {
        let (mut table, total) = aggregate(b, &f, agg)?;
        post_table(&mut table, &p)?;
        table.rows.truncate(TABLE_CAP);
        return Ok(SearchResult {
            total,
            hits: Vec::new(),
            table: Some(table),
        });
    }
    let head = p.head.unwrap_or(usize::MAX);
    let take = req.limit.min(head.saturating_sub(req.offset));
    let (total, events) = if let Some(keys) = p.sort.filter(|_| take > 0) {
        let fields: Vec<Vec<PathPattern>> = keys
            .iter()
            .map(|k| b.resolver().resolve(&k.field))
            .collect();
        let mut rows: Vec<(Vec<Vec<String>>, i64, u64, String)> = Vec::new();
        let mut over = false;
        b.visit(&f, &fields, &mut |r| {
            if rows.len() >= SORT_CAP {
                over = true;
                return;
            }
            rows.push((r.values.to_vec(), r.time_ns, r.seq, r.tenant.to_string()));
        })?;
        if over {
            return Err(StoreError::TooLarge(format!(
                "`sort` over more than {SORT_CAP} events; narrow the query or the time range"
            )));
        }
        rows.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let (x, y) = (&a.0[i], &b.0[i]);
                // Events without the field come last in either direction.
                let o = match (x.is_empty(), y.is_empty()) {
                    (false, false) if k.descending => cmp_multi(x, y).reverse(),
                    _ => cmp_multi(x, y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            (b.1, b.2).cmp(&(a.1, a.2))
        });
        // The sort visited every match: no separate count.
        let total = rows.len() as u64;
        let keys: Vec<(String, u64)> = rows
            .into_iter()
            .skip(req.offset)
            .take(take)
            .map(|r| (r.3, r.2))
            .collect();
        (total, b.fetch(&keys)?)
    } else if take == 0 {
        (b.count(&f)?, Vec::new())
    } else {
        (b.count(&f)?, b.newest(&f, req.offset, take)?)
    };
    let project = p.fields.map(|names| {
        names
            .iter()
            .map(|n| (n.clone(), PathMatcher::new(&b.resolver().resolve(n))))
            .collect::<Vec<_>>()
    });
    let hits = events
        .into_iter()
        .map(|e| {
            let fields = project.as_ref().map(|proj| {
                let ps = pairs(&e);
                proj.iter()
                    .map(|(n, m)| (n.clone(), values_of(&ps, m)))
                    .collect()
            });
            Hit {
                tenant: e.tenant.clone(),
                seq: e.seq,
                time_ns: e.time_ns,
                document: e.document(),
                fields,
            }
        })
        .collect();
    Ok(SearchResult {
        total,
        hits,
        table: None,
    })
}

/// Orders two multi-values: by their smallest member, numbers before text, empty last.
fn cmp_multi(a: &[String], b: &[String]) -> Ordering {
    match (
        a.iter().min_by(|x, y| cmp_text(x, y)),
        b.iter().min_by(|x, y| cmp_text(x, y)),
    ) {
        (Some(x), Some(y)) => cmp_text(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn cmp_text(a: &str, b: &str) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn cmp_value(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        _ => cmp_text(&text(a), &text(b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        o => o.to_string(),
    }
}

/// `sort`, `head` and `fields` on an aggregation table.
fn post_table(t: &mut Table, p: &Plan<'_>) -> Result<(), StoreError> {
    let col = |t: &Table, name: &str| {
        t.columns.iter().position(|c| c == name).ok_or_else(|| {
            StoreError::Query(format!(
                "no column `{name}` (the columns are: {})",
                t.columns.join(", ")
            ))
        })
    };
    if let Some(keys) = p.sort {
        let idx: Vec<(usize, bool)> = keys
            .iter()
            .map(|k| col(t, &k.field).map(|i| (i, k.descending)))
            .collect::<Result<_, _>>()?;
        t.rows.sort_by(|a, b| {
            for &(i, desc) in &idx {
                let o = cmp_value(&a[i], &b[i]);
                let o = if desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if let Some(n) = p.head {
        t.rows.truncate(n);
    }
    if let Some(names) = p.fields {
        let idx: Vec<usize> = names.iter().map(|n| col(t, n)).collect::<Result<_, _>>()?;
        t.columns = idx.iter().map(|&i| t.columns[i].clone()).collect();
        for r in &mut t.rows {
            *r = idx.iter().map(|&i| r[i].clone()).collect();
        }
    }
    Ok(())
}

#[derive(Default)]
struct Acc {
    present: u64,
    distinct: HashSet<String>,
    min: Option<f64>,
    max: Option<f64>,
    sum: f64,
    n: u64,
}

impl Acc {
    fn feed(&mut self, func: AggFunc, values: &[String]) {
        if !values.is_empty() {
            self.present += 1;
        }
        match func {
            AggFunc::Count => {}
            AggFunc::Dc => {
                for v in values {
                    if !self.distinct.contains(v) {
                        self.distinct.insert(v.clone());
                    }
                }
            }
            _ => {
                for x in values.iter().filter_map(|v| numeric(v)) {
                    self.min = Some(self.min.map_or(x, |m| m.min(x)));
                    self.max = Some(self.max.map_or(x, |m| m.max(x)));
                    self.sum += x;
                    self.n += 1;
                }
            }
        }
    }

    fn result(&self, func: AggFunc, events: u64, has_field: bool) -> Value {
        let num = |f: Option<f64>| f.map_or(Value::Null, |f| serde_json::json!(f));
        match func {
            AggFunc::Count if has_field => Value::from(self.present),
            AggFunc::Count => Value::from(events),
            AggFunc::Dc => Value::from(self.distinct.len() as u64),
            AggFunc::Min => num(self.min),
            AggFunc::Max => num(self.max),
            AggFunc::Sum => num((self.n > 0).then_some(self.sum)),
            AggFunc::Avg => num((self.n > 0).then(|| self.sum / self.n as f64)),
        }
    }
}

/// A group of an aggregation: (time bucket, `by` values).
type GroupKey = (i64, Vec<String>);

/// Runs `stats`, `top` or `timechart`; returns the table and the matching events.
fn aggregate(b: &dyn Backend, f: &Filter<'_>, stage: &Stage) -> Result<(Table, u64), StoreError> {
    let (aggs, by, span, top): (Vec<Agg>, Vec<String>, Option<u64>, Option<usize>) = match stage {
        Stage::Stats { aggs, by } => (aggs.clone(), by.clone(), None, None),
        Stage::Top { n, field } => (
            vec![Agg {
                func: AggFunc::Count,
                field: None,
                alias: None,
            }],
            vec![field.clone()],
            None,
            Some(*n),
        ),
        Stage::Timechart {
            span_secs,
            aggs,
            by,
        } => (
            aggs.clone(),
            by.iter().cloned().collect(),
            Some(*span_secs),
            None,
        ),
        _ => return Err(StoreError::Query("not an aggregation".into())),
    };
    if span == Some(0) {
        return Err(StoreError::Query("timechart span must be positive".into()));
    }
    // Fields to read: the `by` fields, then each aggregation's field.
    let mut names: Vec<String> = by.clone();
    let agg_idx: Vec<Option<usize>> = aggs
        .iter()
        .map(|a| {
            a.field.as_ref().map(|fname| {
                names.iter().position(|n| n == fname).unwrap_or_else(|| {
                    names.push(fname.clone());
                    names.len() - 1
                })
            })
        })
        .collect();
    let patterns: Vec<Vec<PathPattern>> = names.iter().map(|n| b.resolver().resolve(n)).collect();
    // Key: (time bucket, by values) -> (events, accumulators).
    let mut groups: HashMap<GroupKey, (u64, Vec<Acc>)> = HashMap::new();
    let span_ns = span.map(|s| (s as i64).saturating_mul(1_000_000_000));
    let nby = by.len();
    let counts_only = span.is_none()
        && nby == 1
        && aggs
            .iter()
            .all(|a| a.func == AggFunc::Count && a.field.is_none());
    let fast = if counts_only {
        b.count_by(f, &patterns[0])?
    } else {
        None
    };
    let mut total = 0u64;
    if let Some(cb) = fast {
        total = cb.total;
        for (v, n) in cb.counts {
            groups.insert(
                (0, vec![v]),
                (n, (0..aggs.len()).map(|_| Acc::default()).collect()),
            );
        }
    } else {
        b.visit(f, &patterns, &mut |r| {
            total += 1;
            let bucket = span_ns.map_or(0, |s| r.time_ns.div_euclid(s) * s);
            // Every combination of the by-fields' values; events without one are left out.
            let mut keys: Vec<Vec<String>> = vec![Vec::new()];
            for vals in &r.values[..nby] {
                if vals.is_empty() {
                    return;
                }
                keys = keys
                    .into_iter()
                    .flat_map(|k| {
                        vals.iter().map(move |v| {
                            let mut k = k.clone();
                            k.push(v.clone());
                            k
                        })
                    })
                    .collect();
            }
            for k in keys {
                let g = groups
                    .entry((bucket, k))
                    .or_insert_with(|| (0, (0..aggs.len()).map(|_| Acc::default()).collect()));
                g.0 += 1;
                for (i, a) in aggs.iter().enumerate() {
                    let vals: &[String] = agg_idx[i].map_or(&[], |j| &r.values[j]);
                    g.1[i].feed(a.func, vals);
                }
            }
        })?;
    }
    let mut entries: Vec<(GroupKey, (u64, Vec<Acc>))> = groups.into_iter().collect();
    let mut columns: Vec<String> = Vec::new();
    if span.is_some() {
        columns.push("_time".into());
    }
    columns.extend(by.iter().cloned());
    if let Some(n) = top {
        entries.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.1.cmp(&b.0.1)));
        entries.truncate(n);
        columns.push("count".into());
        columns.push("percent".into());
        let rows = entries
            .into_iter()
            .map(|((_, k), (c, _))| {
                let pct = if total == 0 {
                    0.0
                } else {
                    c as f64 * 100.0 / total as f64
                };
                let mut row: Vec<Value> = k.into_iter().map(Value::String).collect();
                row.push(Value::from(c));
                row.push(serde_json::json!(pct));
                row
            })
            .collect();
        return Ok((Table { columns, rows }, total));
    }
    entries.sort_by(|a, b| {
        a.0.0.cmp(&b.0.0).then_with(|| {
            a.0.1
                .iter()
                .map(String::as_str)
                .cmp(b.0.1.iter().map(String::as_str))
        })
    });
    columns.extend(aggs.iter().map(Agg::name));
    let rows = entries
        .into_iter()
        .map(|((bucket, k), (events, accs))| {
            let mut row: Vec<Value> = Vec::new();
            if span.is_some() {
                row.push(Value::String(format_time(bucket)));
            }
            row.extend(k.into_iter().map(Value::String));
            for (i, a) in aggs.iter().enumerate() {
                row.push(accs[i].result(a.func, events, a.field.is_some()));
            }
            row
        })
        .collect();
    Ok((Table { columns, rows }, total))
}

/// Top values of one field over the matching events.
pub(crate) fn field_stats(
    b: &dyn Backend,
    req: &SearchRequest,
    field: &str,
    n: usize,
) -> Result<FieldStats, StoreError> {
    validate(&req.query.filter)?;
    let f = Filter::of(req);
    let mut out = FieldStats {
        field: field.to_string(),
        ..FieldStats::default()
    };
    if req.tenants.is_empty() {
        return Ok(out);
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let patterns = b.resolver().resolve(field);
    if let Some(cb) = b.count_by(&f, &patterns)? {
        out.total = cb.total;
        out.present = cb.present;
        counts.extend(cb.counts);
    } else {
        b.visit(&f, &[patterns], &mut |r| {
            out.total += 1;
            if !r.values[0].is_empty() {
                out.present += 1;
            }
            for v in &r.values[0] {
                match counts.get_mut(v) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(v.clone(), 1);
                    }
                }
            }
        })?;
    }
    out.distinct = counts.len() as u64;
    let mut top: Vec<(String, u64)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(n);
    out.top = top;
    Ok(out)
}
