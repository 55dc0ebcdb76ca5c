//! Differential test: the compiled [`Engine`] against the [`reference`] interpreter on random
//! rule sets and random events.
//!
//! Rules are generated as YAML text (so the loader is part of the test) from small alphabets:
//! a few field names, values rich in wildcards, escapes, dashes, numbers and `null`, and the
//! modifiers that make sense for each kind of value. Conditions are random trees of `and`,
//! `or`, `not` and `x of` over the rule's searches. Events are EVTX-shaped (Sysmon 1 and 3,
//! Security 4688) or Winlogbeat/ECS JSON, with fields missing, null, numbers, arrays or
//! `#text`-wrapped.
//!
//! For every event the engine must return what the reference returns, with one scratch reused
//! across all events and with a fresh one.

mod common;

use std::cell::RefCell;

use common::SYSMON;
use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, Placeholders, RuleSet, Scratch, reference};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value, json};

const FIELDS: [&str; 5] = ["Image", "CommandLine", "User", "Count", "UtcTime"];

/// Fields of the events: the rule fields, and one that rules only reach through `fieldref`.
const EVENT_FIELDS: [&str; 6] = [
    "Image",
    "CommandLine",
    "User",
    "Count",
    "UtcTime",
    "ParentImage",
];

const SEARCH_NAMES: [&str; 4] = ["sel1", "sel2", "filter1", "_aux"];

/// Rule string values, as YAML single-quoted scalars.
fn str_value() -> impl Strategy<Value = String> {
    select(vec![
        "a", "B", "ab", "*", "?", "a*b", "*a", "b*", "a?", r"\*", r"a\\*", r"\\", "-a", "/a",
        " -a", "ÄÖ", "äö*", "", "a b", "1", "5", "root", r"C:\ab", "\u{212A}", "İ", "Σ", "ΟΣ", "ß",
        "?Σ",
    ])
    .prop_map(|s| format!("'{s}'"))
}

fn num_value() -> impl Strategy<Value = String> {
    select(vec!["0", "1", "5", "12", "-1", "1.5", "'5'", "'12'"]).prop_map(str::to_string)
}

fn plain_value() -> impl Strategy<Value = String> {
    prop_oneof![4 => str_value(), 1 => num_value()]
}

fn field() -> impl Strategy<Value = &'static str> {
    select(FIELDS.to_vec())
}

/// The field a `fieldref` names; often one no item of any rule reads.
fn fieldref_target() -> impl Strategy<Value = &'static str> {
    prop_oneof![field(), Just("ParentImage")]
}

/// `(key, values)` of one detection item.
type Item = (String, Vec<String>);

#[rustfmt::skip]
fn item() -> BoxedStrategy<Item> {
    let key = |f: &str, m: &str| format!("{f}{m}");
    prop_oneof![
        8 => (field(), select(vec!["", "", "|contains", "|startswith", "|endswith", "|cased", "|contains|cased",
                  "|contains|all", "|windash|contains", "|windash", "|neq", "|contains|neq", "|endswith|cased",
                  "|startswith|neq|cased", "|contains|all|neq"]),
              vec(plain_value(), 1..=3))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
        1 => (field(), select(vec!["", "|neq"]))
            .prop_map(move |(f, m)| (key(f, m), vec!["null".to_string()])),
        2 => (field(), select(vec!["|re", "|re|i", "|re|m", "|re|s", "|re|i|s", "|re|neq", "|re|cased"]),
              vec(select(vec!["'a'", "'^a'", "'B$'", "'a.b'", "'[ab]+'", "'^$'", "'(?:a|b)b'", r"'\d'", "'Ä'",
                  r"'\w+b'", r"'.*ÄB'", r"'(?:a|ß)\s?b'", r"'[^a]\\a'", "'(?:ab)+ö'"])
                  .prop_map(str::to_string), 1..=2))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
        1 => (field(), any::<bool>())
            .prop_map(move |(f, b)| (key(f, "|exists"), vec![b.to_string()])),
        2 => (field(), select(vec!["|lt", "|lte", "|gt", "|gte", "|gt|neq"]), vec(num_value(), 1..=2))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
        1 => (field(), select(vec!["|cidr", "|cidr|neq"]),
              vec(select(vec!["'10.0.0.0/8'", "'10.1.2.3'", "'::1'", "'fe80::/10'"]).prop_map(str::to_string), 1..=2))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
        1 => (field(), select(vec!["|base64offset|contains", "|base64|contains", "|base64",
                  "|utf16le|base64offset|contains", "|wide|base64offset|contains", "|utf16|base64"]),
              vec(select(vec!["'ab'", "'abc'", "'ping'", "'a b'", "'a'"]).prop_map(str::to_string), 1..=2))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
        3 => (field(), select(vec!["|fieldref", "|fieldref|contains", "|fieldref|startswith",
                  "|fieldref|endswith", "|fieldref|cased", "|fieldref|neq"]), fieldref_target())
            .prop_map(move |(f, m, other)| (key(f, m), vec![other.to_string()])),
        1 => (select(vec!["|hour", "|minute", "|day", "|week", "|month", "|year", "|hour|gte", "|day|lt"]),
              vec(select(vec!["14", "7", "5", "10", "3", "2024", "0"]).prop_map(str::to_string), 1..=2))
            .prop_map(move |(m, v)| (key("UtcTime", m), v)),
        1 => (field(), select(vec!["|expand", "|expand|contains", "|expand|startswith"]),
              vec(select(vec!["'%Admins%'", "'x%Hosts%'", "'%Hosts%*'"]).prop_map(str::to_string), 1..=2))
            .prop_map(move |(f, m, v)| (key(f, m), v)),
    ]
    .boxed()
}

