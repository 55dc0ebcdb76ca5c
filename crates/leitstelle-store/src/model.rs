//! How an event is seen by the store: its searchable (path, value) pairs, its words, its meta
//! fields, and how query field names resolve to paths. Both backends use these functions, so
//! they agree on what matches by construction; the tests compare them anyway.

use leitstelle_event::{Event, Raw, Value};
use leitstelle_profile::{Profile, ProfileSet, scalar_text};

/// Values longer than this many bytes are searched (and aggregated) by their first
/// `VALUE_CAP` bytes; the stored document keeps them whole.
pub const VALUE_CAP: usize = 8192;
/// Separates path and value in an indexed pair term (`event.eventdata.image\u{1f}C:\…`).
pub const SEP: char = '\u{1f}';
/// Words longer than this many bytes are not indexed as words.
pub const MAX_WORD: usize = 128;

/// How far ahead of its receive time an event's own timestamp may be (one day).
pub const MAX_FUTURE_NS: i64 = 86_400 * 1_000_000_000;

/// One event as handed to the store: the parsed tree plus the meta fields the store keeps in
/// typed columns.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewEvent {
    /// The journal sequence number: unique per store, the key of exactly-once indexing.
    pub seq: u64,
    pub tenant: String,
    /// Event time (the source's timestamp, or the receive time when it has none or it is more
    /// than a day in the future), ns since the Unix epoch. Partitions and time ranges use it.
    pub time_ns: i64,
    pub received_ns: i64,
    /// The intake it came through (`api`, `syslog:udp:…`, `_bulk`, a file name…).
    pub source: String,
    /// The source kind (`evtx`, `json`, `syslog`…).
    pub kind: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub level: Option<String>,
    pub event_id: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
    pub categories: Vec<String>,
    pub data: Value,
    /// The raw text when the parsed tree is not the whole source (base64 for binary raw).
    pub raw: Option<String>,
}

/// Sigma-style names of the user and level fields, tried in this order through the event's
/// profile.
const USER_FIELDS: &[&str] = &[
    "User",
    "TargetUserName",
    "SubjectUserName",
    "user.name",
    "user",
    "suser",
    "duser",
];
const LEVEL_FIELDS: &[&str] = &["Level", "level", "log.level", "severity", "Severity"];

