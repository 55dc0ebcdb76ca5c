//! The server configuration: one TOML file (`--config`), every key documented in
//! `docs/server-config.toml`; unknown keys are rejected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ServerError;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the journal, the control database and the credentials live.
    pub data_dir: PathBuf,
    /// The control plane (tenants, users, alerts, cases, rules, audit) in PostgreSQL
    /// (`postgres://user:password@host/db`) instead of SQLite in the data directory.
    pub database_url: Option<String>,
    pub http: HttpConfig,
    /// Syslog listeners; none in the file means one on `127.0.0.1:5514` (UDP and TCP).
    pub syslog: Vec<SyslogConfig>,
    pub rules: RulesConfig,
    pub alerts: AlertsConfig,
    pub journal: JournalConfig,
    pub limits: LimitsConfig,
    pub store: StoreConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("leitstelle-data"),
            database_url: None,
            http: HttpConfig::default(),
            syslog: Vec::new(),
            rules: RulesConfig::default(),
            alerts: AlertsConfig::default(),
            journal: JournalConfig::default(),
            limits: LimitsConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP API (events, Elasticsearch bulk, Splunk HEC, alerts, metrics).
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// Transport of a syslog listener.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// A name for metrics and logs (default: `syslog-PORT`).
    #[serde(default)]
    pub name: Option<String>,
    pub listen: SocketAddr,
    /// `udp`, `tcp` (octet counting and newline framing, RFC 6587) and/or `tls` (RFC 5425).
    #[serde(default = "default_protocols")]
    pub protocols: Vec<Protocol>,
    /// The tenant every message of this listener belongs to.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The parser: `auto` (syslog with CEF, LEEF and auditd inside told apart), `syslog`,
    /// `cef`, `leef`, `auditd` or `json`.
    #[serde(default = "default_format")]
    pub format: String,
    /// TLS settings; required when `protocols` has `tls`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// TCP/TLS: connections open at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// TCP/TLS: a connection that sends nothing for this many seconds is closed (senders
    /// reconnect); the TLS handshake must finish within 10 s.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
}

fn default_max_connections() -> usize {
    1024
}

fn default_idle_timeout() -> u64 {
    3600
}

fn default_protocols() -> Vec<Protocol> {
    vec![Protocol::Udp, Protocol::Tcp]
}

fn default_tenant() -> String {
    leitstelle_event::DEFAULT_TENANT.to_string()
}

fn default_format() -> String {
    "auto".to_string()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the listener.
    pub cert: PathBuf,
    /// PEM private key of the listener.
    pub key: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate signed by one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Sigma rule folders (SigmaHQ layout), as for `leitstelle hunt --rules`.
    pub paths: Vec<PathBuf>,
    pub include_deprecated: bool,
    pub include_unsupported: bool,
    /// Placeholder values for the `expand` modifier.
    pub placeholders: Option<PathBuf>,
    /// Extra source profiles, tried before the built-in ones.
    pub profiles: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Repeated matches of a rule with the same grouping key within this many seconds of the
    /// alert's last match update that alert instead of raising a new one.
    pub window_secs: u64,
    /// Sigma field names whose values form the grouping key; `host` means the event's host
    /// (from its source profile).
    pub group_by: Vec<String>,
    /// Per rule id: other grouping fields.
    pub group_by_rule: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            window_secs: 3600,
            group_by: vec!["host".into()],
            group_by_rule: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Size at which a journal segment file is closed and a new one started.
    pub segment_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 64 << 20,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest request body after gzip decompression.
    pub max_decompressed_bytes: usize,
    /// Largest single event (NDJSON line, bulk document, syslog message).
    pub max_event_bytes: usize,
    /// Events not yet through detection before intake waits (back pressure).
    pub max_in_flight_events: usize,
    /// Of those, at most this many from one tenant (so a noisy tenant cannot take the whole
    /// pipeline; overridden per tenant in `[limits.tenants.NAME]`).
    pub max_in_flight_events_per_tenant: usize,
    /// How long an HTTP request (events API, `_bulk`, HEC) waits for room before it is
    /// answered 429 (HEC: 503 "Server is busy"), which shippers retry. Syslog over TCP waits
    /// as long as it takes instead: reads from the connection pause.
    pub admission_wait_ms: u64,
    /// When the event store is this many journal records behind, intake refuses (HTTP) or
    /// pauses (syslog) until it catches up: the journal is not trimmed below what the store
    /// has, so this bounds the journal's disk use and how stale search gets (0: no limit).
    pub max_store_lag_events: u64,
    /// Per-tenant quotas.
    pub tenants: std::collections::BTreeMap<String, TenantLimits>,
}

