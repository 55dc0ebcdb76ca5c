//! Opening a journal directory: scanning segments, truncating a torn tail, reporting damage.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Damage, JournalError};
use crate::format::{SEGMENT_HEADER_LEN, parse_segment_file_name, read_header, scan_segment};
use crate::writer::{SegmentWriter, create_segment};
use crate::{JournalOptions, SegMeta};

/// What [`Journal::open`](crate::Journal::open) found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segment files after recovery (including one it created).
    pub segments: usize,
    /// Good records found in all segments.
    pub records: u64,
    /// The first sequence number still in the journal (`next_seq` when it is empty).
    pub first_seq: u64,
    /// The sequence number the next appended record gets.
    pub next_seq: u64,
    /// The damaged end of the last segment that was cut off. After a crash this is normal:
    /// it holds records whose append was never acknowledged.
    pub truncated_tail: Option<TruncatedTail>,
    /// Older segments with a damaged frame: their records from there on are unreadable.
    /// The files are left as they are.
    pub damaged_segments: Vec<DamagedSegment>,
    /// Sequence numbers missing between consecutive segments (the lost records of a damaged
    /// segment, or a segment file that was removed by hand).
    pub gaps: Vec<Range<u64>>,
    /// Set when a cursor pointed past the last record (records were lost or segments
    /// removed): the sequence jumped from `start` to `end` so that no consumer skips new
    /// records.
    pub advanced_to_cursor: Option<Range<u64>>,
    /// Left-over temporary files (interrupted segment creation or cursor update), removed.
    pub removed_temp_files: Vec<PathBuf>,
}

impl RecoveryReport {
    /// Nothing was lost, truncated or repaired (left-over temp files do not count).
    pub fn is_clean(&self) -> bool {
        self.truncated_tail.is_none()
            && self.damaged_segments.is_empty()
            && self.gaps.is_empty()
            && self.advanced_to_cursor.is_none()
    }
}

/// The cut-off end of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where the first damaged frame started; the file now ends here.
    pub offset: u64,
    /// Bytes removed.
    pub bytes_dropped: u64,
    /// What was wrong with the first dropped frame.
    pub damage: Damage,
    /// Good records kept in this segment.
    pub records_kept: u64,
}

/// A damaged frame inside an older segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedSegment {
    /// The segment file.
    pub path: PathBuf,
    /// Byte offset of the damaged frame.
    pub offset: u64,
    /// What is wrong with it.
    pub damage: Damage,
    /// Good records before the damage.
    pub records_kept: u64,
    /// Records of this segment after the damage (derived from the next segment's first seq).
    pub records_lost: u64,
}

pub(crate) struct Recovered {
    pub(crate) segments: Vec<SegMeta>,
    pub(crate) writer: SegmentWriter,
    pub(crate) cursors: BTreeMap<String, u64>,
    pub(crate) report: RecoveryReport,
}

