//! The indexer: a thread that tails the journal into the event store.
//!
//! It is a journal consumer of its own (cursor `store`), independent of detection: it reads
//! durable records from the store's committed watermark on, parses events again with the same
//! parser as intake, adds them to the store and commits every `commit_interval_ms`. After a
//! commit it moves its cursor and trims the journal (segments below every consumer's cursor
//! go). A crash between adding and committing loses nothing: the next start reads again
//! from the watermark, and the store keeps each sequence number once.
//!
//! It also runs retention every `retention_check_secs` and exports disk use per tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leitstelle_journal::Journal;
use leitstelle_profile::ProfileSet;
use leitstelle_store::{EventStore, NewEvent};

use crate::config::StoreConfig;
use crate::metrics::{Metrics, TenantLabels};
use crate::pipeline::{now_ns, parse_context, reparse};
use crate::record::{Kind, Record};

/// The journal cursor of the event store.
pub const STORE_CURSOR: &str = "store";
const BATCH: usize = 2048;
/// How often disk use per tenant is measured for the metrics.
const USAGE_EVERY: Duration = Duration::from_secs(5);

/// A running indexer.
pub struct Indexer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts the indexer thread.
    pub fn start(
        journal: Arc<Journal>,
        store: Arc<dyn EventStore>,
        profiles: Arc<ProfileSet>,
        metrics: Arc<Metrics>,
        config: StoreConfig,
        control: Arc<leitstelle_control::Control>,
    ) -> std::io::Result<Indexer> {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            journal,
            store,
            profiles,
            metrics,
            config,
            control,
            stop: Arc::clone(&stop),
            broken: AtomicBool::new(false),
        };
        let handle = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || worker.run())?;
        Ok(Indexer {
            stop,
            handle: Some(handle),
        })
    }

    /// Commits what the thread has indexed and stops it: a backlog is cut short at the next
    /// batch (the journal keeps the rest for the next start).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    journal: Arc<Journal>,
    store: Arc<dyn EventStore>,
    profiles: Arc<ProfileSet>,
    metrics: Arc<Metrics>,
    config: StoreConfig,
    /// Where retention's deletions are audited.
    control: Arc<leitstelle_control::Control>,
    stop: Arc<AtomicBool>,
    /// Set when adding to the store failed: nothing is committed any more.
    broken: AtomicBool,
}

/// The store's view of one journal record; `None` for dead letters (kept by the control
/// plane, not searchable as events) and records this version cannot read (counted).
pub fn stored_event(
    profiles: &ProfileSet,
    ctx: &leitstelle_parsers::ParseContext,
    seq: u64,
    payload: &[u8],
) -> Result<Option<NewEvent>, String> {
    let rec = Record::decode(payload).map_err(|e| e.to_string())?;
    if rec.kind == Kind::Dead {
        return Ok(None);
    }
    // Intake journals an event only after it parsed; failing now means the parser changed.
    let event = reparse(profiles, ctx, &rec)?;
    Ok(Some(NewEvent::from_event(
        seq,
        event,
        rec.received_ns,
        rec.source,
        profiles,
    )))
}

/// Lowers the calling thread's CPU priority by `nice` (Linux, where nice is per thread;
/// threads it starts later, such as the store's indexing and merge threads, inherit it).
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        let now = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
        if let Err(e) = rustix::process::setpriority_process(Some(tid), now + nice) {
            tracing::warn!(error = %e, "could not lower the indexer's priority");
        }
    }
}

