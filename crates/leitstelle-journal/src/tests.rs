//! Tests of the journal. `crash` re-executes this test binary as a writer and kills it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::*;

mod crash;

/// Test-only hooks in the writer: a gate that holds it just before fsync, and an injected
/// fsync failure.
#[derive(Default)]
pub(crate) struct Hooks {
    gate: Mutex<Gate>,
    cv: Condvar,
    fail_next_sync: AtomicBool,
}

#[derive(Default)]
struct Gate {
    closed: bool,
    waiting: bool,
}

impl Hooks {
    pub(crate) fn before_sync(&self) -> io::Result<()> {
        let mut g = lock(&self.gate);
        while g.closed {
            g.waiting = true;
            self.cv.notify_all();
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.waiting = false;
        drop(g);
        if self.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        Ok(())
    }

    fn close_gate(&self) {
        lock(&self.gate).closed = true;
    }

    fn open_gate(&self) {
        lock(&self.gate).closed = false;
        self.cv.notify_all();
    }

    /// Waits until the writer has written a group and is held at the gate.
    fn wait_blocked(&self) {
        let mut g = lock(&self.gate);
        while !g.waiting {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn opts(segment_bytes: u64) -> JournalOptions {
    JournalOptions {
        segment_bytes,
        ..JournalOptions::default()
    }
}

fn open(dir: &Path, o: &JournalOptions) -> (Journal, RecoveryReport) {
    Journal::open(dir, o.clone()).expect("open journal")
}

/// A payload that says which record it is: `tag` then bytes derived from it.
fn payload(tag: u64, len: usize) -> Vec<u8> {
    let mut v = tag.to_le_bytes().to_vec();
    v.extend((0..len).map(|i| ((i as u64 ^ tag).wrapping_mul(0x9e37_79b9) >> 7) as u8));
    v
}

fn read_all(j: &Journal, from: u64) -> Vec<(u64, Vec<u8>)> {
    j.reader(from)
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("read records")
}

fn seqs(records: &[(u64, Vec<u8>)]) -> Vec<u64> {
    records.iter().map(|r| r.0).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// `(offset, payload length)` of every frame of a segment, walking the length fields.
fn frames(path: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN as usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        out.push((at as u64, u64::from(len)));
        at += 8 + len as usize;
    }
    out
}

fn append_file(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(bytes).expect("append");
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize] ^= 0x55;
    fs::write(path, bytes).expect("write");
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Journal>();
    send_sync::<JournalError>();
    send::<Reader>();
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, report) = open(dir.path(), &JournalOptions::default());
    assert!(report.is_clean());
    assert_eq!(
        (report.next_seq, report.segments, report.records),
        (1, 1, 0)
    );
    assert_eq!((j.durable_seq(), j.next_seq()), (0, 1));
    assert!(read_all(&j, 1).is_empty());

    let batch = vec![b"alpha".to_vec(), Vec::new(), vec![0u8, 255, 0, 10, 13]];
    assert_eq!(j.append_wait(batch.clone()).expect("append"), 1..4);
    assert_eq!(j.append_wait(vec![payload(4, 3000)]).expect("append"), 4..5);
    assert_eq!(j.append_wait(Vec::new()).expect("empty batch"), 5..5);
    assert_eq!((j.durable_seq(), j.next_seq()), (4, 5));

    let all = read_all(&j, 0);
    assert_eq!(seqs(&all), [1, 2, 3, 4]);
    assert_eq!(all[0].1, b"alpha");
    assert_eq!(all[1].1, b"");
    assert_eq!(all[2].1, batch[2]);
    assert_eq!(all[3].1, payload(4, 3000));
    assert_eq!(seqs(&read_all(&j, 3)), [3, 4]);
    assert!(read_all(&j, 5).is_empty());
    assert!(read_all(&j, 1000).is_empty());
    assert_eq!(j.reader(1).expect("reader").end_seq(), 5);

    let s = j.stats();
    assert_eq!((s.durable_seq, s.next_seq, s.segments), (4, 5, 1));
    assert_eq!(s.records_appended, 4);
    assert_eq!(s.batches, 2);
    assert_eq!(s.bytes_appended, 5 + 5 + 3008 + 4 * 8);
    assert_eq!(s.bytes_on_disk, SEGMENT_HEADER_LEN + s.bytes_appended);
    assert!(s.fsyncs >= 2 && !s.poisoned);
    j.close().expect("close");
    assert_eq!(
        fs::metadata(dir.path().join(segment_file_name(1)))
            .expect("segment")
            .len(),
        s.bytes_on_disk
    );
}

#[test]
fn reopen_continues_the_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = JournalOptions::default();
    {
        let (j, _) = open(dir.path(), &o);
        for i in 1..=10 {
            assert_eq!(
                j.append_wait(vec![payload(i, 10)]).expect("append"),
                i..i + 1
            );
        }
    }
    let (j, report) = open(dir.path(), &o);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (report.records, report.first_seq, report.next_seq),
        (10, 1, 11)
    );
    assert_eq!(j.durable_seq(), 10);
    assert_eq!(
        j.append_wait(vec![payload(11, 10)]).expect("append"),
        11..12
    );
    let all = read_all(&j, 1);
    assert_eq!(seqs(&all), (1..=11).collect::<Vec<_>>());
    for (seq, p) in all {
        assert_eq!(p, payload(seq, 10));
    }
}

