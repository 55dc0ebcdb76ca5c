//! Evaluating Sigma correlation rules over event time.
//!
//! The caller (hunt, later the live pipeline) feeds [`Observation`]s: one per detection of a
//! rule a correlation refers to, with the event time and the values of the correlation's
//! `group-by` fields (after `aliases`) and of its `condition.field`. [`Correlator::evaluate`]
//! sorts them by time and, per correlation and group, slides a window of `timespan` over them:
//!
//! - `event_count`: events in the window; `value_count`: distinct values of the field;
//!   `value_sum` / `value_avg`: sum / average of the numeric field;
//!   `value_percentile`: the share (in percent) of the window's events that have the current
//!   event's value (a rare value has a low percentile);
//! - `temporal`: every referenced rule (or, with a condition, that many distinct rules) seen in
//!   the window; `temporal_ordered`: the referenced rules seen in the listed order.
//!
//! The condition is checked at every observation; when it holds a [`CorrelationHit`] is
//! produced and the group's window starts over, so one burst raises one hit.
//!
//! Chained correlations (a correlation referring to another) are reported, not evaluated.
//! This module does no I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::diag::{Code, Diagnostic};
use crate::rule::{Correlation, CorrelationKind, Rule};
use crate::value::Cmp;

/// One detection of a referenced rule, as the correlator sees it.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Index of the correlation in [`Correlator::plans`].
    pub correlation: usize,
    /// Position of the matched rule in the correlation's `rules` list.
    pub rule_pos: usize,
    /// Event time, Unix nanoseconds.
    pub time: i64,
    /// Values of the group-by fields, in `group-by` order (`None`: field absent).
    pub group: Vec<Option<String>>,
    /// Value of `condition.field`, for the kinds that aggregate one.
    pub value: Option<String>,
    /// An opaque reference back to the caller's detection or event.
    pub source: u64,
}

/// A correlation that fired.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationHit {
    pub correlation: usize,
    /// Time of the first and of the last event in the window.
    pub first_time: i64,
    pub last_time: i64,
    /// Group-by field names (as written in the correlation) and values.
    pub group: Vec<(String, Option<String>)>,
    /// The aggregate that met the condition (count, distinct values, sum, average, percent,
    /// distinct rules).
    pub value: f64,
    /// Events in the window.
    pub events: usize,
    /// `source` of the last observation.
    pub last_source: u64,
}

/// What to extract from an event matched by one rule for one correlation.
#[derive(Clone, Debug)]
pub struct Extract {
    pub correlation: usize,
    pub rule_pos: usize,
    /// Field names to read for the group-by values (aliases resolved for this rule).
    pub group_fields: Vec<String>,
    pub value_field: Option<String>,
}