fn values_yaml(values: &[String]) -> String {
    if values.len() == 1 {
        values[0].clone()
    } else {
        format!("[{}]", values.join(", "))
    }
}

fn map_yaml(items: &[Item]) -> String {
    let mut seen = Vec::new();
    let mut parts = Vec::new();
    for (k, v) in items {
        if seen.contains(k) {
            continue;
        }
        seen.push(k.clone());
        parts.push(format!("{k}: {}", values_yaml(v)));
    }
    format!("{{{}}}", parts.join(", "))
}

/// One search, rendered as the YAML value after `name: `.
#[rustfmt::skip]
fn search() -> BoxedStrategy<String> {
    prop_oneof![
        6 => vec(item(), 1..=3).prop_map(|items| map_yaml(&items)),
        2 => vec(vec(item(), 1..=2), 1..=3).prop_map(|maps| {
            let maps: Vec<String> = maps.iter().map(|m| map_yaml(m)).collect();
            format!("[{}]", maps.join(", "))
        }),
        1 => vec(str_value(), 1..=3).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => (select(vec!["'|all'", "'|cased'", "'|re'", "'|contains|all'", "'|windash'"]), vec(str_value(), 1..=3))
            .prop_map(|(m, v)| {
                let v = if m == "'|re'" { vec!["'a'".to_string(), "'b.'".to_string()] } else { v };
                format!("{{{m}: [{}]}}", v.join(", "))
            }),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Cond {
    Leaf(String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    fn render(&self) -> String {
        match self {
            Cond::Leaf(s) => s.clone(),
            Cond::Not(x) => format!("not {}", x.render_operand()),
            Cond::And(a, b) => format!("{} and {}", a.render_operand(), b.render_operand()),
            Cond::Or(a, b) => format!("{} or {}", a.render_operand(), b.render_operand()),
        }
    }

    fn render_operand(&self) -> String {
        match self {
            Cond::Leaf(_) => self.render(),
            _ => format!("({})", self.render()),
        }
    }
}

fn leaves(n: usize) -> Vec<String> {
    let mut out: Vec<String> = SEARCH_NAMES[..n].iter().map(|s| s.to_string()).collect();
    out.extend(
        [
            "1 of sel*",
            "all of sel*",
            "1 of them",
            "all of them",
            "2 of them",
            "1 of *",
        ]
        .map(String::from),
    );
    if n >= 3 {
        out.extend(["1 of filter*", "all of filter*"].map(String::from));
    }
    out
}

fn condition(n: usize) -> impl Strategy<Value = Cond> {
    let leaf = select(leaves(n)).prop_map(Cond::Leaf);
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

#[derive(Clone, Debug)]
struct GenRule {
    logsource: &'static str,
    searches: Vec<String>,
    conditions: Vec<Cond>,
}

impl GenRule {
    fn yaml(&self, i: usize) -> String {
        let mut s = format!(
            "title: generated {i}\nid: 00000000-0000-0000-0000-{i:012}\nlogsource: {}\ndetection:\n",
            self.logsource
        );
        for (name, body) in SEARCH_NAMES.iter().zip(&self.searches) {
            s.push_str(&format!("  {name}: {body}\n"));
        }
        if self.conditions.len() == 1 {
            s.push_str(&format!("  condition: {}\n", self.conditions[0].render()));
        } else {
            s.push_str("  condition:\n");
            for c in &self.conditions {
                s.push_str(&format!("    - {}\n", c.render()));
            }
        }
        s.push_str("level: medium\n");
        s
    }
}

fn rule() -> impl Strategy<Value = GenRule> {
    (1usize..=4).prop_flat_map(|n| {
        (
            select(vec![
                "{product: windows, category: process_creation}",
                "{product: windows, category: process_creation}",
                "{product: windows, category: process_creation}",
                "{product: windows}",
                "{product: windows, category: network_connection}",
                "{product: windows, service: security}",
                "{product: windows, service: sysmon}",
            ]),
            vec(search(), n),
            vec(condition(n), 1..=2),
        )
            .prop_map(|(logsource, searches, conditions)| GenRule {
                logsource,
                searches,
                conditions,
            })
    })
}

// Events.

fn event_text() -> impl Strategy<Value = Value> {
    select(vec![
        "a",
        "A",
        "b",
        "ab",
        "AB",
        "aab",
        "a*b",
        "*",
        "?",
        "x",
        "-a",
        "/a",
        " -a",
        " /a",
        "\u{2013}a",
        "äö",
        "ÄÖ",
        "äöx",
        "",
        "a b",
        "10.1.2.3",
        "::1",
        "fe80::1",
        "5",
        "12",
        "-1",
        "1.5",
        "0x10",
        "YWJj",
        "YWJjZA==",
        "cGluZw==",
        "YQBiAA==",
        "//5hAGIA",
        "2024-03-05 14:07:09.123",
        "2024-12-30T00:00:00Z",
        "a\nb",
        "Image",
        "root",
        "xroot",
        "xws1",
        "ws2ab",
        "adm_x",
        r"C:\ab",
        r"\",
        r"\*",
        "*a",
        "aaa",
        "abab",
        "k",
        "K",
        "\u{212A}",
        "İ",
        "i",
        "ΟΔΟΣ",
        "ΟΣΑ",
        "σ",
        "ς",
        "SS",
        "ß",
        "ẞ",
    ])
    .prop_map(Value::from)
}

fn event_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => event_text(),
        2 => (-2i64..20).prop_map(Value::from),
        1 => Just(json!(1.5)),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!({"k": "a"})),
    ]
}

/// A field value; `None` leaves the field out.
fn event_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        8 => event_scalar().prop_map(Some),
        2 => vec(event_scalar(), 0..=3).prop_map(|v| Some(Value::Array(v))),
        1 => event_scalar().prop_map(|v| Some(json!({"#text": v}))),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    Sysmon(u32),
    Security4688,
    EcsSysmon1,
}