#[test]
fn concurrent_appends_are_grouped_and_all_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments, so that groups also cross segment boundaries.
    let (j, _) = open(dir.path(), &opts(64 * 1024));
    let j = Arc::new(j);
    const THREADS: u64 = 8;
    const BATCHES: u64 = 150;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut ranges = Vec::new();
                for b in 0..BATCHES {
                    let n = 1 + (t + b) % 5;
                    let tags: Vec<u64> = (0..n).map(|k| (t << 32) | (b << 8) | k).collect();
                    let batch = tags
                        .iter()
                        .map(|&tag| payload(tag, 100 + (tag % 300) as usize));
                    let range = j.append_wait(batch.collect()).expect("append");
                    assert_eq!(range.end - range.start, n);
                    ranges.push((range, tags));
                }
                ranges
            })
        })
        .collect();
    let mut ranges: Vec<(Range<u64>, Vec<u64>)> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("appender thread"))
        .collect();
    ranges.sort_by_key(|r| r.0.start);
    // Ranges tile 1..=total without overlap.
    let mut next = 1;
    for (r, _) in &ranges {
        assert_eq!(r.start, next);
        next = r.end;
    }
    assert_eq!(j.durable_seq(), next - 1);

    let all = read_all(&j, 1);
    assert_eq!(all.len() as u64, next - 1);
    let mut it = all.iter();
    for (r, tags) in &ranges {
        for (seq, &tag) in r.clone().zip(tags) {
            let (s, p) = it.next().expect("record");
            assert_eq!(*s, seq);
            assert_eq!(*p, payload(tag, 100 + (tag % 300) as usize));
        }
    }

    let s = j.stats();
    assert_eq!(s.batches, THREADS * BATCHES);
    assert!(
        s.groups < s.batches && s.largest_group_records > 1,
        "no group commit: {s:?}"
    );
    assert!(s.fsyncs < s.batches, "one fsync per batch: {s:?}");
    assert!(s.segments > 3, "{s:?}");
    drop(all);

    // All of it survives a reopen.
    drop(j);
    let (j, report) = open(dir.path(), &opts(64 * 1024));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.records, next - 1);
    assert_eq!(read_all(&j, 1).len() as u64, next - 1);
}

