//! File readers for `leitstelle hunt`: turn files on disk into [`Event`]s.
//!
//! A DFIR run points hunt at a folder of collected logs. [`discover`] walks it and tells each
//! file's type from its content ([`sniff`]); [`read_file`] then streams one file's records as
//! events, classified by the [`ProfileSet`] (profile and Sigma logsource) and timestamped, to
//! a sink. Hunt calls [`read_file`] from its worker threads, one file per task, and splits
//! large EVTX files into chunk batches ([`evtx_batches`], [`read_evtx_batch`]).
//!
//! Formats:
//! - **EVTX** (magic `ElfFile\0`), through the `evtx` crate, one 64 KiB chunk at a time. Each
//!   record becomes an event of [`SourceKind::Evtx`] whose tree is the record's JSON
//!   rendering (`Event.System.*`, `Event.EventData.*`), time the record time, origin the
//!   `EventRecordID`.
//! - **JSON**: NDJSON, pretty-printed objects one after another (`jq .`, `evtx_dump -o
//!   json`), or a document of arrays of objects; Winlogbeat/ECS and EVTX-shaped
//!   (`{"Event": {"System": …}}`) objects alike. Time from the profile's `meta.timestamp`
//!   paths ([`parse_timestamp`]).
//! - **Text** logs, one record per line (`leitstelle-parsers`, format `auto`): syslog lines,
//!   also carrying CEF, LEEF or auditd records, bare CEF and LEEF records, and auditd logs
//!   (`audit.log`); RFC 3164 timestamps get the year of the file's modification time. Every
//!   event, of any format, is classified and timestamped by `leitstelle_parsers::to_event`,
//!   as the intake's are.
//! - Any of these **gzip**-compressed (decompressed as a stream).
//!
//! Nothing is dropped silently: a file, chunk, record or line that cannot be read becomes a
//! [`ReadError`] in the same stream ([`Item::Error`]), with file and position, and is counted
//! in the [`FileStats`]; reading goes on with the next record. Memory stays bounded whatever
//! the input: lines and records over [`ReadOptions::max_record_bytes`] are skipped without
//! being held, EVTX is read chunk by chunk, and a panic inside the EVTX parser ends only that
//! file.
//!
//! ```
//! use std::ops::ControlFlow;
//! use leitstelle_profile::ProfileSet;
//! use leitstelle_readers::{discover, read_file, Item, ReadOptions};
//!
//! let dir = std::env::temp_dir().join(format!("leitstelle-readers-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("a.json"), "{\"@timestamp\": \"2024-05-01T10:00:00Z\", \"msg\": \"hi\"}\nnot json\n")?;
//!
//! let (jobs, errors) = discover(&[dir.clone()]);
//! assert!(errors.is_empty());
//! let profiles = ProfileSet::builtin();
//! let mut events = Vec::new();
//! let mut problems = Vec::new();
//! let stats = read_file(&jobs[0], &ReadOptions::default(), &profiles, &mut |item| {
//!     match item {
//!         Item::Event(e) => events.push(e),
//!         Item::Error(e) => problems.push(e.to_string()),
//!     }
//!     ControlFlow::Continue(())
//! });
//! assert_eq!((stats.records, stats.events, stats.errors), (2, 1, 1));
//! assert_eq!(events[0].timestamp, Some(1_714_557_600_000_000_000));
//! assert!(problems[0].ends_with("a.json:line 2: invalid JSON: expected ident at line 1 column 2"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **Invariant:** no global state; the clock is read only when neither
//! [`ReadOptions::year_hint`] nor the file's modification time gives a year.
//!
//! A large uncompressed EVTX file can also be read by several threads: [`evtx_batches`]
//! splits it into batches of consecutive chunks, read in bounded memory as they are taken,
//! and [`read_evtx_batch`] reads one batch on any thread, with the same events, errors and
//! counters as [`read_file`] in total.
//!
//! Not yet: splitting NDJSON by byte ranges at line starts, and gzip-compressed EVTX (read by
//! one thread). Zip archives and UTF-16 text are reported as unsupported.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use chrono::Datelike;
use flate2::read::MultiGzDecoder;
use leitstelle_event::{Event, Origin, Raw, SourceKind, Value};
use leitstelle_parsers::{Parsed, to_event};
use leitstelle_profile::ProfileSet;

mod detect;
mod error;
mod evtx;
mod gzseek;
mod json;
mod lines;
mod syslog;

pub use detect::{SNIFF_BYTES, discover, sniff};
pub use error::{Location, ReadError, ReadErrorKind};
pub use evtx::{EvtxBatch, EvtxBatches};
/// Moved to `leitstelle-parsers`; re-exported so this crate's API stays.
pub use leitstelle_parsers::parse_timestamp;

/// The default of [`ReadOptions::max_record_bytes`]: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

/// The type of a file's content, as told by [`sniff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Evtx,
    Json,
    Syslog,
    /// Gzip-compressed; the type inside is sniffed after decompression. A [`FileJob`] from
    /// [`discover`] never has this kind (it has [`Compression::Gzip`] and the inner kind).
    Gzip,
    /// None of the above (binary). A [`FileJob`] from [`discover`] never has this kind.
    Unknown,
}

