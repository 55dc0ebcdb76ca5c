//! Syslog lines, and CEF, LEEF or auditd records carried in them.

use leitstelle_event::SourceKind;
use leitstelle_syslog::SyslogMessage;
use memchr::memmem;
use serde_json::{Map, Value};

use crate::{ParseError, auditd, cef, leef};

/// A record format that travels inside syslog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Embedded {
    Cef,
    Leef,
    Auditd,
}

impl Embedded {
    pub(crate) fn source(self) -> SourceKind {
        match self {
            Embedded::Cef => SourceKind::Cef,
            Embedded::Leef => SourceKind::Leef,
            Embedded::Auditd => SourceKind::Auditd,
        }
    }

    /// The error for a record that is none of this format, bare or in syslog.
    pub(crate) fn missing(self) -> ParseError {
        const WHERE: &str = "at the start or after a syslog header";
        match self {
            Embedded::Cef => {
                ParseError::CefHeader(format!("no CEF record: expected `CEF:` {WHERE}"))
            }
            Embedded::Leef => {
                ParseError::LeefHeader(format!("no LEEF record: expected `LEEF:` {WHERE}"))
            }
            Embedded::Auditd => ParseError::AuditdHeader(format!(
                "no audit record: expected `type=… msg=audit(…)` {WHERE}"
            )),
        }
    }

    /// Parses a bare record into `map`; returns its own time, if it has one.
    pub(crate) fn parse(
        self,
        text: &str,
        map: &mut Map<String, Value>,
    ) -> Result<Option<i64>, ParseError> {
        match self {
            Embedded::Cef => cef::parse(text, map),
            Embedded::Leef => leef::parse(text, map),
            Embedded::Auditd => auditd::parse(text, map),
        }
    }
}

/// What a bare record (no syslog header) is, by its start.
pub(crate) fn bare(text: &str) -> Option<Embedded> {
    if text.starts_with("CEF:") {
        Some(Embedded::Cef)
    } else if text.starts_with("LEEF:") {
        Some(Embedded::Leef)
    } else if auditd::sniff(text) {
        Some(Embedded::Auditd)
    } else {
        None
    }
}

/// A syslog line split into its header and, when the message part is one, an embedded
/// record.
pub(crate) struct Split<'a> {
    pub(crate) header: SyslogMessage,
    pub(crate) record: Option<(Embedded, &'a str)>,
}

/// Parses a syslog line and finds a CEF, LEEF or auditd record where a header allows one:
/// as the message (after the tag, or after RFC 5424 structured data), or where the tag
/// would be (`<134>Jan 18 11:07:53 host CEF:0|…`, the ArcSight and Check Point form). The
/// kernel's `audit: type=1400 audit(…)` (with or without a `[ 12.345]` uptime before it)
/// counts as an auditd record.
pub(crate) fn split(line: &str) -> Result<Split<'_>, ParseError> {
    let header = leitstelle_syslog::parse(line).map_err(ParseError::Syslog)?;
    if let Some(record) = in_message(line, &header.message) {
        return Ok(Split {
            header,
            record: Some(record),
        });
    }
    // The record starts where the syslog parser saw a tag or a host name: find a marker
    // whose prefix is a complete syslog header with nothing after it.
    for (marker, kind) in [("CEF:", Embedded::Cef), ("LEEF:", Embedded::Leef)] {
        for at in memmem::find_iter(line.as_bytes(), marker.as_bytes()).take(4) {
            let prefix = line[..at].trim_end();
            if prefix.is_empty() {
                continue;
            }
            if let Ok(h) = leitstelle_syslog::parse(prefix)
                && h.message.trim_start_matches('\u{feff}').trim().is_empty()
            {
                return Ok(Split {
                    header: h,
                    record: Some((kind, &line[at..])),
                });
            }
        }
    }
    Ok(Split {
        header,
        record: None,
    })
}

/// The record the message part of a line is, located in `line` so it borrows from it.
fn in_message<'a>(line: &'a str, message: &str) -> Option<(Embedded, &'a str)> {
    let m = message.trim_start_matches('\u{feff}').trim_start();
    let kind = match bare(m) {
        Some(kind) => kind,
        None => {
            let after = kernel_audit(m)?;
            auditd::sniff(after).then_some(Embedded::Auditd)?
        }
    };
    // The message is the end of the line, line ends aside.
    let line = line.trim_end_matches(['\n', '\r', '\0']);
    if !line.ends_with(m) {
        return None;
    }
    let record = &line[line.len() - m.len()..];
    let record = match kind {
        Embedded::Auditd => kernel_audit(record).unwrap_or(record),
        _ => record,
    };
    Some((kind, record))
}

/// The text after the kernel's `[ 12.345] audit: ` prefix, when there is one.
fn kernel_audit(m: &str) -> Option<&str> {
    let m = match m.strip_prefix('[') {
        Some(rest) => {
            let (uptime, after) = rest.split_once(']')?;
            if !uptime
                .trim()
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
            {
                return None;
            }
            after.trim_start()
        }
        None => m,
    };
    m.strip_prefix("audit:").map(str::trim_start)
}

/// The header as the `syslog` object of an embedded record's tree: the syslog tree
/// without its `message` (which is the record).
pub(crate) fn header_value(header: &SyslogMessage) -> Value {
    let mut value = header.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("message");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, want: Option<(Embedded, &str)>, host: Option<&str>) {
        let s = split(line).expect("syslog");
        assert_eq!(s.record, want, "{line}");
        assert_eq!(s.header.hostname.as_deref(), host, "{line}");
    }

    #[test]
    fn records_where_a_header_allows_them() {
        let cef = "CEF:0|V|P|1|id|n|5|src=1";
        check(
            &format!("<134>Jan 18 11:07:53 fw01 {cef}"),
            Some((Embedded::Cef, cef)),
            Some("fw01"),
        );
        check(
            &format!("<134>Jan 18 11:07:53 {cef}"),
            Some((Embedded::Cef, cef)),
            None,
        );
        check(
            &format!("<134>1 2024-01-18T11:07:53Z fw01 CheckPoint 123 - [a@1 b=\"c\"] {cef}\r\n"),
            Some((Embedded::Cef, cef)),
            Some("fw01"),
        );
        check(
            &format!("Jan 18 11:07:53 fw01 app[1]: \u{feff}{cef}"),
            Some((Embedded::Cef, cef)),
            Some("fw01"),
        );
        let leef = "LEEF:1.0|V|P|1|id|src=1";
        check(
            &format!("<13>Jan 18 11:07:53 qr {leef}"),
            Some((Embedded::Leef, leef)),
            Some("qr"),
        );
        let audit = "type=1400 audit(1700000000.123:45): apparmor=\"DENIED\"";
        check(
            &format!("Jan 18 11:07:53 h kernel: [ 12.5] audit: {audit}"),
            Some((Embedded::Auditd, audit)),
            Some("h"),
        );
        let audit = "node=h type=SYSCALL msg=audit(1.2:3): a=b";
        check(
            &format!("Jan 18 11:07:53 h audispd: {audit}"),
            Some((Embedded::Auditd, audit)),
            Some("h"),
        );
    }

    #[test]
    fn markers_inside_the_message_are_text() {
        check(
            "Jan 18 11:07:53 h sshd[1]: user typed CEF:0|a|b|c|d|e|f|",
            None,
            Some("h"),
        );
        check("Jan 18 11:07:53 h app: hello", None, Some("h"));
    }
}
