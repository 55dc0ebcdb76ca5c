//! The crash test: this test binary, re-executed as a child with `CHILD_DIR_ENV` set, runs
//! `crash_child_writer`, which appends from several threads as fast as it can and prints a
//! line per acknowledged batch. The parent kills it with SIGKILL at a random moment, several
//! times, and checks after each round that every acknowledged record is in the journal
//! exactly once with the right content.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Journal, JournalOptions, RecoveryReport, lock};

const CHILD_DIR_ENV: &str = "LEITSTELLE_JOURNAL_CRASH_DIR";
const CHILD_ROUND_ENV: &str = "LEITSTELLE_JOURNAL_CRASH_ROUND";
const ROUNDS: u64 = 5;
const WAITING_THREADS: u64 = 4;
/// The thread id of the callback-style appender.
const CALLBACK_THREAD: u64 = WAITING_THREADS;

fn crash_opts() -> JournalOptions {
    JournalOptions {
        segment_bytes: 512 * 1024,
        ..JournalOptions::default()
    }
}

/// Identity of a record: (round, thread, counter).
type Id = (u64, u64, u64);

fn record(id: Id) -> Vec<u8> {
    let (round, thread, n) = id;
    let mut v = format!("{round}:{thread}:{n}:").into_bytes();
    let h = round.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ thread.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ n.wrapping_mul(0x1656_67b1_9e37_79f9);
    let len = v.len() + 40 + (h % 600) as usize;
    let word = h.to_le_bytes();
    while v.len() < len {
        v.extend_from_slice(&word);
    }
    v.truncate(len);
    v
}

fn parse_id(payload: &[u8]) -> Option<Id> {
    // The prefix is ASCII "round:thread:n:", followed by binary filler.
    let mut parts = payload.splitn(4, |&b| b == b':');
    let mut num = || -> Option<u64> { std::str::from_utf8(parts.next()?).ok()?.parse().ok() };
    Some((num()?, num()?, num()?))
}

/// The child: append until killed (or 30 s, in case the parent is gone).
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return; // a normal test run: nothing to do
    };
    let round: u64 = std::env::var(CHILD_ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .expect("round number");
    let (journal, _) = Journal::open(std::path::Path::new(&dir), crash_opts()).expect("child open");
    let journal = Arc::new(journal);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let deadline = Instant::now() + Duration::from_secs(30);

    let mut threads = Vec::new();
    for thread in 0..WAITING_THREADS {
        let (journal, out) = (journal.clone(), out.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while Instant::now() < deadline {
                let size = 1 + (n + thread) % 40;
                let batch = (n..n + size).map(|k| record((round, thread, k))).collect();
                let range = journal.append_wait(batch).expect("child append");
                let mut out = lock(&out);
                let _ = writeln!(
                    out,
                    "ack {} {} {round} {thread} {n}",
                    range.start, range.end
                );
                let _ = out.flush();
                n += size;
            }
        }));
    }
    // Callback style, up to 16 batches in flight; the callback prints the ack.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut in_flight = 0;
    let mut n = 0;
    while Instant::now() < deadline {
        while in_flight < 16 {
            let size = 1 + n % 25;
            let batch = (n..n + size)
                .map(|k| record((round, CALLBACK_THREAD, k)))
                .collect();
            let (out, tx, first) = (out.clone(), tx.clone(), n);
            journal.append(batch, move |r| {
                let range = r.expect("child append (callback)");
                let mut out = lock(&out);
                let _ = writeln!(
                    out,
                    "ack {} {} {round} {CALLBACK_THREAD} {first}",
                    range.start, range.end
                );
                let _ = out.flush();
                let _ = tx.send(());
            });
            in_flight += 1;
            n += size;
        }
        let _ = rx.recv();
        in_flight -= 1;
    }
    for t in threads {
        let _ = t.join();
    }
}

