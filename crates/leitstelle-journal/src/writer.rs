//! The writer thread: group commit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::JournalError;
use crate::format::{
    FRAME_HEADER_LEN, INDEX_EVERY_BYTES, SEGMENT_HEADER_LEN, encode_frame, encode_header,
    segment_file_name,
};
use crate::{Inner, SegMeta, lock, sync_dir};

/// What an appender is told.
pub(crate) type Callback = Box<dyn FnOnce(Result<Range<u64>, JournalError>) + Send + 'static>;

/// One `append` call waiting for the writer.
pub(crate) struct Batch {
    pub(crate) first_seq: u64,
    pub(crate) count: u64,
    pub(crate) bytes: usize,
    pub(crate) payloads: Vec<Vec<u8>>,
    pub(crate) done: Callback,
}

/// Calls an appender's callback; a panic in it is contained so the writer goes on.
pub(crate) fn notify(done: Callback, result: Result<Range<u64>, JournalError>) {
    let _ = catch_unwind(AssertUnwindSafe(move || done(result)));
}

/// Bytes gathered in memory before they are written out (without fsync) within one group.
const WRITE_CHUNK: usize = 1 << 20;

/// Creates the segment for `first_seq` durably: header written to a temp file, fsynced,
/// renamed, directory fsynced. Returns the open file, positioned after the header.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), JournalError> {
    let name = segment_file_name(first_seq);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| JournalError::io("create", &tmp, e))?;
    file.write_all(&encode_header(first_seq))
        .map_err(|e| JournalError::io("write", &tmp, e))?;
    file.sync_all()
        .map_err(|e| JournalError::io("fsync", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename", &tmp, e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// The writer's view of the active (last) segment.
pub(crate) struct SegmentWriter {
    pub(crate) dir: PathBuf,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) first_seq: u64,
    /// Bytes in the file (written, not necessarily synced).
    pub(crate) written: u64,
    /// Sequence number of the next record.
    pub(crate) next_seq: u64,
    /// Records in this segment, including buffered ones.
    pub(crate) records: u64,
    /// Something was written or buffered since the last fsync.
    pub(crate) dirty: bool,
    pub(crate) buf: Vec<u8>,
    /// Index entries not yet published.
    pub(crate) index: Vec<(u64, u64)>,
    pub(crate) last_indexed: u64,
    pub(crate) segment_bytes: u64,
}

impl SegmentWriter {
    fn flush(&mut self) -> Result<(), JournalError> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(|e| JournalError::io("write", &self.path, e))?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered, fsyncs it and makes it visible as durable.
    fn sync_and_publish(&mut self, inner: &Inner) -> Result<(), JournalError> {
        if !self.dirty {
            return Ok(());
        }
        self.flush()?;
        inner
            .before_sync()
            .map_err(|e| JournalError::io("fsync", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| JournalError::io("fsync", &self.path, e))?;
        inner.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.dirty = false;

        let mut state = lock(&inner.state);
        if let Some(seg) = state
            .segments
            .iter_mut()
            .rev()
            .find(|s| s.first_seq == self.first_seq)
        {
            seg.end_seq = self.next_seq;
            seg.len = self.written;
            seg.index.append(&mut self.index);
        }
        state.durable_seq = self.next_seq - 1;
        inner.durable.store(self.next_seq - 1, Ordering::Release);
        drop(state);
        inner.durable_cv.notify_all();
        Ok(())
    }

    fn rotate(&mut self, inner: &Inner) -> Result<(), JournalError> {
        self.sync_and_publish(inner)?;
        let (file, path) = create_segment(&self.dir, self.next_seq)?;
        inner.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
        self.file = file;
        self.path = path.clone();
        self.first_seq = self.next_seq;
        self.written = SEGMENT_HEADER_LEN;
        self.records = 0;
        self.last_indexed = SEGMENT_HEADER_LEN;
        lock(&inner.state).segments.push(SegMeta {
            first_seq: self.first_seq,
            path,
            end_seq: self.first_seq,
            len: SEGMENT_HEADER_LEN,
            index: Vec::new(),
        });
        Ok(())
    }

    /// Writes every batch of the group, fsyncs, publishes. Fills in each batch's first seq as
    /// written (it equals the one assigned at enqueue).
    fn write_group(&mut self, inner: &Inner, group: &mut [Batch]) -> Result<(), JournalError> {
        for batch in group.iter_mut() {
            debug_assert_eq!(batch.first_seq, self.next_seq);
            batch.first_seq = self.next_seq;
            for payload in std::mem::take(&mut batch.payloads) {
                let frame = FRAME_HEADER_LEN + payload.len() as u64;
                if self.records > 0
                    && self.written + self.buf.len() as u64 + frame > self.segment_bytes
                {
                    self.rotate(inner)?;
                }
                let offset = self.written + self.buf.len() as u64;
                if offset - self.last_indexed >= INDEX_EVERY_BYTES {
                    self.index.push((self.next_seq, offset));
                    self.last_indexed = offset;
                }
                encode_frame(&mut self.buf, self.next_seq, &payload);
                self.next_seq += 1;
                self.records += 1;
                self.dirty = true;
                if self.buf.len() >= WRITE_CHUNK {
                    self.flush()?;
                }
            }
        }
        self.sync_and_publish(inner)
    }
}

/// Runs when the writer thread ends, normally or by a panic: whatever is still queued is
/// failed and waiters are woken.
struct ExitGuard(Arc<Inner>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let inner = &self.0;
        let left: Vec<Batch> = {
            let mut q = lock(&inner.queue);
            q.writer_gone = true;
            q.bytes = 0;
            q.batches.drain(..).collect()
        };
        inner.space_cv.notify_all();
        lock(&inner.state).stopped = true;
        inner.durable_cv.notify_all();
        for b in left {
            notify(b.done, Err(JournalError::WriterDied));
        }
    }
}

/// The writer thread's body.
pub(crate) fn run(inner: Arc<Inner>, mut w: SegmentWriter) {
    let _guard = ExitGuard(inner.clone());
    let group_max = inner.opts.group_max_bytes;
    let mut group: Vec<Batch> = Vec::new();
    loop {
        {
            let mut q = lock(&inner.queue);
            while q.batches.is_empty() && !q.closed {
                q.writer_idle = true;
                q = inner.work_cv.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.writer_idle = false;
            if q.batches.is_empty() {
                return; // closed and drained
            }
            let mut bytes = 0;
            while let Some(b) = q.batches.front() {
                if !group.is_empty() && bytes >= group_max {
                    break;
                }
                bytes += b.bytes;
                if let Some(b) = q.batches.pop_front() {
                    group.push(b);
                }
            }
            q.bytes -= bytes;
        }
        inner.space_cv.notify_all();

        let records: u64 = group.iter().map(|b| b.count).sum();
        let bytes: usize = group.iter().map(|b| b.bytes).sum();
        match w.write_group(&inner, &mut group) {
            Ok(()) => {
                let s = &inner.stats;
                s.groups.fetch_add(1, Ordering::Relaxed);
                s.batches.fetch_add(group.len() as u64, Ordering::Relaxed);
                s.records.fetch_add(records, Ordering::Relaxed);
                s.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                s.largest_group_records
                    .fetch_max(records, Ordering::Relaxed);
                s.largest_group_bytes
                    .fetch_max(bytes as u64, Ordering::Relaxed);
                for b in group.drain(..) {
                    let range = b.first_seq..b.first_seq + b.count;
                    notify(b.done, Ok(range));
                }
            }
            Err(error) => {
                let cause = Arc::new(error.clone());
                let rest: Vec<Batch> = {
                    let mut q = lock(&inner.queue);
                    q.poisoned = Some(cause.clone());
                    q.bytes = 0;
                    q.batches.drain(..).collect()
                };
                inner.space_cv.notify_all();
                for b in group.drain(..) {
                    notify(b.done, Err(error.clone()));
                }
                for b in rest {
                    notify(b.done, Err(JournalError::Poisoned(cause.clone())));
                }
                return;
            }
        }
    }
}
