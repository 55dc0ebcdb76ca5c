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
    /// A path with a `*` after plain segments: the walk starts at `prefixes[prefix]` (those
    /// segments, resolved once per event; when absent there is nothing to walk) and goes on
    /// in every child along `after` (the segments after the `*`).
    Below { prefix: u16, after: Path },
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
        let mut prefix_id = |head: &[Box<str>]| -> Option<u16> {
            let prefix = Path::from_segments(head);
            let idx = match prefixes.iter().position(|x| *x == prefix) {
                Some(i) => i,
                None => {
                    prefixes.push(prefix);
                    prefixes.len() - 1
                }
            };
            u16::try_from(idx).ok()
        };
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
                        let star = segs.iter().position(|s| s.as_ref() == "*");
                        match star {
                            None if !head.is_empty() => match prefix_id(head) {
                                Some(prefix) => Cand::Split {
                                    prefix,
                                    key: last.clone(),
                                },
                                None => Cand::Walk(p.clone()),
                            },
                            Some(i) if i > 0 => match prefix_id(&segs[..i]) {
                                Some(prefix) => Cand::Below {
                                    prefix,
                                    after: Path::from_segments(&segs[i + 1..]),
                                },
                                None => Cand::Walk(p.clone()),
                            },
                            _ => Cand::Walk(p.clone()),
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

    /// A prefetch table for `fields` (the caller's slot `i` is `fields[i]`): those whose first
    /// candidate is a key of the prefix most of them share.
    pub(crate) fn prefetch(&self, fields: &[usize]) -> Prefetch {
        let first = |f: usize| match self.fields.get(f).and_then(|c| c.first()) {
            Some(Cand::Split { prefix, key }) => Some((*prefix, key)),
            _ => None,
        };
        let mut counts: Vec<(u16, usize)> = Vec::new();
        for &f in fields {
            if let Some((p, _)) = first(f) {
                match counts.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((p, 1)),
                }
            }
        }
        let Some(&(prefix, _)) = counts
            .iter()
            .max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p)))
        else {
            return Prefetch::default();
        };
        let mut keys: Vec<(Box<str>, u32)> = fields
            .iter()
            .enumerate()
            .filter_map(|(slot, &f)| match first(f) {
                Some((p, key)) if p == prefix => Some((key.clone(), slot as u32)),
                _ => None,
            })
            .collect();
        // Byte order, for the binary search when no key table fits.
        keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let table = KeyTable::new(&keys);
        let lens = keys.iter().fold(0u64, |m, (k, _)| m | len_bit(k.len()));
        Prefetch {
            prefix,
            keys,
            table,
            lens,
            slots: fields.len(),
        }
    }
}

/// Entries of a [`KeyTable`].
const KEY_TABLE: usize = 256;

/// A perfect hash of the wanted keys of a [`Prefetch`]: each key of the object being read is
/// hashed from its length and three of its bytes, and only a key landing on a wanted key's
/// entry is compared (one comparison, instead of a binary search over the wanted keys).
#[derive(Debug, Clone)]
struct KeyTable {
    seed: u32,
    /// `index + 1` into the wanted keys; 0 for none.
    entries: Box<[u8; KEY_TABLE]>,
}

impl KeyTable {
    /// Tries a few multipliers for one that gives every wanted key an entry of its own;
    /// `None` when none does (keys alike in length and the sampled bytes, or too many keys).
    fn new(keys: &[(Box<str>, u32)]) -> Option<KeyTable> {
        if keys.len() >= usize::from(u8::MAX) {
            return None;
        }
        (0..64u32).find_map(|i| {
            let seed = 0x9E37_79B1u32.wrapping_add(i.wrapping_mul(0x85EB_CA6C)) | 1;
            let mut entries = Box::new([0u8; KEY_TABLE]);
            for (n, (k, _)) in keys.iter().enumerate() {
                let e = &mut entries[key_hash(k.as_bytes(), seed)];
                if *e != 0 {
                    return None;
                }
                *e = u8::try_from(n + 1).ok()?;
            }
            Some(KeyTable { seed, entries })
        })
    }

    /// The index of the only wanted key `key` can be, if any.
    #[inline]
    fn candidate(&self, key: &[u8]) -> Option<usize> {
        match self.entries[key_hash(key, self.seed)] {
            0 => None,
            n => Some(usize::from(n) - 1),
        }
    }
}

