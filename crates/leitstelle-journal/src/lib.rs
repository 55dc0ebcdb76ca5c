//! The durable write-ahead journal of the Leitstelle server.
//!
//! An event is acknowledged to its sender only after it is in this journal and fsynced. The
//! journal is a directory of append-only *segment* files holding opaque byte records, each
//! with a sequence number (`u64`, from 1, strictly increasing, continuing across restarts).
//! Consumers (the event store, detection) read it from named *cursors*; whole segments are
//! deleted once every cursor is past them.
//!
//! Main types: [`Journal`] (open, append, read, cursors, trim; `Send + Sync`, share it in an
//! [`Arc`]), [`JournalOptions`], [`RecoveryReport`] (what opening found and repaired),
//! [`Reader`] (an iterator over durable records), [`JournalStats`], [`JournalError`].
//!
//! # Example
//!
//! ```
//! use leitstelle_journal::{Journal, JournalOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let (journal, report) = Journal::open(dir.path(), JournalOptions::default())?;
//! assert!(report.is_clean());
//!
//! // Blocking: returns once the records are fsynced.
//! let seqs = journal.append_wait(vec![b"first".to_vec(), b"second".to_vec()])?;
//! assert_eq!(seqs, 1..3);
//!
//! // Callback style (what an async server bridges to a oneshot channel).
//! let (tx, rx) = std::sync::mpsc::channel();
//! journal.append(vec![b"third".to_vec()], move |result| {
//!     let _ = tx.send(result);
//! });
//! assert_eq!(rx.recv()??, 3..4);
//!
//! let records: Vec<(u64, Vec<u8>)> = journal.reader(2)?.collect::<Result<_, _>>()?;
//! assert_eq!(records, vec![(2, b"second".to_vec()), (3, b"third".to_vec())]);
//!
//! // The store committed everything below 3: segments wholly below every cursor can go.
//! journal.set_cursor("store", 3)?;
//! journal.trim()?; // nothing to delete yet: the only segment is the active one
//! journal.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # File format
//!
//! The directory holds:
//!
//! - segment files `NNNNNNNNNNNNNNNNNNNN.wal`, named by their first sequence number in 20
//!   decimal digits (`00000000000000000001.wal`), so that names sort in sequence order;
//! - cursor files `<name>.cursor` (20 bytes: magic `LTCURSOR`, the position as u64, CRC32 of
//!   the first 16 bytes);
//! - `LOCK`, held with an exclusive `flock` while a [`Journal`] is open (a second open, in
//!   this or another process, fails with [`JournalError::Locked`] once
//!   [`JournalOptions::lock_wait`] has passed);
//! - briefly, `*.tmp` files while a segment or cursor is created; recovery removes leftovers.
//!
//! Other files are ignored. All integers are little endian.
//!
//! A segment starts with a 32-byte header:
//!
//! | bytes  | content                                   |
//! |--------|-------------------------------------------|
//! | 0..8   | magic `LTJOURNL`                           |
//! | 8..12  | format version, `1`                       |
//! | 12..16 | header length, `32`                       |
//! | 16..24 | first sequence number (as in the name)    |
//! | 24..28 | reserved, zero                            |
//! | 28..32 | CRC32 of bytes 0..28                      |
//!
//! followed by records, each framed as
//!
//! | bytes   | content                                                          |
//! |---------|------------------------------------------------------------------|
//! | 0..4    | payload length `n` (at most `max_record_bytes`)                   |
//! | 4..8    | CRC32 (crc32fast, IEEE) of seq (u64) ‖ `n` (u32) ‖ payload        |
//! | 8..8+n  | payload                                                          |
//!
//! There is no padding. The sequence number is not stored: the k-th record (from 0) of a
//! segment has `first_seq + k`. It is covered by the CRC, so a frame is valid only at its own
//! position: zero-filled space, stale bytes or a frame copied elsewhere never pass as a record.
//! A new segment is started when the next record would take the active one past
//! `segment_bytes` (a record larger than that gets a segment of its own). Segments are created
//! durably: header written to `<name>.tmp`, fsynced, renamed, directory fsynced.
//!
//! # Durability contract
//!
//! - [`Journal::append`] queues a batch for the single writer thread. The writer takes
//!   everything queued (up to about `group_max_bytes`), writes it, calls `fdatasync`
//!   ([`File::sync_data`](std::fs::File::sync_data)) once and only then calls each batch's
//!   callback with `Ok(range)`, the batch's (contiguous) sequence numbers. *Ok means fsynced.*
//!   Callbacks run on the writer thread, in sequence order, with no journal lock held; they
//!   must be cheap (send on a channel) and must not block on the journal.
//! - The callback is called exactly once. A batch rejected up front (a record over
//!   `max_record_bytes`, journal closed or poisoned) gets its error at once, on the caller's
//!   thread, and nothing of it is written.
//! - If a write or fsync fails, every batch of that group and every queued batch gets an
//!   error, and the journal is *poisoned*: all later appends fail with
//!   [`JournalError::Poisoned`] until it is reopened. An fsync error is not retried: after a
//!   failed fsync Linux may drop the dirty pages and report success on the next fsync, so
//!   retrying could acknowledge data that is not on disk. Reopening re-reads what really is.
//!   An error means "not known to be durable", not "known to be absent": records of a failed
//!   group may still surface after a reopen, so a sender that retries may create duplicates.
//! - [`Journal::durable_seq`] is the last fsynced sequence number; [`Journal::reader`] never
//!   returns a record above the durable end at the time of the call, even if its bytes are
//!   already in the file.
//! - Appenders block while more than `max_pending_bytes` wait for the writer (backpressure;
//!   a callback running on the writer thread is never blocked).
//! - [`Journal::close`] (or dropping the last handle) writes and fsyncs everything queued,
//!   runs its callbacks and stops the writer thread.
//!
//! # Recovery rules
//!
//! [`Journal::open`] reads every segment in sequence order and checks every CRC:
//!
//! - **Last segment:** the first damaged frame (partial frame, length over
//!   `max_record_bytes`, CRC mismatch, zero fill) and everything after it is cut off
//!   (truncated and fsynced) and reported in [`RecoveryReport::truncated_tail`]. After a
//!   crash this is the unacknowledged part of the group in flight. A damaged frame in the
//!   middle of the last segment cannot be told apart from a torn tail and is cut off the
//!   same way (and reported).
//! - **Older segments:** they were complete and fsynced before the next one was created, so
//!   damage there is disk corruption. It is reported in
//!   [`RecoveryReport::damaged_segments`] with path, offset and the records lost; the file is
//!   not modified, readers read that segment up to the damage and continue with the next one.
//! - **Sequence continuity:** a segment's first seq must be at least the end of the one before.
//!   A larger first seq is a gap, reported in [`RecoveryReport::gaps`] (the lost records of a
//!   damaged segment, or a segment file removed by hand); readers skip it and sequence
//!   numbers stay strictly increasing. A smaller one (an overlap: two histories mixed in one
//!   directory) refuses to open with [`JournalError::SequenceOverlap`], since reading it
//!   would return a sequence number twice.
//! - **Headers:** a segment shorter than its header, with a bad magic or CRC, another
//!   format version or a first seq that differs from its file name refuses to open with
//!   [`JournalError::BadHeader`]; nothing is guessed. (Segments are created atomically, so
//!   no crash produces this.) Move the file aside to open without it.
//! - **Cursors:** a garbled cursor file refuses to open ([`JournalError::BadCursor`]):
//!   ignoring it could let [`Journal::trim`] delete what its consumer still needs. If a
//!   cursor points past the last record, a new segment is started at that cursor so that
//!   no consumer skips new records ([`RecoveryReport::advanced_to_cursor`]).
//! - Nothing read from disk is trusted for an allocation: a length field is checked against
//!   `max_record_bytes` and the bytes left in the file before anything is allocated.
//!
//! # Cursors and trim
//!
//! A cursor is a named consumer position: *the first sequence number the consumer still
//! needs*; everything below has been consumed (so `reader(cursor)` resumes it).
//! [`Journal::set_cursor`] persists it durably (temp file, fsync, rename, directory fsync)
//! before it counts, and refuses positions past `durable_seq() + 1`.
//!
//! [`Journal::trim`] deletes whole segments all of whose sequence numbers are below the
//! minimum of all cursors, oldest first, never the active (last) segment. With no cursor
//! nothing is deleted. A segment's sequence numbers run up to the next segment's first seq,
//! so no record is read to decide. Trim uses the cursors as they are at the time of the call:
//! a consumer rewinding below a trimmed point finds those records gone (a reader starts at
//! the first record still present).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

