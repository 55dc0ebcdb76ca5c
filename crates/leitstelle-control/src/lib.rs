//! The Leitstelle control plane: tenants, users, API tokens, alerts and dead letters, kept in
//! a SQLite database in the data directory (`control.db`).
//!
//! The server writes here from one place (the detection pipeline, through
//! [`Control::apply`]), so alert aggregation and the pipeline's position (`detect_seq`) change
//! in one transaction: after a crash the pipeline replays the journal from
//! [`Control::detect_seq`] and every event is counted in exactly one alert, once.
//!
//! Secrets are never stored: API tokens are random 256-bit values kept as their SHA-256
//! (a token has full entropy, so a slow hash buys nothing), passwords as `argon2id` hashes.
//!
//! Concurrency: one writer connection behind a mutex and a small pool of reader connections
//! (the database runs in WAL mode, so readers do not wait for the writer).
//!
//! Not yet: the PostgreSQL backend and the storage trait with its conformance suite (the SOC
//! desk issue); every method here is written so that trait can take it over unchanged.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

mod alerts;
mod auth;
mod schema;

pub use alerts::{
    Alert, AlertEvent, AlertFilter, AlertPage, Applied, DeadLetter, Detection,
    MAX_EVENTS_PER_ALERT, MatchedEvent, Status,
};
pub use auth::{Principal, Role, TOKEN_PREFIX, TokenInfo, User, random_password};

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
    #[error("database {path} has schema version {found}, newer than this program knows ({known})")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("no tenant named `{0}`")]
    NoTenant(String),
    #[error("a tenant named `{0}` exists already")]
    TenantExists(String),
    #[error("a user named `{0}` exists already")]
    UserExists(String),
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
}

pub type Result<T, E = ControlError> = std::result::Result<T, E>;

/// A tenant (a customer of a managed SOC, or the one organisation of an in-house SOC).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub created_ns: i64,
}

/// The control-plane database.
pub struct Control {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("path", &self.path).finish()
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
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Control> {
        let conn = schema::connect(path)?;
        schema::migrate(&conn, path)?;
        Ok(Control {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a write transaction, committed when `f` returns `Ok`.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a reader connection from the pool.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => schema::connect(&self.path)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Creates a tenant.
    pub fn create_tenant(&self, name: &str, now_ns: i64) -> Result<Tenant> {
        if !valid_name(name) {
            return Err(ControlError::InvalidName(name.into()));
        }
        self.write(|tx| {
            if tenant_by_name(tx, name)?.is_some() {
                return Err(ControlError::TenantExists(name.into()));
            }
            tx.execute(
                "INSERT INTO tenants (name, created_ns) VALUES (?1, ?2)",
                params![name, now_ns],
            )?;
            Ok(Tenant {
                id: tx.last_insert_rowid(),
                name: name.into(),
                created_ns: now_ns,
            })
        })
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, name, created_ns FROM tenants ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(Tenant {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_ns: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Result<Option<Tenant>> {
        self.read(|c| tenant_by_name(c, name))
    }

    /// The journal position up to which every event has been through detection (0: none).
    pub fn detect_seq(&self) -> Result<u64> {
        self.read(|c| {
            let v: Option<String> = c
                .query_row("SELECT value FROM meta WHERE key = 'detect_seq'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            match v {
                None => Ok(0),
                Some(s) => s.parse().map_err(|_| ControlError::Corrupt {
                    column: "meta.detect_seq",
                    detail: s,
                }),
            }
        })
    }
}

fn tenant_by_name(c: &Connection, name: &str) -> Result<Option<Tenant>> {
    Ok(c.query_row(
        "SELECT id, name, created_ns FROM tenants WHERE name = ?1",
        [name],
        |r| {
            Ok(Tenant {
                id: r.get(0)?,
                name: r.get(1)?,
                created_ns: r.get(2)?,
            })
        },
    )
    .optional()?)
}

fn tenant_id(c: &Connection, name: &str) -> Result<i64> {
    tenant_by_name(c, name)?
        .map(|t| t.id)
        .ok_or_else(|| ControlError::NoTenant(name.into()))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub struct TempDb {
        pub dir: PathBuf,
        pub control: Control,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub fn temp_db(name: &str) -> TempDb {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "leitstelle-control-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let control = Control::open(&dir.join("control.db")).expect("open");
        TempDb { dir, control }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::temp_db;
    use super::*;

    #[test]
    fn tenants_are_created_once_and_listed() {
        let db = temp_db("tenants");
        let c = &db.control;
        let a = c.create_tenant("acme", 1).expect("create");
        assert_eq!(a.name, "acme");
        assert!(matches!(
            c.create_tenant("acme", 2),
            Err(ControlError::TenantExists(_))
        ));
        assert!(matches!(
            c.create_tenant("bad name", 2),
            Err(ControlError::InvalidName(_))
        ));
        c.create_tenant("default", 3).expect("create");
        let names: Vec<_> = c
            .tenants()
            .expect("list")
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["acme", "default"]);
        assert_eq!(c.tenant("acme").expect("get"), Some(a));
        assert_eq!(c.tenant("nope").expect("get"), None);
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let db = temp_db("reopen");
        db.control.create_tenant("acme", 1).expect("create");
        let again = Control::open(db.control.path()).expect("reopen");
        assert_eq!(again.tenants().expect("list").len(), 1);
        assert_eq!(again.detect_seq().expect("seq"), 0);
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("acme-corp_1.eu"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
