//! Syslog line parser for RFC 5424 and RFC 3164 (BSD) messages.
//!
//! [`parse`] turns one line into a [`SyslogMessage`]: priority split into [`Facility`] and
//! [`Severity`], the header fields as written, RFC 5424 structured data as [`SdElement`]s and
//! the free-text message. [`SyslogMessage::to_value`] gives the JSON shape the rest of
//! Leitstelle consumes and [`SyslogMessage::timestamp_nanos`] the event time.
//!
//! Accepted shapes:
//!
//! - RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG`, with `-` for absent
//!   fields, escaped `\"`, `\\` and `\]` in parameter values and an optional BOM before `MSG`;
//! - RFC 3164 / BSD: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, also without `<PRI>` as in
//!   `/var/log/syslog` or `auth.log`, without a hostname (as sent to `/dev/log`), and with an
//!   RFC 3339 timestamp as rsyslog writes its files (`2024-01-05T10:00:00.123+01:00 host app[1]: msg`).
//!
//! The parser is lenient where real senders are sloppy: runs of spaces between header fields,
//! a missing tag, a trailing `\n`/`\r\n`, structured data that does not parse (kept as
//! message text instead of dropping the line). It rejects only lines with nothing
//! syslog-like in them, see [`SyslogError`].
//!
//! **Invariant:** this crate does no I/O, keeps no global state and never panics, whatever the
//! input (property-tested and fuzzed by `fuzz/fuzz_targets/syslog_line.rs`).
//!
//! # Example
//!
//! ```
//! use leitstelle_syslog::{parse, Facility, Format, Severity};
//!
//! let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#;
//! let msg = parse(line)?;
//! assert_eq!(msg.format, Format::Rfc5424);
//! assert_eq!(msg.facility, Some(Facility::Local4));
//! assert_eq!(msg.severity, Some(Severity::Notice));
//! assert_eq!(msg.hostname.as_deref(), Some("mymachine.example.com"));
//! assert_eq!(msg.structured_data[0].params[1], ("eventSource".to_string(), "Application".to_string()));
//! assert_eq!(msg.message, "An application event");
//! assert_eq!(msg.timestamp_nanos(2024), Some(1_065_910_455_003_000_000));
//!
//! let bsd = parse("Jan  5 10:00:00 myhost sshd[123]: Accepted publickey for root")?;
//! assert_eq!(bsd.format, Format::Rfc3164);
//! assert_eq!(bsd.app_name.as_deref(), Some("sshd"));
//! assert_eq!(bsd.proc_id.as_deref(), Some("123"));
//! assert_eq!(bsd.to_value()["message"], "Accepted publickey for root");
//! # Ok::<(), leitstelle_syslog::SyslogError>(())
//! ```

use std::fmt;

use serde_json::{Map, Value};

mod parser;
mod time;

#[cfg(test)]
mod tests;

pub use parser::parse;

/// Why a line is not a syslog message.
///
/// Only lines without anything syslog-like fail; a recognisable header with odd fields
/// parses leniently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// The line is empty or only whitespace.
    #[error("empty line")]
    Empty,
    /// The line starts with `<digits>` but the number is not a valid priority (0 to 191,
    /// at most three digits). The digits are kept, shortened if very long.
    #[error("invalid priority <{0}>: expected a number from 0 to 191")]
    InvalidPriority(String),
    /// Neither a `<PRI>`, an RFC 5424 version nor a timestamp starts the line.
    #[error("no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp")]
    NoHeader,
}

/// Which grammar a line was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG`.
    Rfc5424,
    /// BSD syslog, `[<PRI>]TIMESTAMP HOST TAG[PID]: MSG`, including rsyslog's file format
    /// with an RFC 3339 timestamp.
    Rfc3164,
}

impl Format {
    /// `"rfc5424"` or `"rfc3164"`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Syslog facility, the upper five bits of the priority (RFC 5424 table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Facility {
    Kern = 0,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    /// Log audit (13).
    Security,
    /// Log alert (14).
    Console,
    /// Clock daemon on Solaris (15).
    SolarisCron,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// All facilities, indexed by code.
    pub const ALL: [Facility; 24] = [
        Facility::Kern,
        Facility::User,
        Facility::Mail,
        Facility::Daemon,
        Facility::Auth,
        Facility::Syslog,
        Facility::Lpr,
        Facility::News,
        Facility::Uucp,
        Facility::Cron,
        Facility::Authpriv,
        Facility::Ftp,
        Facility::Ntp,
        Facility::Security,
        Facility::Console,
        Facility::SolarisCron,
        Facility::Local0,
        Facility::Local1,
        Facility::Local2,
        Facility::Local3,
        Facility::Local4,
        Facility::Local5,
        Facility::Local6,
        Facility::Local7,
    ];

    /// The facility for a numeric code (0 to 23).
    pub fn from_code(code: u8) -> Option<Facility> {
        Facility::ALL.get(usize::from(code)).copied()
    }

