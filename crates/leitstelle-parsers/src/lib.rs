//! Record parsers: one received record (bytes) to the parsed tree of an event.
//!
//! The intake receives records (a line from a syslog listener, one JSON object from an HTTP
//! request, one line of an uploaded file) and hands each to [`parse`] with the
//! [`Format`] its source is configured with, then to [`to_event`], which picks the source
//! profile and Sigma logsource and fills in the event time. A [`Parser`] (built from a
//! [`ParserConfig`]) wraps the two with the counters every parser reports.
//!
//! ```
//! use std::sync::Arc;
//! use leitstelle_event::Origin;
//! use leitstelle_parsers::{Format, ParseContext, parse, to_event};
//! use leitstelle_profile::ProfileSet;
//!
//! let line = br#"<134>Jan 18 11:07:53 fw01 CEF:0|Check Point|VPN-1 & FireWall-1|R81|Log|Drop|5|src=10.0.0.5 dst=192.0.2.7 act=Drop"#;
//! let parsed = parse(Format::Auto, line, &ParseContext::new(2024))?;
//! assert_eq!(parsed.data["CEF"]["DeviceVendor"], "Check Point");
//! assert_eq!(parsed.data["src"], "10.0.0.5");
//! assert_eq!(parsed.data["syslog"]["hostname"], "fw01");
//!
//! let event = to_event(&ProfileSet::builtin(), Arc::from("default"), parsed, Origin::default());
//! assert_eq!(event.logsource.to_string(), "checkpoint/firewall/*");
//! assert_eq!(event.timestamp, Some(1_705_576_073_000_000_000));
//! # Ok::<(), leitstelle_parsers::ParseError>(())
//! ```
//!
//! # Formats and trees
//!
//! Trees keep the source's own field names: nothing is renamed to a common schema (mapping
//! Sigma field names onto paths is the job of the source profiles). Values of the text
//! formats are strings. A key that occurs more than once keeps all its values, in order, as
//! an array (`k=1 k=2` gives `"k": ["1", "2"]`).
//!
//! - [`Format::Json`]: one JSON object, as it is ([`SourceKind::Json`]). Its shape
//!   (Winlogbeat/ECS, EVTX-JSON `{"Event": {"System": …}}`, Kubernetes audit, Falco,
//!   Suricata EVE, anything else) is told by the profiles, not here. No time of its own: the
//!   profile's `meta.timestamp` paths give it.
//! - [`Format::Syslog`]: an RFC 5424 or RFC 3164 line ([`SourceKind::Syslog`]), the tree of
//!   `leitstelle-syslog` (`facility`, `severity`, `timestamp`, `hostname`, `app_name`,
//!   `proc_id`, `msg_id`, `structured_data`, `message`, `format`); RFC 3164 times get
//!   [`ParseContext::year_hint`]. When the message is a CEF, LEEF or auditd record (right
//!   after the header, after the tag, or in the tag's place as in `<134>Jan 18 11:07:53
//!   host CEF:0|…`; also the kernel's `audit: type=1400 audit(…)`), the line becomes that
//!   record's event and the header is kept as its `syslog` object (the syslog tree without
//!   `message`); a malformed record there is an error of its format, not a syslog event.
//! - [`Format::Cef`] ([`SourceKind::Cef`]): `CEF:Version|Device Vendor|Device
//!   Product|Device Version|Signature ID|Name|Severity|Extension`. The header is the object
//!   `CEF` with `Version`, `DeviceVendor`, `DeviceProduct`, `DeviceVersion`, `SignatureID`,
//!   `Name`, `Severity`; the extension keys are top-level keys as written (`src`, `dst`,
//!   `suser`, `cs1`, `cs1Label`, `ad.user`, …). Header escapes `\|` and `\\` (any other is an
//!   error); extension escapes `\=`, `\\`, `\n`, `\r` and `\|`, any other backslash kept
//!   (unescaped Windows paths). Values may contain spaces and unescaped `=` that do not
//!   follow a key (`request=http://x/?a=1`). Time: `rt` (epoch millis or `MMM dd yyyy
//!   HH:mm:ss`, see [`parse_timestamp`]), else the syslog header's.
//! - [`Format::Leef`] ([`SourceKind::Leef`]): `LEEF:1.0|Vendor|Product|Version|EventID|`
//!   then tab-separated `key=value` attributes, or `LEEF:2.0|…|EventID|Delimiter|` with the
//!   delimiter as a character (`^`) or its hex code (`x09`, `0x5E`); no delimiter field means
//!   tab. The header is the object `LEEF` with `Version`, `Vendor`, `Product`,
//!   `ProductVersion`, `EventID` and `Delimiter` (as written, 2.0 only); the attributes are
//!   top-level keys (`src`, `dst`, `usrName`, `devTime`, …). A piece without `key=` continues
//!   the previous value; LEEF 1.0 with spaces instead of tabs is read like a CEF extension.
//!   Time: `devTime`, else the syslog header's (`devTimeFormat` is not interpreted; the
//!   forms of [`parse_timestamp`] are tried).
//! - [`Format::Auditd`] ([`SourceKind::Auditd`]): `[node=N ]type=T msg=audit(SECS.MS:SERIAL):
//!   key=value …`. The tree has `type`, `node` (when present), `audit` (`time` as written,
//!   `serial`) and every field as a top-level key, values unquoted; unquoted hex values of
//!   untrusted-string fields (`comm`, `exe`, `name`, `cwd`, `proctitle`, `key`, `path`,
//!   `cmd`, `acct`, …, and the arguments `a0`, `a1`, … of `EXECVE`) decoded, `proctitle`'s NUL
//!   separators as spaces, and a long `EXECVE` argument logged in parts (`a1[0]`, `a1[1]`)
//!   joined back into `a1`. The `msg='…'` of user-space records (`USER_LOGIN`,
//!   `SERVICE_STOP`) is kept as `msg` and its fields (`op`, `acct`, `exe`, `res`, `unit`, …)
//!   are top-level keys too; the interpreted fields of enriched logs (after a 0x1d byte:
//!   `ARCH`, `SYSCALL`, `AUID`, …) are top-level keys, upper case as written. Words that
//!   are not `key=value` (`avc:  denied  { read } for`) are joined into `text`. Time: from
//!   `audit(…)`. An audit *event* often spans several records (`SYSCALL`, `EXECVE`, `PATH`,
//!   `PROCTITLE` with one serial); each record is its own event here, not merged.
//! - [`Format::Auto`]: `{` → JSON; `CEF:` / `LEEF:` → CEF / LEEF; `type=… msg=audit(`
//!   (optionally after `node=…`) → auditd; anything else syslog (which finds records in its
//!   message as above).
//!
//! A source configured as [`Format::Cef`], [`Format::Leef`] or [`Format::Auditd`] takes
//! its records bare or inside syslog alike; a syslog line that carries none is an error of
//! that format.
//!
//! [`Parsed::raw`] is the record's text, without a leading BOM and trailing line ends.
//!
//! # Limits and errors
//!
//! [`Limits`] bound what one record may cost: its size (checked first, before anything is
//! allocated), the number of fields of its tree (object members and array elements at any
//! depth), the size of one key or value, and JSON nesting (measured before the JSON parser
//! runs). Bad input is a [`ParseError`], never a panic; [`ParseError::kind`] is a short stable
//! name for metrics labels: `empty`, `too_large`, `too_many_fields`, `field_too_large`,
//! `too_deep`, `invalid_utf8`, `invalid_json`, `not_an_object`, `syslog`, `cef_header`,
//! `cef_extension`, `leef_header`, `leef_attributes`, `auditd_header`, `auditd_syntax`.
//! Invalid UTF-8 is an error unless [`ParseContext::lossy_utf8`] is set (then it is replaced
//! by U+FFFD, as the file readers do for Latin-1 logs).
//!
//! **Invariant:** no I/O, no global state, no threads; time linear in the record size.