#[derive(Clone, Debug)]
struct GenEvent {
    shape: Shape,
    fields: Vec<(&'static str, Value)>,
}

impl GenEvent {
    fn tree(&self) -> (SourceKind, Value) {
        let mut data = Map::new();
        for (name, v) in &self.fields {
            // Security 4688 carries Image and User under its own names.
            let name = match (self.shape, *name) {
                (Shape::Security4688, "Image") => "NewProcessName",
                (Shape::Security4688, "User") => "SubjectUserName",
                (_, n) => n,
            };
            data.insert(name.to_string(), v.clone());
        }
        let data = Value::Object(data);
        match self.shape {
            Shape::Sysmon(id) => (SourceKind::Evtx, common::evtx(SYSMON, id, data)),
            Shape::Security4688 => (SourceKind::Evtx, common::evtx("Security", 4688, data)),
            Shape::EcsSysmon1 => (
                SourceKind::Json,
                json!({"winlog": {"channel": SYSMON, "event_id": 1, "event_data": data}}),
            ),
        }
    }
}

fn event() -> impl Strategy<Value = GenEvent> {
    let shape = prop_oneof![
        5 => Just(Shape::Sysmon(1)),
        1 => Just(Shape::Sysmon(3)),
        1 => Just(Shape::Security4688),
        1 => Just(Shape::EcsSysmon1),
    ];
    // Sometimes one field repeats another's value, so that `fieldref` finds equal fields.
    let last = EVENT_FIELDS.len() - 1;
    let copy = prop_oneof![
        2 => Just(None),
        1 => (0..EVENT_FIELDS.len(), 0..EVENT_FIELDS.len()).prop_map(Some),
        2 => (0..last).prop_map(move |from| Some((from, last))),
    ];
    (shape, vec(event_value(), EVENT_FIELDS.len()), copy).prop_map(|(shape, mut values, copy)| {
        if let Some((from, to)) = copy {
            values[to] = values[from].clone();
        }
        GenEvent {
            shape,
            fields: EVENT_FIELDS
                .iter()
                .zip(values)
                .filter_map(|(f, v)| v.map(|v| (*f, v)))
                .collect(),
        }
    })
}

#[derive(Default)]
struct Stats {
    rules: usize,
    loaded: usize,
    events: usize,
    matches: usize,
    not_loaded: Vec<String>,
}

fn placeholders() -> Placeholders {
    let mut p = Placeholders::new();
    p.insert("Admins".into(), vec!["root".into(), "adm_*".into()]);
    p.insert("Hosts".into(), vec!["ws1".into(), "ws2".into()]);
    p
}

fn run_case(
    rules: &[GenRule],
    events: &[GenEvent],
    profiles: &ProfileSet,
    stats: &RefCell<Stats>,
) -> Result<(), TestCaseError> {
    let texts: Vec<(String, String)> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("rule{i}.yml"), r.yaml(i)))
        .collect();
    let opts = LoadOptions {
        placeholders: placeholders(),
        ..LoadOptions::default()
    };
    let set = RuleSet::load(texts.iter().map(|(p, t)| (p.as_str(), t.as_str())), &opts);
    {
        let mut s = stats.borrow_mut();
        s.rules += rules.len();
        s.loaded += set.rules.len();
        for d in &set.diagnostics {
            if s.not_loaded.len() < 10 {
                let text = texts
                    .iter()
                    .find(|(p, _)| *p == d.file)
                    .map_or("", |(_, t)| t.as_str());
                s.not_loaded.push(format!("{d}\n{text}"));
            }
        }
    }
    let rule_list = set.rules.clone();
    let engine = Engine::compile(set.rules, profiles);
    let mut shared = Scratch::new();
    for e in events {
        let (source, tree) = e.tree();
        let event: Event = common::event(source, tree, profiles);
        let want = reference::matches(&rule_list, profiles, &event);
        let got_shared = engine.matches(&event, &mut shared);
        let got_fresh = engine.matches(&event, &mut Scratch::new());
        {
            let mut s = stats.borrow_mut();
            s.events += 1;
            s.matches += want.len();
        }
        if got_shared != want || got_fresh != want {
            let rules_text: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
            return Err(TestCaseError::fail(format!(
                "engine and reference disagree\nreference: {want:?}\nengine (shared scratch): {got_shared:?}\nengine (fresh scratch): {got_fresh:?}\nevent ({}): {}\nrules:\n{}",
                event.logsource,
                event.data,
                rules_text.join("---\n")
            )));
        }
    }
    Ok(())
}

#[test]
fn engine_agrees_with_the_reference_interpreter() {
    let profiles = ProfileSet::builtin();
    let stats = RefCell::new(Stats::default());
    // PROPTEST_CASES (proptest's own variable) runs longer searches.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    });
    let strategy = (vec(rule(), 1..=5), vec(event(), 1..=10));
    let result = runner.run(&strategy, |(rules, events)| {
        run_case(&rules, &events, &profiles, &stats)
    });
    let stats = stats.into_inner();
    eprintln!(
        "generated {} rules, {} loaded; {} events, {} rule matches",
        stats.rules, stats.loaded, stats.events, stats.matches
    );
    for d in &stats.not_loaded {
        eprintln!("not loaded:\n{d}");
    }
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, (rules, events))) => {
            panic!("{reason}\n\nminimal input: {rules:#?}\n{events:#?}")
        }
        Err(e) => panic!("{e}"),
    }
    assert!(
        stats.loaded * 100 >= stats.rules * 95,
        "only {} of {} generated rules loaded",
        stats.loaded,
        stats.rules
    );
    assert!(
        stats.matches * 20 >= stats.events,
        "too few matches ({} for {} events): the generated rules test little",
        stats.matches,
        stats.events
    );
}
