//! Source profiles.
//!
//! A [`Profile`] says, for one shape of source event:
//! - how to recognise it (source kind plus conditions on paths of the parsed tree),
//! - how to derive its Sigma logsource (product, service, categories) from its fields,
//! - how to read a Sigma field name (`Image`, `EventID`) from its tree
//!   (`Event.EventData.Image`, `process.executable`, …),
//! - where its timestamp, host, channel, event id and record id are.
//!
//! Profiles are data: the built-in set lives in `profiles/*.yml` at the repository root and is
//! embedded into the binary; users add their own files with the same format (see
//! `profiles/README.md`). Field names are resolved to paths when rules are compiled, never by
//! rewriting events.
//!
//! ```
//! use leitstelle_profile::ProfileSet;
//! use leitstelle_event::SourceKind;
//! let set = ProfileSet::builtin();
//! let data = serde_json::json!({"Event": {"System": {
//!     "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1}}});
//! let (idx, ls) = set.classify(SourceKind::Evtx, &data);
//! assert_eq!(set.get(idx).name, "windows-evtx");
//! assert_eq!(ls.to_string(), "windows/sysmon/process_creation");
//! ```
//!
//! This crate does no I/O: callers hand it file contents.

use std::collections::HashMap;
use std::sync::Arc;

use leitstelle_event::{Logsource, Path, SourceKind, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The built-in profile files, in the order they are tried.
pub const BUILTIN: &[(&str, &str)] = &[
    ("windows.yml", include_str!("../../../profiles/windows.yml")),
    ("ecs.yml", include_str!("../../../profiles/ecs.yml")),
    (
        "kubernetes.yml",
        include_str!("../../../profiles/kubernetes.yml"),
    ),
    ("falco.yml", include_str!("../../../profiles/falco.yml")),
    (
        "suricata.yml",
        include_str!("../../../profiles/suricata.yml"),
    ),
    ("linux.yml", include_str!("../../../profiles/linux.yml")),
    (
        "cef-leef.yml",
        include_str!("../../../profiles/cef-leef.yml"),
    ),
    ("generic.yml", include_str!("../../../profiles/generic.yml")),
];

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: profile {profile}: {message}")]
    Invalid {
        file: String,
        profile: String,
        message: String,
    },
    #[error("{file}: profile {profile} extends unknown profile {parent}")]
    UnknownParent {
        file: String,
        profile: String,
        parent: String,
    },
}

/// A condition on an event: every listed path must hold one of the listed values.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    checks: Vec<Check>,
    /// Accepted services (only in category rules), lowercased.
    services: Vec<String>,
}

#[derive(Clone, Debug)]
struct Check {
    path: Path,
    /// Accepted values, lowercased; empty means "exists".
    accepted: Vec<String>,
    /// Where what this path holds is kept while one event's categories are derived: paths
    /// equal across the profile's categories share a slot (see
    /// [`Profile::index_category_paths`]), so each is read once per event.
    slot: usize,
}

/// What a path holds in one event, read once for all the category conditions that test it.
#[derive(Default)]
struct Seen<'d> {
    /// Some value at the path is not null.
    present: bool,
    texts: Vec<std::borrow::Cow<'d, str>>,
}

impl Seen<'_> {
    fn read<'d>(path: &Path, data: &'d Value) -> Seen<'d> {
        let mut seen = Seen::default();
        path.visit(data, &mut |v| {
            seen.present |= !v.is_null();
            if let Some(t) = scalar_text(v) {
                seen.texts.push(t);
            }
            true
        });
        seen
    }

    fn holds(&self, accepted: &[String]) -> bool {
        if accepted.is_empty() {
            self.present
        } else {
            self.texts
                .iter()
                .any(|t| accepted.iter().any(|a| a.eq_ignore_ascii_case(t)))
        }
    }
}

impl Conditions {
    fn services_admit(&self, service: Option<&str>) -> bool {
        self.services.is_empty()
            || service.is_some_and(|s| self.services.iter().any(|w| w.eq_ignore_ascii_case(s)))
    }

