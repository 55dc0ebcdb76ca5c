//! EVTX files through the `evtx` crate, one chunk (64 KiB) at a time.
//!
//! Two ways through a file. [`read`] walks it on the calling thread with the parser's own
//! record iterator: the reference. [`EvtxBatches`] walks the same chunks in the same order
//! but hands them out in batches that other threads render ([`read_parts`]); the records,
//! errors and counters of all batches are those of [`read`], as `tests/evtx_batches.rs`
//! checks.

use std::fmt;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings, SerializedEvtxRecord};
use leitstelle_event::{Raw, SourceKind, Value};

use crate::error::chain;
use crate::{Ctx, Location, ReadErrorKind};

const HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;
const CHUNK_HEADER_SIZE: u64 = 512;

/// Reads every record of an EVTX stream. Errors of the file, a chunk or a record are reported
/// and reading goes on with the next chunk or record.
pub(crate) fn read<R: Read + Seek>(ctx: &mut Ctx<'_>, mut input: R) {
    let Some(len) = length(ctx, &mut input) else {
        return;
    };
    if records(ctx, &mut input, 0).is_break() {
        return;
    }
    let parts = tail(&mut input, len);
    read_parts(ctx, parts, &Arc::new(ParserSettings::new()));
}

/// The length of `input`, which is left at its start; `None` (after reporting why) when it
/// cannot be sought.
fn length<R: Seek>(ctx: &mut Ctx<'_>, input: &mut R) -> Option<u64> {
    match input
        .seek(SeekFrom::End(0))
        .and_then(|len| input.seek(SeekFrom::Start(0)).map(|_| len))
    {
        Ok(len) => Some(len),
        Err(e) => {
            let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
            None
        }
    }
}

/// What the end of a stream of `len` bytes holds besides whole chunks. The parser reads whole
/// chunks only. A file cut short (copied while being written, carved, truncated) ends in a
/// partial chunk: it is reported, and read on its own, padded with zeros, so the records
/// before the cut are not lost.
fn tail<R: Read + Seek>(input: &mut R, len: u64) -> Vec<Part> {
    let tail = len.saturating_sub(HEADER_SIZE) % CHUNK_SIZE;
    if len <= HEADER_SIZE || tail == 0 {
        return Vec::new();
    }
    let chunk = (len - HEADER_SIZE) / CHUNK_SIZE;
    let mut parts = vec![Part::Error(
        Location::Chunk(chunk),
        ReadErrorKind::Evtx(format!(
            "file ends after {tail} of the chunk's {CHUNK_SIZE} bytes (truncated?); \
             only its records before the cut are read"
        )),
    )];
    if tail < CHUNK_HEADER_SIZE {
        return parts;
    }
    let mut padded = vec![0u8; (HEADER_SIZE + CHUNK_SIZE) as usize];
    let (head, body) = padded.split_at_mut(HEADER_SIZE as usize);
    let copied = input
        .seek(SeekFrom::Start(0))
        .and_then(|_| input.read_exact(head))
        .and_then(|_| input.seek(SeekFrom::Start(HEADER_SIZE + chunk * CHUNK_SIZE)))
        .and_then(|_| input.read_exact(&mut body[..tail as usize]));
    parts.push(match copied {
        Ok(()) => Part::Padded {
            file: padded,
            chunk,
        },
        Err(e) => Part::Error(Location::Chunk(chunk), ReadErrorKind::Io(e)),
    });
    parts
}

/// Reads the records of `input` and reports them; chunk numbers in errors are offset by
/// `first_chunk`.
fn records<R: Read + Seek>(ctx: &mut Ctx<'_>, input: R, first_chunk: u64) -> ControlFlow<()> {
    let parser = match catch_unwind(AssertUnwindSafe(|| EvtxParser::from_read_seek(input))) {
        Ok(Ok(parser)) => parser,
        Ok(Err(e)) => return ctx.error(Location::File, ReadErrorKind::Evtx(chain(&e))),
        Err(panic) => return ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic))),
    };
    // Single-threaded: hunt parallelises across files, and across the batches of a large
    // file ([`EvtxBatches`]). `evtx` is built without its `multithreading` feature, where one
    // thread is the only mode (and `ParserSettings::num_threads` only logs a warning), so it
    // is not called.
    let mut parser = parser.with_configuration(ParserSettings::new());
    let mut records = parser.records_json_value();
    loop {
        let next = match catch_unwind(AssertUnwindSafe(|| records.next())) {
            Ok(Some(next)) => next,
            Ok(None) => return ControlFlow::Continue(()),
            Err(panic) => {
                return ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic)));
            }
        };
        record(ctx, next, first_chunk)?;
    }
}

/// Reports one record, or the error the parser gave in its place.
fn record(
    ctx: &mut Ctx<'_>,
    next: Result<SerializedEvtxRecord<Value>, EvtxError>,
    first_chunk: u64,
) -> ControlFlow<()> {
    match next {
        Ok(record) => {
            ctx.stats.records += 1;
            let timestamp = i64::try_from(record.timestamp.as_nanosecond()).ok();
            ctx.event(
                SourceKind::Evtx,
                record.data,
                Raw::Tree,
                Some(record.event_record_id),
                timestamp,
            )
        }
        Err(e) => {
            let location = match locate(&e) {
                Location::Chunk(n) => Location::Chunk(n + first_chunk),
                other => other,
            };
            if matches!(location, Location::Record(_)) {
                ctx.stats.records += 1;
            }
            ctx.error(location, ReadErrorKind::Evtx(chain(&e)))
        }
    }
}