use std::borrow::Cow;
use std::sync::Arc;

use leitstelle_event::{Event, Origin, Raw, SourceKind, Value};
use leitstelle_profile::{Profile, ProfileSet};
use serde_json::Map;

mod auditd;
mod cef;
mod component;
mod error;
mod json;
mod kv;
mod leef;
mod syslog;
mod time;
mod tree;

pub use component::{ConfigError, Parser, ParserConfig, ParserStats};
pub use error::ParseError;
pub use json::kind_of as json_kind;
pub use time::parse_timestamp;

/// The format a source's records are in. Config files name it with [`Format::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object.
    Json,
    /// An RFC 5424 / RFC 3164 line; a CEF, LEEF or auditd record in it is parsed as such.
    Syslog,
    /// A CEF record, bare or in syslog.
    Cef,
    /// A LEEF 1.0 or 2.0 record, bare or in syslog.
    Leef,
    /// A Linux audit record, bare or in syslog.
    Auditd,
    /// Told from the record itself (see the crate docs).
    Auto,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: [Format; 6] = [
        Format::Json,
        Format::Syslog,
        Format::Cef,
        Format::Leef,
        Format::Auditd,
        Format::Auto,
    ];

    /// The name used in config files: `json`, `syslog`, `cef`, `leef`, `auditd`, `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Syslog => "syslog",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Auditd => "auditd",
            Format::Auto => "auto",
        }
    }

    /// Parses a name returned by [`Format::as_str`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one record may cost. A record over a limit is a [`ParseError`] naming the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest record in bytes (checked before anything else). Default 1 MiB.
    pub max_record_bytes: usize,
    /// The most fields of the parsed tree: object members and array elements at any depth
    /// (a CEF record with 20 extension keys has 28: 20, `CEF` and its 7). Default 10 000.
    pub max_fields: usize,
    /// The longest key or string value in bytes. Default 256 KiB.
    pub max_field_bytes: usize,
    /// The deepest nesting of objects and arrays (the root object is 1). Default 64; above
    /// 127 serde_json's own limit applies (an `invalid_json` error).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 1 << 20,
            max_fields: 10_000,
            max_field_bytes: 256 << 10,
            max_depth: 64,
        }
    }
}