mod cursor;
mod error;
mod format;
mod reader;
mod recovery;
mod writer;

#[cfg(test)]
mod tests;

pub use error::{Damage, JournalError};
pub use format::{
    FORMAT_VERSION, FRAME_HEADER_LEN, SEGMENT_EXTENSION, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
    segment_file_name,
};
pub use reader::Reader;
pub use recovery::{DamagedSegment, RecoveryReport, TruncatedTail};

use reader::ReadSegment;
use writer::{Batch, Callback, notify};

/// How a journal is opened: `JournalOptions { segment_bytes, ..JournalOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// A new segment starts when the next record would take the active one past this size
    /// (default 64 MiB). At least 64 bytes.
    pub segment_bytes: u64,
    /// Largest record payload accepted; a larger one fails its batch with
    /// [`JournalError::RecordTooLarge`] (default 16 MiB). Also the bound recovery applies to
    /// length fields read from disk. At most `u32::MAX`.
    pub max_record_bytes: usize,
    /// The writer stops gathering batches into one group (one fsync) once it has this many
    /// bytes; the batch that crosses it is still included (default 8 MiB).
    pub group_max_bytes: usize,
    /// Appenders block while this many bytes are queued for the writer; a single batch larger
    /// than this is still accepted when the queue is empty (default 64 MiB).
    pub max_pending_bytes: usize,
    /// How long `open` keeps trying when the directory is locked before it fails with
    /// [`JournalError::Locked`] (default 2 s). An `flock` belongs to the open file, and a
    /// child process forked by another thread of this process shares it until the child
    /// calls `exec`; a journal closed and reopened in that window would otherwise see its
    /// own old lock.
    pub lock_wait: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 << 20,
            max_record_bytes: 16 << 20,
            group_max_bytes: 8 << 20,
            max_pending_bytes: 64 << 20,
            lock_wait: Duration::from_secs(2),
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<(), JournalError> {
        let fail = |m: &str| Err(JournalError::InvalidOptions(m.to_string()));
        if self.segment_bytes < 64 {
            return fail("segment_bytes must be at least 64");
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > u32::MAX as usize {
            return fail("max_record_bytes must be between 1 and 4294967295");
        }
        if self.group_max_bytes == 0 {
            return fail("group_max_bytes must be positive");
        }
        if self.max_pending_bytes == 0 {
            return fail("max_pending_bytes must be positive");
        }
        Ok(())
    }
}

