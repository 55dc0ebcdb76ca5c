//! The reference backend: events in a vector, queries evaluated by walking every event.
//!
//! Slow on purpose and short enough to read in one go: it states what a query means. The
//! conformance suite runs against it like against any backend, and property tests check that
//! [`crate::TantivyStore`] returns exactly what this store returns.

use std::sync::{Arc, Mutex, MutexGuard};

use leitstelle_profile::ProfileSet;
use leitstelle_query::{Expr, Pred};

use crate::exec::{self, Backend, Filter, PathMatcher, Row, ValueTest, values_of};
use crate::model::{FieldResolver, NewEvent, PathPattern, is_meta_path, pairs, words};
use crate::{
    Dropped, EventStore, FieldStats, Retention, SearchRequest, SearchResult, StoreError, Usage,
    day_name, day_of,
};

#[derive(Default)]
struct State {
    committed: Vec<NewEvent>,
    pending: Vec<NewEvent>,
    watermark: u64,
}

/// The in-memory reference store. Not durable; `committed()` survives only in memory.
pub struct MemoryStore {
    state: Mutex<State>,
    resolver: FieldResolver,
}

impl MemoryStore {
    pub fn new(profiles: Arc<ProfileSet>) -> Self {
        MemoryStore {
            state: Mutex::new(State {
                watermark: 1,
                ..State::default()
            }),
            resolver: FieldResolver::new(profiles),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The committed events matching a filter.
    fn matching(&self, f: &Filter<'_>) -> Result<Vec<NewEvent>, StoreError> {
        let st = self.lock();
        let mut out = Vec::new();
        for e in &st.committed {
            if f.admits(&e.tenant, e.time_ns) && eval(&self.resolver, f.expr, &pairs(e))? {
                out.push(e.clone());
            }
        }
        Ok(out)
    }
}

/// The bytes an event counts for in retention and usage: its document as JSON.
fn doc_size(e: &NewEvent) -> u64 {
    e.document().to_string().len() as u64
}

/// Whether an event with these pairs satisfies `expr`.
fn eval(r: &FieldResolver, expr: &Expr, pairs: &[(String, String)]) -> Result<bool, StoreError> {
    Ok(match expr {
        Expr::All => true,
        Expr::And(xs) => {
            for x in xs {
                if !eval(r, x, pairs)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Or(xs) => {
            for x in xs {
                if eval(r, x, pairs)? {
                    return Ok(true);
                }
            }
            false
        }
        Expr::Not(x) => !eval(r, x, pairs)?,
        Expr::Exists(field) => {
            let m = PathMatcher::new(&r.resolve(field));
            pairs.iter().any(|(p, _)| m.matches(p))
        }
        Expr::Field { field, pred } => {
            let mut paths = r.resolve(field);
            if matches!(pred, Pred::Range { .. }) {
                // Ranges apply to exact paths only (a `*` segment is not expanded).
                paths.retain(PathPattern::is_exact);
            }
            let m = PathMatcher::new(&paths);
            let t = ValueTest::compile(pred)?;
            pairs.iter().any(|(p, v)| m.matches(p) && t.test(v))
        }
        Expr::Any(Pred::Term(t) | Pred::Phrase(t)) => {
            let want: Vec<String> = words(t).collect();
            !want.is_empty()
                && pairs.iter().any(|(p, v)| {
                    if is_meta_path(p) {
                        return false;
                    }
                    let have: Vec<String> = words(v).collect();
                    have.windows(want.len()).any(|w| w == want.as_slice())
                })
        }
        Expr::Any(pred) => {
            let t = ValueTest::compile(pred)?;
            pairs.iter().any(|(_, v)| t.test(v))
        }
    })
}

impl Backend for MemoryStore {
    fn resolver(&self) -> &FieldResolver {
        &self.resolver
    }

    fn count(&self, f: &Filter<'_>) -> Result<u64, StoreError> {
        Ok(self.matching(f)?.len() as u64)
    }

    fn newest(
        &self,
        f: &Filter<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<NewEvent>, StoreError> {
        let mut m = self.matching(f)?;
        m.sort_by_key(|e| std::cmp::Reverse((e.time_ns, e.seq)));
        Ok(m.into_iter().skip(offset).take(limit).collect())
    }

    fn visit(
        &self,
        f: &Filter<'_>,
        fields: &[Vec<PathPattern>],
        sink: &mut dyn FnMut(Row<'_>),
    ) -> Result<(), StoreError> {
        let matchers: Vec<PathMatcher> = fields.iter().map(|p| PathMatcher::new(p)).collect();
        for e in self.matching(f)? {
            let ps = pairs(&e);
            let values: Vec<Vec<String>> = matchers.iter().map(|m| values_of(&ps, m)).collect();
            sink(Row {
                tenant: &e.tenant,
                seq: e.seq,
                time_ns: e.time_ns,
                values: &values,
            });
        }
        Ok(())
    }

    fn fetch(&self, keys: &[(String, u64)]) -> Result<Vec<NewEvent>, StoreError> {
        let st = self.lock();
        Ok(keys
            .iter()
            .filter_map(|(t, s)| {
                st.committed
                    .iter()
                    .find(|e| e.seq == *s && e.tenant == *t)
                    .cloned()
            })
            .collect())
    }
}

impl EventStore for MemoryStore {
    fn add(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        let mut st = self.lock();
        for e in events {
            let dup = st
                .committed
                .iter()
                .chain(&st.pending)
                .any(|x| x.seq == e.seq);
            if !dup {
                st.pending.push(e);
            }
        }
        Ok(())
    }

    fn commit(&self, watermark: u64) -> Result<(), StoreError> {
        let mut st = self.lock();
        let pending = std::mem::take(&mut st.pending);
        st.committed.extend(pending);
        st.watermark = st.watermark.max(watermark);
        Ok(())
    }

    fn committed(&self) -> u64 {
        self.lock().watermark
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
        for e in self.matching(&Filter::of(req))? {
            if !f(e) {
                break;
            }
        }
        Ok(())
    }

    fn retain(
        &self,
        policy: &dyn Fn(&str) -> Retention,
        now_ns: i64,
    ) -> Result<Vec<Dropped>, StoreError> {
        let mut st = self.lock();
        let mut dropped: Vec<Dropped> = Vec::new();
        let mut tenants: Vec<String> = st.committed.iter().map(|e| e.tenant.clone()).collect();
        tenants.sort();
        tenants.dedup();
        for t in tenants {
            let pol = policy(&t);
            let mut days: Vec<(i64, u64, u64)> = Vec::new();
            for e in st.committed.iter().filter(|e| e.tenant == t) {
                let d = day_of(e.time_ns);
                match days.iter_mut().find(|x| x.0 == d) {
                    Some(x) => {
                        x.1 += 1;
                        x.2 += doc_size(e);
                    }
                    None => days.push((d, 1, doc_size(e))),
                }
            }
            days.sort();
            let today = day_of(now_ns);
            let mut total: u64 = days.iter().map(|d| d.2).sum();
            let mut drop_days = Vec::new();
            let newest = days.last().map(|d| d.0);
            for &(d, n, bytes) in &days {
                let too_old = pol.max_age_days.is_some_and(|a| today - d >= i64::from(a));
                let too_big = pol.max_bytes.is_some_and(|m| total > m) && Some(d) != newest;
                if too_old || too_big {
                    total -= bytes;
                    drop_days.push(d);
                    dropped.push(Dropped {
                        tenant: t.clone(),
                        day: day_name(d),
                        events: n,
                        bytes,
                    });
                }
            }
            st.committed
                .retain(|e| e.tenant != t || !drop_days.contains(&day_of(e.time_ns)));
        }
        Ok(dropped)
    }

    fn usage(&self) -> Result<Vec<Usage>, StoreError> {
        let st = self.lock();
        let mut out: Vec<Usage> = Vec::new();
        for e in &st.committed {
            let i = match out.iter().position(|u| u.tenant == e.tenant) {
                Some(i) => i,
                None => {
                    out.push(Usage {
                        tenant: e.tenant.clone(),
                        ..Usage::default()
                    });
                    out.len() - 1
                }
            };
            out[i].events += 1;
            out[i].bytes += doc_size(e);
        }
        for u in &mut out {
            let mut days: Vec<i64> = st
                .committed
                .iter()
                .filter(|e| e.tenant == u.tenant)
                .map(|e| day_of(e.time_ns))
                .collect();
            days.sort();
            days.dedup();
            u.partitions = days.len() as u64;
        }
        out.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(out)
    }
}
