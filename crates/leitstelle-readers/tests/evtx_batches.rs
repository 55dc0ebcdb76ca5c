//! EVTX split into chunk batches (`evtx_batches` + `read_evtx_batch`) against the sequential
//! reader (`read_file`), the reference: same events (tree, time, record id, origin, profile,
//! logsource), same errors, same counters, on the fixture and on files built from it
//! (several chunks, a damaged chunk in the middle, an empty one, truncated ends), and on the
//! EVTX-ATTACK-SAMPLES in `../shared/data` (skipped loudly when absent).

mod common;

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use common::{Read, gzip, noise, read_job, read_path, render_error, render_event, scratch, write};
use leitstelle_profile::ProfileSet;
use leitstelle_readers::{
    Compression, FileJob, FileKind, FileStats, Item, ReadOptions, evtx_batches, read_evtx_batch,
};

const CHUNK: usize = 65536;
const HEADER: usize = 4096;

fn fixture_bytes() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx"),
    )
    .expect("fixture present")
}

/// The fixture's file header followed by `chunks`.
fn evtx(chunks: &[Vec<u8>]) -> Vec<u8> {
    let good = fixture_bytes();
    let mut bytes = good[..HEADER].to_vec();
    for c in chunks {
        assert_eq!(c.len(), CHUNK);
        bytes.extend_from_slice(c);
    }
    bytes
}

/// The fixture's only chunk, and variants of it.
fn chunk() -> Vec<u8> {
    fixture_bytes()[HEADER..HEADER + CHUNK].to_vec()
}

fn bad_magic() -> Vec<u8> {
    let mut c = chunk();
    c[..8].copy_from_slice(b"NotChnk\0");
    c
}

/// Noise inside the last record: that record is an error, the others are read.
fn noisy_record() -> Vec<u8> {
    let mut c = chunk();
    c[512 + 10_000..512 + 10_064].copy_from_slice(&noise(64, 5));
    c
}

/// Noise in the string table: the whole chunk is an error.
fn noisy_strings() -> Vec<u8> {
    let mut c = chunk();
    c[512 + 1500..512 + 1564].copy_from_slice(&noise(64, 5));
    c
}

/// Reads `job` batch by batch, in order, as one stream.
fn read_batches(job: &FileJob, batch_chunks: usize) -> Read {
    let profiles = ProfileSet::builtin();
    let mut got = Read {
        events: vec![],
        errors: vec![],
        lines: vec![],
        stats: FileStats::default(),
    };
    let batches = evtx_batches(job, batch_chunks).expect("an uncompressed EVTX job");
    for batch in batches {
        assert!(batch.chunks() <= batch_chunks.max(1), "{batch:?}");
        let stats = read_evtx_batch(batch, &ReadOptions::default(), &profiles, &mut |item| {
            match item {
                Item::Event(e) => {
                    got.lines.push(render_event(&profiles, &e));
                    got.events.push(e);
                }
                Item::Error(e) => {
                    got.lines.push(render_error(&e));
                    got.errors.push(e);
                }
            }
            ControlFlow::Continue(())
        });
        let s = &mut got.stats;
        s.records += stats.records;
        s.events += stats.events;
        s.errors += stats.errors;
        s.bytes += stats.bytes;
        s.stopped |= stats.stopped;
    }
    got
}

/// Reads the batches on one thread each and returns the rendered items, sorted.
fn read_batches_on_threads(job: &FileJob, batch_chunks: usize) -> Vec<String> {
    let profiles = ProfileSet::builtin();
    let batches: Vec<_> = evtx_batches(job, batch_chunks)
        .expect("an uncompressed EVTX job")
        .collect();
    let mut lines: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|batch| {
                let profiles = &profiles;
                s.spawn(move || {
                    let mut lines = Vec::new();
                    read_evtx_batch(batch, &ReadOptions::default(), profiles, &mut |item| {
                        lines.push(match item {
                            Item::Event(e) => render_event(profiles, &e),
                            Item::Error(e) => render_error(&e),
                        });
                        ControlFlow::Continue(())
                    });
                    lines
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("no panic"))
            .collect()
    });
    lines.sort();
    lines
}

/// The batch path gives what `read_file` gives, for every batch size; returns the
/// reference's rendering.
fn check_same(job: &FileJob) -> Vec<String> {
    check_same_in(job, &[0, 1, 2, 3, 100])
}

fn check_same_in(job: &FileJob, batch_sizes: &[usize]) -> Vec<String> {
    let want = read_job(job, &ReadOptions::default());
    for &batch_chunks in batch_sizes {
        let got = read_batches(job, batch_chunks);
        let at = format!("{} in batches of {batch_chunks}", job.path.display());
        assert_eq!(got.lines, want.lines, "{at}");
        assert_eq!(got.stats, want.stats, "{at}");
        assert_eq!(got.events.len(), want.events.len(), "{at}");
        for (g, w) in got.events.iter().zip(&want.events) {
            assert_eq!(g.data, w.data, "{at}");
            assert_eq!(g.timestamp, w.timestamp, "{at}");
            assert_eq!(g.origin, w.origin, "{at}");
            assert_eq!(
                (g.profile, &g.logsource, g.source),
                (w.profile, &w.logsource, w.source),
                "{at}"
            );
            assert_eq!(g.tenant, w.tenant, "{at}");
        }
        for (g, w) in got.errors.iter().zip(&want.errors) {
            assert_eq!(
                (g.to_string(), g.location, &g.path),
                (w.to_string(), w.location, &w.path),
                "{at}"
            );
        }
        let mut sorted = want.lines.clone();
        sorted.sort();
        assert_eq!(read_batches_on_threads(job, batch_chunks), sorted, "{at}");
    }
    want.lines
}

