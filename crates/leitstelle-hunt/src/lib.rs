//! `leitstelle hunt`: Sigma rules over folders of log files, no server.
//!
//! [`load_rules`] reads rule folders (SigmaHQ layout) in parallel and assembles a
//! [`RuleSet`]; [`select_rules`] applies the level / id / tag filters; [`run`] reads every
//! input file on all cores (one file per task, largest first; an EVTX file of
//! [`HuntOptions::split_evtx_bytes`] or more as batches of chunks on several cores), matches
//! each event with the compiled [`Engine`] and returns the [`Detection`]s sorted by event
//! time with a [`Summary`]. [`output`] writes detections as a table, CSV or JSON lines.

mod correlate;
pub mod output;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leitstelle_event::Event;
use leitstelle_profile::{Profile, ProfileSet};
use leitstelle_readers::{FileJob, FileStats, Item, ReadError, ReadOptions};
use leitstelle_sigma::{
    Correlator, Diagnostic, Engine, Level, LoadOptions, Observation, ParsedFile, Rule, RuleSet,
    Scratch, parse_file,
};
use rayon::prelude::*;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    #[error("rule folder {path}: {source}")]
    RuleDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile file {path}: {message}")]
    Profile { path: PathBuf, message: String },
    #[error("placeholder file {path}: {message}")]
    Placeholders { path: PathBuf, message: String },
}

/// Reads every `.yml`/`.yaml` file below the rule folders (in parallel) and assembles them.
/// Unreadable files become diagnostics; only an unreadable folder root is an error.
pub fn load_rules(dirs: &[PathBuf], opts: &LoadOptions) -> Result<RuleSet, HuntError> {
    let mut files = Vec::new();
    for d in dirs {
        if let Err(source) = std::fs::metadata(d) {
            return Err(HuntError::RuleDir {
                path: d.clone(),
                source,
            });
        }
        for entry in walkdir::WalkDir::new(d)
            .follow_links(false)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                        files.push(p.to_path_buf());
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(HuntError::RuleDir {
                        path: d.clone(),
                        source: e.into(),
                    });
                }
            }
        }
    }
    let parsed: Vec<ParsedFile> = files
        .par_iter()
        .map(|p| {
            let name = p.display().to_string();
            // A skipped file is not read; `parse_file` reports the skip.
            if leitstelle_sigma::skip_by_path(&name, opts).is_some() {
                return parse_file(&name, "", opts);
            }
            match std::fs::read_to_string(p) {
                Ok(text) => parse_file(&name, &text, opts),
                Err(e) => ParsedFile {
                    documents: vec![],
                    diagnostics: vec![
                        Diagnostic::error(
                            leitstelle_sigma::Code::S001InvalidYaml,
                            1,
                            1,
                            format!("cannot read rule file: {e}"),
                        )
                        .in_file(&name),
                    ],
                },
            }
        })
        .collect();
    Ok(RuleSet::assemble(parsed))
}

