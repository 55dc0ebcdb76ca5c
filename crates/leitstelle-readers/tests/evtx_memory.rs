//! Hostile EVTX input must not make the reader allocate much: peak memory of this test
//! process (its own binary, one test) stays small while reading damaged files.

mod common;

use std::path::Path;

use common::{noise, read_path, scratch, write};
use leitstelle_readers::ReadOptions;

/// Peak resident memory of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn damaged_evtx_files_stay_within_bounded_memory() {
    let dir = scratch("evtx-memory");
    let good = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    )
    .expect("fixture present");
    let mut files = Vec::new();
    let mut random = b"ElfFile\0".to_vec();
    random.extend(noise(4096 + 4 * 65536 - 8, 11));
    files.push(write(&dir, "random.evtx", &random));
    for seed in 0..32u64 {
        // Header and chunk header intact, records area partly noise.
        let mut bytes = good.clone();
        let from = 4096 + 512 + (seed as usize * 997) % 20_000;
        let len = 64 + (seed as usize * 4099) % 8000;
        bytes[from..from + len].copy_from_slice(&noise(len, seed + 100));
        files.push(write(&dir, &format!("noisy-{seed}.evtx"), &bytes));
    }
    for path in &files {
        let got = read_path(path, &ReadOptions::default());
        assert!(
            got.stats.events + got.stats.errors > 0,
            "{}",
            path.display()
        );
    }
    if let Some(peak) = peak_rss_kib() {
        assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
    }
}