/// What a torn or damaged tail looks like, and what recovery reports for it.
#[test]
fn torn_tail_is_truncated() {
    let mut frame_len_only = Vec::new();
    frame_len_only.extend_from_slice(&100u32.to_le_bytes());
    frame_len_only.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    frame_len_only.extend_from_slice(&[7u8; 40]); // 40 of 100 payload bytes
    let mut bad_crc = Vec::new();
    bad_crc.extend_from_slice(&5u32.to_le_bytes());
    bad_crc.extend_from_slice(&0x1234_5678_u32.to_le_bytes());
    bad_crc.extend_from_slice(b"hello");
    let mut huge = Vec::new();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let garbage: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>, Damage)> = vec![
        ("partial frame header", vec![9, 0, 0], Damage::PartialFrame),
        ("partial payload", frame_len_only, Damage::PartialFrame),
        ("bad checksum", bad_crc, Damage::BadChecksum),
        ("zero fill", vec![0u8; 4096], Damage::ZeroFilled),
        (
            "length over max_record_bytes",
            huge,
            Damage::LengthTooLarge { len: u32::MAX },
        ),
        (
            "garbage",
            garbage,
            Damage::LengthTooLarge { len: 0x4d34_1b02 },
        ),
    ];
    for (name, tail, damage) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = JournalOptions::default();
        {
            let (j, _) = open(dir.path(), &o);
            j.append_wait((1..=5).map(|i| payload(i, 50)).collect())
                .expect("append");
        }
        let seg = dir.path().join(segment_file_name(1));
        let good_len = fs::metadata(&seg).expect("stat").len();
        append_file(&seg, &tail);

        let (j, report) = open(dir.path(), &o);
        let t = report
            .truncated_tail
            .clone()
            .unwrap_or_else(|| panic!("{name}: no truncation"));
        assert_eq!(t.offset, good_len, "{name}");
        assert_eq!(t.bytes_dropped, tail.len() as u64, "{name}");
        assert_eq!(t.records_kept, 5, "{name}");
        if name == "garbage" {
            // Whatever the first garbage frame looks like, it is damage, not a record.
            assert!(!matches!(t.damage, Damage::ZeroFilled), "{name}");
        } else {
            assert_eq!(t.damage, damage, "{name}");
        }
        assert!(
            !report.is_clean() && report.damaged_segments.is_empty(),
            "{name}"
        );
        assert_eq!(fs::metadata(&seg).expect("stat").len(), good_len, "{name}");
        assert_eq!(seqs(&read_all(&j, 1)), [1, 2, 3, 4, 5], "{name}");
        assert_eq!(
            j.append_wait(vec![payload(6, 50)]).expect("append"),
            6..7,
            "{name}"
        );
        drop(j);
        let (j, report) = open(dir.path(), &o);
        assert!(report.is_clean(), "{name}: {report:?}");
        let all = read_all(&j, 1);
        assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6], "{name}");
        assert_eq!(all[5].1, payload(6, 50), "{name}");
    }
}

#[test]
fn damage_in_an_older_segment_is_reported_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 32-byte header + 10 frames of 8 + 8 + 92 bytes = 1112: ten records per segment.
    let o = opts(1112);
    {
        let (j, _) = open(dir.path(), &o);
        for i in 1..=30 {
            j.append_wait(vec![payload(i, 92)]).expect("append");
        }
    }
    let files = segment_files(dir.path());
    assert_eq!(
        files,
        [1, 11, 21].map(|s| dir.path().join(segment_file_name(s)))
    );
    // Flip a payload byte of seq 5, the fifth record of the first segment.
    let (offset, _) = frames(&files[0])[4];
    flip_byte(&files[0], offset + 20);

    let (j, report) = open(dir.path(), &o);
    assert_eq!(
        report.damaged_segments,
        [DamagedSegment {
            path: files[0].clone(),
            offset,
            damage: Damage::BadChecksum,
            records_kept: 4,
            records_lost: 6,
        }]
    );
    assert_eq!(report.gaps, [Range { start: 5, end: 11 }]);
    assert!(report.truncated_tail.is_none());
    assert_eq!((report.records, report.next_seq), (24, 31));
    let all = read_all(&j, 1);
    let expected: Vec<u64> = (1..=4).chain(11..=30).collect();
    assert_eq!(seqs(&all), expected);
    for (seq, p) in &all {
        assert_eq!(*p, payload(*seq, 92));
    }
    assert_eq!(seqs(&read_all(&j, 6)), (11..=30).collect::<Vec<_>>());

    // Damage that appears while the journal is open is met by the reader: one error for the
    // segment, then the next segment.
    let (offset, _) = frames(&files[1])[2];
    flip_byte(&files[1], offset + 9);
    let results: Vec<_> = j.reader(1).expect("reader").collect();
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(errors[0], JournalError::Corrupt { path, offset: o, damage: Damage::BadChecksum } if *path == files[1] && *o == offset),
        "{errors:?}"
    );
    let ok: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.0))
        .collect();
    let expected: Vec<u64> = (1..=4).chain(11..=12).chain(21..=30).collect();
    assert_eq!(ok, expected);
    // Appending goes on.
    assert_eq!(
        j.append_wait(vec![payload(31, 92)]).expect("append"),
        31..32
    );
}

