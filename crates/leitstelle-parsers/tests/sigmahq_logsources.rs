//! Conformance against SigmaHQ's rules (`../shared/data/sigma`, skipped loudly when absent):
//! the logsource the built-in profiles give parsed auditd, Kubernetes audit and Suricata DNS
//! records admits every SigmaHQ rule written for that log source.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use leitstelle_event::Origin;
use leitstelle_parsers::{Format, ParseContext, parse, to_event};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet};

fn sigma_dir() -> Option<PathBuf> {
    let base = std::env::var_os("LEITSTELLE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("sigma");
    if dir.is_dir() {
        return Some(dir);
    }
    // Straight to stderr, past the harness's capture: a skip shows in every run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {} is absent; the SigmaHQ logsource test needs the shared test data",
        dir.display()
    );
    None
}

fn rule_files(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rule_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            let text = std::fs::read_to_string(&path).expect("read rule");
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn sigmahq_rules_route_to_parsed_records() {
    let Some(sigma) = sigma_dir() else {
        return;
    };
    let fixture = |name: &str, n: usize| -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let text = std::fs::read_to_string(path).expect("fixture");
        text.lines().nth(n - 1).expect("line").to_string()
    };
    let cases = [
        ("rules/linux/auditd", fixture("auditd.log", 1)),
        (
            "rules/application/kubernetes/audit",
            fixture("json.ndjson", 1),
        ),
        ("rules/network/dns", fixture("json.ndjson", 5)),
    ];
    let profiles = ProfileSet::builtin();
    for (folder, record) in cases {
        let mut files = Vec::new();
        rule_files(&sigma.join(folder), &mut files);
        let set = RuleSet::load(
            files.iter().map(|(p, t)| (p.as_str(), t.as_str())),
            &LoadOptions::default(),
        );
        let loaded = set.rules.len();
        assert!(loaded > 0, "{folder}: no rules");
        let engine = Engine::compile(set.rules, &profiles);
        let parsed = parse(Format::Auto, record.as_bytes(), &ParseContext::new(2024))
            .expect("fixture parses");
        let event = to_event(&profiles, Arc::from("t"), parsed, Origin::default());
        let admitted = engine.bucket_stats(&event.logsource).rules;
        let _ = writeln!(
            std::io::stderr(),
            "{folder}: {admitted} of {loaded} rules admitted by {}",
            event.logsource
        );
        assert_eq!(admitted, loaded, "{folder} as {}", event.logsource);
    }
}
