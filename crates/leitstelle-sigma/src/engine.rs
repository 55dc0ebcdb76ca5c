//! The compiled matcher: every loaded rule compiled together.
//!
//! - Identical tests (same field, same matcher) become one shared predicate.
//! - Rules are routed by logsource: an event is tested only against the rules its logsource
//!   admits. The set of rules for one event logsource (a *bucket*) is built on first use and
//!   cached.
//! - In a bucket, the substring, prefix, suffix and wildcard tests of one field are found in
//!   one pass of an Aho-Corasick automaton (case-insensitive and cased); wildcard patterns are
//!   prefiltered by their longest literal and verified on a hit; whole-value tests are hash
//!   lookups. Keyword searches scan all leaves of the event in one pass.
//! - A rule's condition is evaluated only when each of its *trigger groups* (at most two) had
//!   a hit: sets of scanned predicates such that whenever the condition holds, each set has a
//!   hit (see `trigger_groups`). The second group's hits are marked as they come when its
//!   fields are scanned for every event anyway; otherwise it is checked once the first group
//!   had a hit (the first is the cheapest). Rules without groups (for example `not filter`) are
//!   evaluated for every event of their bucket. Fields holding no first-group trigger are
//!   scanned only when a triggered rule needs them.
//! - Regexes run lazily, one by one, each with its own literal prefilter (a `RegexSet` over
//!   hundreds of Sigma regexes was measured at 40% of matching time, in its PikeVM fallback);
//!   their required literals (anywhere in a match, see `literals`) make them triggers, and a
//!   regex none of whose literals occurs is not run. The remaining tests (null, exists, numbers,
//!   CIDR, field references, time parts, `neq`) are evaluated when a condition needs them,
//!   memoised per event, with the reference semantics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aho_corasick::automaton::Automaton as _;
use aho_corasick::nfa::{contiguous, noncontiguous};
use aho_corasick::{Anchored, MatchKind, dfa};
use leitstelle_event::{Event, Logsource, Path, Value};
use leitstelle_profile::ProfileSet;

use crate::access::{
    Values, eval_matcher, field_values, keyword_values, text, visit_keyword_leaves,
};
use crate::fields::{FieldPlan, Prefetch, Reader};
use crate::literals::required_literals;
use crate::rule::{Expr, Rule};
use crate::value::{Matcher, Pattern, Piece, Shape, fold};

type PredId = u32;
type FieldId = u32;

/// Index of the keyword pseudo-field (field-less searches).
const KEYWORDS: FieldId = 0;

#[derive(Clone, Debug)]
enum CExpr {
    Pred(PredId),
    Not(Box<CExpr>),
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    AtLeast(usize, Vec<CExpr>),
}

#[derive(Debug)]
struct Pred {
    field: FieldId,
    matcher: Matcher,
    /// Can be found by an automaton scan (a literal needle exists).
    scanned: bool,
    /// For a regex: scannable predicates one of which holds whenever the regex matches (its
    /// required literals, case-folded), so a regex can trigger its rule.
    prefilter: Option<Vec<PredId>>,
}

/// The id of the predicate (field, matcher), added when new.
fn intern(
    preds: &mut Vec<Pred>,
    ids: &mut HashMap<(FieldId, String), PredId>,
    field: FieldId,
    m: &Matcher,
) -> PredId {
    *ids.entry((field, m.key())).or_insert_with(|| {
        preds.push(Pred {
            field,
            matcher: m.clone(),
            scanned: is_scannable(m),
            prefilter: None,
        });
        (preds.len() - 1) as PredId
    })
}

#[derive(Debug)]
struct CompiledRule {
    cond: CExpr,
    /// Trigger groups: sets of scanned predicates such that, whenever the condition holds,
    /// every group has a hit. The rule is evaluated only once all its groups have one.
    groups: Vec<Vec<PredId>>,
    /// No group exists (e.g. `not filter`): evaluate for every routed event.
    always: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NeedleKind {
    Prefix,
    Suffix,
    Contains,
    /// Verify the whole pattern.
    Glob,
}

/// Needles of one automaton being built: the strings, their index, and the predicates each
/// stands for.
type NeedleTable = (
    Vec<String>,
    HashMap<String, usize>,
    Vec<Vec<(Hit, NeedleKind)>>,
);

/// A scanned predicate and the rules of the bucket it triggers
/// (`trigger_rules[start..start + len]`).
#[derive(Clone, Copy, Debug)]
struct Hit {
    pred: PredId,
    start: u32,
    len: u32,
}

/// An Aho-Corasick automaton of one field's needles, searched with our own loop (every
/// overlapping match, no iterator state or dynamic dispatch per match).
#[derive(Debug)]
enum Ac {
    /// Small needle sets: one table lookup per byte.
    Dfa(dfa::DFA),
    /// Large ones (a DFA over thousands of needles is tens of MB and slower, from cache
    /// misses): a contiguous NFA.
    Nfa(contiguous::NFA),
}

/// Needle sets up to this size get a DFA when it stays small (`DFA_MAX_BYTES`): the scans
/// are bound by cache misses in the automaton tables, and on SigmaHQ's process_creation
/// bucket the multi-MB DFAs of `Image` or `Hashes` were no faster than their NFAs.
const DFA_MAX_NEEDLES: usize = 2000;
const DFA_MAX_BYTES: usize = 64 << 10;

impl Ac {
    /// One noncontiguous NFA is built and turned into a DFA or a contiguous NFA; a DFA that
    /// cannot stay under `DFA_MAX_BYTES` ([`dfa_bytes_at_least`]) is not even tried, since
    /// building it first costs time and transient memory.
    fn build(needles: &[String]) -> Option<Ac> {
        let nfa = noncontiguous::NFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(needles)
            .ok()?;
        if needles.len() <= DFA_MAX_NEEDLES
            && dfa_bytes_at_least(needles) <= DFA_MAX_BYTES
            && let Ok(d) = dfa::DFA::builder()
                .start_kind(aho_corasick::StartKind::Unanchored)
                .build_from_noncontiguous(&nfa)
            && d.memory_usage() <= DFA_MAX_BYTES
        {
            return Some(Ac::Dfa(d));
        }
        contiguous::NFA::builder()
            .build_from_noncontiguous(&nfa)
            .ok()
            .map(Ac::Nfa)
    }

    fn memory_usage(&self) -> usize {
        match self {
            Ac::Dfa(a) => a.memory_usage(),
            Ac::Nfa(a) => a.memory_usage(),
        }
    }

