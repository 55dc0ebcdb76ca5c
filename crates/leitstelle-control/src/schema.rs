//! Schema migrations for both backends, and SQLite connection setup.
//!
//! Each migration is written once, as a template: `{{id}}` is an auto-numbered primary key
//! (`INTEGER PRIMARY KEY` in SQLite, an identity column in PostgreSQL) and `{{blob}}` a byte
//! column (`BLOB` / `BYTEA`); everything else is SQL both understand, with `BIGINT` for
//! integers. SQLite counts applied migrations in `PRAGMA user_version`, PostgreSQL in the
//! table `leitstelle_schema` (under an advisory lock, so two servers starting together do not
//! both migrate).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::{ControlError, Result};

/// Each entry brings the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tenants (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    created_ns BIGINT NOT NULL
);
CREATE TABLE users (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, tenant_id, role)
);
CREATE TABLE tokens (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    revoked_ns BIGINT
);
CREATE TABLE alerts (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    level TEXT NOT NULL,
    level_rank BIGINT NOT NULL,
    tags TEXT NOT NULL,
    group_key TEXT NOT NULL,
    first_seen_ns BIGINT NOT NULL,
    last_seen_ns BIGINT NOT NULL,
    count BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);
CREATE INDEX alerts_group ON alerts (tenant_id, rule_id, group_key, status);
CREATE INDEX alerts_tenant ON alerts (tenant_id, id);
CREATE TABLE alert_events (
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    event_seq BIGINT NOT NULL,
    event_ns BIGINT,
    event TEXT NOT NULL,
    PRIMARY KEY (alert_id, event_seq)
);
CREATE TABLE dead_letters (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    seq BIGINT NOT NULL,
    received_ns BIGINT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw {{blob}} NOT NULL
);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, id);
"#,
    r#"
-- A provider tenant (a managed SOC) may search and see alerts of the tenants it is
-- contracted for.
CREATE TABLE tenant_scopes (
    provider_id BIGINT NOT NULL REFERENCES tenants(id),
    customer_id BIGINT NOT NULL REFERENCES tenants(id),
    created_ns BIGINT NOT NULL,
    PRIMARY KEY (provider_id, customer_id)
);
"#,
    r#"
-- The SOC desk: people, sessions, triage, SLAs, suppressions, cases, rules under change
-- control, the audit chain.
ALTER TABLE users ADD COLUMN tenant_id BIGINT REFERENCES tenants(id);
UPDATE users SET tenant_id = (SELECT min(r.tenant_id) FROM user_roles r WHERE r.user_id = users.id);
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until_ns BIGINT NOT NULL DEFAULT 0;
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    last_seen_ns BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

ALTER TABLE alerts ADD COLUMN assignee TEXT;
ALTER TABLE alerts ADD COLUMN verdict TEXT;
ALTER TABLE alerts ADD COLUMN reason TEXT;
ALTER TABLE alerts ADD COLUMN escalated_to TEXT;
ALTER TABLE alerts ADD COLUMN ack_ns BIGINT;
ALTER TABLE alerts ADD COLUMN escalated_ns BIGINT;
ALTER TABLE alerts ADD COLUMN closed_ns BIGINT;
ALTER TABLE alerts ADD COLUMN case_id BIGINT;
CREATE INDEX alerts_open ON alerts (tenant_id, status, level_rank);
CREATE TABLE alert_history (
    id {{id}},
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    at_ns BIGINT NOT NULL,
    actor TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    note TEXT NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, id);