impl NewEvent {
    /// The store's view of a parsed event: meta fields are read through the event's source
    /// profile (host and EventID from the profile's meta paths, user and level from the
    /// usual field names).
    pub fn from_event(
        seq: u64,
        event: Event,
        received_ns: i64,
        source: &str,
        profiles: &ProfileSet,
    ) -> Self {
        let profile = (event.profile < profiles.len()).then(|| profiles.get(event.profile));
        let first = |names: &[&str]| -> Option<String> {
            let p = profile?;
            names
                .iter()
                .find_map(|n| Profile::first_text(&p.resolve(n), &event.data))
        };
        let host = profile.and_then(|p| Profile::first_text(&p.host, &event.data));
        let user = first(USER_FIELDS);
        let level = first(LEVEL_FIELDS);
        let event_id = profile.and_then(|p| Profile::first_text(&p.event_id, &event.data));
        let raw = match &event.raw {
            Raw::Text(t) => Some(t.to_string()),
            Raw::Bytes(b) => Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                b,
            )),
            Raw::Tree => None,
        };
        NewEvent {
            seq,
            tenant: event.tenant.to_string(),
            // A timestamp more than a day ahead of receipt is a wrong clock (or a hostile
            // sender spreading events over far-future days): the receive time counts.
            time_ns: event
                .timestamp
                .filter(|t| t.saturating_sub(received_ns) <= MAX_FUTURE_NS)
                .unwrap_or(received_ns),
            received_ns,
            source: source.to_string(),
            kind: event.source.as_str().to_string(),
            host,
            user,
            level,
            event_id,
            product: event.logsource.product.as_deref().map(str::to_string),
            service: event.logsource.service.as_deref().map(str::to_string),
            categories: event
                .logsource
                .categories
                .iter()
                .map(|c| c.to_string())
                .collect(),
            data: event.data,
            raw,
        }
    }

    /// The event's logsource as `product/service/category,…` (`*` for a missing part).
    pub fn logsource(&self) -> String {
        format!(
            "{}/{}/{}",
            self.product.as_deref().unwrap_or("*"),
            self.service.as_deref().unwrap_or("*"),
            if self.categories.is_empty() {
                "*".to_string()
            } else {
                self.categories.join(",")
            }
        )
    }

    /// The numeric EventID, when it is one.
    pub fn event_id_num(&self) -> Option<u64> {
        self.event_id.as_deref().and_then(|s| s.trim().parse().ok())
    }

    /// The document returned for a hit: everything the store keeps of the event.
    pub fn document(&self) -> Value {
        serde_json::json!({
            "seq": self.seq,
            "tenant": self.tenant,
            "time": self.time_ns,
            "received": self.received_ns,
            "source": self.source,
            "kind": self.kind,
            "host": self.host,
            "user": self.user,
            "level": self.level,
            "event_id": self.event_id,
            "logsource": {
                "product": self.product,
                "service": self.service,
                "categories": self.categories,
            },
            "data": self.data,
            "raw": self.raw,
        })
    }

    /// Writes [`NewEvent::document`] as JSON text to `out` (after what it holds), serialized
    /// straight from the event: the store writes this for every event, and building the
    /// tree first would copy the whole event.
    pub fn write_document_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            seq: u64,
            tenant: &'a str,
            time: i64,
            received: i64,
            source: &'a str,
            kind: &'a str,
            host: &'a Option<String>,
            user: &'a Option<String>,
            level: &'a Option<String>,
            event_id: &'a Option<String>,
            logsource: Logsource<'a>,
            data: &'a Value,
            raw: &'a Option<String>,
        }
        #[derive(serde::Serialize)]
        struct Logsource<'a> {
            product: &'a Option<String>,
            service: &'a Option<String>,
            categories: &'a [String],
        }
        serde_json::to_writer(
            out,
            &Doc {
                seq: self.seq,
                tenant: &self.tenant,
                time: self.time_ns,
                received: self.received_ns,
                source: &self.source,
                kind: &self.kind,
                host: &self.host,
                user: &self.user,
                level: &self.level,
                event_id: &self.event_id,
                logsource: Logsource {
                    product: &self.product,
                    service: &self.service,
                    categories: &self.categories,
                },
                data: &self.data,
                raw: &self.raw,
            },
        )
    }

    /// Rebuilds the event from [`NewEvent::document`].
    pub fn from_document(doc: &Value) -> Option<NewEvent> {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let ls = doc.get("logsource");
        let ls_s = |k: &str| {
            ls.and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Some(NewEvent {
            seq: doc.get("seq")?.as_u64()?,
            tenant: s("tenant")?,
            time_ns: doc.get("time")?.as_i64()?,
            received_ns: doc.get("received")?.as_i64()?,
            source: s("source").unwrap_or_default(),
            kind: s("kind").unwrap_or_default(),
            host: s("host"),
            user: s("user"),
            level: s("level"),
            event_id: s("event_id"),
            product: ls_s("product"),
            service: ls_s("service"),
            categories: ls
                .and_then(|l| l.get("categories"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            data: doc.get("data").cloned().unwrap_or(Value::Null),
            raw: s("raw"),
        })
    }
}

/// The meta fields every event has, searchable by these names (case-insensitive) and kept in
/// typed columns. Their pseudo path is `@name`.
pub const META: &[&str] = leitstelle_query::META_FIELDS;

/// The pseudo path of a meta field name, if `name` is one (`EventID` is `event_id`).
pub fn meta_path(name: &str) -> Option<&'static str> {
    leitstelle_query::meta_field(name).map(|m| match m {
        "tenant" => "@tenant",
        "host" => "@host",
        "user" => "@user",
        "level" => "@level",
        "source" => "@source",
        "kind" => "@kind",
        "logsource" => "@logsource",
        "product" => "@product",
        "service" => "@service",
        "category" => "@category",
        _ => "@event_id",
    })
}

/// Whether a pair's path is one of the meta pseudo paths (`@host`…). Bare words and phrases
/// search the event's own values only, not these.
pub fn is_meta_path(path: &str) -> bool {
    matches!(
        path,
        "@tenant"
            | "@host"
            | "@user"
            | "@level"
            | "@source"
            | "@kind"
            | "@logsource"
            | "@product"
            | "@service"
            | "@category"
            | "@event_id"
    )
}

/// Cuts `s` to at most [`VALUE_CAP`] bytes on a character boundary.
pub fn cap(s: &str) -> &str {
    if s.len() <= VALUE_CAP {
        return s;
    }
    let mut end = VALUE_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Every searchable (lowercase path, value) pair of an event, without duplicates: each scalar
/// leaf of the tree under its dotted path (array indexes left out), plus the meta fields under
/// their `@` pseudo paths. Values are capped at [`VALUE_CAP`] bytes.
///
/// The reference form of `for_each_leaf` and `for_each_meta`, which the indexer calls
/// instead (no allocation per pair, duplicates left in).
pub fn pairs(ev: &NewEvent) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(64);
    let mut push = |p: &str, v: &str| out.push((p.to_string(), v.to_string()));
    for_each_leaf(&ev.data, &mut push);
    for_each_meta(ev, &ev.logsource(), &mut push);
    out.sort_unstable();
    out.dedup();
    out
}

/// Calls `f(path, value)` for each scalar leaf of `data` in tree order: the lowercase dotted
/// path (array indexes left out) and the value's text capped at [`VALUE_CAP`] bytes. A value
/// repeated under one path is passed each time.
pub fn for_each_leaf(data: &Value, f: &mut impl FnMut(&str, &str)) {
    let mut path = String::with_capacity(96);
    flatten(data, &mut path, f);
}

/// Calls `f(path, value)` for each meta field the event has, under its `@` pseudo path;
/// `logsource` is [`NewEvent::logsource`].
pub fn for_each_meta(ev: &NewEvent, logsource: &str, f: &mut impl FnMut(&str, &str)) {
    let mut meta = |p: &str, v: Option<&str>| {
        if let Some(v) = v {
            f(p, cap(v));
        }
    };
    meta("@tenant", Some(&ev.tenant));
    meta("@host", ev.host.as_deref());
    meta("@user", ev.user.as_deref());
    meta("@level", ev.level.as_deref());
    meta("@source", Some(&ev.source));
    meta("@kind", Some(&ev.kind));
    meta("@logsource", Some(logsource));
    meta("@product", ev.product.as_deref());
    meta("@service", ev.service.as_deref());
    meta("@event_id", ev.event_id.as_deref());
    for c in &ev.categories {
        meta("@category", Some(c));
    }
}

fn flatten(v: &Value, path: &mut String, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if k.bytes().all(|b| b.is_ascii() && b != SEP as u8) {
                    path.extend(k.bytes().map(|b| b.to_ascii_lowercase() as char));
                } else {
                    for c in k.chars() {
                        // The separator cannot appear inside a path.
                        if c == SEP {
                            path.push(' ');
                        } else {
                            path.extend(c.to_lowercase());
                        }
                    }
                }
                flatten(child, path, f);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(item, path, f);
            }
        }
        Value::Null => {}
        Value::String(s) => f(path, cap(s)),
        leaf => {
            if let Some(text) = scalar_text(leaf) {
                f(path, cap(&text));
            }
        }
    }
}