#[test]
fn segments_rotate_and_readers_start_anywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(200 * 1024);
    let (j, _) = open(dir.path(), &o);
    // 3000 records of 1 KiB in batches of 1..=20.
    let mut seq = 1;
    while seq <= 3000 {
        let n = (1 + seq % 20).min(3001 - seq);
        let r = j
            .append_wait((seq..seq + n).map(|s| payload(s, 1016)).collect())
            .expect("append");
        assert_eq!(r, seq..seq + n);
        seq += n;
    }
    // A record larger than a segment gets one of its own.
    let big = payload(3001, 300 * 1024);
    assert_eq!(
        j.append_wait(vec![big.clone()]).expect("append"),
        3001..3002
    );
    assert_eq!(
        j.append_wait(vec![payload(3002, 1016)]).expect("append"),
        3002..3003
    );

    let files = segment_files(dir.path());
    assert!(files.len() >= 16, "{}", files.len());
    let mut expected_first = 1;
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("name");
        let first: u64 = name.trim_end_matches(".wal").parse().expect("seq name");
        assert_eq!(first, expected_first, "{name}");
        let n = frames(f).len() as u64;
        let len = fs::metadata(f).expect("stat").len();
        assert!(
            len <= o.segment_bytes || n == 1,
            "{name}: {len} bytes, {n} records"
        );
        expected_first += n;
    }
    assert_eq!(expected_first, 3003);

    for from in [1, 2, 199, 200, 201, 1500, 2999, 3000, 3001, 3002] {
        let mut r = j.reader(from).expect("reader");
        let (s, p) = r.next().expect("record").expect("readable");
        assert_eq!(s, from);
        if from == 3001 {
            assert_eq!(p, big);
        } else {
            assert_eq!(p, payload(from, 1016));
        }
        assert_eq!(r.count() as u64, 3002 - from);
    }
    let s = j.stats();
    assert_eq!(s.segments, files.len());
    drop(j);
    let (j, report) = open(dir.path(), &o);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.segments, files.len());
    assert_eq!(seqs(&read_all(&j, 1500)), (1500..=3002).collect::<Vec<_>>());
}

#[test]
fn cursors_persist_and_trim_removes_only_consumed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(1112); // ten records of 92 bytes per segment
    let (j, _) = open(dir.path(), &o);
    for i in 1..=45 {
        j.append_wait(vec![payload(i, 92)]).expect("append");
    }
    assert_eq!(segment_files(dir.path()).len(), 5); // 1, 11, 21, 31, 41 (active)

    // No cursor: nothing goes.
    let t = j.trim().expect("trim");
    assert_eq!((t.min_cursor, t.segments_removed), (None, 0));

    // Segment [1, 11) is consumed once a cursor reaches 11, not before.
    j.set_cursor("store", 10).expect("cursor");
    assert_eq!(j.trim().expect("trim").segments_removed, 0);
    j.set_cursor("store", 25).expect("cursor");
    j.set_cursor("detect", 11).expect("cursor");
    let t = j.trim().expect("trim");
    assert_eq!(
        (t.min_cursor, t.segments_removed, t.first_seq),
        (Some(11), 1, 11)
    );
    assert_eq!(t.bytes_removed, 1112);
    assert_eq!(j.cursor("store"), Some(25));
    assert_eq!(j.cursor("nobody"), None);
    assert_eq!(
        j.cursors().into_iter().collect::<Vec<_>>(),
        [("detect".to_string(), 11), ("store".to_string(), 25)]
    );

    // Errors: past the durable end, bad names.
    assert!(matches!(
        j.set_cursor("store", 47),
        Err(JournalError::CursorBeyondDurable {
            next: 47,
            durable: 45,
            ..
        })
    ));
    for bad in ["", "a/b", "x.cursor", "trailing "] {
        assert!(matches!(
            j.set_cursor(bad, 1),
            Err(JournalError::InvalidCursorName(_))
        ));
    }
    drop(j);

    // Cursors survive a reopen; reading from a trimmed position starts at what is left.
    let (j, report) = open(dir.path(), &o);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.first_seq, 11);
    assert_eq!(j.cursor("store"), Some(25));
    assert_eq!(j.cursor("detect"), Some(11));
    assert_eq!(read_all(&j, 1).first().map(|r| r.0), Some(11));

    // The slowest consumer holds trim back; removing it lets trim go as far as the others.
    assert_eq!(j.trim().expect("trim").segments_removed, 0);
    assert!(j.remove_cursor("detect").expect("remove"));
    assert!(!j.remove_cursor("detect").expect("remove again"));
    let t = j.trim().expect("trim");
    assert_eq!((t.segments_removed, t.first_seq), (1, 21)); // [21, 31) still holds 25..

    // Everything consumed: all but the active segment go.
    j.set_cursor("store", 46).expect("cursor");
    let t = j.trim().expect("trim");
    assert_eq!((t.segments_removed, t.first_seq), (2, 41));
    assert_eq!(
        segment_files(dir.path()),
        [dir.path().join(segment_file_name(41))]
    );
    assert_eq!(seqs(&read_all(&j, 1)), (41..=45).collect::<Vec<_>>());
    drop(j);
    let (j, report) = open(dir.path(), &o);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.first_seq, report.next_seq), (41, 46));
    assert_eq!(
        j.append_wait(vec![payload(46, 92)]).expect("append"),
        46..47
    );
}