CREATE TABLE alert_comments (
    id {{id}},
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    at_ns BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX alert_comments_alert ON alert_comments (alert_id, id);

CREATE TABLE sla_policies (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    level TEXT NOT NULL,
    ack_secs BIGINT NOT NULL,
    resolve_secs BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, level)
);
CREATE TABLE suppressions (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    rule_id TEXT,
    conditions TEXT NOT NULL,
    owner TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    removed_ns BIGINT,
    hits BIGINT NOT NULL DEFAULT 0,
    last_hit_ns BIGINT
);
CREATE INDEX suppressions_tenant ON suppressions (tenant_id, id);
CREATE TABLE tenant_desk (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    doc TEXT NOT NULL,
    updated_ns BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE cases (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    tlp TEXT NOT NULL,
    assignee TEXT,
    created_by TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL,
    closed_ns BIGINT,
    resolution TEXT
);
CREATE INDEX cases_tenant ON cases (tenant_id, id);
CREATE TABLE case_tasks (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    title TEXT NOT NULL,
    owner TEXT,
    state TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);
CREATE TABLE observables (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ns BIGINT NOT NULL
);
CREATE INDEX observables_value ON observables (kind, value);
CREATE TABLE case_comments (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    at_ns BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE case_timeline (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    at_ns BIGINT NOT NULL,
    actor TEXT NOT NULL,
    what TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX case_timeline_case ON case_timeline (case_id, id);
CREATE TABLE evidence (
    id {{id}},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content {{blob}} NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_ns BIGINT NOT NULL
);

CREATE TABLE rules (
    rule_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    version BIGINT NOT NULL,
    origin TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    yaml TEXT NOT NULL,
    upstream_yaml TEXT,
    updated_ns BIGINT NOT NULL
);
CREATE TABLE rule_versions (
    rule_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    yaml TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    origin TEXT NOT NULL,
    author TEXT NOT NULL,
    approver TEXT NOT NULL,
    change_id BIGINT,
    created_ns BIGINT NOT NULL,
    PRIMARY KEY (rule_id, version)
);
CREATE TABLE rule_changes (
    id {{id}},
    tenant_id BIGINT REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    base_version BIGINT,
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    status TEXT NOT NULL,
    reviewer TEXT,
    review_note TEXT,
    created_ns BIGINT NOT NULL,
    reviewed_ns BIGINT
);
CREATE INDEX rule_changes_status ON rule_changes (status, id);
CREATE TABLE rule_overlays (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    rule_id TEXT NOT NULL,
    enabled BIGINT,
    level TEXT,
    exceptions TEXT NOT NULL,
    updated_ns BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);

CREATE TABLE audit_log (
    chain BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at_ns BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE TABLE audit_heads (
    chain BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
"#,
    r#"
-- Saved hunts: a named query and time range, shared within a tenant, deleted by its owner.
CREATE TABLE saved_hunts (
    id {{id}},
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    time_from TEXT NOT NULL,
    time_to TEXT NOT NULL,
    created_ns BIGINT NOT NULL,
    updated_ns BIGINT NOT NULL
);
CREATE UNIQUE INDEX saved_hunts_owner_name ON saved_hunts (tenant_id, owner, name);
"#,
    r#"
-- The alert a detection joins is the newest open one of its tenant, rule and group key
-- (`ORDER BY id DESC LIMIT 1`). With `id` last in the index that is one index seek; with
-- `status` last, SQLite's planner chose `alerts_tenant` instead, to skip the sort, and read
-- every alert of the tenant for each detection.
DROP INDEX alerts_group;
CREATE INDEX alerts_key ON alerts (tenant_id, rule_id, group_key, id);
"#,
];

/// A migration for one dialect.
fn render(template: &str, postgres: bool) -> String {
    let (id, blob) = if postgres {
        (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "BYTEA",
        )
    } else {
        ("INTEGER PRIMARY KEY", "BLOB")
    };
    template.replace("{{id}}", id).replace("{{blob}}", blob)
}

pub(crate) fn sqlite_connect(path: &Path) -> Result<Connection> {
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

pub(crate) fn sqlite_migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(ControlError::TooNew {
            location: path.display().to_string(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {}; PRAGMA user_version = {}; COMMIT;",
            render(sql, false),
            i + 1
        ))?;
    }
    Ok(())
}

/// An arbitrary constant: the advisory lock held while migrating.
const PG_MIGRATION_LOCK: i64 = 0x4c53_5443_4f4e_5452;

pub(crate) fn pg_migrate(client: &mut postgres::Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PG_MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS leitstelle_schema (version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM leitstelle_schema", &[])? {
        Some(r) => r.get(0),
        None => {
            tx.execute("INSERT INTO leitstelle_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(ControlError::TooNew {
            location: "PostgreSQL database".into(),
            found: version,
            known,
        });
    }
    for sql in MIGRATIONS.iter().skip(version as usize) {
        tx.batch_execute(&render(sql, true))?;
    }
    tx.execute("UPDATE leitstelle_schema SET version = $1", &[&known])?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite has no statistics unless `ANALYZE` ran (the server never runs it), so the plan
    /// of the per-detection lookup must be good without them: with an index that ended in
    /// `status`, it read every alert of the tenant for each detection.
    #[test]
    fn the_open_alert_lookup_seeks_its_index_without_statistics() {
        let dir = std::env::temp_dir().join(format!("leitstelle-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("control.db");
        let conn = sqlite_connect(&path).expect("connect");
        sqlite_migrate(&conn, &path).expect("migrate");
        let sql = format!(
            "EXPLAIN QUERY PLAN {}",
            crate::db::sqlite_sql(crate::alerts::OPEN_ALERT_SQL)
        );
        let plan: Vec<String> = conn
            .prepare(&sql)
            .expect("prepare")
            .query_map((1i64, "rule", "host"), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<std::result::Result<_, _>>()
            .expect("rows");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            plan,
            ["SEARCH alerts USING INDEX alerts_key (tenant_id=? AND rule_id=? AND group_key=?)"],
            "no scan of the tenant's alerts and no sort"
        );
    }
}
