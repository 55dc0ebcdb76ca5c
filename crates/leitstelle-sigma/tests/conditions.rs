//! Conditions end to end, then what happens around a rule: filter rules applied to the rules
//! they name, correlation rules parsed and validated, and logsource routing of events from the
//! shapes the built-in profiles know (Sysmon, Security 4688, Winlogbeat/ECS).
//!
//! The condition tests are truth tables: four searches test four fields (`A`..`D`) for `x`,
//! and every condition is checked on all sixteen combinations (unset fields missing, and again
//! set to another value) against a Rust closure.

mod common;

use common::{Answers, Failures, SYSMON, evtx, run_files, sysmon1};
use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::rule::CorrelationCondition;
use leitstelle_sigma::value::Cmp;
use leitstelle_sigma::{CorrelationKind, LoadOptions, RuleSet, Severity};
use serde_json::{Value, json};

const SEARCHES: &str = "\
sel_a: {A: 'x'}
sel_b: {B: 'x'}
filter_c: {C: 'x'}
_aux_d: {D: 'x'}
";

type Truth = fn(bool, bool, bool, bool) -> bool;

/// The sixteen events of the truth table with their (a, b, c, d).
fn table_events(profiles: &ProfileSet) -> Vec<([bool; 4], Event)> {
    let mut out = Vec::new();
    for unset in [Value::Null, json!("y")] {
        for bits in 0..16u8 {
            let set: [bool; 4] = std::array::from_fn(|i| bits & (1 << i) != 0);
            let mut data = serde_json::Map::new();
            for (i, name) in ["A", "B", "C", "D"].into_iter().enumerate() {
                if set[i] {
                    data.insert(name.into(), json!("X"));
                } else if !unset.is_null() {
                    data.insert(name.into(), unset.clone());
                }
            }
            let e = common::event(SourceKind::Evtx, sysmon1(Value::Object(data)), profiles);
            out.push((set, e));
        }
    }
    out
}

fn check_truth_table(failures: &mut Failures, condition: &str, truth: Truth) {
    let profiles = ProfileSet::builtin();
    let events = table_events(&profiles);
    let text = common::rule_text(&format!("{SEARCHES}condition: {condition}"));
    let only: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
    let set = RuleSet::load([("rule.yml", text.as_str())], &LoadOptions::default());
    if !set.diagnostics.is_empty() {
        failures.push(format!("`{condition}` did not load: {:?}", set.diagnostics));
        return;
    }
    let answers = run_files(
        &[("rule.yml", text.as_str())],
        &LoadOptions::default(),
        &only,
    );
    for ((bits, e), got) in events.iter().zip(&answers) {
        let [a, b, c, d] = *bits;
        let want: &[usize] = if truth(a, b, c, d) { &[0] } else { &[] };
        failures.check_answers(
            &format!(
                "`{condition}` with a={a} b={b} c={c} d={d} ({})",
                e.data["Event"]["EventData"]
            ),
            got,
            want,
        );
    }
}