fn locate(e: &EvtxError) -> Location {
    match e {
        EvtxError::FailedToParseRecord { record_id, .. } => Location::Record(*record_id),
        EvtxError::FailedToParseChunk { chunk_id, .. } => Location::Chunk(*chunk_id),
        EvtxError::FailedToReadRecordAt {
            chunk: Some(chunk), ..
        } => Location::Chunk(*chunk),
        _ => Location::File,
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// One step of reading a file, in file order: what a batch holds.
pub(crate) enum Part {
    /// A chunk as the parser's walk read it (with its number in the file), or why it could
    /// not be read. Boxed: the other parts are small.
    Chunk(Box<Result<EvtxChunkData, EvtxError>>),
    /// A problem of the file as a whole, or of its truncated end.
    Error(Location, ReadErrorKind),
    /// The partial last chunk of a truncated file, behind the file header and padded with
    /// zeros to a whole chunk, read as a file of its own; `chunk` is its number in the file.
    Padded { file: Vec<u8>, chunk: u64 },
}

/// Reads the parts of a batch in order. A panic inside the parser skips the batch's remaining
/// chunks (the sequential reader would skip the file's remaining chunks).
pub(crate) fn read_parts(ctx: &mut Ctx<'_>, parts: Vec<Part>, settings: &Arc<ParserSettings>) {
    let mut walk_ended = false;
    for part in parts {
        let flow = match part {
            Part::Chunk(_) if walk_ended => continue,
            Part::Chunk(chunk) => match chunk_records(ctx, *chunk, settings) {
                Some(flow) => flow,
                None => {
                    walk_ended = true;
                    ControlFlow::Continue(())
                }
            },
            Part::Error(location, kind) => ctx.error(location, kind),
            Part::Padded { file, chunk } => records(ctx, Cursor::new(file), chunk),
        };
        if flow.is_break() {
            return;
        }
    }
}

/// Reports the records of one chunk as the parser's record iterator does (`records`):
/// chunk by chunk with the same settings, records rendered by `into_json_value`. `None`
/// when the parser panicked (reported as an error of the file).
fn chunk_records(
    ctx: &mut Ctx<'_>,
    chunk: Result<EvtxChunkData, EvtxError>,
    settings: &Arc<ParserSettings>,
) -> Option<ControlFlow<()>> {
    let mut data = match chunk {
        Ok(data) => data,
        Err(e) => return Some(record(ctx, Err(e), 0)),
    };
    let number = data.number.unwrap_or_default();
    let data = &mut data;
    let settings = Arc::clone(settings);
    let parsed = catch_unwind(AssertUnwindSafe(move || {
        EvtxChunkData::parse(data, settings)
    }));
    let mut chunk = match parsed {
        Ok(Ok(chunk)) => chunk,
        Ok(Err(e)) => {
            let e = EvtxError::FailedToParseChunk {
                chunk_id: number,
                source: Box::new(e),
            };
            return Some(record(ctx, Err(e), 0));
        }
        Err(panic) => {
            let _ = ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic)));
            return None;
        }
    };
    let mut records = chunk.iter();
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| {
            let record = records.next()?;
            let recovered = record.as_ref().is_ok_and(|r| r.recovered);
            Some((recovered, record.and_then(|r| r.into_json_value())))
        }));
        let next = match next {
            Ok(Some((recovered, next))) => {
                // As `EvtxParser::serialized_records`: carved records that fail to render
                // are noise (none are carved with the default settings).
                if recovered && next.is_err() {
                    continue;
                }
                next
            }
            Ok(None) => return Some(ControlFlow::Continue(())),
            Err(panic) => {
                let _ = ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic)));
                return None;
            }
        };
        let flow = record(ctx, next, 0);
        if flow.is_break() {
            return Some(flow);
        }
    }
}

/// A file read through a shared handle: by the parser's chunk walk, then for its tail.
struct Shared(Arc<File>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Seek for Shared {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        (&*self.0).seek(pos)
    }
}

/// Consecutive chunks of one EVTX file, to be read on any thread with
/// [`read_evtx_batch`](crate::read_evtx_batch). Made by [`evtx_batches`](crate::evtx_batches).
pub struct EvtxBatch {
    pub(crate) path: Arc<Path>,
    pub(crate) origin: Arc<str>,
    pub(crate) settings: Arc<ParserSettings>,
    pub(crate) parts: Vec<Part>,
    pub(crate) bytes: u64,
}

