//! From received bytes to alerts: parse, journal (durably), detect, alert.
//!
//! Intake tasks call [`parse_record`] and then [`Pipeline::submit`], which returns when
//! the records are in the fsynced journal; only then is the sender told they were received.
//! The journal's durability callback hands the already parsed events to the detector thread,
//! which takes batches in journal order (a reorder buffer: concurrent requests finish their
//! fsync in any order), matches them with the compiled Sigma engine on all cores, and records
//! detections, dead letters and its new position in the control database in one transaction.
//! On start, everything after that position is read back from the journal, parsed again and
//! detected before intake opens: every journaled event is detected exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use leitstelle_control::{
    Control, DeadLetter, Decision, Detection, Gate, MatchedEvent, level_rank,
};
use leitstelle_event::{Event, Origin};
use leitstelle_journal::Journal;
use leitstelle_parsers::{Format, ParseContext};
use leitstelle_profile::{Profile, ProfileSet};
use leitstelle_sigma::{Engine, Scratch};
use leitstelle_store::EventStore;
use rayon::prelude::*;
use tokio::sync::broadcast;

use crate::admission::{Admission, Gates, Refusal};
use crate::config::{AlertsConfig, LimitsConfig};
use crate::metrics::{self, Metrics};
use crate::record::{Kind, Record};
use crate::rules::RuleState;

/// The journal cursor of the detector (for trimming; the control database holds the
/// authoritative position).
pub const DETECT_CURSOR: &str = "detect";

/// How a journaled record is parsed: one of the parsers, or a Splunk HEC envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    Parser(Format),
    /// A HEC event envelope (`{"event": …, "time": …}`), see [`crate::hec`].
    HecEvent,
}

impl RecordFormat {
    /// JSON events.
    pub fn json() -> RecordFormat {
        RecordFormat::Parser(Format::Json)
    }

    /// The name kept in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::Parser(f) => f.as_str(),
            RecordFormat::HecEvent => "hec-event",
        }
    }

    pub fn from_name(s: &str) -> Option<RecordFormat> {
        match s {
            "hec-event" => Some(RecordFormat::HecEvent),
            _ => Format::from_name(s).map(RecordFormat::Parser),
        }
    }
}

/// One received record after parsing.
pub struct Received {
    pub format: RecordFormat,
    pub raw: Vec<u8>,
    pub outcome: Result<Event, String>,
    /// Short stable failure kind for metrics (`invalid_json`, …); empty on success.
    pub fail_kind: &'static str,
    /// The [`ParserThreads`] thread that parsed it, which also frees its event.
    pub parser: Option<usize>,
}

/// What the detector gets for one journal record.
enum Item {
    Event {
        event: Event,
        received_ns: i64,
    },
    Dead(DeadLetter),
    /// A journal position whose record could not be read back (reported by the journal's
    /// recovery); it only keeps the sequence numbers contiguous.
    Lost,
}

enum Msg {
    Batch(Batch),
    /// Process what is ready and end (after the journal was closed).
    Stop,
}

struct Batch {
    first_seq: u64,
    items: Vec<Item>,
    received: Instant,
    /// Released once detection has processed the batch.
    admission: Option<Admission>,
    /// The parser thread whose events these are (freed there).
    parser: Option<usize>,
}

/// Why a submission was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("journal: {0}")]
    Journal(String),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("parsing failed: {0}")]
    Parser(String),
    /// Back pressure or a tenant quota: the sender should retry later (HTTP 429).
    #[error("{0}")]
    Busy(String),
}

/// How long intake may wait for room in the pipeline.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// HTTP: up to this long, then the sender is told to retry ([`SubmitError::Busy`]).
    UpTo(Duration),
    /// Syslog: as long as it takes (reads from the connection pause meanwhile).
    Forever,
}

/// The intake side of the pipeline, shared by every listener.
pub struct Pipeline {
    journal: Arc<Journal>,
    to_detector: mpsc::Sender<Msg>,
    gates: Gates,
    max_store_lag: u64,
    /// The store whose lag bounds intake (`limits.max_store_lag_events`).
    store: Option<Arc<dyn EventStore>>,
    profiles: Arc<ProfileSet>,
    metrics: Arc<Metrics>,
    parsers: Arc<ParserThreads>,
}

/// Threads that parse received records, one request's records per job, and later free the
/// events they made when detection is done with them. mimalloc frees a block fastest on
/// the thread that allocated it; the event trees freed on the recorder thread instead cost
/// about 12% of the server's CPU under load (each free a cross-thread one).
pub struct ParserThreads {
    senders: Vec<mpsc::Sender<ParserMsg>>,
    next: AtomicUsize,
}

enum ParserMsg {
    Parse(Box<dyn FnOnce(usize) + Send>),
    Free(Vec<Item>),
}

