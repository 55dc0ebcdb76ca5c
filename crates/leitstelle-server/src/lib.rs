//! `leitstelle serve`: the running SIEM.
//!
//! Receives logs from the shippers SOC teams run (syslog over UDP/TCP/TLS, an NDJSON HTTP
//! API, the Elasticsearch bulk API, Splunk HEC), writes them durably to the journal
//! (`leitstelle-journal`; a sender is told "received" only after the fsync), detects with the
//! same compiled Sigma engine as `hunt`, and raises alerts in the control database
//! (`leitstelle-control`). See [`pipeline`] for the path of an event and ARCHITECTURE.md for
//! the invariants.
//!
//! Start with [`start`]; it returns a [`Running`] server with the addresses it bound (port 0
//! in tests), stopped by [`Running::shutdown`]: stop accepting, flush the journal, let
//! detection finish, exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use leitstelle_control::{Control, Principal, Role};
use leitstelle_journal::{Journal, JournalOptions};
use leitstelle_parsers::Format;
use leitstelle_profile::ProfileSet;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

pub mod admission;
pub mod api;
pub mod config;
pub mod console;
pub mod desk;
pub mod elastic;
pub mod hec;
pub mod indexer;
pub mod metrics;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod search;
pub mod syslog;

pub use config::Config;

/// The OpenAPI description of the HTTP API (`GET /api/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("openapi.json");

/// Errors that stop the server from starting (or an admin command from running).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("journal: {0}")]
    Journal(String),
    #[error(transparent)]
    Control(#[from] leitstelle_control::ControlError),
    #[error("rules: {0}")]
    Rules(String),
    #[error("event store: {0}")]
    Store(String),
    #[error("profiles: {0}")]
    Profiles(String),
    #[error("syslog listener {name}: {message}")]
    Listener { name: String, message: String },
}

/// What every handler shares.
pub struct App {
    pub config: Config,
    pub control: Arc<Control>,
    pub journal: Arc<Journal>,
    pub pipeline: pipeline::Pipeline,
    pub rules: Arc<ArcSwap<rules::RuleState>>,
    pub profiles: Arc<ProfileSet>,
    pub metrics: Arc<metrics::Metrics>,
    pub ready: AtomicBool,
    /// Ids of alerts raised or updated (for live views).
    pub alert_updates: broadcast::Sender<i64>,
    /// The event store (search, retro-hunts).
    pub store: Arc<dyn leitstelle_store::EventStore>,
}

impl App {
    /// Loads the configured rules again and swaps them in (the running set stays on error).
    /// Blocks (reads the stored rules): call it on the blocking pool.
    pub fn reload_rules(&self) -> Result<Arc<rules::RuleState>, ServerError> {
        let reloaded = self
            .control
            .stored_rules()
            .map_err(ServerError::from)
            .and_then(|stored| {
                rules::reload(&self.config.rules, &self.profiles, &stored, &self.rules)
            });
        match reloaded {
            Ok(s) => {
                self.metrics.rules_loaded.set(s.rules as i64);
                tracing::info!(
                    rules = s.rules,
                    diagnostics = s.diagnostics.len(),
                    "rules reloaded"
                );
                Ok(s)
            }
            Err(e) => {
                self.metrics.rule_reload_failures.inc();
                tracing::error!(error = %e, "rule reload failed; the running rules stay");
                Err(e)
            }
        }
    }
}

/// The control database file in a data directory.
pub fn control_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.db")
}

/// Opens the control plane: PostgreSQL at `database_url` when given, else the SQLite
/// database of the data directory (creating the directory). Blocks: call it off the async
/// runtime's workers.
pub fn open_control(data_dir: &Path, database_url: Option<&str>) -> Result<Control, ServerError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ServerError::Io {
        what: format!("creating data directory {}", data_dir.display()),
        source,
    })?;
    match database_url {
        Some(url) => Ok(Control::connect(url)?),
        None => Ok(Control::open(&control_path(data_dir))?),
    }
}

/// The event store directory of a data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Opens the event store of a data directory.
pub fn open_store(
    data_dir: &Path,
    profiles: Arc<ProfileSet>,
    config: &config::StoreConfig,
) -> Result<leitstelle_store::TantivyStore, ServerError> {
    leitstelle_store::TantivyStore::open(
        &store_path(data_dir),
        profiles,
        leitstelle_store::TantivyOptions {
            writer_memory_bytes: config.writer_memory_mb << 20,
            writer_threads: config.writer_threads,
            ..leitstelle_store::TantivyOptions::default()
        },
    )
    .map_err(|e| ServerError::Store(e.to_string()))
}

/// The file where first start leaves the initial credentials.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("initial-credentials.txt")
}