/// A hash of a key's length and its first, middle and last bytes, in `0..KEY_TABLE`.
#[inline]
fn key_hash(key: &[u8], seed: u32) -> usize {
    let byte = |i: usize| u32::from(key.get(i).copied().unwrap_or(0));
    let x = (key.len() as u32 & 0xff)
        | byte(0) << 8
        | byte(key.len() / 2) << 16
        | byte(key.len().wrapping_sub(1)) << 24;
    (x.wrapping_mul(seed) >> 24) as usize
}

/// Fields read together in one pass over the object of their shared prefix (see
/// [`Reader::prefetch`]), instead of one map lookup each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefetch {
    prefix: u16,
    /// The fields' last keys in byte order, with their slots.
    keys: Vec<(Box<str>, u32)>,
    /// Finds a key's index in `keys`; when `None`, a binary search does.
    table: Option<KeyTable>,
    /// Bit `n` set when a key has `n` bytes (bit 63: 63 or more): keys of other lengths are
    /// passed over without reading their bytes (in another cache line than the object).
    lens: u64,
    slots: usize,
}

fn len_bit(len: usize) -> u64 {
    1 << len.min(63)
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
    /// Values found by [`Reader::prefetch`], by slot.
    slots: SmallVec<[Option<&'a Value>; 32]>,
}

fn resolve<'a>(path: &Path, data: &'a Value) -> Prefix<'a> {
    let mut node = data;
    for s in path.segments() {
        match node {
            Value::Object(m) => match leitstelle_event::member(m, s.as_ref()) {
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
            slots: SmallVec::new(),
        }
    }

    /// Finds the first candidates of the prefetched fields in one pass over the prefix's
    /// object, in whatever order its keys come (the binary's objects keep their source's
    /// order: the `evtx` crate turns on serde_json's `preserve_order`). A slot stays empty
    /// when its key is absent (or the prefix is not a plain object): read that field with
    /// [`Reader::values`].
    pub(crate) fn prefetch(&mut self, pre: &Prefetch) {
        self.slots.clear();
        self.slots.resize(pre.slots, None);
        if pre.keys.is_empty() {
            return;
        }
        if pre.prefix as usize >= self.prefixes.len() {
            return;
        }
        let Prefix::Object(m) = self.prefix(pre.prefix as usize) else {
            return;
        };
        let want = &pre.keys;
        let mut found = 0;
        for (k, v) in m {
            if pre.lens & len_bit(k.len()) == 0 {
                continue;
            }
            let k = k.as_bytes();
            let i = match &pre.table {
                Some(t) => match t.candidate(k) {
                    Some(i) if want[i].0.as_bytes() == k => i,
                    _ => continue,
                },
                None => match want.binary_search_by(|w| w.0.as_bytes().cmp(k)) {
                    Ok(i) => i,
                    Err(_) => continue,
                },
            };
            self.slots[want[i].1 as usize] = Some(v);
            found += 1;
            if found == want.len() {
                return;
            }
        }
    }

    /// The values of the field in prefetch slot `slot`, when the prefetch found it.
    pub(crate) fn prefetched(&self, slot: usize) -> Option<Values<'a>> {
        let v = (*self.slots.get(slot)?)?;
        let mut out = Values {
            present: true,
            ..Values::default()
        };
        push_flat(v, &mut out.items);
        Some(out)
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
                        if let Some(v) = leitstelle_event::member(m, key.as_ref()) {
                            push_flat(v, &mut out.items);
                        }
                    }
                    Prefix::Absent => {}
                    Prefix::Walk => {
                        return field_values(&self.plan.paths[field][i..], self.data);
                    }
                },
                Cand::Below { prefix, after } => match self.prefix(*prefix as usize) {
                    Prefix::Object(m) => {
                        for child in m.values() {
                            walk_into(after, child, &mut out.items);
                        }
                    }
                    Prefix::Absent => {}
                    Prefix::Walk => {
                        walk_into(&self.plan.paths[field][i], self.data, &mut out.items)
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
            cands(&["u.*.f", "u.*", "u.v.*.g.*.h", "*.f"]),
            cands(&["u.v.*", "x.*.z"]),
            cands(&["x.w", "x.y"]),
            cands(&["x.a"]),
            cands(&["x.y.z"]),
            cands(&["x.B", "x.y"]),
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
            json!({"u": {"a": {"f": 1}, "b": {"f": [2, 3]}, "c": 4}}),
            json!({"u": {"a": {"g": 1}}, "k": {"f": 9}}),
            json!({"u": 5, "x": {"a": {"z": null}}}),
            json!({"u": [{"a": {"f": 1}}, {"b": {"f": 2}}]}),
            json!({"u": {"v": {"p": {"g": {"q": {"h": "deep"}}}, "r": [1, {"g": 2}]}}}),
            json!({"u": {"v": [{"g": {"x": {"h": 1}}}]}, "x": [{"y": {"z": 3}}]}),
            json!({"u": {}}),
            json!({"x": {"B": 1, "a": [2, null], "w": {"k": 3}, "y": {"z": "q"}, "é": 4}}),
            json!({"x": {"A": 1, "b": 2, "z": 3}}),
        ];
        // Prefetched in one pass: the same values as one lookup each, for the fields found.
        let all: Vec<usize> = (0..paths.len()).rev().collect();
        let pre = plan.prefetch(&all);
        for e in &events {
            let mut r = Reader::new(&plan, e);
            r.prefetch(&pre);
            for (slot, &f) in all.iter().enumerate() {
                if let Some(fast) = r.prefetched(slot) {
                    let slow = field_values(&paths[f], e);
                    assert_eq!(fast.present, slow.present, "{e} field {f}");
                    assert_eq!(
                        fast.items.as_slice(),
                        slow.items.as_slice(),
                        "{e} field {f}"
                    );
                }
            }
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

    /// Every wanted key present is found by the one pass, whatever the order of the object's
    /// keys (sorted as a `BTreeMap` keeps them, or the source's order as the binary keeps
    /// them, including sorted at first and out of order later).
    #[test]
    fn prefetch_finds_every_key_in_any_order() {
        let names = ["Image", "CommandLine", "Hashes", "User", "ParentImage"];
        let paths: Vec<Vec<Path>> = names
            .iter()
            .map(|n| vec![Path::parse(&format!("Event.EventData.{n}"))])
            .collect();
        let plan = FieldPlan::new(paths);
        let all: Vec<usize> = (0..names.len()).collect();
        let pre = plan.prefetch(&all);
        let orders: [&[&str]; 6] = [
            &["CommandLine", "Hashes", "Image", "ParentImage", "User"],
            &["User", "ParentImage", "Image", "Hashes", "CommandLine"],
            &[
                "RuleName",
                "UtcTime",
                "Image",
                "CommandLine",
                "User",
                "Hashes",
                "ParentImage",
            ],
            &["A", "CommandLine", "Z", "Hashes", "Image"],
            &[
                "CommandLine",
                "Image",
                "Zz",
                "Hashes",
                "ParentImage",
                "User",
            ],
            &["Image", "Other", "User"],
        ];
        for order in orders {
            let mut obj = serde_json::Map::new();
            for k in order {
                obj.insert(k.to_string(), json!(format!("v-{k}")));
            }
            let e = json!({"Event": {"EventData": obj}});
            let mut r = Reader::new(&plan, &e);
            r.prefetch(&pre);
            for (slot, name) in names.iter().enumerate() {
                let got: Option<Vec<Value>> = r
                    .prefetched(slot)
                    .map(|v| v.items.iter().map(|x| (*x).clone()).collect());
                if order.contains(name) {
                    assert_eq!(
                        got,
                        Some(vec![json!(format!("v-{name}"))]),
                        "{name} in {order:?}"
                    );
                } else {
                    assert_eq!(got, None, "{name} not in {order:?}");
                }
            }
        }
    }

    /// Wanted keys no table can tell apart (same length and same sampled bytes) are found by
    /// binary search instead, in any order too.
    #[test]
    fn prefetch_without_a_key_table_still_finds_every_key() {
        let names = ["axxb", "ayxb", "azxb", "Image"];
        let paths: Vec<Vec<Path>> = names
            .iter()
            .map(|n| vec![Path::parse(&format!("d.{n}"))])
            .collect();
        let plan = FieldPlan::new(paths);
        let all: Vec<usize> = (0..names.len()).collect();
        let pre = plan.prefetch(&all);
        assert!(pre.table.is_none());
        for order in [
            ["Image", "q", "azxb", "axxb"],
            ["axxb", "awxb", "ayxb", "Image"],
        ] {
            let mut obj = serde_json::Map::new();
            for k in order {
                obj.insert(k.to_string(), json!(format!("v-{k}")));
            }
            let e = json!({ "d": obj });
            let mut r = Reader::new(&plan, &e);
            r.prefetch(&pre);
            for (slot, name) in names.iter().enumerate() {
                let got = r.prefetched(slot).map(|v| v.items[0].clone());
                let want = order.contains(name).then(|| json!(format!("v-{name}")));
                assert_eq!(got, want, "{name} in {order:?}");
            }
        }
    }
}