impl Worker {
    fn run(self) {
        lower_priority(self.config.indexer_nice);
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        let retention_every = Duration::from_secs(self.config.retention_check_secs);
        let mut next = self.store.committed();
        let mut last_commit = Instant::now();
        let mut last_retention: Option<Instant> = None;
        let mut last_usage = Instant::now();
        let mut uncommitted = false;
        let mut ctx = parse_context();
        loop {
            let mut stopping = self.stop.load(Ordering::SeqCst);
            if self.broken.load(Ordering::SeqCst) {
                // Nothing more is committed, so the journal keeps every event not yet
                // stored; the next start indexes them.
                if stopping {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            match self.journal.reader(next) {
                Ok(reader) => {
                    let end = reader.end_seq();
                    let mut batch = Vec::with_capacity(BATCH);
                    // Stopping cuts a backlog short: what is committed moves the journal
                    // cursor, and the next start indexes the rest from the journal (indexing
                    // millions of events first would hold shutdown up for minutes).
                    let mut cut = false;
                    for item in reader {
                        match item {
                            Ok((seq, payload)) => {
                                next = seq + 1;
                                match stored_event(&self.profiles, &ctx, seq, &payload) {
                                    Ok(Some(e)) => batch.push(e),
                                    Ok(None) => {}
                                    Err(e) => {
                                        self.metrics.store_errors.inc();
                                        tracing::warn!(seq, error = %e, "journal record not stored");
                                    }
                                }
                            }
                            Err(e) => {
                                self.metrics.store_errors.inc();
                                tracing::error!(error = %e, "reading the journal for the store");
                            }
                        }
                        if batch.len() >= BATCH {
                            uncommitted |= self.add(std::mem::take(&mut batch));
                            if self.broken.load(Ordering::SeqCst) {
                                break;
                            }
                            if last_commit.elapsed() >= interval {
                                self.commit(next);
                                last_commit = Instant::now();
                                uncommitted = false;
                                ctx = parse_context();
                            }
                            if self.stop.load(Ordering::SeqCst) {
                                cut = true;
                                break;
                            }
                        }
                    }
                    uncommitted |= self.add(batch);
                    if cut {
                        stopping = true;
                    } else {
                        // Lost records at the end of what was durable are behind us too.
                        next = next.max(end);
                    }
                }
                Err(e) => {
                    self.metrics.store_errors.inc();
                    tracing::error!(error = %e, "opening a journal reader for the store");
                }
            }
            if (uncommitted || next > self.store.committed())
                && (stopping || last_commit.elapsed() >= interval)
            {
                self.commit(next);
                last_commit = Instant::now();
                uncommitted = false;
            }
            if last_retention.is_none_or(|t| t.elapsed() >= retention_every) {
                self.retention();
                last_retention = Some(Instant::now());
            } else if last_usage.elapsed() >= USAGE_EVERY {
                self.usage();
                last_usage = Instant::now();
            }
            if stopping {
                break;
            }
            self.journal.wait_durable(next, Duration::from_millis(100));
        }
    }

    /// Adds a batch; returns whether anything was added.
    fn add(&self, batch: Vec<NewEvent>) -> bool {
        if batch.is_empty() {
            return false;
        }
        let n = batch.len() as u64;
        match self.store.add(batch) {
            Ok(()) => {
                self.metrics.store_indexed.inc_by(n);
                true
            }
            Err(e) => {
                // Committing past these events would lose them: stop indexing instead (the
                // journal keeps them until a restart indexes them).
                self.metrics.store_errors.inc();
                self.broken.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "adding events to the store failed; indexing stops until the server restarts (the journal keeps the events)");
                false
            }
        }
    }

    fn commit(&self, next: u64) {
        if self.broken.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.store.commit(next) {
            self.metrics.store_errors.inc();
            tracing::error!(error = %e, "committing the event store");
            return;
        }
        let committed = self.store.committed();
        self.metrics.store_committed_seq.set(committed as i64);
        self.metrics
            .store_lag
            .set((self.journal.durable_seq() + 1).saturating_sub(committed) as i64);
        if let Err(e) = self.journal.set_cursor(STORE_CURSOR, committed) {
            tracing::error!(error = %e, "moving the store's journal cursor");
            return;
        }
        match self.journal.trim() {
            Ok(r) if r.segments_removed > 0 => {
                tracing::debug!(
                    segments = r.segments_removed,
                    bytes = r.bytes_removed,
                    "journal trimmed"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "trimming the journal"),
        }
    }

    fn retention(&self) {
        match self
            .store
            .retain(&|t: &str| self.config.retention(t), now_ns())
        {
            Ok(dropped) => {
                for d in dropped {
                    tracing::info!(tenant = %d.tenant, day = %d.day, events = d.events, bytes = d.bytes, "retention dropped a partition");
                    let detail =
                        serde_json::json!({"day": d.day, "events": d.events, "bytes": d.bytes});
                    if let Err(e) = self.control.audit(
                        Some(&d.tenant),
                        now_ns(),
                        "system",
                        "store.retention",
                        &d.day,
                        &detail,
                    ) {
                        tracing::error!(error = %e, "auditing a retention deletion failed");
                    }
                    self.metrics
                        .store_dropped
                        .get_or_create(&TenantLabels { tenant: d.tenant })
                        .inc();
                }
            }
            Err(e) => {
                self.metrics.store_errors.inc();
                tracing::error!(error = %e, "store retention");
            }
        }
        self.usage();
    }

    /// Exports disk use per tenant.
    fn usage(&self) {
        match self.store.usage() {
            Ok(usage) => {
                self.metrics.store_bytes.clear();
                self.metrics.store_events.clear();
                self.metrics.store_partitions.clear();
                for u in usage {
                    let l = TenantLabels { tenant: u.tenant };
                    self.metrics
                        .store_bytes
                        .get_or_create(&l)
                        .set(u.bytes as i64);
                    self.metrics
                        .store_events
                        .get_or_create(&l)
                        .set(u.events as i64);
                    self.metrics
                        .store_partitions
                        .get_or_create(&l)
                        .set(u.partitions as i64);
                }
            }
            Err(e) => tracing::error!(error = %e, "store usage"),
        }
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;

    /// A journal holding `n` JSON events.
    fn journal(dir: &std::path::Path, n: usize) -> Arc<Journal> {
        let (journal, _) = Journal::open(
            &dir.join("journal"),
            leitstelle_journal::JournalOptions::default(),
        )
        .expect("journal");
        let payloads = (0..n)
            .map(|i| {
                let raw = format!(r#"{{"n": {i}, "marker": "cut-short"}}"#);
                Record {
                    kind: Kind::Event,
                    received_ns: now_ns() + i as i64,
                    tenant: "default",
                    source: "test",
                    format: crate::pipeline::RecordFormat::json().as_str(),
                    reason: "",
                    raw: raw.as_bytes(),
                }
                .encode()
            })
            .collect();
        journal.append_wait(payloads).expect("append");
        Arc::new(journal)
    }

    /// Runs an indexer that was asked to stop before it started, as a server stopping with
    /// a backlog does.
    fn run_stopping(dir: &std::path::Path, journal: &Arc<Journal>, store: &Arc<dyn EventStore>) {
        Worker {
            journal: Arc::clone(journal),
            store: Arc::clone(store),
            profiles: Arc::new(ProfileSet::builtin()),
            metrics: Arc::new(Metrics::new()),
            config: StoreConfig::default(),
            control: Arc::new(
                leitstelle_control::Control::open(&dir.join("control.db")).expect("control"),
            ),
            stop: Arc::new(AtomicBool::new(true)),
            broken: AtomicBool::new(false),
        }
        .run();
    }

    #[test]
    fn stopping_cuts_a_backlog_short_and_the_next_start_indexes_the_rest_once() {
        let dir =
            std::env::temp_dir().join(format!("leitstelle-indexer-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let n = 2 * BATCH + 10;
        let journal = journal(&dir, n);
        let store: Arc<dyn EventStore> = Arc::new(
            crate::open_store(
                &dir,
                Arc::new(ProfileSet::builtin()),
                &StoreConfig::default(),
            )
            .expect("store"),
        );
        // The first batch is indexed and committed, with the journal cursor where the store
        // is; the rest waits in the journal.
        run_stopping(&dir, &journal, &store);
        let first = 1 + BATCH as u64;
        assert_eq!(store.committed(), first);
        assert_eq!(journal.cursor(STORE_CURSOR), Some(first));
        // Each start goes on where the last one stopped.
        run_stopping(&dir, &journal, &store);
        assert_eq!(store.committed(), first + BATCH as u64);
        run_stopping(&dir, &journal, &store);
        assert_eq!(store.committed(), 1 + n as u64);
        // Nothing indexed twice, nothing missing.
        let q = leitstelle_query::parse("marker:cut-short").expect("query");
        let found = store
            .search(&leitstelle_store::SearchRequest::new(&["default"], q))
            .expect("search")
            .total;
        assert_eq!(found, n as u64);
        drop((store, journal));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn lowering_the_priority_affects_only_the_calling_thread_and_what_it_starts() {
        let before = rustix::process::getpriority_process(None).expect("nice of the test thread");
        let (own, child) = std::thread::spawn(|| {
            lower_priority(3);
            let own =
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice");
            let child = std::thread::spawn(|| {
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice")
            })
            .join()
            .expect("join");
            (own, child)
        })
        .join()
        .expect("join");
        assert_eq!(own, (before + 3).min(19));
        assert_eq!(child, own, "threads started later inherit it");
        let after =
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("nice");
        assert_eq!(after, before, "the test's own thread is untouched");
    }
}