/// Splits text into lowercase words: runs of alphanumeric characters. Words longer than
/// [`MAX_WORD`] bytes are left out.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_WORD)
        .map(|w| w.to_lowercase())
}

/// The number a value stands for, if it is one (integers and decimals, optional sign).
pub fn numeric(value: &str) -> Option<f64> {
    let t = value.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || body.starts_with('.')
        || body.ends_with('.')
        || body.bytes().filter(|b| *b == b'.').count() > 1
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// An order-preserving byte encoding of a float (for numeric range terms).
pub fn encode_f64(f: f64) -> [u8; 8] {
    let bits = f.to_bits();
    let ordered = if f.is_sign_negative() {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Resolves a field name of a query to the (lowercase) path patterns it may stand for.
///
/// A meta name (`host`, `EventID`…) is its `@` pseudo path. Any other name is looked up the
/// way Sigma rules are, through every source profile (so `CommandLine` finds
/// `Event.EventData.CommandLine` in EVTX and `process.command_line` in ECS), plus the name
/// itself as a dotted path. A `*` segment matches one level of keys.
#[derive(Clone, Debug)]
pub struct FieldResolver {
    profiles: std::sync::Arc<ProfileSet>,
}

impl FieldResolver {
    pub fn new(profiles: std::sync::Arc<ProfileSet>) -> Self {
        FieldResolver { profiles }
    }

    /// The path patterns of `name`, without duplicates, in a stable order.
    pub fn resolve(&self, name: &str) -> Vec<PathPattern> {
        if let Some(m) = meta_path(name) {
            return vec![PathPattern(m.to_string())];
        }
        let mut out: Vec<PathPattern> = Vec::new();
        let mut push = |text: String| {
            let p = PathPattern(text.to_lowercase());
            if !out.contains(&p) {
                out.push(p);
            }
        };
        push(name.to_string());
        for profile in self.profiles.iter() {
            for path in profile.resolve(name) {
                push(path.segments().join("."));
            }
        }
        out
    }
}

/// A lowercase dotted path, possibly with `*` segments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathPattern(pub String);

impl PathPattern {
    /// Whether the pattern names exactly one path (no `*` segment).
    pub fn is_exact(&self) -> bool {
        !self.0.split('.').any(|s| s == "*")
    }

    /// The literal start of every path the pattern matches: the segments before the first
    /// `*` (with their dot), or the whole path and the separator for an exact one.
    pub fn literal_head(&self) -> String {
        let mut head = String::new();
        for seg in self.0.split('.') {
            if seg == "*" {
                return head;
            }
            head.push_str(seg);
            head.push('.');
        }
        head.pop();
        head.push(SEP);
        head
    }

    /// A regular expression for what follows [`PathPattern::literal_head`] in the path and
    /// its separator (empty for an exact path, whose head holds both).
    pub fn rest_regex(&self) -> String {
        let segs: Vec<&str> = self.0.split('.').collect();
        let Some(first) = segs.iter().position(|s| *s == "*") else {
            return String::new();
        };
        let mut re = PathPattern(segs[first..].join(".")).regex();
        re.push_str("\\x1f");
        re
    }

    /// The pattern as a regular expression (without anchors).
    pub fn regex(&self) -> String {
        self.0
            .split('.')
            .map(|s| {
                if s == "*" {
                    "[^.\u{1f}]*".to_string()
                } else {
                    regex::escape(s)
                }
            })
            .collect::<Vec<_>>()
            .join("\\.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(data: Value) -> NewEvent {
        NewEvent {
            seq: 1,
            tenant: "t".into(),
            time_ns: 0,
            received_ns: 0,
            source: "api".into(),
            kind: "json".into(),
            host: Some("WS1".into()),
            user: None,
            level: None,
            event_id: Some("4688".into()),
            product: Some("windows".into()),
            service: None,
            categories: vec!["process_creation".into()],
            data,
            raw: None,
        }
    }

    #[test]
    fn literal_heads_start_every_matching_path() {
        let head = |p: &str| PathPattern(p.into()).literal_head();
        assert_eq!(head("event.userdata.*.image"), "event.userdata.");
        assert_eq!(head("*.image"), "");
        assert_eq!(head("a.b"), "a.b\u{1f}");
        assert_eq!(head("@host"), "@host\u{1f}");
        let rest = |p: &str| PathPattern(p.into()).rest_regex();
        assert_eq!(rest("a.b"), "");
        assert_eq!(rest("event.userdata.*.image"), "[^.\u{1f}]*\\.image\\x1f");
        for (p, key) in [
            ("event.userdata.*.image", "event.userdata.x.image\u{1f}v"),
            ("*.image", "a.image\u{1f}v"),
            ("a.*.*.b", "a.x.y.b\u{1f}v"),
        ] {
            let p = PathPattern(p.into());
            let rest = key.strip_prefix(&p.literal_head()).expect("head");
            let re = regex::Regex::new(&format!("^{}v$", p.rest_regex())).expect("regex");
            assert!(re.is_match(rest), "{p:?} {key}");
            let whole = regex::Regex::new(&format!("^{}\\x1fv$", p.regex())).expect("regex");
            assert!(whole.is_match(key), "{p:?} {key}");
        }
    }

    #[test]
    fn document_json_is_the_document() {
        let mut e = ev(json!({"A": {"B": [1, "x\u{1f}", null], "c": true}, "é": 1.5}));
        e.raw = Some("raw \"text\"".into());
        e.user = Some("CORP\\bob".into());
        let mut bytes = Vec::new();
        e.write_document_json(&mut bytes).expect("serializes");
        let back: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(back, e.document());
        assert_eq!(NewEvent::from_document(&back), Some(e));
    }

    #[test]
    fn pairs_flatten_arrays_lowercase_paths_and_add_meta() {
        let e = ev(json!({"A": {"B": [{"C": "x"}, {"C": "y"}], "n": 5, "z": null}}));
        let p = pairs(&e);
        let has = |k: &str, v: &str| p.contains(&(k.to_string(), v.to_string()));
        assert!(has("a.b.c", "x") && has("a.b.c", "y") && has("a.n", "5"));
        assert!(has("@host", "WS1") && has("@event_id", "4688"));
        assert!(has("@logsource", "windows/*/process_creation"));
        assert!(!p.iter().any(|(k, _)| k == "a.z"));
    }

    #[test]
    fn far_future_timestamps_fall_back_to_the_receive_time() {
        let profiles = ProfileSet::builtin();
        let mut event = Event::new(leitstelle_event::SourceKind::Json, json!({"a": 1}));
        let received = 1_000 * MAX_FUTURE_NS;
        event.timestamp = Some(received + MAX_FUTURE_NS);
        assert_eq!(
            NewEvent::from_event(1, event.clone(), received, "api", &profiles).time_ns,
            received + MAX_FUTURE_NS
        );
        event.timestamp = Some(received + MAX_FUTURE_NS + 1);
        assert_eq!(
            NewEvent::from_event(1, event.clone(), received, "api", &profiles).time_ns,
            received
        );
        event.timestamp = Some(7);
        assert_eq!(
            NewEvent::from_event(1, event.clone(), received, "api", &profiles).time_ns,
            7
        );
    }

    #[test]
    fn numbers_encode_in_order() {
        let xs = [-1e9, -2.5, -0.0, 0.0, 1.0, 4624.0, 4625.0, 1e12];
        for w in xs.windows(2) {
            assert!(encode_f64(w[0]) <= encode_f64(w[1]), "{w:?}");
        }
        assert_eq!(numeric(" 42 "), Some(42.0));
        assert_eq!(numeric("-3.5"), Some(-3.5));
        assert_eq!(numeric("1e5"), None);
        assert_eq!(numeric("0x10"), None);
        assert_eq!(numeric("."), None);
    }

    #[test]
    fn words_split_on_non_alphanumerics() {
        let w: Vec<String> = words("C:\\Windows\\cmd.exe /c Whoami").collect();
        assert_eq!(w, ["c", "windows", "cmd", "exe", "c", "whoami"]);
    }

    #[test]
    fn resolver_uses_profiles_and_meta_names() {
        let r = FieldResolver::new(std::sync::Arc::new(ProfileSet::builtin()));
        let paths = r.resolve("CommandLine");
        assert!(paths.contains(&PathPattern("event.eventdata.commandline".into())));
        assert!(paths.contains(&PathPattern("commandline".into())));
        assert_eq!(r.resolve("EventID"), vec![PathPattern("@event_id".into())]);
        assert_eq!(r.resolve("HOST"), vec![PathPattern("@host".into())]);
        let star = PathPattern("event.userdata.*.x".into());
        assert!(!star.is_exact());
        let re = regex::Regex::new(&format!("^{}$", star.regex())).expect("regex");
        assert!(re.is_match("event.userdata.rule.x") && !re.is_match("event.userdata.a.b.x"));
    }
}