    fn holds(&self, data: &Value, service: Option<&str>) -> bool {
        self.holds_memo(data, service, &mut [])
    }

    /// Like `holds`, reading each path of the event only once across calls sharing `memo`
    /// (indexed by the checks' slots; a check whose slot is not in it reads afresh).
    fn holds_memo<'d>(
        &self,
        data: &'d Value,
        service: Option<&str>,
        memo: &mut [Option<Seen<'d>>],
    ) -> bool {
        self.services_admit(service)
            && self.checks.iter().all(|c| match memo.get_mut(c.slot) {
                Some(slot) => slot
                    .get_or_insert_with(|| Seen::read(&c.path, data))
                    .holds(&c.accepted),
                None => Seen::read(&c.path, data).holds(&c.accepted),
            })
    }
}

/// The text of a scalar, looking through EVTX `{"#text": …}` wrappers.
/// Objects, arrays and null have none.
pub fn scalar_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        Value::Object(m) => m.get("#text").and_then(scalar_text),
        _ => None,
    }
}

/// How one logsource part is derived: a constant, or a path whose value is mapped.
#[derive(Clone, Debug, Default)]
enum Derive {
    #[default]
    None,
    Const(Arc<str>),
    FromPath {
        /// Tried in order: the first whose value is in the map decides.
        paths: Vec<Path>,
        /// lowercased source value -> logsource value
        map: HashMap<String, Arc<str>>,
        /// used when the path is present but not in the map: `None` leaves the part unset,
        /// `Some("")` uses the lowercased value itself.
        default: Option<Arc<str>>,
    },
}

impl Derive {
    fn eval(&self, data: &Value) -> Option<Arc<str>> {
        match self {
            Derive::None => None,
            Derive::Const(c) => Some(c.clone()),
            Derive::FromPath {
                paths,
                map,
                default,
            } => {
                let mut first: Option<String> = None;
                for path in paths {
                    let Some(text) = path.lookup(data).and_then(scalar_text) else {
                        continue;
                    };
                    let lower = text.to_lowercase();
                    if let Some(m) = map.get(&lower) {
                        return Some(m.clone());
                    }
                    first.get_or_insert(lower);
                }
                match default.as_deref() {
                    Some("") => first.map(Arc::from),
                    Some(d) => Some(Arc::from(d)),
                    None => None,
                }
            }
        }
    }
}

/// One source profile. See the crate docs.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    /// Profiles with a higher priority are tried first; equal ones in file order.
    pub priority: i64,
    /// Source kinds this profile applies to.
    pub sources: Vec<SourceKind>,
    when: Conditions,
    product: Derive,
    service: Derive,
    categories: Vec<(Arc<str>, Conditions)>,
    /// Distinct paths the category conditions test (their checks' slots).
    category_paths: usize,
    /// Explicit Sigma field -> candidate paths (first present wins).
    field_map: HashMap<String, Vec<Path>>,
    /// Templates tried for every field not in the map; `{}` is the field name.
    field_search: Vec<String>,
    /// Where field-less keyword searches look (every scalar leaf below these paths).
    pub keyword_roots: Vec<Path>,
    pub timestamp: Vec<Path>,
    pub host: Vec<Path>,
    pub channel: Vec<Path>,
    pub event_id: Vec<Path>,
    pub record_id: Vec<Path>,
}

