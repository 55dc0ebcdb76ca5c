//! The conformance suite every control-plane backend passes: each case gets a fresh, empty
//! database and checks the domain operations through the public API only. Run by
//! `tests/conformance.rs` on SQLite and on PostgreSQL; also used by the server's tests to
//! make scratch databases of either kind ([`temp_sqlite`], [`temp_postgres`]).
//!
//! Test support: failures panic with a message naming the case and backend.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use crate::Control;

mod basics;
mod desk;
mod hunts;
mod stats;

/// A named case.
pub type Case = (&'static str, fn(&Control));

/// Every case of the suite.
pub fn cases() -> Vec<Case> {
    let mut out = basics::cases();
    out.extend(desk::cases());
    out.extend(stats::cases());
    out.extend(hunts::cases());
    out
}

/// Runs every case against fresh databases from `open`.
pub fn run(backend: &str, open: &dyn Fn(&str) -> Scratch) {
    for (name, case) in cases() {
        eprintln!("conformance [{backend}]: {name}");
        let db = open(name);
        case(&db.control);
    }
}

/// A scratch database that is removed when dropped.
pub struct Scratch {
    pub control: Control,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl Drop for Scratch {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Cleanup::Schema { admin_url, schema } => {
                // On a thread of its own: the synchronous client must not run on a thread
                // that drives an async runtime.
                let (url, sql) = (
                    admin_url.clone(),
                    format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                );
                let _ = std::thread::spawn(move || {
                    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                        let _ = c.batch_execute(&sql);
                    }
                })
                .join();
            }
        }
    }
}

fn unique(name: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(24)
        .collect();
    format!("{clean}_{}_{n}", std::process::id())
}

/// A fresh SQLite database in a temporary directory.
pub fn temp_sqlite(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("leitstelle-control-{}", unique(name)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let control = Control::open(&dir.join("control.db")).expect("open SQLite");
    Scratch {
        control,
        cleanup: Cleanup::Dir(dir),
    }
}

/// The PostgreSQL server the tests use: `LEITSTELLE_TEST_DATABASE_URL`, by default the
/// local one (`host=127.0.0.1 user=postgres dbname=test`).
pub fn test_database_url() -> String {
    std::env::var("LEITSTELLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
}

/// Whether the PostgreSQL tests must run (CI sets `LEITSTELLE_REQUIRE_POSTGRES=1`, so an
/// unreachable server fails them instead of skipping them).
pub fn postgres_required() -> bool {
    std::env::var("LEITSTELLE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// The URL of a fresh schema on the test server, and the scratch guard that drops it; `None`
/// (after a loud note) when no server answers and the tests are not required.
pub fn temp_postgres_url(name: &str) -> Option<(String, Scratch)> {
    let admin = test_database_url();
    let mut client = match postgres::Client::connect(&admin, postgres::NoTls) {
        Ok(c) => c,
        Err(e) if !postgres_required() => {
            eprintln!(
                "SKIPPED (PostgreSQL): cannot connect to {admin}: {e}; set \
                 LEITSTELLE_TEST_DATABASE_URL, or LEITSTELLE_REQUIRE_POSTGRES=1 to fail instead"
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL is required but {admin} refused: {e}"),
    };
    let schema = format!("lst_{}", unique(name)).to_lowercase();
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let url = if admin.contains("://") {
        let sep = if admin.contains('?') { '&' } else { '?' };
        format!("{admin}{sep}options=-csearch_path%3D{schema}")
    } else {
        format!("{admin} options='-csearch_path={schema}'")
    };
    // The guard only drops the schema; the caller opens what it needs on the URL.
    let guard = Scratch {
        control: Control::connect(&url).expect("connect to the scratch schema"),
        cleanup: Cleanup::Schema {
            admin_url: admin,
            schema,
        },
    };
    Some((url, guard))
}

/// A fresh PostgreSQL schema, or `None` when no server answers (see [`temp_postgres_url`]).
pub fn temp_postgres(name: &str) -> Option<Scratch> {
    temp_postgres_url(name).map(|(_, s)| s)
}
