//! The reference interpreter: evaluates each rule on its own, directly from its parsed form,
//! with the simplest correct code. The compiled [`crate::Engine`] must agree with it on every
//! rule and event (checked by property tests).

use leitstelle_event::{Event, Value};
use leitstelle_profile::{Profile, ProfileSet};

use crate::access::{Values, eval_matcher, field_values, keyword_values};
use crate::rule::{Expr, Item, Rule};

/// Whether a rule's logsource admits an event (strict routing).
pub fn routes(rule: &Rule, event: &Event) -> bool {
    let ls = &rule.logsource;
    event.logsource.admits(
        ls.product.as_deref(),
        ls.category.as_deref(),
        ls.service.as_deref(),
    )
}

/// Indices of the rules that match the event, in rule order.
pub fn matches(rules: &[Rule], profiles: &ProfileSet, event: &Event) -> Vec<usize> {
    let profile = profiles.get(event.profile.min(profiles.len().saturating_sub(1)));
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| routes(r, event) && rule_matches(r, profile, &event.data))
        .map(|(i, _)| i)
        .collect()
}

/// Evaluates one rule's condition on an event's tree (no routing).
pub fn rule_matches(rule: &Rule, profile: &Profile, data: &Value) -> bool {
    eval(&rule.condition, rule, profile, data)
}

fn eval(e: &Expr, rule: &Rule, profile: &Profile, data: &Value) -> bool {
    match e {
        Expr::Search(i) => rule.searches[*i]
            .alternatives
            .iter()
            .any(|alt| alt.iter().all(|item| item_matches(item, profile, data))),
        Expr::Not(x) => !eval(x, rule, profile, data),
        Expr::And(v) => v.iter().all(|x| eval(x, rule, profile, data)),
        Expr::Or(v) => v.iter().any(|x| eval(x, rule, profile, data)),
        Expr::AtLeast(n, v) => v.iter().filter(|x| eval(x, rule, profile, data)).count() >= *n,
    }
}

fn item_matches<'a>(item: &Item, profile: &Profile, data: &'a Value) -> bool {
    let vals = match &item.field {
        Some(f) => field_values(&profile.resolve(f), data),
        None => keyword_values(&profile.keyword_roots, data),
    };
    let mut lookup = |f: &str| -> Values<'a> { field_values(&profile.resolve(f), data) };
    let mut one = |alts: &Vec<crate::value::Matcher>| {
        alts.iter().any(|m| eval_matcher(m, &vals, &mut lookup))
    };
    if item.all {
        item.values.iter().all(&mut one)
    } else {
        item.values.iter().any(&mut one)
    }
}