    /// Calls `f(pattern, start, end)` for every occurrence of every needle in `hay`.
    #[inline]
    fn for_each_match(&self, hay: &[u8], f: impl FnMut(usize, usize, usize)) {
        match self {
            Ac::Dfa(a) => overlapping(a, hay, f),
            Ac::Nfa(a) => overlapping(a, hay, f),
        }
    }
}

#[inline]
fn overlapping<A: aho_corasick::automaton::Automaton>(
    a: &A,
    hay: &[u8],
    mut f: impl FnMut(usize, usize, usize),
) {
    let Ok(mut sid) = a.start_state(Anchored::No) else {
        return;
    };
    for (i, &b) in hay.iter().enumerate() {
        sid = a.next_state(Anchored::No, sid, b);
        if a.is_special(sid) {
            if a.is_dead(sid) {
                return;
            }
            // With `Standard` semantics a match state lists every needle ending here
            // (those of its failure chain included).
            if a.is_match(sid) {
                for k in 0..a.match_len(sid) {
                    let pid = a.match_pattern(sid, k);
                    let len = a.pattern_len(pid);
                    f(pid.as_usize(), i + 1 - len, i + 1);
                }
            }
        }
    }
}

/// A lower bound of the transition table of an Aho-Corasick DFA over `needles`: one state
/// per node of their trie (distinct prefixes, counted on the sorted needles), times the
/// alphabet's stride (every distinct byte is a class of its own, plus at least one for the
/// bytes in no needle, rounded up to a power of two), times 4-byte state ids.
fn dfa_bytes_at_least(needles: &[String]) -> usize {
    let mut sorted: Vec<&[u8]> = needles.iter().map(|n| n.as_bytes()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut nodes = 1usize;
    let mut seen = [false; 256];
    let mut prev: &[u8] = &[];
    for n in &sorted {
        let common = n.iter().zip(prev).take_while(|(a, b)| a == b).count();
        nodes += n.len() - common;
        for &b in *n {
            seen[usize::from(b)] = true;
        }
        prev = n;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    let classes = (distinct + usize::from(distinct < 256)).max(1);
    nodes
        .saturating_mul(classes.next_power_of_two())
        .saturating_mul(4)
}

#[derive(Debug, Default)]
struct Automaton {
    ac: Option<Ac>,
    /// Per automaton pattern: the predicates it stands for, `targets[start..end]`.
    spans: Vec<(u32, u32)>,
    targets: Vec<(Hit, NeedleKind)>,
}

impl Automaton {
    fn targets(&self, pattern: usize) -> &[(Hit, NeedleKind)] {
        match self.spans.get(pattern) {
            Some(&(a, b)) => &self.targets[a as usize..b as usize],
            None => &[],
        }
    }
}

#[derive(Debug)]
struct FieldScan {
    field: FieldId,
    folded: Automaton,
    cased: Automaton,
    /// Whole-value tests are hash lookups, not automaton needles: folded value -> predicates.
    exact_folded: foldhash::HashMap<Box<str>, Vec<Hit>>,
    exact_cased: foldhash::HashMap<Box<str>, Vec<Hit>>,
    /// The longest exact value (longer field values cannot match one).
    exact_max: usize,
    /// Scan all values in one pass ([`Engine::scan_concat`]): the keyword pseudo-field when
    /// its needles allow it (case-insensitive substrings and wildcards only, none containing
    /// the separator).
    concat: bool,
    /// For `concat` scans: whether a number's text can hold a needle (one made only of
    /// digits, signs, points and `e`); when not, numbers are left out of the pass.
    numbers: bool,
    /// For `concat` scans with few needles: a SIMD (Teddy) searcher over the lowercased
    /// needles that says whether any occurs at all; most events have none, and then the
    /// overlapping automaton pass is skipped.
    any_needle: Option<aho_corasick::packed::Searcher>,
}

/// Kinds of `Bucket::trigger_rules` entries (the low two bits): the rule's only group; its
/// first group, the second checked on a hit (`pending`); its first or second group, both
/// marked as their hits come.
const SINGLE: u32 = 0;
const PENDING: u32 = 1;
const FIRST: u32 = 2;
const SECOND: u32 = 3;
/// `Scratch::rule_bits`: the rule is a candidate or pending already.
const PUSHED: u8 = 4;

/// At most this many trigger groups per rule (more would cost more bookkeeping than the
/// evaluations it saves).
const MAX_GROUPS: usize = 2;

/// `Bucket::scan_of` for a predicate no scan finds.
const NO_SCAN: u32 = u32::MAX;

/// Joins the values of [`Engine::scan_concat`]; no needle may contain it.
const CONCAT_SEPARATOR: char = '\u{0}';

/// The compiled rules that apply to one event logsource.
#[derive(Debug)]
struct Bucket {
    always: Vec<u32>,
    scans: Vec<FieldScan>,
    /// `scans[..eager]` hold triggers and run for every event; the rest run on demand.
    eager: usize,
    /// The `rule << 2 | kind` entries (`SINGLE`, `PENDING`, `FIRST`, `SECOND`) each
    /// trigger counts for, concatenated (see [`Hit`]).
    trigger_rules: Vec<u32>,
    /// Per predicate: the index of the field scan that finds it (`NO_SCAN`: evaluated
    /// lazily instead).
    scan_of: Vec<u32>,
    /// Per profile: the scanned fields read in one pass (slot = scan index).
    prefetch: Vec<Prefetch>,
    rules: usize,
}

/// See [`Engine::bucket_stats`].
#[derive(Clone, Debug)]
pub struct BucketStats {
    /// Rules routed to the bucket.
    pub rules: usize,
    /// Rules evaluated for every event of the bucket (no positive scanned predicate needed).
    pub always: usize,
    pub always_titles: Vec<String>,
    pub fields_scanned: usize,
    /// Fields scanned for every event (they hold triggers); the others on demand.
    pub eager_fields: Vec<String>,
    /// Distinct needles in the field automata.
    pub needles: usize,
    /// Heap memory of the field automata.
    pub automata_bytes: usize,
}

/// All rules compiled together. Cheap to share between threads (`Arc<Engine>`); each thread
/// matches with its own [`Scratch`].
pub struct Engine {
    rules: Vec<Arc<Rule>>,
    compiled: Vec<CompiledRule>,
    preds: Vec<Pred>,
    /// Field names; index 0 is the keyword pseudo-field.
    fields: Vec<Option<String>>,
    field_index: HashMap<String, FieldId>,
    /// Per rule: the fields it reads (for reporting).
    rule_fields: Vec<Vec<FieldId>>,
    /// Per profile: the candidate paths of every field.
    plans: Vec<FieldPlan>,
    keyword_roots: Vec<Vec<Path>>,
    /// Buckets by event logsource. The lock only guards the map; each bucket is built once,
    /// outside it, so threads needing different buckets build them in parallel.
    buckets: Mutex<HashMap<Logsource, Arc<OnceLock<Arc<Bucket>>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .field("predicates", &self.preds.len())
            .field("fields", &self.fields.len())
            .finish()
    }
}

/// Per-thread matching state: hit marks, memos and the thread's bucket cache.
#[derive(Default)]
pub struct Scratch {
    stamp: u32,
    hit: Vec<u32>,
    memo_stamp: Vec<u32>,
    memo: Vec<bool>,
    /// Per rule: the stamp of the event whose trigger groups had a hit, and which
    /// (`rule_bits`: 1 and 2 for the groups, `PUSHED` once a candidate or pending).
    rule_stamp: Vec<u32>,
    rule_bits: Vec<u8>,
    glob_seen: Vec<u32>,
    value_stamp: u32,
    candidates: Vec<u32>,
    /// Rules whose first group had a hit and whose second group is still to check.
    pending: Vec<u32>,
    /// The thread's buckets (index into `states`) by event logsource.
    cache: HashMap<Logsource, usize>,
    states: Vec<BucketState>,
    /// Index into `states` of the current event's bucket.
    current: usize,
    /// Memory held by the value memos of all buckets (see `MEMO_BUDGET`).
    memo_bytes: usize,
    /// Value memos not used (see [`Scratch::without_value_memo`]).
    no_memo: bool,
    counters: Counters,
    /// Reused buffer for the case-folded value being scanned.
    folded: String,
    /// Per field scan of the current bucket: the stamp of the event it last ran on.
    scan_stamp: Vec<u32>,
    /// Reused buffers of [`Engine::scan_concat`].
    concat: String,
    ends: Vec<usize>,
    /// Reused buffer of the hits of one value.
    value_hits: Vec<Hit>,
    /// Reused buffer for the text of a number being scanned.
    number: String,
    /// Index into `states` of the last event's bucket.
    last: Option<usize>,
}

/// A bucket as one thread uses it: the compiled bucket and the thread's value memos of its
/// field scans.
struct BucketState {
    logsource: Logsource,
    /// Taken out while an event is matched (see [`Engine::matches_into`]).
    bucket: Option<Arc<Bucket>>,
    memos: Vec<ValueMemo>,
}

/// The hits of recently scanned values of one field scan. Field values repeat a lot in real
/// logs (images, parents, hashes, users, directories): a repeated value costs a hash lookup
/// and a compare instead of folding and automaton passes. Keys are the whole values (no
/// hash-only keys: a crafted collision must not hide a detection). Bounded: cleared when
/// full; switched off for a while on a field whose values rarely repeat (command lines with
/// per-process parts), where inserting would cost more than it saves.
#[derive(Default)]
struct ValueMemo {
    map: foldhash::HashMap<Box<str>, (u32, u32)>,
    /// The hits of every entry, `hits[a..b]`.
    hits: Vec<Hit>,
    bytes: usize,
    /// What this memo counts against the scratch's `MEMO_BUDGET`.
    cost: usize,
    /// Lookups and finds in the current sampling window.
    lookups: u32,
    found: u32,
    /// Values still to scan without the memo (it is off while this is non-zero).
    off: u32,
}

/// Values longer than this are scanned, not memoised.
const MEMO_MAX_VALUE: usize = 512;
/// A memo is cleared when it holds this many values or bytes of values.
const MEMO_MAX_ENTRIES: usize = 4096;
const MEMO_MAX_BYTES: usize = 256 << 10;
/// All memos of one scratch together hold at most about this much memory (keys, entries
/// and hits), whatever the number of buckets and fields.
const MEMO_BUDGET: usize = 8 << 20;
/// Every this many lookups the hit rate is checked; below 1 in `MEMO_MIN_RATE` the memo
/// goes off for `MEMO_OFF` values, then is tried again.
const MEMO_WINDOW: u32 = 2048;
const MEMO_MIN_RATE: u32 = 5;
const MEMO_OFF: u32 = 32 * 1024;

impl ValueMemo {
    /// Whether values should go through the memo now (counts the value when off).
    fn on(&mut self) -> bool {
        if self.off > 0 {
            self.off -= 1;
            return false;
        }
        true
    }

    fn get(&mut self, t: &str, used: &mut usize) -> Option<(u32, u32)> {
        self.lookups += 1;
        let found = self.map.get(t).copied();
        if found.is_some() {
            self.found += 1;
        }
        if self.lookups >= MEMO_WINDOW {
            if self.found.saturating_mul(MEMO_MIN_RATE) < self.lookups {
                self.off = MEMO_OFF;
                self.clear(used);
            }
            self.lookups = 0;
            self.found = 0;
        }
        found
    }

    /// Remembers the hits of `t`; `used` is the scratch's memory in memos.
    fn insert(&mut self, t: &str, hits: &[Hit], used: &mut usize) {
        if self.off > 0 || t.len() > MEMO_MAX_VALUE {
            return;
        }
        // Key, table entry and hits, roughly.
        let cost = t.len() + 48 + std::mem::size_of_val(hits);
        if self.map.len() >= MEMO_MAX_ENTRIES
            || self.bytes + t.len() > MEMO_MAX_BYTES
            || *used + cost > MEMO_BUDGET
        {
            self.clear(used);
            if *used + cost > MEMO_BUDGET {
                return;
            }
        }
        let a = self.hits.len() as u32;
        self.hits.extend_from_slice(hits);
        self.bytes += t.len();
        self.cost += cost;
        *used += cost;
        self.map.insert(Box::from(t), (a, self.hits.len() as u32));
    }

    fn clear(&mut self, used: &mut usize) {
        self.map.clear();
        self.hits.clear();
        self.bytes = 0;
        *used -= self.cost;
        self.cost = 0;
    }
}

/// Work done by one [`Scratch`] so far (for benchmarks and tuning).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub events: u64,
    /// Field values run through an automaton.
    pub values_scanned: u64,
    pub bytes_scanned: u64,
    /// Automaton matches reported.
    pub needle_hits: u64,
    /// Rule conditions evaluated.
    pub rules_evaluated: u64,
    /// Field values whose hits came from the value memo (not scanned).
    pub values_memoised: u64,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch::default()
    }

