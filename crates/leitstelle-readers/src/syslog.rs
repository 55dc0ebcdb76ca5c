//! Syslog text files: one message per non-empty line, parsed by `leitstelle-syslog`.

use std::io::BufRead;

use leitstelle_event::{Raw, SourceKind};

use crate::lines::{Line, next_line, strip_bom};
use crate::{Ctx, Location, ReadErrorKind};

/// Reads every line; `year` completes RFC 3164 timestamps, which have none.
pub(crate) fn read(ctx: &mut Ctx<'_>, r: &mut dyn BufRead, year: i32) {
    let max = ctx.opts.max_record_bytes;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        let line = match next_line(r, &mut buf, max) {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
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
            // Not UTF-8 (Latin-1 and the like): keep what can be read.
            let text = String::from_utf8_lossy(bytes);
            match leitstelle_syslog::parse(&text) {
                Ok(msg) => {
                    let timestamp = msg.timestamp_nanos(year);
                    let data = msg.to_value();
                    let raw = Raw::Text(text.into());
                    ctx.event(SourceKind::Syslog, data, raw, Some(line_no), timestamp)
                }
                Err(e) => ctx.error(location, ReadErrorKind::Syslog(e.to_string())),
            }
        };
        if flow.is_break() {
            return;
        }
    }
}
