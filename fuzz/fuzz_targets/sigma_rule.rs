//! The Sigma YAML loader never panics; rules it accepts compile and match an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let set = RuleSet::load([("fuzz.yml", text)], &LoadOptions::default());
    if set.rules.is_empty() {
        return;
    }
    let profiles = ProfileSet::builtin();
    let engine = Engine::compile(set.rules, &profiles);
    let data = serde_json::json!({"Event": {
        "System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
        "EventData": {"Image": "C:\\x.exe", "CommandLine": "x -a /b", "User": null}}});
    let mut ev = Event::new(SourceKind::Evtx, data);
    (ev.profile, ev.logsource) = profiles.classify(ev.source, &ev.data);
    let _ = engine.matches(&ev, &mut Scratch::new());
});
