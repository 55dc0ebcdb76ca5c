//! Reading field values from an event, and the plain semantics of one value test.
//!
//! Both the reference interpreter and the compiled matcher read fields through
//! [`field_values`]; the compiled matcher uses [`eval_matcher`] for the tests it does not
//! accelerate (null, exists, numbers, networks, field references, time parts).

use std::net::IpAddr;

use leitstelle_event::{Path, Value};
use leitstelle_profile::scalar_text;
use smallvec::SmallVec;

use crate::value::{Matcher, RefKind, TimePart, fold};

/// The values of a field: the first candidate path that is present wins; arrays are
/// flattened. `present` is true when the path exists, even with a null value.
#[derive(Debug, Default)]
pub struct Values<'a> {
    pub present: bool,
    /// Inline for the usual one or few values: reading a field does not allocate.
    pub items: SmallVec<[&'a Value; 4]>,
}

pub fn field_values<'a>(paths: &[Path], data: &'a Value) -> Values<'a> {
    let mut out = Values::default();
    for p in paths {
        walk_into(p, data, &mut out.items);
        if !out.items.is_empty() {
            out.present = true;
            return out;
        }
    }
    out
}

/// Every value at a path, arrays flattened, appended to `out`.
pub(crate) fn walk_into<'a>(path: &Path, data: &'a Value, out: &mut SmallVec<[&'a Value; 4]>) {
    path.visit(data, &mut |v| {
        push_flat(v, out);
        true
    });
}

pub(crate) fn push_flat<'a>(v: &'a Value, out: &mut SmallVec<[&'a Value; 4]>) {
    match v {
        Value::Array(items) if !items.is_empty() => {
            for i in items {
                push_flat(i, out);
            }
        }
        other => out.push(other),
    }
}

/// Every scalar leaf below the keyword roots (the whole tree when there are none).
pub fn keyword_values<'a>(roots: &[Path], data: &'a Value) -> Values<'a> {
    let mut out = Values::default();
    visit_keyword_leaves(roots, data, &mut |leaf| out.items.push(leaf));
    out.present = !out.items.is_empty();
    out
}

/// Calls `f` with every scalar leaf a keyword search looks at: all leaves below the roots
/// (the whole tree when there are none), in document order.
pub fn visit_keyword_leaves<'a>(roots: &[Path], data: &'a Value, f: &mut impl FnMut(&'a Value)) {
    if roots.is_empty() {
        leaves(data, f);
    } else {
        for r in roots {
            r.visit(data, &mut |node| {
                leaves(node, f);
                true
            });
        }
    }
}

/// [`leitstelle_event::visit_leaves`] without dynamic calls (it is on the hot path of
/// keyword searches): scalar leaves in document order, nulls skipped.
fn leaves<'a>(node: &'a Value, f: &mut impl FnMut(&'a Value)) {
    match node {
        Value::Object(map) => map.values().for_each(|v| leaves(v, f)),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, f)),
        Value::Null => {}
        leaf => f(leaf),
    }
}

impl Values<'_> {
    /// The texts of the values joined by `, ` (for reports); `None` when there is none.
    pub fn joined_text(&self) -> Option<String> {
        let texts: Vec<String> = self
            .items
            .iter()
            .filter_map(|v| text(v).map(|t| t.into_owned()))
            .collect();
        (!texts.is_empty()).then(|| texts.join(", "))
    }
}

/// The text of a value for string matching; `None` for null, objects and arrays.
pub fn text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    scalar_text(v)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        other => {
            let t = text(other)?;
            let t = t.trim();
            if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return i64::from_str_radix(hex, 16).ok().map(|i| i as f64);
            }
            t.parse().ok()
        }
    }
}

/// Extracts a date part from a timestamp text (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]`).
pub fn time_part(t: &str, part: TimePart) -> Option<i64> {
    use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};
    let t = t.trim();
    let dt: NaiveDateTime = DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()?;
    Some(match part {
        TimePart::Minute => dt.minute() as i64,
        TimePart::Hour => dt.hour() as i64,
        TimePart::Day => dt.day() as i64,
        TimePart::Week => dt.iso_week().week() as i64,
        TimePart::Month => dt.month() as i64,
        TimePart::Year => dt.year() as i64,
    })
}

/// Evaluates one matcher against a field's values. `lookup` reads another field (for
/// `fieldref`).
pub fn eval_matcher<'a>(
    m: &Matcher,
    vals: &Values<'a>,
    lookup: &mut dyn FnMut(&str) -> Values<'a>,
) -> bool {
    match m {
        Matcher::Str(p) => vals
            .items
            .iter()
            .any(|v| text(v).is_some_and(|t| p.matches(&t))),
        Matcher::Re(re) => vals
            .items
            .iter()
            .any(|v| text(v).is_some_and(|t| re.is_match(&t))),
        Matcher::Cidr(net) => vals.items.iter().any(|v| {
            text(v).is_some_and(|t| t.trim().parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)))
        }),
        Matcher::Num(cmp, want) => vals
            .items
            .iter()
            .any(|v| number(v).is_some_and(|have| cmp.holds(have, *want))),
        Matcher::Null => !vals.present || vals.items.iter().all(|v| v.is_null()),
        Matcher::Exists(b) => vals.present == *b,
        Matcher::FieldRef { field, kind, cased } => {
            let other = lookup(field);
            vals.items.iter().any(|a| {
                let Some(a) = text(a) else { return false };
                other.items.iter().any(|b| {
                    let Some(b) = text(b) else { return false };
                    let (a, b) = if *cased {
                        (a.to_string(), b.to_string())
                    } else {
                        (fold(&a), fold(&b))
                    };
                    match kind {
                        RefKind::Equals => a == b,
                        RefKind::Contains => a.contains(&b),
                        RefKind::StartsWith => a.starts_with(&b),
                        RefKind::EndsWith => a.ends_with(&b),
                    }
                })
            })
        }
        Matcher::Time { part, cmp, value } => vals.items.iter().any(|v| {
            text(v)
                .and_then(|t| time_part(&t, *part))
                .is_some_and(|have| cmp.holds(have as f64, *value as f64))
        }),
        Matcher::NotAny(alts) => !alts.iter().any(|a| eval_matcher(a, vals, lookup)),
    }
}
