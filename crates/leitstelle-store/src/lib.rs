//! The Leitstelle event store.
//!
//! Every event the server acknowledges is stored here, losslessly, and made searchable with
//! the search language of `leitstelle-query`. [`EventStore`] is the storage trait; two
//! backends implement it:
//!
//! - [`TantivyStore`], the embedded default: one `tantivy` index per tenant and day under the
//!   data directory (see `tantivy_store` for the layout and why tantivy);
//! - [`MemoryStore`], a deliberately simple reference that evaluates queries by walking every
//!   event. It defines what a query means; the conformance suite ([`conformance`]) runs the
//!   same checks against every backend, and property tests compare the two on random queries.
//!
//! Both share the query semantics in `model` (which values an event has under which path,
//! its words, how field names resolve) and the pipe stages in `exec` (stats, top,
//! timechart, sort, head, fields), so a backend only has to find matching events, read
//! field values and return documents.
//!
//! # Exactly once
//! Events carry their journal sequence number. [`EventStore::add`] may be called again with
//! events already added before a crash; a backend must keep each sequence number at most once.
//! [`EventStore::commit`] with a watermark makes everything added so far durable and
//! searchable, and [`EventStore::committed`] returns the last watermark after a restart: the
//! caller resumes there and trims its journal only below it.

pub mod conformance;
mod exec;
mod memory;
mod model;
mod tantivy_store;
mod term_range;

use std::collections::BTreeMap;

pub use leitstelle_query as query;
pub use memory::MemoryStore;
pub use model::{
    FieldResolver, MAX_WORD, META, NewEvent, PathPattern, SEP, VALUE_CAP, cap, encode_f64,
    is_meta_path, meta_path, numeric, pairs, words,
};
pub use tantivy_store::{TantivyOptions, TantivyStore};

use leitstelle_query::Query;
use serde_json::Value;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query cannot run (for example a range without a field, `stats` after `head`).
    #[error("query: {0}")]
    Query(String),
    /// The result would be too large to compute (for example sorting more than a million
    /// events); narrow the query.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Stored data that cannot be read back.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store on disk was written in a format this build does not read.
    #[error("store format: {0}")]
    Format(String),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What to search: which tenants, which time range, which query, which page.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    /// The tenants the caller may see. Empty means nothing matches. Never taken from
    /// something the caller can forge; the API fills it from the token.
    pub tenants: Vec<String>,
    /// Inclusive lower bound of the event time, ns since the epoch.
    pub from_ns: Option<i64>,
    /// Exclusive upper bound of the event time.
    pub to_ns: Option<i64>,
    pub query: Query,
    /// Hits per page (also caps the rows of an aggregation table).
    pub limit: usize,
    /// Hits to skip (paging).
    pub offset: usize,
}

impl SearchRequest {
    /// A request over all time for the given tenants.
    pub fn new(tenants: &[&str], query: Query) -> Self {
        SearchRequest {
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
            from_ns: None,
            to_ns: None,
            query,
            limit: 100,
            offset: 0,
        }
    }
}

/// One matching event.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Hit {
    pub tenant: String,
    pub seq: u64,
    pub time_ns: i64,
    /// The stored event ([`NewEvent::document`]).
    pub document: Value,
    /// With a `fields` stage: the values of the named fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, Vec<String>>>,
}

/// The result of an aggregation stage: named columns and rows.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What a search returns.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SearchResult {
    /// Events matching the filter part of the query.
    pub total: u64,
    /// The requested page of matching events, newest first (or in `sort` order); empty for
    /// aggregations.
    pub hits: Vec<Hit>,
    /// The aggregation result, for queries with `stats`, `top` or `timechart`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
}

/// Top values of one field over a result set (the console's field sidebar).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct FieldStats {
    pub field: String,
    /// Events matching the query.
    pub total: u64,
    /// Of those, events that have the field.
    pub present: u64,
    /// Distinct values seen.
    pub distinct: u64,
    /// The most frequent values with the number of events that have them, most frequent
    /// first (ties by value).
    pub top: Vec<(String, u64)>,
}

/// How long a tenant's events are kept. Whole partitions (tenant × day) are dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Retention {
    /// Drop days older than this many days (by event time, UTC days).
    pub max_age_days: Option<u32>,
    /// Drop the oldest days while the tenant uses more than this many bytes.
    pub max_bytes: Option<u64>,
}

/// One dropped partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub tenant: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub events: u64,
    pub bytes: u64,
}

/// Disk use of one tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub tenant: String,
    pub partitions: u64,
    pub events: u64,
    pub bytes: u64,
}

/// The storage trait of the event store. See the crate docs for the exactly-once contract.
pub trait EventStore: Send + Sync {
    /// Adds events (not yet searchable or durable). Events whose sequence number is already
    /// stored are skipped.
    fn add(&self, events: Vec<NewEvent>) -> Result<(), StoreError>;

    /// Makes everything added so far durable and searchable, and records `watermark`: every
    /// event with a smaller sequence number has been added.
    fn commit(&self, watermark: u64) -> Result<(), StoreError>;

    /// The watermark of the last commit (1 for an empty store).
    fn committed(&self) -> u64;

    /// Runs a query.
    fn search(&self, req: &SearchRequest) -> Result<SearchResult, StoreError>;

    /// The top `n` values of `field` over the events matching `req`.
    fn field_stats(
        &self,
        req: &SearchRequest,
        field: &str,
        n: usize,
    ) -> Result<FieldStats, StoreError>;

    /// Calls `f` with every event matching the filter of `req` (in no particular order) until
    /// it returns `false`. Retro-hunts use it.
    fn scan(
        &self,
        req: &SearchRequest,
        f: &mut dyn FnMut(NewEvent) -> bool,
    ) -> Result<(), StoreError>;

    /// Drops whole partitions as `policy` says for each tenant, given the current time.
    fn retain(
        &self,
        policy: &dyn Fn(&str) -> Retention,
        now_ns: i64,
    ) -> Result<Vec<Dropped>, StoreError>;

    /// Disk use per tenant, by tenant name.
    fn usage(&self) -> Result<Vec<Usage>, StoreError>;
}

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The UTC day number (days since 1970-01-01) of a time.
pub fn day_of(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses [`day_name`]'s output.
pub fn parse_day_name(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (day_name(day) == s).then_some(day)
}

/// RFC 3339 (UTC, seconds precision or finer) of a time in ns.
pub fn format_time(ns: i64) -> String {
    let day = day_of(ns);
    let rem = ns - day * NS_PER_DAY;
    let secs = rem / 1_000_000_000;
    let frac = rem % 1_000_000_000;
    let base = format!(
        "{}T{:02}:{:02}:{:02}",
        day_name(day),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:09}Z")
    }
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        for day in [-1, 0, 1, 19_000, 20_423, 2_000_000] {
            assert_eq!(parse_day_name(&day_name(day)), Some(day));
        }
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_of(-1), -1);
        assert_eq!(parse_day_name("2026-02-30"), None);
        assert_eq!(format_time(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
        assert_eq!(
            format_time(86_400 * 1_000_000_000 + 3_723_000_000_000),
            "1970-01-02T01:02:03Z"
        );
    }
}