/// Counters for metrics. All counts are since the journal was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalStats {
    /// Last fsynced sequence number (0 if none).
    pub durable_seq: u64,
    /// Sequence number of the next appended record.
    pub next_seq: u64,
    /// Segment files.
    pub segments: usize,
    /// Durable bytes in all segment files (headers included).
    pub bytes_on_disk: u64,
    /// fsync/fdatasync calls by the writer (one per group, plus segment creation).
    pub fsyncs: u64,
    /// Group commits.
    pub groups: u64,
    /// Batches (`append` calls) made durable.
    pub batches: u64,
    /// Records made durable.
    pub records_appended: u64,
    /// Frame bytes (payloads + 8-byte frame headers) made durable.
    pub bytes_appended: u64,
    /// Most records in one group.
    pub largest_group_records: u64,
    /// Most frame bytes in one group.
    pub largest_group_bytes: u64,
    /// Bytes waiting for the writer.
    pub pending_bytes: u64,
    /// An earlier write or fsync failed; appends are refused until reopened.
    pub poisoned: bool,
}

/// What [`Journal::trim`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrimReport {
    /// The minimum of all cursors (`None`: no cursors, nothing trimmed).
    pub min_cursor: Option<u64>,
    /// Segment files deleted.
    pub segments_removed: usize,
    /// Their size in bytes.
    pub bytes_removed: u64,
    /// The first sequence number still covered by a segment.
    pub first_seq: u64,
}

/// One segment as readers and trim see it (durable state only).
pub(crate) struct SegMeta {
    pub(crate) first_seq: u64,
    pub(crate) path: PathBuf,
    /// Exclusive end of its durable (or, for a damaged old segment, readable) records.
    pub(crate) end_seq: u64,
    /// End offset of those records.
    pub(crate) len: u64,
    /// `(seq, offset)` of about one record per 64 KiB, ascending.
    pub(crate) index: Vec<(u64, u64)>,
}

pub(crate) struct State {
    pub(crate) segments: Vec<SegMeta>,
    pub(crate) durable_seq: u64,
    /// The writer has stopped (closed, poisoned or died).
    pub(crate) stopped: bool,
}

