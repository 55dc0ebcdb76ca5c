//! EVTX files through the `evtx` crate, one chunk (64 KiB) at a time.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};
use leitstelle_event::{Raw, SourceKind};

use crate::error::chain;
use crate::{Ctx, Location, ReadErrorKind};

const HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;
const CHUNK_HEADER_SIZE: u64 = 512;

/// Reads every record of an EVTX stream. Errors of the file, a chunk or a record are reported
/// and reading goes on with the next chunk or record.
pub(crate) fn read<R: Read + Seek>(ctx: &mut Ctx<'_>, mut input: R) {
    let len = match input.seek(SeekFrom::End(0)) {
        Ok(len) => len,
        Err(e) => {
            let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
            return;
        }
    };
    if let Err(e) = input.seek(SeekFrom::Start(0)) {
        let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
        return;
    }
    if records(ctx, &mut input, 0).is_break() {
        return;
    }
    // The parser reads whole chunks only. A file cut short (copied while being written,
    // carved, truncated) ends in a partial chunk: read it on its own, padded with zeros, so
    // the records before the cut are not lost.
    let tail = len.saturating_sub(HEADER_SIZE) % CHUNK_SIZE;
    if len <= HEADER_SIZE || tail == 0 {
        return;
    }
    let chunk = (len - HEADER_SIZE) / CHUNK_SIZE;
    let flow = ctx.error(
        Location::Chunk(chunk),
        ReadErrorKind::Evtx(format!(
            "file ends after {tail} of the chunk's {CHUNK_SIZE} bytes (truncated?); \
             only its records before the cut are read"
        )),
    );
    if flow.is_break() || tail < CHUNK_HEADER_SIZE {
        return;
    }
    let mut padded = vec![0u8; (HEADER_SIZE + CHUNK_SIZE) as usize];
    let (head, body) = padded.split_at_mut(HEADER_SIZE as usize);
    let copied = input
        .seek(SeekFrom::Start(0))
        .and_then(|_| input.read_exact(head))
        .and_then(|_| input.seek(SeekFrom::Start(HEADER_SIZE + chunk * CHUNK_SIZE)))
        .and_then(|_| input.read_exact(&mut body[..tail as usize]));
    if let Err(e) = copied {
        let _ = ctx.error(Location::Chunk(chunk), ReadErrorKind::Io(e));
        return;
    }
    let _ = records(ctx, Cursor::new(padded), chunk);
}

/// Reads the records of `input` and reports them; chunk numbers in errors are offset by
/// `first_chunk`.
fn records<R: Read + Seek>(ctx: &mut Ctx<'_>, input: R, first_chunk: u64) -> ControlFlow<()> {
    let parser = match catch_unwind(AssertUnwindSafe(|| EvtxParser::from_read_seek(input))) {
        Ok(Ok(parser)) => parser,
        Ok(Err(e)) => return ctx.error(Location::File, ReadErrorKind::Evtx(chain(&e))),
        Err(panic) => return ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic))),
    };
    // Single-threaded: hunt parallelises across files. `evtx` is built without its
    // `multithreading` feature, where one thread is the only mode (and
    // `ParserSettings::num_threads` only logs a warning), so it is not called.
    let mut parser = parser.with_configuration(ParserSettings::new());
    let mut records = parser.records_json_value();
    loop {
        let next = match catch_unwind(AssertUnwindSafe(|| records.next())) {
            Ok(next) => next,
            Err(panic) => {
                return ctx.error(Location::File, ReadErrorKind::Panic(panic_text(&panic)));
            }
        };
        let flow = match next {
            None => return ControlFlow::Continue(()),
            Some(Ok(record)) => {
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
            Some(Err(e)) => {
                let location = match locate(&e) {
                    Location::Chunk(n) => Location::Chunk(n + first_chunk),
                    other => other,
                };
                if matches!(location, Location::Record(_)) {
                    ctx.stats.records += 1;
                }
                ctx.error(location, ReadErrorKind::Evtx(chain(&e)))
            }
        };
        if flow.is_break() {
            return flow;
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