#[test]
fn readers_never_see_records_that_are_not_fsynced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(dir.path(), &JournalOptions::default());
    j.append_wait(vec![payload(1, 100)]).expect("append");
    let seg = dir.path().join(segment_file_name(1));
    let synced_len = fs::metadata(&seg).expect("stat").len();

    j.inner.hooks.close_gate();
    let (tx, rx) = mpsc::channel();
    j.append(vec![payload(2, 100), payload(3, 100)], move |r| {
        let _ = tx.send(r);
    });
    // The writer has written the group to the file and waits before its fsync.
    j.inner.hooks.wait_blocked();
    assert!(fs::metadata(&seg).expect("stat").len() > synced_len);
    assert!(rx.try_recv().is_err(), "acknowledged before fsync");
    assert_eq!(j.durable_seq(), 1);
    assert_eq!(j.next_seq(), 4);
    assert_eq!(seqs(&read_all(&j, 1)), [1]);
    assert!(read_all(&j, 2).is_empty());
    assert_eq!(j.wait_durable(2, Duration::from_millis(20)), 1);

    j.inner.hooks.open_gate();
    assert_eq!(rx.recv().expect("callback").expect("durable"), 2..4);
    assert_eq!(j.wait_durable(3, Duration::from_secs(10)), 3);
    assert_eq!(seqs(&read_all(&j, 1)), [1, 2, 3]);
}

#[test]
fn oversized_records_and_bad_options_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = JournalOptions {
        max_record_bytes: 1024,
        ..JournalOptions::default()
    };
    let (j, _) = open(dir.path(), &o);
    let batch = vec![vec![1u8; 10], vec![2u8; 1025], vec![3u8; 10]];
    match j.append_wait(batch) {
        Err(JournalError::RecordTooLarge {
            len: 1025,
            max: 1024,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!((j.next_seq(), j.durable_seq()), (1, 0));
    assert_eq!(j.append_wait(vec![vec![4u8; 1024]]).expect("append"), 1..2);
    assert_eq!(read_all(&j, 1), [(1, vec![4u8; 1024])]);

    for bad in [
        JournalOptions {
            segment_bytes: 10,
            ..JournalOptions::default()
        },
        JournalOptions {
            max_record_bytes: 0,
            ..JournalOptions::default()
        },
        JournalOptions {
            group_max_bytes: 0,
            ..JournalOptions::default()
        },
        JournalOptions {
            max_pending_bytes: 0,
            ..JournalOptions::default()
        },
    ] {
        let other = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            Journal::open(other.path(), bad),
            Err(JournalError::InvalidOptions(_))
        ));
    }
}