impl FileKind {
    /// A stable lowercase name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Evtx => "evtx",
            FileKind::Json => "json",
            FileKind::Syslog => "syslog",
            FileKind::Gzip => "gzip",
            FileKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a file is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// One file to read, as found by [`discover`] or [`FileJob::detect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileJob {
    pub path: PathBuf,
    /// The format of the (decompressed) content. A job built by hand with
    /// [`FileKind::Gzip`] or [`FileKind::Unknown`] is detected again when read.
    pub kind: FileKind,
    pub compression: Compression,
    /// Size on disk in bytes, when found.
    pub size: u64,
}

/// How files are read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The tenant of every event read.
    pub tenant: Arc<str>,
    /// The largest line, JSON record or whole JSON document (a file that is one array) held
    /// in memory; a larger one is a [`ReadErrorKind::TooLarge`] error and is skipped.
    pub max_record_bytes: usize,
    /// The year of RFC 3164 syslog timestamps, which have none. `None`: the year of the
    /// file's modification time, else the current year.
    pub year_hint: Option<i32>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            tenant: Arc::from(leitstelle_event::DEFAULT_TENANT),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            year_hint: None,
        }
    }
}

/// What [`read_file`] hands its sink: an event, or a problem with the file or a record.
#[derive(Debug)]
pub enum Item {
    Event(Event),
    Error(ReadError),
}

/// Counters of one [`read_file`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Records met: events plus records (lines, elements, EVTX records) that failed. Blank
    /// lines are not records.
    pub records: u64,
    /// Events handed to the sink.
    pub events: u64,
    /// Errors handed to the sink (of records, and of the file as a whole).
    pub errors: u64,
    /// Bytes read from the file on disk: compressed bytes for gzip; for EVTX (which the
    /// parser reads by seeking) the size of the file.
    pub bytes: u64,
    /// The sink asked to stop before the end of the file.
    pub stopped: bool,
}

