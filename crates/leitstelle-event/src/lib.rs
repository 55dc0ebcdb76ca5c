//! The Leitstelle event model.
//!
//! An [`Event`] keeps its source losslessly: the [`Raw`] text or bytes it was read from, the
//! parsed tree ([`Value`], a JSON-like value: strings, numbers, booleans, null, arrays,
//! objects), and metadata: tenant, timestamp, [`SourceKind`] and the Sigma [`Logsource`] it
//! belongs to. Fields are never renamed or flattened here; mapping Sigma field names onto
//! event paths is the job of source profiles (`leitstelle-profile`), resolved when rules are
//! compiled.
//!
//! This crate does no I/O.
//!
//! ```
//! use leitstelle_event::{Event, SourceKind, Path};
//! let data = serde_json::json!({"Event": {"EventData": {"Image": "C:\\Windows\\cmd.exe"}}});
//! let event = Event::new(SourceKind::Json, data);
//! let path = Path::parse("Event.EventData.Image");
//! assert_eq!(event.get(&path).and_then(|v| v.as_str()), Some("C:\\Windows\\cmd.exe"));
//! assert_eq!(event.tenant.as_ref(), "default");
//! ```

use std::fmt;
use std::sync::Arc;

pub use serde_json::Value;

/// The tenant every event belongs to unless its source says otherwise.
pub const DEFAULT_TENANT: &str = "default";

/// What kind of source an event was read from. Profiles use it to decide how to read fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A Windows event log record (`.evtx`), rendered to its native JSON tree
    /// (`Event.System.*`, `Event.EventData.*`).
    Evtx,
    /// A JSON object (one NDJSON line or one element of a JSON array).
    Json,
    /// A syslog line (RFC 5424 or RFC 3164).
    Syslog,
    /// An ArcSight Common Event Format record (`CEF:0|…`), bare or inside a syslog line.
    Cef,
    /// An IBM QRadar Log Event Extended Format record (`LEEF:1.0|…` / `LEEF:2.0|…`).
    Leef,
    /// A Linux audit (`auditd`) record (`type=… msg=audit(…): key=value …`).
    Auditd,
}

impl SourceKind {
    /// The stable lowercase name used in profiles and output.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Evtx => "evtx",
            SourceKind::Json => "json",
            SourceKind::Syslog => "syslog",
            SourceKind::Cef => "cef",
            SourceKind::Leef => "leef",
            SourceKind::Auditd => "auditd",
        }
    }

    /// Parses the name returned by [`SourceKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "evtx" => Some(SourceKind::Evtx),
            "json" => Some(SourceKind::Json),
            "syslog" => Some(SourceKind::Syslog),
            "cef" => Some(SourceKind::Cef),
            "leef" => Some(SourceKind::Leef),
            "auditd" => Some(SourceKind::Auditd),
            _ => None,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bytes an event was read from, kept so nothing of the source is lost.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Raw {
    /// The source line or document as text.
    Text(Arc<str>),
    /// The source record as bytes (binary formats).
    Bytes(Arc<[u8]>),
    /// The parsed tree is the complete source (for example an EVTX record, whose binary XML
    /// renders losslessly to the tree); nothing else to keep.
    #[default]
    Tree,
}

/// The Sigma logsource an event belongs to: product, service and zero or more categories.
///
/// An event may carry several categories: a Sysmon registry value-set event is both
/// `registry_set` and `registry_event`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Logsource {
    pub product: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub categories: Vec<Arc<str>>,
}

impl Logsource {
    /// Whether a rule with the given logsource applies to events of this logsource: every
    /// part the rule names must be present and equal (case-insensitively) on the event.
    pub fn admits(
        &self,
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> bool {
        fn eq(have: Option<&str>, want: Option<&str>) -> bool {
            match want {
                None => true,
                Some(w) => have.is_some_and(|h| h.eq_ignore_ascii_case(w)),
            }
        }
        eq(self.product.as_deref(), product)
            && eq(self.service.as_deref(), service)
            && match category {
                None => true,
                Some(c) => self.categories.iter().any(|h| h.eq_ignore_ascii_case(c)),
            }
    }
}

impl fmt::Display for Logsource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.product.as_deref().unwrap_or("*"))?;
        write!(f, "/{}", self.service.as_deref().unwrap_or("*"))?;
        if self.categories.is_empty() {
            write!(f, "/*")
        } else {
            write!(f, "/{}", self.categories.join(","))
        }
    }
}

/// Where an event came from inside its source, for reporting (file and record number).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file or listener name.
    pub source: Option<Arc<str>>,
    /// The record id (EVTX) or line / element number (text formats), 1-based.
    pub record: Option<u64>,
}

/// One event: the source kept losslessly plus metadata.
#[derive(Clone, Debug)]
pub struct Event {
    pub tenant: Arc<str>,
    /// Event time as nanoseconds since the Unix epoch (UTC), when the source has one.
    pub timestamp: Option<i64>,
    pub source: SourceKind,
    pub raw: Raw,
    /// The parsed tree.
    pub data: Value,
    pub logsource: Logsource,
    /// Index of the source profile (in the profile set the reader used) that describes how
    /// to read this event's fields.
    pub profile: usize,
    pub origin: Origin,
}

impl Event {
    /// A new event of the default tenant with no raw text, timestamp or logsource.
    pub fn new(source: SourceKind, data: Value) -> Self {
        Event {
            tenant: Arc::from(DEFAULT_TENANT),
            timestamp: None,
            source,
            raw: Raw::Tree,
            data,
            logsource: Logsource::default(),
            profile: 0,
            origin: Origin::default(),
        }
    }