/// On first start (no tenant yet): creates the `default` tenant, an `admin` user with a
/// random password and an ingest token, and writes them to a file only the owner can read.
/// Returns that file's path when it did so.
pub fn first_start(control: &Control, data_dir: &Path) -> Result<Option<PathBuf>, ServerError> {
    if !control.tenants()?.is_empty() {
        return Ok(None);
    }
    let now = pipeline::now_ns();
    let tenant = leitstelle_event::DEFAULT_TENANT;
    control.create_tenant(tenant, now)?;
    let password = leitstelle_control::random_password()?;
    let sys = Principal::system();
    control.create_user(&sys, "admin", &password, tenant, Role::Admin, now)?;
    let (_, ingest) = control.create_token(&sys, tenant, Role::Ingest, "initial-ingest", now)?;
    let (_, admin) = control.create_token(&sys, tenant, Role::Admin, "initial-admin", now)?;
    let path = credentials_path(data_dir);
    let text = format!(
        "# Leitstelle initial credentials (created {now} ns since the epoch).\n\
         # Store them elsewhere and delete this file.\n\
         tenant = {tenant}\nuser = admin\npassword = {password}\n\
         ingest_token = {ingest}\nadmin_token = {admin}\n"
    );
    write_private(&path, &text).map_err(|source| ServerError::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    Ok(Some(path))
}

/// Writes a file readable only by its owner (mode 0600 on Unix).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A running server.
pub struct Running {
    pub app: Arc<App>,
    /// The HTTP address bound.
    pub http_addr: SocketAddr,
    /// Syslog addresses bound: (listener name, protocol, address).
    pub syslog_addrs: Vec<(String, config::Protocol, SocketAddr)>,
    /// Where first start wrote the initial credentials, if this was the first start.
    pub credentials: Option<PathBuf>,
    /// Journal records replayed through detection at start.
    pub replayed: u64,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    detector: Option<std::thread::JoinHandle<()>>,
    indexer: Option<indexer::Indexer>,
}

/// Opens the data directory, replays the journal, binds every listener and starts serving.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    config.check().map_err(ServerError::Config)?;
    let data_dir = config.data_dir.clone();
    // The control plane is synchronous (and PostgreSQL's client refuses to run on a runtime
    // worker): everything that touches it here runs on the blocking pool.
    let (control, credentials, stored_rules, detect_seq, rules_generation) = {
        let (dir, url) = (data_dir.clone(), config.database_url.clone());
        let listeners = config.syslog_listeners();
        tokio::task::spawn_blocking(move || -> Result<_, ServerError> {
            let control = open_control(&dir, url.as_deref())?;
            let credentials = first_start(&control, &dir)?;
            for l in &listeners {
                if control.tenant(&l.tenant)?.is_none() {
                    return Err(ServerError::Config(format!(
                        "syslog listener on {}: no tenant `{}` (create it with `leitstelle admin tenant create`)",
                        l.listen, l.tenant
                    )));
                }
            }
            let stored = control.stored_rules()?;
            let detect_seq = control.detect_seq()?;
            let generation = control.rules_generation()?;
            Ok((Arc::new(control), credentials, stored, detect_seq, generation))
        })
        .await
        .map_err(|e| ServerError::Config(format!("opening the control plane: {e}")))??
    };
    let metrics = Arc::new(metrics::Metrics::new());

    let (journal, report) = Journal::open(
        &data_dir.join("journal"),
        JournalOptions {
            segment_bytes: config.journal.segment_bytes,
            ..JournalOptions::default()
        },
    )
    .map_err(|e| ServerError::Journal(e.to_string()))?;
    tracing::info!(?report, "journal opened");
    let journal = Arc::new(journal);

    let profiles = Arc::new(
        leitstelle_hunt::load_profiles(&config.rules.profiles)
            .map_err(|e| ServerError::Profiles(e.to_string()))?,
    );
    let state = rules::load(&config.rules, &profiles, &stored_rules)?;
    tracing::info!(
        rules = state.rules,
        diagnostics = state.diagnostics.len(),
        "rules loaded"
    );
    metrics.rules_loaded.set(state.rules as i64);
    let rules = Arc::new(ArcSwap::from_pointee(state));
    let (alert_updates, _) = broadcast::channel(1024);

    let listeners = config.syslog_listeners();

    let store: Arc<dyn leitstelle_store::EventStore> =
        Arc::new(open_store(&data_dir, Arc::clone(&profiles), &config.store)?);
    let indexer = indexer::Indexer::start(
        Arc::clone(&journal),
        Arc::clone(&store),
        Arc::clone(&profiles),
        Arc::clone(&metrics),
        config.store.clone(),
        Arc::clone(&control),
    )
    .map_err(|source| ServerError::Io {
        what: "starting the indexer thread".into(),
        source,
    })?;

    let started = pipeline::start(pipeline::Parts {
        detect_seq,
        journal: Arc::clone(&journal),
        control: Arc::clone(&control),
        rules: Arc::clone(&rules),
        profiles: Arc::clone(&profiles),
        metrics: Arc::clone(&metrics),
        alerts: config.alerts.clone(),
        limits: config.limits.clone(),
        store: Some(Arc::clone(&store)),
        notify: alert_updates.clone(),
    })?;
    if started.replayed > 0 {
        tracing::info!(
            records = started.replayed,
            "journal replayed through detection"
        );
    }

    let app = Arc::new(App {
        config: config.clone(),
        control,
        journal,
        pipeline: started.pipeline,
        rules,
        profiles,
        metrics,
        ready: AtomicBool::new(false),
        alert_updates,
        store,
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut syslog_addrs = Vec::new();
    for l in &listeners {
        let name = l
            .name
            .clone()
            .unwrap_or_else(|| format!("syslog-{}", l.listen.port()));
        let listener = syslog::Listener {
            name: name.as_str().into(),
            tenant: l.tenant.as_str().into(),
            format: Format::from_name(&l.format).unwrap_or(Format::Auto),
            max_connections: l.max_connections,
            idle_timeout: std::time::Duration::from_secs(l.idle_timeout_secs),
        };
        let err = |message: String| ServerError::Listener {
            name: name.clone(),
            message,
        };
        for proto in &l.protocols {
            match proto {
                config::Protocol::Udp => {
                    let sock = UdpSocket::bind(l.listen)
                        .await
                        .map_err(|e| err(format!("udp {}: {e}", l.listen)))?;
                    let addr = sock.local_addr().map_err(|e| err(e.to_string()))?;
                    syslog_addrs.push((name.clone(), *proto, addr));
                    tasks.spawn(syslog::run_udp(
                        Arc::clone(&app),
                        sock,
                        listener.clone(),
                        shutdown_rx.clone(),
                    ));
                }
                config::Protocol::Tcp | config::Protocol::Tls => {
                    let tls = match (proto, &l.tls) {
                        (config::Protocol::Tls, Some(t)) => {
                            Some(syslog::tls_acceptor(t).map_err(err)?)
                        }
                        _ => None,
                    };
                    let sock = TcpListener::bind(l.listen)
                        .await
                        .map_err(|e| err(format!("tcp {}: {e}", l.listen)))?;
                    let addr = sock.local_addr().map_err(|e| err(e.to_string()))?;
                    syslog_addrs.push((name.clone(), *proto, addr));
                    tasks.spawn(syslog::run_tcp(
                        Arc::clone(&app),
                        sock,
                        listener.clone(),
                        tls,
                        shutdown_rx.clone(),
                    ));
                }
            }
        }
    }

    let http = TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("binding HTTP on {}", config.http.listen),
            source,
        })?;
    let http_addr = http.local_addr().map_err(|source| ServerError::Io {
        what: "HTTP address".into(),
        source,
    })?;
    let router = api::router(Arc::clone(&app));
    let mut stop = shutdown_rx.clone();
    tasks.spawn(async move {
        let serve = axum::serve(http, router).with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server");
        }
    });
    // Stored rules changed elsewhere (`leitstelle rules import`, another server on the same
    // PostgreSQL): reload when their generation moves.
    let (app2, mut stop) = (Arc::clone(&app), shutdown_rx.clone());
    tasks.spawn(async move {
        let mut seen = rules_generation;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
            let a = Arc::clone(&app2);
            let moved = tokio::task::spawn_blocking(move || {
                let g = a.control.rules_generation()?;
                if g != seen {
                    let _ = a.reload_rules();
                }
                Ok::<_, leitstelle_control::ControlError>(g)
            })
            .await;
            match moved {
                Ok(Ok(g)) => seen = g,
                Ok(Err(e)) => tracing::warn!(error = %e, "reading the rules generation failed"),
                Err(e) => tracing::warn!(error = %e, "reading the rules generation failed"),
            }
        }
    });
    app.ready.store(true, Ordering::Release);
    Ok(Running {
        app,
        http_addr,
        syslog_addrs,
        credentials,
        replayed: started.replayed,
        shutdown,
        tasks,
        detector: Some(started.detector),
        indexer: Some(indexer),
    })
}

impl Running {
    /// Stops accepting, lets requests in flight finish, flushes the journal, waits for
    /// detection to process everything journaled, and returns.
    pub async fn shutdown(mut self) {
        self.app.ready.store(false, Ordering::Release);
        let _ = self.shutdown.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(std::time::Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            tracing::warn!("listeners did not stop within 30 s; stopping anyway");
            self.tasks.abort_all();
        }
        if let Err(e) = self.app.journal.close() {
            tracing::error!(error = %e, "closing the journal");
        }
        self.app.pipeline.stop();
        if let Some(d) = self.detector.take() {
            let _ = tokio::task::spawn_blocking(move || d.join()).await;
        }
        if let Some(mut i) = self.indexer.take() {
            let _ = tokio::task::spawn_blocking(move || i.stop()).await;
        }
    }
}
