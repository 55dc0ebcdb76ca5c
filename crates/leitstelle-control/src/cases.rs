//! Cases (incidents): opened from alerts or by hand, with tasks, observables (and where else
//! they were seen), comments, a timeline of every change, evidence files, and a JSON export.

use serde_json::json;

use crate::alerts::alert_by_id;
use crate::audit::{append, chain_of};
use crate::auth::{require, sha256_hex};
use crate::authz::{Perm, Principal};
use crate::db::{Conn, Row, params};
use crate::triage::{Comment, check_text, history, level_rank};
use crate::{Control, ControlError, Result, tenant_id};

/// The largest evidence file accepted (64 MiB).
pub const MAX_EVIDENCE_BYTES: usize = 64 << 20;

/// Case states.
pub const CASE_STATUSES: [&str; 3] = ["open", "in_progress", "closed"];
/// Traffic Light Protocol 2.0 labels.
pub const TLPS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];
/// Task states.
pub const TASK_STATES: [&str; 4] = ["todo", "in_progress", "done", "cancelled"];
/// Observable kinds.
pub const OBSERVABLE_KINDS: [&str; 7] = ["ip", "domain", "url", "hash", "user", "host", "file"];

/// A case.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Case {
    pub id: i64,
    pub tenant: String,
    pub title: String,
    pub description: String,
    /// A Sigma level name.
    pub severity: String,
    /// `open`, `in_progress`, `closed`.
    pub status: String,
    pub tlp: String,
    pub assignee: Option<String>,
    pub created_by: String,
    pub created_ns: i64,
    pub updated_ns: i64,
    pub closed_ns: Option<i64>,
    pub resolution: Option<String>,
    /// The alerts merged into it.
    pub alerts: Vec<i64>,
}

/// What a new case starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub tenant: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Default: the most severe of its alerts, else `medium`.
    #[serde(default)]
    pub severity: Option<String>,
    /// Default `amber`.
    #[serde(default)]
    pub tlp: Option<String>,
    #[serde(default)]
    pub alerts: Vec<i64>,
}

/// Changes to a case's fields (absent: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub tlp: Option<String>,
    /// `""` unassigns.
    pub assignee: Option<String>,
    /// Required when closing.
    pub resolution: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub case_id: i64,
    pub title: String,
    pub owner: Option<String>,
    pub state: String,
    pub created_ns: i64,
    pub updated_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Observable {
    pub id: i64,
    pub case_id: i64,
    pub kind: String,
    /// Normalised (addresses canonical, domains, hashes, users and hosts lower case).
    pub value: String,
    pub note: String,
    pub created_by: String,
    pub created_ns: i64,
}

/// Where else an observable was seen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sighting {
    /// `case` or `alert`.
    pub kind: String,
    pub id: i64,
    pub tenant: String,
    pub title: String,
    pub at_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEntry {
    pub at_ns: i64,
    pub actor: String,
    pub what: String,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub id: i64,
    pub case_id: i64,
    pub name: String,
    pub sha256: String,
    pub size: i64,
    pub uploaded_by: String,
    pub uploaded_ns: i64,
}

/// Normalises an observable value, or says why it is not one.
pub fn normalize_observable(kind: &str, value: &str) -> Result<String> {
    let v = value.trim();
    let bad = |why: &str| Err(ControlError::Invalid(format!("{kind} `{v}`: {why}")));
    if v.is_empty() {
        return bad("empty");
    }
    if v.len() > 4096 {
        return bad("longer than 4096 bytes");
    }
    match kind {
        "ip" => match v.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(ip.to_string()),
            Err(_) => bad("not an IP address"),
        },
        "domain" => {
            let d = v.trim_end_matches('.').to_ascii_lowercase();
            if d.is_empty()
                || d.split('.').any(|l| {
                    l.is_empty()
                        || l.len() > 63
                        || !l
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
            {
                return bad("not a domain name");
            }
            Ok(d)
        }
        "hash" => {
            let h = v.to_ascii_lowercase();
            if ![32, 40, 64, 128].contains(&h.len()) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad("not an MD5, SHA-1, SHA-256 or SHA-512 hex digest");
            }
            Ok(h)
        }
        "url" => {
            if !v.contains("://") {
                return bad("not a URL (no scheme)");
            }
            Ok(v.to_string())
        }
        "user" | "host" => Ok(v.to_lowercase()),
        "file" => Ok(v.to_string()),
        _ => Err(ControlError::Invalid(format!(
            "unknown observable kind `{kind}` (one of {})",
            OBSERVABLE_KINDS.join(", ")
        ))),
    }
}