#[test]
#[rustfmt::skip]
fn boolean_operators_and_precedence() {
    let table: &[(&str, Truth)] = &[
        ("sel_a", |a, _, _, _| a),
        ("sel_a and sel_b", |a, b, _, _| a && b),
        ("sel_a or sel_b", |a, b, _, _| a || b),
        ("not sel_a", |a, _, _, _| !a),
        ("(sel_a)", |a, _, _, _| a),
        ("sel_a and sel_b and filter_c", |a, b, c, _| a && b && c),
        ("sel_a or sel_b or filter_c", |a, b, c, _| a || b || c),
        // and binds tighter than or, not tighter than and.
        ("sel_a or sel_b and filter_c", |a, b, c, _| a || (b && c)),
        ("sel_a and sel_b or filter_c", |a, b, c, _| (a && b) || c),
        ("(sel_a or sel_b) and filter_c", |a, b, c, _| (a || b) && c),
        ("sel_a and (sel_b or filter_c)", |a, b, c, _| a && (b || c)),
        ("not sel_a and sel_b", |a, b, _, _| !a && b),
        ("not sel_a or sel_b", |a, b, _, _| !a || b),
        ("sel_a and not sel_b or filter_c", |a, b, c, _| (a && !b) || c),
        ("not (sel_a or sel_b)", |a, b, _, _| !(a || b)),
        ("not (sel_a and sel_b)", |a, b, _, _| !(a && b)),
        ("sel_a and not filter_c", |a, _, c, _| a && !c),
        ("(sel_a or _aux_d) and not (sel_b or filter_c)", |a, b, c, d| (a || d) && !(b || c)),
        ("((sel_a))", |a, _, _, _| a),
        // Keywords are case-insensitive.
        ("sel_a AND NOT sel_b", |a, b, _, _| a && !b),
        ("sel_a Or sel_b", |a, b, _, _| a || b),
    ];
    let mut failures = Failures::default();
    for (condition, truth) in table {
        check_truth_table(&mut failures, condition, *truth);
    }
    failures.assert_none();
}

#[test]
#[rustfmt::skip]
fn nested_negations() {
    let table: &[(&str, Truth)] = &[
        ("not not sel_a", |a, _, _, _| a),
        ("not not not sel_a", |a, _, _, _| !a),
        ("not (not sel_a)", |a, _, _, _| a),
        ("not (not sel_a and not sel_b)", |a, b, _, _| a || b),
        ("not (sel_a and not (sel_b or not filter_c))", |a, b, c, _| !(a && !b && c)),
        ("not sel_a and not sel_b and not filter_c", |a, b, c, _| !a && !b && !c),
    ];
    let mut failures = Failures::default();
    for (condition, truth) in table {
        check_truth_table(&mut failures, condition, *truth);
    }
    failures.assert_none();
}

#[test]
#[rustfmt::skip]
fn quantified_searches() {
    let table: &[(&str, Truth)] = &[
        ("1 of sel_*", |a, b, _, _| a || b),
        ("any of sel_*", |a, b, _, _| a || b),
        ("all of sel_*", |a, b, _, _| a && b),
        ("2 of sel_*", |a, b, _, _| a && b),
        ("1 of sel*", |a, b, _, _| a || b),
        ("1 of filter*", |_, _, c, _| c),
        ("1 of *_c", |_, _, c, _| c),
        // `them`: every search not starting with `_`.
        ("1 of them", |a, b, c, _| a || b || c),
        ("all of them", |a, b, c, _| a && b && c),
        ("2 of them", |a, b, c, _| [a, b, c].iter().filter(|x| **x).count() >= 2),
        ("3 of them", |a, b, c, _| a && b && c),
        ("ALL OF THEM", |a, b, c, _| a && b && c),
        // `x of` binds tighter than not, and, or.
        ("not 1 of sel_*", |a, b, _, _| !(a || b)),
        ("not all of sel_*", |a, b, _, _| !(a && b)),
        ("1 of sel_* and not filter_c", |a, b, c, _| (a || b) && !c),
        ("1 of sel_* and not 1 of filter_*", |a, b, c, _| (a || b) && !c),
        ("all of sel_* or filter_c", |a, b, c, _| (a && b) || c),
        ("filter_c or all of sel_*", |a, b, c, _| c || (a && b)),
        ("1 of sel_* and _aux_d", |a, b, _, d| (a || b) && d),
        ("not 1 of them", |a, b, c, _| !(a || b || c)),
    ];
    let mut failures = Failures::default();
    for (condition, truth) in table {
        check_truth_table(&mut failures, condition, *truth);
    }
    failures.assert_none();
}

#[test]
#[rustfmt::skip]
fn patterns_exclude_underscore_searches_like_them() {
    // Spec: "1/all of search-identifier-pattern: Same as 1/all of them, but restricted to
    // matching search identifiers", and `them` excludes identifiers starting with `_`
    // (pySigma excludes them for every pattern).
    let table: &[(&str, Truth)] = &[
        ("1 of *", |a, b, c, _| a || b || c),
        ("all of *", |a, b, c, _| a && b && c),
    ];
    let mut failures = Failures::default();
    for (condition, truth) in table {
        check_truth_table(&mut failures, condition, *truth);
    }
    failures.assert_none();
}

