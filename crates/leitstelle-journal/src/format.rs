//! The on-disk format: segment names and headers, record frames, and a frame reader shared
//! by recovery and [`Reader`](crate::Reader). The layout is described in the crate docs.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Damage, JournalError};

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LTJOURNL";
/// The segment format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header in bytes; the first frame starts here.
pub const SEGMENT_HEADER_LEN: u64 = 32;
/// Sequence numbers above this are refused in headers, so that no arithmetic on sequence
/// numbers can overflow (2^62: 146,000 years at a million records a second).
pub(crate) const MAX_FIRST_SEQ: u64 = 1 << 62;
/// Length of a frame header (payload length + CRC32) in bytes.
pub const FRAME_HEADER_LEN: u64 = 8;
/// File name extension of segment files.
pub const SEGMENT_EXTENSION: &str = "wal";

/// Recovery and the writer remember the position of one record about every this many bytes,
/// so that a reader starting in the middle of a segment skips at most this much.
pub(crate) const INDEX_EVERY_BYTES: u64 = 64 * 1024;

/// The file name of the segment whose first record has `first_seq`:
/// `00000000000000000001.wal`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{SEGMENT_EXTENSION}")
}

/// The first sequence number in a segment file name, `None` for any other name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    // 24..28 reserved, zero.
    let crc = crc32fast::hash(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks a segment header and returns the first sequence number it states.
pub(crate) fn decode_header(h: &[u8; SEGMENT_HEADER_LEN as usize]) -> Result<u64, String> {
    if h[0..8] != SEGMENT_MAGIC {
        return Err("not a journal segment (bad magic)".to_string());
    }
    if crc32fast::hash(&h[0..28]) != le_u32(h, 28) {
        return Err("header checksum mismatch".to_string());
    }
    let version = le_u32(h, 8);
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {version} (this build reads {FORMAT_VERSION})"
        ));
    }
    let header_len = le_u32(h, 12);
    if u64::from(header_len) != SEGMENT_HEADER_LEN {
        return Err(format!("unsupported header length {header_len}"));
    }
    let first_seq = le_u64(h, 16);
    if first_seq == 0 {
        return Err("first seq 0 (sequence numbers start at 1)".to_string());
    }
    if first_seq > MAX_FIRST_SEQ {
        return Err(format!("first seq {first_seq} is implausibly large"));
    }
    Ok(first_seq)
}

/// Reads and checks the header of the segment at `path`, which is named after `named_first`.
pub(crate) fn read_header(
    file: &mut File,
    path: &Path,
    named_first: u64,
) -> Result<(), JournalError> {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    let len = file
        .metadata()
        .map_err(|e| JournalError::io("stat", path, e))?
        .len();
    if len < SEGMENT_HEADER_LEN {
        return Err(JournalError::BadHeader {
            path: path.to_path_buf(),
            reason: format!(
                "file of {len} bytes is shorter than the {SEGMENT_HEADER_LEN}-byte header"
            ),
        });
    }
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut h))
        .map_err(|e| JournalError::io("read header", path, e))?;
    let first = decode_header(&h).map_err(|reason| JournalError::BadHeader {
        path: path.to_path_buf(),
        reason,
    })?;
    if first != named_first {
        return Err(JournalError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("header says first seq {first}, the file name says {named_first}"),
        });
    }
    Ok(())
}

