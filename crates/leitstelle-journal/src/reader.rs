//! Reading durable records.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::error::JournalError;
use crate::format::{FrameReader, Step};

/// The part of one segment a reader visits, fixed when the reader is made.
pub(crate) struct ReadSegment {
    pub(crate) path: PathBuf,
    /// A record boundary at or before `from_seq` (from the segment's index).
    pub(crate) start_seq: u64,
    pub(crate) start_offset: u64,
    /// Records below this are skipped without reading their payload.
    pub(crate) from_seq: u64,
    /// Exclusive end: durable at the time the reader was made.
    pub(crate) end_seq: u64,
    pub(crate) end_offset: u64,
}

struct OpenSegment {
    frames: FrameReader,
    seq: u64,
    from_seq: u64,
    end_seq: u64,
}

/// Iterates over durable records in sequence order, from the `from_seq` given to
/// [`Journal::reader`](crate::Journal::reader) up to the durable end at the time the reader was
/// made ([`Reader::end_seq`]), crossing segments.
///
/// Items are `(seq, payload)`. Sequence numbers increase strictly but may have gaps where
/// recovery reported lost records. A damaged frame (or an I/O error, such as a segment trimmed
/// while the reader was behind every cursor) is yielded once as an `Err`, and the reader then
/// continues with the next segment.
pub struct Reader {
    segments: VecDeque<ReadSegment>,
    current: Option<OpenSegment>,
    max_record: usize,
    end_seq: u64,
}

impl Reader {
    pub(crate) fn new(segments: Vec<ReadSegment>, max_record: usize, end_seq: u64) -> Self {
        Reader {
            segments: segments.into(),
            current: None,
            max_record,
            end_seq,
        }
    }

    /// The exclusive end of this reader: `durable_seq() + 1` when it was made.
    pub fn end_seq(&self) -> u64 {
        self.end_seq
    }

    fn next_inner(&mut self) -> Option<Result<(u64, Vec<u8>), JournalError>> {
        loop {
            let current = match &mut self.current {
                Some(c) => c,
                None => {
                    let seg = self.segments.pop_front()?;
                    match FrameReader::open(
                        &seg.path,
                        seg.start_offset,
                        Some(seg.end_offset),
                        self.max_record,
                        256 * 1024,
                    ) {
                        Ok(frames) => self.current.insert(OpenSegment {
                            frames,
                            seq: seg.start_seq,
                            from_seq: seg.from_seq,
                            end_seq: seg.end_seq,
                        }),
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            if current.seq >= current.end_seq {
                self.current = None;
                continue;
            }
            let seq = current.seq;
            let mut payload = Vec::new();
            let step = if seq < current.from_seq {
                current.frames.skip()
            } else {
                current.frames.read(seq, &mut payload)
            };
            let error = match step {
                Ok(Step::Record { .. }) => {
                    current.seq += 1;
                    if seq < current.from_seq {
                        continue;
                    }
                    return Some(Ok((seq, payload)));
                }
                // The segment is shorter than what was durable: changed behind our back.
                Ok(Step::End) => JournalError::Corrupt {
                    path: current.frames.path().to_path_buf(),
                    offset: current.frames.offset(),
                    damage: crate::Damage::PartialFrame,
                },
                Ok(Step::Damaged { offset, damage }) => JournalError::Corrupt {
                    path: current.frames.path().to_path_buf(),
                    offset,
                    damage,
                },
                Err(e) => e,
            };
            self.current = None;
            return Some(Err(error));
        }
    }
}

impl Iterator for Reader {
    type Item = Result<(u64, Vec<u8>), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_inner()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("segments_left", &self.segments.len())
            .field("end_seq", &self.end_seq)
            .finish_non_exhaustive()
    }
}
