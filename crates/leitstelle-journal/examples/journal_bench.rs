//! Journal throughput: 1 KiB records appended by 1, 4 and 16 threads that each wait for their
//! batch to be durable (`append_wait`), in batches of 1 and 100 records, and by one thread
//! keeping up to 64 batches in flight with the callback API (as an async server would).
//!
//! ```text
//! cargo run --release -p leitstelle-journal --example journal_bench -- [DIR] [SECONDS]
//! ```
//!
//! DIR must be on the disk to be measured (default: a fresh folder under the system temp
//! dir; a tmpfs there makes fsync free and the figures meaningless). Each case runs SECONDS
//! (default 3) on a new journal. The last journal is then read back with a `Reader`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leitstelle_journal::{Journal, JournalOptions};

const RECORD: usize = 1024;

type Case = Box<dyn Fn(&Arc<Journal>) -> Outcome>;

struct Outcome {
    records: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn batch(n: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut v = vec![b'x'; RECORD];
            v[..8].copy_from_slice(&(seed + i as u64).to_le_bytes());
            v
        })
        .collect()
}

fn waiting_threads(journal: &Arc<Journal>, threads: usize, size: usize, run: Duration) -> Outcome {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                let mut records = 0u64;
                let mut latencies = Vec::new();
                while start.elapsed() < run {
                    let b = batch(size, (t as u64) << 40 | records);
                    let t0 = Instant::now();
                    let r = journal.append_wait(b).expect("append");
                    latencies.push(t0.elapsed());
                    records += r.end - r.start;
                }
                (records, latencies)
            })
        })
        .collect();
    let mut out = Outcome {
        records: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for h in handles {
        let (records, latencies) = h.join().expect("thread");
        out.records += records;
        out.latencies.extend(latencies);
    }
    out.elapsed = start.elapsed();
    out
}

fn pipelined(journal: &Arc<Journal>, size: usize, window: usize, run: Duration) -> Outcome {
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<u64>();
    let mut in_flight = 0;
    let mut records = 0u64;
    let mut sent = 0u64;
    while start.elapsed() < run {
        while in_flight < window {
            let (tx, latencies, t0) = (tx.clone(), latencies.clone(), Instant::now());
            journal.append(batch(size, sent), move |r| {
                let r = r.expect("append");
                latencies.lock().expect("latencies").push(t0.elapsed());
                let _ = tx.send(r.end - r.start);
            });
            sent += size as u64;
            in_flight += 1;
        }
        records += rx.recv().expect("callback");
        in_flight -= 1;
    }
    while in_flight > 0 {
        records += rx.recv().expect("callback");
        in_flight -= 1;
    }
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().expect("latencies"));
    Outcome {
        records,
        elapsed,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (root, remove_root): (PathBuf, bool) = match args.next() {
        Some(d) => (PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("leitstelle-journal-bench-{}", std::process::id())),
            true,
        ),
    };
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let run = Duration::from_secs_f64(seconds);
    println!(
        "journal bench: {RECORD}-byte records, {seconds} s per case, in {}",
        root.display()
    );
    println!(
        "{:<28} {:>11} {:>8} {:>9} {:>10} {:>8} {:>8}",
        "case", "records/s", "MB/s", "fsyncs/s", "rec/group", "p50 ms", "p99 ms"
    );

    let mut cases: Vec<(String, Case)> = Vec::new();
    for threads in [1, 4, 16] {
        for size in [1, 100] {
            cases.push((
                format!("{threads:>2} threads x batch {size:>3}"),
                Box::new(move |j| waiting_threads(j, threads, size, run)),
            ));
        }
    }
    for size in [1, 100] {
        cases.push((
            format!("callbacks, 64 in flight x {size:>3}"),
            Box::new(move |j| pipelined(j, size, 64, run)),
        ));
    }

    for (i, (name, case)) in cases.iter().enumerate() {
        let dir = root.join(format!("case-{i}"));
        let journal = Arc::new(open(&dir));
        let mut out = case(&journal);
        let stats = journal.stats();
        let read_line = (i + 1 == cases.len()).then(|| read_back(&journal));
        drop(journal);
        let _ = std::fs::remove_dir_all(&dir);
        out.latencies.sort();
        let secs = out.elapsed.as_secs_f64();
        println!(
            "{:<28} {:>11.0} {:>8.1} {:>9.0} {:>10.1} {:>8.2} {:>8.2}",
            name,
            out.records as f64 / secs,
            (out.records as f64 * RECORD as f64) / secs / 1e6,
            stats.fsyncs as f64 / secs,
            stats.records_appended as f64 / stats.groups.max(1) as f64,
            percentile(&out.latencies, 0.5),
            percentile(&out.latencies, 0.99),
        );
        if let Some(line) = read_line {
            println!("{line}");
        }
        // Let the disk settle (writeback of the deleted case) before the next case.
        std::thread::sleep(Duration::from_secs(1));
    }
    if remove_root {
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Sequential read of everything in the journal; returns the report line.
fn read_back(journal: &Journal) -> String {
    let start = Instant::now();
    let mut records = 0u64;
    let mut bytes = 0u64;
    for r in journal.reader(1).expect("reader") {
        let (_, payload) = r.expect("record");
        records += 1;
        bytes += payload.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    format!(
        "{:<28} {:>11.0} {:>8.1}   (reading back the last case's {records} records; page cache)",
        "reader, sequential",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    )
}

fn open(dir: &Path) -> Journal {
    let (journal, _) = Journal::open(dir, JournalOptions::default()).expect("open journal");
    journal
}
