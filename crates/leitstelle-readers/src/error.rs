//! The error type of the readers: one [`ReadError`] per problem, with file and position.

use std::fmt;
use std::path::PathBuf;

/// Where in a file a [`ReadError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// The file as a whole: it cannot be opened, its type is unknown, it is truncated.
    File,
    /// A 1-based line number: an NDJSON or syslog line, or the first line of a
    /// pretty-printed JSON record.
    Line(u64),
    /// A 1-based element number of a top-level JSON array (counted across the document).
    Element(u64),
    /// An EVTX record, by its `EventRecordID`.
    Record(u64),
    /// An EVTX chunk, by its 0-based number in the file.
    Chunk(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Element(n) => write!(f, "element {n}"),
            Location::Record(n) => write!(f, "record {n}"),
            Location::Chunk(n) => write!(f, "chunk {n}"),
        }
    }
}

/// What went wrong. The text of the underlying error is part of the message (it is not a
/// `source()`, so a `{:#}` chain does not print it twice).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// Opening, reading or decompressing failed, or a folder could not be walked.
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    /// The path is neither a regular file nor a folder (a FIFO, a socket, a device).
    #[error("not a regular file")]
    NotAFile,
    /// The content is none of the formats this crate reads.
    #[error("unrecognised file type (not EVTX, gzip, JSON or text)")]
    UnknownFormat,
    /// A format this crate recognises but does not read (UTF-16 text, gzip inside gzip).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A line, record or JSON document over [`crate::ReadOptions::max_record_bytes`]. It was
    /// skipped without being held in memory.
    #[error("{what} larger than the limit of {limit} bytes (max_record_bytes)")]
    TooLarge { what: &'static str, limit: usize },
    /// JSON syntax error (serde_json's message).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON that is not an object where an event was expected.
    #[error("not a JSON object but {found}")]
    NotAnObject { found: &'static str },
    /// The EVTX parser rejected the file, a chunk or a record.
    #[error("invalid EVTX: {0}")]
    Evtx(String),
    /// A syslog line the syslog parser rejected.
    #[error("unparsable syslog line: {0}")]
    Syslog(String),
    /// A record of a text file the record parsers rejected: a malformed CEF, LEEF or auditd
    /// record, or a JSON line (`leitstelle-parsers`).
    #[error("{0}")]
    Parse(leitstelle_parsers::ParseError),
    /// A text file whose first lines are none of them syslog: not a log (a README, a
    /// licence); skipped as a whole instead of one error per line.
    #[error("not a log file: none of the first {lines} lines is a syslog message ({first})")]
    NotALog { lines: u64, first: String },
    /// A parser of this or another crate panicked on the file; the rest of it was skipped.
    #[error("reader panicked: {0}")]
    Panic(String),
}

/// A problem with one file, or one record of it. Reading goes on after it unless it is
/// about the file as a whole.
///
/// Displays as `path:line 12: invalid JSON: ...`, or `path: reason` for [`Location::File`].
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {kind}", .path.display(), LocationSuffix(.location))]
pub struct ReadError {
    pub path: PathBuf,
    pub location: Location,
    pub kind: ReadErrorKind,
}

struct LocationSuffix<'a>(&'a Location);

impl fmt::Display for LocationSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Location::File => Ok(()),
            other => write!(f, ":{other}"),
        }
    }
}

impl ReadError {
    pub fn new(path: impl Into<PathBuf>, location: Location, kind: ReadErrorKind) -> Self {
        ReadError {
            path: path.into(),
            location,
            kind,
        }
    }
}

/// The message of an error followed by those of its sources, joined by `: `, without
/// trailing periods.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string().trim_end_matches('.').to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        let msg = msg.trim_end_matches('.');
        if !out.ends_with(msg) {
            out.push_str(": ");
            out.push_str(msg);
        }
        cur = e.source();
    }
    out
}