#[test]
#[rustfmt::skip]
fn a_list_of_conditions_is_or_linked() {
    let table: &[(&str, Truth)] = &[
        ("['sel_a and sel_b', 'filter_c']", |a, b, c, _| (a && b) || c),
        ("['not sel_a', 'sel_b']", |a, b, _, _| !a || b),
        ("['all of them']", |a, b, c, _| a && b && c),
        ("['1 of sel_*', 'not filter_c', '_aux_d']", |a, b, c, d| a || b || !c || d),
    ];
    let mut failures = Failures::default();
    for (condition, truth) in table {
        check_truth_table(&mut failures, condition, *truth);
    }
    // The block form too.
    check_truth_table(&mut failures, "\n  - sel_a and sel_b\n  - filter_c", |a, b, c, _| (a && b) || c);
    failures.assert_none();
}

#[test]
fn searches_with_several_alternatives_under_conditions() {
    // A list of maps (OR) and a keyword list under `and not` and `1 of`.
    let detection = "\
sel_img:
  - {Image|endswith: '\\a.exe'}
  - {Image|endswith: '\\b.exe'}
sel_kw:
  - 'evil'
  - 'wicked'
filter:
  User: 'admin'
condition: 1 of sel_* and not filter";
    let text = common::rule_text(detection);
    let profiles = ProfileSet::builtin();
    #[rustfmt::skip]
    let cases: &[(Value, bool)] = &[
        (json!({"Image": "C:\\a.exe"}), true),
        (json!({"Image": "C:\\b.exe", "User": "bob"}), true),
        (json!({"Image": "C:\\c.exe", "CommandLine": "so WICKED"}), true),
        (json!({"Image": "C:\\a.exe", "User": "ADMIN"}), false),
        (json!({"Image": "C:\\c.exe", "CommandLine": "fine"}), false),
        (json!({}), false),
    ];
    let events: Vec<Event> = cases
        .iter()
        .map(|(d, _)| common::event(SourceKind::Evtx, sysmon1(d.clone()), &profiles))
        .collect();
    let answers = run_files(&[("r.yml", &text)], &LoadOptions::default(), &events);
    let mut failures = Failures::default();
    for ((data, want), got) in cases.iter().zip(&answers) {
        let want: &[usize] = if *want { &[0] } else { &[] };
        failures.check_answers(&data.to_string(), got, want);
    }
    failures.assert_none();
}

// Filters.

const RULE_1: &str = "00000000-0000-0000-0000-000000000001";
const RULE_2: &str = "00000000-0000-0000-0000-000000000002";

fn cmd_rule(id: &str) -> String {
    common::rule_text_with(
        id,
        "selection: {Image|endswith: '\\cmd.exe'}\ncondition: selection",
    )
}

