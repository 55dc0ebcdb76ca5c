//! The Leitstelle control plane: tenants, users, roles, sessions, API tokens, alerts and their
//! triage, cases, suppressions, rules under change control and the audit log, kept in SQLite
//! (`control.db` in the data directory) or PostgreSQL.
//!
//! The server writes here from one place (the detection pipeline, through
//! [`Control::apply`]), so alert aggregation and the pipeline's position (`detect_seq`) change
//! in one transaction: after a crash the pipeline replays the journal from
//! [`Control::detect_seq`] and every event is counted in exactly one alert, once.
//!
//! Secrets are never stored: API tokens are random 256-bit values kept as their SHA-256
//! (a token has full entropy, so a slow hash buys nothing), passwords as `argon2id` hashes.
//!
//! Two backends behind one trait ([`db::Backend`]): SQLite (embedded default) and
//! PostgreSQL. Every method is written once, against the trait; [`conformance`] is the suite
//! both pass.

use std::path::{Path, PathBuf};

mod alerts;
mod audit;
mod auth;
mod authz;
mod cases;
mod content;
pub mod db;
mod desk;
mod gate;
pub mod hunts;
mod schema;
pub mod stats;
mod triage;

pub use alerts::{
    Alert, AlertEvent, AlertFilter, AlertPage, Applied, DeadLetter, Detection,
    MAX_EVENTS_PER_ALERT, MatchedEvent, Status,
};
pub use audit::{AuditProblem, AuditRecord};
pub use auth::{
    LOCKOUT_NS, Login, MAX_FAILED_LOGINS, SESSION_NS, Session, TOKEN_PREFIX, TokenInfo, User,
    random_password,
};
pub use authz::{Perm, Principal, PrincipalKind, Role};
pub use cases::{
    CASE_STATUSES, Case, CaseUpdate, Evidence, MAX_EVIDENCE_BYTES, NewCase, OBSERVABLE_KINDS,
    Observable, Sighting, TASK_STATES, TLPS, Task, TimelineEntry, normalize_observable,
};
pub use content::{
    CHANGE_KINDS, ImportReport, Proposal, RuleChange, RuleChecker, RuleMeta, RuleVersion,
    StoredRule,
};
pub use desk::{Approval, Contact, Desk};
pub use gate::{
    Condition, Decision, Gate, MAX_SUPPRESSION_NS, NewSuppression, Overlay, Suppression,
};
pub use triage::{
    Comment, HistoryEntry, LEVELS, MAX_TEXT, SlaMap, SlaPolicy, SlaState, TriageAction,
    TriageFigures, TriageReport, Verdict, default_sla, level_rank, sla_of, sla_state,
};

use db::{Backend, Conn, params};

/// Errors of the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Pg(#[from] postgres::Error),
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error("invalid database URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error("{location} has schema version {found}, newer than this program knows ({known})")]
    TooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("no tenant named `{0}`")]
    NoTenant(String),
    #[error("a tenant named `{0}` exists already")]
    TenantExists(String),
    #[error("a user named `{0}` exists already")]
    UserExists(String),
    #[error("no user named `{0}`")]
    NoUser(String),
    #[error("invalid name `{0}`: use 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName(String),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("random number generator: {0}")]
    Random(String),
    #[error("corrupt value in column {column}: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    /// The caller lacks the permission (the API answers 403).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// No such object within the caller's scope (the API answers 404; an object of another
    /// tenant is reported exactly like one that does not exist).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is not valid in the object's current state (the API answers 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is malformed (the API answers 400).
    #[error("invalid: {0}")]
    Invalid(String),
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// A tenant (a customer of a managed SOC, or the one organisation of an in-house SOC).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub created_ns: i64,
}

/// The control-plane database, on one of the [`Backend`]s.
pub struct Control {
    backend: Box<dyn Backend>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("backend", &self.backend.name())
            .field("location", &self.backend.location())
            .finish()
    }
}