impl ParserThreads {
    /// Starts `n` (at least one) parser threads; they end when this is dropped.
    pub fn start(n: usize) -> std::io::Result<ParserThreads> {
        let mut senders = Vec::new();
        for i in 0..n.max(1) {
            let (tx, rx) = mpsc::channel::<ParserMsg>();
            std::thread::Builder::new()
                .name(format!("parser-{i}"))
                .spawn(move || {
                    for msg in rx {
                        match msg {
                            ParserMsg::Parse(job) => {
                                // A panicking parser fails its request (its reply channel is
                                // dropped), not the thread.
                                let job = std::panic::AssertUnwindSafe(move || job(i));
                                if std::panic::catch_unwind(job).is_err() {
                                    tracing::error!(thread = i, "a parser job panicked");
                                }
                            }
                            ParserMsg::Free(items) => drop(items),
                        }
                    }
                })?;
            senders.push(tx);
        }
        Ok(ParserThreads {
            senders,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on the next parser thread; its records are marked as that thread's.
    pub async fn parse<F>(&self, job: F) -> Result<Vec<Received>, SubmitError>
    where
        F: FnOnce() -> Vec<Received> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let msg = ParserMsg::Parse(Box::new(move |thread| {
            let mut records = job();
            for r in &mut records {
                r.parser = Some(thread);
            }
            let _ = tx.send(records);
        }));
        if self.senders[i].send(msg).is_err() {
            return Err(SubmitError::Parser("the parser thread is gone".into()));
        }
        rx.await
            .map_err(|_| SubmitError::Parser("the parser job failed".into()))
    }

    /// Frees `items` on the thread that parsed them (here when it is unknown or gone: a
    /// failed send hands the message back, and it is dropped with the error).
    fn free(&self, parser: Option<usize>, items: Vec<Item>) {
        if let Some(tx) = parser.and_then(|i| self.senders.get(i)) {
            let _ = tx.send(ParserMsg::Free(items));
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Parses one record with the settings of [`parse_context`] (made once per batch). Never
/// panics; failures are returned in [`Received::outcome`].
pub fn parse_record(
    profiles: &ProfileSet,
    ctx: &ParseContext,
    format: RecordFormat,
    tenant: &Arc<str>,
    source: &Arc<str>,
    raw: Vec<u8>,
    max_event_bytes: usize,
) -> Received {
    if raw.len() > max_event_bytes {
        return Received {
            format,
            outcome: Err(format!(
                "record of {} bytes is larger than the limit of {max_event_bytes} bytes",
                raw.len()
            )),
            raw,
            fail_kind: "too_large",
            parser: None,
        };
    }
    let result = match format {
        RecordFormat::Parser(f) => parse_one(profiles, ctx, f, tenant, source, &raw),
        RecordFormat::HecEvent => parse_hec(profiles, ctx, tenant, source, &raw),
    };
    match result {
        Ok(event) => Received {
            format,
            raw,
            outcome: Ok(event),
            fail_kind: "",
            parser: None,
        },
        Err((kind, message)) => Received {
            format,
            raw,
            fail_kind: kind,
            outcome: Err(message),
            parser: None,
        },
    }
}

type ParseFailure = (&'static str, String);

/// Parser settings: this year for RFC 3164 timestamps; invalid UTF-8 read leniently (the
/// journal keeps the bytes as received); the size limit is checked before parsing.
pub fn parse_context() -> ParseContext {
    use chrono::Datelike;
    let mut ctx = ParseContext::new(chrono::Utc::now().year());
    ctx.lossy_utf8 = true;
    ctx.limits.max_record_bytes = usize::MAX;
    ctx
}

fn parse_one(
    profiles: &ProfileSet,
    ctx: &ParseContext,
    format: Format,
    tenant: &Arc<str>,
    source: &Arc<str>,
    raw: &[u8],
) -> Result<Event, ParseFailure> {
    let parsed =
        leitstelle_parsers::parse(format, raw, ctx).map_err(|e| (e.kind(), e.to_string()))?;
    let origin = Origin {
        source: Some(Arc::clone(source)),
        record: None,
    };
    Ok(leitstelle_parsers::to_event(
        profiles,
        Arc::clone(tenant),
        parsed,
        origin,
    ))
}

/// A HEC envelope: its `event` parsed (an object as JSON, text with the `auto` parser), its
/// `time` (epoch seconds) the event time when the event has none, the envelope the raw.
fn parse_hec(
    profiles: &ProfileSet,
    ctx: &ParseContext,
    tenant: &Arc<str>,
    source: &Arc<str>,
    raw: &[u8],
) -> Result<Event, ParseFailure> {
    let envelope: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| ("invalid_json", format!("invalid JSON: {e}")))?;
    let mut event = match envelope.get("event") {
        Some(serde_json::Value::String(s)) => {
            parse_one(profiles, ctx, Format::Auto, tenant, source, s.as_bytes())?
        }
        Some(v @ serde_json::Value::Object(_)) => parse_one(
            profiles,
            ctx,
            Format::Json,
            tenant,
            source,
            v.to_string().as_bytes(),
        )?,
        Some(serde_json::Value::Null) | None => {
            return Err(("hec_no_event", "the envelope has no `event`".into()));
        }
        Some(other) => parse_one(
            profiles,
            ctx,
            Format::Auto,
            tenant,
            source,
            other.to_string().as_bytes(),
        )?,
    };
    if event.timestamp.is_none() {
        let secs = match envelope.get("time") {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.parse::<f64>().ok(),
            _ => None,
        };
        event.timestamp = secs
            .filter(|s| s.is_finite() && s.abs() < 1e11)
            .map(|s| (s * 1e9) as i64);
    }
    event.raw = leitstelle_event::Raw::Text(String::from_utf8_lossy(raw).into());
    Ok(event)
}

impl Pipeline {
    /// Tells the detector to finish what it has and end (call after closing the journal).
    pub fn stop(&self) {
        let _ = self.to_detector.send(Msg::Stop);
    }

    /// Runs a parsing job on a parser thread (see [`ParserThreads`]).
    pub async fn parse<F>(&self, job: F) -> Result<Vec<Received>, SubmitError>
    where
        F: FnOnce() -> Vec<Received> + Send + 'static,
    {
        self.parsers.parse(job).await
    }

    /// The profiles events are classified with.
    pub fn profiles(&self) -> &Arc<ProfileSet> {
        &self.profiles
    }

    /// How far the store is behind the durable journal, when that is over the limit.
    fn store_lag_over(&self) -> Option<u64> {
        let store = self.store.as_ref()?;
        let lag = (self.journal.durable_seq() + 1).saturating_sub(store.committed());
        (self.max_store_lag > 0 && lag > self.max_store_lag).then_some(lag)
    }

    /// Takes room for `n` events of `tenant` (call before parsing them): first the store's
    /// lag must be under its limit, then the tenant's quotas and everyone's in-flight events
    /// must have room (see [`Gates`]). With [`Wait::UpTo`] a refusal is
    /// [`SubmitError::Busy`] (counted by reason); with [`Wait::Forever`] it waits.
    pub async fn admit(
        &self,
        tenant: &Arc<str>,
        n: usize,
        wait: Wait,
    ) -> Result<Admission, SubmitError> {
        let deadline = match wait {
            Wait::UpTo(d) => Some(tokio::time::Instant::now() + d),
            Wait::Forever => None,
        };
        let refused = |r: Refusal| {
            self.metrics
                .refused
                .get_or_create(&metrics::RefusedLabels {
                    tenant: tenant.to_string(),
                    reason: r.reason.to_string(),
                })
                .inc_by(n as u64);
            SubmitError::Busy(r.message)
        };
        while let Some(lag) = self.store_lag_over() {
            if deadline.is_some() {
                return Err(refused(Refusal {
                    reason: "store_lag",
                    message: format!("the event store is {lag} events behind; retry later"),
                }));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match self.gates.admit(tenant, n, deadline).await {
            Ok(a) => Ok(a),
            Err(Some(r)) => Err(refused(r)),
            Err(None) => Err(SubmitError::ShuttingDown),
        }
    }

    /// Journals `records` of one tenant, received through `source` at `received`, and
    /// returns when they are durable (the range of journal sequence numbers they got).
    /// Failed records are journaled as dead letters. `admission` is the room taken for them
    /// with [`Pipeline::admit`], held until detection has processed them.
    pub async fn submit(
        &self,
        admission: Admission,
        tenant: &Arc<str>,
        source: &Arc<str>,
        records: Vec<Received>,
        received: Instant,
    ) -> Result<std::ops::Range<u64>, SubmitError> {
        if records.is_empty() {
            let d = self.journal.durable_seq() + 1;
            return Ok(d..d);
        }
        let received_ns = now_ns();
        let m = &self.metrics;
        let labels = metrics::source(source, tenant);
        m.received
            .get_or_create(&labels)
            .inc_by(records.len() as u64);
        // Per request, not per record: each `get_or_create` takes the family's lock.
        let mut parsed = 0u64;
        let mut failed: HashMap<&'static str, u64> = HashMap::new();
        let mut payloads = Vec::with_capacity(records.len());
        let mut items = Vec::with_capacity(records.len());
        let parser = records.iter().find_map(|r| r.parser);
        for r in records {
            let (kind, reason) = match &r.outcome {
                Ok(_) => (Kind::Event, ""),
                Err(e) => (Kind::Dead, e.as_str()),
            };
            payloads.push(
                Record {
                    kind,
                    received_ns,
                    tenant,
                    source,
                    format: r.format.as_str(),
                    reason,
                    raw: &r.raw,
                }
                .encode(),
            );
            items.push(match r.outcome {
                Ok(event) => {
                    parsed += 1;
                    Item::Event { event, received_ns }
                }
                Err(reason) => {
                    *failed.entry(r.fail_kind).or_default() += 1;
                    Item::Dead(DeadLetter {
                        tenant: tenant.to_string(),
                        seq: 0,
                        received_ns,
                        source: source.to_string(),
                        reason,
                        raw: r.raw,
                    })
                }
            });
        }
        if parsed > 0 {
            m.parsed.get_or_create(&labels).inc_by(parsed);
        }
        m.intake.record(
            source,
            tenant,
            parsed + failed.values().sum::<u64>(),
            parsed,
            received_ns,
        );
        for (reason, n) in failed {
            m.failed
                .get_or_create(&metrics::FailLabels {
                    source: source.to_string(),
                    tenant: tenant.to_string(),
                    reason: reason.to_string(),
                })
                .inc_by(n);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let to_detector = self.to_detector.clone();
        self.journal.append(payloads, move |result| {
            let out = match result {
                Ok(range) => {
                    let _ = to_detector.send(Msg::Batch(Batch {
                        first_seq: range.start,
                        items,
                        received,
                        admission: Some(admission),
                        parser,
                    }));
                    Ok(range)
                }
                Err(e) => Err(SubmitError::Journal(e.to_string())),
            };
            let _ = tx.send(out);
        });
        rx.await.map_err(|_| SubmitError::ShuttingDown)?
    }
}

/// The detector: takes batches in journal order, matches them and folds the matches into
/// detections, which its recorder thread writes to the control plane while the detector goes
/// on with the next batches.
pub struct Detector {
    rx: mpsc::Receiver<Msg>,
    next_seq: u64,
    pending: BTreeMap<u64, Batch>,
    rules: Arc<ArcSwap<RuleState>>,
    profiles: Arc<ProfileSet>,
    /// Read only here (suppressions and overlays); the recorder writes.
    control: Arc<Control>,
    metrics: Arc<Metrics>,
    alerts: AlertsConfig,
    to_recorder: mpsc::SyncSender<Folded>,
    recorder: std::thread::JoinHandle<()>,
    /// One matching state per worker thread, kept across batches (a fresh one zeroes
    /// hundreds of KB of marks on first use), for the rule set they were used with.
    scratches: Vec<Scratch>,
    scratch_rules: Option<Arc<RuleState>>,
    /// Suppressions and tenant overlays in force (reloaded when their generation moves).
    gate: Option<Gate>,
}

/// What [`start`] returns: the intake handle and the detector thread.
pub struct Started {
    pub pipeline: Pipeline,
    pub detector: std::thread::JoinHandle<()>,
    /// Records replayed from the journal at start.
    pub replayed: u64,
}

/// Everything the pipeline needs.
pub struct Parts {
    /// The detector's position as the control plane has it ([`Control::detect_seq`], read
    /// by the caller off the async runtime).
    pub detect_seq: u64,
    pub journal: Arc<Journal>,
    pub control: Arc<Control>,
    pub rules: Arc<ArcSwap<RuleState>>,
    pub profiles: Arc<ProfileSet>,
    pub metrics: Arc<Metrics>,
    pub alerts: AlertsConfig,
    pub limits: LimitsConfig,
    /// The event store, whose lag bounds intake (`None`: no such bound).
    pub store: Option<Arc<dyn EventStore>>,
    pub notify: broadcast::Sender<i64>,
}

/// Replays the journal after the detector's position and starts the detector thread.
pub fn start(p: Parts) -> Result<Started, crate::ServerError> {
    let (tx, rx) = mpsc::channel();
    let mut next_seq = p.detect_seq + 1;
    let journal_next = p.journal.durable_seq() + 1;
    if next_seq > journal_next {
        tracing::error!(
            detected_up_to = next_seq - 1,
            journal_up_to = journal_next - 1,
            "the journal is behind the detector's position (was it deleted or restored?); \
             detection continues from the journal's end"
        );
        next_seq = journal_next;
    }
    // Replay: parse again what was journaled but not yet detected.
    let mut replayed = 0u64;
    let mut reader = p
        .journal
        .reader(next_seq)
        .map_err(|e| crate::ServerError::Journal(e.to_string()))?;
    let mut batch: Option<Batch> = None;
    let ctx = parse_context();
    let mut expected = next_seq;
    let mut lost = 0u64;
    for rec in &mut reader {
        let (seq, payload) = rec.map_err(|e| crate::ServerError::Journal(e.to_string()))?;
        let b = batch.get_or_insert_with(|| Batch {
            first_seq: expected,
            items: Vec::new(),
            received: Instant::now(),
            admission: None,
            parser: None,
        });
        while expected < seq {
            b.items.push(Item::Lost);
            expected += 1;
            lost += 1;
        }
        b.items.push(replay_item(&p.profiles, &ctx, seq, &payload));
        expected = seq + 1;
        replayed += 1;
        if b.items.len() >= 4096
            && let Some(b) = batch.take()
        {
            let _ = tx.send(Msg::Batch(b));
        }
    }
    if let Some(b) = batch.take() {
        let _ = tx.send(Msg::Batch(b));
    }
    if lost > 0 {
        tracing::error!(
            records = lost,
            "journal records could not be read back for detection"
        );
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parsers =
        Arc::new(
            ParserThreads::start(threads).map_err(|source| crate::ServerError::Io {
                what: "starting the parser threads".into(),
                source,
            })?,
        );
    // One folded batch may wait while the recorder writes the one before.
    let (to_recorder, recorder_rx) = mpsc::sync_channel(1);
    let recorder = Recorder {
        rx: recorder_rx,
        control: Arc::clone(&p.control),
        journal: Arc::clone(&p.journal),
        metrics: Arc::clone(&p.metrics),
        window_ns: (p.alerts.window_secs as i64).saturating_mul(1_000_000_000),
        notify: p.notify,
        next_seq,
        last_cursor: Instant::now(),
        parsers: Arc::clone(&parsers),
    };
    let recorder = std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || recorder.run())
        .map_err(|source| crate::ServerError::Io {
            what: "starting the alert recorder thread".into(),
            source,
        })?;
    let detector = Detector {
        rx,
        next_seq,
        pending: BTreeMap::new(),
        rules: p.rules,
        profiles: Arc::clone(&p.profiles),
        control: p.control,
        metrics: Arc::clone(&p.metrics),
        alerts: p.alerts,
        to_recorder,
        recorder,
        scratches: Vec::new(),
        scratch_rules: None,
        gate: None,
    };
    let handle = std::thread::Builder::new()
        .name("detector".into())
        .spawn(move || detector.run())
        .map_err(|source| crate::ServerError::Io {
            what: "starting the detector thread".into(),
            source,
        })?;
    Ok(Started {
        pipeline: Pipeline {
            journal: p.journal,
            to_detector: tx,
            max_store_lag: p.limits.max_store_lag_events,
            gates: Gates::new(p.limits),
            store: p.store,
            profiles: p.profiles,
            metrics: p.metrics,
            parsers,
        },
        detector: handle,
        replayed,
    })
}

/// Rebuilds the detector's item from a journal record (parsing events again).
fn replay_item(profiles: &ProfileSet, ctx: &ParseContext, seq: u64, payload: &[u8]) -> Item {
    let dead = |tenant: &str, received_ns, source: &str, reason: String, raw: &[u8]| {
        Item::Dead(DeadLetter {
            tenant: tenant.to_string(),
            seq,
            received_ns,
            source: source.to_string(),
            reason,
            raw: raw.to_vec(),
        })
    };
    let rec = match Record::decode(payload) {
        Ok(r) => r,
        // A record this version cannot read is kept as a dead letter of the default tenant.
        Err(e) => {
            return dead(
                leitstelle_event::DEFAULT_TENANT,
                0,
                "journal",
                e.to_string(),
                payload,
            );
        }
    };
    if rec.kind == Kind::Dead {
        return dead(
            rec.tenant,
            rec.received_ns,
            rec.source,
            rec.reason.into(),
            rec.raw,
        );
    }
    match reparse(profiles, ctx, &rec) {
        Ok(event) => Item::Event {
            event,
            received_ns: rec.received_ns,
        },
        Err(reason) => dead(rec.tenant, rec.received_ns, rec.source, reason, rec.raw),
    }
}

/// Parses a journaled event record again, with the parser it was received with (detection
/// replay and the store's indexer). The error is the reason, for a dead letter or a log line.
pub fn reparse(
    profiles: &ProfileSet,
    ctx: &ParseContext,
    rec: &Record<'_>,
) -> Result<Event, String> {
    let format = RecordFormat::from_name(rec.format)
        .ok_or_else(|| format!("unknown format `{}` in journal", rec.format))?;
    let tenant: Arc<str> = rec.tenant.into();
    let source: Arc<str> = rec.source.into();
    parse_record(
        profiles,
        ctx,
        format,
        &tenant,
        &source,
        rec.raw.to_vec(),
        usize::MAX,
    )
    .outcome
}

const FLUSH_ITEMS: usize = 4096;
/// Events kept per (tenant, rule, group key) and batch; the alert keeps at most
/// [`leitstelle_control::MAX_EVENTS_PER_ALERT`] in all.
const EVENTS_PER_DETECTION: usize = 3;
const FLUSH_AFTER: Duration = Duration::from_millis(50);

impl Detector {
    fn run(mut self) {
        let mut ready: Vec<Batch> = Vec::new();
        let mut ready_items = 0usize;
        let mut oldest: Option<Instant> = None;
        loop {
            let wait = oldest
                .map(|t| FLUSH_AFTER.saturating_sub(t.elapsed()))
                .unwrap_or(Duration::from_millis(200));
            let mut closed = match self.rx.recv_timeout(wait) {
                Ok(Msg::Batch(b)) => {
                    self.pending.insert(b.first_seq, b);
                    false
                }
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
                Err(mpsc::RecvTimeoutError::Timeout) => false,
            };
            while !closed {
                match self.rx.try_recv() {
                    Ok(Msg::Batch(b)) => {
                        self.pending.insert(b.first_seq, b);
                    }
                    Ok(Msg::Stop) | Err(mpsc::TryRecvError::Disconnected) => closed = true,
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            while let Some(b) = self.pending.remove(&self.next_seq) {
                self.next_seq += b.items.len() as u64;
                ready_items += b.items.len();
                oldest.get_or_insert(b.received);
                ready.push(b);
            }
            let due = oldest.is_some_and(|t| t.elapsed() >= FLUSH_AFTER);
            if !ready.is_empty() && (closed || due || ready_items >= FLUSH_ITEMS) {
                self.process(std::mem::take(&mut ready));
                ready_items = 0;
                oldest = None;
            }
            if closed {
                if !self.pending.is_empty() {
                    tracing::warn!(
                        batches = self.pending.len(),
                        "detector stopping with batches after a gap; they are replayed at the next start"
                    );
                }
                // The recorder writes what it was sent, saves the cursor and ends.
                drop(self.to_recorder);
                if self.recorder.join().is_err() {
                    tracing::error!("the alert recorder thread panicked");
                }
                return;
            }
        }
    }

    fn process(&mut self, mut batches: Vec<Batch>) {
        let rules = self.rules.load_full();
        let mut events: Vec<(u64, &Event, i64)> = Vec::new();
        let mut dead = Vec::new();
        for b in &batches {
            for (i, item) in b.items.iter().enumerate() {
                let seq = b.first_seq + i as u64;
                match item {
                    Item::Event { event, received_ns } => {
                        events.push((seq, event, *received_ns));
                    }
                    Item::Dead(l) => {
                        let mut l = l.clone();
                        l.seq = seq;
                        dead.push(l);
                    }
                    Item::Lost => {}
                }
            }
        }
        let engine: &Engine = &rules.engine;
        // Scratches cache the buckets of one engine: new ones after a reload.
        if !self
            .scratch_rules
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, &rules))
        {
            self.scratches = (0..rayon::current_num_threads().max(1))
                .map(|_| Scratch::new())
                .collect();
            self.scratch_rules = Some(Arc::clone(&rules));
        }
        let chunk = events.len().div_ceil(self.scratches.len()).max(1);
        let matches: Vec<Vec<usize>> = self
            .scratches
            .par_iter_mut()
            .zip(events.par_chunks(chunk))
            .map(|(s, part)| {
                part.iter()
                    .map(|(_, e, _)| engine.matches(e, s))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .concat();
        // Fold the matches of the batch into one detection per (tenant, rule, group key),
        // building the documents only of the events an alert may keep. Suppressions and
        // tenant overlays decide first.
        self.refresh_gate();
        let now = now_ns();
        let mut suppressed: HashMap<i64, i64> = HashMap::new();
        let mut folded: HashMap<(Arc<str>, usize, String), Detection> = HashMap::new();
        for ((seq, event, received_ns), hits) in events.iter().zip(&matches) {
            for &idx in hits {
                let rule = engine.rule(idx);
                let rule_id = rule_id(rule);
                let mut level = rule.level.as_str().to_string();
                if let Some(gate) = self.gate.as_ref().filter(|g| g.concerns(&event.tenant)) {
                    let mut lookup = |field: &str| -> Vec<String> {
                        if field == "host" {
                            host_of(&self.profiles, event)
                        } else {
                            field_text(&self.profiles, event, field)
                        }
                        .into_iter()
                        .collect()
                    };
                    match gate.decide(&event.tenant, &rule_id, &level, now, &mut lookup) {
                        Decision::Alert { level: l } => level = l,
                        Decision::Suppressed(id) => {
                            *suppressed.entry(id).or_default() += 1;
                            self.metrics
                                .suppressed
                                .get_or_create(&metrics::tenant(&event.tenant))
                                .inc();
                            continue;
                        }
                        Decision::Excluded => {
                            self.metrics
                                .suppressed
                                .get_or_create(&metrics::tenant(&event.tenant))
                                .inc();
                            continue;
                        }
                    }
                }
                let group_key = self.group_key(engine, &rule_id, event);
                let seen_ns = event.timestamp.unwrap_or(*received_ns);
                let d = folded
                    .entry((Arc::clone(&event.tenant), idx, group_key))
                    .or_insert_with_key(|(tenant, _, group_key)| Detection {
                        tenant: tenant.to_string(),
                        rule_id,
                        rule_title: rule.title.clone(),
                        level_rank: level_rank(&level).unwrap_or(rule.level as i64),
                        level,
                        tags: rule.tags.clone(),
                        group_key: group_key.clone(),
                        count: 0,
                        first_seen_ns: seen_ns,
                        last_seen_ns: seen_ns,
                        events: Vec::new(),
                    });
                d.count += 1;
                d.first_seen_ns = d.first_seen_ns.min(seen_ns);
                d.last_seen_ns = d.last_seen_ns.max(seen_ns);
                if d.events.len() < EVENTS_PER_DETECTION {
                    // The recorder makes the document if the alert keeps the event.
                    d.events.push(MatchedEvent {
                        seq: *seq,
                        seen_ns,
                        event: String::new(),
                    });
                }
            }
        }
        for b in &mut batches {
            // Detection is done with these events: intake may take new ones.
            drop(b.admission.take());
        }
        let folded = Folded {
            detections: folded.into_values().collect(),
            dead,
            suppressed: suppressed.into_iter().collect(),
            last_seq: self.next_seq - 1,
            batches,
        };
        if self.to_recorder.send(folded).is_err() {
            tracing::error!(
                "the alert recorder thread is gone; detections are replayed at the next start"
            );
        }
    }

    /// Reloads the suppressions and overlays when they changed (one small read per batch).
    fn refresh_gate(&mut self) {
        let current = self.gate.as_ref().map(|g| g.generation);
        match self.control.gate_generation() {
            Ok(g) if Some(g) == current => {}
            Ok(_) => match self.control.gate(now_ns()) {
                Ok(gate) => self.gate = Some(gate),
                Err(e) => tracing::warn!(error = %e, "loading suppressions failed"),
            },
            Err(e) => tracing::warn!(error = %e, "reading the suppression generation failed"),
        }
    }

    /// The grouping key of an alert: the values of the configured fields, `|`-joined.
    fn group_key(&self, engine: &Engine, rule_id: &str, event: &Event) -> String {
        let fields = self
            .alerts
            .group_by_rule
            .get(rule_id)
            .unwrap_or(&self.alerts.group_by);
        let mut key = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                key.push('|');
            }
            let v = if f == "host" {
                host_of(&self.profiles, event)
            } else {
                engine.field_text(event, f)
            };
            key.push_str(v.as_deref().unwrap_or(""));
        }
        key
    }
}

/// What the detector hands the recorder for one processed run of batches.
struct Folded {
    detections: Vec<Detection>,
    dead: Vec<DeadLetter>,
    suppressed: Vec<(i64, i64)>,
    /// The last journal sequence number these batches cover.
    last_seq: u64,
    /// The batches (their admission already released): their receipt times feed the latency
    /// histogram once the detections are written, then their events go back to the parser
    /// threads that made them, to be freed there.
    batches: Vec<Batch>,
}

impl Folded {
    /// The document of the event with journal sequence number `seq` (an event of these
    /// batches: the detector names only those), made for an alert that keeps it.
    fn document(&self, seq: u64) -> String {
        let i = self.batches.partition_point(|b| b.first_seq <= seq);
        let item = i.checked_sub(1).and_then(|i| {
            self.batches[i]
                .items
                .get((seq - self.batches[i].first_seq) as usize)
        });
        match item {
            Some(Item::Event { event, received_ns }) => {
                event_document(seq, event, *received_ns).to_string()
            }
            _ => {
                tracing::error!(seq, "a detection names an event its batches do not hold");
                serde_json::json!({ "seq": seq }).to_string()
            }
        }
    }
}

/// Writes the detector's detections and its position to the control plane, in order, one
/// transaction per [`Folded`], then moves the journal cursor (never past what is written).
struct Recorder {
    rx: mpsc::Receiver<Folded>,
    control: Arc<Control>,
    journal: Arc<Journal>,
    metrics: Arc<Metrics>,
    window_ns: i64,
    notify: broadcast::Sender<i64>,
    /// The first journal record whose detections are not written yet.
    next_seq: u64,
    last_cursor: Instant,
    parsers: Arc<ParserThreads>,
}

impl Recorder {
    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(folded) => self.record(folded),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.set_cursor(true);
                    return;
                }
            }
            self.update_gauges();
        }
    }

    fn record(&mut self, f: Folded) {
        let mut delay = Duration::from_millis(100);
        let applied = loop {
            match self.control.apply_rendering(
                &f.detections,
                &f.dead,
                &f.suppressed,
                self.window_ns,
                f.last_seq,
                now_ns(),
                &mut |m| f.document(m.seq),
            ) {
                Ok(a) => break a,
                Err(e) => {
                    tracing::error!(error = %e, "recording detections failed; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        self.next_seq = f.last_seq + 1;
        let m = &self.metrics;
        for d in &f.detections {
            m.detections
                .get_or_create(&metrics::tenant(&d.tenant))
                .inc_by(d.count as u64);
        }
        for l in &f.dead {
            m.dead_lettered
                .get_or_create(&metrics::tenant(&l.tenant))
                .inc();
        }
        for id in applied.created.iter().chain(&applied.updated) {
            let _ = self.notify.send(*id);
        }
        for (tenant, n) in &applied.created_per_tenant {
            m.alerts.get_or_create(&metrics::tenant(tenant)).inc_by(*n);
        }
        for b in &f.batches {
            let secs = b.received.elapsed().as_secs_f64();
            for _ in 0..b.items.len() {
                m.detect_latency.observe(secs);
            }
        }
        self.set_cursor(false);
        for b in f.batches {
            self.parsers.free(b.parser, b.items);
        }
    }

    fn update_gauges(&self) {
        let durable = self.journal.durable_seq();
        self.metrics
            .journal_lag
            .set(durable.saturating_sub(self.next_seq.saturating_sub(1)) as i64);
        let s = self.journal.stats();
        self.metrics.journal_durable_seq.set(durable as i64);
        self.metrics.journal_fsyncs.set(s.fsyncs as i64);
        self.metrics.journal_bytes.set(s.bytes_on_disk as i64);
    }

    fn set_cursor(&mut self, force: bool) {
        if !force && self.last_cursor.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_cursor = Instant::now();
        // A journal cursor is the first record still needed.
        if let Err(e) = self.journal.set_cursor(DETECT_CURSOR, self.next_seq) {
            tracing::warn!(error = %e, "saving the detector's journal cursor failed");
        }
    }
}

/// The value of any Sigma field name in an event, resolved by the event's source profile
/// (the engine only knows the fields its rules use; suppressions may name any).
fn field_text(profiles: &ProfileSet, event: &Event, field: &str) -> Option<String> {
    if profiles.is_empty() {
        return None;
    }
    let profile = profiles.get(event.profile.min(profiles.len() - 1));
    leitstelle_profile::Profile::first_text(&profile.resolve(field), &event.data)
}

/// A rule's id; a rule without one is known by its file.
pub fn rule_id(rule: &leitstelle_sigma::Rule) -> String {
    rule.id.clone().unwrap_or_else(|| rule.file.clone())
}

/// The host an event came from, per its source profile.
pub fn host_of(profiles: &ProfileSet, event: &Event) -> Option<String> {
    if event.profile >= profiles.len() {
        return None;
    }
    Profile::first_text(&profiles.get(event.profile).host, &event.data)
}

/// The event as kept with an alert and returned by the API.
pub fn event_document(seq: u64, event: &Event, received_ns: i64) -> serde_json::Value {
    let raw = match &event.raw {
        leitstelle_event::Raw::Text(t) => serde_json::Value::String(t.to_string()),
        leitstelle_event::Raw::Bytes(b) => serde_json::Value::String(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            b,
        )),
        leitstelle_event::Raw::Tree => serde_json::Value::Null,
    };
    serde_json::json!({
        "seq": seq,
        "tenant": &*event.tenant,
        "timestamp": event.timestamp,
        "received": received_ns,
        "source": event.source.as_str(),
        "origin": event.origin.source.as_deref(),
        "logsource": {
            "product": event.logsource.product.as_deref(),
            "service": event.logsource.service.as_deref(),
            "categories": event.logsource.categories.iter().map(|c| &**c).collect::<Vec<_>>(),
        },
        "data": &event.data,
        "raw": raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(raw: &[u8]) -> Received {
        Received {
            format: RecordFormat::json(),
            raw: raw.to_vec(),
            outcome: Err("test".into()),
            fail_kind: "test",
            parser: None,
        }
    }

    #[tokio::test]
    async fn parser_threads_mark_their_records_and_survive_a_panicking_job() {
        let threads = ParserThreads::start(2).expect("start");
        let first = threads.parse(|| vec![received(b"a")]).await.expect("parse");
        let second = threads
            .parse(|| vec![received(b"b"), received(b"c")])
            .await
            .expect("parse");
        // Round robin: one job per thread, every record marked with its thread.
        assert_eq!(first[0].parser, Some(0));
        assert_eq!(
            second.iter().map(|r| r.parser).collect::<Vec<_>>(),
            [Some(1), Some(1)]
        );
        // A panicking job fails its request only; the thread goes on.
        let failed = threads.parse(|| panic!("parser bug")).await;
        assert!(matches!(failed, Err(SubmitError::Parser(_))));
        for (raw, thread) in [(b"d", 1), (b"e", 0)] {
            let again = threads.parse(|| vec![received(raw)]).await.expect("parse");
            assert_eq!(again[0].parser, Some(thread));
        }
        // Freeing on a thread, on an unknown one, or on none never loses the call.
        threads.free(Some(0), vec![Item::Lost]);
        threads.free(Some(7), vec![Item::Lost]);
        threads.free(None, vec![Item::Lost]);
    }

    /// The recorder finds a matched event by its sequence number in any of the batches it
    /// got, and says so when it cannot.
    #[test]
    fn documents_of_matched_events_come_from_the_batch_that_holds_them() {
        let batch = |first_seq: u64, items: Vec<Item>| Batch {
            first_seq,
            items,
            received: Instant::now(),
            admission: None,
            parser: None,
        };
        let event = |n: u64| Item::Event {
            event: Event::new(
                leitstelle_event::SourceKind::Json,
                serde_json::json!({ "n": n }),
            ),
            received_ns: n as i64,
        };
        let folded = Folded {
            detections: Vec::new(),
            dead: Vec::new(),
            suppressed: Vec::new(),
            last_seq: 7,
            batches: vec![
                batch(3, vec![event(3), Item::Lost, event(5)]),
                batch(6, vec![event(6), event(7)]),
            ],
        };
        for seq in [3, 5, 6, 7] {
            let doc: serde_json::Value = serde_json::from_str(&folded.document(seq)).expect("json");
            assert_eq!(doc["seq"], seq);
            assert_eq!(doc["data"]["n"], seq, "{doc}");
            assert_eq!(doc["received"], seq);
        }
        for seq in [1, 4, 8] {
            assert_eq!(folded.document(seq), format!(r#"{{"seq":{seq}}}"#));
        }
    }
}
