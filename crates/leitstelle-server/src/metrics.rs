//! Prometheus metrics (`GET /metrics`), with the `prometheus-client` crate (the Prometheus
//! project's own Rust client: typed label sets, text exposition, no global registry).

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of intake counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
    pub tenant: String,
}

/// Labels of parse failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailLabels {
    pub source: String,
    pub tenant: String,
    pub reason: String,
}

/// Labels of refused events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub tenant: String,
    pub reason: String,
}

/// Labels of per-tenant counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Records received (events and input that could not be parsed).
    pub received: Family<SourceLabels, Counter>,
    /// Records parsed into events.
    pub parsed: Family<SourceLabels, Counter>,
    /// Records that could not be parsed, by reason.
    pub failed: Family<FailLabels, Counter>,
    /// Records kept in the dead-letter store.
    pub dead_lettered: Family<TenantLabels, Counter>,
    /// Rule matches.
    pub detections: Family<TenantLabels, Counter>,
    /// Matches held back by a suppression or dropped by a tenant's rule overlay.
    pub suppressed: Family<TenantLabels, Counter>,
    /// Open alerts past their SLA, per tenant (set every few seconds).
    pub sla_ack_breaches: Family<TenantLabels, Gauge>,
    pub sla_resolve_breaches: Family<TenantLabels, Gauge>,
    /// Alerts raised (new alerts; repeated matches update an alert instead).
    pub alerts: Family<TenantLabels, Counter>,
    /// Requests refused for authentication or authorization.
    pub auth_failures: Counter,
    /// Requests refused for size limits.
    pub too_large: Counter,
    /// Events refused at intake for back pressure or quota (the sender was told to retry),
    /// by reason (`busy`, `quota`, `store_lag`).
    pub refused: Family<RefusedLabels, Counter>,
    /// Journal records not yet through detection.
    pub journal_lag: Gauge<i64, AtomicI64>,
    /// Last journal sequence number made durable.
    pub journal_durable_seq: Gauge<i64, AtomicI64>,
    /// Journal fsyncs.
    pub journal_fsyncs: Gauge<i64, AtomicI64>,
    /// Bytes of journal on disk.
    pub journal_bytes: Gauge<i64, AtomicI64>,
    /// Events added to the event store.
    pub store_indexed: Counter,
    /// Journal records that could not be read for the event store.
    pub store_errors: Counter,
    /// The event store's committed watermark (every record below it is stored).
    pub store_committed_seq: Gauge<i64, AtomicI64>,
    /// Journal records not yet committed to the event store.
    pub store_lag: Gauge<i64, AtomicI64>,
    /// Event store disk use per tenant.
    pub store_bytes: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    /// Stored events per tenant.
    pub store_events: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    /// Stored partitions (days) per tenant.
    pub store_partitions: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    /// Partitions dropped by retention.
    pub store_dropped: Family<TenantLabels, Counter>,
    /// Searches run (API and retro-hunts).
    pub searches: Counter,
    /// Search time.
    pub search_seconds: Histogram,
    /// Rules in the compiled rule set.
    pub rules_loaded: Gauge<i64, AtomicI64>,
    /// Rule set reloads that failed (the old set stays).
    pub rule_reload_failures: Counter,
    /// Seconds from receipt of an event to its detection being recorded (alerts
    /// committed), per event.
    pub detect_latency: Histogram,
    /// Intake per source and tenant, for the console (Prometheus families cannot be read
    /// back).
    pub intake: Intake,
}