/// Loads profile files (YAML) in front of the built-in profiles.
pub fn load_profiles(files: &[PathBuf]) -> Result<ProfileSet, HuntError> {
    let mut set = ProfileSet::builtin();
    for f in files.iter().rev() {
        let text = std::fs::read_to_string(f).map_err(|e| HuntError::Profile {
            path: f.clone(),
            message: e.to_string(),
        })?;
        set.add_file_first(&f.display().to_string(), &text)
            .map_err(|e| HuntError::Profile {
                path: f.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(set)
}

/// Reads a placeholder file for the `expand` modifier.
pub fn load_placeholders(path: &Path) -> Result<leitstelle_sigma::Placeholders, HuntError> {
    let text = std::fs::read_to_string(path).map_err(|e| HuntError::Placeholders {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    leitstelle_sigma::parse_placeholders(&text).map_err(|message| HuntError::Placeholders {
        path: path.to_path_buf(),
        message,
    })
}

/// Which loaded rules to run.
#[derive(Clone, Debug, Default)]
pub struct RuleFilter {
    pub min_level: Option<Level>,
    /// Only these rule ids (empty: all).
    pub include_ids: Vec<String>,
    pub exclude_ids: Vec<String>,
    /// Only rules with at least one of these tags (case-insensitive; a trailing `*` matches a
    /// prefix, e.g. `attack.t1059*`).
    pub include_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    /// Only rules with one of these statuses (empty: all).
    pub statuses: Vec<String>,
}

fn tag_matches(pattern: &str, tag: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tag
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase()),
        None => tag.eq_ignore_ascii_case(pattern),
    }
}

/// Keeps the rules the filter admits; returns how many were filtered out.
pub fn select_rules(rules: &mut Vec<Rule>, f: &RuleFilter) -> usize {
    let before = rules.len();
    rules.retain(|r| {
        let id = r.id.as_deref().unwrap_or("");
        f.min_level.is_none_or(|m| r.level >= m)
            && (f.include_ids.is_empty() || f.include_ids.iter().any(|i| i == id))
            && !f.exclude_ids.iter().any(|i| i == id)
            && (f.include_tags.is_empty()
                || r.tags
                    .iter()
                    .any(|t| f.include_tags.iter().any(|p| tag_matches(p, t))))
            && !r
                .tags
                .iter()
                .any(|t| f.exclude_tags.iter().any(|p| tag_matches(p, t)))
            && (f.statuses.is_empty()
                || r.status
                    .as_deref()
                    .is_some_and(|s| f.statuses.iter().any(|w| w.eq_ignore_ascii_case(s))))
    });
    before - rules.len()
}

/// One rule firing on one event.
#[derive(Clone, Debug, Serialize)]
pub struct Detection {
    /// `rule` (a rule matched an event) or `correlation` (a correlation rule fired; the
    /// other columns describe the last event of its window).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Event time, RFC 3339 UTC, when the event has one.
    pub timestamp: Option<String>,
    #[serde(skip)]
    pub timestamp_nanos: Option<i64>,
    pub computer: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<String>,
    pub record_id: Option<u64>,
    pub file: String,
    pub rule_title: String,
    pub rule_id: Option<String>,
    pub level: Level,
    pub tags: Vec<String>,
    /// The event fields the rule looked at, with their values (those present).
    pub fields: BTreeMap<String, String>,
}

/// The default of [`HuntOptions::split_evtx_bytes`]: 4 MiB.
pub const DEFAULT_SPLIT_EVTX_BYTES: u64 = 4 << 20;

/// EVTX chunks (64 KiB each) per task when a file is split: 256 KiB, a few hundred records.
/// Enough tasks for the cores, little memory in flight (one batch per worker thread).
const SPLIT_BATCH_CHUNKS: usize = 4;

/// Options of one hunt run.
#[derive(Clone, Debug)]
pub struct HuntOptions {
    pub read: ReadOptions,
    /// Only events at or after this time (Unix nanoseconds).
    pub from: Option<i64>,
    /// Only events before this time (Unix nanoseconds).
    pub to: Option<i64>,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Keep at most this many read errors in the summary (all are counted; 0: 100).
    pub max_errors_kept: usize,
    /// Keep every read error (for `--errors FILE`).
    pub keep_all_errors: bool,
    /// Uncompressed EVTX files of at least this many bytes are read and matched as batches
    /// of chunks on several worker threads, instead of one file per task. Detections and
    /// counts are the same either way. 0: never split. Default
    /// [`DEFAULT_SPLIT_EVTX_BYTES`].
    pub split_evtx_bytes: u64,
    /// Correlation rules to evaluate over the detections (event time).
    pub correlator: Option<Arc<Correlator>>,
    /// Scan every value instead of taking repeated values' hits from the engine's value
    /// memo (same detections; for measuring what the memo saves).
    pub no_value_memo: bool,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            read: ReadOptions::default(),
            from: None,
            to: None,
            threads: 0,
            max_errors_kept: 0,
            keep_all_errors: false,
            split_evtx_bytes: DEFAULT_SPLIT_EVTX_BYTES,
            correlator: None,
            no_value_memo: false,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub events: u64,
    /// Events outside the time range.
    pub events_filtered: u64,
    pub rules_loaded: usize,
    pub rules_filtered_out: usize,
    /// Rule files or documents that did not load, by reason.
    pub rules_skipped: Vec<(String, usize)>,
    pub correlations: usize,
    pub filters: usize,
    pub detections: u64,
    pub by_level: BTreeMap<String, u64>,
    /// (rule title, level, count), most frequent first.
    pub by_rule: Vec<(String, String, u64)>,
    pub errors: u64,
    #[serde(skip)]
    pub error_samples: Vec<String>,
    pub elapsed_secs: f64,
    pub events_per_sec: f64,
}

/// Progress reporting hooks (the CLI draws a bar; tests pass [`NoProgress`]).
pub trait Progress: Sync {
    fn start(&self, total_bytes: u64);
    fn advance(&self, bytes: u64, events: u64);
    fn finish(&self);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
    fn finish(&self) {}
}

pub(crate) fn rfc3339(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn detection(engine: &Engine, profile: &Profile, rule_idx: usize, event: &Event) -> Detection {
    let rule = engine.rule(rule_idx);
    let mut fields = BTreeMap::new();
    for f in engine.rule_field_names(rule_idx) {
        if let Some(v) = engine.field_text(event, f) {
            fields.insert(f.to_string(), v);
        }
    }
    // The source's own record id (EVTX EventRecordID, winlog.record_id) before the line
    // number.
    let record_id = Profile::first_text(&profile.record_id, &event.data)
        .and_then(|s| s.parse().ok())
        .or(event.origin.record);
    Detection {
        kind: "rule",
        timestamp: event.timestamp.map(rfc3339),
        timestamp_nanos: event.timestamp,
        computer: Profile::first_text(&profile.host, &event.data),
        channel: Profile::first_text(&profile.channel, &event.data),
        event_id: Profile::first_text(&profile.event_id, &event.data),
        record_id,
        file: event.origin.source.as_deref().unwrap_or("").to_string(),
        rule_title: rule.title.clone(),
        rule_id: rule.id.clone(),
        level: rule.level,
        tags: rule.attack_tags().map(str::to_string).collect(),
        fields,
    }
}

/// Runs the engine over the files. Detections come back sorted by event time (events without
/// a time last), then file and record.
pub fn run(
    engine: &Engine,
    profiles: &ProfileSet,
    jobs: Vec<FileJob>,
    opts: &HuntOptions,
    progress: &dyn Progress,
) -> (Vec<Detection>, Summary) {
    let started = Instant::now();
    let mut jobs = jobs;
    // Largest first, so one big file does not start last.
    jobs.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let total_bytes: u64 = jobs.iter().map(|j| j.size).sum();
    progress.start(total_bytes);
    let totals = Totals {
        keep: if opts.keep_all_errors {
            usize::MAX
        } else if opts.max_errors_kept == 0 {
            100
        } else {
            opts.max_errors_kept
        },
        ..Totals::default()
    };
    let scanner = Scanner {
        engine,
        profiles,
        opts,
    };
    let work = |jobs: Vec<FileJob>| -> Vec<Detection> {
        jobs.par_iter()
            .map_init(
                || scanner.scratch(),
                |scratch, job| {
                    if opts.split_evtx_bytes > 0
                        && job.size >= opts.split_evtx_bytes
                        && let Some(batches) =
                            leitstelle_readers::evtx_batches(job, SPLIT_BATCH_CHUNKS)
                    {
                        return scanner.split(job, batches, &totals, progress);
                    }
                    let scan = scanner.scan(scratch, |sink| {
                        leitstelle_readers::read_file(job, &opts.read, profiles, sink)
                    });
                    progress.advance(job.size, scan.events);
                    totals.add(&scan);
                    totals.keep_errors(scan.errors);
                    scan.found
                },
            )
            .flatten()
            .collect()
    };
    let mut detections = if opts.threads == 0 {
        work(jobs)
    } else {
        match rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
        {
            Ok(pool) => pool.install(|| work(jobs)),
            Err(_) => work(jobs),
        }
    };
    progress.finish();
    if let Some(c) = &opts.correlator {
        let observed = std::mem::take(
            &mut *totals
                .observations
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let (mut obs, contexts): (Vec<Observation>, Vec<Detection>) = observed.into_iter().unzip();
        for (i, o) in obs.iter_mut().enumerate() {
            o.source = i as u64;
        }
        let hits = c.evaluate(obs);
        detections.extend(correlate::detections(c, &hits, &|src| {
            contexts.get(src as usize).cloned()
        }));
    }
    detections.sort_by(|a, b| {
        (
            a.timestamp_nanos.is_none(),
            a.timestamp_nanos,
            &a.file,
            a.record_id,
            &a.rule_title,
        )
            .cmp(&(
                b.timestamp_nanos.is_none(),
                b.timestamp_nanos,
                &b.file,
                b.record_id,
                &b.rule_title,
            ))
    });
    let elapsed = started.elapsed();
    let mut summary = Summary {
        files: 0,
        bytes: totals.bytes.into_inner(),
        events: totals.events.into_inner(),
        events_filtered: totals.filtered.into_inner(),
        errors: totals.errors.into_inner(),
        error_samples: totals
            .error_samples
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        elapsed_secs: elapsed.as_secs_f64(),
        ..Summary::default()
    };
    summary.events_per_sec = per_sec(summary.events, elapsed);
    summary.detections = detections.len() as u64;
    let mut by_rule: BTreeMap<(String, Level), u64> = BTreeMap::new();
    for d in &detections {
        *summary.by_level.entry(d.level.to_string()).or_default() += 1;
        *by_rule.entry((d.rule_title.clone(), d.level)).or_default() += 1;
    }
    let mut by_rule: Vec<_> = by_rule
        .into_iter()
        .map(|((t, l), n)| (t, l.to_string(), n))
        .collect();
    by_rule.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    summary.by_rule = by_rule;
    (detections, summary)
}

/// What matching one file, or one batch of a split file, found.
struct Scan {
    found: Vec<Detection>,
    /// Observations for correlation rules, each with the detection it came from.
    observations: Vec<(Observation, Detection)>,
    events: u64,
    filtered: u64,
    errors: Vec<ReadError>,
    stats: FileStats,
}

/// Matches the events a reader hands out.
struct Scanner<'a> {
    engine: &'a Engine,
    profiles: &'a ProfileSet,
    opts: &'a HuntOptions,
}

impl Scanner<'_> {
    /// Matches every event `read` hands to its sink.
    fn scan(
        &self,
        scratch: &mut Scratch,
        read: impl FnOnce(&mut dyn FnMut(Item) -> ControlFlow<()>) -> FileStats,
    ) -> Scan {
        let (engine, profiles, opts) = (self.engine, self.profiles, self.opts);
        let mut found = Vec::new();
        let mut hits = Vec::new();
        let mut n_events = 0u64;
        let mut n_filtered = 0u64;
        let mut errors: Vec<ReadError> = Vec::new();
        let mut observations = Vec::new();
        let stats = read(&mut |item| {
            match item {
                Item::Event(ev) => {
                    if let Some(t) = ev.timestamp
                        && (opts.from.is_some_and(|f| t < f) || opts.to.is_some_and(|to| t >= to))
                    {
                        n_filtered += 1;
                        return ControlFlow::Continue(());
                    }
                    n_events += 1;
                    hits.clear();
                    engine.matches_into(&ev, scratch, &mut hits);
                    if !hits.is_empty() {
                        let profile =
                            profiles.get(ev.profile.min(profiles.len().saturating_sub(1)));
                        for &r in &hits {
                            let d = detection(engine, profile, r, &ev);
                            if let Some(c) = &opts.correlator
                                && !c.extracts(r).is_empty()
                            {
                                for o in correlate::observe(c, profile, r, &ev, 0) {
                                    observations.push((o, d.clone()));
                                }
                                if c.is_quiet(r) {
                                    continue;
                                }
                            }
                            found.push(d);
                        }
                    }
                }
                Item::Error(e) => errors.push(e),
            }
            ControlFlow::Continue(())
        });
        Scan {
            found,
            events: n_events,
            filtered: n_filtered,
            errors,
            stats,
            observations,
        }
    }

    /// A worker's matching state.
    fn scratch(&self) -> Scratch {
        if self.opts.no_value_memo {
            Scratch::without_value_memo()
        } else {
            Scratch::new()
        }
    }

    /// Reads and matches the batches of one large EVTX file in parallel on the current rayon
    /// pool, one [`Scratch`] per worker. At most one batch per worker is in memory. Progress
    /// advances by the batches' bytes, `job.size` in total; read errors are kept in file order.
    fn split(
        &self,
        job: &FileJob,
        batches: leitstelle_readers::EvtxBatches,
        totals: &Totals,
        progress: &dyn Progress,
    ) -> Vec<Detection> {
        let advanced = AtomicU64::new(0);
        let mut scans: Vec<(usize, Scan)> = batches
            .enumerate()
            .par_bridge()
            .map_init(
                || self.scratch(),
                |scratch, (i, batch)| {
                    let batch_bytes = batch.bytes();
                    let scan = self.scan(scratch, |sink| {
                        leitstelle_readers::read_evtx_batch(
                            batch,
                            &self.opts.read,
                            self.profiles,
                            sink,
                        )
                    });
                    let before = advanced.fetch_add(batch_bytes, Ordering::Relaxed);
                    progress.advance(
                        batch_bytes.min(job.size.saturating_sub(before)),
                        scan.events,
                    );
                    totals.add(&scan);
                    (i, scan)
                },
            )
            .collect();
        let advanced = advanced.into_inner();
        if advanced < job.size {
            progress.advance(job.size - advanced, 0);
        }
        scans.sort_by_key(|(i, _)| *i);
        let mut found = Vec::new();
        for (_, scan) in scans {
            totals.keep_errors(scan.errors);
            found.extend(scan.found);
        }
        found
    }
}

/// The counters of a run, added to by every file and batch.
#[derive(Default)]
struct Totals {
    events: AtomicU64,
    filtered: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    error_samples: Mutex<Vec<String>>,
    observations: Mutex<Vec<(Observation, Detection)>>,
    /// How many error samples to keep.
    keep: usize,
}

impl Totals {
    fn add(&self, scan: &Scan) {
        if !scan.observations.is_empty() {
            let mut o = match self.observations.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            o.extend(scan.observations.iter().cloned());
        }
        self.events.fetch_add(scan.events, Ordering::Relaxed);
        self.filtered.fetch_add(scan.filtered, Ordering::Relaxed);
        self.errors.fetch_add(
            scan.stats.errors.max(scan.errors.len() as u64),
            Ordering::Relaxed,
        );
        self.bytes.fetch_add(scan.stats.bytes, Ordering::Relaxed);
    }

    /// Keeps read errors as samples, up to the limit.
    fn keep_errors(&self, errors: Vec<ReadError>) {
        if errors.is_empty() {
            return;
        }
        let mut s = match self.error_samples.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for e in errors {
            if s.len() < self.keep {
                s.push(e.to_string());
            }
        }
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n as f64 / s } else { 0.0 }
}