/// Kills the child if the parent fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ack {
    range: std::ops::Range<u64>,
    id: Id,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line.strip_prefix("ack ")?.split(' ');
    let mut num = || -> Option<u64> { f.next()?.trim().parse().ok() };
    let (start, end, round, thread, first) = (num()?, num()?, num()?, num()?, num()?);
    Some(Ack {
        range: start..end,
        id: (round, thread, first),
    })
}

/// Reopens the journal and checks every acknowledged record; returns the next seq.
fn verify(dir: &std::path::Path, acks: &[Ack]) -> (u64, RecoveryReport) {
    let (journal, report) = Journal::open(dir, crash_opts()).expect("reopen after kill");
    assert!(
        report.damaged_segments.is_empty() && report.gaps.is_empty(),
        "{report:?}"
    );
    assert!(report.advanced_to_cursor.is_none());
    let mut by_seq: HashMap<u64, Id> = HashMap::new();
    let mut seen: HashSet<Id> = HashSet::new();
    let mut expected_seq = 1;
    for r in journal.reader(1).expect("reader") {
        let (seq, payload) = r.expect("every record readable");
        assert_eq!(seq, expected_seq, "sequence numbers are contiguous");
        expected_seq += 1;
        let id = parse_id(&payload).expect("record id");
        assert_eq!(payload, record(id), "content of seq {seq}");
        assert!(seen.insert(id), "record {id:?} present twice");
        by_seq.insert(seq, id);
    }
    assert_eq!(expected_seq, report.next_seq);
    for ack in acks {
        let (round, thread, first) = ack.id;
        for (k, seq) in ack.range.clone().enumerate() {
            let want = (round, thread, first + k as u64);
            assert_eq!(
                by_seq.get(&seq),
                Some(&want),
                "acknowledged seq {seq} lost or wrong"
            );
        }
    }
    (report.next_seq, report)
}

#[test]
fn kill_9_loses_no_acknowledged_record() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };

    let mut acks: Vec<Ack> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = KillOnDrop(
            Command::new(&exe)
                .args([
                    "--exact",
                    "tests::crash::crash_child_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .env(CHILD_ROUND_ENV, round.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child"),
        );
        let stdout = child.0.stdout.take().expect("child stdout");
        let (first_ack_tx, first_ack_rx) = std::sync::mpsc::channel();
        let collector = std::thread::spawn(move || {
            let mut acks = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    // A line cut off by the kill is an ack the parent never received.
                    Ok(_) if line.last() != Some(&b'\n') => break,
                    Ok(_) => {}
                }
                if let Some(ack) = parse_ack(&String::from_utf8_lossy(&line)) {
                    if acks.is_empty() {
                        let _ = first_ack_tx.send(());
                    }
                    acks.push(ack);
                }
            }
            acks
        });
        // Kill at a random moment after ingest is under way.
        let started = first_ack_rx.recv_timeout(Duration::from_secs(10)).is_ok();
        std::thread::sleep(Duration::from_millis(20 + random(250)));
        child.0.kill().expect("kill -9");
        child.0.wait().expect("reap child");
        let round_acks = collector.join().expect("collector");
        assert!(
            started && !round_acks.is_empty(),
            "round {round}: child acknowledged nothing"
        );
        acks.extend(round_acks);

        let (next, report) = verify(dir.path(), &acks);
        eprintln!(
            "crash round {round}: {} acks so far, next seq {next}, tail {:?}",
            acks.len(),
            report.truncated_tail.map(|t| (t.bytes_dropped, t.damage))
        );
    }

    // The journal goes on cleanly after the last crash.
    let (next, _) = verify(dir.path(), &acks);
    let (journal, report) = Journal::open(dir.path(), crash_opts()).expect("reopen");
    assert_eq!(report.next_seq, next);
    let r = journal
        .append_wait(vec![record((ROUNDS, 0, 0)), record((ROUNDS, 0, 1))])
        .expect("append after crashes");
    assert_eq!(r, next..next + 2);
    drop(journal);
    let acks_after = [Ack {
        range: r,
        id: (ROUNDS, 0, 0),
    }];
    let (_, report) = verify(dir.path(), &acks_after);
    assert!(report.is_clean(), "{report:?}");
}
