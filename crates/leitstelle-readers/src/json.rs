//! JSON files: NDJSON, pretty-printed objects one after another, or arrays of objects.
//!
//! The layout is decided by the first record:
//! - it starts with `[`: the whole document (one or more arrays or objects) is read, up to
//!   `max_record_bytes`, and every array element is a record (numbered by element);
//! - it is a complete object on its line: NDJSON, one record per line;
//! - it is an object that goes on over the next lines: pretty-printed records, each ending
//!   with a line that is `}` at column 0 (the output of `jq .` and `evtx_dump -o json`,
//!   whose `Record N` lines between records are skipped).
//!
//! An invalid record is reported with its line and reading goes on at the next one (except
//! in a whole document, where serde_json cannot resume).

use std::io::{BufRead, Read};

use leitstelle_event::{Raw, SourceKind, Value};
use serde_json::value::RawValue;

use crate::detect::is_record_header;
use crate::lines::{Line, next_line, strip_bom};
use crate::{Ctx, Location, ReadErrorKind};

enum Mode {
    Start,
    Ndjson,
    Pretty,
}

/// A pretty-printed record being collected.
struct Pending {
    text: Vec<u8>,
    first_line: u64,
    /// Went over the limit: its text is dropped, the rest of it skipped.
    too_large: bool,
}

pub(crate) fn read(ctx: &mut Ctx<'_>, r: &mut dyn BufRead) {
    let max = ctx.opts.max_record_bytes;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut mode = Mode::Start;
    let mut pending: Option<Pending> = None;
    loop {
        let line = match next_line(r, &mut buf, max) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                let _ = ctx.error(Location::Line(line_no + 1), ReadErrorKind::Io(e));
                return;
            }
        };
        line_no += 1;
        let bytes = if line_no == 1 { strip_bom(&buf) } else { &buf };
        let text = bytes.trim_ascii();
        let flow = match mode {
            Mode::Start | Mode::Ndjson if line == Line::TooLong => {
                mode = Mode::Ndjson;
                ctx.stats.records += 1;
                ctx.error(Location::Line(line_no), too_large("line", max))
            }
            Mode::Pretty if pending.is_none() && line == Line::TooLong => {
                ctx.stats.records += 1;
                ctx.error(Location::Line(line_no), too_large("line", max))
            }
            Mode::Start => {
                if text.is_empty() || is_record_header(text) {
                    continue;
                }
                if text[0] == b'[' {
                    let first = bytes.to_vec();
                    document(ctx, first, r, line_no);
                    return;
                }
                match serde_json::from_slice::<Value>(bytes) {
                    Err(e) if e.is_eof() && text[0] == b'{' => {
                        mode = Mode::Pretty;
                        pending = Some(Pending {
                            text: bytes.to_vec(),
                            first_line: line_no,
                            too_large: false,
                        });
                        continue;
                    }
                    parsed => {
                        mode = Mode::Ndjson;
                        ctx.stats.records += 1;
                        record(ctx, parsed, bytes, Location::Line(line_no))
                    }
                }
            }
            Mode::Ndjson => {
                if text.is_empty() {
                    continue;
                }
                ctx.stats.records += 1;
                let parsed = serde_json::from_slice::<Value>(bytes);
                record(ctx, parsed, bytes, Location::Line(line_no))
            }
            Mode::Pretty => {
                if pending.is_none() {
                    // Between records.
                    if text.is_empty() || is_record_header(text) {
                        continue;
                    }
                    if line == Line::Complete && text[0] == b'{' && text.ends_with(b"}") {
                        // A record on one line between pretty-printed ones.
                        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                            ctx.stats.records += 1;
                            if record(ctx, Ok(v), bytes, Location::Line(line_no)).is_break() {
                                return;
                            }
                            continue;
                        }
                    }
                }
                let p = pending.get_or_insert_with(|| Pending {
                    text: Vec::new(),
                    first_line: line_no,
                    too_large: false,
                });
                p.append(line, bytes, max);
                if !closes(bytes) {
                    continue;
                }
                let flow = p.finish(ctx, max);
                pending = None;
                flow
            }
        };
        if flow.is_break() {
            return;
        }
    }
    if let Some(p) = pending {
        // A record the file ends inside of (truncated, or not closed by a `}` line).
        let _ = p.finish(ctx, max);
    }
}

