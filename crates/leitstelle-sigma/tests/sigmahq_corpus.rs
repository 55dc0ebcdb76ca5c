//! Conformance against the SigmaHQ rule set in `../shared/data/sigma` (skipped loudly when
//! absent): every rule loads or gets a diagnostic, and every rule with regression data fires
//! on the JSON rendering of its sample. The `.evtx` samples themselves are checked through
//! the readers by the hunt crate's tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch, Severity, reference};

/// Prints straight to stderr, past the test harness's capture, so CI logs show the figures.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn sigma_dir() -> Option<PathBuf> {
    let base = std::env::var_os("LEITSTELLE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("sigma");
    if dir.is_dir() {
        Some(dir)
    } else {
        // Straight to stderr, not through the test harness's capture: a skip is
        // visible in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {} is absent; the SigmaHQ conformance test needs the shared test data",
            dir.display()
        );
        None
    }
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

fn load_all(sigma: &Path) -> RuleSet {
    let mut files = Vec::new();
    for d in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-placeholder",
        "rules-compliance",
        "rules-dfir",
    ] {
        walk(&sigma.join(d), "yml", &mut files);
    }
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(p).unwrap_or_default(),
            )
        })
        .collect();
    RuleSet::load(
        texts.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        &LoadOptions::default(),
    )
}

#[test]
fn sigmahq_rules_load_and_regression_json_fires() {
    let Some(sigma) = sigma_dir() else { return };
    let set = load_all(&sigma);
    let errors: Vec<_> = set
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    say!(
        "loaded {} rules, {} filters, {} correlations; {} errors; skipped by reason: {:?}",
        set.rules.len(),
        set.filters.len(),
        set.correlations.len(),
        errors.len(),
        set.skipped_by_reason()
    );
    for e in errors.iter().take(40) {
        say!("{e}");
    }
    let profiles = ProfileSet::builtin();
    let rules_copy: Vec<_> = set.rules.clone();
    let engine = Engine::compile(set.rules, &profiles);
    let mut infos = Vec::new();
    walk(&sigma.join("regression_data"), "yml", &mut infos);
    let mut scratch = Scratch::new();
    let (mut total, mut fired, mut ref_fired) = (0, 0, 0);
    let mut failures = Vec::new();
    for info in infos {
        let text = std::fs::read_to_string(&info).unwrap_or_default();
        // The rule id is the name of the JSON sample next to info.yml.
        let mut jsons = Vec::new();
        walk(info.parent().expect("parent"), "json", &mut jsons);
        for j in jsons {
            let id = j
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            if !text.contains(&id) {
                continue;
            }
            total += 1;
            let Some(rule_idx) = engine
                .rules()
                .iter()
                .position(|r| r.id.as_deref() == Some(&id))
            else {
                failures.push(format!("{id}: rule not loaded"));
                continue;
            };
            // Some samples hold several pretty-printed JSON documents one after another.
            let body = std::fs::read_to_string(&j).unwrap_or_default();
            let mut hit = false;
            let mut rhit = false;
            let mut logsources = Vec::new();
            for data in serde_json::Deserializer::from_str(&body).into_iter::<serde_json::Value>() {
                let data = data.expect("valid JSON sample");
                let mut ev = Event::new(SourceKind::Json, data);
                (ev.profile, ev.logsource) = profiles.classify(ev.source, &ev.data);
                let hits = engine.matches(&ev, &mut scratch);
                let rhits = reference::matches(&rules_copy, &profiles, &ev);
                assert_eq!(
                    hits,
                    rhits,
                    "engine and reference disagree on {}",
                    j.display()
                );
                hit |= hits.contains(&rule_idx);
                rhit |= rhits.contains(&rule_idx);
                logsources.push(ev.logsource.to_string());
            }
            if hit {
                fired += 1;
            } else {
                failures.push(format!(
                    "{id} ({}): not fired; event logsources {:?}, rule logsource {:?}",
                    engine.rule(rule_idx).title,
                    logsources,
                    engine.rule(rule_idx).logsource
                ));
            }
            if rhit {
                ref_fired += 1;
            }
        }
    }
    say!("regression JSON samples: {fired}/{total} fire (reference {ref_fired})");
    for f in &failures {
        say!("  {f}");
    }
    assert!(
        total >= 200,
        "expected the 202 regression samples, found {total}"
    );
    assert_eq!(fired, total, "every regression sample must fire its rule");
}
