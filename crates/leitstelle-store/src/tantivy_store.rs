//! The embedded event store: one `tantivy` index per tenant and UTC day.
//!
//! Why tantivy: it is the search library Quickwit is built on, pure Rust, with an inverted
//! index, columnar fast fields and a compressed document store in one well-kept crate, and it
//! runs in-process (no second service on a one-machine install).
//!
//! Layout: `<root>/<tenant>/<YYYY-MM-DD>/` is one tantivy index (tenant names escaped with
//! `%XX` outside `[A-Za-z0-9_-]`), and `<root>/COMMITTED` holds the watermark of the last
//! completed commit. Retention deletes whole day directories.
//!
//! Every event is one document with:
//! - `kv`: one term per (path, value) pair, `path\u{1f}value`, lowercased in the index and
//!   original-case in its fast column (exact values, wildcards and text ranges per field;
//!   `_exists_` as the range of a path's terms; values of any field for aggregations);
//! - `kn`: one term per numeric value, `path\u{1f}` + the order-preserving hex of the number
//!   (numeric ranges);
//! - `all`: the words of every value of the event's own tree (not the meta fields), with
//!   positions (bare terms and phrases);
//! - typed fast fields `_seq`, `_time`, `_event_id`, `_tenant`, `_host`, `_user`, `_level`,
//!   `_source`, `_logsource` (the last six also serve `count_by`, the fast path of
//!   `stats count by host` and `top`); `_doc`: the stored document (JSON, lz4-compressed by
//!   tantivy).
//!
//! Exactly once: each partition's commit carries the watermark it was committed with as its
//! payload. After a crash in the middle of a commit some partitions are ahead of `COMMITTED`;
//! replayed events below a partition's own watermark are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use leitstelle_profile::ProfileSet;
use leitstelle_query::{Expr, Pred, WildPart};
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, EnableScoring, InvertedIndexRangeQuery, Occur, PhraseQuery,
    Query, RangeQuery, RegexQuery, TermQuery, Weight,
};
use tantivy::schema::{
    BytesOptions, FAST, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, SegmentReader, TantivyDocument, Term,
};

use crate::exec::{
    self, Backend, CountBy, Filter, Row, lower_bound, numeric_bounds, wildcard_regex,
};
use crate::model::{
    FieldResolver, MAX_WORD, NewEvent, PathPattern, SEP, encode_f64, for_each_leaf, for_each_meta,
    is_meta_path, numeric, words,
};
use crate::term_range::PrefixRegexQuery;
use crate::{
    Dropped, EventStore, FieldStats, Retention, SearchRequest, SearchResult, StoreError, Usage,
    day_name, day_of, parse_day_name,
};

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;
const COMMITTED_FILE: &str = "COMMITTED";
/// Names the layout and schema of the store's files; raise [`FORMAT`] whenever
/// [`schema`] or the document layout changes, so an old store gets a clear error.
const FORMAT_FILE: &str = "FORMAT";
const FORMAT: u32 = 2;
const FORMAT_NAME: &str = "leitstelle-store";
/// A partition writer idle for this many commits is closed.
const IDLE_COMMITS_BEFORE_CLOSE: u32 = 60;

/// Tuning of the embedded store.
#[derive(Clone, Debug)]
pub struct TantivyOptions {
    /// Indexing memory per open partition writer (tantivy's minimum is 15 MB).
    pub writer_memory_bytes: usize,
    /// Indexing threads per partition writer.
    pub writer_threads: usize,
    /// Merge threads per partition writer.
    pub merge_threads: usize,
    /// Partition writers open at once at most; opening one more first commits and closes
    /// the least recently used (events spread over many days, or many tenants).
    pub max_open_writers: usize,
}

impl Default for TantivyOptions {
    fn default() -> Self {
        TantivyOptions {
            writer_memory_bytes: 64 << 20,
            writer_threads: 2,
            merge_threads: 1,
            max_open_writers: 64,
        }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    seq: Field,
    time: Field,
    event_id: Field,
    tenant: Field,
    host: Field,
    user: Field,
    level: Field,
    source: Field,
    logsource: Field,
    kv: Field,
    kn: Field,
    all: Field,
    doc: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let num = NumericOptions::default().set_indexed().set_fast();
    let column = TextOptions::default().set_fast(Some("raw"));
    let keyword = |tokenizer: &str| {
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic)
    };
    let f = Fields {
        seq: b.add_u64_field("_seq", num.clone()),
        time: b.add_i64_field("_time", num.clone()),
        event_id: b.add_u64_field("_event_id", FAST),
        tenant: b.add_text_field("_tenant", column.clone()),
        host: b.add_text_field("_host", column.clone()),
        user: b.add_text_field("_user", column.clone()),
        level: b.add_text_field("_level", column.clone()),
        source: b.add_text_field("_source", column.clone()),
        logsource: b.add_text_field("_logsource", column),
        kv: b.add_text_field(
            "kv",
            TextOptions::default()
                .set_indexing_options(keyword("lower_raw"))
                .set_fast(Some("raw")),
        ),
        kn: b.add_text_field(
            "kn",
            TextOptions::default().set_indexing_options(keyword("raw")),
        ),
        all: b.add_text_field(
            "all",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("words")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        ),
        doc: b.add_bytes_field("_doc", BytesOptions::default().set_stored()),
    };
    (b.build(), f)
}

