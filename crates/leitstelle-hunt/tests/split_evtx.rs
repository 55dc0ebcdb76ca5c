//! A large EVTX file split into chunk batches matched in parallel gives the detections,
//! counters and progress of the same file read as one task.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use leitstelle_hunt::{DEFAULT_SPLIT_EVTX_BYTES, Detection, HuntOptions, Progress, Summary, run};
use leitstelle_profile::ProfileSet;
use leitstelle_readers::FileJob;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, parse_file};

const HEADER: usize = 4096;
const CHUNK: usize = 65536;

const RULES: &str = r#"
title: Comsvcs MiniDump
id: 00000000-0000-4000-8000-000000000001
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: comsvcs
    condition: selection
level: high
---
title: Cscript
id: 00000000-0000-4000-8000-000000000002
status: test
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\cscript.exe'
    condition: selection
level: low
---
title: LSASS Access From Comsvcs
id: 00000000-0000-4000-8000-000000000003
status: test
logsource: {product: windows, category: process_access}
detection:
    selection:
        CallTrace|contains: comsvcs.dll
    condition: selection
level: critical
---
title: Any DLL Load
id: 00000000-0000-4000-8000-000000000004
status: test
logsource: {product: windows, category: image_load}
detection:
    selection:
        ImageLoaded|endswith: '.dll'
    condition: selection
level: informational
"#;

fn engine(profiles: &ProfileSet) -> Engine {
    let parsed = parse_file("test.yml", RULES, &LoadOptions::default());
    let set = RuleSet::assemble([parsed]);
    assert_eq!(set.rules.len(), 4, "{:?}", set.diagnostics);
    Engine::compile(set.rules, profiles)
}

fn fixture() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../leitstelle-readers/tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    )
    .expect("fixture present")
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes the test's files: a large EVTX of 40 copies of the fixture's chunk, two of them
/// damaged, one empty, and a cut chunk at the end; and the fixture itself.
fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("leitstelle-hunt-split");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let good = fixture();
    let chunk = &good[HEADER..HEADER + CHUNK];
    let mut big = good[..HEADER].to_vec();
    for i in 0..40 {
        let mut c = chunk.to_vec();
        match i {
            // A broken chunk header, noise in the last record, an empty chunk.
            7 => c[..8].copy_from_slice(b"NotChnk\0"),
            21 => c[512 + 10_000..512 + 10_064].copy_from_slice(&noise(64, 5)),
            30 => c.fill(0),
            _ => {}
        }
        big.extend_from_slice(&c);
    }
    big.extend_from_slice(&chunk[..8000]);
    let big_path = dir.join("big.evtx");
    std::fs::write(&big_path, &big).expect("write");
    let small_path = dir.join("small.evtx");
    std::fs::write(&small_path, &good).expect("write");
    vec![big_path, small_path]
}

/// Counts what the progress callback was told.
#[derive(Default)]
struct Recorded {
    calls: Mutex<(u64, u64, u64, u64)>,
}

impl Progress for Recorded {
    fn start(&self, total: u64) {
        if let Ok(mut c) = self.calls.lock() {
            c.0 = total;
        }
    }
    fn advance(&self, bytes: u64, events: u64) {
        if let Ok(mut c) = self.calls.lock() {
            c.1 += bytes;
            c.2 += events;
            c.3 += 1;
        }
    }
    fn finish(&self) {}
}

struct Outcome {
    detections: Vec<String>,
    summary: Summary,
    /// (start total, bytes advanced, events advanced, advance calls)
    progress: (u64, u64, u64, u64),
}

fn hunt(paths: &[PathBuf], threads: usize, split_evtx_bytes: u64) -> Outcome {
    let profiles = ProfileSet::builtin();
    let engine = engine(&profiles);
    let jobs: Vec<FileJob> = paths
        .iter()
        .map(|p| FileJob::detect(p).expect("detect"))
        .collect();
    let opts = HuntOptions {
        threads,
        split_evtx_bytes,
        keep_all_errors: true,
        ..HuntOptions::default()
    };
    let progress = Recorded::default();
    let (detections, summary) = run(&engine, &profiles, jobs, &opts, &progress);
    let progress = *progress.calls.lock().expect("not poisoned");
    Outcome {
        detections: detections.iter().map(render).collect(),
        summary,
        progress,
    }
}

fn render(d: &Detection) -> String {
    serde_json::to_string(d).expect("serialisable")
}

#[test]
fn split_evtx_gives_the_same_detections_and_counts() {
    let paths = files();
    let whole = hunt(&paths, 2, 0);
    let s = &whole.summary;
    // 37 good chunks of 6 records, 5 of the noisy one, 4 before the cut, 6 in small.evtx.
    assert_eq!(s.events, 37 * 6 + 5 + 4 + 6);
    // The broken chunk, the noisy record, the cut.
    assert_eq!(s.errors, 3, "{:?}", s.error_samples);
    assert_eq!(s.detections, whole.detections.len() as u64);
    assert!(s.detections > 100, "{}", s.detections);
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).expect("metadata").len())
        .sum();
    assert_eq!(s.bytes, total);
    // Not split: one progress step per file.
    assert_eq!(whole.progress, (total, total, s.events, 2));

    for threads in [1, 2, 3] {
        for split in [1, 64 * 1024, 1 << 20] {
            let got = hunt(&paths, threads, split);
            let at = format!("{threads} threads, split at {split} bytes");
            // Detections come sorted by time, file and record: the same list, except that
            // equal keys (the file repeats its records) may come in another order.
            let (mut want_sorted, mut got_sorted) =
                (whole.detections.clone(), got.detections.clone());
            want_sorted.sort();
            got_sorted.sort();
            assert_eq!(got_sorted, want_sorted, "{at}");
            let (g, w) = (&got.summary, &whole.summary);
            assert_eq!(
                (g.events, g.events_filtered, g.errors, g.bytes, g.detections),
                (w.events, w.events_filtered, w.errors, w.bytes, w.detections),
                "{at}"
            );
            assert_eq!(g.by_rule, w.by_rule, "{at}");
            assert_eq!(g.by_level, w.by_level, "{at}");
            // Errors are kept in file order within a file.
            assert_eq!(g.error_samples, w.error_samples, "{at}");
            // Progress: all the bytes and events, in more steps (one per batch of the big
            // file: 41 chunks in batches of 4, and one per small file).
            let (start, bytes, events, calls) = got.progress;
            assert_eq!((start, bytes, events), (total, total, w.events), "{at}");
            assert!(
                calls > 2,
                "{at}: {calls} progress steps, the file was not split"
            );
        }
    }
}

#[test]
fn split_is_on_by_default_for_large_files() {
    assert_eq!(
        HuntOptions::default().split_evtx_bytes,
        DEFAULT_SPLIT_EVTX_BYTES
    );
    assert_eq!(DEFAULT_SPLIT_EVTX_BYTES, 4 << 20);
}