#[test]
fn an_fsync_failure_fails_the_group_and_poisons_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = JournalOptions::default();
    let (j, _) = open(dir.path(), &o);
    j.append_wait(vec![payload(1, 10)]).expect("append");

    let results = Arc::new(Mutex::new(Vec::new()));
    let record = |name: &'static str| {
        let results = results.clone();
        move |r: Result<Range<u64>, JournalError>| lock(&results).push((name, r))
    };
    j.inner.hooks.close_gate();
    j.append(vec![payload(2, 10)], record("a"));
    j.inner.hooks.wait_blocked(); // "a" is being written
    j.append(vec![payload(3, 10)], record("b")); // queued behind it
    j.inner.hooks.fail_next_sync.store(true, Ordering::SeqCst);
    j.inner.hooks.open_gate();
    j.wait_durable(u64::MAX, Duration::from_secs(10)); // returns when the writer stops

    let results = lock(&results).clone();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        matches!(
            &results[0],
            ("a", Err(JournalError::Io { op: "fsync", .. }))
        ),
        "{results:?}"
    );
    assert!(
        matches!(&results[1], ("b", Err(JournalError::Poisoned(_)))),
        "{results:?}"
    );
    assert!(matches!(
        j.append_wait(vec![payload(4, 10)]),
        Err(JournalError::Poisoned(_))
    ));
    assert!(j.stats().poisoned);
    assert_eq!(j.durable_seq(), 1);
    assert_eq!(seqs(&read_all(&j, 1)), [1]);
    assert!(matches!(j.close(), Err(JournalError::Poisoned(_))));
    drop(j);

    // Reopening reads what is on disk. The failed group's bytes reached the file (only the
    // fsync "failed"), so record 2 is back: an error means "not known to be durable".
    let (j, report) = open(dir.path(), &o);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(seqs(&read_all(&j, 1)), [1, 2]);
    assert_eq!(j.append_wait(vec![payload(3, 10)]).expect("append"), 3..4);
}