/// A correlation resolved against the loaded rules.
#[derive(Clone, Debug)]
pub struct Plan {
    pub correlation: Arc<Correlation>,
    /// Engine rule index per position of `rules` (all resolved, else the plan is dropped).
    pub rules: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Correlator {
    pub plans: Vec<Plan>,
    /// rule index -> what to extract for each correlation referring to it.
    extracts: HashMap<usize, Vec<Extract>>,
    /// Rules referred to only by correlations without `generate: true`.
    quiet: Vec<usize>,
}

fn holds(cmp: &[(Cmp, f64)], v: f64) -> bool {
    cmp.iter().all(|(c, want)| c.holds(v, *want))
}

impl Correlator {
    /// Resolves correlations against the engine's rules (by id or name). Correlations whose
    /// rules are not all loaded, or that refer to other correlations, are reported and left
    /// out.
    pub fn new(correlations: &[Correlation], rules: &[Arc<Rule>]) -> (Correlator, Vec<Diagnostic>) {
        let mut by_ref: HashMap<&str, usize> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            if let Some(id) = &r.id {
                by_ref.insert(id.as_str(), i);
            }
            if let Some(n) = &r.name {
                by_ref.insert(n.as_str(), i);
            }
        }
        let corr_refs: Vec<&str> = correlations
            .iter()
            .flat_map(|c| c.id.iter().chain(c.name.iter()).map(String::as_str))
            .collect();
        let mut out = Correlator::default();
        let mut diags = Vec::new();
        let mut generating: Vec<usize> = Vec::new();
        let mut referenced: Vec<usize> = Vec::new();
        for c in correlations {
            let mut idx = Vec::new();
            let mut missing = None;
            for r in &c.rules {
                match by_ref.get(r.as_str()) {
                    Some(&i) => idx.push(i),
                    None => {
                        missing = Some(r.clone());
                        break;
                    }
                }
            }
            if let Some(r) = missing {
                let why = if corr_refs.contains(&r.as_str()) {
                    format!(
                        "correlation `{}` refers to correlation {r}; chained correlations are not evaluated yet",
                        c.title
                    )
                } else {
                    format!(
                        "correlation `{}` refers to rule {r}, which is not loaded; not evaluated",
                        c.title
                    )
                };
                diags.push(
                    Diagnostic::warning(Code::S010UnknownRuleReference, c.line, 1, why)
                        .in_file(&c.file),
                );
                continue;
            }
            let ci = out.plans.len();
            for (pos, &ri) in idx.iter().enumerate() {
                let rule = &rules[ri];
                let group_fields = c
                    .group_by
                    .iter()
                    .map(|g| alias_field(c, g, rule).unwrap_or_else(|| g.clone()))
                    .collect();
                let value_field = c
                    .condition
                    .as_ref()
                    .and_then(|cond| cond.field.as_ref())
                    .map(|f| alias_field(c, f, rule).unwrap_or_else(|| f.clone()));
                out.extracts.entry(ri).or_default().push(Extract {
                    correlation: ci,
                    rule_pos: pos,
                    group_fields,
                    value_field,
                });
                referenced.push(ri);
                if c.generate {
                    generating.push(ri);
                }
            }
            out.plans.push(Plan {
                correlation: Arc::new(c.clone()),
                rules: idx,
            });
        }
        referenced.sort_unstable();
        referenced.dedup();
        out.quiet = referenced
            .into_iter()
            .filter(|r| !generating.contains(r))
            .collect();
        (out, diags)
    }

    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// What to extract when `rule` matched (empty when no correlation refers to it).
    pub fn extracts(&self, rule: usize) -> &[Extract] {
        self.extracts.get(&rule).map_or(&[], Vec::as_slice)
    }

    /// Whether a rule's own detections should be left out of the output: it is referred to
    /// only by correlations without `generate: true` (Sigma's default).
    pub fn is_quiet(&self, rule: usize) -> bool {
        self.quiet.binary_search(&rule).is_ok()
    }

    /// Evaluates every correlation over the observations (in any order).
    pub fn evaluate(&self, mut obs: Vec<Observation>) -> Vec<CorrelationHit> {
        obs.sort_by(|a, b| a.time.cmp(&b.time).then(a.source.cmp(&b.source)));
        let mut groups: HashMap<(usize, Vec<Option<String>>), Window> = HashMap::new();
        let mut hits = Vec::new();
        for o in obs {
            let Some(plan) = self.plans.get(o.correlation) else {
                continue;
            };
            let c = &plan.correlation;
            let span = (c.timespan_secs as i64).saturating_mul(1_000_000_000);
            let key = (o.correlation, o.group.clone());
            let w = groups.entry(key).or_default();
            w.push(&o, span);
            if let Some(value) = w.check(c, plan.rules.len(), &o) {
                hits.push(CorrelationHit {
                    correlation: o.correlation,
                    first_time: w.items.front().map_or(o.time, |i| i.time),
                    last_time: o.time,
                    group: c
                        .group_by
                        .iter()
                        .cloned()
                        .zip(o.group.iter().cloned())
                        .collect(),
                    value,
                    events: w.items.len(),
                    last_source: o.source,
                });
                w.clear();
            }
        }
        hits.sort_by(|a, b| {
            a.last_time
                .cmp(&b.last_time)
                .then(a.correlation.cmp(&b.correlation))
        });
        hits
    }
}

fn alias_field(c: &Correlation, name: &str, rule: &Rule) -> Option<String> {
    let (_, per_rule) = c.aliases.iter().find(|(a, _)| a == name)?;
    per_rule
        .iter()
        .find(|(r, _)| Some(r) == rule.name.as_ref() || Some(r) == rule.id.as_ref())
        .map(|(_, f)| f.clone())
}

#[derive(Clone, Debug)]
struct Item {
    time: i64,
    rule_pos: usize,
    value: Option<String>,
}

#[derive(Debug, Default)]
struct Window {
    items: VecDeque<Item>,
}

fn number(v: &Option<String>) -> Option<f64> {
    v.as_deref().and_then(|s| s.trim().parse().ok())
}

impl Window {
    fn push(&mut self, o: &Observation, span: i64) {
        self.items.push_back(Item {
            time: o.time,
            rule_pos: o.rule_pos,
            value: o.value.clone(),
        });
        let start = o.time.saturating_sub(span);
        while self.items.front().is_some_and(|i| i.time < start) {
            self.items.pop_front();
        }
    }