struct Partition {
    tenant: String,
    day: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    /// The watermark of this partition's last commit: every event of this partition with a
    /// smaller sequence number is in it.
    watermark: AtomicU64,
    /// Documents added since the last commit.
    pending: AtomicU64,
    /// Commits since this partition last got a document.
    idle_commits: std::sync::atomic::AtomicU32,
    /// The largest sequence number added since the writer was opened.
    max_added: AtomicU64,
    /// When this partition last got a document (the store's add counter).
    last_used: AtomicU64,
    /// A writer being closed on another thread (see [`Partition::close_later`]).
    closing: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Partition {
    /// Commits what the writer got, with `watermark` as the commit's payload, and lets the
    /// reader see it.
    fn commit(&self, writer: &mut IndexWriter, watermark: u64) -> Result<(), StoreError> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&watermark.to_string());
        prepared.commit()?;
        self.reader.reload()?;
        self.watermark.store(watermark, Ordering::SeqCst);
        self.pending.store(0, Ordering::SeqCst);
        Ok(())
    }

    /// Closes the writer (freeing its memory and threads) once its merges are done, and lets
    /// the reader see the merged segments (releasing the files they replaced).
    fn close(&self, writer: IndexWriter) -> Result<(), StoreError> {
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Closes a committed writer on another thread: waiting for the merges of a big
    /// partition takes tens of seconds (42 s was measured at 10M events), and nothing needs
    /// to wait for it; readers see the merged segments when it is done. A writer for this
    /// partition is opened again only after [`Partition::finish_closing`].
    fn close_later(self: &Arc<Self>, writer: IndexWriter) {
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("store-close".into())
            .spawn(move || {
                if let Err(e) = me.close(writer) {
                    tracing::warn!(dir = %me.dir.display(), error = %e, "closing a partition writer");
                }
            });
        match spawned {
            Ok(handle) => {
                let earlier = lock(&self.closing).replace(handle);
                // Not expected (a writer is reopened only after the last close ended).
                if let Some(earlier) = earlier {
                    let _ = earlier.join();
                }
            }
            // The writer was dropped with the closure: its commits stand, its unfinished
            // merges are given up (tantivy starts them again later).
            Err(e) => tracing::warn!(error = %e, "no thread to close a partition writer"),
        }
    }

    /// Waits until a writer being closed on another thread is closed. A close that failed
    /// lost nothing (the writer's commits stand; its merges are tried again by the next
    /// writer) and was logged where it happened, so it does not fail what comes next.
    fn finish_closing(&self) {
        let handle = lock(&self.closing).take();
        if let Some(Err(_)) = handle.map(|h| h.join()) {
            tracing::warn!(dir = %self.dir.display(), "closing a partition writer panicked");
        }
    }

    /// Matches of `q` in this partition: the searcher and the query's weight.
    fn weight(&self, q: &dyn Query) -> Result<(tantivy::Searcher, Box<dyn Weight>), StoreError> {
        let searcher = self.reader.searcher();
        let weight = q.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        Ok((searcher, weight))
    }
}

/// The embedded tantivy event store. See the module docs.
pub struct TantivyStore {
    root: PathBuf,
    schema: Schema,
    f: Fields,
    opts: TantivyOptions,
    resolver: FieldResolver,
    parts: RwLock<BTreeMap<(String, i64), Arc<Partition>>>,
    committed: AtomicU64,
    /// Serialises commits and retention (which both walk every partition's writer).
    maintenance: Mutex<()>,
    /// Counts `add` calls (for least-recently-used writer closing).
    adds: AtomicU64,
}

/// Opens an index writer, retrying for up to two seconds while tantivy's writer lock is busy.
/// That lock is an `flock`, which a child process forked by another thread of this process
/// shares until it calls `exec`, so a partition closed and reopened in that window would
/// otherwise see its own old lock. A lock held for longer is a real second writer: an error.
fn open_writer(
    index: &Index,
    opts: tantivy::indexer::IndexWriterOptions,
) -> tantivy::Result<IndexWriter> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match index.writer_with_options(opts.clone()) {
            Err(tantivy::TantivyError::LockFailure(
                tantivy::directory::error::LockError::LockBusy,
                _,
            )) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Escapes a tenant name into a directory name.
fn tenant_dir(tenant: &str) -> String {
    let mut out = String::new();
    for b in tenant.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "%".into() } else { out }
}

fn tenant_from_dir(dir: &str) -> Option<String> {
    if dir == "%" {
        return Some(String::new());
    }
    let b = dir.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(format!("sync {}", dir.display()), e))
}

fn hex_num(f: f64) -> String {
    let mut s = String::with_capacity(16);
    push_hex(&mut s, f);
    s
}