fn filter_doc(logsource: &str, rules: &[&str], body: &str) -> String {
    let mut s = format!(
        "title: Filter admins\nid: f0000000-0000-0000-0000-0000000000{:02}\n{logsource}filter:\n  rules:\n",
        rules.len()
    );
    for r in rules {
        s.push_str(&format!("    - {r}\n"));
    }
    for line in body.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

const PROCESS_CREATION: &str = "logsource:\n  category: process_creation\n  product: windows\n";
const ADMINS: &str = "selection:\n  User|startswith: 'adm_'\ncondition: selection";

/// Events: cmd.exe by an admin, cmd.exe by bob, something else by an admin.
fn filter_events(profiles: &ProfileSet) -> Vec<Event> {
    [
        json!({"Image": "C:\\Windows\\cmd.exe", "User": "ADM_jane"}),
        json!({"Image": "C:\\Windows\\cmd.exe", "User": "bob"}),
        json!({"Image": "C:\\Windows\\notepad.exe", "User": "adm_jane"}),
    ]
    .into_iter()
    .map(|d| common::event(SourceKind::Evtx, sysmon1(d), profiles))
    .collect()
}

fn check_filter_answers(answers: &[Answers], want: [&[usize]; 3]) {
    let mut failures = Failures::default();
    for (i, (got, want)) in answers.iter().zip(want).enumerate() {
        failures.check_answers(&format!("event {i}"), got, want);
    }
    failures.assert_none();
}

#[test]
fn a_filter_applies_to_the_rule_it_names_and_not_to_others() {
    let profiles = ProfileSet::builtin();
    let (r1, r2) = (cmd_rule(RULE_1), cmd_rule(RULE_2));
    let filter = filter_doc(PROCESS_CREATION, &[RULE_1], ADMINS);
    let files = [
        ("r1.yml", r1.as_str()),
        ("r2.yml", r2.as_str()),
        ("mf_admins.yml", filter.as_str()),
    ];
    let set = RuleSet::load(files, &LoadOptions::default());
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    assert_eq!((set.rules.len(), set.filters.len()), (2, 1));
    let answers = run_files(&files, &LoadOptions::default(), &filter_events(&profiles));
    check_filter_answers(&answers, [&[1], &[0, 1], &[]]);
}

#[test]
fn filters_work_from_any_file_and_document_order() {
    let profiles = ProfileSet::builtin();
    let events = filter_events(&profiles);
    let (r1, r2) = (cmd_rule(RULE_1), cmd_rule(RULE_2));
    let filter = filter_doc(PROCESS_CREATION, &[RULE_2], ADMINS);
    // The filter before the rules, in another file.
    let answers = run_files(
        &[("a_filter.yml", &filter), ("r1.yml", &r1), ("r2.yml", &r2)],
        &LoadOptions::default(),
        &events,
    );
    check_filter_answers(&answers, [&[0], &[0, 1], &[]]);
    // One file, the filter as its first YAML document.
    let multi = format!("{filter}---\n{r1}---\n{r2}");
    let answers = run_files(&[("all.yml", &multi)], &LoadOptions::default(), &events);
    check_filter_answers(&answers, [&[0], &[0, 1], &[]]);
}

#[test]
fn a_filter_can_name_several_rules_and_rules_by_name() {
    let profiles = ProfileSet::builtin();
    let (r1, r2) = (cmd_rule(RULE_1), cmd_rule(RULE_2));
    let named = r2.replace(
        "title: test rule\n",
        "title: test rule\nname: cmd_by_anyone\n",
    );
    let filter = filter_doc(PROCESS_CREATION, &[RULE_1, "cmd_by_anyone"], ADMINS);
    let answers = run_files(
        &[("r1.yml", &r1), ("r2.yml", &named), ("f.yml", &filter)],
        &LoadOptions::default(),
        &filter_events(&profiles),
    );
    check_filter_answers(&answers, [&[], &[0, 1], &[]]);
}

#[test]
fn a_filter_condition_can_be_any_condition() {
    let profiles = ProfileSet::builtin();
    let r1 = cmd_rule(RULE_1);
    let body = "admins:\n  User|startswith: 'adm_'\nevil:\n  CommandLine|contains: 'evil'\ncondition: admins and not evil";
    let filter = filter_doc(PROCESS_CREATION, &[RULE_1], body);
    let events: Vec<Event> = [
        json!({"Image": "C:\\cmd.exe", "User": "adm_x", "CommandLine": "fine"}),
        json!({"Image": "C:\\cmd.exe", "User": "adm_x", "CommandLine": "evil"}),
        json!({"Image": "C:\\cmd.exe", "User": "bob", "CommandLine": "fine"}),
    ]
    .into_iter()
    .map(|d| common::event(SourceKind::Evtx, sysmon1(d), &profiles))
    .collect();
    let answers = run_files(
        &[("r1.yml", &r1), ("f.yml", &filter)],
        &LoadOptions::default(),
        &events,
    );
    check_filter_answers(&answers, [&[], &[0], &[0]]);
}

#[test]
fn a_filter_does_not_join_the_searches_of_them() {
    // The rule's `all of them` was resolved before the filter's searches were added.
    let profiles = ProfileSet::builtin();
    let rule = common::rule_text_with(
        RULE_1,
        "sel1: {Image|endswith: '\\cmd.exe'}\nsel2: {CommandLine|contains: '/c'}\ncondition: all of them",
    );
    let filter = filter_doc(PROCESS_CREATION, &[RULE_1], ADMINS);
    let events: Vec<Event> = [
        json!({"Image": "C:\\cmd.exe", "CommandLine": "cmd /c x", "User": "bob"}),
        json!({"Image": "C:\\cmd.exe", "CommandLine": "cmd /c x", "User": "adm_x"}),
        json!({"Image": "C:\\cmd.exe", "CommandLine": "cmd", "User": "bob"}),
    ]
    .into_iter()
    .map(|d| common::event(SourceKind::Evtx, sysmon1(d), &profiles))
    .collect();
    let answers = run_files(
        &[("r.yml", &rule), ("f.yml", &filter)],
        &LoadOptions::default(),
        &events,
    );
    check_filter_answers(&answers, [&[0], &[], &[]]);
}

#[test]
fn filters_that_cannot_apply_are_reported_and_change_nothing() {
    let profiles = ProfileSet::builtin();
    let events = filter_events(&profiles);
    let r1 = cmd_rule(RULE_1);
    // An unknown rule: S010 warning.
    let unknown = filter_doc(PROCESS_CREATION, &["no-such-rule"], ADMINS);
    // Another logsource: S014 warning, not applied.
    let other_ls = filter_doc(
        "logsource:\n  category: network_connection\n  product: windows\n",
        &[RULE_1],
        ADMINS,
    );
    for (filter, code) in [(&unknown, "S010"), (&other_ls, "S014")] {
        let files = [("r1.yml", r1.as_str()), ("f.yml", filter.as_str())];
        let set = RuleSet::load(files, &LoadOptions::default());
        let diags: Vec<(&str, Severity, &str, usize)> = set
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.severity, d.file.as_str(), d.line))
            .collect();
        assert_eq!(diags, [(code, Severity::Warning, "f.yml", 1)]);
        assert_eq!(set.rules.len(), 1);
        let profiles_rules = set.rules.clone();
        let engine = leitstelle_sigma::Engine::compile(set.rules, &profiles);
        let mut scratch = leitstelle_sigma::Scratch::new();
        for (e, want) in events.iter().zip([&[0][..], &[0], &[]]) {
            assert_eq!(engine.matches(e, &mut scratch), want, "{code}");
            assert_eq!(
                leitstelle_sigma::reference::matches(&profiles_rules, &profiles, e),
                want
            );
        }
    }
    // A filter without a logsource applies.
    let no_ls = filter_doc("", &[RULE_1], ADMINS);
    let answers = run_files(
        &[("r1.yml", &r1), ("f.yml", &no_ls)],
        &LoadOptions::default(),
        &events,
    );
    check_filter_answers(&answers, [&[], &[0], &[]]);
    // A filter that names no rule is invalid.
    let bad = "title: f\nlogsource: {product: windows}\nfilter:\n  selection: {User: x}\n  condition: selection\n";
    let set = RuleSet::load([("f.yml", bad)], &LoadOptions::default());
    let codes: Vec<&str> = set.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["S014"]);
}

