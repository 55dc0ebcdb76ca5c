//! Correlation rules in hunt: detections of referenced rules become observations (event time
//! plus group-by and value fields read from the event), evaluated after the scan over event
//! time by the Sigma crate's [`Correlator`].

use std::collections::BTreeMap;

use leitstelle_event::Event;
use leitstelle_profile::Profile;
use leitstelle_sigma::access::field_values;
use leitstelle_sigma::{CorrelationHit, Correlator, Observation};

use crate::Detection;

/// The text of a field of an event as a correlation reads it (values joined by `, `).
fn field(profile: &Profile, event: &Event, name: &str) -> Option<String> {
    field_values(&profile.resolve(name), &event.data).joined_text()
}

/// Observations for one detection of `rule` on `event`; `source` indexes the caller's
/// detection context. Events without a time cannot be correlated and give none.
pub(crate) fn observe(
    correlator: &Correlator,
    profile: &Profile,
    rule: usize,
    event: &Event,
    source: u64,
) -> Vec<Observation> {
    let Some(time) = event.timestamp else {
        return Vec::new();
    };
    correlator
        .extracts(rule)
        .iter()
        .map(|x| Observation {
            correlation: x.correlation,
            rule_pos: x.rule_pos,
            time,
            group: x
                .group_fields
                .iter()
                .map(|f| field(profile, event, f))
                .collect(),
            value: x
                .value_field
                .as_deref()
                .and_then(|f| field(profile, event, f)),
            source,
        })
        .collect()
}

/// Turns correlation hits into detections; `context(source)` gives the detection of the last
/// event of the window (host, channel, file, …).
pub(crate) fn detections(
    correlator: &Correlator,
    hits: &[CorrelationHit],
    context: &dyn Fn(u64) -> Option<Detection>,
) -> Vec<Detection> {
    hits.iter()
        .filter_map(|h| {
            let plan = correlator.plans.get(h.correlation)?;
            let c = &plan.correlation;
            let mut d = context(h.last_source)?;
            let mut fields = BTreeMap::new();
            for (name, value) in &h.group {
                fields.insert(name.clone(), value.clone().unwrap_or_default());
            }
            fields.insert(c.kind.as_str().to_string(), format_value(h.value));
            fields.insert("events".to_string(), h.events.to_string());
            fields.insert("first_seen".to_string(), crate::rfc3339(h.first_time));
            d.kind = "correlation";
            d.rule_title = c.title.clone();
            d.rule_id = c.id.clone().or_else(|| c.name.clone());
            d.level = c.level;
            d.tags = Vec::new();
            d.fields = fields;
            Some(d)
        })
        .collect()
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}
