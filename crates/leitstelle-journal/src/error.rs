//! The journal's error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What is wrong with a record frame on disk, found by recovery or by a [`Reader`](crate::Reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The file ends inside a frame: fewer bytes left than the frame header or its length says.
    PartialFrame,
    /// The length field is larger than `max_record_bytes`; nothing was allocated for it.
    LengthTooLarge {
        /// The length field as found.
        len: u32,
    },
    /// The CRC32 over sequence number, length and payload does not match.
    BadChecksum,
    /// The frame is all zero bytes (preallocated or zero-filled space after the last record).
    ZeroFilled,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::PartialFrame => f.write_str("partial frame"),
            Damage::LengthTooLarge { len } => {
                write!(f, "length field {len} exceeds max_record_bytes")
            }
            Damage::BadChecksum => f.write_str("checksum mismatch"),
            Damage::ZeroFilled => f.write_str("zero-filled frame"),
        }
    }
}

/// Everything that can go wrong in the journal.
///
/// The error is `Clone` (I/O errors are shared behind an [`Arc`]) because one failed group
/// commit reports the same error to every batch of the group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An I/O operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"write"`, `"fsync"`, `"open"`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A record is larger than [`JournalOptions::max_record_bytes`](crate::JournalOptions).
    /// Nothing of its batch was appended.
    #[error("record of {len} bytes exceeds max_record_bytes ({max})")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The options make no sense (see the message).
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),
    /// Another `Journal` (in this or another process) has the directory open.
    #[error("journal directory {} is locked by another journal", path.display())]
    Locked {
        /// The journal directory.
        path: PathBuf,
    },
    /// A segment's header is missing, garbled, of another format version or disagrees with
    /// the file name. The journal does not open: move the file aside to open without it.
    #[error("bad segment header in {}: {reason}", path.display())]
    BadHeader {
        /// The segment file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A segment starts at a sequence number its predecessor already used: the directory
    /// holds segments of different histories. The journal does not open.
    #[error(
        "segment {} starts at seq {first_seq} but the previous segment already holds seq {previous_last}",
        path.display()
    )]
    SequenceOverlap {
        /// The later segment file.
        path: PathBuf,
        /// Its first sequence number.
        first_seq: u64,
        /// The last sequence number of the segment before it.
        previous_last: u64,
    },
    /// A reader met a damaged frame. The reader continues with the next segment.
    #[error("corrupt record in {} at offset {offset}: {damage}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame in the file.
        offset: u64,
        /// What is wrong with it.
        damage: Damage,
    },
    /// A cursor file is garbled. The journal does not open (ignoring it could let `trim`
    /// delete records its consumer still needs).
    #[error("bad cursor file {}: {reason}", path.display())]
    BadCursor {
        /// The cursor file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Cursor names are 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    #[error("invalid cursor name {0:?}: use 1 to 64 characters of A-Z a-z 0-9 _ -")]
    InvalidCursorName(String),
    /// A cursor may not point past the durable end (`durable_seq() + 1`).
    #[error("cursor {name:?} cannot move to seq {next}: only records up to {durable} are durable")]
    CursorBeyondDurable {
        /// The cursor.
        name: String,
        /// The requested position.
        next: u64,
        /// The durable sequence number at the time.
        durable: u64,
    },
    /// The journal was closed; nothing more is appended.
    #[error("journal is closed")]
    Closed,
    /// An earlier write or fsync failed. fsync errors are not retryable (the kernel may have
    /// dropped the dirty pages and cleared the error), so the journal refuses every append
    /// until it is reopened, which re-reads what really is on disk.
    #[error("journal refuses appends after an earlier write or fsync failure; reopen it")]
    Poisoned(#[source] Arc<JournalError>),
    /// The writer thread stopped unexpectedly (a bug); the batch's fate is unknown.
    #[error("journal writer thread stopped unexpectedly")]
    WriterDied,
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}