/// What [`parse`] needs besides the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseContext {
    /// The year of RFC 3164 timestamps, which have none: typically the year the record was
    /// received (the caller reads its clock; this crate never does).
    pub year_hint: i32,
    pub limits: Limits,
    /// Replace invalid UTF-8 by U+FFFD instead of failing with
    /// [`ParseError::InvalidUtf8`]. Off by default.
    pub lossy_utf8: bool,
}

impl ParseContext {
    /// Default limits, strict UTF-8.
    pub fn new(year_hint: i32) -> Self {
        ParseContext {
            year_hint,
            limits: Limits::default(),
            lossy_utf8: false,
        }
    }
}

/// One parsed record, ready for [`to_event`].
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// What the record turned out to be (a syslog line carrying CEF is [`SourceKind::Cef`]).
    pub source: SourceKind,
    /// The tree (always an object).
    pub data: Value,
    /// The record's text ([`Raw::Text`]).
    pub raw: Raw,
    /// Event time in nanoseconds since the Unix epoch, when the record itself says
    /// (auditd `audit(…)`, CEF `rt`, LEEF `devTime`, a syslog header); `None` leaves it to
    /// the profile's `meta.timestamp` paths in [`to_event`].
    pub timestamp: Option<i64>,
}

/// Parses one record. See the crate docs for the formats, the trees and the errors.
pub fn parse(format: Format, bytes: &[u8], ctx: &ParseContext) -> Result<Parsed, ParseError> {
    let limits = &ctx.limits;
    if bytes.len() > limits.max_record_bytes {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: limits.max_record_bytes,
        });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) if ctx.lossy_utf8 => String::from_utf8_lossy(bytes),
        Err(e) => {
            return Err(ParseError::InvalidUtf8 {
                offset: e.valid_up_to(),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let format = match format {
        Format::Auto => sniff(text),
        other => other,
    };
    let (source, data, timestamp) = match format {
        Format::Json => (SourceKind::Json, json::parse(text, limits)?, None),
        Format::Syslog => parse_syslog(text, ctx, None)?,
        Format::Cef => parse_record(text, ctx, syslog::Embedded::Cef)?,
        Format::Leef => parse_record(text, ctx, syslog::Embedded::Leef)?,
        Format::Auditd => parse_record(text, ctx, syslog::Embedded::Auditd)?,
        // `sniff` never answers `Auto`.
        Format::Auto => parse_syslog(text, ctx, None)?,
    };
    tree::check(&data, limits)?;
    Ok(Parsed {
        source,
        data,
        raw: Raw::Text(Arc::from(text)),
        timestamp,
    })
}

/// The format of a record, from its start (see [`Format::Auto`]).
fn sniff(text: &str) -> Format {
    let t = text.trim_start();
    if t.starts_with('{') {
        return Format::Json;
    }
    match syslog::bare(t) {
        Some(syslog::Embedded::Cef) => Format::Cef,
        Some(syslog::Embedded::Leef) => Format::Leef,
        Some(syslog::Embedded::Auditd) => Format::Auditd,
        None => Format::Syslog,
    }
}

type Tree = (SourceKind, Value, Option<i64>);

/// A record of one of the formats that travel in syslog: bare, or inside a syslog line.
fn parse_record(
    text: &str,
    ctx: &ParseContext,
    kind: syslog::Embedded,
) -> Result<Tree, ParseError> {
    let bare = text.trim_start();
    if syslog::bare(bare) == Some(kind) {
        let mut map = Map::new();
        let time = kind.parse(bare, &mut map)?;
        return Ok((kind.source(), Value::Object(map), time));
    }
    match parse_syslog(text, ctx, Some(kind)) {
        // Not syslog either.
        Err(ParseError::Syslog(_)) => Err(kind.missing()),
        other => other,
    }
}

/// A syslog line; with `expect`, it must carry a record of that format.
fn parse_syslog(
    text: &str,
    ctx: &ParseContext,
    expect: Option<syslog::Embedded>,
) -> Result<Tree, ParseError> {
    let split = syslog::split(text)?;
    let header_time = split.header.timestamp_nanos(ctx.year_hint);
    match (split.record, expect) {
        (Some((kind, record)), expect) if expect.is_none_or(|e| e == kind) => {
            let mut map = Map::new();
            map.insert("syslog".into(), syslog::header_value(&split.header));
            let time = kind.parse(record, &mut map)?;
            Ok((kind.source(), Value::Object(map), time.or(header_time)))
        }
        (_, None) => Ok((SourceKind::Syslog, split.header.to_value(), header_time)),
        (_, Some(expect)) => Err(expect.missing()),
    }
}

/// Makes an [`Event`] of a parsed record: picks the profile and Sigma logsource
/// ([`ProfileSet::classify`]) and, when the record had no time of its own, takes it from
/// the profile's `meta.timestamp` paths ([`parse_timestamp`]).
pub fn to_event(profiles: &ProfileSet, tenant: Arc<str>, parsed: Parsed, origin: Origin) -> Event {
    let Parsed {
        source,
        data,
        raw,
        timestamp,
    } = parsed;
    let (profile, logsource) = profiles.classify(source, &data);
    let timestamp = timestamp.or_else(|| {
        if profile >= profiles.len() {
            return None;
        }
        let paths = &profiles.get(profile).timestamp;
        Profile::first_text(paths, &data).and_then(|t| parse_timestamp(&t))
    });
    Event {
        tenant,
        timestamp,
        source,
        raw,
        data,
        logsource,
        profile,
        origin,
    }
}