// Correlations.

const BASE_RULES: &str = "\
title: Failed logon
id: 10000000-0000-0000-0000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Successful logon
id: 10000000-0000-0000-0000-000000000002
name: successful_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  condition: selection
";

fn correlation(body: &str) -> String {
    let mut s = String::from(
        "title: Many failed logons\nid: 20000000-0000-0000-0000-000000000001\nname: many_failed\nlevel: high\ncorrelation:\n",
    );
    for line in body.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

fn load_correlation(body: &str) -> RuleSet {
    let text = correlation(body);
    RuleSet::load(
        [("base.yml", BASE_RULES), ("corr.yml", text.as_str())],
        &LoadOptions::default(),
    )
}

#[test]
fn correlation_rules_are_parsed() {
    let set = load_correlation(
        "type: event_count\nrules:\n  - failed_logon\ngroup-by:\n  - TargetUserName\n  - IpAddress\ntimespan: 5m\ncondition:\n  gte: 10",
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    assert_eq!(set.rules.len(), 2);
    let c = &set.correlations[0];
    assert_eq!(c.kind, CorrelationKind::EventCount);
    assert_eq!(c.rules, ["failed_logon"]);
    assert_eq!(c.group_by, ["TargetUserName", "IpAddress"]);
    assert_eq!(c.timespan_secs, 300);
    assert_eq!(
        c.condition,
        Some(CorrelationCondition {
            cmp: vec![(Cmp::Gte, 10.0)],
            field: None
        })
    );
    assert_eq!(c.name.as_deref(), Some("many_failed"));
    assert_eq!(c.level.as_str(), "high");
    assert!(!c.generate);

    let set = load_correlation(
        "type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1d\ncondition:\n  field: TargetUserName\n  gt: 100\n  lte: 200",
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    let c = &set.correlations[0];
    assert_eq!(c.kind, CorrelationKind::ValueCount);
    assert_eq!(c.timespan_secs, 86_400);
    assert_eq!(
        c.condition,
        Some(CorrelationCondition {
            cmp: vec![(Cmp::Gt, 100.0), (Cmp::Lte, 200.0)],
            field: Some("TargetUserName".into())
        })
    );

    let set = load_correlation(
        "type: temporal\nrules: [failed_logon, successful_logon]\ngroup-by: [TargetUserName]\ntimespan: 30s",
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    assert_eq!(set.correlations[0].kind, CorrelationKind::Temporal);
    assert_eq!(set.correlations[0].timespan_secs, 30);
    assert_eq!(set.correlations[0].condition, None);

    // By id too, and with `generate`.
    let set = load_correlation(
        "type: temporal_ordered\nrules:\n  - 10000000-0000-0000-0000-000000000001\n  - successful_logon\ngroup-by: [TargetUserName]\ntimespan: 1h\ngenerate: true",
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    let c = &set.correlations[0];
    assert_eq!(
        (c.kind, c.timespan_secs, c.generate),
        (CorrelationKind::TemporalOrdered, 3600, true)
    );
}

#[test]
fn correlations_can_name_other_correlations() {
    let first = correlation(
        "type: event_count\nrules: [failed_logon]\ngroup-by: [TargetUserName]\ntimespan: 5m\ncondition: {gte: 10}",
    );
    let second = "title: Brute force then success\nid: 20000000-0000-0000-0000-000000000002\ncorrelation:\n  type: temporal_ordered\n  rules: [many_failed, successful_logon]\n  group-by: [TargetUserName]\n  timespan: 1h\n";
    let set = RuleSet::load(
        [
            ("base.yml", BASE_RULES),
            ("c1.yml", first.as_str()),
            ("c2.yml", second),
        ],
        &LoadOptions::default(),
    );
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    assert_eq!(set.correlations.len(), 2);
}

#[test]
fn correlation_conditions_accept_every_operator_of_the_spec() {
    // Spec: "gt, gte, lt, lte, eq, neq".
    for op in ["gt", "gte", "lt", "lte", "eq", "neq"] {
        let set = load_correlation(&format!(
            "type: event_count\nrules: [failed_logon]\ngroup-by: [TargetUserName]\ntimespan: 5m\ncondition:\n  {op}: 10"
        ));
        assert!(set.diagnostics.is_empty(), "{op}: {:#?}", set.diagnostics);
        assert_eq!(set.correlations.len(), 1, "{op}");
    }
}

#[test]
#[rustfmt::skip]
fn invalid_correlations_are_reported_with_s011() {
    // The `correlation:` map is on line 5 of the document; its values one line further down.
    let cases: &[(&str, usize)] = &[
        // value_count needs `condition.field`.
        ("type: value_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {gte: 10}", 6),
        // event_count needs a condition, with a threshold.
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h", 6),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {field: X}", 6),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {gte: many}", 10),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {about: 10}", 10),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: 10", 10),
        // temporal correlations need two rules.
        ("type: temporal\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h", 6),
        ("type: temporal_ordered\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h", 6),
        // type, rules and timespan are mandatory.
        ("rules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {gte: 10}", 6),
        ("type: nearby\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {gte: 10}", 6),
        ("type: event_count\ngroup-by: [IpAddress]\ntimespan: 1h\ncondition: {gte: 10}", 6),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ncondition: {gte: 10}", 6),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 5 minutes\ncondition: {gte: 10}", 9),
        ("type: event_count\nrules: [failed_logon]\ngroup-by: [IpAddress]\ntimespan: 5q\ncondition: {gte: 10}", 9),
    ];
    let mut failures = Failures::default();
    for (body, line) in cases {
        let set = load_correlation(body);
        let diags: Vec<(&str, Severity, &str, usize)> = set
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.severity, d.file.as_str(), d.line))
            .collect();
        if diags != [("S011", Severity::Error, "corr.yml", *line)] || !set.correlations.is_empty() {
            failures.push(format!("{body}\n    expected S011 at corr.yml:{line}, got {diags:?}"));
        }
        if set.rules.len() != 2 {
            failures.push(format!("{body}\n    the base rules did not load"));
        }
    }
    failures.assert_none();
}