    fn clear(&mut self) {
        self.items.clear();
    }

    /// The aggregate when the condition holds.
    fn check(&self, c: &Correlation, n_rules: usize, o: &Observation) -> Option<f64> {
        let cmp: &[(Cmp, f64)] = c.condition.as_ref().map_or(&[], |x| x.cmp.as_slice());
        let value = match c.kind {
            CorrelationKind::EventCount => self.items.len() as f64,
            CorrelationKind::ValueCount => {
                let mut seen: Vec<&str> = self
                    .items
                    .iter()
                    .filter_map(|i| i.value.as_deref())
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                seen.len() as f64
            }
            CorrelationKind::ValueSum | CorrelationKind::ValueAvg => {
                let nums: Vec<f64> = self.items.iter().filter_map(|i| number(&i.value)).collect();
                if nums.is_empty() {
                    return None;
                }
                let sum: f64 = nums.iter().sum();
                if c.kind == CorrelationKind::ValueSum {
                    sum
                } else {
                    sum / nums.len() as f64
                }
            }
            CorrelationKind::ValuePercentile => {
                let v = o.value.as_deref()?;
                let same = self
                    .items
                    .iter()
                    .filter(|i| i.value.as_deref() == Some(v))
                    .count();
                100.0 * same as f64 / self.items.len() as f64
            }
            CorrelationKind::Temporal => {
                let mut seen: Vec<usize> = self.items.iter().map(|i| i.rule_pos).collect();
                seen.sort_unstable();
                seen.dedup();
                let distinct = seen.len() as f64;
                if cmp.is_empty() {
                    return (seen.len() == n_rules).then_some(distinct);
                }
                distinct
            }
            CorrelationKind::TemporalOrdered => {
                // The last rule just matched and the earlier ones precede it, in order: walk
                // back choosing the latest earlier match of each rule.
                if o.rule_pos + 1 != n_rules {
                    return None;
                }
                let mut want = n_rules - 1;
                let mut before = o.time;
                for i in self.items.iter().rev().skip(1) {
                    if want == 0 {
                        break;
                    }
                    if i.rule_pos == want - 1 && i.time <= before {
                        want -= 1;
                        before = i.time;
                    }
                }
                return (want == 0).then_some(n_rules as f64);
            }
        };
        holds(cmp, value).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoadOptions, RuleSet};

    const S: i64 = 1_000_000_000;

    fn setup(corr: &str) -> (Correlator, Vec<Diagnostic>) {
        let rules = "title: failed\nname: failed\nid: r-failed\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4625}, condition: sel}\n---\ntitle: ok\nname: ok\nid: r-ok\nlogsource: {product: windows, service: security}\ndetection: {sel: {EventID: 4624}, condition: sel}\n";
        let text = format!("{rules}---\n{corr}");
        let set = RuleSet::load([("c.yml", text.as_str())], &LoadOptions::default());
        assert!(
            set.diagnostics
                .iter()
                .all(|d| d.severity == crate::Severity::Warning),
            "{:?}",
            set.diagnostics
        );
        let rules: Vec<Arc<Rule>> = set.rules.into_iter().map(Arc::new).collect();
        Correlator::new(&set.correlations, &rules)
    }

    fn obs(rule_pos: usize, t: i64, user: &str, value: Option<&str>) -> Observation {
        Observation {
            correlation: 0,
            rule_pos,
            time: t * S,
            group: vec![Some(user.to_string())],
            value: value.map(str::to_string),
            source: t as u64,
        }
    }

    #[test]
    fn event_count_fires_once_per_burst_and_per_group() {
        let (c, d) = setup(
            "title: brute\ncorrelation: {type: event_count, rules: [failed], group-by: [User], timespan: 1m, condition: {gte: 3}}\n",
        );
        assert!(d.is_empty());
        let hits = c.evaluate(vec![
            obs(0, 0, "a", None),
            obs(0, 10, "a", None),
            obs(0, 20, "b", None),
            obs(0, 30, "a", None), // third for a within 1m -> hit
            obs(0, 31, "a", None),
            obs(0, 200, "a", None),
            obs(0, 100, "b", None), // b's first is out of the window by now
            obs(0, 101, "b", None),
        ]);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(
            (hits[0].first_time, hits[0].last_time, hits[0].events),
            (0, 30 * S, 3)
        );
        assert_eq!(
            hits[0].group,
            vec![("User".to_string(), Some("a".to_string()))]
        );
        assert!(c.is_quiet(0), "generate defaults to false");
    }

