//! Shared fixtures of the end-to-end Sigma tests: rule text around a detection, events in the
//! shapes the built-in profiles know, and a runner that asks both the compiled engine and the
//! reference interpreter.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch, reference};
use serde_json::{Value, json};

pub const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

/// Lines of a rule before its detection; line numbers of diagnostics are counted from here:
/// detection line `n` (1-based) is file line `HEADER_LINES + 1 + n`.
pub const HEADER_LINES: usize = 5;

/// A full rule (windows / process_creation) around a detection written without indentation.
pub fn rule_text(detection: &str) -> String {
    rule_text_with("00000000-0000-0000-0000-000000000001", detection)
}

pub fn rule_text_with(id: &str, detection: &str) -> String {
    let mut s = format!(
        "title: test rule\nid: {id}\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n"
    );
    for line in detection.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s.push_str("level: low\n");
    s
}

/// A classified event.
pub fn event(source: SourceKind, data: Value, profiles: &ProfileSet) -> Event {
    let mut e = Event::new(source, data);
    (e.profile, e.logsource) = profiles.classify(e.source, &e.data);
    e
}

/// An EVTX-shaped event of the given channel and event id with this `EventData`.
pub fn evtx(channel: &str, id: u32, event_data: Value) -> Value {
    json!({"Event": {
        "System": {"Channel": channel, "EventID": id, "Computer": "host1"},
        "EventData": event_data,
    }})
}

/// A Sysmon process creation (EID 1) with this `EventData`.
pub fn sysmon1(event_data: Value) -> Value {
    evtx(SYSMON, 1, event_data)
}

/// Both answers (compiled engine, reference interpreter) for one event.
pub struct Answers {
    pub engine: Vec<usize>,
    pub reference: Vec<usize>,
}

/// Loads `files`, compiles them, and matches each event with both implementations.
/// Panics when a rule does not load without diagnostics.
pub fn run_files(files: &[(&str, &str)], opts: &LoadOptions, events: &[Event]) -> Vec<Answers> {
    let set = RuleSet::load(files.iter().copied(), opts);
    assert!(
        set.diagnostics.is_empty(),
        "unexpected diagnostics: {:#?}\nfiles: {files:#?}",
        set.diagnostics
    );
    let profiles = ProfileSet::builtin();
    let rules = set.rules.clone();
    let engine = Engine::compile(set.rules, &profiles);
    let mut scratch = Scratch::new();
    events
        .iter()
        .map(|e| Answers {
            engine: engine.matches(e, &mut scratch),
            reference: reference::matches(&rules, &profiles, e),
        })
        .collect()
}

/// Collects failed expectations of a table and reports them all at once.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn push(&mut self, s: String) {
        self.0.push(s);
    }

    pub fn check_answers(&mut self, what: &str, got: &Answers, want: &[usize]) {
        if got.engine != want || got.reference != want {
            self.0.push(format!(
                "{what}\n    expected {want:?}, engine {:?}, reference {:?}",
                got.engine, got.reference
            ));
        }
    }

    pub fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) failed:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}
