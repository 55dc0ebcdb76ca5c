//! EVTX: a real file, its gzip copy, and damaged copies made from it.

mod common;

use std::path::{Path, PathBuf};

use common::{gzip, noise, read_path, scratch, write};
use leitstelle_event::Raw;
use leitstelle_readers::{Compression, FileJob, FileKind, Location, ReadErrorKind, ReadOptions};

const CHUNK: usize = 65536;
const HEADER: usize = 4096;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx")
}

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(fixture()).expect("fixture present")
}

const EXPECTED: &[&str] = &[
    "#1 windows-evtx windows/sysmon/process_creation 2019-08-30T12:54:08.171875500Z tree",
    "#2 windows-evtx windows/sysmon/image_load 2019-08-30T12:54:08.257123100Z tree",
    "#3 windows-evtx windows/sysmon/image_load 2019-08-30T12:54:08.354049500Z tree",
    "#4 windows-evtx windows/sysmon/process_creation 2019-08-30T12:54:08.396724200Z tree",
    "#5 windows-evtx windows/sysmon/file_event 2019-08-30T12:54:08.439957200Z tree",
    "#6 windows-evtx windows/sysmon/process_access 2019-08-30T12:54:08.439957200Z tree",
];

#[test]
fn reads_every_record_of_a_real_file() {
    let got = read_path(&fixture(), &ReadOptions::default());
    assert_eq!(got.lines, EXPECTED);
    let s = got.stats;
    assert_eq!((s.records, s.events, s.errors, s.bytes), (6, 6, 0, 69632));
    let first = &got.events[0];
    assert!(matches!(first.raw, Raw::Tree));
    assert_eq!(first.data["Event"]["System"]["EventID"], 1);
    assert_eq!(
        first.data["Event"]["System"]["Channel"],
        "Microsoft-Windows-Sysmon/Operational"
    );
    assert!(first.data["Event"]["EventData"]["CommandLine"].is_string());
    let origin = first.origin.source.as_deref().unwrap_or("");
    assert!(origin.ends_with("sysmon_10_1_memdump_comsvcs_minidump.evtx"));
}

#[test]
fn reads_gzip_compressed_evtx() {
    let dir = scratch("evtx-gzip");
    let path = write(&dir, "sysmon.evtx.gz", &gzip(&fixture_bytes()));
    let job = FileJob::detect(&path).expect("detect");
    assert_eq!(
        (job.kind, job.compression),
        (FileKind::Evtx, Compression::Gzip)
    );
    let got = read_path(&path, &ReadOptions::default());
    assert_eq!(got.lines, EXPECTED);
}

#[test]
fn truncated_file_keeps_the_records_before_the_cut() {
    let dir = scratch("evtx-truncated");
    let bytes = fixture_bytes();
    // Cut in the middle of the only chunk, after the fourth record.
    let mid = write(&dir, "mid.evtx", &bytes[..HEADER + 8000]);
    let got = read_path(&mid, &ReadOptions::default());
    let mut expected = vec![
        "! mid.evtx:chunk 0: invalid EVTX: file ends after 8000 of the chunk's 65536 bytes (truncated?); only its records before the cut are read",
    ];
    expected.extend(&EXPECTED[..4]);
    assert_eq!(got.lines, expected);
    // Cut inside the first record.
    let first = write(&dir, "first.evtx", &bytes[..HEADER + 600]);
    let got = read_path(&first, &ReadOptions::default());
    assert_eq!(
        got.lines,
        [
            "! first.evtx:chunk 0: invalid EVTX: file ends after 600 of the chunk's 65536 bytes (truncated?); only its records before the cut are read",
            "! first.evtx:record 1: invalid EVTX: Failed to parse record number 1: Failed to create record model, reason: unfinished element start",
        ]
    );
    // Cut inside the file header.
    let head = write(&dir, "head.evtx", &bytes[..1000]);
    let got = read_path(&head, &ReadOptions::default());
    assert_eq!(
        got.lines,
        [
            "! head.evtx: invalid EVTX: An error occurred while trying to deserialize evtx stream: failed to read EVTX file header block: failed to fill whole buffer"
        ]
    );
    // The same, compressed: the cut chunk is read through the gzip stream too.
    let gz = write(&dir, "mid.evtx.gz", &gzip(&bytes[..HEADER + 8000]));
    let got = read_path(&gz, &ReadOptions::default());
    assert_eq!(got.lines.len(), 5);
    assert_eq!(got.lines[1..], EXPECTED[..4]);
}

#[test]
fn random_bytes_after_the_magic_are_errors_not_a_crash() {
    let dir = scratch("evtx-random");
    let mut bytes = b"ElfFile\0".to_vec();
    bytes.extend(noise(HEADER + 3 * CHUNK - 8, 7));
    let path = write(&dir, "random.evtx", &bytes);
    let got = read_path(&path, &ReadOptions::default());
    assert_eq!(got.events.len(), 0);
    assert!(!got.errors.is_empty());
    for e in &got.errors {
        assert!(matches!(e.kind, ReadErrorKind::Evtx(_)), "{e}");
    }
}

#[test]
fn damaged_records_are_reported_and_the_rest_is_read() {
    let dir = scratch("evtx-damaged");
    let good = fixture_bytes();
    // Chunk header kept, records area replaced by noise.
    let mut bytes = good.clone();
    let start = HEADER + 512;
    bytes[start..].copy_from_slice(&noise(good.len() - start, 3));
    let path = write(&dir, "noise.evtx", &bytes);
    let got = read_path(&path, &ReadOptions::default());
    assert_eq!(got.events.len(), 0);
    assert!(!got.errors.is_empty());

    // Bytes flipped here and there: every record is an event or an error, nothing panics.
    for seed in 1..=24u64 {
        let mut bytes = good.clone();
        let flips = noise(16, seed);
        for pair in flips.chunks(2) {
            let at = HEADER + 512 + (usize::from(pair[0]) << 6 | usize::from(pair[1])) % 12_000;
            bytes[at] ^= 0x5a;
        }
        let path = write(&dir, &format!("flip-{seed}.evtx"), &bytes);
        let got = read_path(&path, &ReadOptions::default());
        let s = got.stats;
        assert!(s.events + s.errors > 0, "seed {seed}: {s:?}");
        for e in &got.errors {
            assert!(
                !matches!(e.kind, ReadErrorKind::Panic(_)),
                "seed {seed}: the evtx parser panicked: {e}"
            );
            assert!(!matches!(e.location, Location::Line(_)), "{e}");
        }
    }
}