impl Profile {
    /// Candidate paths of a Sigma field name, in the order they are tried.
    pub fn resolve(&self, field: &str) -> Vec<Path> {
        if let Some(paths) = self.field_map.get(field) {
            return paths.clone();
        }
        let mut out: Vec<Path> = Vec::new();
        for t in &self.field_search {
            let p = if t.contains("{spaced}") {
                // Windows event data names with spaces (`Threat Name`) are written without
                // them in Sigma (`ThreatName`): split CamelCase into words.
                let spaced = spaced(field);
                if spaced == field {
                    continue;
                }
                Path::parse(&t.replace("{spaced}", &spaced))
            } else if t == "{}" {
                // A flat key first (JSON with dotted keys), then the dotted path.
                let k = Path::key(field);
                if !out.contains(&k) {
                    out.push(k);
                }
                Path::parse(field)
            } else {
                Path::parse(&t.replace("{}", field))
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Derives the logsource of an event this profile applies to.
    pub fn logsource(&self, data: &Value) -> Logsource {
        let product = self.product.eval(data);
        let service = self.service.eval(data);
        let mut memo: Vec<Option<Seen<'_>>> = Vec::new();
        memo.resize_with(self.category_paths, || None);
        let mut categories = Vec::new();
        for (name, c) in &self.categories {
            if c.holds_memo(data, service.as_deref(), &mut memo) {
                categories.push(name.clone());
            }
        }
        Logsource {
            product,
            service,
            categories,
        }
    }

    /// Gives every path the category conditions test a slot, equal paths the same one.
    fn index_category_paths(&mut self) {
        let mut paths: Vec<Path> = Vec::new();
        for (_, c) in &mut self.categories {
            for check in &mut c.checks {
                check.slot = match paths.iter().position(|p| *p == check.path) {
                    Some(i) => i,
                    None => {
                        paths.push(check.path.clone());
                        paths.len() - 1
                    }
                };
            }
        }
        self.category_paths = paths.len();
    }

    /// The first scalar text found at one of `paths`.
    pub fn first_text(paths: &[Path], data: &Value) -> Option<String> {
        paths
            .iter()
            .find_map(|p| p.lookup(data).and_then(scalar_text).map(|c| c.into_owned()))
    }
}

/// Splits a CamelCase name into words: `ThreatName` -> `Threat Name`, `FWLink` -> `FWLink`.
fn spaced(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    let mut prev: Option<char> = None;
    for c in field.chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push(' ');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// An ordered set of profiles; the first that applies to an event is used.
#[derive(Clone, Debug)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
    /// Indices into `profiles` in the order they are tried (priority, then file order).
    order: Vec<usize>,
}

impl ProfileSet {
    /// The built-in profiles (Windows EVTX and EVTX-shaped JSON, Security 4688 process
    /// creation, Winlogbeat/ECS JSON, Kubernetes audit, Falco, Suricata EVE, Linux auditd,
    /// CEF, LEEF, generic JSON, syslog).
    pub fn builtin() -> Self {
        let mut set = ProfileSet::empty();
        for (name, text) in BUILTIN {
            // The built-in files are tested; a failure here is a bug in this repository.
            if let Err(e) = set.add_file(name, text) {
                panic!("built-in profile file is invalid: {e}");
            }
        }
        set
    }

    /// An empty set (tests).
    pub fn empty() -> Self {
        ProfileSet {
            profiles: Vec::new(),
            order: Vec::new(),
        }
    }

    fn reorder(&mut self) {
        let mut order: Vec<usize> = (0..self.profiles.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.profiles[i].priority));
        self.order = order;
    }

    /// Adds the profiles of one file. User files are tried before the built-in ones when
    /// added with [`ProfileSet::add_file_first`].
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), ProfileError> {
        let parsed = parse_file(file, text, &self.profiles)?;
        self.profiles.extend(parsed);
        self.reorder();
        Ok(())
    }

    /// Adds the profiles of one file in front of the existing ones, so they take precedence.
    pub fn add_file_first(&mut self, file: &str, text: &str) -> Result<(), ProfileError> {
        let parsed = parse_file(file, text, &self.profiles)?;
        let rest = std::mem::take(&mut self.profiles);
        self.profiles = parsed;
        self.profiles.extend(rest);
        self.reorder();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn get(&self, idx: usize) -> &Profile {
        &self.profiles[idx]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.iter()
    }

    /// Picks the profile for an event and derives its logsource. Returns the index of the
    /// last profile (the catch-all) when no other applies.
    pub fn classify(&self, source: SourceKind, data: &Value) -> (usize, Logsource) {
        for &i in &self.order {
            let p = &self.profiles[i];
            if p.sources.contains(&source) && p.when.holds(data, None) {
                return (i, p.logsource(data));
            }
        }
        (
            self.order.last().copied().unwrap_or(0),
            Logsource::default(),
        )
    }
}

fn parse_file(file: &str, text: &str, known: &[Profile]) -> Result<Vec<Profile>, ProfileError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ProfileError::Yaml {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut out: Vec<Profile> = Vec::new();
    for doc in docs {
        let Some(list) = doc["profiles"].as_vec() else {
            return Err(ProfileError::Yaml {
                file: file.into(),
                message: "expected a top-level `profiles:` list".into(),
            });
        };
        for item in list {
            let p = parse_profile(file, item, known, &out)?;
            out.push(p);
        }
    }
    Ok(out)
}

fn strs(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn paths(y: &Yaml) -> Vec<Path> {
    strs(y).iter().map(|s| Path::parse(s)).collect()
}

fn parse_conditions(y: &Yaml) -> Conditions {
    let mut c = Conditions::default();
    if let Some(h) = y.as_hash() {
        for (k, v) in h {
            let Some(k) = scalar(k) else { continue };
            let vals: Vec<String> = match v {
                Yaml::String(s) if s == "*" => vec![],
                other => strs(other).into_iter().map(|s| s.to_lowercase()).collect(),
            };
            if k == "service" {
                c.services = vals;
            } else {
                c.checks.push(Check {
                    path: Path::parse(&k),
                    accepted: vals,
                    slot: 0,
                });
            }
        }
    }
    c
}

fn parse_derive(y: &Yaml) -> Derive {
    match y {
        Yaml::BadValue | Yaml::Null => Derive::None,
        Yaml::Hash(_) => {
            let mut map = HashMap::new();
            if let Some(h) = y["map"].as_hash() {
                for (k, v) in h {
                    if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                        map.insert(k.to_lowercase(), Arc::from(v.as_str()));
                    }
                }
            }
            let default = match &y["default"] {
                Yaml::String(s) if s == "$value" => Some(Arc::from("")),
                other => scalar(other).map(|s| Arc::from(s.as_str())),
            };
            let paths = paths(&y["path"]);
            if paths.is_empty() {
                Derive::None
            } else {
                Derive::FromPath {
                    paths,
                    map,
                    default,
                }
            }
        }
        other => scalar(other).map_or(Derive::None, |s| Derive::Const(Arc::from(s.as_str()))),
    }
}

fn parse_profile(
    file: &str,
    y: &Yaml,
    known: &[Profile],
    same_file: &[Profile],
) -> Result<Profile, ProfileError> {
    let name = scalar(&y["name"]).ok_or_else(|| ProfileError::Invalid {
        file: file.into(),
        profile: "?".into(),
        message: "missing `name`".into(),
    })?;
    let invalid = |message: String| ProfileError::Invalid {
        file: file.into(),
        profile: name.clone(),
        message,
    };
    let mut p = if let Some(parent) = scalar(&y["extends"]) {
        same_file
            .iter()
            .rev()
            .chain(known.iter())
            .find(|p| p.name == parent)
            .cloned()
            .ok_or_else(|| ProfileError::UnknownParent {
                file: file.into(),
                profile: name.clone(),
                parent,
            })?
    } else {
        Profile {
            name: String::new(),
            priority: 0,
            sources: vec![],
            when: Conditions::default(),
            product: Derive::None,
            service: Derive::None,
            categories: vec![],
            category_paths: 0,
            field_map: HashMap::new(),
            field_search: vec!["{}".into()],
            keyword_roots: vec![],
            timestamp: vec![],
            host: vec![],
            channel: vec![],
            event_id: vec![],
            record_id: vec![],
        }
    };
    p.name = name.clone();
    p.priority = match &y["priority"] {
        Yaml::Integer(i) => *i,
        Yaml::BadValue => p.priority,
        _ => return Err(invalid("`priority` must be an integer".into())),
    };
    let sources = strs(&y["source"]);
    if !sources.is_empty() {
        p.sources = sources
            .iter()
            .map(|s| {
                SourceKind::from_name(s).ok_or_else(|| invalid(format!("unknown source `{s}`")))
            })
            .collect::<Result<_, _>>()?;
    }
    if p.sources.is_empty() {
        return Err(invalid("missing `source`".into()));
    }
    if !y["when"].is_badvalue() {
        p.when = parse_conditions(&y["when"]);
    }
    let ls = &y["logsource"];
    if !ls["product"].is_badvalue() {
        p.product = parse_derive(&ls["product"]);
    }
    if !ls["service"].is_badvalue() {
        p.service = parse_derive(&ls["service"]);
    }
    if let Some(cats) = ls["categories"].as_vec() {
        p.categories.clear();
        for c in cats {
            let n = scalar(&c["name"]).ok_or_else(|| invalid("category without `name`".into()))?;
            p.categories
                .push((Arc::from(n.as_str()), parse_conditions(&c["when"])));
        }
    }
    let fields = &y["fields"];
    if let Some(h) = fields["map"].as_hash() {
        for (k, v) in h {
            if let Some(k) = scalar(k) {
                p.field_map.insert(k, paths(v));
            }
        }
    }
    if !fields["search"].is_badvalue() {
        p.field_search = strs(&fields["search"]);
    }
    if !fields["keywords"].is_badvalue() {
        p.keyword_roots = paths(&fields["keywords"]);
    }
    let meta = &y["meta"];
    for (key, slot) in [
        ("timestamp", &mut p.timestamp),
        ("host", &mut p.host),
        ("channel", &mut p.channel),
        ("event_id", &mut p.event_id),
        ("record_id", &mut p.record_id),
    ] {
        if !meta[key].is_badvalue() {
            *slot = paths(&meta[key]);
        }
    }
    p.index_category_paths();
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classify(source: SourceKind, data: Value) -> (String, String) {
        let set = ProfileSet::builtin();
        let (i, ls) = set.classify(source, &data);
        (set.get(i).name.clone(), ls.to_string())
    }

    fn sys(channel: &str, id: Value) -> Value {
        json!({"Event": {"System": {"Channel": channel, "EventID": id}, "EventData": {}}})
    }

    /// The memo that shares reads between category conditions answers as reading every
    /// path afresh for each condition does.
    #[test]
    fn categories_derived_with_shared_reads_are_those_of_fresh_reads() {
        let set = ProfileSet::builtin();
        let channels = [
            "Microsoft-Windows-Sysmon/Operational",
            "Security",
            "System",
            "Microsoft-Windows-PowerShell/Operational",
            "Windows PowerShell",
            "Microsoft-Windows-Windows Defender/Operational",
            "Application",
        ];
        let mut events = Vec::new();
        for ch in channels {
            for id in [
                1, 3, 7, 10, 11, 12, 13, 14, 17, 22, 400, 4104, 4624, 4688, 5145, 7045,
            ] {
                events.push((SourceKind::Evtx, sys(ch, json!(id))));
                for kind in ["SetValue", "CreateKey", "DeleteKey", "DeleteValue"] {
                    let mut d = sys(ch, json!({"#text": id}));
                    d["Event"]["EventData"]["EventType"] = json!(kind);
                    events.push((SourceKind::Evtx, d));
                    events.push((
                        SourceKind::Json,
                        json!({"winlog": {"channel": ch, "event_id": id, "event_data": {"EventType": kind}},
                               "event": {"code": id.to_string()}}),
                    ));
                }
            }
        }
        let mut compared = 0;
        for (source, data) in &events {
            let (i, ls) = set.classify(*source, data);
            let p = set.get(i);
            let service = p.service.eval(data);
            let fresh: Vec<Arc<str>> = p
                .categories
                .iter()
                .filter(|(_, c)| c.holds(data, service.as_deref()))
                .map(|(n, _)| n.clone())
                .collect();
            assert_eq!(ls.categories, fresh, "{data}");
            compared += fresh.len();
        }
        assert!(compared > 20, "the events reach few categories: {compared}");
    }

    #[test]
    fn windows_logsources() {
        let cases = [
            (
                sys("Microsoft-Windows-Sysmon/Operational", json!(1)),
                "windows-evtx",
                "windows/sysmon/process_creation",
            ),
            (
                sys("Security", json!(4688)),
                "windows-security-4688",
                "windows/security/process_creation",
            ),
            (
                sys(
                    "Security",
                    json!({"#text": 4624, "#attributes": {"Qualifiers": 0}}),
                ),
                "windows-evtx",
                "windows/security/*",
            ),
            (
                sys("Microsoft-Windows-Sysmon/Operational", json!(13)),
                "windows-evtx",
                "windows/sysmon/registry_event,registry_set",
            ),
            (
                sys("Microsoft-Windows-PowerShell/Operational", json!(4104)),
                "windows-evtx",
                "windows/powershell/ps_script",
            ),
            (sys("Some/Unknown", json!(1)), "windows-evtx", "windows/*/*"),
        ];
        for (data, profile, ls) in cases {
            let got = classify(SourceKind::Evtx, data.clone());
            assert_eq!(got, (profile.to_string(), ls.to_string()), "{data}");
        }
    }

    #[test]
    fn registry_add_needs_event_type() {
        let mut d = sys("Microsoft-Windows-Sysmon/Operational", json!(12));
        d["Event"]["EventData"]["EventType"] = json!("CreateKey");
        assert_eq!(
            classify(SourceKind::Evtx, d).1,
            "windows/sysmon/registry_event,registry_add"
        );
    }

    #[test]
    fn ecs_and_generic_json() {
        let ecs = json!({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1},
                         "event": {"code": "1"}, "process": {"command_line": "x"}});
        assert_eq!(
            classify(SourceKind::Json, ecs),
            (
                "winlogbeat-ecs".into(),
                "windows/sysmon/process_creation".into()
            )
        );
        let evtx_json = sys("Security", json!(4688));
        assert_eq!(
            classify(SourceKind::Json, evtx_json).0,
            "windows-security-4688"
        );
        assert_eq!(classify(SourceKind::Json, json!({"a": 1})).0, "json");
        assert_eq!(
            classify(SourceKind::Syslog, json!({"message": "x"})).0,
            "syslog"
        );
    }

    #[test]
    fn field_resolution() {
        let set = ProfileSet::builtin();
        let evtx = set
            .iter()
            .find(|p| p.name == "windows-evtx")
            .expect("profile");
        let s = |v: Vec<Path>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            s(evtx.resolve("Image")),
            [
                "Event.EventData.Image",
                "Event.UserData.*.Image",
                "Event.System.Image"
            ]
        );
        assert_eq!(s(evtx.resolve("EventID")), ["Event.System.EventID"]);
        let sec = set
            .iter()
            .find(|p| p.name == "windows-security-4688")
            .expect("profile");
        assert_eq!(s(sec.resolve("Image")), ["Event.EventData.NewProcessName"]);
        let ecs = set
            .iter()
            .find(|p| p.name == "winlogbeat-ecs")
            .expect("profile");
        assert_eq!(s(ecs.resolve("CommandLine"))[0], "process.command_line");
        let json = set.iter().find(|p| p.name == "json").expect("profile");
        assert_eq!(s(json.resolve("a.b")), ["a\\.b", "a.b"]);
    }

    #[test]
    fn user_profiles_take_precedence_and_errors_are_clear() {
        let mut set = ProfileSet::builtin();
        set.add_file_first(
            "mine.yml",
            "profiles:\n  - name: fw\n    source: json\n    when: {vendor: acme}\n    logsource: {product: acme, service: firewall}\n",
        )
        .expect("valid");
        let (i, ls) = set.classify(SourceKind::Json, &json!({"vendor": "ACME"}));
        assert_eq!(
            (set.get(i).name.as_str(), ls.to_string().as_str()),
            ("fw", "acme/firewall/*")
        );
        let err = set
            .add_file("bad.yml", "profiles:\n  - name: x\n    source: tape\n")
            .expect_err("invalid source");
        assert_eq!(err.to_string(), "bad.yml: profile x: unknown source `tape`");
        let err = set
            .add_file("bad.yml", "profiles:\n  - name: y\n    extends: nope\n")
            .expect_err("unknown parent");
        assert!(err.to_string().contains("extends unknown profile nope"));
    }
}
