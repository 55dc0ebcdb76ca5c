//! The parser as a component: a config, a `build()` step, and a running value that counts
//! what it parsed (the same counters for every format).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Format, Limits, ParseContext, ParseError, Parsed, parse};

/// How a source's records are parsed. Deserialises from config files with unknown fields
/// rejected:
///
/// ```
/// use leitstelle_parsers::{Format, ParserConfig};
/// let config: ParserConfig = serde_json::from_str(
///     r#"{"format": "cef", "limits": {"max_record_bytes": 65536}}"#,
/// ).expect("valid");
/// assert_eq!(config.format, Format::Cef);
/// assert_eq!(config.limits.max_record_bytes, 65536);
/// assert_eq!(config.limits.max_depth, 64);
/// assert!(serde_json::from_str::<ParserConfig>(r#"{"format": "cef", "colour": 1}"#).is_err());
///
/// let parser = config.build().expect("valid limits");
/// assert!(parser.parse(b"CEF:0|V|P|1|id|name|5|src=10.0.0.1", 2024).is_ok());
/// assert!(parser.parse(b"CEF:0|V|P", 2024).is_err());
/// let stats = parser.stats();
/// assert_eq!((stats.received, stats.parsed, stats.failed), (2, 1, 1));
/// assert_eq!(stats.failed_by_kind, [("cef_header", 1)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserConfig {
    /// The format of the records (`json`, `syslog`, `cef`, `leef`, `auditd`, `auto`).
    pub format: Format,
    /// Size limits; each one left out keeps its default.
    #[serde(default)]
    pub limits: Limits,
    /// Replace invalid UTF-8 by U+FFFD instead of rejecting the record.
    #[serde(default)]
    pub lossy_utf8: bool,
}

impl ParserConfig {
    /// A config of the given format with default limits and strict UTF-8.
    pub fn new(format: Format) -> Self {
        ParserConfig {
            format,
            limits: Limits::default(),
            lossy_utf8: false,
        }
    }

    /// Checks the config and makes the parser.
    pub fn build(self) -> Result<Parser, ConfigError> {
        let l = &self.limits;
        for (name, value) in [
            ("max_record_bytes", l.max_record_bytes),
            ("max_fields", l.max_fields),
            ("max_field_bytes", l.max_field_bytes),
            ("max_depth", l.max_depth),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit { name });
            }
        }
        Ok(Parser {
            config: self,
            received: AtomicU64::new(0),
            parsed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
        })
    }
}

/// A [`ParserConfig`] that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("limit {name} must be at least 1")]
    ZeroLimit { name: &'static str },
}

const KINDS: usize = ParseError::KINDS.len();

/// A built parser: [`crate::parse`] with its config, counting records. Shared between
/// threads by reference (the counters are atomic).
#[derive(Debug)]
pub struct Parser {
    config: ParserConfig,
    received: AtomicU64,
    parsed: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    failures: [AtomicU64; KINDS],
}

/// The counters of a [`Parser`], read at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParserStats {
    /// Records handed to [`Parser::parse`].
    pub received: u64,
    /// Records parsed.
    pub parsed: u64,
    /// Records that failed (`received = parsed + failed`).
    pub failed: u64,
    /// Bytes of all records received.
    pub bytes: u64,
    /// Failures by [`ParseError::kind`], in the order of [`ParseError::KINDS`]; kinds that
    /// never happened are left out.
    pub failed_by_kind: Vec<(&'static str, u64)>,
}

impl Parser {
    pub fn config(&self) -> &ParserConfig {
        &self.config
    }

    /// Parses one record; `year_hint` completes RFC 3164 timestamps (the caller's clock).
    pub fn parse(&self, bytes: &[u8], year_hint: i32) -> Result<Parsed, ParseError> {
        self.received.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let ctx = ParseContext {
            year_hint,
            limits: self.config.limits,
            lossy_utf8: self.config.lossy_utf8,
        };
        let result = parse(self.config.format, bytes, &ctx);
        match &result {
            Ok(_) => self.parsed.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                self.failures[e.kind_index()].fetch_add(1, Ordering::Relaxed);
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        result
    }

    /// The counters now.
    pub fn stats(&self) -> ParserStats {
        let failed_by_kind = ParseError::KINDS
            .iter()
            .zip(&self.failures)
            .map(|(kind, n)| (*kind, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        ParserStats {
            received: self.received.load(Ordering::Relaxed),
            parsed: self.parsed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failed_by_kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_rejected() {
        let mut config = ParserConfig::new(Format::Json);
        config.limits.max_depth = 0;
        assert_eq!(
            config.build().map(|_| ()),
            Err(ConfigError::ZeroLimit { name: "max_depth" })
        );
    }

    #[test]
    fn parsers_are_shared_between_threads() {
        fn share<T: Send + Sync>() {}
        share::<Parser>();
        share::<crate::Parsed>();
    }

    #[test]
    fn formats_round_trip_through_names_and_serde() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.as_str()), Some(f));
            let json = serde_json::to_string(&f).expect("serialise");
            assert_eq!(json, format!("\"{f}\""));
        }
        assert_eq!(Format::from_name("CEF"), None);
    }
}
