//! The compiled engine's per-thread value memo (field values seen before take their hits from
//! a table instead of a scan) must never change an answer: the same thread's scratch matches
//! a long stream in which values repeat, are unique for a long stretch (the memo switches
//! itself off), then repeat again, and every answer is checked against the reference
//! interpreter.

mod common;

use common::{event, rule_text_with, sysmon1};
use leitstelle_event::SourceKind;
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch, reference};
use serde_json::json;

const DETECTIONS: &[&str] = &[
    "sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel",
    "sel:\n  Image|startswith: 'C:\\Users\\'\n  CommandLine|contains: ' /c '\ncondition: sel",
    "sel:\n  CommandLine|contains|all:\n    - 'echo'\n    - '.tmp'\ncondition: sel",
    "sel:\n  CommandLine: '*temp\\*.tmp'\ncondition: sel",
    "sel:\n  CommandLine|cased|contains: 'Echo'\ncondition: sel",
    "sel:\n  Image: 'C:\\Windows\\System32\\cmd.exe'\ncondition: sel",
    "sel:\n  CommandLine|contains: 'echo'\nfilter:\n  Image|endswith: 'cmd.exe'\ncondition: sel and not filter",
    "sel:\n  ParentImage|endswith: '\\explorer.exe'\n  CommandLine|re: '(?i)setup[0-9]+'\ncondition: sel",
    "keywords:\n  - 'mimikatz'\n  - 'ECHO HI'\ncondition: keywords",
];

const IMAGES: &[&str] = &[
    "C:\\Windows\\System32\\cmd.exe",
    "C:\\WINDOWS\\SYSTEM32\\CMD.EXE",
    "C:\\Users\\alice\\AppData\\Local\\Temp\\setup12.exe",
    "C:\\Program Files\\Tool\\tool.exe",
    "C:\\Windows\\System32\\conhost.exe",
];

const COMMANDS: &[&str] = &[
    "cmd.exe /c echo hi > C:\\temp\\x.tmp",
    "cmd.exe /c Echo hi > C:\\Temp\\y.TMP",
    "cmd.exe /c ECHO HI",
    "setup12.exe /S",
    "tool.exe --mimikatz",
    "conhost.exe 0xffffffff",
    "",
];

fn stream_event(i: usize, unique: bool, profiles: &ProfileSet) -> leitstelle_event::Event {
    let image = IMAGES[i % IMAGES.len()];
    let command = if unique {
        format!("{} #{i}", COMMANDS[i % COMMANDS.len()])
    } else {
        COMMANDS[(i / IMAGES.len()) % COMMANDS.len()].to_string()
    };
    let parent = if i.is_multiple_of(3) {
        "C:\\Windows\\explorer.exe"
    } else {
        "C:\\Windows\\System32\\services.exe"
    };
    event(
        SourceKind::Evtx,
        sysmon1(json!({"Image": image, "CommandLine": command, "ParentImage": parent})),
        profiles,
    )
}

#[test]
fn memoised_values_give_the_reference_answers() {
    let texts: Vec<(String, String)> = DETECTIONS
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                format!("r{i}.yml"),
                rule_text_with(&format!("00000000-0000-0000-0000-{i:012}"), d),
            )
        })
        .collect();
    let set = RuleSet::load(
        texts.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        &LoadOptions::default(),
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    let profiles = ProfileSet::builtin();
    let rules = set.rules.clone();
    let engine = Engine::compile(set.rules, &profiles);
    let mut scratch = Scratch::new();
    let mut matched = 0;
    // Repeating values, then unique command lines long enough for the memo to switch itself
    // off for that field, then repeating values again.
    let phases = [
        (0..6_000, false),
        (6_000..50_000, true),
        (50_000..56_000, false),
    ];
    let mut memoised_after = Vec::new();
    for (range, unique) in phases {
        for i in range {
            let e = stream_event(i, unique, &profiles);
            let want = reference::matches(&rules, &profiles, &e);
            let got = engine.matches(&e, &mut scratch);
            assert_eq!(got, want, "event {i}: {}", e.data);
            matched += got.len();
        }
        memoised_after.push(scratch.counters().values_memoised);
    }
    assert!(
        matched > 1_000,
        "the stream should match often, matched {matched}"
    );
    // The memo was used in the first phase, and the answers above held while it was.
    assert!(
        memoised_after[0] > 10_000,
        "memo unused: {memoised_after:?}"
    );
    // A fresh scratch (no memo yet) and one without the memo agree on a sample too.
    let mut plain = Scratch::without_value_memo();
    for i in (0..56_000).step_by(97) {
        let e = stream_event(i, i % 2 == 0, &profiles);
        let want = reference::matches(&rules, &profiles, &e);
        assert_eq!(engine.matches(&e, &mut Scratch::new()), want);
        assert_eq!(engine.matches(&e, &mut plain), want);
    }
    assert_eq!(plain.counters().values_memoised, 0);
}