/// Quotas of one tenant (`[limits.tenants.NAME]`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Events per second the tenant may send on average (0: no rate quota). Beyond it HTTP
    /// intake answers 429 and syslog waits.
    pub events_per_sec: u64,
    /// Events the tenant may send at once above the rate (default: one second's worth).
    pub burst_events: u64,
    /// This tenant's share of `max_in_flight_events` (default
    /// `max_in_flight_events_per_tenant`).
    pub max_in_flight_events: Option<usize>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
            max_event_bytes: 1 << 20,
            max_in_flight_events: 20_000,
            max_in_flight_events_per_tenant: 16_000,
            admission_wait_ms: 2_000,
            max_store_lag_events: 5_000_000,
            tenants: Default::default(),
        }
    }
}

/// The event store (`<data_dir>/store`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Milliseconds between commits: how soon an acknowledged event becomes searchable.
    pub commit_interval_ms: u64,
    /// Indexing memory per open partition (tenant × day) writer, in MiB (at least 15).
    pub writer_memory_mb: usize,
    /// Indexing threads per partition writer (more use more cores and memory).
    pub writer_threads: usize,
    /// Days of events kept per tenant (0: no limit by age).
    pub retention_days: u32,
    /// Bytes of events kept per tenant (0: no limit by size; the newest day is never dropped).
    pub retention_bytes: u64,
    /// Seconds between retention runs.
    pub retention_check_secs: u64,
    /// How much lower the indexer's CPU priority is than intake's and detection's (Linux nice
    /// increment of the indexer thread and of the store threads it starts, 0 to 19; 0: the
    /// same). Under load, alerts come first and indexing takes the idle CPU: the journal keeps
    /// what the store has not indexed yet, and `leitstelle_store_lag_records` shows how far
    /// behind search is.
    pub indexer_nice: i32,
    /// Per-tenant retention overriding the two above.
    pub tenants: std::collections::BTreeMap<String, TenantRetention>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            commit_interval_ms: 1000,
            writer_memory_mb: 64,
            writer_threads: 2,
            retention_days: 30,
            retention_bytes: 0,
            retention_check_secs: 3600,
            indexer_nice: 10,
            tenants: Default::default(),
        }
    }
}

/// Retention of one tenant.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantRetention {
    /// Days kept (0: no limit by age).
    #[serde(default)]
    pub retention_days: u32,
    /// Bytes kept (0: no limit by size).
    #[serde(default)]
    pub retention_bytes: u64,
}

impl StoreConfig {
    /// The retention of a tenant.
    pub fn retention(&self, tenant: &str) -> leitstelle_store::Retention {
        let (days, bytes) = match self.tenants.get(tenant) {
            Some(t) => (t.retention_days, t.retention_bytes),
            None => (self.retention_days, self.retention_bytes),
        };
        leitstelle_store::Retention {
            max_age_days: (days > 0).then_some(days),
            max_bytes: (bytes > 0).then_some(bytes),
        }
    }
}

