//! Connection setup and schema migrations (`PRAGMA user_version` counts the applied ones).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::{ControlError, Result};

/// Each entry brings the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ns INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id),
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, tenant_id, role)
);
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    revoked_ns INTEGER
);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level TEXT NOT NULL,
    level_rank INTEGER NOT NULL,
    tags TEXT NOT NULL,
    group_key TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    count INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX alerts_group ON alerts (tenant_id, rule_id, group_key, status);
CREATE INDEX alerts_tenant ON alerts (tenant_id, id);
CREATE TABLE alert_events (
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    event_seq INTEGER NOT NULL,
    event_ns INTEGER,
    event TEXT NOT NULL,
    PRIMARY KEY (alert_id, event_seq)
);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    seq INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, id);
"#,
    r#"
-- A provider tenant (a managed SOC) may search and see alerts of the tenants it is
-- contracted for.
CREATE TABLE tenant_scopes (
    provider_id INTEGER NOT NULL REFERENCES tenants(id),
    customer_id INTEGER NOT NULL REFERENCES tenants(id),
    created_ns INTEGER NOT NULL,
    PRIMARY KEY (provider_id, customer_id)
);
"#,
];

pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let open = |source| ControlError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(open)?;
    // WAL: readers do not block the writer. FULL: a committed token or alert survives a
    // power cut (the pipeline commits in batches, so the fsyncs stay few).
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open)?;
    Ok(conn)
}

pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(ControlError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}