/// CRC32 of a record: over its sequence number and length (little endian) and its payload.
/// Covering the sequence number makes a frame valid only at its own position, so stale or
/// misplaced bytes never pass as a record.
pub(crate) fn record_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends the frame of record `seq` to `buf`. The caller has checked that the payload fits
/// in `u32` (`max_record_bytes` does).
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record_crc(seq, payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// One step of a [`FrameReader`].
pub(crate) enum Step {
    /// The read limit was reached exactly at a frame boundary.
    End,
    /// A good record started at this offset (its payload is in the caller's buffer unless it
    /// was skipped).
    Record { offset: u64 },
    /// A damaged frame at this offset; the reader must not be used further.
    Damaged { offset: u64, damage: Damage },
}

/// Reads frames of one segment sequentially, up to a byte limit.
pub(crate) struct FrameReader {
    r: BufReader<File>,
    path: PathBuf,
    offset: u64,
    end: u64,
    max_record: usize,
}

impl FrameReader {
    /// Opens `path` positioned at `offset` (a frame boundary), reading up to `end` bytes or
    /// to the end of the file when `end` is `None`.
    pub(crate) fn open(
        path: &Path,
        offset: u64,
        end: Option<u64>,
        max_record: usize,
        capacity: usize,
    ) -> Result<Self, JournalError> {
        let mut file = File::open(path).map_err(|e| JournalError::io("open", path, e))?;
        let end = match end {
            Some(end) => end,
            None => file
                .metadata()
                .map_err(|e| JournalError::io("stat", path, e))?
                .len(),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| JournalError::io("seek", path, e))?;
        Ok(FrameReader {
            r: BufReader::with_capacity(capacity, file),
            path: path.to_path_buf(),
            offset,
            end: end.max(offset),
            max_record,
        })
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next frame header; `Ok(Err(step))` when there is no good frame to continue with.
    fn header(&mut self) -> Result<Result<(u32, u32), Step>, JournalError> {
        let offset = self.offset;
        if offset == self.end {
            return Ok(Err(Step::End));
        }
        let remaining = self.end - offset;
        if remaining < FRAME_HEADER_LEN {
            return Ok(Err(self.damaged(Damage::PartialFrame)));
        }
        let mut h = [0u8; FRAME_HEADER_LEN as usize];
        self.r
            .read_exact(&mut h)
            .map_err(|e| JournalError::io("read", &self.path, e))?;
        let len = le_u32(&h, 0);
        let crc = le_u32(&h, 4);
        if len as usize > self.max_record {
            return Ok(Err(self.damaged(Damage::LengthTooLarge { len })));
        }
        if FRAME_HEADER_LEN + u64::from(len) > remaining {
            let damage = if h == [0u8; 8] {
                Damage::ZeroFilled
            } else {
                Damage::PartialFrame
            };
            return Ok(Err(self.damaged(damage)));
        }
        Ok(Ok((len, crc)))
    }

    fn damaged(&self, damage: Damage) -> Step {
        Step::Damaged {
            offset: self.offset,
            damage,
        }
    }

    /// Reads and verifies record `seq` into `buf` (cleared first).
    pub(crate) fn read(&mut self, seq: u64, buf: &mut Vec<u8>) -> Result<Step, JournalError> {
        let (len, crc) = match self.header()? {
            Ok(h) => h,
            Err(step) => return Ok(step),
        };
        buf.clear();
        // Bounded by max_record_bytes and by the bytes left in the file (checked above).
        buf.resize(len as usize, 0);
        self.r
            .read_exact(buf)
            .map_err(|e| JournalError::io("read", &self.path, e))?;
        if record_crc(seq, buf) != crc {
            let damage = if crc == 0 && len == 0 {
                Damage::ZeroFilled
            } else {
                Damage::BadChecksum
            };
            return Ok(self.damaged(damage));
        }
        let offset = self.offset;
        self.offset += FRAME_HEADER_LEN + u64::from(len);
        Ok(Step::Record { offset })
    }

    /// Skips one frame without reading its payload or checking its CRC.
    pub(crate) fn skip(&mut self) -> Result<Step, JournalError> {
        let (len, _) = match self.header()? {
            Ok(h) => h,
            Err(step) => return Ok(step),
        };
        self.r
            .seek_relative(i64::from(len))
            .map_err(|e| JournalError::io("seek", &self.path, e))?;
        let offset = self.offset;
        self.offset += FRAME_HEADER_LEN + u64::from(len);
        Ok(Step::Record { offset })
    }
}

/// What a full scan of one segment found.
pub(crate) struct Scan {
    /// Good records from the start of the segment.
    pub(crate) records: u64,
    /// End of the last good record.
    pub(crate) valid_end: u64,
    /// The file's length.
    pub(crate) file_len: u64,
    /// The first damaged frame, if the good records do not reach the end of the file.
    pub(crate) damage: Option<(u64, Damage)>,
    /// `(seq, offset)` of about one record every [`INDEX_EVERY_BYTES`].
    pub(crate) index: Vec<(u64, u64)>,
}

/// Reads every frame of the segment at `path` (header already checked), verifying CRCs.
pub(crate) fn scan_segment(
    path: &Path,
    first_seq: u64,
    max_record: usize,
) -> Result<Scan, JournalError> {
    let mut fr = FrameReader::open(path, SEGMENT_HEADER_LEN, None, max_record, 1 << 20)?;
    let file_len = fr.end;
    let mut buf = Vec::new();
    let mut seq = first_seq;
    let mut index = Vec::new();
    let mut last_indexed = SEGMENT_HEADER_LEN;
    loop {
        match fr.read(seq, &mut buf)? {
            Step::End => {
                return Ok(Scan {
                    records: seq - first_seq,
                    valid_end: fr.offset(),
                    file_len,
                    damage: None,
                    index,
                });
            }
            Step::Record { offset } => {
                if offset - last_indexed >= INDEX_EVERY_BYTES {
                    index.push((seq, offset));
                    last_indexed = offset;
                }
                seq += 1;
            }
            Step::Damaged { offset, damage } => {
                return Ok(Scan {
                    records: seq - first_seq,
                    valid_end: offset,
                    file_len,
                    damage: Some((offset, damage)),
                    index,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let h = encode_header(42);
        assert_eq!(decode_header(&h), Ok(42));

        let mut bad = h;
        bad[0] = b'X';
        assert!(
            decode_header(&bad)
                .expect_err("rejected")
                .contains("bad magic")
        );

        let mut bad = h;
        bad[17] ^= 1;
        assert!(
            decode_header(&bad)
                .expect_err("rejected")
                .contains("checksum")
        );

        let mut v2 = h;
        v2[8] = 2;
        let crc = crc32fast::hash(&v2[0..28]);
        v2[28..32].copy_from_slice(&crc.to_le_bytes());
        assert!(
            decode_header(&v2)
                .expect_err("rejected")
                .contains("version 2")
        );

        assert!(
            decode_header(&encode_header(1 << 63))
                .expect_err("rejected")
                .contains("implausibly")
        );
        assert!(
            decode_header(&encode_header(0))
                .expect_err("rejected")
                .contains("seq 0")
        );
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_segment_file_name("00000000000000000001.wal"), Some(1));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX) // refused by the header check, not by the name
        );
        for other in [
            "1.wal",
            "00000000000000000001.wal.tmp",
            "0000000000000000000a.wal",
            "99999999999999999999.wal",
            "store.cursor",
            "LOCK",
        ] {
            assert_eq!(parse_segment_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn crc_covers_the_sequence_number() {
        assert_ne!(record_crc(1, b"abc"), record_crc(2, b"abc"));
        assert_ne!(record_crc(1, b""), 0);
    }
}
