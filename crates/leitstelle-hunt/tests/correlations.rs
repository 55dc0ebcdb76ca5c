//! Correlation rules evaluated by hunt over event time, end to end from an NDJSON file.

use std::sync::Arc;

use leitstelle_hunt::{HuntOptions, NoProgress};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Correlator, Engine, LoadOptions, RuleSet};

const RULES: &str = r#"
title: Failed logon
name: failed_logon
id: 11111111-0000-0000-0000-000000000001
logsource: {product: test}
detection:
  sel: {EventID: 4625}
  condition: sel
level: low
---
title: Successful logon
name: ok_logon
id: 11111111-0000-0000-0000-000000000002
logsource: {product: test}
detection:
  sel: {EventID: 4624}
  condition: sel
level: informational
"#;

fn events(dir: &std::path::Path) -> std::path::PathBuf {
    let lines = [
        (0, 4625, "bob"),
        (10, 4625, "bob"),
        (15, 4625, "alice"),
        (20, 4625, "bob"),
        (25, 4624, "bob"),
        (400, 4625, "bob"),
    ];
    let text: String = lines
        .iter()
        .map(|(s, id, user)| {
            format!(
                "{{\"@timestamp\": \"2024-05-01T10:{:02}:{:02}Z\", \"product\": \"test\", \"EventID\": {id}, \"User\": \"{user}\"}}\n",
                s / 60,
                s % 60
            )
        })
        .collect();
    let path = dir.join("logons.ndjson");
    std::fs::write(&path, text).expect("write fixture");
    path
}

fn hunt(correlation: &str) -> Vec<(String, String, String)> {
    let dir = std::env::temp_dir().join(format!(
        "leitstelle-corr-{}-{}",
        std::process::id(),
        correlation.len()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = events(&dir);
    let text = format!("{RULES}---\n{correlation}");
    let set = RuleSet::load([("rules.yml", text.as_str())], &LoadOptions::default());
    assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    let profiles = ProfileSet::builtin();
    let engine = Engine::compile(set.rules, &profiles);
    let (correlator, diags) = Correlator::new(&set.correlations, engine.rules());
    assert!(diags.is_empty(), "{diags:?}");
    let (jobs, errs) = leitstelle_readers::discover(&[file]);
    assert!(errs.is_empty());
    let opts = HuntOptions {
        correlator: Some(Arc::new(correlator)),
        ..HuntOptions::default()
    };
    let (detections, summary) = leitstelle_hunt::run(&engine, &profiles, jobs, &opts, &NoProgress);
    assert_eq!(summary.events, 6);
    let _ = std::fs::remove_dir_all(&dir);
    detections
        .iter()
        .map(|d| {
            let fields: Vec<String> = d.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (d.kind.to_string(), d.rule_title.clone(), fields.join(" "))
        })
        .collect()
}

#[test]
fn event_count_by_user_hides_its_base_rule_by_default() {
    let got = hunt(
        "title: Brute force\ncorrelation:\n  type: event_count\n  rules: [failed_logon]\n  group-by: [User]\n  timespan: 1m\n  condition: {gte: 3}\nlevel: high\n",
    );
    let rows: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "correlation",
                "Brute force",
                "User=bob event_count=3 events=3 first_seen=2024-05-01T10:00:00.000000Z"
            ),
            ("rule", "Successful logon", "EventID=4624"),
        ]
    );
}

#[test]
fn temporal_ordered_with_generate_keeps_the_base_detections() {
    let got = hunt(
        "title: Failed then ok\ncorrelation:\n  type: temporal_ordered\n  rules: [failed_logon, ok_logon]\n  group-by: [User]\n  timespan: 30s\n  generate: true\n",
    );
    let kinds: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "rule").count(), 6);
    let corr: Vec<&(String, String, String)> =
        got.iter().filter(|(k, _, _)| k == "correlation").collect();
    assert_eq!(corr.len(), 1, "{got:?}");
    assert!(corr[0].2.starts_with("User=bob events="), "{:?}", corr[0]);
}