#[test]
fn close_flushes_pending_appends_and_later_appends_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(dir.path(), &JournalOptions::default());
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..200 {
        let ok = ok.clone();
        j.append(vec![payload(i, 500)], move |r| {
            if r.is_ok() {
                ok.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    j.close().expect("close");
    assert_eq!(ok.load(Ordering::SeqCst), 200);
    assert!(matches!(
        j.append_wait(vec![b"late".to_vec()]),
        Err(JournalError::Closed)
    ));
    j.close().expect("close twice");
    drop(j);
    let (j, _) = open(dir.path(), &JournalOptions::default());
    assert_eq!(j.durable_seq(), 200);
}

#[test]
fn a_panicking_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(dir.path(), &JournalOptions::default());
    j.append(vec![b"x".to_vec()], |_| {
        panic!("callback panics (expected in this test)")
    });
    assert_eq!(j.append_wait(vec![b"y".to_vec()]).expect("append"), 2..3);
}

#[test]
fn appenders_wait_while_the_queue_is_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = JournalOptions {
        max_pending_bytes: 1000,
        ..JournalOptions::default()
    };
    let (j, _) = open(dir.path(), &o);
    let j = Arc::new(j);
    j.inner.hooks.close_gate();
    j.append(vec![vec![0u8; 600]], |_| {});
    j.inner.hooks.wait_blocked(); // the writer holds batch 1; the queue is empty
    j.append(vec![vec![1u8; 600]], |_| {}); // queued: 608 bytes
    let j2 = j.clone();
    let blocked = std::thread::spawn(move || j2.append_wait(vec![vec![2u8; 600]]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(j.next_seq(), 3, "third batch should wait for room");
    assert_eq!(j.stats().pending_bytes, 608);
    j.inner.hooks.open_gate();
    assert_eq!(blocked.join().expect("thread").expect("append"), 3..4);
    assert_eq!(j.durable_seq(), 3);
}

#[test]
fn a_directory_is_opened_by_one_journal_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (j, _) = open(dir.path(), &JournalOptions::default());
    let started = Instant::now();
    let quick = JournalOptions {
        lock_wait: Duration::from_millis(50),
        ..JournalOptions::default()
    };
    assert!(matches!(
        Journal::open(dir.path(), quick),
        Err(JournalError::Locked { .. })
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "gave up before lock_wait"
    );
    drop(j);
    let (_j, _) = open(dir.path(), &JournalOptions::default());
}

#[test]
fn bad_headers_and_overlaps_refuse_to_open_gaps_are_reported() {
    let o = opts(1112);
    let setup = || {
        let dir = tempfile::tempdir().expect("tempdir");
        let (j, _) = open(dir.path(), &o);
        for i in 1..=25 {
            j.append_wait(vec![payload(i, 92)]).expect("append");
        }
        drop(j);
        dir
    };
    let seg = |dir: &Path, first: u64| dir.join(segment_file_name(first));

    // Garbled header.
    let dir = setup();
    flip_byte(&seg(dir.path(), 11), 3);
    match Journal::open(dir.path(), o.clone()) {
        Err(JournalError::BadHeader { path, reason }) => {
            assert_eq!(path, seg(dir.path(), 11));
            assert!(reason.contains("magic"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // A file named like a segment but shorter than a header.
    let dir = setup();
    fs::write(seg(dir.path(), 100), b"LTJ").expect("write");
    assert!(matches!(
        Journal::open(dir.path(), o.clone()),
        Err(JournalError::BadHeader { .. })
    ));

    // Header and name disagree.
    let dir = setup();
    fs::rename(seg(dir.path(), 21), seg(dir.path(), 22)).expect("rename");
    match Journal::open(dir.path(), o.clone()) {
        Err(JournalError::BadHeader { reason, .. }) => {
            assert!(reason.contains("header says first seq 21"), "{reason}")
        }
        other => panic!("{other:?}"),
    }

    // Two histories mixed: a first segment holding 1..=12 (from another journal with larger
    // segments) before a segment that starts at 11.
    let dir = setup();
    let other = tempfile::tempdir().expect("tempdir");
    {
        let (j, _) = open(other.path(), &opts(1 << 20));
        for i in 1..=12 {
            j.append_wait(vec![payload(i, 92)]).expect("append");
        }
    }
    fs::copy(seg(other.path(), 1), seg(dir.path(), 1)).expect("copy");
    match Journal::open(dir.path(), o.clone()) {
        Err(JournalError::SequenceOverlap {
            path,
            first_seq: 11,
            previous_last: 12,
        }) => {
            assert_eq!(path, seg(dir.path(), 11));
        }
        other => panic!("{other:?}"),
    }

    // A removed segment in the middle is a gap; readers skip it.
    let dir = setup();
    fs::remove_file(seg(dir.path(), 11)).expect("remove");
    let (j, report) = open(dir.path(), &o);
    assert_eq!(report.gaps, [Range { start: 11, end: 21 }]);
    assert!(report.damaged_segments.is_empty() && report.truncated_tail.is_none());
    let expected: Vec<u64> = (1..=10).chain(21..=25).collect();
    assert_eq!(seqs(&read_all(&j, 1)), expected);
    assert_eq!(
        j.append_wait(vec![payload(26, 92)]).expect("append"),
        26..27
    );
}

#[test]
fn a_cursor_past_the_end_moves_the_sequence_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = JournalOptions::default();
    {
        let (j, _) = open(dir.path(), &o);
        j.append_wait((1..=10).map(|i| payload(i, 10)).collect())
            .expect("append");
        j.set_cursor("store", 11).expect("cursor");
    }
    // Lose the records (as a disk might): cut the segment back to its header.
    let seg = dir.path().join(segment_file_name(1));
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .and_then(|f| f.set_len(SEGMENT_HEADER_LEN))
        .expect("truncate");
    let (j, report) = open(dir.path(), &o);
    assert_eq!(report.advanced_to_cursor, Some(1..11));
    assert_eq!(report.next_seq, 11);
    assert_eq!(
        j.append_wait(vec![b"new".to_vec()]).expect("append"),
        11..12
    );
    assert_eq!(
        read_all(&j, j.cursor("store").unwrap_or(0)),
        [(11, b"new".to_vec())]
    );
}

#[test]
fn leftover_temp_files_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("00000000000000000001.wal.tmp"), b"half").expect("write");
    fs::write(dir.path().join("store.cursor.tmp"), b"half").expect("write");
    fs::write(dir.path().join("README"), b"not ours").expect("write");
    let (_j, report) = open(dir.path(), &JournalOptions::default());
    assert_eq!(report.removed_temp_files.len(), 2);
    assert!(report.is_clean());
    assert!(dir.path().join("README").exists());
}

#[test]
fn a_garbled_cursor_file_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (j, _) = open(dir.path(), &JournalOptions::default());
        j.append_wait(vec![b"x".to_vec()]).expect("append");
        j.set_cursor("store", 2).expect("cursor");
    }
    flip_byte(&dir.path().join("store.cursor"), 9);
    assert!(matches!(
        Journal::open(dir.path(), JournalOptions::default()),
        Err(JournalError::BadCursor { .. })
    ));
}