#[test]
fn correlations_naming_unknown_rules_load_with_s010_warnings() {
    let set = load_correlation(
        "type: temporal\nrules: [failed_logon, no_such_rule, also_missing]\ngroup-by: [TargetUserName]\ntimespan: 1h",
    );
    assert_eq!(set.correlations.len(), 1);
    let diags: Vec<(&str, Severity, &str, usize)> = set
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.severity, d.file.as_str(), d.line))
        .collect();
    assert_eq!(
        diags,
        [
            ("S010", Severity::Warning, "corr.yml", 1),
            ("S010", Severity::Warning, "corr.yml", 1)
        ]
    );
    assert!(
        set.diagnostics[0].message.contains("no_such_rule"),
        "{}",
        set.diagnostics[0].message
    );
    assert!(
        set.diagnostics[1].message.contains("also_missing"),
        "{}",
        set.diagnostics[1].message
    );
}

// Routing.

fn routing_rules() -> Vec<(&'static str, String)> {
    let rule = |id: &str, logsource: &str, detection: &str| {
        let mut s = format!("title: routing {id}\nid: {id}\nlogsource: {logsource}\ndetection:\n");
        for line in detection.lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
        s
    };
    let whoami = "sel: {Image|endswith: '\\whoami.exe'}\ncondition: sel";
    vec![
        (
            "0 process_creation Image",
            rule(
                "r0",
                "{product: windows, category: process_creation}",
                whoami,
            ),
        ),
        (
            "1 process_creation CommandLine",
            rule(
                "r1",
                "{product: windows, category: process_creation}",
                "sel: {CommandLine|contains: 'whoami /all'}\ncondition: sel",
            ),
        ),
        (
            "2 process_creation User",
            rule(
                "r2",
                "{product: windows, category: process_creation}",
                "sel: {User: 'jane'}\ncondition: sel",
            ),
        ),
        ("3 windows only", rule("r3", "{product: windows}", whoami)),
        (
            "4 service sysmon",
            rule("r4", "{product: windows, service: sysmon}", whoami),
        ),
        (
            "5 service security",
            rule("r5", "{product: windows, service: security}", whoami),
        ),
        ("6 product linux", rule("r6", "{product: linux}", whoami)),
        (
            "7 network_connection",
            rule(
                "r7",
                "{product: windows, category: network_connection}",
                whoami,
            ),
        ),
    ]
}