    #[test]
    fn value_count_sum_avg_and_percentile() {
        let (c, _) = setup(
            "title: spray\ncorrelation: {type: value_count, rules: [failed], group-by: [Ip], timespan: 1h, condition: {field: User, gt: 2}}\n",
        );
        let hits = c.evaluate(vec![
            obs(0, 0, "ip", Some("u1")),
            obs(0, 1, "ip", Some("u1")),
            obs(0, 2, "ip", Some("u2")),
            obs(0, 3, "ip", Some("u3")),
        ]);
        assert_eq!(hits.iter().map(|h| h.value).collect::<Vec<_>>(), vec![3.0]);
        let (c, _) = setup(
            "title: exfil\ncorrelation: {type: value_sum, rules: [ok], group-by: [Ip], timespan: 1h, condition: {field: Bytes, gt: 100}}\n",
        );
        let hits = c.evaluate(vec![
            obs(0, 0, "x", Some("60")),
            obs(0, 1, "x", Some("junk")),
            obs(0, 2, "x", Some("50")),
        ]);
        assert_eq!(
            hits.iter().map(|h| h.value).collect::<Vec<_>>(),
            vec![110.0]
        );
        let (c, _) = setup(
            "title: avg\ncorrelation: {type: value_avg, rules: [ok], group-by: [Ip], timespan: 1h, condition: {field: Bytes, gte: 10, lt: 20}}\n",
        );
        let hits = c.evaluate(vec![obs(0, 0, "x", Some("30")), obs(0, 1, "x", Some("0"))]);
        assert_eq!(hits.iter().map(|h| h.value).collect::<Vec<_>>(), vec![15.0]);
        let (c, _) = setup(
            "title: rare\ncorrelation: {type: value_percentile, rules: [ok], group-by: [Host], timespan: 1d, condition: {field: Image, lte: 25}}\n",
        );
        let mut o: Vec<Observation> = (0..3).map(|t| obs(0, t, "h", Some("svchost"))).collect();
        o.push(obs(0, 5, "h", Some("evil")));
        let hits = c.evaluate(o);
        assert_eq!(hits.iter().map(|h| h.value).collect::<Vec<_>>(), vec![25.0]);
    }

    #[test]
    fn temporal_and_ordered() {
        let (c, _) = setup(
            "title: t\ncorrelation: {type: temporal, rules: [failed, ok], group-by: [User], timespan: 5m}\n",
        );
        let hits = c.evaluate(vec![
            obs(1, 0, "a", None),
            obs(0, 10, "a", None),
            obs(0, 20, "b", None),
        ]);
        assert_eq!(hits.len(), 1);
        let (c, _) = setup(
            "title: o\ncorrelation: {type: temporal_ordered, rules: [failed, ok], group-by: [User], timespan: 5m, generate: true}\n",
        );
        assert!(!c.is_quiet(0));
        // ok before failed: no hit; failed then ok: hit; too far apart: no hit.
        assert!(
            c.evaluate(vec![obs(1, 0, "a", None), obs(0, 10, "a", None)])
                .is_empty()
        );
        assert_eq!(
            c.evaluate(vec![obs(0, 0, "a", None), obs(1, 10, "a", None)])
                .len(),
            1
        );
        assert!(
            c.evaluate(vec![obs(0, 0, "a", None), obs(1, 1000, "a", None)])
                .is_empty()
        );
    }

    #[test]
    fn aliases_and_unresolved_references() {
        let (c, d) = setup(
            "title: a\ncorrelation:\n  type: temporal\n  rules: [failed, ok]\n  group-by: [ip]\n  timespan: 5m\n  aliases:\n    ip: {failed: IpAddress, ok: SourceIp}\n",
        );
        assert!(d.is_empty());
        assert_eq!(c.extracts(0)[0].group_fields, vec!["IpAddress"]);
        assert_eq!(c.extracts(1)[0].group_fields, vec!["SourceIp"]);
        let (c, d) = setup(
            "title: x\nname: x\ncorrelation: {type: event_count, rules: [nope], group-by: [U], timespan: 1m, condition: {gte: 1}}\n---\ntitle: y\ncorrelation: {type: event_count, rules: [x], group-by: [U], timespan: 1m, condition: {gte: 1}}\n",
        );
        assert!(c.is_empty());
        assert_eq!(d.len(), 2);
        assert!(d[1].message.contains("chained correlations"), "{:?}", d[1]);
    }
}