pub(crate) struct Queue {
    pub(crate) batches: std::collections::VecDeque<Batch>,
    pub(crate) bytes: usize,
    pub(crate) next_seq: u64,
    pub(crate) closed: bool,
    pub(crate) poisoned: Option<Arc<JournalError>>,
    pub(crate) writer_gone: bool,
    /// The writer is waiting on `work_cv` (appenders signal only then).
    pub(crate) writer_idle: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) fsyncs: AtomicU64,
    pub(crate) groups: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) largest_group_records: AtomicU64,
    pub(crate) largest_group_bytes: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: JournalOptions,
    pub(crate) queue: Mutex<Queue>,
    /// The writer waits here for batches.
    pub(crate) work_cv: Condvar,
    /// Appenders wait here for room in the queue.
    pub(crate) space_cv: Condvar,
    pub(crate) state: Mutex<State>,
    /// Signalled (with `state`) when `durable_seq` moves or the writer stops.
    pub(crate) durable_cv: Condvar,
    pub(crate) durable: AtomicU64,
    pub(crate) stats: Counters,
    pub(crate) cursors: Mutex<BTreeMap<String, u64>>,
    /// Serialises cursor file updates.
    pub(crate) cursor_io: Mutex<()>,
    pub(crate) writer_thread: OnceLock<ThreadId>,
    /// Holds the directory lock (`LOCK`) until the journal and its writer are gone.
    _lock: File,
    #[cfg(test)]
    pub(crate) hooks: tests::Hooks,
}

impl Inner {
    #[cfg(not(test))]
    pub(crate) fn before_sync(&self) -> std::io::Result<()> {
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn before_sync(&self) -> std::io::Result<()> {
        self.hooks.before_sync()
    }
}

/// Locks a mutex, ignoring poisoning (callbacks run under `catch_unwind`, and no journal code
/// panics while holding a lock, so the data is consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// fsyncs a directory, making created, renamed and removed entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync directory", dir, e))
}