fn push_hex(out: &mut String, f: f64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in encode_f64(f) {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Reads the store's format marker, or writes it into a store that has none (a new one, or
/// one from before the marker, whose partitions are then checked against the schema).
fn check_format(root: &Path) -> Result<(), StoreError> {
    let path = root.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found = text
                .trim()
                .strip_prefix(FORMAT_NAME)
                .and_then(|v| v.trim().parse::<u32>().ok());
            match found {
                Some(FORMAT) => Ok(()),
                Some(v) => Err(StoreError::Format(format!(
                    "{} holds format {v}, this version of leitstelle reads format {FORMAT}: \
                     use the version that wrote it, or move the store away (the events are \
                     indexed again from the journal as far as it reaches)",
                    root.display()
                ))),
                None => Err(StoreError::Corrupt(format!(
                    "{}: not a store format marker: {:?}",
                    path.display(),
                    text.chars().take(80).collect::<String>()
                ))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::write(&path, format!("{FORMAT_NAME} {FORMAT}\n"))
                .map_err(|e| StoreError::io(format!("write {}", path.display()), e))
        }
        Err(e) => Err(StoreError::io(format!("read {}", path.display()), e)),
    }
}

impl TantivyStore {
    /// Opens (or creates) the store under `root`, opening every partition found. A store
    /// written in another format is an error ([`StoreError::Format`]), never a silent
    /// misreading.
    pub fn open(
        root: &Path,
        profiles: Arc<ProfileSet>,
        opts: TantivyOptions,
    ) -> Result<TantivyStore, StoreError> {
        fs::create_dir_all(root)
            .map_err(|e| StoreError::io(format!("create {}", root.display()), e))?;
        check_format(root)?;
        let (schema, f) = schema();
        let committed = match fs::read_to_string(root.join(COMMITTED_FILE)) {
            Ok(s) => s.trim().parse::<u64>().map_err(|_| {
                StoreError::Corrupt(format!(
                    "{}: not a number: {s:?}",
                    root.join(COMMITTED_FILE).display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(StoreError::io("read COMMITTED", e)),
        };
        let store = TantivyStore {
            root: root.to_path_buf(),
            schema,
            f,
            opts,
            resolver: FieldResolver::new(profiles),
            parts: RwLock::new(BTreeMap::new()),
            committed: AtomicU64::new(committed.max(1)),
            maintenance: Mutex::new(()),
            adds: AtomicU64::new(0),
        };
        let rd = fs::read_dir(root)
            .map_err(|e| StoreError::io(format!("list {}", root.display()), e))?;
        for t in rd.flatten() {
            let Some(tenant) = t.file_name().to_str().and_then(tenant_from_dir) else {
                continue;
            };
            if !t.path().is_dir() {
                continue;
            }
            let days = fs::read_dir(t.path())
                .map_err(|e| StoreError::io(format!("list {}", t.path().display()), e))?;
            for d in days.flatten() {
                let Some(day) = d.file_name().to_str().and_then(parse_day_name) else {
                    continue;
                };
                let p = store.open_partition(&tenant, day)?;
                store.parts_write().insert((tenant.clone(), day), p);
            }
        }
        Ok(store)
    }

    fn parts_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, i64), Arc<Partition>>> {
        self.parts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn parts_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<(String, i64), Arc<Partition>>> {
        self.parts.write().unwrap_or_else(|e| e.into_inner())
    }

    fn open_partition(&self, tenant: &str, day: i64) -> Result<Arc<Partition>, StoreError> {
        let dir = self.root.join(tenant_dir(tenant)).join(day_name(day));
        fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("create {}", dir.display()), e))?;
        let mmap = tantivy::directory::MmapDirectory::open(&dir)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
        let index = Index::open_or_create(mmap, self.schema.clone()).map_err(|e| match e {
            tantivy::TantivyError::SchemaError(m) => StoreError::Format(format!(
                "{}: {m} (written by another version of leitstelle)",
                dir.display()
            )),
            other => StoreError::Index(other),
        })?;
        index.tokenizers().register(
            "lower_raw",
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(LowerCaser)
                .build(),
        );
        // The same words as `model::words`: alphanumeric runs, long ones dropped (measured
        // before lowercasing), lowercased.
        index.tokenizers().register(
            "words",
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_WORD + 1))
                .filter(LowerCaser)
                .build(),
        );
        let watermark = index
            .load_metas()?
            .payload
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Arc::new(Partition {
            tenant: tenant.to_string(),
            day,
            dir,
            index,
            reader,
            writer: Mutex::new(None),
            watermark: AtomicU64::new(watermark),
            pending: AtomicU64::new(0),
            idle_commits: std::sync::atomic::AtomicU32::new(0),
            max_added: AtomicU64::new(0),
            last_used: AtomicU64::new(0),
            closing: Mutex::new(None),
        }))
    }

    fn partition(&self, tenant: &str, day: i64) -> Result<Arc<Partition>, StoreError> {
        if let Some(p) = self.parts_read().get(&(tenant.to_string(), day)) {
            return Ok(p.clone());
        }
        let mut parts = self.parts_write();
        if let Some(p) = parts.get(&(tenant.to_string(), day)) {
            return Ok(p.clone());
        }
        let p = self.open_partition(tenant, day)?;
        parts.insert((tenant.to_string(), day), p.clone());
        Ok(p)
    }

    /// The partitions a filter can match, newest day first.
    fn scope(&self, f: &Filter<'_>) -> Vec<Arc<Partition>> {
        let from_day = f.from_ns.map(day_of);
        let to_day = f.to_ns.map(|t| day_of(t.saturating_sub(1)));
        let mut out: Vec<Arc<Partition>> = self
            .parts_read()
            .values()
            .filter(|p| {
                f.tenants.iter().any(|t| *t == p.tenant)
                    && from_day.is_none_or(|d| p.day >= d)
                    && to_day.is_none_or(|d| p.day <= d)
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.tenant.cmp(&b.tenant)));
        out
    }

    /// The document of an event; `json` is its [`NewEvent::write_document_json`].
    fn document(&self, ev: &NewEvent, json: &[u8]) -> TantivyDocument {
        let f = &self.f;
        // The document holds the stored JSON, each value about three times (as a `kv` term,
        // as words, in the fast column) and the meta fields: sized once instead of grown
        // (and copied) three or four times.
        let mut doc = TantivyDocument::with_capacity(json.len() * 4 + 1024);
        doc.add_u64(f.seq, ev.seq);
        doc.add_i64(f.time, ev.time_ns);
        if let Some(id) = ev.event_id_num() {
            doc.add_u64(f.event_id, id);
        }
        for (field, v) in [(f.host, &ev.host), (f.user, &ev.user), (f.level, &ev.level)] {
            if let Some(v) = v {
                doc.add_text(field, crate::model::cap(v));
            }
        }
        doc.add_text(f.tenant, crate::model::cap(&ev.tenant));
        doc.add_text(f.source, crate::model::cap(&ev.source));
        let logsource = ev.logsource();
        doc.add_text(f.logsource, &logsource);
        let mut term = String::with_capacity(256);
        let mut num = String::with_capacity(64);
        let mut pair = |p: &str, v: &str| {
            term.clear();
            term.push_str(p);
            term.push(SEP);
            if let Some(n) = numeric(v) {
                num.clear();
                num.push_str(&term);
                push_hex(&mut num, n);
                doc.add_text(f.kn, &num);
            }
            term.push_str(v);
            doc.add_text(f.kv, &term);
            // Each value separately: tantivy leaves a position gap between values, so a
            // phrase never spans two values. Meta fields are not words of the event (nor is
            // a key of the event's own that looks like one, as in the reference store).
            if !is_meta_path(p) {
                doc.add_text(f.all, v);
            }
        };
        for_each_leaf(&ev.data, &mut pair);
        for_each_meta(ev, &logsource, &mut pair);
        doc.add_bytes(f.doc, json);
        doc
    }

    /// The tantivy query of a filter expression.
    fn build(&self, expr: &Expr) -> Result<Box<dyn Query>, StoreError> {
        let f = &self.f;
        Ok(match expr {
            Expr::All => Box::new(AllQuery),
            Expr::And(xs) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                let mut positive = false;
                for x in xs {
                    match x {
                        Expr::Not(inner) => clauses.push((Occur::MustNot, self.build(inner)?)),
                        other => {
                            positive = true;
                            clauses.push((Occur::Must, self.build(other)?));
                        }
                    }
                }
                if !positive {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Expr::Or(xs) => Box::new(BooleanQuery::new(
                xs.iter()
                    .map(|x| Ok((Occur::Should, self.build(x)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?,
            )),
            Expr::Not(x) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, self.build(x)?),
            ])),
            Expr::Exists(field) => {
                let qs = self
                    .resolver
                    .resolve(field)
                    .into_iter()
                    .map(|p| -> Result<Box<dyn Query>, StoreError> {
                        // Every term of the path: `path\u{1f}` up to `path\u{20}`.
                        Ok(if p.is_exact() {
                            Box::new(InvertedIndexRangeQuery::new(
                                Bound::Included(Term::from_field_text(
                                    f.kv,
                                    &format!("{}{SEP}", p.0),
                                )),
                                Bound::Excluded(Term::from_field_text(
                                    f.kv,
                                    &format!("{}\u{20}", p.0),
                                )),
                            ))
                        } else {
                            Box::new(PrefixRegexQuery::new(
                                f.kv,
                                &p.literal_head(),
                                &format!("{}(?s:.*)", p.rest_regex()),
                            )?)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                any(qs)
            }
            Expr::Field { field, pred } => {
                let mut qs: Vec<Box<dyn Query>> = Vec::new();
                for p in self.resolver.resolve(field) {
                    if let Some(q) = self.field_query(&p, pred)? {
                        qs.push(q);
                    }
                }
                any(qs)
            }
            Expr::Any(Pred::Term(t) | Pred::Phrase(t)) => {
                let terms: Vec<Term> = words(t).map(|w| Term::from_field_text(f.all, &w)).collect();
                match terms.len() {
                    0 => Box::new(EmptyQuery),
                    1 => Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::Basic)),
                    _ => Box::new(PhraseQuery::new(terms)),
                }
            }
            Expr::Any(Pred::Wildcard(parts)) => Box::new(regex_query(
                &format!("[^\\x1f]*\\x1f{}", wildcard_regex(parts)),
                f.kv,
            )?),
            Expr::Any(Pred::Range { .. }) => {
                return Err(StoreError::Query("a range needs a field".into()));
            }
        })
    }

    /// The query of one predicate on one path pattern. Ranges apply to exact paths only.
    fn field_query(
        &self,
        p: &PathPattern,
        pred: &Pred,
    ) -> Result<Option<Box<dyn Query>>, StoreError> {
        let kv = self.f.kv;
        let prefix = format!("{}{SEP}", p.0);
        Ok(Some(match pred {
            Pred::Term(t) | Pred::Phrase(t) => {
                let v = t.to_lowercase();
                if p.is_exact() {
                    Box::new(TermQuery::new(
                        Term::from_field_text(kv, &format!("{prefix}{v}")),
                        IndexRecordOption::Basic,
                    ))
                } else {
                    Box::new(PrefixRegexQuery::new(
                        kv,
                        &p.literal_head(),
                        &format!("{}{}", p.rest_regex(), regex::escape(&v)),
                    )?)
                }
            }
            Pred::Wildcard(parts) => {
                // The terms read are those of the path, and of the value's literal start when
                // the path is exact.
                let mut head = p.literal_head();
                let mut rest = parts.as_slice();
                if !p.is_exact() {
                    return Ok(Some(Box::new(PrefixRegexQuery::new(
                        kv,
                        &head,
                        &format!("{}{}", p.rest_regex(), wildcard_regex(rest)),
                    )?)));
                }
                while let Some((WildPart::Literal(l), tail)) = rest.split_first() {
                    head.push_str(&l.to_lowercase());
                    rest = tail;
                }
                // A leading or trailing `*` is an unanchored end: `*x*` is then a plain
                // search for `x` (the regex crate's literal search) in the value.
                let mut starts = true;
                while let Some((WildPart::Many, tail)) = rest.split_first() {
                    starts = false;
                    rest = tail;
                }
                let mut ends = true;
                while let Some((WildPart::Many, init)) = rest.split_last() {
                    ends = false;
                    rest = init;
                }
                Box::new(PrefixRegexQuery::with_anchors(
                    kv,
                    &head,
                    &wildcard_regex(rest),
                    starts,
                    ends,
                )?)
            }
            Pred::Range { lower, upper } => {
                if !p.is_exact() {
                    return Ok(None);
                }
                let end = format!("{}\u{20}", p.0);
                let (field, lo, hi) = match numeric_bounds(lower, upper) {
                    Some((l, u)) => (
                        self.f.kn,
                        l.map(|x| format!("{prefix}{}", hex_num(x))),
                        u.map(|x| format!("{prefix}{}", hex_num(x))),
                    ),
                    None => (
                        kv,
                        lower_bound(lower).map(|x| format!("{prefix}{x}")),
                        lower_bound(upper).map(|x| format!("{prefix}{x}")),
                    ),
                };
                let lo = match lo {
                    Bound::Unbounded => Bound::Included(prefix.clone()),
                    b => b,
                };
                let hi = match hi {
                    Bound::Unbounded => Bound::Excluded(end),
                    b => b,
                };
                // The inverted index (lowercased terms), never the original-case fast column.
                Box::new(InvertedIndexRangeQuery::new(
                    lo.map(|s| Term::from_field_text(field, &s)),
                    hi.map(|s| Term::from_field_text(field, &s)),
                ))
            }
        }))
    }

    /// The query of a filter within one partition (time bounds added where the partition's
    /// day is not wholly inside the range).
    fn partition_query(&self, base: &dyn Query, f: &Filter<'_>, p: &Partition) -> Box<dyn Query> {
        let start = p.day * NS_PER_DAY;
        let end = start + NS_PER_DAY;
        let lo = f.from_ns.filter(|&x| x > start);
        let hi = f.to_ns.filter(|&x| x < end);
        if lo.is_none() && hi.is_none() {
            return base.box_clone();
        }
        let t = self.f.time;
        let range = RangeQuery::new(
            lo.map_or(Bound::Unbounded, |x| {
                Bound::Included(Term::from_field_i64(t, x))
            }),
            hi.map_or(Bound::Unbounded, |x| {
                Bound::Excluded(Term::from_field_i64(t, x))
            }),
        );
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, base.box_clone()),
            (Occur::Must, Box::new(range) as Box<dyn Query>),
        ]))
    }

    fn load(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> Result<NewEvent, StoreError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let bytes = doc
            .get_first(self.f.doc)
            .and_then(|v| v.as_bytes())
            .ok_or_else(|| StoreError::Corrupt("document without _doc".into()))?;
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::Corrupt(format!("stored document: {e}")))?;
        NewEvent::from_document(&v)
            .ok_or_else(|| StoreError::Corrupt("stored document fields".into()))
    }

    /// Commits the partition writers and writes `COMMITTED`. Writers of partitions idle for
    /// [`IDLE_COMMITS_BEFORE_CLOSE`] commits are closed.
    fn commit_inner(&self, watermark: u64) -> Result<(), StoreError> {
        let _m = lock(&self.maintenance);
        let parts: Vec<Arc<Partition>> = self.parts_read().values().cloned().collect();
        for p in &parts {
            let mut w = lock(&p.writer);
            if p.pending.load(Ordering::SeqCst) == 0 {
                // Idle for a while (yesterday's partition, a quiet tenant).
                let idle = p.idle_commits.fetch_add(1, Ordering::SeqCst) + 1;
                if idle >= IDLE_COMMITS_BEFORE_CLOSE
                    && let Some(writer) = w.take()
                {
                    p.close_later(writer);
                }
                continue;
            }
            p.idle_commits.store(0, Ordering::SeqCst);
            if let Some(writer) = w.as_mut() {
                p.commit(writer, watermark)?;
            }
        }
        let tmp = self.root.join("COMMITTED.tmp");
        let mut file = fs::File::create(&tmp).map_err(|e| StoreError::io("write COMMITTED", e))?;
        file.write_all(watermark.to_string().as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| StoreError::io("write COMMITTED", e))?;
        fs::rename(&tmp, self.root.join(COMMITTED_FILE))
            .map_err(|e| StoreError::io("rename COMMITTED", e))?;
        sync_dir(&self.root)?;
        self.committed.fetch_max(watermark, Ordering::SeqCst);
        Ok(())
    }

    /// Before a writer is opened for `new`: when `max_open_writers` are open, commits and
    /// closes the least recently used one. Its commit records the watermark "every event of
    /// this partition below its largest added sequence number + 1 is in", which holds
    /// because events arrive in sequence order; replay after a crash then skips exactly them.
    fn make_room(&self, new: &Partition) -> Result<(), StoreError> {
        let parts: Vec<Arc<Partition>> = self.parts_read().values().cloned().collect();
        let open: Vec<&Arc<Partition>> = parts
            .iter()
            .filter(|p| !std::ptr::eq(p.as_ref(), new) && lock(&p.writer).is_some())
            .collect();
        if open.len() < self.opts.max_open_writers.max(1) {
            return Ok(());
        }
        let Some(victim) = open
            .iter()
            .min_by_key(|p| p.last_used.load(Ordering::SeqCst))
        else {
            return Ok(());
        };
        let mut w = lock(&victim.writer);
        if let Some(mut writer) = w.take() {
            if victim.pending.load(Ordering::SeqCst) > 0 {
                let wm = (victim.max_added.load(Ordering::SeqCst) + 1)
                    .max(victim.watermark.load(Ordering::SeqCst));
                victim.commit(&mut writer, wm)?;
            }
            victim.close_later(writer);
        }
        Ok(())
    }

    /// Calls `sink` with each matching event of one partition and the values of `fields`.
    fn visit_partition(
        &self,
        base: &dyn Query,
        f: &Filter<'_>,
        p: &Partition,
        fields: &[Vec<PathPattern>],
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<(), StoreError> {
        let (searcher, weight) = p.weight(self.partition_query(base, f, p).as_ref())?;
        for seg in searcher.segment_readers() {
            let ff = seg.fast_fields();
            let times: Column<i64> = ff.i64("_time")?;
            let seqs: Column<u64> = ff.u64("_seq")?;
            let mut access: Vec<KvAccess> = match ff.str("kv")? {
                Some(col) => fields
                    .iter()
                    .map(|pats| KvAccess::new(&col, pats))
                    .collect::<Result<_, _>>()?,
                None => fields.iter().map(|_| KvAccess::empty()).collect(),
            };
            let mut values: Vec<Vec<String>> = vec![Vec::new(); fields.len()];
            let mut err: Option<StoreError> = None;
            let mut buf = Vec::new();
            weight.for_each_no_score(seg, &mut |docs| {
                for &doc in docs {
                    for (i, a) in access.iter_mut().enumerate() {
                        values[i].clear();
                        if let Err(e) = a.values(doc, &mut buf, &mut values[i]) {
                            err.get_or_insert(e);
                        }
                    }
                    sink(Row {
                        tenant: &p.tenant,
                        seq: seqs.first(doc).unwrap_or(0),
                        time_ns: times.first(doc).unwrap_or(0),
                        values: &values,
                    });
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The value part of a `kv` entry (`path\u{1f}value`).
fn kv_value(entry: &str) -> &str {
    entry.split_once(SEP).map_or("", |(_, v)| v)
}

/// A regex query over a field's terms; a pattern too large to compile is the user's error.
fn regex_query(pattern: &str, field: Field) -> Result<RegexQuery, StoreError> {
    RegexQuery::from_pattern(pattern, field)
        .map_err(|e| StoreError::Query(format!("wildcard or path pattern too complex: {e}")))
}

fn any(mut qs: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match qs.len() {
        0 => Box::new(EmptyQuery),
        1 => qs.remove(0),
        _ => Box::new(BooleanQuery::new(
            qs.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    }
}

/// The dedicated fast column of a meta field's pseudo path.
fn meta_column(path: &str) -> Option<&'static str> {
    Some(match path {
        "@tenant" => "_tenant",
        "@host" => "_host",
        "@user" => "_user",
        "@level" => "_level",
        "@source" => "_source",
        "@logsource" => "_logsource",
        _ => return None,
    })
}

fn dict_io(e: std::io::Error) -> StoreError {
    StoreError::io("fast field dictionary", e)
}

/// Counts events per value of a single-valued meta column over one segment's matches.
fn count_column(
    weight: &dyn Weight,
    seg: &SegmentReader,
    col: &StrColumn,
    out: &mut CountBy,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut counts = vec![0u64; col.num_terms()];
    let (mut total, mut present) = (0u64, 0u64);
    weight.for_each_no_score(seg, &mut |docs| {
        for &doc in docs {
            total += 1;
            let mut any = false;
            for o in col.term_ords(doc) {
                if let Some(c) = counts.get_mut(o as usize) {
                    *c += 1;
                    any = true;
                }
            }
            present += u64::from(any);
        }
    })?;
    out.total += total;
    out.present += present;
    let counted: Vec<(u64, u64)> = counts
        .into_iter()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| (o as u64, n))
        .collect();
    resolve_ords(col, counted, str::to_string)
}

/// The texts of counted ordinals, looked up in one pass over the dictionary; `text` maps
/// a dictionary entry to the value.
fn resolve_ords(
    col: &StrColumn,
    mut counted: Vec<(u64, u64)>,
    text: impl Fn(&str) -> String,
) -> Result<Vec<(String, u64)>, StoreError> {
    counted.sort_unstable();
    let mut res = Vec::with_capacity(counted.len());
    let mut i = 0;
    col.dictionary()
        .sorted_ords_to_term_cb(counted.iter().map(|(o, _)| *o), |bytes| {
            res.push((text(&String::from_utf8_lossy(bytes)), counted[i].1));
            i += 1;
            Ok(())
        })
        .map_err(dict_io)?;
    Ok(res)
}

/// Counts events per value of a field read from the `kv` column over one segment's matches.
/// Values of one path are distinct ordinals; an event with the field under several paths
/// has its values compared as text so each counts once.
fn count_kv(
    weight: &dyn Weight,
    seg: &SegmentReader,
    col: &StrColumn,
    field: &[PathPattern],
    out: &mut CountBy,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut access = KvAccess::new(col, field)?;
    let mut by_ord: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut by_text: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let (mut total, mut present) = (0u64, 0u64);
    let mut err: Option<StoreError> = None;
    let mut ords: Vec<u64> = Vec::new();
    let mut buf = Vec::new();
    let mut vals: Vec<String> = Vec::new();
    weight.for_each_no_score(seg, &mut |docs| {
        for &doc in docs {
            total += 1;
            ords.clear();
            ords.extend(col.term_ords(doc).filter(|&o| access.wants(o)));
            match ords.len() {
                0 => continue,
                1 => *by_ord.entry(ords[0]).or_default() += 1,
                _ => {
                    vals.clear();
                    if let Err(e) = access.values(doc, &mut buf, &mut vals) {
                        err.get_or_insert(e);
                    }
                    for v in vals.drain(..) {
                        *by_text.entry(v).or_default() += 1;
                    }
                }
            }
            present += 1;
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    out.total += total;
    out.present += present;
    let mut res: Vec<(String, u64)> = by_text.into_iter().collect();
    res.extend(resolve_ords(col, by_ord.into_iter().collect(), |t| {
        kv_value(t).to_string()
    })?);
    Ok(res)
}

/// Reads the values of one field from the `kv` fast column of a segment: the ordinals of
/// each of the field's paths form a range of the sorted dictionary. Paths with `*` are
/// first expanded against the distinct paths of the dictionary (a few hundred).
struct KvAccess {
    col: Option<StrColumn>,
    ranges: Vec<(u64, u64)>,
    /// Values already looked up (bounded).
    cache: std::collections::HashMap<u64, String>,
}

const VALUE_CACHE: usize = 100_000;

impl KvAccess {
    fn empty() -> Self {
        KvAccess {
            col: None,
            ranges: Vec::new(),
            cache: Default::default(),
        }
    }

    fn new(col: &StrColumn, pats: &[PathPattern]) -> Result<Self, StoreError> {
        let dict = col.dictionary();
        let n = dict.num_terms() as u64;
        // The ordinals of the keys in [lo, hi).
        let ords = |lo: &str, hi: &str| -> Result<(u64, u64), StoreError> {
            let (l, h) = dict
                .term_bounds_to_ord(
                    Bound::Included(lo.as_bytes()),
                    Bound::Excluded(hi.as_bytes()),
                )
                .map_err(dict_io)?;
            let l = match l {
                Bound::Included(o) => o,
                Bound::Excluded(o) => o.saturating_add(1),
                Bound::Unbounded => 0,
            };
            let h = match h {
                Bound::Included(o) => o.saturating_add(1),
                Bound::Excluded(o) => o,
                Bound::Unbounded => n,
            };
            Ok((l.min(n), h.min(n)))
        };
        let mut exact: Vec<String> = pats
            .iter()
            .filter(|p| p.is_exact())
            .map(|p| p.0.clone())
            .collect();
        let wild: Vec<String> = pats
            .iter()
            .filter(|p| !p.is_exact())
            .map(|p| p.regex())
            .collect();
        if !wild.is_empty() {
            let re = regex::Regex::new(&format!("^(?:{})$", wild.join("|")))
                .map_err(|e| StoreError::Query(e.to_string()))?;
            // The distinct paths, one dictionary lookup each: the first key of a path, then
            // the first key after all of that path's keys.
            let mut next = 0u64;
            let mut key = Vec::new();
            while next < n {
                key.clear();
                if !dict.ord_to_term(next, &mut key).map_err(dict_io)? {
                    break;
                }
                let text = String::from_utf8_lossy(&key);
                let path = text.split(SEP).next().unwrap_or_default().to_string();
                let (_, end) = ords(&format!("{path}{SEP}"), &format!("{path}\u{20}"))?;
                next = end.max(next + 1);
                if re.is_match(&path) && !exact.contains(&path) {
                    exact.push(path);
                }
            }
        }
        let mut ranges = Vec::new();
        for p in exact {
            let (lo, hi) = ords(&format!("{p}{SEP}"), &format!("{p}\u{20}"))?;
            if lo < hi {
                ranges.push((lo, hi));
            }
        }
        Ok(KvAccess {
            col: Some(col.clone()),
            ranges,
            cache: Default::default(),
        })
    }

    fn wants(&self, o: u64) -> bool {
        self.ranges.iter().any(|&(lo, hi)| o >= lo && o < hi)
    }

    fn values(
        &mut self,
        doc: u32,
        buf: &mut Vec<u8>,
        out: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let Some(col) = &self.col else {
            return Ok(());
        };
        if self.ranges.is_empty() {
            return Ok(());
        }
        for o in col.term_ords(doc) {
            if !self.wants(o) {
                continue;
            }
            let value = match self.cache.get(&o) {
                Some(v) => v.clone(),
                None => {
                    buf.clear();
                    col.dictionary().ord_to_term(o, buf).map_err(dict_io)?;
                    let text = String::from_utf8_lossy(buf);
                    let v = kv_value(&text).to_string();
                    if self.cache.len() < VALUE_CACHE {
                        self.cache.insert(o, v.clone());
                    }
                    v
                }
            };
            if !out.contains(&value) {
                out.push(value);
            }
        }
        Ok(())
    }
}

impl Backend for TantivyStore {
    fn resolver(&self) -> &FieldResolver {
        &self.resolver
    }

    fn count(&self, f: &Filter<'_>) -> Result<u64, StoreError> {
        let base = self.build(f.expr)?;
        let mut n = 0u64;
        for p in self.scope(f) {
            let q = self.partition_query(base.as_ref(), f, &p);
            n += p.reader.searcher().search(q.as_ref(), &Count)? as u64;
        }
        Ok(n)
    }

    fn newest(
        &self,
        f: &Filter<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError> {
        let need = offset.saturating_add(limit);
        if need == 0 {
            return Ok(Vec::new());
        }
        let base = self.build(f.expr)?;
        // ((time, seq), partition index, address)
        let mut best: Vec<((i64, u64), usize, DocAddress)> = Vec::new();
        let parts = self.scope(f);
        let mut searchers = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let day_end = (p.day + 1) * NS_PER_DAY;
            if best.len() >= need && best[need - 1].0.0 >= day_end {
                // Older days cannot beat what we have (partitions come newest first).
                break;
            }
            let searcher = p.reader.searcher();
            let q = self.partition_query(base.as_ref(), f, p);
            let top = TopDocs::with_limit(need).custom_score(|seg: &SegmentReader| {
                let ff = seg.fast_fields();
                let t = ff.i64("_time").ok();
                let s = ff.u64("_seq").ok();
                move |doc: u32| {
                    (
                        t.as_ref().and_then(|c| c.first(doc)).unwrap_or(i64::MIN),
                        s.as_ref().and_then(|c| c.first(doc)).unwrap_or(0),
                    )
                }
            });
            for (score, addr) in searcher.search(q.as_ref(), &top)? {
                best.push((score, i, addr));
            }
            best.sort_by_key(|b| std::cmp::Reverse(b.0));
            best.truncate(need);
            searchers.push(searcher);
        }
        best.into_iter()
            .skip(offset)
            .map(|(_, i, addr)| self.load(&searchers[i], addr))
            .collect()
    }

    fn visit(
        &self,
        f: &Filter<'_>,
        fields: &[Vec<PathPattern>],
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<(), StoreError> {
        let base = self.build(f.expr)?;
        for p in self.scope(f) {
            self.visit_partition(base.as_ref(), f, &p, fields, sink)?;
        }
        Ok(())
    }

    fn count_by(
        &self,
        f: &Filter<'_>,
        field: &[PathPattern],
    ) -> Result<Option<CountBy>, StoreError> {
        let base = self.build(f.expr)?;
        let column = match field {
            [p] => meta_column(&p.0),
            _ => None,
        };
        let mut out = CountBy::default();
        for p in self.scope(f) {
            let (searcher, weight) =
                p.weight(self.partition_query(base.as_ref(), f, &p).as_ref())?;
            for seg in searcher.segment_readers() {
                let ff = seg.fast_fields();
                let col = ff.str(column.unwrap_or("kv"))?;
                let Some(col) = col else {
                    out.total += u64::from(weight.count(seg)?);
                    continue;
                };
                let counted = match column {
                    Some(_) => count_column(weight.as_ref(), seg, &col, &mut out)?,
                    None => count_kv(weight.as_ref(), seg, &col, field, &mut out)?,
                };
                for (value, n) in counted {
                    *out.counts.entry(value).or_default() += n;
                }
            }
        }
        Ok(Some(out))
    }

    fn fetch(&self, keys: &[(String, u64)]) -> Result<Vec<NewEvent>, StoreError> {
        let parts: Vec<Arc<Partition>> = self.parts_read().values().cloned().collect();
        let mut out = Vec::new();
        for (tenant, seq) in keys {
            let q = TermQuery::new(
                Term::from_field_u64(self.f.seq, *seq),
                IndexRecordOption::Basic,
            );
            for p in parts.iter().filter(|p| p.tenant == *tenant) {
                let searcher = p.reader.searcher();
                if let Some((_, addr)) = searcher.search(&q, &TopDocs::with_limit(1))?.first() {
                    out.push(self.load(&searcher, *addr)?);
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl Drop for TantivyStore {
    /// Waits for writers being closed on other threads: they hold their partitions' index
    /// locks until their merges end, and the store may be opened again in this process.
    fn drop(&mut self) {
        let parts: Vec<Arc<Partition>> = self.parts_read().values().cloned().collect();
        for p in parts {
            p.finish_closing();
        }
    }
}

impl EventStore for TantivyStore {
    fn add(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        let mut groups: BTreeMap<(String, i64), Vec<NewEvent>> = BTreeMap::new();
        for e in events {
            groups
                .entry((e.tenant.clone(), day_of(e.time_ns)))
                .or_default()
                .push(e);
        }
        let tick = self.adds.fetch_add(1, Ordering::SeqCst);
        let mut json = Vec::with_capacity(4096);
        for ((tenant, day), evs) in groups {
            let p = self.partition(&tenant, day)?;
            p.last_used.store(tick, Ordering::SeqCst);
            if lock(&p.writer).is_none() {
                self.make_room(&p)?;
            }
            let mut w = lock(&p.writer);
            if w.is_none() {
                p.finish_closing();
                let opts = tantivy::indexer::IndexWriterOptions::builder()
                    .num_worker_threads(self.opts.writer_threads.max(1))
                    .memory_budget_per_thread(
                        self.opts.writer_memory_bytes / self.opts.writer_threads.max(1),
                    )
                    .num_merge_threads(self.opts.merge_threads.max(1))
                    .build();
                *w = Some(open_writer(&p.index, opts)?);
            }
            let Some(writer) = w.as_mut() else {
                continue;
            };
            let wm = p.watermark.load(Ordering::SeqCst);
            for e in evs {
                // Already committed in this partition before a crash: keep it once.
                if e.seq < wm {
                    continue;
                }
                json.clear();
                e.write_document_json(&mut json).map_err(|err| {
                    StoreError::Corrupt(format!("event {} cannot be serialized: {err}", e.seq))
                })?;
                writer.add_document(self.document(&e, &json))?;
                p.pending.fetch_add(1, Ordering::SeqCst);
                p.max_added.fetch_max(e.seq, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn commit(&self, watermark: u64) -> Result<(), StoreError> {
        self.commit_inner(watermark)
    }

    fn committed(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    fn search(&self, req: &SearchRequest) -> Result<SearchResult, StoreError> {
        exec::search(self, req)
    }

    fn field_stats(
        &self,
        req: &SearchRequest,
        field: &str,
        n: usize,
    ) -> Result<FieldStats, StoreError> {
        exec::field_stats(self, req, field, n)
    }

    fn scan(
        &self,
        req: &SearchRequest,
        f: &mut dyn FnMut(NewEvent) -> bool,
    ) -> Result<(), StoreError> {
        exec::validate(&req.query.filter)?;
        let filter = Filter::of(req);
        let base = self.build(filter.expr)?;
        for p in self.scope(&filter) {
            let (searcher, weight) =
                p.weight(self.partition_query(base.as_ref(), &filter, &p).as_ref())?;
            for (ord, seg) in searcher.segment_readers().iter().enumerate() {
                let mut docs = Vec::new();
                weight.for_each_no_score(seg, &mut |d| docs.extend_from_slice(d))?;
                for doc in docs {
                    let e = self.load(&searcher, DocAddress::new(ord as u32, doc))?;
                    if !f(e) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn retain(
        &self,
        policy: &dyn Fn(&str) -> Retention,
        now_ns: i64,
    ) -> Result<Vec<Dropped>, StoreError> {
        let _m = lock(&self.maintenance);
        let today = day_of(now_ns);
        let parts: Vec<Arc<Partition>> = self.parts_read().values().cloned().collect();
        let mut by_tenant: BTreeMap<String, Vec<Arc<Partition>>> = BTreeMap::new();
        for p in parts {
            by_tenant.entry(p.tenant.clone()).or_default().push(p);
        }
        let mut dropped = Vec::new();
        for (tenant, mut ps) in by_tenant {
            let pol = policy(&tenant);
            ps.sort_by_key(|p| p.day);
            let sizes: Vec<u64> = ps.iter().map(|p| dir_size(&p.dir)).collect();
            let mut total: u64 = sizes.iter().sum();
            let newest = ps.last().map(|p| p.day);
            for (p, bytes) in ps.iter().zip(sizes) {
                let too_old = pol
                    .max_age_days
                    .is_some_and(|a| today - p.day >= i64::from(a));
                let too_big = pol.max_bytes.is_some_and(|m| total > m) && Some(p.day) != newest;
                if !(too_old || too_big) {
                    continue;
                }
                let events = p.reader.searcher().num_docs();
                if let Some(w) = lock(&p.writer).take() {
                    w.wait_merging_threads()?;
                }
                p.finish_closing();
                self.parts_write().remove(&(tenant.clone(), p.day));
                fs::remove_dir_all(&p.dir)
                    .map_err(|e| StoreError::io(format!("remove {}", p.dir.display()), e))?;
                total = total.saturating_sub(bytes);
                dropped.push(Dropped {
                    tenant: tenant.clone(),
                    day: day_name(p.day),
                    events,
                    bytes,
                });
            }
        }
        Ok(dropped)
    }

    fn usage(&self) -> Result<Vec<Usage>, StoreError> {
        let mut out: BTreeMap<String, Usage> = BTreeMap::new();
        for p in self.parts_read().values() {
            let u = out.entry(p.tenant.clone()).or_insert_with(|| Usage {
                tenant: p.tenant.clone(),
                ..Usage::default()
            });
            u.partitions += 1;
            u.events += p.reader.searcher().num_docs();
            u.bytes += dir_size(&p.dir);
        }
        Ok(out.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer is opened again right after its partition's writer was handed to another
    /// thread to close: the add waits for that close (which holds the index lock) instead of
    /// failing.
    #[test]
    fn a_writer_reopens_right_after_a_background_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = TantivyStore::open(
            dir.path(),
            Arc::new(ProfileSet::builtin()),
            TantivyOptions::default(),
        )
        .expect("open");
        let event = |seq| NewEvent {
            seq,
            ..crate::conformance::fixtures().remove(0)
        };
        for round in 0..5u64 {
            s.add(vec![event(2 * round + 1)]).expect("add");
            s.commit(2 * round + 2).expect("commit");
            let p = s
                .parts_read()
                .values()
                .next()
                .cloned()
                .expect("a partition");
            let writer = lock(&p.writer).take().expect("an open writer");
            p.close_later(writer);
            s.add(vec![event(2 * round + 2)])
                .expect("add while it closes");
        }
        s.commit(11).expect("commit");
        let r = SearchRequest {
            limit: 100,
            ..SearchRequest::new(&["acme"], crate::query::parse("*").expect("query"))
        };
        assert_eq!(s.search(&r).expect("search").total, 10);
    }
}