impl EvtxBatch {
    /// The file's bytes this batch stands for; those of all batches of a file add up to its
    /// size (what [`read_file`](crate::read_file) reports as [`FileStats::bytes`](crate::FileStats::bytes)).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The chunks it holds (including those that could not be read).
    pub fn chunks(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| matches!(p, Part::Chunk(_)))
            .count()
    }

    /// The file it is part of.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for EvtxBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvtxBatch")
            .field("path", &self.path)
            .field("parts", &self.parts.len())
            .field("chunks", &self.chunks())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// The batches of one EVTX file, in file order (see [`evtx_batches`](crate::evtx_batches)).
/// Chunks are read from disk as batches are taken, so only the batches taken and not yet
/// dropped are in memory.
pub struct EvtxBatches {
    path: Arc<Path>,
    origin: Arc<str>,
    settings: Arc<ParserSettings>,
    batch_chunks: usize,
    file: Option<Arc<File>>,
    /// The length the tail is computed from, as the sequential reader sees it.
    len: u64,
    /// The parser's walk over the chunks, until it ends.
    walk: Option<IntoIterChunks<Shared>>,
    /// Parts found before the walk (errors of the file), for the first batch.
    pending: Vec<Part>,
    /// The end of the file is still to be looked at (after the walk).
    tail_pending: bool,
    /// The file's size in bytes, and how much of it the batches so far stand for.
    total: u64,
    accounted: u64,
    first: bool,
    done: bool,
}

impl fmt::Debug for EvtxBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvtxBatches")
            .field("path", &self.path)
            .field("batch_chunks", &self.batch_chunks)
            .field("total", &self.total)
            .field("accounted", &self.accounted)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl EvtxBatches {
    /// Opens `path` and starts the chunk walk. Everything that goes wrong becomes a part of the
    /// first batch, reported as [`read`] reports it.
    pub(crate) fn open(path: &Path, size_hint: u64, batch_chunks: usize) -> EvtxBatches {
        let mut batches = EvtxBatches {
            path: Arc::from(path),
            origin: Arc::from(path.to_string_lossy().as_ref()),
            settings: Arc::new(ParserSettings::new()),
            batch_chunks: batch_chunks.max(1),
            file: None,
            len: 0,
            walk: None,
            pending: Vec::new(),
            tail_pending: false,
            total: 0,
            accounted: 0,
            first: true,
            done: false,
        };
        let file = match File::open(path) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                batches
                    .pending
                    .push(Part::Error(Location::File, ReadErrorKind::Io(e)));
                return batches;
            }
        };
        batches.total = file.metadata().map_or(size_hint, |m| m.len());
        let mut input = Shared(Arc::clone(&file));
        let len = match input
            .seek(SeekFrom::End(0))
            .and_then(|len| input.seek(SeekFrom::Start(0)).map(|_| len))
        {
            Ok(len) => len,
            Err(e) => {
                batches
                    .pending
                    .push(Part::Error(Location::File, ReadErrorKind::Io(e)));
                return batches;
            }
        };
        batches.len = len;
        batches.file = Some(file);
        batches.tail_pending = true;
        let walk = catch_unwind(AssertUnwindSafe(|| {
            EvtxParser::from_read_seek(input).map(|parser| {
                parser
                    .with_configuration(ParserSettings::new())
                    .into_chunks()
            })
        }));
        match walk {
            Ok(Ok(walk)) => batches.walk = Some(walk),
            Ok(Err(e)) => batches
                .pending
                .push(Part::Error(Location::File, ReadErrorKind::Evtx(chain(&e)))),
            Err(panic) => batches.pending.push(Part::Error(
                Location::File,
                ReadErrorKind::Panic(panic_text(&panic)),
            )),
        }
        batches
    }
}

impl Iterator for EvtxBatches {
    type Item = EvtxBatch;

    fn next(&mut self) -> Option<EvtxBatch> {
        if self.done {
            return None;
        }
        let mut parts = std::mem::take(&mut self.pending);
        let mut chunks = 0u64;
        while chunks < self.batch_chunks as u64 {
            let Some(walk) = self.walk.as_mut() else {
                break;
            };
            match catch_unwind(AssertUnwindSafe(|| walk.next())) {
                Ok(Some(chunk)) => {
                    parts.push(Part::Chunk(Box::new(chunk)));
                    chunks += 1;
                }
                Ok(None) => self.walk = None,
                Err(panic) => {
                    parts.push(Part::Error(
                        Location::File,
                        ReadErrorKind::Panic(panic_text(&panic)),
                    ));
                    self.walk = None;
                }
            }
        }
        let bytes = if self.walk.is_none() {
            if self.tail_pending
                && let Some(file) = &self.file
            {
                parts.extend(tail(&mut Shared(Arc::clone(file)), self.len));
            }
            self.tail_pending = false;
            self.file = None;
            self.done = true;
            self.total.saturating_sub(self.accounted)
        } else {
            let header = if self.first { HEADER_SIZE } else { 0 };
            (header + chunks * CHUNK_SIZE).min(self.total.saturating_sub(self.accounted))
        };
        self.first = false;
        self.accounted += bytes;
        if parts.is_empty() && bytes == 0 {
            return None;
        }
        Some(EvtxBatch {
            path: Arc::clone(&self.path),
            origin: Arc::clone(&self.origin),
            settings: Arc::clone(&self.settings),
            parts,
            bytes,
        })
    }
}