fn one_of(what: &str, v: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "unknown {what} `{v}` (one of {})",
            allowed.join(", ")
        )))
    }
}

const CASE_COLUMNS: &str = "c.id, t.name, c.title, c.description, c.severity, c.status, c.tlp,
    c.assignee, c.created_by, c.created_ns, c.updated_ns, c.closed_ns, c.resolution
    FROM cases c JOIN tenants t ON t.id = c.tenant_id";

fn case_row(c: &mut dyn Conn, r: &Row) -> Result<Case> {
    let id = r.int(0)?;
    let alerts = c
        .query(
            "SELECT id FROM alerts WHERE case_id = $1 ORDER BY id",
            params![id],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?;
    Ok(Case {
        id,
        tenant: r.text(1)?,
        title: r.text(2)?,
        description: r.text(3)?,
        severity: r.text(4)?,
        status: r.text(5)?,
        tlp: r.text(6)?,
        assignee: r.opt_text(7)?,
        created_by: r.text(8)?,
        created_ns: r.int(9)?,
        updated_ns: r.int(10)?,
        closed_ns: r.opt_int(11)?,
        resolution: r.opt_text(12)?,
        alerts,
    })
}

/// The case `id` if `who` may do `p` in its tenant (a case of another tenant is "not found").
fn case_for(c: &mut dyn Conn, who: &Principal, id: i64, p: Perm) -> Result<Case> {
    let row = c.query_opt(
        &format!("SELECT {CASE_COLUMNS} WHERE c.id = $1"),
        params![id],
    )?;
    let case = match row {
        Some(r) => case_row(c, &r)?,
        None => return Err(ControlError::NotFound(format!("case {id}"))),
    };
    if !who.can(Perm::ReadCases, &case.tenant) {
        return Err(ControlError::NotFound(format!("case {id}")));
    }
    require(who, p, &case.tenant)?;
    Ok(case)
}

fn timeline(
    c: &mut dyn Conn,
    case: &Case,
    who: &Principal,
    now_ns: i64,
    what: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let text = detail.to_string();
    c.execute(
        "INSERT INTO case_timeline (case_id, at_ns, actor, what, detail) VALUES ($1, $2, $3, $4, $5)",
        params![case.id, now_ns, who.actor(), what, &text],
    )?;
    c.execute(
        "UPDATE cases SET updated_ns = $2 WHERE id = $1",
        params![case.id, now_ns],
    )?;
    let chain = chain_of(c, &case.tenant)?;
    append(
        c,
        chain,
        now_ns,
        &who.actor(),
        &format!("case.{what}"),
        &case.id.to_string(),
        &detail,
    )
}

/// Merges alerts into a case (same tenant, readable by `who`).
fn merge_alerts(
    c: &mut dyn Conn,
    who: &Principal,
    case: &Case,
    ids: &[i64],
    now_ns: i64,
) -> Result<()> {
    for &id in ids {
        let a = alert_by_id(c, id)?
            .filter(|a| who.can(Perm::ReadAlerts, &a.tenant))
            .ok_or_else(|| ControlError::NotFound(format!("alert {id}")))?;
        if a.tenant != case.tenant {
            return Err(ControlError::Invalid(format!(
                "alert {id} belongs to another tenant than case {}",
                case.id
            )));
        }
        if a.case_id == Some(case.id) {
            continue;
        }
        let old = a.case_id.map(|c| c.to_string());
        history(
            c,
            id,
            now_ns,
            &who.actor(),
            "case",
            (old.as_deref(), Some(&case.id.to_string())),
            "",
        )?;
        c.execute(
            "UPDATE alerts SET case_id = $2, updated_ns = $3 WHERE id = $1",
            params![id, case.id, now_ns],
        )?;
        timeline(c, case, who, now_ns, "alert_merge", json!({"alert": id}))?;
    }
    Ok(())
}

impl Control {
    /// Opens a case (from alerts, or by hand). Needs `write cases` in the tenant.
    pub fn create_case(&self, who: &Principal, new: &NewCase, now_ns: i64) -> Result<Case> {
        require(who, Perm::WriteCases, &new.tenant)?;
        check_text("title", &new.title, true)?;
        check_text("description", &new.description, false)?;
        let tlp = new.tlp.clone().unwrap_or_else(|| "amber".into());
        one_of("TLP", &tlp, &TLPS)?;
        if let Some(s) = &new.severity
            && level_rank(s).is_none()
        {
            return Err(ControlError::Invalid(format!("unknown severity `{s}`")));
        }
        self.write(|c| {
            let tid = tenant_id(c, &new.tenant)?;
            let mut severity = new.severity.clone();
            if severity.is_none() {
                let mut worst: Option<(i64, String)> = None;
                for &id in &new.alerts {
                    if let Some(a) = alert_by_id(c, id)?
                        && let Some(r) = level_rank(&a.level)
                        && worst.as_ref().is_none_or(|w| r > w.0)
                    {
                        worst = Some((r, a.level));
                    }
                }
                severity = worst.map(|w| w.1);
            }
            let severity = severity.unwrap_or_else(|| "medium".into());
            let id = c.insert(
                "INSERT INTO cases (tenant_id, title, description, severity, status, tlp,
                   created_by, created_ns, updated_ns)
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7) RETURNING id",
                params![
                    tid,
                    new.title.trim(),
                    &new.description,
                    &severity,
                    &tlp,
                    who.actor(),
                    now_ns
                ],
            )?;
            let case = case_for(c, who, id, Perm::WriteCases)?;
            timeline(
                c,
                &case,
                who,
                now_ns,
                "create",
                json!({"title": case.title, "severity": severity, "tlp": tlp}),
            )?;
            merge_alerts(c, who, &case, &new.alerts, now_ns)?;
            case_for(c, who, id, Perm::ReadCases)
        })
    }

    /// Cases of `tenants` that `who` may read, newest first.
    pub fn cases(&self, who: &Principal, tenants: &[String], open_only: bool) -> Result<Vec<Case>> {
        self.read(|c| {
            let rows = c.query(&format!("SELECT {CASE_COLUMNS} ORDER BY c.id DESC"), &[])?;
            let mut out = Vec::new();
            for r in rows {
                let tenant = r.text(1)?;
                if !tenants.contains(&tenant) || !who.can(Perm::ReadCases, &tenant) {
                    continue;
                }
                if open_only && r.text(5)? == "closed" {
                    continue;
                }
                out.push(case_row(c, &r)?);
            }
            Ok(out)
        })
    }

    /// One case.
    pub fn case(&self, who: &Principal, id: i64) -> Result<Case> {
        self.read(|c| case_for(c, who, id, Perm::ReadCases))
    }

    /// Changes a case's fields; closing needs a resolution.
    pub fn update_case(
        &self,
        who: &Principal,
        id: i64,
        u: &CaseUpdate,
        now_ns: i64,
    ) -> Result<Case> {
        self.write(|c| {
            let case = case_for(c, who, id, Perm::WriteCases)?;
            let mut changes = serde_json::Map::new();
            let mut set = |c: &mut dyn Conn, col: &str, v: Option<&str>| -> Result<()> {
                c.execute(
                    &format!("UPDATE cases SET {col} = $2 WHERE id = $1"),
                    params![id, v],
                )?;
                changes.insert(col.to_string(), json!(v));
                Ok(())
            };
            if let Some(t) = &u.title {
                check_text("title", t, true)?;
                set(c, "title", Some(t.trim()))?;
            }
            if let Some(d) = &u.description {
                check_text("description", d, false)?;
                set(c, "description", Some(d))?;
            }
            if let Some(s) = &u.severity {
                if level_rank(s).is_none() {
                    return Err(ControlError::Invalid(format!("unknown severity `{s}`")));
                }
                set(c, "severity", Some(s))?;
            }
            if let Some(t) = &u.tlp {
                one_of("TLP", t, &TLPS)?;
                set(c, "tlp", Some(t))?;
            }
            if let Some(a) = &u.assignee {
                let a = a.trim();
                if a.is_empty() {
                    set(c, "assignee", None)?;
                } else {
                    let ok = match c.query_opt(
                        "SELECT id FROM users WHERE name = $1 AND disabled = 0",
                        params![a],
                    )? {
                        Some(r) => crate::auth::principal_by_id(c, r.int(0)?)?
                            .is_some_and(|p| p.can(Perm::WriteCases, &case.tenant)),
                        None => false,
                    };
                    if !ok {
                        return Err(ControlError::Invalid(format!(
                            "`{a}` is not a user who can work cases of tenant `{}`",
                            case.tenant
                        )));
                    }
                    set(c, "assignee", Some(a))?;
                }
            }
            if let Some(r) = &u.resolution {
                check_text("resolution", r, false)?;
                set(c, "resolution", Some(r))?;
            }
            if let Some(s) = &u.status {
                one_of("status", s, &CASE_STATUSES)?;
                if s == "closed" {
                    let resolution = u.resolution.as_deref().or(case.resolution.as_deref());
                    if resolution.is_none_or(|r| r.trim().is_empty()) {
                        return Err(ControlError::Invalid(
                            "closing a case needs a resolution".into(),
                        ));
                    }
                    c.execute(
                        "UPDATE cases SET closed_ns = $2 WHERE id = $1",
                        params![id, now_ns],
                    )?;
                } else {
                    c.execute(
                        "UPDATE cases SET closed_ns = NULL WHERE id = $1",
                        params![id],
                    )?;
                }
                set(c, "status", Some(s))?;
            }
            if changes.is_empty() {
                return Ok(case);
            }
            timeline(
                c,
                &case,
                who,
                now_ns,
                "update",
                serde_json::Value::Object(changes),
            )?;
            case_for(c, who, id, Perm::ReadCases)
        })
    }

    /// Merges alerts into a case.
    pub fn add_case_alerts(
        &self,
        who: &Principal,
        id: i64,
        alerts: &[i64],
        now_ns: i64,
    ) -> Result<Case> {
        self.write(|c| {
            let case = case_for(c, who, id, Perm::WriteCases)?;
            merge_alerts(c, who, &case, alerts, now_ns)?;
            case_for(c, who, id, Perm::ReadCases)
        })
    }

    /// Adds a task.
    pub fn add_task(
        &self,
        who: &Principal,
        case_id: i64,
        title: &str,
        owner: Option<&str>,
        now_ns: i64,
    ) -> Result<Task> {
        check_text("title", title, true)?;
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::WriteCases)?;
            let id = c.insert(
                "INSERT INTO case_tasks (case_id, title, owner, state, created_ns, updated_ns)
                 VALUES ($1, $2, $3, 'todo', $4, $4) RETURNING id",
                params![case_id, title.trim(), owner, now_ns],
            )?;
            timeline(
                c,
                &case,
                who,
                now_ns,
                "task_add",
                json!({"task": id, "title": title.trim(), "owner": owner}),
            )?;
            task(c, case_id, id)
        })
    }

    /// Changes a task's state and/or owner.
    pub fn update_task(
        &self,
        who: &Principal,
        case_id: i64,
        task_id: i64,
        state: Option<&str>,
        owner: Option<Option<&str>>,
        now_ns: i64,
    ) -> Result<Task> {
        if let Some(s) = state {
            one_of("task state", s, &TASK_STATES)?;
        }
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::WriteCases)?;
            let before = task(c, case_id, task_id)?;
            if let Some(s) = state {
                c.execute(
                    "UPDATE case_tasks SET state = $2, updated_ns = $3 WHERE id = $1",
                    params![task_id, s, now_ns],
                )?;
            }
            if let Some(o) = owner {
                c.execute(
                    "UPDATE case_tasks SET owner = $2, updated_ns = $3 WHERE id = $1",
                    params![task_id, o, now_ns],
                )?;
            }
            timeline(
                c,
                &case,
                who,
                now_ns,
                "task_update",
                json!({"task": task_id, "from": before.state, "state": state, "owner": owner}),
            )?;
            task(c, case_id, task_id)
        })
    }

    /// A case's tasks.
    pub fn tasks(&self, who: &Principal, case_id: i64) -> Result<Vec<Task>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            c.query(
                "SELECT id, case_id, title, owner, state, created_ns, updated_ns FROM case_tasks
                 WHERE case_id = $1 ORDER BY id",
                params![case_id],
            )?
            .iter()
            .map(task_row)
            .collect()
        })
    }

    /// Adds an observable (normalised; a duplicate of one already on the case is refused).
    pub fn add_observable(
        &self,
        who: &Principal,
        case_id: i64,
        kind: &str,
        value: &str,
        note: &str,
        now_ns: i64,
    ) -> Result<Observable> {
        let value = normalize_observable(kind, value)?;
        check_text("note", note, false)?;
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::WriteCases)?;
            if c.query_opt(
                "SELECT id FROM observables WHERE case_id = $1 AND kind = $2 AND value = $3",
                params![case_id, kind, &value],
            )?
            .is_some()
            {
                return Err(ControlError::Conflict(format!(
                    "{kind} `{value}` is already on case {case_id}"
                )));
            }
            let tid = tenant_id(c, &case.tenant)?;
            let id = c.insert(
                "INSERT INTO observables (case_id, tenant_id, kind, value, note, created_by,
                   created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                params![case_id, tid, kind, &value, note, who.actor(), now_ns],
            )?;
            timeline(
                c,
                &case,
                who,
                now_ns,
                "observable_add",
                json!({"observable": id, "kind": kind, "value": value}),
            )?;
            Ok(Observable {
                id,
                case_id,
                kind: kind.into(),
                value,
                note: note.into(),
                created_by: who.actor(),
                created_ns: now_ns,
            })
        })
    }

    /// A case's observables.
    pub fn observables(&self, who: &Principal, case_id: i64) -> Result<Vec<Observable>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            c.query(
                "SELECT id, case_id, kind, value, note, created_by, created_ns FROM observables
                 WHERE case_id = $1 ORDER BY id",
                params![case_id],
            )?
            .iter()
            .map(|r| {
                Ok(Observable {
                    id: r.int(0)?,
                    case_id: r.int(1)?,
                    kind: r.text(2)?,
                    value: r.text(3)?,
                    note: r.text(4)?,
                    created_by: r.text(5)?,
                    created_ns: r.int(6)?,
                })
            })
            .collect()
        })
    }

    /// Where else an observable of this case was seen: other cases with the same one, and
    /// alerts whose kept events contain its value, within what `who` may read (any tenant of
    /// its scope).
    pub fn sightings(
        &self,
        who: &Principal,
        case_id: i64,
        observable_id: i64,
    ) -> Result<Vec<Sighting>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            let o = c
                .query_opt(
                    "SELECT kind, value FROM observables WHERE id = $1 AND case_id = $2",
                    params![observable_id, case_id],
                )?
                .ok_or_else(|| ControlError::NotFound(format!("observable {observable_id}")))?;
            let (kind, value) = (o.text(0)?, o.text(1)?);
            let mut out = Vec::new();
            for r in c.query(
                "SELECT c.id, t.name, c.title, o.created_ns FROM observables o
                 JOIN cases c ON c.id = o.case_id JOIN tenants t ON t.id = c.tenant_id
                 WHERE o.kind = $1 AND o.value = $2 AND o.case_id != $3 ORDER BY c.id",
                params![&kind, &value, case_id],
            )? {
                let tenant = r.text(1)?;
                if who.can(Perm::ReadCases, &tenant) {
                    out.push(Sighting {
                        kind: "case".into(),
                        id: r.int(0)?,
                        tenant,
                        title: r.text(2)?,
                        at_ns: r.int(3)?,
                    });
                }
            }
            let find = if c.is_postgres() { "strpos" } else { "instr" };
            for r in c.query(
                &format!(
                    "SELECT DISTINCT a.id, t.name, a.rule_title, a.last_seen_ns FROM alert_events e
                     JOIN alerts a ON a.id = e.alert_id JOIN tenants t ON t.id = a.tenant_id
                     WHERE {find}(lower(e.event), $1) > 0 ORDER BY a.id DESC LIMIT 200"
                ),
                params![value.to_lowercase()],
            )? {
                let tenant = r.text(1)?;
                if who.can(Perm::ReadAlerts, &tenant) {
                    out.push(Sighting {
                        kind: "alert".into(),
                        id: r.int(0)?,
                        tenant,
                        title: r.text(2)?,
                        at_ns: r.int(3)?,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Comments on a case.
    pub fn add_case_comment(
        &self,
        who: &Principal,
        case_id: i64,
        body: &str,
        now_ns: i64,
    ) -> Result<Comment> {
        check_text("comment", body, true)?;
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::WriteCases)?;
            let id = c.insert(
                "INSERT INTO case_comments (case_id, at_ns, author, body) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                params![case_id, now_ns, who.actor(), body],
            )?;
            timeline(c, &case, who, now_ns, "comment", json!({"comment": id}))?;
            Ok(Comment {
                id,
                at_ns: now_ns,
                author: who.actor(),
                body: body.into(),
            })
        })
    }

    pub fn case_comments(&self, who: &Principal, case_id: i64) -> Result<Vec<Comment>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            crate::triage::comments(c, "case_comments", "case_id", case_id)
        })
    }

    /// A case's timeline, oldest first.
    pub fn case_timeline(&self, who: &Principal, case_id: i64) -> Result<Vec<TimelineEntry>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            c.query(
                "SELECT at_ns, actor, what, detail FROM case_timeline WHERE case_id = $1
                 ORDER BY id",
                params![case_id],
            )?
            .iter()
            .map(|r| {
                Ok(TimelineEntry {
                    at_ns: r.int(0)?,
                    actor: r.text(1)?,
                    what: r.text(2)?,
                    detail: serde_json::from_str(&r.text(3)?).unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    /// Stores an evidence file with its SHA-256 and size.
    pub fn add_evidence(
        &self,
        who: &Principal,
        case_id: i64,
        name: &str,
        content: &[u8],
        now_ns: i64,
    ) -> Result<Evidence> {
        let name = name.trim();
        if name.is_empty() || name.len() > 255 || name.contains(['/', '\\', '\0']) {
            return Err(ControlError::Invalid(
                "an evidence file needs a name of 1 to 255 bytes without path separators".into(),
            ));
        }
        if content.len() > MAX_EVIDENCE_BYTES {
            return Err(ControlError::Invalid(format!(
                "evidence files are limited to {MAX_EVIDENCE_BYTES} bytes"
            )));
        }
        let sha256 = sha256_hex(content);
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::WriteCases)?;
            let id = c.insert(
                "INSERT INTO evidence (case_id, name, sha256, size, content, uploaded_by,
                   uploaded_ns) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                params![
                    case_id,
                    name,
                    &sha256,
                    content.len() as i64,
                    content,
                    who.actor(),
                    now_ns
                ],
            )?;
            timeline(
                c,
                &case,
                who,
                now_ns,
                "evidence_add",
                json!({"evidence": id, "name": name, "sha256": sha256, "size": content.len()}),
            )?;
            Ok(Evidence {
                id,
                case_id,
                name: name.into(),
                sha256: sha256.clone(),
                size: content.len() as i64,
                uploaded_by: who.actor(),
                uploaded_ns: now_ns,
            })
        })
    }

    /// A case's evidence files (without their content).
    pub fn evidence(&self, who: &Principal, case_id: i64) -> Result<Vec<Evidence>> {
        self.read(|c| {
            case_for(c, who, case_id, Perm::ReadCases)?;
            c.query(
                "SELECT id, case_id, name, sha256, size, uploaded_by, uploaded_ns FROM evidence
                 WHERE case_id = $1 ORDER BY id",
                params![case_id],
            )?
            .iter()
            .map(evidence_row)
            .collect()
        })
    }

    /// One evidence file with its content; the download is audited.
    pub fn evidence_content(
        &self,
        who: &Principal,
        case_id: i64,
        evidence_id: i64,
        now_ns: i64,
    ) -> Result<(Evidence, Vec<u8>)> {
        self.write(|c| {
            let case = case_for(c, who, case_id, Perm::ReadCases)?;
            let r = c
                .query_opt(
                    "SELECT id, case_id, name, sha256, size, uploaded_by, uploaded_ns, content
                     FROM evidence WHERE id = $1 AND case_id = $2",
                    params![evidence_id, case_id],
                )?
                .ok_or_else(|| ControlError::NotFound(format!("evidence {evidence_id}")))?;
            let chain = chain_of(c, &case.tenant)?;
            append(
                c,
                chain,
                now_ns,
                &who.actor(),
                "evidence.download",
                &evidence_id.to_string(),
                &json!({"case": case_id}),
            )?;
            Ok((evidence_row(&r)?, r.blob(7)?))
        })
    }

    /// The whole case as one JSON document (evidence by name, hash and size); audited.
    pub fn export_case(&self, who: &Principal, id: i64, now_ns: i64) -> Result<serde_json::Value> {
        let case = self.case(who, id)?;
        let doc = json!({
            "case": case,
            "tasks": self.tasks(who, id)?,
            "observables": self.observables(who, id)?,
            "comments": self.case_comments(who, id)?,
            "timeline": self.case_timeline(who, id)?,
            "evidence": self.evidence(who, id)?,
            "alerts": case.alerts.iter().filter_map(|a| {
                self.alert(&who.scope_for(Perm::ReadAlerts), *a).ok().flatten().map(|(a, _)| a)
            }).collect::<Vec<_>>(),
            "exported_ns": now_ns,
            "exported_by": who.actor(),
        });
        self.audit(
            Some(&case.tenant),
            now_ns,
            &who.actor(),
            "case.export",
            &id.to_string(),
            &json!({}),
        )?;
        Ok(doc)
    }
}

fn task_row(r: &Row) -> Result<Task> {
    Ok(Task {
        id: r.int(0)?,
        case_id: r.int(1)?,
        title: r.text(2)?,
        owner: r.opt_text(3)?,
        state: r.text(4)?,
        created_ns: r.int(5)?,
        updated_ns: r.int(6)?,
    })
}

fn task(c: &mut dyn Conn, case_id: i64, id: i64) -> Result<Task> {
    c.query_opt(
        "SELECT id, case_id, title, owner, state, created_ns, updated_ns FROM case_tasks
         WHERE id = $1 AND case_id = $2",
        params![id, case_id],
    )?
    .as_ref()
    .map(task_row)
    .transpose()?
    .ok_or_else(|| ControlError::NotFound(format!("task {id}")))
}

fn evidence_row(r: &Row) -> Result<Evidence> {
    Ok(Evidence {
        id: r.int(0)?,
        case_id: r.int(1)?,
        name: r.text(2)?,
        sha256: r.text(3)?,
        size: r.int(4)?,
        uploaded_by: r.text(5)?,
        uploaded_ns: r.int(6)?,
    })
}