pub(crate) fn recover(dir: &Path, opts: &JournalOptions) -> Result<Recovered, JournalError> {
    let mut report = RecoveryReport::default();
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| JournalError::io("read directory", dir, e))? {
        let entry = entry.map_err(|e| JournalError::io("read directory", dir, e))?;
        // Names that are not UTF-8 are not ours.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();

    for name in &names {
        if name.ends_with(".wal.tmp") || name.ends_with(".cursor.tmp") {
            let path = dir.join(name);
            fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
            report.removed_temp_files.push(path);
        }
    }
    let cursors = crate::cursor::load(dir, &names)?;

    let mut firsts: Vec<(u64, PathBuf)> = names
        .iter()
        .filter_map(|n| Some((parse_segment_file_name(n)?, dir.join(n))))
        .collect();
    firsts.sort();

    let max_record = opts.max_record_bytes;
    let mut segments: Vec<SegMeta> = Vec::with_capacity(firsts.len() + 1);
    let mut damaged_at: Vec<usize> = Vec::new();
    let count = firsts.len();
    for (i, (first, path)) in firsts.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let mut file = fs::File::open(&path).map_err(|e| JournalError::io("open", &path, e))?;
        read_header(&mut file, &path, first)?;
        drop(file);
        let scan = scan_segment(&path, first, max_record)?;
        let end_seq = first.saturating_add(scan.records);
        if let Some(prev) = segments.last() {
            if first < prev.end_seq {
                return Err(JournalError::SequenceOverlap {
                    path,
                    first_seq: first,
                    previous_last: prev.end_seq - 1,
                });
            }
            if first > prev.end_seq {
                report.gaps.push(prev.end_seq..first);
            }
        }
        if let Some((offset, damage)) = scan.damage {
            if is_last {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| JournalError::io("open", &path, e))?;
                f.set_len(offset)
                    .map_err(|e| JournalError::io("truncate", &path, e))?;
                f.sync_all()
                    .map_err(|e| JournalError::io("fsync", &path, e))?;
                report.truncated_tail = Some(TruncatedTail {
                    path: path.clone(),
                    offset,
                    bytes_dropped: scan.file_len - offset,
                    damage,
                    records_kept: scan.records,
                });
            } else {
                damaged_at.push(i);
                report.damaged_segments.push(DamagedSegment {
                    path: path.clone(),
                    offset,
                    damage,
                    records_kept: scan.records,
                    records_lost: 0, // filled in below
                });
            }
        }
        report.records += scan.records;
        segments.push(SegMeta {
            first_seq: first,
            path,
            end_seq,
            len: scan.valid_end,
            index: scan.index,
        });
    }
    for (d, &i) in report.damaged_segments.iter_mut().zip(&damaged_at) {
        if let Some(next) = segments.get(i + 1) {
            d.records_lost = next.first_seq - segments[i].end_seq;
        }
    }

    // The active segment: the last one, or a new one when there is none or when a cursor
    // points past the end.
    let max_cursor = cursors.values().copied().max().unwrap_or(1).max(1);
    let end = segments.last().map(|s| s.end_seq);
    let writer = match (segments.last(), end) {
        (Some(last), Some(end)) if end >= max_cursor => {
            let file = OpenOptions::new()
                .append(true)
                .open(&last.path)
                .map_err(|e| JournalError::io("open", &last.path, e))?;
            let records = last.end_seq - last.first_seq;
            SegmentWriter {
                dir: dir.to_path_buf(),
                file,
                path: last.path.clone(),
                first_seq: last.first_seq,
                written: last.len,
                next_seq: last.end_seq,
                records,
                dirty: false,
                buf: Vec::new(),
                index: Vec::new(),
                last_indexed: last.index.last().map_or(SEGMENT_HEADER_LEN, |&(_, o)| o),
                segment_bytes: opts.segment_bytes,
            }
        }
        _ => {
            if let Some(end) = end {
                report.advanced_to_cursor = Some(end..max_cursor);
            }
            let (file, path) = create_segment(dir, max_cursor)?;
            segments.push(SegMeta {
                first_seq: max_cursor,
                path: path.clone(),
                end_seq: max_cursor,
                len: SEGMENT_HEADER_LEN,
                index: Vec::new(),
            });
            SegmentWriter {
                dir: dir.to_path_buf(),
                file,
                path,
                first_seq: max_cursor,
                written: SEGMENT_HEADER_LEN,
                next_seq: max_cursor,
                records: 0,
                dirty: false,
                buf: Vec::new(),
                index: Vec::new(),
                last_indexed: SEGMENT_HEADER_LEN,
                segment_bytes: opts.segment_bytes,
            }
        }
    };

    report.segments = segments.len();
    report.next_seq = writer.next_seq;
    report.first_seq = segments
        .iter()
        .find(|s| s.end_seq > s.first_seq)
        .map_or(writer.next_seq, |s| s.first_seq);
    Ok(Recovered {
        segments,
        writer,
        cursors,
        report,
    })
}