impl Config {
    /// Reads a configuration file; unknown keys and bad values are errors naming the file.
    pub fn from_file(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
            what: format!("reading config {}", path.display()),
            source,
        })?;
        Config::from_toml(&text)
            .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The syslog listeners in effect (the default one when none is configured).
    pub fn syslog_listeners(&self) -> Vec<SyslogConfig> {
        if self.syslog.is_empty() {
            vec![SyslogConfig {
                name: None,
                listen: SocketAddr::from(([127, 0, 0, 1], 5514)),
                protocols: default_protocols(),
                tenant: default_tenant(),
                format: default_format(),
                tls: None,
                max_connections: default_max_connections(),
                idle_timeout_secs: default_idle_timeout(),
            }]
        } else {
            self.syslog.clone()
        }
    }

    /// Checks what serde cannot: values that depend on each other.
    pub fn check(&self) -> Result<(), String> {
        if self.store.writer_threads == 0 || self.store.writer_threads > 64 {
            return Err("store.writer_threads must be between 1 and 64".into());
        }
        if self.store.writer_memory_mb < 15 * self.store.writer_threads
            || self.store.writer_memory_mb > 4000
        {
            return Err(
                "store.writer_memory_mb must be between 15 × writer_threads and 4000".into(),
            );
        }
        let l = &self.limits;
        if l.max_in_flight_events == 0 || l.max_in_flight_events_per_tenant == 0 {
            return Err(
                "limits.max_in_flight_events and limits.max_in_flight_events_per_tenant must be greater than zero"
                    .into(),
            );
        }
        for (name, t) in &l.tenants {
            if t.max_in_flight_events == Some(0) {
                return Err(format!(
                    "limits.tenants.{name}.max_in_flight_events must be greater than zero"
                ));
            }
        }
        if !(0..=19).contains(&self.store.indexer_nice) {
            return Err("store.indexer_nice must be between 0 and 19".into());
        }
        if self.store.commit_interval_ms == 0 || self.store.retention_check_secs == 0 {
            return Err(
                "store.commit_interval_ms and store.retention_check_secs must be greater than zero"
                    .into(),
            );
        }
        for (i, s) in self.syslog.iter().enumerate() {
            if s.protocols.is_empty() {
                return Err(format!("syslog[{i}]: `protocols` is empty"));
            }
            if s.protocols.contains(&Protocol::Tls) && s.tls.is_none() {
                return Err(format!(
                    "syslog[{i}]: protocol `tls` needs a [syslog.tls] section with `cert` and `key`"
                ));
            }
            if s.protocols.contains(&Protocol::Tls) && s.protocols.len() > 1 {
                return Err(format!(
                    "syslog[{i}]: `tls` cannot share a port with `udp`/`tcp`; give it its own listener"
                ));
            }
            if s.max_connections == 0 || s.idle_timeout_secs == 0 {
                return Err(format!(
                    "syslog[{i}]: `max_connections` and `idle_timeout_secs` must be greater than zero"
                ));
            }
            if leitstelle_parsers::Format::from_name(&s.format).is_none() {
                return Err(format!(
                    "syslog[{i}]: unknown format `{}` (auto, syslog, cef, leef, auditd, json)",
                    s.format
                ));
            }
        }
        if self.limits.max_event_bytes == 0 || self.limits.max_body_bytes == 0 {
            return Err("limits must be greater than zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::from_toml("").expect("parse");
        assert_eq!(c, Config::default());
        assert_eq!(c.syslog_listeners().len(), 1);
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_documented_file_holds_the_defaults() {
        let c = Config::from_toml(include_str!("../../../docs/server-config.toml")).expect("parse");
        let mut listener = c.syslog_listeners().remove(0);
        assert_eq!(listener.name.take().as_deref(), Some("syslog-5514"));
        assert_eq!(vec![listener], Config::default().syslog_listeners());
        assert_eq!(
            Config {
                syslog: Vec::new(),
                ..c
            },
            Config::default()
        );
    }

    #[test]
    fn full_file_parses() {
        let c = Config::from_toml(
            r#"
data_dir = "/var/lib/leitstelle"
[http]
listen = "0.0.0.0:9200"
[[syslog]]
name = "fw"
listen = "0.0.0.0:6514"
protocols = ["tls"]
tenant = "acme"
format = "cef"
tls = { cert = "c.pem", key = "k.pem", client_ca = "ca.pem" }
[rules]
paths = ["/rules/sigma"]
[alerts]
window_secs = 600
group_by = ["host", "User"]
group_by_rule = { "abc" = ["Image"] }
[limits]
max_event_bytes = 65536
"#,
        )
        .expect("parse");
        assert_eq!(c.syslog[0].protocols, vec![Protocol::Tls]);
        assert_eq!(c.alerts.group_by_rule["abc"], vec!["Image".to_string()]);
        assert_eq!(c.limits.max_event_bytes, 65536);
        assert_eq!(
            c.limits.max_body_bytes,
            LimitsConfig::default().max_body_bytes
        );
    }

    #[test]
    fn unknown_keys_and_bad_combinations_are_rejected() {
        let e = Config::from_toml("[http]\nlisten = \"127.0.0.1:1\"\nport = 3\n").expect_err("x");
        assert!(e.contains("unknown field `port`"), "{e}");
        let e = Config::from_toml("datadir = \"x\"").expect_err("x");
        assert!(e.contains("unknown field `datadir`"), "{e}");
        let e = Config::from_toml("[[syslog]]\nlisten = \"127.0.0.1:1\"\nprotocols = [\"tls\"]\n")
            .expect_err("x");
        assert!(e.contains("needs a [syslog.tls]"), "{e}");
        let e = Config::from_toml("[[syslog]]\nlisten = \"127.0.0.1:1\"\nformat = \"xml\"\n")
            .expect_err("x");
        assert!(e.contains("unknown format `xml`"), "{e}");
    }
}