    /// The value at a path in the parsed tree, if present.
    pub fn get(&self, path: &Path) -> Option<&Value> {
        path.lookup(&self.data)
    }
}

/// A pre-split dotted path into the parsed tree (`Event.EventData.Image`).
///
/// A segment `*` matches every key of an object (used for `Event.UserData.*.Field`).
/// Arrays on the way are looked through: `a.b` on `{"a": [{"b": 1}]}` finds `1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    segments: Box<[Box<str>]>,
}

impl Path {
    /// Splits a dotted path. `\.` escapes a dot that is part of a key. The empty text is the
    /// root path (the whole tree).
    pub fn parse(text: &str) -> Self {
        if text.is_empty() {
            return Path {
                segments: Box::new([]),
            };
        }
        let mut segments = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('.') => cur.push('.'),
                    Some(o) => {
                        cur.push('\\');
                        cur.push(o)
                    }
                    None => cur.push('\\'),
                },
                '.' => segments.push(std::mem::take(&mut cur).into_boxed_str()),
                o => cur.push(o),
            }
        }
        segments.push(cur.into_boxed_str());
        Path {
            segments: segments.into_boxed_slice(),
        }
    }

    /// A path of one literal key (a flat field name that may contain dots).
    pub fn key(key: &str) -> Self {
        Path {
            segments: vec![Box::from(key)].into_boxed_slice(),
        }
    }

    /// A path of the given segments.
    pub fn from_segments(segments: &[Box<str>]) -> Self {
        Path {
            segments: segments.into(),
        }
    }

    pub fn segments(&self) -> &[Box<str>] {
        &self.segments
    }

    /// The first value at this path (depth-first, in document order).
    pub fn lookup<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut out = None;
        self.visit(root, &mut |v| {
            out = Some(v);
            false
        });
        out
    }

    /// Calls `f` with every value at this path until `f` returns `false`.
    /// Returns `false` if `f` stopped the walk.
    pub fn visit<'a>(&self, root: &'a Value, f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
        visit_segments(&self.segments, root, f)
    }
}

fn visit_segments<'a>(
    segs: &[Box<str>],
    node: &'a Value,
    f: &mut dyn FnMut(&'a Value) -> bool,
) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return f(node);
    };
    match node {
        Value::Object(map) => {
            if first.as_ref() == "*" {
                for child in map.values() {
                    if !visit_segments(rest, child, f) {
                        return false;
                    }
                }
                true
            } else {
                match member(map, first.as_ref()) {
                    Some(child) => visit_segments(rest, child, f),
                    None => true,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if !visit_segments(segs, item, f) {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// Objects up to this many members are searched by [`member`] one by one.
const SCAN_MEMBERS: usize = 32;

/// The member `key` of an object. Small objects are scanned, comparing each key's length
/// before its bytes: no hashing, and most keys are told apart without reading their bytes.
/// (In the binary, serde_json's `preserve_order` is on, so an object is an `IndexMap` whose
/// members are one array, and its `get` hashes the key with SipHash first; measured on Sysmon
/// events, the scan is cheaper for objects of a few dozen members.) Larger objects are
/// looked up by hash.
#[inline]
pub fn member<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if m.len() <= SCAN_MEMBERS {
        m.iter()
            .find(|(k, _)| k.len() == key.len() && k.as_str() == key)
            .map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&s.replace('.', "\\."))?;
        }
        Ok(())
    }
}

/// Calls `f` with every scalar leaf below `node` (strings, numbers, booleans; not null).
/// Returns `false` if `f` stopped the walk.
pub fn visit_leaves<'a>(node: &'a Value, f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
    match node {
        Value::Object(map) => map.values().all(|v| visit_leaves(v, f)),
        Value::Array(items) => items.iter().all(|v| visit_leaves(v, f)),
        Value::Null => true,
        leaf => f(leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_lookup_walks_objects_arrays_and_wildcards() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}]}, "u": {"x": {"f": "y"}}, "k.d": 3});
        let mut seen = vec![];
        Path::parse("a.b.c").visit(&v, &mut |x| {
            seen.push(x.clone());
            true
        });
        assert_eq!(seen, vec![json!(1), json!(2)]);
        assert_eq!(Path::parse("u.*.f").lookup(&v), Some(&json!("y")));
        assert_eq!(Path::parse("k\\.d").lookup(&v), Some(&json!(3)));
        assert_eq!(Path::key("k.d").lookup(&v), Some(&json!(3)));
        assert_eq!(Path::parse("a.x").lookup(&v), None);
        assert_eq!(Path::parse("k\\.d").to_string(), "k\\.d");
    }

    #[test]
    fn logsource_admits_rules_by_parts() {
        let ls = Logsource {
            product: Some("windows".into()),
            service: Some("sysmon".into()),
            categories: vec!["registry_set".into(), "registry_event".into()],
        };
        assert!(ls.admits(Some("windows"), None, None));
        assert!(ls.admits(Some("windows"), Some("registry_event"), None));
        assert!(ls.admits(Some("Windows"), None, Some("sysmon")));
        assert!(!ls.admits(Some("windows"), Some("process_creation"), None));
        assert!(!ls.admits(Some("linux"), None, None));
        assert!(!ls.admits(None, None, Some("security")));
        assert_eq!(ls.to_string(), "windows/sysmon/registry_set,registry_event");
    }

    #[test]
    fn leaves_skip_null_and_visit_scalars() {
        let v = json!({"a": [1, null, "x"], "b": {"c": true}});
        let mut n = 0;
        visit_leaves(&v, &mut |_| {
            n += 1;
            true
        });
        assert_eq!(n, 3);
    }
}