    /// The numeric code (0 to 23).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The conventional lowercase name, as used in `to_value` (`kern`, `authpriv`,
    /// `solaris-cron`, `local0`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Facility::Kern => "kern",
            Facility::User => "user",
            Facility::Mail => "mail",
            Facility::Daemon => "daemon",
            Facility::Auth => "auth",
            Facility::Syslog => "syslog",
            Facility::Lpr => "lpr",
            Facility::News => "news",
            Facility::Uucp => "uucp",
            Facility::Cron => "cron",
            Facility::Authpriv => "authpriv",
            Facility::Ftp => "ftp",
            Facility::Ntp => "ntp",
            Facility::Security => "security",
            Facility::Console => "console",
            Facility::SolarisCron => "solaris-cron",
            Facility::Local0 => "local0",
            Facility::Local1 => "local1",
            Facility::Local2 => "local2",
            Facility::Local3 => "local3",
            Facility::Local4 => "local4",
            Facility::Local5 => "local5",
            Facility::Local6 => "local6",
            Facility::Local7 => "local7",
        }
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Syslog severity, the lower three bits of the priority (RFC 5424 table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// System is unusable (0).
    Emerg = 0,
    /// Action must be taken immediately (1).
    Alert,
    /// Critical conditions (2).
    Crit,
    /// Error conditions (3).
    Err,
    /// Warning conditions (4).
    Warning,
    /// Normal but significant condition (5).
    Notice,
    /// Informational messages (6).
    Info,
    /// Debug-level messages (7).
    Debug,
}

impl Severity {
    /// All severities, indexed by code.
    pub const ALL: [Severity; 8] = [
        Severity::Emerg,
        Severity::Alert,
        Severity::Crit,
        Severity::Err,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
        Severity::Debug,
    ];

    /// The severity for a numeric code (0 to 7).
    pub fn from_code(code: u8) -> Option<Severity> {
        Severity::ALL.get(usize::from(code)).copied()
    }

    /// The numeric code (0 to 7).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The conventional lowercase name, as used in `to_value` (`emerg`, `err`, `warning`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Emerg => "emerg",
            Severity::Alert => "alert",
            Severity::Crit => "crit",
            Severity::Err => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One RFC 5424 structured-data element, `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdElement {
    /// The SD-ID, e.g. `exampleSDID@32473` or `timeQuality`.
    pub id: String,
    /// Parameters in line order, values unescaped. Names may repeat.
    pub params: Vec<(String, String)>,
}

/// A parsed syslog line. Header fields are kept as written; `None` means absent or the
/// RFC 5424 NILVALUE `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyslogMessage {
    /// From `<PRI>`; `None` when the line has no priority (log files).
    pub facility: Option<Facility>,
    /// From `<PRI>`; `None` when the line has no priority (log files).
    pub severity: Option<Severity>,
    /// RFC 5424 protocol version (normally 1); `None` for RFC 3164.
    pub version: Option<u8>,
    /// The timestamp exactly as written (`Jan  5 10:00:00`, `2003-10-11T22:14:15.003Z`);
    /// see [`SyslogMessage::timestamp_nanos`].
    pub timestamp: Option<String>,
    /// Originating host name or address.
    pub hostname: Option<String>,
    /// RFC 5424 APP-NAME, or the RFC 3164 tag (`sshd` in `sshd[123]:`).
    pub app_name: Option<String>,
    /// RFC 5424 PROCID, or the RFC 3164 pid (`123` in `sshd[123]:`).
    pub proc_id: Option<String>,
    /// RFC 5424 MSGID; always `None` for RFC 3164.
    pub msg_id: Option<String>,
    /// RFC 5424 structured data, in line order; empty for RFC 3164.
    pub structured_data: Vec<SdElement>,
    /// The free-text message, without a leading BOM; may be empty.
    pub message: String,
    /// The grammar the line matched.
    pub format: Format,
}

impl SyslogMessage {
    /// The numeric priority `facility * 8 + severity`, when the line had one.
    pub fn priority(&self) -> Option<u8> {
        Some(self.facility?.code() * 8 + self.severity?.code())
    }

    /// The timestamp as Unix nanoseconds (UTC).
    ///
    /// RFC 3164 timestamps carry no year: `year_hint` supplies it (typically the year of
    /// the file or of reception). A timestamp without a zone is taken as UTC. `None` when
    /// there is no timestamp, it is not a valid date and time, or it is outside the range
    /// `i64` nanoseconds can hold (years 1677 to 2262).
    pub fn timestamp_nanos(&self, year_hint: i32) -> Option<i64> {
        time::to_unix_nanos(self.timestamp.as_deref()?, year_hint)
    }

    /// The message as a JSON object with the keys `facility`, `severity` (names),
    /// `timestamp`, `hostname`, `app_name`, `proc_id`, `msg_id` (each only when present),
    /// `structured_data` (only when non-empty: SD-ID to an object of parameter to value,
    /// a repeated parameter becomes an array of its values in order, a repeated SD-ID is
    /// merged), `message` and `format` (`"rfc5424"` or `"rfc3164"`).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        if let Some(facility) = self.facility {
            map.insert("facility".into(), facility.name().into());
        }
        if let Some(severity) = self.severity {
            map.insert("severity".into(), severity.name().into());
        }
        let fields = [
            ("timestamp", &self.timestamp),
            ("hostname", &self.hostname),
            ("app_name", &self.app_name),
            ("proc_id", &self.proc_id),
            ("msg_id", &self.msg_id),
        ];
        for (key, field) in fields {
            if let Some(text) = field {
                map.insert(key.into(), text.as_str().into());
            }
        }
        if !self.structured_data.is_empty() {
            map.insert("structured_data".into(), sd_to_value(&self.structured_data));
        }
        map.insert("message".into(), self.message.as_str().into());
        map.insert("format".into(), self.format.name().into());
        Value::Object(map)
    }
}

fn sd_to_value(elements: &[SdElement]) -> Value {
    let mut sd = Map::new();
    for element in elements {
        let entry = sd
            .entry(element.id.as_str())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(params) = entry else {
            continue; // unreachable: only objects are inserted
        };
        for (name, value) in &element.params {
            match params.get_mut(name) {
                None => {
                    params.insert(name.clone(), value.as_str().into());
                }
                Some(Value::Array(values)) => values.push(value.as_str().into()),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value.as_str().into()]);
                }
            }
        }
    }
    Value::Object(sd)
}
