//! Text log files: one record per non-empty line, parsed by `leitstelle-parsers` with
//! [`Format::Auto`]: syslog lines (and the CEF, LEEF or auditd records they carry), bare
//! CEF / LEEF records, and auditd records (`/var/log/audit/audit.log`).

use std::io::BufRead;

use leitstelle_parsers::{Format, Limits, ParseContext, ParseError};

use crate::lines::{Line, next_line, strip_bom};
use crate::{Ctx, Location, ReadErrorKind};

/// A text file whose first this many non-empty lines all fail to parse is not a log: one
/// error for the file instead of one per line.
pub(crate) const NOT_A_LOG_AFTER: usize = 16;

/// Reads every line; `year` completes RFC 3164 timestamps, which have none.
pub(crate) fn read(ctx: &mut Ctx<'_>, r: &mut dyn BufRead, year: i32) {
    let max = ctx.opts.max_record_bytes;
    // Lines are already bounded by `max`; no other limit than the reader's own, and
    // Latin-1 and the like are kept as far as they can be read.
    let parse_ctx = ParseContext {
        year_hint: year,
        limits: Limits {
            max_record_bytes: max,
            max_fields: usize::MAX,
            max_field_bytes: max,
            ..Limits::default()
        },
        lossy_utf8: true,
    };
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    // Line errors held back until a line parses (then they are reported) or until
    // NOT_A_LOG_AFTER of them say the file is not a log at all.
    let mut held: Option<Vec<(Location, ReadErrorKind)>> = Some(Vec::new());
    loop {
        let line = match next_line(r, &mut buf, max) {
            Ok(Some(line)) => line,
            Ok(None) => return flush(ctx, held),
            Err(e) => {
                flush(ctx, held.take());
                let _ = ctx.error(Location::Line(line_no + 1), ReadErrorKind::Io(e));
                return;
            }
        };
        line_no += 1;
        let location = Location::Line(line_no);
        let flow = if line == Line::TooLong {
            ctx.stats.records += 1;
            ctx.error(
                location,
                ReadErrorKind::TooLarge {
                    what: "line",
                    limit: max,
                },
            )
        } else {
            let bytes = if line_no == 1 { strip_bom(&buf) } else { &buf };
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            ctx.stats.records += 1;
            match leitstelle_parsers::parse(Format::Auto, bytes, &parse_ctx) {
                Ok(parsed) => {
                    if let Some(errors) = held.take() {
                        for (loc, kind) in errors {
                            if ctx.error(loc, kind).is_break() {
                                return;
                            }
                        }
                    }
                    ctx.event(
                        parsed.source,
                        parsed.data,
                        parsed.raw,
                        Some(line_no),
                        parsed.timestamp,
                    )
                }
                Err(e) => {
                    let kind = match e {
                        ParseError::Syslog(e) => ReadErrorKind::Syslog(e.to_string()),
                        other => ReadErrorKind::Parse(other),
                    };
                    match held.as_mut() {
                        Some(errors) => {
                            errors.push((location, kind));
                            if errors.len() >= NOT_A_LOG_AFTER {
                                let first = errors
                                    .first()
                                    .map(|(_, k)| k.to_string())
                                    .unwrap_or_default();
                                let _ = ctx.error(
                                    Location::File,
                                    ReadErrorKind::NotALog {
                                        lines: errors.len() as u64,
                                        first,
                                    },
                                );
                                return;
                            }
                            std::ops::ControlFlow::Continue(())
                        }
                        None => ctx.error(location, kind),
                    }
                }
            }
        };
        if flow.is_break() {
            return;
        }
    }
}

/// At the end of the file: line errors still held back are reported.
fn flush(ctx: &mut Ctx<'_>, held: Option<Vec<(Location, ReadErrorKind)>>) {
    for (loc, kind) in held.into_iter().flatten() {
        if ctx.error(loc, kind).is_break() {
            return;
        }
    }
}