fn job(path: &Path) -> FileJob {
    FileJob::detect(path).expect("detect")
}

#[test]
fn batches_of_the_fixture_are_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx");
    let lines = check_same(&job(&path));
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l.starts_with('#')));
}

#[test]
fn batches_of_a_file_with_damaged_chunks_in_the_middle() {
    let dir = scratch("evtx-batches-damaged");
    let chunks = [
        chunk(),
        bad_magic(),
        chunk(),
        noisy_record(),
        vec![0u8; CHUNK],
        noisy_strings(),
        chunk(),
    ];
    let path = write(&dir, "damaged.evtx", &evtx(&chunks));
    let lines = check_same(&job(&path));
    let errors: Vec<_> = lines.iter().filter(|l| l.starts_with('!')).collect();
    assert_eq!(
        errors,
        [
            "! damaged.evtx:chunk 1: invalid EVTX: Failed to parse chunk number 1: Failed to parse chunk header: Invalid EVTX chunk header magic, expected `ElfChnk0`, found `[4E, 6F, 74, 43, 68, 6E, 6B,  0]`",
            "! damaged.evtx:record 6: invalid EVTX: Failed to parse record number 6: An error occurred while trying to deserialize evtx stream: Offset 0x0000293e: Tried to read an invalid byte `0xfa` as binxml token",
            "! damaged.evtx:chunk 5: invalid EVTX: Failed to parse chunk number 5: Failed to build string cache: next xml string at offset 80607748 is past the end of the data (65536 bytes)",
        ]
    );
    // Three good chunks of six records, five of the noisy one; the empty chunk is skipped.
    assert_eq!(lines.len() - errors.len(), 3 * 6 + 5);
}

#[test]
fn batches_of_truncated_files() {
    let dir = scratch("evtx-batches-truncated");
    let one = fixture_bytes();
    let many = evtx(&[chunk(), noisy_record(), chunk()]);
    let cases: [(&str, &[u8]); 6] = [
        // In the middle of the only chunk, inside its first record, inside the file header.
        ("mid.evtx", &one[..HEADER + 8000]),
        ("first.evtx", &one[..HEADER + 600]),
        ("head.evtx", &one[..1000]),
        // After whole chunks: a cut chunk with its header, and a stub without one.
        ("many-mid.evtx", &[&many[..], &chunk()[..8000]].concat()),
        ("many-stub.evtx", &[&many[..], &chunk()[..300]].concat()),
        ("header-only.evtx", &one[..HEADER]),
    ];
    for (name, bytes) in cases {
        let path = write(&dir, name, bytes);
        let lines = check_same(&job(&path));
        if name != "header-only.evtx" {
            assert!(
                lines.iter().any(|l| l.starts_with('!')),
                "{name}: {lines:#?}"
            );
        }
    }
}

#[test]
fn batches_of_a_file_that_cannot_be_opened() {
    let job = FileJob {
        path: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-file.evtx"),
        kind: FileKind::Evtx,
        compression: Compression::None,
        size: 1 << 20,
    };
    let lines = check_same(&job);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("cannot read"), "{lines:?}");
}

#[test]
fn batches_are_bounded_and_add_up_to_the_file() {
    let dir = scratch("evtx-batches-bounded");
    let chunks: Vec<_> = (0..10).map(|_| chunk()).collect();
    let bytes = evtx(&chunks);
    let path = write(&dir, "ten.evtx", &bytes);
    let job = job(&path);
    let batches: Vec<_> = evtx_batches(&job, 3).expect("evtx").collect();
    let sizes: Vec<_> = batches.iter().map(|b| b.chunks()).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    let total: u64 = batches.iter().map(|b| b.bytes()).sum();
    assert_eq!(total, bytes.len() as u64);
    assert_eq!(total, job.size);
}

#[test]
fn only_uncompressed_evtx_is_split() {
    let dir = scratch("evtx-batches-kinds");
    let gz = write(&dir, "a.evtx.gz", &gzip(&fixture_bytes()));
    let json = write(&dir, "a.json", b"{\"a\": 1}\n");
    assert!(evtx_batches(&job(&gz), 4).is_none());
    assert!(evtx_batches(&job(&json), 4).is_none());
    let got = read_path(&gz, &ReadOptions::default());
    assert_eq!(got.stats.events, 6);
}

#[test]
fn batches_of_every_attack_sample_are_the_file() {
    let base = std::env::var_os("LEITSTELLE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("evtx-attack-samples");
    if !dir.is_dir() {
        // Straight to stderr, not through the test harness's capture: a skip is
        // visible in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {} is absent; this test needs the shared test data",
            dir.display()
        );
        return;
    }
    let (jobs, errors) = leitstelle_readers::discover(&[dir]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut files = 0;
    for job in jobs.iter().filter(|j| j.kind == FileKind::Evtx) {
        if job.compression == Compression::None {
            check_same_in(job, &[1, 4]);
            files += 1;
        }
    }
    assert!(files > 200, "{files} files");
}