/// The journal. See the [crate docs](crate) for the format and the guarantees.
pub struct Journal {
    inner: Arc<Inner>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.inner.dir)
            .field("durable_seq", &self.durable_seq())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, recovers it (see the crate docs) and starts
    /// the writer thread.
    pub fn open(
        dir: &Path,
        opts: JournalOptions,
    ) -> Result<(Journal, RecoveryReport), JournalError> {
        opts.validate()?;
        create_dir_durably(dir)?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| JournalError::io("open", &lock_path, e))?;
        let deadline = Instant::now() + opts.lock_wait;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(JournalError::Locked {
                        path: dir.to_path_buf(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(JournalError::io("lock", &lock_path, e));
                }
            }
        }

        let recovered = recovery::recover(dir, &opts)?;
        let next_seq = recovered.writer.next_seq;
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            opts,
            queue: Mutex::new(Queue {
                batches: Default::default(),
                bytes: 0,
                next_seq,
                closed: false,
                poisoned: None,
                writer_gone: false,
                writer_idle: false,
            }),
            work_cv: Condvar::new(),
            space_cv: Condvar::new(),
            state: Mutex::new(State {
                segments: recovered.segments,
                durable_seq: next_seq - 1,
                stopped: false,
            }),
            durable_cv: Condvar::new(),
            durable: AtomicU64::new(next_seq - 1),
            stats: Counters::default(),
            cursors: Mutex::new(recovered.cursors),
            cursor_io: Mutex::new(()),
            writer_thread: OnceLock::new(),
            _lock: lock_file,
            #[cfg(test)]
            hooks: Default::default(),
        });
        let writer_inner = inner.clone();
        let segment_writer = recovered.writer;
        let handle = std::thread::Builder::new()
            .name("journal-writer".to_string())
            .spawn(move || {
                let _ = writer_inner.writer_thread.set(std::thread::current().id());
                writer::run(writer_inner, segment_writer);
            })
            .map_err(|e| JournalError::io("spawn writer thread for", dir, e))?;
        Ok((
            Journal {
                inner,
                writer: Mutex::new(Some(handle)),
            },
            recovered.report,
        ))
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> &JournalOptions {
        &self.inner.opts
    }

    /// Queues `payloads` as one batch (contiguous sequence numbers) and calls `on_durable`
    /// exactly once: with the batch's sequence numbers after they are fsynced, or with an
    /// error. See the crate docs for the contract. An empty batch succeeds at once with an
    /// empty range.
    ///
    /// Blocks only for backpressure (`max_pending_bytes`).
    pub fn append<F>(&self, payloads: Vec<Vec<u8>>, on_durable: F)
    where
        F: FnOnce(Result<Range<u64>, JournalError>) + Send + 'static,
    {
        self.append_boxed(payloads, Box::new(on_durable));
    }

    fn append_boxed(&self, payloads: Vec<Vec<u8>>, done: Callback) {
        let inner = &*self.inner;
        let max = inner.opts.max_record_bytes;
        if let Some(p) = payloads.iter().find(|p| p.len() > max) {
            let len = p.len();
            notify(done, Err(JournalError::RecordTooLarge { len, max }));
            return;
        }
        let bytes: usize = payloads
            .iter()
            .map(|p| p.len() + FRAME_HEADER_LEN as usize)
            .sum();
        let on_writer = inner.writer_thread.get() == Some(&std::thread::current().id());
        let mut q = lock(&inner.queue);
        let result = loop {
            if q.closed {
                break Err(JournalError::Closed);
            }
            if let Some(cause) = &q.poisoned {
                break Err(JournalError::Poisoned(cause.clone()));
            }
            if q.writer_gone {
                break Err(JournalError::WriterDied);
            }
            if payloads.is_empty() {
                break Ok(q.next_seq..q.next_seq);
            }
            if q.bytes == 0 || q.bytes + bytes <= inner.opts.max_pending_bytes || on_writer {
                let first_seq = q.next_seq;
                let count = payloads.len() as u64;
                q.next_seq += count;
                q.bytes += bytes;
                q.batches.push_back(Batch {
                    first_seq,
                    count,
                    bytes,
                    payloads,
                    done,
                });
                let wake = std::mem::take(&mut q.writer_idle);
                drop(q);
                if wake {
                    inner.work_cv.notify_one();
                }
                return;
            }
            q = inner.space_cv.wait(q).unwrap_or_else(|e| e.into_inner());
        };
        drop(q);
        notify(done, result);
    }

    /// Appends and waits until the batch is fsynced. Do not call it from an `append`
    /// callback (it would wait for the thread it runs on).
    pub fn append_wait(&self, payloads: Vec<Vec<u8>>) -> Result<Range<u64>, JournalError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.append(payloads, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or(Err(JournalError::WriterDied))
    }

    /// The last fsynced sequence number (0 when nothing was ever appended).
    pub fn durable_seq(&self) -> u64 {
        self.inner.durable.load(Ordering::Acquire)
    }

    /// The sequence number the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        lock(&self.inner.queue).next_seq
    }

    /// Waits until `durable_seq() >= seq`, the timeout passes or the writer stops; returns
    /// `durable_seq()`. For consumers tailing the journal.
    pub fn wait_durable(&self, seq: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.inner.state);
        while st.durable_seq < seq && !st.stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = match self.inner.durable_cv.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        st.durable_seq
    }

    /// A reader over the durable records from `from_seq` (records below the first one still
    /// present are skipped; 0 counts as 1) up to `durable_seq()` as it is now.
    pub fn reader(&self, from_seq: u64) -> Result<Reader, JournalError> {
        let from = from_seq.max(1);
        let st = lock(&self.inner.state);
        let end_seq = st.durable_seq + 1;
        let mut segments = Vec::new();
        for seg in &st.segments {
            if seg.end_seq <= from || seg.end_seq <= seg.first_seq {
                continue;
            }
            let (start_seq, start_offset) = if from > seg.first_seq {
                let i = seg.index.partition_point(|&(s, _)| s <= from);
                if i > 0 {
                    seg.index[i - 1]
                } else {
                    (seg.first_seq, SEGMENT_HEADER_LEN)
                }
            } else {
                (seg.first_seq, SEGMENT_HEADER_LEN)
            };
            segments.push(ReadSegment {
                path: seg.path.clone(),
                start_seq,
                start_offset,
                from_seq: from,
                end_seq: seg.end_seq,
                end_offset: seg.len,
            });
        }
        drop(st);
        Ok(Reader::new(
            segments,
            self.inner.opts.max_record_bytes,
            end_seq,
        ))
    }

    /// Sets cursor `name` to `next`, the first sequence number its consumer still needs, and
    /// persists it durably before returning. `next` may be at most `durable_seq() + 1`.
    pub fn set_cursor(&self, name: &str, next: u64) -> Result<(), JournalError> {
        cursor::check_name(name)?;
        let durable = self.durable_seq();
        if next > durable + 1 {
            return Err(JournalError::CursorBeyondDurable {
                name: name.to_string(),
                next,
                durable,
            });
        }
        let _io = lock(&self.inner.cursor_io);
        cursor::store(&self.inner.dir, name, next)?;
        lock(&self.inner.cursors).insert(name.to_string(), next);
        Ok(())
    }

    /// Removes cursor `name` (a consumer that is gone for good; otherwise it holds back
    /// trim). Returns whether it existed.
    pub fn remove_cursor(&self, name: &str) -> Result<bool, JournalError> {
        cursor::check_name(name)?;
        let _io = lock(&self.inner.cursor_io);
        cursor::remove(&self.inner.dir, name)?;
        Ok(lock(&self.inner.cursors).remove(name).is_some())
    }

    /// The position of cursor `name`.
    pub fn cursor(&self, name: &str) -> Option<u64> {
        lock(&self.inner.cursors).get(name).copied()
    }

    /// All cursors, by name.
    pub fn cursors(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.cursors).clone()
    }

    /// Deletes the segments all of whose records are below every cursor (never the active
    /// segment; nothing without cursors). See the crate docs.
    pub fn trim(&self) -> Result<TrimReport, JournalError> {
        let min_cursor = lock(&self.inner.cursors).values().copied().min();
        let mut report = TrimReport {
            min_cursor,
            ..TrimReport::default()
        };
        let removed: Vec<SegMeta> = {
            let mut st = lock(&self.inner.state);
            let mut n = 0;
            if let Some(min) = min_cursor {
                // Segment i covers [first_i, first_{i+1}); the last one is never removed.
                while n + 1 < st.segments.len() && st.segments[n + 1].first_seq <= min {
                    n += 1;
                }
            }
            let removed = st.segments.drain(..n).collect();
            report.first_seq = st.segments.first().map_or(1, |s| s.first_seq);
            removed
        };
        if removed.is_empty() {
            return Ok(report);
        }
        for seg in &removed {
            fs::remove_file(&seg.path).map_err(|e| JournalError::io("remove", &seg.path, e))?;
            report.segments_removed += 1;
            report.bytes_removed += seg.len;
        }
        sync_dir(&self.inner.dir)?;
        Ok(report)
    }

    /// Counters for metrics.
    pub fn stats(&self) -> JournalStats {
        let inner = &*self.inner;
        let (next_seq, pending_bytes, poisoned) = {
            let q = lock(&inner.queue);
            (q.next_seq, q.bytes as u64, q.poisoned.is_some())
        };
        let (durable_seq, segments, bytes_on_disk) = {
            let st = lock(&inner.state);
            (
                st.durable_seq,
                st.segments.len(),
                st.segments.iter().map(|s| s.len).sum(),
            )
        };
        let s = &inner.stats;
        JournalStats {
            durable_seq,
            next_seq,
            segments,
            bytes_on_disk,
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            groups: s.groups.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            records_appended: s.records.load(Ordering::Relaxed),
            bytes_appended: s.bytes.load(Ordering::Relaxed),
            largest_group_records: s.largest_group_records.load(Ordering::Relaxed),
            largest_group_bytes: s.largest_group_bytes.load(Ordering::Relaxed),
            pending_bytes,
            poisoned,
        }
    }

    /// Writes and fsyncs everything queued (running its callbacks), then stops the writer.
    /// Later appends fail with [`JournalError::Closed`]. Returns the error that poisoned the
    /// journal, if one did. Called by `Drop`; calling it twice is harmless.
    pub fn close(&self) -> Result<(), JournalError> {
        lock(&self.inner.queue).closed = true;
        self.inner.work_cv.notify_all();
        self.inner.space_cv.notify_all();
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            if handle.thread().id() == std::thread::current().id() {
                // Dropped from one of its own callbacks: it exits once the queue is empty.
                return Ok(());
            }
            if handle.join().is_err() {
                return Err(JournalError::WriterDied);
            }
        }
        match &lock(&self.inner.queue).poisoned {
            Some(cause) => Err(JournalError::Poisoned(cause.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Creates `dir` (and missing parents) and fsyncs the parent of each directory created, so
/// that the journal directory itself survives a crash.
fn create_dir_durably(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(JournalError::io("create directory", dir, e)),
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
}
