//! Fast field reads for the compiled engine.
//!
//! Most candidate paths of a profile share a few prefixes (`Event.EventData`, `Event.System`).
//! A [`FieldPlan`] splits every candidate path into a prefix and a last key; per event the
//! prefixes are resolved once ([`Reader::new`]), so reading a field costs one map lookup per
//! candidate instead of a walk from the root. Where a prefix cannot be resolved to a single
//! object (an array or a `*` on the way) the candidate falls back to the plain path walk, so
//! the result is always the same as [`crate::access::field_values`] (tested against it).

use std::cell::OnceCell;

use leitstelle_event::{Path, Value};
use smallvec::SmallVec;

use crate::access::{Values, field_values, push_flat, walk_into};

#[derive(Debug, Clone)]
enum Cand {
    /// The value is `prefixes[prefix].key`.
    Split { prefix: u16, key: Box<str> },
    /// Anything else: walk the path.
    Walk(Path),
}

/// The candidate paths of every field for one profile, prefix-split.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldPlan {
    prefixes: Vec<Path>,
    fields: Vec<Vec<Cand>>,
    /// The original paths (for the walk fallback of a prefix that is not a plain object).
    paths: Vec<Vec<Path>>,
}

impl FieldPlan {
    pub(crate) fn new(paths: Vec<Vec<Path>>) -> Self {
        let mut prefixes: Vec<Path> = Vec::new();
        let fields = paths
            .iter()
            .map(|cands| {
                cands
                    .iter()
                    .map(|p| {
                        let segs = p.segments();
                        let Some((last, head)) = segs.split_last() else {
                            return Cand::Walk(p.clone());
                        };
                        if head.is_empty()
                            || last.as_ref() == "*"
                            || head.iter().any(|s| s.as_ref() == "*")
                        {
                            return Cand::Walk(p.clone());
                        }
                        let prefix = Path::from_segments(head);
                        let idx = match prefixes.iter().position(|x| *x == prefix) {
                            Some(i) => i,
                            None => {
                                prefixes.push(prefix);
                                prefixes.len() - 1
                            }
                        };
                        match u16::try_from(idx) {
                            Ok(prefix) => Cand::Split {
                                prefix,
                                key: last.clone(),
                            },
                            Err(_) => Cand::Walk(p.clone()),
                        }
                    })
                    .collect()
            })
            .collect();
        FieldPlan {
            prefixes,
            fields,
            paths,
        }
    }

    pub(crate) fn paths(&self, field: usize) -> &[Path] {
        &self.paths[field]
    }
}

#[derive(Clone, Copy)]
enum Prefix<'a> {
    Object(&'a serde_json::Map<String, Value>),
    Absent,
    /// Not a single object: walk instead.
    Walk,
}

/// Reads fields of one event through a [`FieldPlan`].
pub(crate) struct Reader<'a> {
    plan: &'a FieldPlan,
    data: &'a Value,
    /// Resolved on first use: most events need only a few of a profile's prefixes.
    prefixes: SmallVec<[OnceCell<Prefix<'a>>; 8]>,
}

fn resolve<'a>(path: &Path, data: &'a Value) -> Prefix<'a> {
    let mut node = data;
    for s in path.segments() {
        match node {
            Value::Object(m) => match m.get(s.as_ref()) {
                Some(child) => node = child,
                None => return Prefix::Absent,
            },
            Value::Array(_) => return Prefix::Walk,
            _ => return Prefix::Absent,
        }
    }
    match node {
        Value::Object(m) => Prefix::Object(m),
        Value::Array(_) => Prefix::Walk,
        _ => Prefix::Absent,
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(plan: &'a FieldPlan, data: &'a Value) -> Self {
        Reader {
            plan,
            data,
            prefixes: plan.prefixes.iter().map(|_| OnceCell::new()).collect(),
        }
    }

    pub(crate) fn data(&self) -> &'a Value {
        self.data
    }

    fn prefix(&self, i: usize) -> Prefix<'a> {
        *self.prefixes[i].get_or_init(|| resolve(&self.plan.prefixes[i], self.data))
    }

    /// The values of a field: the first candidate with a value wins; arrays flattened.
    pub(crate) fn values(&self, field: usize) -> Values<'a> {
        let mut out = Values::default();
        for (i, c) in self.plan.fields[field].iter().enumerate() {
            match c {
                Cand::Split { prefix, key } => match self.prefix(*prefix as usize) {
                    Prefix::Object(m) => {
                        if let Some(v) = m.get(key.as_ref()) {
                            push_flat(v, &mut out.items);
                        }
                    }
                    Prefix::Absent => {}
                    Prefix::Walk => {
                        return field_values(&self.plan.paths[field][i..], self.data);
                    }
                },
                Cand::Walk(p) => walk_into(p, self.data, &mut out.items),
            }
            if !out.items.is_empty() {
                out.present = true;
                return out;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_like_the_plain_walk() {
        let cands = |v: &[&str]| v.iter().map(|s| Path::parse(s)).collect::<Vec<_>>();
        let paths = vec![
            cands(&[
                "Event.EventData.Image",
                "Event.UserData.*.Image",
                "Event.System.Image",
            ]),
            cands(&["Event.System.EventID"]),
            cands(&["a", "b.c"]),
            cands(&["x.y.z", "x.w"]),
            cands(&[""]),
        ];
        let plan = FieldPlan::new(paths.clone());
        let events = [
            json!({"Event": {"EventData": {"Image": "a"}, "System": {"EventID": 1}}}),
            json!({"Event": {"EventData": {"Image": null}, "System": {"Image": "s"}}}),
            json!({"Event": {"UserData": {"X": {"Image": "u"}}, "System": {"EventID": [1, 2]}}}),
            json!({"Event": [{"EventData": {"Image": "a1"}}, {"EventData": {"Image": "a2"}}]}),
            json!({"a": [1, [2, 3]], "b": {"c": 4}}),
            json!({"b": [{"c": 1}, {"c": 2}]}),
            json!({"x": [{"y": {"z": 1}}, {"w": 2}]}),
            json!({"x": {"y": 5, "w": 6}}),
            json!("scalar"),
        ];
        for e in &events {
            let r = Reader::new(&plan, e);
            for (f, p) in paths.iter().enumerate() {
                let fast = r.values(f);
                let slow = field_values(p, e);
                assert_eq!(fast.present, slow.present, "{e} field {f}");
                assert_eq!(
                    fast.items.as_slice(),
                    slow.items.as_slice(),
                    "{e} field {f}"
                );
            }
        }
    }
}