    /// A scratch that scans every value, never taking hits from the value memo: the same
    /// answers, for measuring what the memo saves on a given input.
    pub fn without_value_memo() -> Self {
        Scratch {
            no_memo: true,
            ..Scratch::default()
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    fn reset(&mut self, preds: usize, rules: usize) {
        if self.hit.len() < preds {
            self.hit.resize(preds, 0);
            self.memo_stamp.resize(preds, 0);
            self.memo.resize(preds, false);
            self.glob_seen.resize(preds, 0);
        }
        if self.rule_stamp.len() < rules {
            self.rule_stamp.resize(rules, 0);
            self.rule_bits.resize(rules, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: clear every mark so old stamps cannot alias.
            self.hit.iter_mut().for_each(|x| *x = 0);
            self.memo_stamp.iter_mut().for_each(|x| *x = 0);
            self.rule_stamp.iter_mut().for_each(|x| *x = 0);
            self.scan_stamp.iter_mut().for_each(|x| *x = 0);
            self.stamp = 1;
        }
        self.candidates.clear();
        self.pending.clear();
    }
}

impl Engine {
    /// Compiles rules for the given profiles.
    pub fn compile(rules: Vec<Rule>, profiles: &ProfileSet) -> Engine {
        let mut fields: Vec<Option<String>> = vec![None];
        let mut field_ids: HashMap<String, FieldId> = HashMap::new();
        let mut preds: Vec<Pred> = Vec::new();
        let mut pred_ids: HashMap<(FieldId, String), PredId> = HashMap::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut rule_fields = Vec::with_capacity(rules.len());

        let mut field_id = |name: &str, fields: &mut Vec<Option<String>>| -> FieldId {
            *field_ids.entry(name.to_string()).or_insert_with(|| {
                fields.push(Some(name.to_string()));
                (fields.len() - 1) as FieldId
            })
        };

        for rule in &rules {
            let mut used = Vec::new();
            for f in rule.fields_used() {
                used.push(field_id(&f, &mut fields));
            }
            rule_fields.push(used);
            // Compile searches into expressions over predicates.
            let mut search_exprs = Vec::with_capacity(rule.searches.len());
            for s in &rule.searches {
                let mut alts = Vec::new();
                for alt in &s.alternatives {
                    let mut items = Vec::new();
                    for item in alt {
                        let fid = match &item.field {
                            Some(f) => field_id(f, &mut fields),
                            None => KEYWORDS,
                        };
                        let mut values = Vec::new();
                        for alts in &item.values {
                            let mut ors = Vec::new();
                            for m in alts {
                                for inner in m.flatten() {
                                    if let Matcher::FieldRef { field, .. } = inner {
                                        field_id(field, &mut fields);
                                    }
                                }
                                let id = intern(&mut preds, &mut pred_ids, fid, m);
                                if let Matcher::Re(re) = m
                                    && preds[id as usize].prefilter.is_none()
                                    && let Some(needles) = required_literals(re)
                                {
                                    let ids = needles
                                        .iter()
                                        .map(|n| {
                                            let pat = Pattern::new(
                                                vec![
                                                    Piece::AnyStr,
                                                    Piece::Lit(n.clone()),
                                                    Piece::AnyStr,
                                                ],
                                                false,
                                            );
                                            intern(
                                                &mut preds,
                                                &mut pred_ids,
                                                fid,
                                                &Matcher::Str(pat),
                                            )
                                        })
                                        .collect();
                                    preds[id as usize].prefilter = Some(ids);
                                }
                                ors.push(CExpr::Pred(id));
                            }
                            values.push(simplify_or(ors));
                        }
                        items.push(if item.all {
                            simplify_and(values)
                        } else {
                            simplify_or(values)
                        });
                    }
                    alts.push(simplify_and(items));
                }
                search_exprs.push(simplify_or(alts));
            }
            let cond = lower(&rule.condition, &search_exprs);
            let groups: Vec<Vec<PredId>> = trigger_groups(&cond, &preds)
                .into_iter()
                .map(|(mut g, _cost)| {
                    g.sort_unstable();
                    g.dedup();
                    g
                })
                .collect();
            let always = groups.is_empty();
            compiled.push(CompiledRule {
                cond,
                groups,
                always,
            });
        }

        let plans = profiles
            .iter()
            .map(|p| {
                FieldPlan::new(
                    fields
                        .iter()
                        .map(|f| f.as_deref().map(|f| p.resolve(f)).unwrap_or_default())
                        .collect(),
                )
            })
            .collect();
        let keyword_roots = profiles.iter().map(|p| p.keyword_roots.clone()).collect();
        let field_index = fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.clone().map(|f| (f, i as FieldId)))
            .collect();
        Engine {
            rules: rules.into_iter().map(Arc::new).collect(),
            compiled,
            preds,
            fields,
            field_index,
            rule_fields,
            plans,
            keyword_roots,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    pub fn rule(&self, idx: usize) -> &Rule {
        &self.rules[idx]
    }

    /// Number of distinct predicates after sharing.
    pub fn predicate_count(&self) -> usize {
        self.preds.len()
    }

    /// The Sigma field names a rule reads.
    pub fn rule_field_names(&self, idx: usize) -> impl Iterator<Item = &str> {
        self.rule_fields[idx]
            .iter()
            .filter_map(|f| self.fields[*f as usize].as_deref())
    }

    /// The values of a Sigma field in an event, as text (for reporting).
    pub fn field_text(&self, event: &Event, field: &str) -> Option<String> {
        let profile = event.profile.min(self.plans.len().saturating_sub(1));
        let fid = *self.field_index.get(field)? as usize;
        field_values(self.plans.get(profile)?.paths(fid), &event.data).joined_text()
    }

    /// The index in `scratch.states` of the bucket of events of `ls`, built on first use.
    fn bucket(&self, ls: &Logsource, scratch: &mut Scratch) -> usize {
        // Consecutive events mostly share their logsource.
        if let Some(i) = scratch.last
            && scratch.states.get(i).is_some_and(|s| s.logsource == *ls)
        {
            return i;
        }
        let i = match scratch.cache.get(ls) {
            Some(&i) => i,
            None => {
                let bucket = self.bucket_slow(ls);
                let memos = bucket.scans.iter().map(|_| ValueMemo::default()).collect();
                scratch.states.push(BucketState {
                    logsource: ls.clone(),
                    bucket: Some(bucket),
                    memos,
                });
                scratch.cache.insert(ls.clone(), scratch.states.len() - 1);
                scratch.states.len() - 1
            }
        };
        scratch.last = Some(i);
        i
    }

    fn bucket_slow(&self, ls: &Logsource) -> Arc<Bucket> {
        let cell = {
            let mut shared = match self.buckets.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            shared.entry(ls.clone()).or_default().clone()
        };
        cell.get_or_init(|| Arc::new(self.build_bucket(ls))).clone()
    }

    fn build_bucket(&self, ls: &Logsource) -> Bucket {
        let mut rules = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let l = &r.logsource;
            if ls.admits(
                l.product.as_deref(),
                l.category.as_deref(),
                l.service.as_deref(),
            ) {
                rules.push(i as u32);
            }
        }
        let mut always = Vec::new();
        let mut triggers: HashMap<PredId, Vec<u32>> = HashMap::new();
        let mut used_preds: Vec<PredId> = Vec::new();
        // The fields scanned for every event: those of first-group predicates.
        let eager_fields: std::collections::HashSet<FieldId> = rules
            .iter()
            .filter_map(|&r| self.compiled[r as usize].groups.first())
            .flatten()
            .map(|&p| self.preds[p as usize].field)
            .collect();
        for &r in &rules {
            let c = &self.compiled[r as usize];
            if c.always {
                always.push(r);
            }
            let mut add = |group: &[PredId], kind: u32| {
                for &p in group {
                    triggers.entry(p).or_default().push(r << 2 | kind);
                }
            };
            // A second group is checked when the first had a hit (so a common needle there
            // costs nothing per event); when its fields are scanned for every event anyway,
            // its hits are marked as they come instead.
            match c.groups.as_slice() {
                [] => {}
                [first] => add(first, SINGLE),
                [first, second, ..] => {
                    let marked = second.iter().all(|&p| {
                        let pred = &self.preds[p as usize];
                        pred.scanned && eager_fields.contains(&pred.field)
                    });
                    if marked {
                        add(first, FIRST);
                        add(second, SECOND);
                    } else {
                        add(first, PENDING);
                    }
                }
            }
            // Regex prefilters are in groups without being in the condition.
            used_preds.extend(c.groups.iter().flatten());
            collect_preds(&c.cond, &mut used_preds);
        }
        // A regex's required literals are scanned too: when none occurs, the regex cannot
        // match and is not run (see `pred`).
        let prefilters: Vec<PredId> = used_preds
            .iter()
            .filter_map(|&p| self.preds[p as usize].prefilter.as_ref())
            .flatten()
            .copied()
            .collect();
        used_preds.extend(prefilters);
        used_preds.sort_unstable();
        used_preds.dedup();
        // Every scannable predicate of the bucket is found by the field scans: measured on
        // SigmaHQ's process_creation rules, scanning only the triggers and evaluating the rest
        // lazily was 1.7x slower (each lazy test reads its field again).
        let mut by_field: HashMap<FieldId, Vec<PredId>> = HashMap::new();
        for p in used_preds {
            let pred = &self.preds[p as usize];
            if pred.scanned {
                by_field.entry(pred.field).or_default().push(p);
            }
        }
        let mut trigger_rules = Vec::new();
        let mut spans: HashMap<PredId, (u32, u32)> = HashMap::new();
        for (p, rules) in triggers {
            spans.insert(p, (trigger_rules.len() as u32, rules.len() as u32));
            trigger_rules.extend(rules);
        }
        let mut fields: Vec<_> = by_field.into_iter().collect();
        // Fields holding a trigger are scanned for every event, first; the others only when a
        // triggered rule needs one of their predicates (then the whole field at once).
        fields.sort_by_key(|(f, preds)| (!preds.iter().any(|p| spans.contains_key(p)), *f));
        let mut scan_of = vec![NO_SCAN; self.preds.len()];
        let mut eager = 0;
        let scans: Vec<FieldScan> = fields
            .into_iter()
            .enumerate()
            .map(|(i, (field, preds))| {
                for &p in &preds {
                    scan_of[p as usize] = i as u32;
                }
                if preds.iter().any(|p| spans.contains_key(p)) {
                    eager = i + 1;
                }
                self.build_scan(field, &preds, &spans)
            })
            .collect();
        let scanned: Vec<usize> = scans.iter().map(|sc| sc.field as usize).collect();
        let prefetch = self.plans.iter().map(|p| p.prefetch(&scanned)).collect();
        Bucket {
            always,
            scans,
            eager,
            scan_of,
            prefetch,
            trigger_rules,
            rules: rules.len(),
        }
    }

    fn build_scan(
        &self,
        field: FieldId,
        preds: &[PredId],
        spans: &HashMap<PredId, (u32, u32)>,
    ) -> FieldScan {
        let mut folded = NeedleTable::default();
        let mut cased = folded.clone();
        let mut exact_folded: foldhash::HashMap<Box<str>, Vec<Hit>> = Default::default();
        let mut exact_cased: foldhash::HashMap<Box<str>, Vec<Hit>> = Default::default();
        let mut exact_max = 0;
        for &p in preds {
            let (start, len) = spans.get(&p).copied().unwrap_or((0, 0));
            let hit = Hit {
                pred: p,
                start,
                len,
            };
            if let Matcher::Str(pat) = &self.preds[p as usize].matcher {
                let (needle, kind) = match pat.shape() {
                    Shape::Exact(s) => {
                        let map = if pat.cased {
                            &mut exact_cased
                        } else {
                            &mut exact_folded
                        };
                        map.entry(Box::from(s)).or_default().push(hit);
                        exact_max = exact_max.max(s.len());
                        continue;
                    }
                    Shape::Prefix(s) => (s, NeedleKind::Prefix),
                    Shape::Suffix(s) => (s, NeedleKind::Suffix),
                    Shape::Contains(s) => (s, NeedleKind::Contains),
                    Shape::Glob => match pat.longest_literal() {
                        Some(s) => (s, NeedleKind::Glob),
                        None => continue,
                    },
                    Shape::Any => continue,
                };
                let table = if pat.cased { &mut cased } else { &mut folded };
                let idx = match table.1.get(needle) {
                    Some(&i) => i,
                    None => {
                        table.0.push(needle.to_string());
                        table.2.push(Vec::new());
                        table.1.insert(needle.to_string(), table.0.len() - 1);
                        table.0.len() - 1
                    }
                };
                table.2[idx].push((hit, kind));
            }
        }
        let build = |t: NeedleTable| {
            if t.0.is_empty() {
                return Automaton::default();
            }
            let mut spans = Vec::with_capacity(t.2.len());
            let mut targets = Vec::new();
            for ts in t.2 {
                let start = targets.len() as u32;
                targets.extend(ts);
                spans.push((start, targets.len() as u32));
            }
            Automaton {
                ac: Ac::build(&t.0),
                spans,
                targets,
            }
        };
        let concat = field == KEYWORDS
            && cased.0.is_empty()
            && exact_folded.is_empty()
            && exact_cased.is_empty()
            && !folded.0.iter().any(|n| n.contains(CONCAT_SEPARATOR))
            && folded
                .2
                .iter()
                .flatten()
                .all(|(_, k)| matches!(k, NeedleKind::Contains | NeedleKind::Glob));
        let any_needle = if concat && folded.0.len() <= 64 {
            aho_corasick::packed::Config::new()
                .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
                .builder()
                .extend(folded.0.iter())
                .build()
        } else {
            None
        };
        let numbers = folded.0.iter().any(|n| {
            n.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.e".contains(&b))
        });
        FieldScan {
            field,
            numbers,
            folded: build(folded),
            cased: build(cased),
            exact_folded,
            exact_cased,
            exact_max,
            concat,
            any_needle,
        }
    }

    /// The event logsources whose buckets have been built so far (for benchmarks and tuning).
    pub fn built_buckets(&self) -> Vec<Logsource> {
        let shared = match self.buckets.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        shared
            .iter()
            .filter(|(_, cell)| cell.get().is_some())
            .map(|(ls, _)| ls.clone())
            .collect()
    }

    /// What the compiled bucket for an event logsource holds (for benchmarks and tuning).
    pub fn bucket_stats(&self, ls: &Logsource) -> BucketStats {
        let b = self.bucket_slow(ls);
        BucketStats {
            rules: b.rules,
            always: b.always.len(),
            always_titles: b
                .always
                .iter()
                .map(|&r| self.rules[r as usize].title.clone())
                .collect(),
            fields_scanned: b.scans.len(),
            eager_fields: b.scans[..b.eager]
                .iter()
                .map(|sc| {
                    self.fields[sc.field as usize]
                        .clone()
                        .unwrap_or_else(|| "<keywords>".into())
                })
                .collect(),
            automata_bytes: b
                .scans
                .iter()
                .map(|s| {
                    s.folded.ac.as_ref().map_or(0, |a| a.memory_usage())
                        + s.cased.ac.as_ref().map_or(0, |a| a.memory_usage())
                })
                .sum(),
            needles: b
                .scans
                .iter()
                .map(|s| s.folded.spans.len() + s.cased.spans.len())
                .sum(),
        }
    }

    /// Indices of the rules that match the event (ascending).
    pub fn matches(&self, event: &Event, scratch: &mut Scratch) -> Vec<usize> {
        let mut out = Vec::new();
        self.matches_into(event, scratch, &mut out);
        out
    }

    /// Like [`Engine::matches`], appending to `out`.
    pub fn matches_into(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<usize>) {
        let current = self.bucket(&event.logsource, scratch);
        // The bucket is moved out of the scratch while the event is matched (the scratch is
        // borrowed mutably throughout), not cloned: no reference count shared by the threads
        // changes per event. (Left out after a panic, it is fetched again.)
        let bucket = match scratch.states[current].bucket.take() {
            Some(b) => b,
            None => self.bucket_slow(&event.logsource),
        };
        self.match_bucket(&bucket, current, event, scratch, out);
        scratch.states[current].bucket = Some(bucket);
    }

    fn match_bucket(
        &self,
        bucket: &Bucket,
        current: usize,
        event: &Event,
        scratch: &mut Scratch,
        out: &mut Vec<usize>,
    ) {
        if bucket.rules == 0 {
            return;
        }
        scratch.current = current;
        scratch.reset(self.preds.len(), self.rules.len());
        let Some(plan) = self
            .plans
            .get(event.profile.min(self.plans.len().saturating_sub(1)))
        else {
            return;
        };
        let profile = event.profile.min(self.plans.len() - 1);
        let data = &event.data;
        let mut rd = Reader::new(plan, data);
        if let Some(pre) = bucket.prefetch.get(profile) {
            rd.prefetch(pre);
        }
        if scratch.scan_stamp.len() < bucket.scans.len() {
            scratch.scan_stamp.resize(bucket.scans.len(), 0);
        }
        for i in 0..bucket.eager {
            self.run_scan(i, bucket, &rd, profile, scratch);
        }
        // Rules whose first group had a hit need one in their second group too (its field
        // is scanned now if it was not yet).
        let mut k = 0;
        while let Some(&r) = scratch.pending.get(k) {
            k += 1;
            if let Some(second) = self.compiled[r as usize].groups.get(1)
                && self.any_hit(second, bucket, &rd, profile, scratch)
            {
                scratch.candidates.push(r);
            }
        }
        // Candidates: always-evaluated rules (they have no groups) plus those triggered above.
        scratch.candidates.extend_from_slice(&bucket.always);
        let mut candidates = std::mem::take(&mut scratch.candidates);
        candidates.sort_unstable();
        scratch.counters.events += 1;
        scratch.counters.rules_evaluated += candidates.len() as u64;
        for &r in &candidates {
            let c = &self.compiled[r as usize];
            if self.eval(&c.cond, bucket, &rd, profile, scratch) {
                out.push(r as usize);
            }
        }
        scratch.candidates = candidates;
    }

    /// Runs field scan `i` of the bucket on the event (once per event).
    fn run_scan(
        &self,
        i: usize,
        bucket: &Bucket,
        rd: &Reader<'_>,
        profile: usize,
        scratch: &mut Scratch,
    ) {
        if scratch.scan_stamp[i] == scratch.stamp {
            return;
        }
        scratch.scan_stamp[i] = scratch.stamp;
        let scan = &bucket.scans[i];
        if scan.concat {
            self.scan_concat(
                scan,
                &self.keyword_roots[profile],
                rd.data(),
                bucket,
                scratch,
            );
            return;
        }
        let vals = if scan.field == KEYWORDS {
            keyword_values(&self.keyword_roots[profile], rd.data())
        } else {
            rd.prefetched(i)
                .unwrap_or_else(|| rd.values(scan.field as usize))
        };
        for v in &vals.items {
            if let Value::Number(n) = v {
                let mut t = std::mem::take(&mut scratch.number);
                t.clear();
                push_number(n, &mut t);
                self.scan_value(i, &t, bucket, scratch);
                scratch.number = t;
                continue;
            }
            let Some(t) = text(v) else { continue };
            self.scan_value(i, &t, bucket, scratch);
        }
    }

    /// Scans many values (the keyword leaves of an event) in one automaton pass over their
    /// texts joined by a separator no needle contains, so no match spans two values.
    fn scan_concat(
        &self,
        scan: &FieldScan,
        roots: &[Path],
        data: &Value,
        bucket: &Bucket,
        scratch: &mut Scratch,
    ) {
        let Some(ac) = &scan.folded.ac else { return };
        let mut buf = std::mem::take(&mut scratch.concat);
        let mut ends = std::mem::take(&mut scratch.ends);
        buf.clear();
        ends.clear();
        // The leaves `keyword_values` would collect, appended as they are visited.
        visit_keyword_leaves(roots, data, &mut |v| {
            match v {
                Value::String(t) if t.is_ascii() => buf.push_str(t),
                Value::String(t) => buf.extend(t.chars().map(crate::value::fold_char)),
                Value::Number(_) if !scan.numbers => return,
                Value::Number(n) => push_number(n, &mut buf),
                other => match text(other) {
                    Some(t) => buf.push_str(&fold(&t)),
                    None => return,
                },
            }
            ends.push(buf.len());
            buf.push(CONCAT_SEPARATOR);
        });
        scratch.counters.values_scanned += ends.len() as u64;
        scratch.counters.bytes_scanned += buf.len() as u64;
        // Needles are lowercase and the automata case-sensitive; non-ASCII text is already
        // folded above.
        buf.make_ascii_lowercase();
        if let Some(any) = &scan.any_needle
            && any.find(buf.as_bytes()).is_none()
        {
            scratch.concat = buf;
            scratch.ends = ends;
            return;
        }
        // One glob stamp per value.
        if scratch
            .value_stamp
            .checked_add(ends.len() as u32 + 1)
            .is_none()
        {
            scratch.glob_seen.iter_mut().for_each(|x| *x = 0);
            scratch.value_stamp = 0;
        }
        let base = scratch.value_stamp + 1;
        scratch.value_stamp += ends.len() as u32 + 1;
        let value_stamp = scratch.value_stamp;
        ac.for_each_match(buf.as_bytes(), |pattern, m_start, m_end| {
            let i = ends.partition_point(|&e| e < m_end);
            let Some(&end) = ends.get(i) else { return };
            let start = if i == 0 {
                0
            } else {
                ends[i - 1] + CONCAT_SEPARATOR.len_utf8()
            };
            let t = &buf[start..end];
            scratch.value_stamp = base + i as u32;
            for &(h, kind) in scan.folded.targets(pattern) {
                self.needle_hit(h, kind, m_start - start, m_end - start, t, bucket, scratch);
            }
        });
        scratch.value_stamp = value_stamp;
        scratch.concat = buf;
        scratch.ends = ends;
    }

    /// Finds the predicates a value of field scan `i` satisfies and marks them, through the
    /// scan's value memo while it is on.
    fn scan_value(&self, i: usize, t: &str, bucket: &Bucket, scratch: &mut Scratch) {
        let current = scratch.current;
        let mut memo = std::mem::take(&mut scratch.states[current].memos[i]);
        let use_memo = !scratch.no_memo && t.len() <= MEMO_MAX_VALUE && memo.on();
        if let Some((a, b)) = use_memo
            .then(|| memo.get(t, &mut scratch.memo_bytes))
            .flatten()
        {
            scratch.counters.values_memoised += 1;
            for &h in &memo.hits[a as usize..b as usize] {
                self.mark(h, bucket, scratch);
            }
        } else {
            let mut hits = std::mem::take(&mut scratch.value_hits);
            hits.clear();
            self.value_hits(&bucket.scans[i], t, scratch, &mut hits);
            if use_memo {
                hits.sort_unstable_by_key(|h| h.pred);
                hits.dedup_by_key(|h| h.pred);
                memo.insert(t, &hits, &mut scratch.memo_bytes);
            }
            for &h in &hits {
                self.mark(h, bucket, scratch);
            }
            scratch.value_hits = hits;
        }
        scratch.states[current].memos[i] = memo;
    }

    /// Appends the predicates of `scan` that value `t` satisfies to `hits` (a predicate may
    /// appear more than once). Depends only on the value, so the result can be memoised.
    fn value_hits(&self, scan: &FieldScan, t: &str, scratch: &mut Scratch, hits: &mut Vec<Hit>) {
        scratch.counters.values_scanned += 1;
        scratch.counters.bytes_scanned += t.len() as u64;
        scratch.value_stamp = scratch.value_stamp.wrapping_add(1);
        if scratch.value_stamp == 0 {
            scratch.glob_seen.iter_mut().for_each(|x| *x = 0);
            scratch.value_stamp = 1;
        }
        // The case-folded text, computed once for the whole-value lookup and the automaton
        // (whose needles are folded and which is case-sensitive: folding the text first is
        // cheaper than an ASCII-case-insensitive automaton, with half the transitions).
        let needs_folded = scan.folded.ac.is_some() || !scan.exact_folded.is_empty();
        let mut folded = std::mem::take(&mut scratch.folded);
        folded.clear();
        if needs_folded {
            if t.is_ascii() {
                folded.push_str(t);
                folded.make_ascii_lowercase();
            } else {
                folded.extend(t.chars().map(crate::value::fold_char));
            }
        }
        // Folding can shorten a value (`ẞ` -> `ß`): the folded length is what must fit.
        if t.len() <= scan.exact_max || folded.len() <= scan.exact_max {
            if !scan.exact_cased.is_empty()
                && let Some(preds) = scan.exact_cased.get(t)
            {
                hits.extend_from_slice(preds);
            }
            if !scan.exact_folded.is_empty()
                && let Some(preds) = scan.exact_folded.get(folded.as_str())
            {
                hits.extend_from_slice(preds);
            }
        }
        if let Some(ac) = &scan.folded.ac {
            ac.for_each_match(folded.as_bytes(), |pattern, start, end| {
                for &(h, kind) in scan.folded.targets(pattern) {
                    scratch.counters.needle_hits += 1;
                    if self.verify(h.pred, kind, start, end, &folded, scratch) {
                        hits.push(h);
                    }
                }
            });
        }
        scratch.folded = folded;
        if let Some(ac) = &scan.cased.ac {
            ac.for_each_match(t.as_bytes(), |pattern, start, end| {
                for &(h, kind) in scan.cased.targets(pattern) {
                    scratch.counters.needle_hits += 1;
                    if self.verify(h.pred, kind, start, end, t, scratch) {
                        hits.push(h);
                    }
                }
            });
        }
    }

    /// Marks the predicate of a needle occurrence in a concatenated scan when it holds.
    #[allow(clippy::too_many_arguments)]
    fn needle_hit(
        &self,
        h: Hit,
        kind: NeedleKind,
        start: usize,
        end: usize,
        t: &str,
        bucket: &Bucket,
        scratch: &mut Scratch,
    ) {
        scratch.counters.needle_hits += 1;
        if scratch.hit[h.pred as usize] == scratch.stamp {
            return;
        }
        if self.verify(h.pred, kind, start, end, t, scratch) {
            self.mark(h, bucket, scratch);
        }
    }

    /// Whether the needle occurrence `start..end` in value `t` means predicate `p` holds. A
    /// glob is verified once per value (`value_stamp`); later occurrences say false.
    fn verify(
        &self,
        p: PredId,
        kind: NeedleKind,
        start: usize,
        end: usize,
        t: &str,
        scratch: &mut Scratch,
    ) -> bool {
        match kind {
            NeedleKind::Prefix => start == 0,
            NeedleKind::Suffix => end == t.len(),
            NeedleKind::Contains => true,
            NeedleKind::Glob => {
                if scratch.glob_seen[p as usize] == scratch.value_stamp {
                    return false;
                }
                scratch.glob_seen[p as usize] = scratch.value_stamp;
                // `t` is the folded text for case-insensitive patterns and the text as it is
                // for cased ones: either way, what the pattern's literals compare with.
                match &self.preds[p as usize].matcher {
                    Matcher::Str(pat) => pat.matches_folded(t),
                    _ => false,
                }
            }
        }
    }

    fn mark(&self, h: Hit, bucket: &Bucket, scratch: &mut Scratch) {
        let stamp = scratch.stamp;
        let p = h.pred as usize;
        if scratch.hit[p] == stamp {
            return;
        }
        scratch.hit[p] = stamp;
        let (start, end) = (h.start as usize, (h.start + h.len) as usize);
        for &entry in &bucket.trigger_rules[start..end] {
            let r = (entry >> 2) as usize;
            if scratch.rule_stamp[r] != stamp {
                scratch.rule_stamp[r] = stamp;
                scratch.rule_bits[r] = 0;
            }
            let bits = &mut scratch.rule_bits[r];
            if *bits & PUSHED != 0 {
                continue;
            }
            match entry & 3 {
                SINGLE => {
                    *bits |= PUSHED;
                    scratch.candidates.push(r as u32);
                }
                PENDING => {
                    *bits |= PUSHED;
                    scratch.pending.push(r as u32);
                }
                group => {
                    *bits |= if group == FIRST { 1 } else { 2 };
                    if *bits == 3 {
                        *bits |= PUSHED;
                        scratch.candidates.push(r as u32);
                    }
                }
            }
        }
    }

    fn eval(
        &self,
        e: &CExpr,
        bucket: &Bucket,
        rd: &Reader<'_>,
        profile: usize,
        scratch: &mut Scratch,
    ) -> bool {
        match e {
            CExpr::Pred(p) => self.pred(*p, bucket, rd, profile, scratch),
            CExpr::Not(x) => !self.eval(x, bucket, rd, profile, scratch),
            CExpr::And(v) => v.iter().all(|x| self.eval(x, bucket, rd, profile, scratch)),
            CExpr::Or(v) => v.iter().any(|x| self.eval(x, bucket, rd, profile, scratch)),
            CExpr::AtLeast(n, v) => {
                let mut count = 0;
                for x in v {
                    if self.eval(x, bucket, rd, profile, scratch) {
                        count += 1;
                        if count >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    /// Whether any of the scanned predicates hit (true when one of them is not scanned in
    /// this bucket: then nothing is known).
    fn any_hit(
        &self,
        ids: &[PredId],
        bucket: &Bucket,
        rd: &Reader<'_>,
        profile: usize,
        scratch: &mut Scratch,
    ) -> bool {
        for &p in ids {
            let scan = bucket.scan_of[p as usize];
            if scan == NO_SCAN {
                return true;
            }
            if scratch.scan_stamp[scan as usize] != scratch.stamp {
                self.run_scan(scan as usize, bucket, rd, profile, scratch);
            }
            if scratch.hit[p as usize] == scratch.stamp {
                return true;
            }
        }
        false
    }

    fn pred(
        &self,
        p: PredId,
        bucket: &Bucket,
        rd: &Reader<'_>,
        profile: usize,
        scratch: &mut Scratch,
    ) -> bool {
        let i = p as usize;
        let pred = &self.preds[i];
        let scan = bucket.scan_of[i];
        if scan != NO_SCAN {
            // Checked here, not only in `run_scan`: most tests find their scan done.
            if scratch.scan_stamp[scan as usize] != scratch.stamp {
                self.run_scan(scan as usize, bucket, rd, profile, scratch);
            }
            return scratch.hit[i] == scratch.stamp;
        }
        if scratch.memo_stamp[i] == scratch.stamp {
            return scratch.memo[i];
        }
        if let Some(ids) = &pred.prefilter
            && !self.any_hit(ids, bucket, rd, profile, scratch)
        {
            scratch.memo_stamp[i] = scratch.stamp;
            scratch.memo[i] = false;
            return false;
        }
        let vals = if pred.field == KEYWORDS {
            keyword_values(&self.keyword_roots[profile], rd.data())
        } else {
            rd.values(pred.field as usize)
        };
        let mut lookup = |f: &str| match self.field_index.get(f) {
            Some(&fid) => rd.values(fid as usize),
            None => Values::default(),
        };
        let r = eval_matcher(&pred.matcher, &vals, &mut lookup);
        scratch.memo_stamp[i] = scratch.stamp;
        scratch.memo[i] = r;
        r
    }
}

/// Appends the text of a number, the same as its `Display` (what [`text`] gives), without
/// the formatting machinery for integers.
fn push_number(n: &serde_json::Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        out.push_str(itoa::Buffer::new().format(u));
    } else if let Some(i) = n.as_i64() {
        out.push_str(itoa::Buffer::new().format(i));
    } else {
        use std::fmt::Write as _;
        let _ = write!(out, "{n}");
    }
}

fn is_scannable(m: &Matcher) -> bool {
    match m {
        Matcher::Str(p) => match p.shape() {
            Shape::Exact(s) | Shape::Prefix(s) | Shape::Suffix(s) | Shape::Contains(s) => {
                !s.is_empty()
            }
            Shape::Glob => p.longest_literal().is_some_and(|s| !s.is_empty()),
            Shape::Any => false,
        },
        // Regexes run lazily, one by one, when a triggered rule needs them: a `RegexSet` over
        // hundreds of Sigma regexes falls back to the slow PikeVM, while each regex alone runs
        // with its own literal prefilter.
        _ => false,
    }
}

fn simplify_or(mut v: Vec<CExpr>) -> CExpr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        CExpr::Or(v)
    }
}

fn simplify_and(mut v: Vec<CExpr>) -> CExpr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        CExpr::And(v)
    }
}

fn lower(e: &Expr, searches: &[CExpr]) -> CExpr {
    match e {
        Expr::Search(i) => searches[*i].clone(),
        Expr::Not(x) => CExpr::Not(Box::new(lower(x, searches))),
        Expr::And(v) => simplify_and(v.iter().map(|x| lower(x, searches)).collect()),
        Expr::Or(v) => simplify_or(v.iter().map(|x| lower(x, searches)).collect()),
        Expr::AtLeast(n, v) => CExpr::AtLeast(*n, v.iter().map(|x| lower(x, searches)).collect()),
    }
}

/// How likely a scanned predicate is to hit on an event, roughly: short needles are common,
/// whole-value matches rarer than substrings. Only used to pick good triggers.
fn hit_cost(m: &Matcher) -> f64 {
    let Matcher::Str(p) = m else { return 1.0 };
    let (len, factor) = match p.shape() {
        Shape::Exact(s) => (s.len(), 0.3),
        Shape::Prefix(s) | Shape::Suffix(s) => (s.len(), 0.6),
        Shape::Contains(s) => (s.len(), 1.0),
        Shape::Glob => (p.longest_literal().map_or(0, str::len), 1.0),
        Shape::Any => (0, 1.0),
    };
    factor / (1.0 + len as f64)
}

/// Trigger groups of a condition, cheapest first: sets of scanned predicates such that when
/// the condition holds, each set has a hit; with their estimated cost. Empty when there is
/// none (the rule must be evaluated for every event).
///
/// `a and b` keeps the cheapest groups of both sides (up to `MAX_GROUPS`), so a rule waits
/// for a hit on each; `a or b` and `n of` need one group, the union of each side's cheapest;
/// a negation or a lazily evaluated test gives none.
fn trigger_groups(e: &CExpr, preds: &[Pred]) -> Vec<(Vec<PredId>, f64)> {
    match e {
        CExpr::Pred(p) => {
            let pred = &preds[*p as usize];
            if pred.scanned {
                return vec![(vec![*p], hit_cost(&pred.matcher))];
            }
            match &pred.prefilter {
                Some(ids) => {
                    let cost = ids
                        .iter()
                        .map(|&i| hit_cost(&preds[i as usize].matcher))
                        .sum();
                    vec![(ids.clone(), cost)]
                }
                None => Vec::new(),
            }
        }
        CExpr::Not(_) => Vec::new(),
        CExpr::And(v) => {
            let mut all: Vec<(Vec<PredId>, f64)> =
                v.iter().flat_map(|x| trigger_groups(x, preds)).collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1));
            all.dedup_by(|a, b| a.0 == b.0);
            all.truncate(MAX_GROUPS);
            all
        }
        CExpr::Or(v) | CExpr::AtLeast(_, v) => {
            // Whichever side holds has a hit in each of its groups, so the union of the
            // sides' first groups is a group, and so is the union of their second groups (a
            // side with one group puts it in both).
            let mut first: (Vec<PredId>, f64) = (Vec::new(), 0.0);
            let mut second: (Vec<PredId>, f64) = (Vec::new(), 0.0);
            let mut two = false;
            for x in v {
                let gs = trigger_groups(x, preds);
                let Some((g1, c1)) = gs.first() else {
                    return Vec::new();
                };
                let (g2, c2) = match gs.get(1) {
                    Some((g, c)) => (g, c),
                    None => (g1, c1),
                };
                two |= gs.len() > 1;
                first.0.extend(g1);
                first.1 += c1;
                second.0.extend(g2);
                second.1 += c2;
            }
            if two {
                let mut out = vec![first, second];
                out.sort_by(|a, b| a.1.total_cmp(&b.1));
                out
            } else {
                vec![first]
            }
        }
    }
}

fn collect_preds(e: &CExpr, out: &mut Vec<PredId>) {
    match e {
        CExpr::Pred(p) => out.push(*p),
        CExpr::Not(x) => collect_preds(x, out),
        CExpr::And(v) | CExpr::Or(v) | CExpr::AtLeast(_, v) => {
            v.iter().for_each(|x| collect_preds(x, out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matcher's number texts are those of `text` (serde_json's `Display`).
    #[test]
    fn number_texts_are_the_display_texts() {
        for n in [
            "0",
            "-0",
            "7",
            "-7",
            "4624",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
            "-0.0",
            "1e3",
            "2.5E-7",
            "123456789012345678901234567890",
        ] {
            let Ok(Value::Number(v)) = serde_json::from_str::<Value>(n) else {
                panic!("{n} is a JSON number");
            };
            let mut t = String::from("kept ");
            push_number(&v, &mut t);
            assert_eq!(t, format!("kept {v}"), "{n}");
        }
    }

    /// The bound never exceeds what a DFA really takes, or the DFA would be skipped where it
    /// fits; and it is not trivially small.
    #[test]
    fn dfa_size_bound_is_a_lower_bound() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabets: [&[u8]; 3] = [b"ab", b"abcdefghij\\.-", b"\x00\x7f\xffaZ09 %"];
        for round in 0..300 {
            let alpha = alphabets[round % alphabets.len()];
            let count = 1 + (next() % 60) as usize;
            let needles: Vec<String> = (0..count)
                .map(|_| {
                    let len = 1 + (next() % 12) as usize;
                    let bytes: Vec<u8> = (0..len)
                        .map(|_| alpha[(next() % alpha.len() as u64) as usize])
                        .collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect();
            let bound = dfa_bytes_at_least(&needles);
            let real = dfa::DFA::builder()
                .match_kind(MatchKind::Standard)
                .prefilter(false)
                .start_kind(aho_corasick::StartKind::Unanchored)
                .build(&needles)
                .map(|d| d.memory_usage())
                .unwrap_or(usize::MAX);
            assert!(bound <= real, "{needles:?}: bound {bound} > {real}");
            assert!(
                bound * 4 >= real / 4,
                "{needles:?}: bound {bound} far below {real}"
            );
        }
    }

    #[test]
    fn automata_find_the_same_needles_either_way() {
        let needles: Vec<String> = ["cmd", "md.exe", "\\temp\\", "powershell", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let hay = b"c:\\windows\\temp\\cmd.exe /c powershell";
        let small = Ac::build(&needles);
        assert!(matches!(small, Some(Ac::Dfa(_))));
        let big = contiguous::NFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&needles)
            .map(Ac::Nfa)
            .ok();
        let all = |ac: &Option<Ac>| {
            let mut v = Vec::new();
            if let Some(ac) = ac {
                ac.for_each_match(hay, |p, a, b| v.push((p, a, b)));
            }
            v.sort_unstable();
            v
        };
        let found = all(&small);
        assert_eq!(found, all(&big));
        // Every occurrence of every needle, overlapping ones included.
        let mut expected = Vec::new();
        for (p, n) in needles.iter().enumerate() {
            for (i, _) in hay
                .windows(n.len())
                .enumerate()
                .filter(|(_, w)| *w == n.as_bytes())
            {
                expected.push((p, i, i + n.len()));
            }
        }
        expected.sort_unstable();
        assert_eq!(found, expected);
    }
}
