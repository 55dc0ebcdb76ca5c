//! Conformance on the real `.evtx` material in `../shared/data` (skipped loudly when absent):
//! - every SigmaHQ rule with regression data fires on its `.evtx` sample, read by the EVTX
//!   reader, with strict logsource routing;
//! - a run of all Windows rules over EVTX-ATTACK-SAMPLES reads every record without errors
//!   and prints the detections by level.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use leitstelle_hunt::{HuntOptions, NoProgress, load_rules};
use leitstelle_profile::ProfileSet;
use leitstelle_readers::{FileJob, Item, ReadOptions};
use leitstelle_sigma::{Engine, LoadOptions, Scratch};

/// Prints straight to stderr, past the test harness's capture, so CI logs show the figures.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn shared(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("LEITSTELLE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        // Straight to stderr, not through the test harness's capture: a skip is
        // visible in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {} is absent; this test needs the shared test data",
            dir.display()
        );
        None
    }
}

#[test]
fn every_regression_evtx_sample_fires_its_rule() {
    let Some(sigma) = shared("sigma") else { return };
    let dirs: Vec<PathBuf> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| sigma.join(d))
        .filter(|d| d.is_dir())
        .collect();
    let set = load_rules(&dirs, &LoadOptions::default()).expect("rule folders readable");
    let profiles = ProfileSet::builtin();
    let engine = Engine::compile(set.rules, &profiles);
    let mut samples = Vec::new();
    for e in walkdir::WalkDir::new(sigma.join("regression_data")).sort_by_file_name() {
        let e = e.expect("walk");
        if e.path().extension().is_some_and(|x| x == "evtx") {
            samples.push(e.path().to_path_buf());
        }
    }
    let mut scratch = Scratch::new();
    let (mut fired, mut failures) = (0usize, Vec::new());
    for s in &samples {
        let id = s
            .file_stem()
            .and_then(|x| x.to_str())
            .unwrap_or("")
            .to_string();
        let Some(rule) = engine
            .rules()
            .iter()
            .position(|r| r.id.as_deref() == Some(&id))
        else {
            failures.push(format!("{id}: rule not loaded"));
            continue;
        };
        let job = FileJob::detect(s).expect("sample readable");
        let mut hit = false;
        let mut errors = Vec::new();
        let mut logsources = Vec::new();
        leitstelle_readers::read_file(&job, &ReadOptions::default(), &profiles, &mut |item| {
            match item {
                Item::Event(ev) => {
                    hit |= engine.matches(&ev, &mut scratch).contains(&rule);
                    logsources.push(ev.logsource.to_string());
                }
                Item::Error(e) => errors.push(e.to_string()),
            }
            ControlFlow::Continue(())
        });
        if hit {
            fired += 1;
        } else {
            failures.push(format!(
                "{id} ({}): not fired; logsources {logsources:?}; errors {errors:?}",
                engine.rule(rule).title
            ));
        }
    }
    say!(
        "regression .evtx samples: {fired}/{} fire their rule",
        samples.len()
    );
    for f in &failures {
        say!("  {f}");
    }
    assert!(
        samples.len() >= 200,
        "expected 202 samples, found {}",
        samples.len()
    );
    assert!(
        failures.is_empty(),
        "{} samples did not fire",
        failures.len()
    );
}

#[test]
fn windows_rules_over_evtx_attack_samples() {
    let (Some(sigma), Some(samples)) = (shared("sigma"), shared("evtx-attack-samples")) else {
        return;
    };
    let set = load_rules(&[sigma.join("rules/windows")], &LoadOptions::default()).expect("rules");
    let loaded = set.rules.len();
    let profiles = ProfileSet::builtin();
    let engine = Engine::compile(set.rules, &profiles);
    let (jobs, discover_errors) = leitstelle_readers::discover(&[samples]);
    let evtx_jobs: Vec<FileJob> = jobs
        .into_iter()
        .filter(|j| j.kind == leitstelle_readers::FileKind::Evtx)
        .collect();
    let (detections, summary) = leitstelle_hunt::run(
        &engine,
        &profiles,
        evtx_jobs,
        &HuntOptions::default(),
        &NoProgress,
    );
    say!(
        "{loaded} rules, {} events, {} detections by level {:?}, {} errors",
        summary.events,
        detections.len(),
        summary.by_level,
        summary.errors
    );
    assert!(discover_errors.is_empty(), "{discover_errors:?}");
    assert_eq!(summary.errors, 0, "{:?}", summary.error_samples);
    assert_eq!(
        summary.events, 8255,
        "the corpus README counts 8,255 records"
    );
    assert!(
        detections.len() > 500,
        "a real attack corpus must raise detections"
    );
}