fn closes(line: &[u8]) -> bool {
    line.trim_ascii_end() == b"}"
}

fn too_large(what: &'static str, limit: usize) -> ReadErrorKind {
    ReadErrorKind::TooLarge { what, limit }
}

impl Pending {
    fn append(&mut self, line: Line, bytes: &[u8], max: usize) {
        if self.too_large {
            return;
        }
        if line == Line::TooLong || self.text.len() + 1 + bytes.len() > max {
            self.too_large = true;
            self.text = Vec::new();
            return;
        }
        if !self.text.is_empty() {
            self.text.push(b'\n');
        }
        self.text.extend_from_slice(bytes);
    }

    fn finish(&self, ctx: &mut Ctx<'_>, max: usize) -> std::ops::ControlFlow<()> {
        ctx.stats.records += 1;
        let location = Location::Line(self.first_line);
        if self.too_large {
            return ctx.error(location, too_large("record", max));
        }
        let parsed = serde_json::from_slice::<Value>(&self.text);
        record(ctx, parsed, &self.text, location)
    }
}

/// One parsed record: an event if it is an object, else an error.
fn record(
    ctx: &mut Ctx<'_>,
    parsed: serde_json::Result<Value>,
    text: &[u8],
    location: Location,
) -> std::ops::ControlFlow<()> {
    match parsed {
        Ok(data @ Value::Object(_)) => {
            let raw = Raw::Text(String::from_utf8_lossy(text).into());
            let number = match location {
                Location::Line(n) | Location::Element(n) => Some(n),
                _ => None,
            };
            ctx.event(SourceKind::Json, data, raw, number, None)
        }
        Ok(other) => ctx.error(
            location,
            ReadErrorKind::NotAnObject {
                found: leitstelle_parsers::json_kind(&other),
            },
        ),
        Err(e) => ctx.error(location, ReadErrorKind::InvalidJson(e.to_string())),
    }
}

/// A whole JSON document (arrays of objects, or objects, one after another), starting with
/// `first` (line `first_line`) and going on with the rest of `r`, read up to the limit.
fn document(ctx: &mut Ctx<'_>, mut doc: Vec<u8>, r: &mut dyn BufRead, first_line: u64) {
    let max = ctx.opts.max_record_bytes;
    doc.push(b'\n');
    let room = (max + 1).saturating_sub(doc.len()) as u64;
    if let Err(e) = r.take(room).read_to_end(&mut doc) {
        let _ = ctx.error(Location::File, ReadErrorKind::Io(e));
        return;
    }
    if doc.len() > max {
        let _ = ctx.error(
            Location::File,
            too_large("JSON document (convert it to NDJSON)", max),
        );
        return;
    }
    let mut element = 0u64;
    for value in serde_json::Deserializer::from_slice(&doc).into_iter::<&RawValue>() {
        let value = match value {
            Ok(value) => value,
            Err(e) => {
                ctx.stats.records += 1;
                let line = first_line - 1 + e.line() as u64;
                let _ = ctx.error(
                    Location::Line(line),
                    ReadErrorKind::InvalidJson(e.to_string()),
                );
                return;
            }
        };
        let items: Vec<&RawValue> = if value.get().starts_with('[') {
            match serde_json::from_str::<Vec<&RawValue>>(value.get()) {
                Ok(items) => items,
                Err(e) => {
                    // Cannot happen: the stream parser already checked the array.
                    let _ = ctx.error(Location::File, ReadErrorKind::InvalidJson(e.to_string()));
                    return;
                }
            }
        } else {
            vec![value]
        };
        for item in items {
            element += 1;
            ctx.stats.records += 1;
            let text = item.get();
            let parsed = serde_json::from_str::<Value>(text);
            if record(ctx, parsed, text.as_bytes(), Location::Element(element)).is_break() {
                return;
            }
        }
    }
}