#[test]
#[rustfmt::skip]
fn events_are_routed_by_logsource_and_fields_resolved_by_profile() {
    let profiles = ProfileSet::builtin();
    let fields = json!({"Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami /all", "User": "jane"});
    let security_4688 = json!({
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
        "CommandLine": "whoami /all",
        "SubjectUserName": "jane",
    });
    let ecs = json!({
        "@timestamp": "2024-03-05T14:07:09Z",
        "winlog": {"channel": SYSMON, "event_id": 1, "computer_name": "host1",
                   "event_data": {"User": "jane"}},
        "event": {"code": "1"},
        "process": {"executable": "C:\\Windows\\System32\\whoami.exe", "command_line": "whoami /all"},
    });
    let ecs_4688 = json!({
        "winlog": {"channel": "Security", "event_id": 4688,
                   "event_data": {"NewProcessName": "C:\\Windows\\System32\\whoami.exe", "SubjectUserName": "jane"}},
        "process": {"command_line": "whoami /all"},
    });
    let cases: Vec<(&str, Event, &[usize])> = vec![
        ("sysmon 1", common::event(SourceKind::Evtx, sysmon1(fields.clone()), &profiles), &[0, 1, 2, 3, 4]),
        // The same fields in a Sysmon network connection: no process_creation rule fires.
        ("sysmon 3", common::event(SourceKind::Evtx, evtx(SYSMON, 3, fields.clone()), &profiles), &[3, 4, 7]),
        // Security 4688 is a process creation; Image is its NewProcessName, User its
        // SubjectUserName.
        ("security 4688", common::event(SourceKind::Evtx, evtx("Security", 4688, security_4688.clone()), &profiles), &[0, 1, 2, 3, 5]),
        // Another Security event is not.
        ("security 4624", common::event(SourceKind::Evtx, evtx("Security", 4624, security_4688), &profiles), &[]),
        // The EVTX tree as JSON takes the same way.
        ("sysmon 1 as json", common::event(SourceKind::Json, sysmon1(fields), &profiles), &[0, 1, 2, 3, 4]),
        // Winlogbeat / ECS.
        ("ecs sysmon 1", common::event(SourceKind::Json, ecs, &profiles), &[0, 1, 2, 3, 4]),
        ("ecs security 4688", common::event(SourceKind::Json, ecs_4688, &profiles), &[0, 1, 2, 3, 5]),
        // A generic JSON object has no logsource: only rules without one would see it.
        ("plain json", common::event(SourceKind::Json, json!({"Image": "C:\\whoami.exe"}), &profiles), &[]),
    ];
    let rules = routing_rules();
    let files: Vec<(&str, &str)> = rules.iter().map(|(name, text)| (*name, text.as_str())).collect();
    let events: Vec<Event> = cases.iter().map(|(_, e, _)| e.clone()).collect();
    let answers = run_files(&files, &LoadOptions::default(), &events);
    let mut failures = Failures::default();
    for ((name, e, want), got) in cases.iter().zip(&answers) {
        failures.check_answers(&format!("{name} ({})", e.logsource), got, want);
    }
    failures.assert_none();
}

#[test]
fn the_routing_fixtures_classify_as_expected() {
    let profiles = ProfileSet::builtin();
    let ls = |source, data| common::event(source, data, &profiles).logsource.to_string();
    assert_eq!(
        ls(SourceKind::Evtx, sysmon1(json!({}))),
        "windows/sysmon/process_creation"
    );
    assert_eq!(
        ls(SourceKind::Evtx, evtx(SYSMON, 3, json!({}))),
        "windows/sysmon/network_connection"
    );
    assert_eq!(
        ls(SourceKind::Evtx, evtx("Security", 4688, json!({}))),
        "windows/security/process_creation"
    );
    assert_eq!(
        ls(
            SourceKind::Json,
            json!({"winlog": {"channel": SYSMON, "event_id": 1}})
        ),
        "windows/sysmon/process_creation"
    );
}