/// Upper bounds of the receipt-to-detection histogram, in seconds: tenths around the
/// server's one-second goal, so that its 99th percentile reads to 0.1 s.
const DETECT_LATENCY_BUCKETS: [f64; 24] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1,
    1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("leitstelle");
        let m = Metrics {
            received: Family::default(),
            parsed: Family::default(),
            failed: Family::default(),
            dead_lettered: Family::default(),
            detections: Family::default(),
            suppressed: Family::default(),
            sla_ack_breaches: Family::default(),
            sla_resolve_breaches: Family::default(),
            alerts: Family::default(),
            auth_failures: Counter::default(),
            too_large: Counter::default(),
            refused: Family::default(),
            journal_lag: Gauge::default(),
            journal_durable_seq: Gauge::default(),
            journal_fsyncs: Gauge::default(),
            journal_bytes: Gauge::default(),
            store_indexed: Counter::default(),
            store_errors: Counter::default(),
            store_committed_seq: Gauge::default(),
            store_lag: Gauge::default(),
            store_bytes: Family::default(),
            store_events: Family::default(),
            store_partitions: Family::default(),
            store_dropped: Family::default(),
            searches: Counter::default(),
            search_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            rules_loaded: Gauge::default(),
            rule_reload_failures: Counter::default(),
            detect_latency: Histogram::new(DETECT_LATENCY_BUCKETS.iter().copied()),
            registry: Registry::default(),
            intake: Intake::default(),
        };
        registry.register("events_received", "Records received", m.received.clone());
        registry.register(
            "events_parsed",
            "Records parsed into events",
            m.parsed.clone(),
        );
        registry.register(
            "events_failed",
            "Records that could not be parsed",
            m.failed.clone(),
        );
        registry.register(
            "events_dead_lettered",
            "Records kept in the dead-letter store",
            m.dead_lettered.clone(),
        );
        registry.register("detections", "Rule matches", m.detections.clone());
        registry.register(
            "detections_suppressed",
            "Rule matches held back by suppressions or tenant overlays",
            m.suppressed.clone(),
        );
        registry.register(
            "alerts_sla_ack_breached",
            "Open alerts not acknowledged within their SLA",
            m.sla_ack_breaches.clone(),
        );
        registry.register(
            "alerts_sla_resolve_breached",
            "Open alerts not escalated or closed within their SLA",
            m.sla_resolve_breaches.clone(),
        );
        registry.register("alerts_raised", "New alerts", m.alerts.clone());
        registry.register(
            "auth_failures",
            "Requests refused for authentication or authorization",
            m.auth_failures.clone(),
        );
        registry.register(
            "events_refused",
            "Events refused at intake for back pressure or a tenant quota (sender told to retry)",
            m.refused.clone(),
        );
        registry.register(
            "requests_too_large",
            "Requests refused for size limits",
            m.too_large.clone(),
        );
        registry.register(
            "journal_lag_records",
            "Journal records not yet through detection",
            m.journal_lag.clone(),
        );
        registry.register(
            "journal_durable_seq",
            "Last durable journal sequence number",
            m.journal_durable_seq.clone(),
        );
        registry.register("journal_fsyncs", "Journal fsyncs", m.journal_fsyncs.clone());
        registry.register(
            "journal_bytes",
            "Journal bytes on disk",
            m.journal_bytes.clone(),
        );
        registry.register(
            "rules_loaded",
            "Rules in the compiled set",
            m.rules_loaded.clone(),
        );
        registry.register(
            "rule_reload_failures",
            "Rule set reloads that failed",
            m.rule_reload_failures.clone(),
        );
        registry.register(
            "detect_latency_seconds",
            "Seconds from receipt of an event to its detections being recorded",
            m.detect_latency.clone(),
        );
        registry.register(
            "store_indexed_events",
            "Events added to the event store",
            m.store_indexed.clone(),
        );
        registry.register(
            "store_read_errors",
            "Journal records the event store could not read",
            m.store_errors.clone(),
        );
        registry.register(
            "store_committed_seq",
            "Event store watermark: every journal record below it is stored",
            m.store_committed_seq.clone(),
        );
        registry.register(
            "store_lag_records",
            "Journal records not yet committed to the event store",
            m.store_lag.clone(),
        );
        registry.register(
            "store_bytes",
            "Event store disk use per tenant",
            m.store_bytes.clone(),
        );
        registry.register(
            "store_events",
            "Stored events per tenant",
            m.store_events.clone(),
        );
        registry.register(
            "store_partitions",
            "Stored partitions (tenant days)",
            m.store_partitions.clone(),
        );
        registry.register(
            "store_dropped_partitions",
            "Partitions dropped by retention",
            m.store_dropped.clone(),
        );
        registry.register("searches", "Searches run", m.searches.clone());
        registry.register(
            "search_seconds",
            "Search time (API, CLI over HTTP and retro-hunts)",
            m.search_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Labels for intake counters.
pub fn source(source: &str, tenant: &str) -> SourceLabels {
    SourceLabels {
        source: source.to_string(),
        tenant: tenant.to_string(),
    }
}

/// Labels for per-tenant counters.
pub fn tenant(tenant: &str) -> TenantLabels {
    TenantLabels {
        tenant: tenant.to_string(),
    }
}

/// What one source sent for one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStat {
    pub source: String,
    pub tenant: String,
    /// Records received, parsed into events, and refused by the parsers, since start.
    pub received: u64,
    pub parsed: u64,
    pub failed: u64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Records received in each of the last [`RATE_MINUTES`] minutes (index 0: the current
    /// minute), for rates.
    pub per_minute: [u64; RATE_MINUTES],
    /// The minute (since the epoch) `per_minute[0]` counts.
    minute: i64,
}

impl Default for SourceStat {
    fn default() -> Self {
        SourceStat {
            source: String::new(),
            tenant: String::new(),
            received: 0,
            parsed: 0,
            failed: 0,
            first_ns: 0,
            last_ns: 0,
            per_minute: [0; RATE_MINUTES],
            minute: 0,
        }
    }
}

/// Minutes of per-minute intake kept per source.
pub const RATE_MINUTES: usize = 60;

impl SourceStat {
    /// Moves the per-minute window to `minute`, dropping counts older than the window.
    fn advance(&mut self, minute: i64) {
        let shift = minute - self.minute;
        if shift <= 0 {
            return;
        }
        let shift = usize::try_from(shift)
            .unwrap_or(RATE_MINUTES)
            .min(RATE_MINUTES);
        self.per_minute.rotate_right(shift);
        self.per_minute[..shift].fill(0);
        self.minute = minute;
    }

    /// Records per second over the last `minutes` whole minutes before `now_ns` (the current,
    /// partial minute is left out).
    pub fn rate(&self, now_ns: i64, minutes: usize) -> f64 {
        let mut s = self.clone();
        s.advance(now_ns.div_euclid(60_000_000_000));
        let minutes = minutes.clamp(1, RATE_MINUTES - 1);
        let n: u64 = s.per_minute[1..=minutes].iter().sum();
        n as f64 / (minutes as f64 * 60.0)
    }
}

/// Intake per (source, tenant), updated once per received batch.
#[derive(Debug, Default)]
pub struct Intake {
    by: std::sync::Mutex<std::collections::BTreeMap<(String, String), SourceStat>>,
}

impl Intake {
    /// Counts a batch.
    pub fn record(&self, source: &str, tenant: &str, received: u64, parsed: u64, now_ns: i64) {
        let Ok(mut by) = self.by.lock() else {
            return;
        };
        let key = (source.to_string(), tenant.to_string());
        let s = by.entry(key).or_insert_with(|| SourceStat {
            source: source.to_string(),
            tenant: tenant.to_string(),
            first_ns: now_ns,
            minute: now_ns.div_euclid(60_000_000_000),
            ..SourceStat::default()
        });
        s.advance(now_ns.div_euclid(60_000_000_000));
        s.received += received;
        s.parsed += parsed;
        s.failed += received.saturating_sub(parsed);
        s.last_ns = s.last_ns.max(now_ns);
        s.per_minute[0] += received;
    }

    /// Every source seen since start, for the tenants given (all when `None`).
    pub fn snapshot(&self, tenants: Option<&[String]>) -> Vec<SourceStat> {
        let Ok(by) = self.by.lock() else {
            return Vec::new();
        };
        by.values()
            .filter(|s| tenants.is_none_or(|t| t.contains(&s.tenant)))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn intake_counts_and_rates_by_minute() {
        let i = Intake::default();
        let t0 = 1_000 * MIN;
        i.record("syslog", "acme", 120, 100, t0);
        i.record("syslog", "acme", 60, 60, t0 + MIN + 1);
        i.record("hec", "beta", 5, 5, t0);
        let all = i.snapshot(None);
        assert_eq!(all.len(), 2);
        let acme = i.snapshot(Some(&["acme".to_string()]));
        assert_eq!(acme.len(), 1);
        let s = &acme[0];
        assert_eq!((s.received, s.parsed, s.failed), (180, 160, 20));
        assert_eq!((s.first_ns, s.last_ns), (t0, t0 + MIN + 1));
        // Two minutes later: the last two whole minutes held 60 and 120 records.
        assert_eq!(s.rate(t0 + 2 * MIN, 1), 1.0);
        assert_eq!(s.rate(t0 + 2 * MIN, 2), 1.5);
        // Far later, everything has left the window.
        assert_eq!(s.rate(t0 + 500 * MIN, 5), 0.0);
    }
}