/// Whether a tenant, user or token label is acceptable: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Control {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Control> {
        Ok(Control::with_backend(Box::new(db::Sqlite::open(path)?)))
    }

    /// Connects to a PostgreSQL database and brings its schema up to date.
    pub fn connect(url: &str) -> Result<Control> {
        Ok(Control::with_backend(Box::new(db::Postgres::open(url)?)))
    }

    pub fn with_backend(backend: Box<dyn Backend>) -> Control {
        Control { backend }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Where the data is (the SQLite file, or the PostgreSQL URL without its password).
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Runs `f` in a write transaction, committed when `f` returns `Ok`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(true, f)
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.transaction(false, f)
    }

    /// A typed `FnOnce` through the backend's object-safe `FnMut` interface.
    fn transaction<T>(&self, write: bool, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut out = None;
        let mut run = |c: &mut dyn Conn| {
            if let Some(f) = f.take() {
                out = Some(f(c)?);
            }
            Ok(())
        };
        if write {
            self.backend.write(&mut run)?;
        } else {
            self.backend.read(&mut run)?;
        }
        out.ok_or_else(|| ControlError::Corrupt {
            column: "transaction",
            detail: "the transaction did not run".into(),
        })
    }

    /// Runs raw SQL in a write transaction: for tests that tamper with the data, and for
    /// operators' repairs. Not used by the product itself.
    pub fn execute_raw(&self, sql: &str, params: &[db::Val]) -> Result<u64> {
        self.write(|c| c.execute(sql, params))
    }

    /// Runs a raw query (see [`Control::execute_raw`]).
    pub fn query_raw(&self, sql: &str, params: &[db::Val]) -> Result<Vec<db::Row>> {
        self.read(|c| c.query(sql, params))
    }

    /// Creates a tenant.
    pub fn create_tenant(&self, name: &str, now_ns: i64) -> Result<Tenant> {
        if !valid_name(name) {
            return Err(ControlError::InvalidName(name.into()));
        }
        self.write(|c| {
            if tenant_by_name(c, name)?.is_some() {
                return Err(ControlError::TenantExists(name.into()));
            }
            let id = c.insert(
                "INSERT INTO tenants (name, created_ns) VALUES ($1, $2) RETURNING id",
                params![name, now_ns],
            )?;
            audit::append(
                c,
                id,
                now_ns,
                "system",
                "tenant.create",
                name,
                &serde_json::json!({}),
            )?;
            Ok(Tenant {
                id,
                name: name.into(),
                created_ns: now_ns,
            })
        })
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|c| {
            c.query(
                "SELECT id, name, created_ns FROM tenants ORDER BY name",
                &[],
            )?
            .iter()
            .map(tenant_row)
            .collect()
        })
    }

    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        self.read(|c| tenant_by_name(c, name))
    }

    /// The journal position up to which every event has been through detection (0: none).
    pub fn detect_seq(&self) -> Result<u64> {
        self.read(|c| {
            let v = c.query_opt("SELECT value FROM meta WHERE key = 'detect_seq'", &[])?;
            match v {
                None => Ok(0),
                Some(r) => {
                    let s = r.text(0)?;
                    s.parse().map_err(|_| ControlError::Corrupt {
                        column: "meta.detect_seq",
                        detail: s,
                    })
                }
            }
        })
    }
}

/// Adds one to a counter kept in `meta` (the generations the server watches).
pub(crate) fn bump_counter(c: &mut dyn Conn, key: &str) -> Result<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES ($1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
        params![key],
    )?;
    Ok(())
}

/// A counter kept in `meta` (0 until first bumped).
pub(crate) fn counter(c: &mut dyn Conn, key: &str) -> Result<i64> {
    Ok(
        c.query_opt("SELECT value FROM meta WHERE key = $1", params![key])?
            .map(|r| r.text(0))
            .transpose()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    )
}

fn tenant_row(r: &db::Row) -> Result<Tenant> {
    Ok(Tenant {
        id: r.int(0)?,
        name: r.text(1)?,
        created_ns: r.int(2)?,
    })
}

fn tenant_by_name(c: &mut dyn Conn, name: &str) -> Result<Option<Tenant>> {
    c.query_opt(
        "SELECT id, name, created_ns FROM tenants WHERE name = $1",
        params![name],
    )?
    .as_ref()
    .map(tenant_row)
    .transpose()
}

fn tenant_id(c: &mut dyn Conn, name: &str) -> Result<i64> {
    tenant_by_name(c, name)?
        .map(|t| t.id)
        .ok_or_else(|| ControlError::NoTenant(name.into()))
}

pub mod conformance;