/// Reads one file and hands every event and error to `sink`, in file order, until the end
/// of the file or until `sink` returns [`ControlFlow::Break`]. Never panics on bad input:
/// everything that goes wrong is an [`Item::Error`].
pub fn read_file(
    job: &FileJob,
    opts: &ReadOptions,
    profiles: &ProfileSet,
    sink: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> FileStats {
    let mut ctx = Ctx {
        path: &job.path,
        opts,
        profiles,
        sink,
        origin: Arc::from(job.path.to_string_lossy().as_ref()),
        stats: FileStats::default(),
    };
    let redetected;
    let job = if matches!(job.kind, FileKind::Gzip | FileKind::Unknown) {
        match FileJob::detect(&job.path) {
            Ok(j) => {
                redetected = j;
                &redetected
            }
            Err(e) => {
                let _ = ctx.deliver(Item::Error(e));
                return ctx.stats;
            }
        }
    } else {
        job
    };
    let file = match File::open(&job.path) {
        Ok(f) => f,
        Err(e) => {
            let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
            return ctx.stats;
        }
    };
    let meta = file.metadata().ok();
    let counted = Rc::new(Cell::new(0u64));
    match (job.kind, job.compression) {
        (FileKind::Evtx, Compression::None) => {
            evtx::read(&mut ctx, file);
            counted.set(meta.as_ref().map_or(job.size, |m| m.len()));
        }
        (FileKind::Evtx, Compression::Gzip) => {
            drop(file);
            match gzseek::GzSeek::open(job.path.clone()) {
                Ok(gz) => evtx::read(&mut ctx, gz),
                Err(e) => {
                    let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
                }
            }
            counted.set(meta.as_ref().map_or(job.size, |m| m.len()));
        }
        (kind, compression) => {
            let counting = Counting {
                inner: file,
                count: Rc::clone(&counted),
            };
            let mut reader: Box<dyn BufRead> = match compression {
                Compression::None => Box::new(BufReader::with_capacity(64 * 1024, counting)),
                Compression::Gzip => Box::new(BufReader::with_capacity(
                    64 * 1024,
                    MultiGzDecoder::new(BufReader::new(counting)),
                )),
            };
            match kind {
                FileKind::Json => json::read(&mut ctx, &mut reader),
                FileKind::Syslog => {
                    let year = opts
                        .year_hint
                        .or_else(|| {
                            let mtime = meta.as_ref()?.modified().ok()?;
                            Some(chrono::DateTime::<chrono::Utc>::from(mtime).year())
                        })
                        .unwrap_or_else(|| chrono::Utc::now().year());
                    syslog::read(&mut ctx, &mut reader, year)
                }
                // Handled above (redetected), or impossible after detection.
                FileKind::Evtx | FileKind::Gzip | FileKind::Unknown => {
                    let _ = ctx.error(Location::File, ReadErrorKind::UnknownFormat);
                }
            }
        }
    }
    ctx.stats.bytes = counted.get();
    ctx.stats
}

/// Splits an uncompressed EVTX file into batches of up to `batch_chunks` consecutive chunks
/// (64 KiB each; 0 counts as 1), so that several threads can read one file: hand each
/// [`EvtxBatch`] to [`read_evtx_batch`]. `None` when the job is not an uncompressed EVTX file
/// (gzip-compressed EVTX is read sequentially): read it with [`read_file`].
///
/// The batches, read in order, give exactly what [`read_file`] gives: the same events
/// (tree, time, origin, profile and logsource), the same errors (of the file, a chunk, a
/// record; a truncated end, reported and read as [`read_file`] does), and [`FileStats`]
/// that add up to its. Read in any order they give the same items in another order. One
/// difference: a panic inside the EVTX parser ends only the chunks of its batch, where
/// [`read_file`] skips the rest of the file's chunks.
///
/// Memory stays bounded: chunks are read from disk as batches are taken, so a file is never
/// held whole; what is in memory is the batches taken and not yet read (about
/// `batch_chunks` × 64 KiB each).
///
/// ```
/// use std::ops::ControlFlow;
/// use leitstelle_profile::ProfileSet;
/// use leitstelle_readers::{FileJob, ReadOptions, evtx_batches, read_evtx_batch};
///
/// let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sysmon_10_1_memdump_comsvcs_minidump.evtx");
/// let job = FileJob::detect(fixture.as_ref())?;
/// let profiles = ProfileSet::builtin();
/// let (mut events, mut bytes) = (0, 0);
/// for batch in evtx_batches(&job, 4).into_iter().flatten() {
///     // Typically on other threads (`rayon`'s `par_bridge`).
///     let stats = read_evtx_batch(batch, &ReadOptions::default(), &profiles, &mut |_item| {
///         ControlFlow::Continue(())
///     });
///     events += stats.events;
///     bytes += stats.bytes;
/// }
/// assert_eq!((events, bytes), (6, job.size));
/// # Ok::<(), leitstelle_readers::ReadError>(())
/// ```
pub fn evtx_batches(job: &FileJob, batch_chunks: usize) -> Option<EvtxBatches> {
    match (job.kind, job.compression) {
        (FileKind::Evtx, Compression::None) => {
            Some(EvtxBatches::open(&job.path, job.size, batch_chunks))
        }
        _ => None,
    }
}

/// Reads one batch of [`evtx_batches`] and hands its events and errors to `sink`, in file
/// order, until its end or until `sink` returns [`ControlFlow::Break`]. The counters are the
/// batch's share of the file's ([`EvtxBatch::bytes`] as [`FileStats::bytes`]). Never panics
/// on bad input.
pub fn read_evtx_batch(
    batch: EvtxBatch,
    opts: &ReadOptions,
    profiles: &ProfileSet,
    sink: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> FileStats {
    let EvtxBatch {
        path,
        origin,
        settings,
        parts,
        bytes,
    } = batch;
    let mut ctx = Ctx {
        path: &path,
        opts,
        profiles,
        sink,
        origin,
        stats: FileStats::default(),
    };
    evtx::read_parts(&mut ctx, parts, &settings);
    ctx.stats.bytes = bytes;
    ctx.stats
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// The state of one [`read_file`] call, shared by the format readers.
pub(crate) struct Ctx<'a> {
    path: &'a Path,
    opts: &'a ReadOptions,
    profiles: &'a ProfileSet,
    sink: &'a mut dyn FnMut(Item) -> ControlFlow<()>,
    origin: Arc<str>,
    stats: FileStats,
}

impl Ctx<'_> {
    fn deliver(&mut self, item: Item) -> ControlFlow<()> {
        match &item {
            Item::Event(_) => self.stats.events += 1,
            Item::Error(_) => self.stats.errors += 1,
        }
        let flow = (self.sink)(item);
        if flow.is_break() {
            self.stats.stopped = true;
        }
        flow
    }

    /// Classifies `data`, fills in the timestamp from the profile when `timestamp` is
    /// `None` (both by [`leitstelle_parsers::to_event`], as the intake does), and hands the
    /// event to the sink.
    fn event(
        &mut self,
        source: SourceKind,
        data: Value,
        raw: Raw,
        record: Option<u64>,
        timestamp: Option<i64>,
    ) -> ControlFlow<()> {
        let parsed = Parsed {
            source,
            data,
            raw,
            timestamp,
        };
        let origin = Origin {
            source: Some(Arc::clone(&self.origin)),
            record,
        };
        let event = to_event(self.profiles, Arc::clone(&self.opts.tenant), parsed, origin);
        self.deliver(Item::Event(event))
    }

    fn error(&mut self, location: Location, kind: ReadErrorKind) -> ControlFlow<()> {
        let error = ReadError::new(self.path, location, kind);
        self.deliver(Item::Error(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunt_can_share_and_send_what_it_needs() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<Item>();
        send::<FileJob>();
        send::<FileStats>();
        send::<ReadError>();
        send::<EvtxBatch>();
        send::<EvtxBatches>();
        sync::<ReadError>();
        sync::<ReadOptions>();
        sync::<ProfileSet>();
        sync::<FileJob>();
    }
}
