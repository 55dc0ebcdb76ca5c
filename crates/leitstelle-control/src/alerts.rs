//! Alerts raised by detection, and dead letters (input that could not be parsed).

use serde_json::json;

use crate::audit::append;
use crate::db::{Conn, Row, Val, params};
use crate::{Control, ControlError, Result, tenant_id};

/// At most this many matched events are kept with one alert (its count goes on).
pub const MAX_EVENTS_PER_ALERT: i64 = 100;

/// Where an alert is in triage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    InProgress,
    Escalated,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Escalated => "escalated",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "new" => Status::New,
            "acknowledged" => Status::Acknowledged,
            "in_progress" => Status::InProgress,
            "escalated" => Status::Escalated,
            "closed" => Status::Closed,
            _ => return None,
        })
    }
}

/// Matches of one rule with one grouping key, as the pipeline reports them: one or more
/// events (the pipeline folds the matches of a batch into one `Detection` per key).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub tenant: String,
    pub rule_id: String,
    pub rule_title: String,
    /// Sigma level name (`informational` … `critical`).
    pub level: String,
    /// Its rank, for filtering and sorting (higher is more severe).
    pub level_rank: i64,
    pub tags: Vec<String>,
    /// What makes repeated matches the same alert (for example the host name).
    pub group_key: String,
    /// How many events matched.
    pub count: i64,
    /// When the first and last of them happened (their own time, else when received).
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    /// Some of the matched events, to keep with the alert (kept while it holds fewer than
    /// [`MAX_EVENTS_PER_ALERT`]).
    pub events: Vec<MatchedEvent>,
}

/// A matched event as kept with an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedEvent {
    /// The event's journal sequence number: its id.
    pub seq: u64,
    pub seen_ns: i64,
    /// The event document (JSON text: tree, raw, metadata).
    pub event: String,
}

/// Input kept because it could not be parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub tenant: String,
    pub seq: u64,
    pub received_ns: i64,
    /// Which intake it came through (for example `http`, `syslog-udp`).
    pub source: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// What [`Control::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Alerts raised.
    pub created: Vec<i64>,
    /// Alerts that absorbed a repeated match.
    pub updated: Vec<i64>,
    /// Alerts raised per tenant.
    pub created_per_tenant: std::collections::BTreeMap<String, u64>,
    pub dead_letters: usize,
}

/// An alert.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Alert {
    pub id: i64,
    pub tenant: String,
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub tags: Vec<String>,
    pub group_key: String,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    pub count: i64,
    pub status: Status,
    pub created_ns: i64,
    pub updated_ns: i64,
    /// The analyst working it.
    pub assignee: Option<String>,
    /// Set when closed: `true_positive`, `benign` or `false_positive`.
    pub verdict: Option<String>,
    /// Why it was closed (or reopened).
    pub reason: Option<String>,
    /// The team it was escalated to (from the tenant's responsibility matrix).
    pub escalated_to: Option<String>,
    /// When it first left `new`.
    pub ack_ns: Option<i64>,
    /// When it was (last) escalated.
    pub escalated_ns: Option<i64>,
    /// When it was (last) closed.
    pub closed_ns: Option<i64>,
    /// The case it belongs to.
    pub case_id: Option<i64>,
}

/// A matched event kept with an alert.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlertEvent {
    pub seq: u64,
    pub seen_ns: Option<i64>,
    pub event: serde_json::Value,
}

/// Which alerts to list. `tenants` is the caller's scope: alerts of other tenants are never
/// returned, and an empty scope returns nothing.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub tenants: Vec<String>,
    pub status: Option<Status>,
    /// Only alerts at least this severe (level rank).
    pub min_level_rank: Option<i64>,
    pub rule_id: Option<String>,
    /// Only alerts not closed.
    pub open_only: bool,
    /// Only alerts assigned to this user.
    pub assignee: Option<String>,
    /// Alerts seen at or after this time (their last match).
    pub from_ns: Option<i64>,
    /// Alerts seen before this time (their first match).
    pub to_ns: Option<i64>,
    /// Page size (1 to 1000; default 100).
    pub limit: Option<u32>,
    /// Paging: only alerts with a smaller id than this (the previous page's `next`).
    pub before_id: Option<i64>,
}

/// One page of alerts, newest first.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// Pass as `before_id` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

pub(crate) const ALERT_COLUMNS: &str = "a.id, t.name, a.rule_id, a.rule_title, a.level, a.tags,
     a.group_key, a.first_seen_ns, a.last_seen_ns, a.count, a.status, a.created_ns, a.updated_ns,
     a.assignee, a.verdict, a.reason, a.escalated_to, a.ack_ns, a.escalated_ns, a.closed_ns,
     a.case_id";

pub(crate) fn alert_row(r: &Row) -> Result<Alert> {
    let tags = r.text(5)?;
    let status = r.text(10)?;
    Ok(Alert {
        id: r.int(0)?,
        tenant: r.text(1)?,
        rule_id: r.text(2)?,
        rule_title: r.text(3)?,
        level: r.text(4)?,
        tags: serde_json::from_str(&tags).map_err(|e| ControlError::Corrupt {
            column: "alerts.tags",
            detail: e.to_string(),
        })?,
        group_key: r.text(6)?,
        first_seen_ns: r.int(7)?,
        last_seen_ns: r.int(8)?,
        count: r.int(9)?,
        status: Status::parse(&status).ok_or(ControlError::Corrupt {
            column: "alerts.status",
            detail: status,
        })?,
        created_ns: r.int(11)?,
        updated_ns: r.int(12)?,
        assignee: r.opt_text(13)?,
        verdict: r.opt_text(14)?,
        reason: r.opt_text(15)?,
        escalated_to: r.opt_text(16)?,
        ack_ns: r.opt_int(17)?,
        escalated_ns: r.opt_int(18)?,
        closed_ns: r.opt_int(19)?,
        case_id: r.opt_int(20)?,
    })
}

/// One alert by id (any tenant: callers check the scope).
pub(crate) fn alert_by_id(c: &mut dyn Conn, id: i64) -> Result<Option<Alert>> {
    c.query_opt(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts a JOIN tenants t ON t.id = a.tenant_id WHERE a.id = $1"),
        params![id],
    )?
    .as_ref()
    .map(alert_row)
    .transpose()
}

/// The alert a detection joins: the newest open one of its tenant, rule and group key (one
/// seek in the index `alerts_key`).
pub(crate) const OPEN_ALERT_SQL: &str = "SELECT id, last_seen_ns, count FROM alerts
     WHERE tenant_id = $1 AND rule_id = $2 AND group_key = $3 AND status != 'closed'
     ORDER BY id DESC LIMIT 1";

impl Control {
    /// Records a batch of detections and dead letters, and that every journal record up to
    /// `detect_seq` has been through detection, in one transaction. `suppressed` counts
    /// matches that suppressions held back, by suppression id.
    ///
    /// A detection joins the newest open (not closed) alert of the same tenant, rule and
    /// group key whose last match is at most `window_ns` before the detection's first match
    /// (count and first/last seen updated, events kept while the alert holds fewer than
    /// [`MAX_EVENTS_PER_ALERT`]); otherwise it raises a new alert with status `new`.
    pub fn apply(
        &self,
        detections: &[Detection],
        dead: &[DeadLetter],
        suppressed: &[(i64, i64)],
        window_ns: i64,
        detect_seq: u64,
        now_ns: i64,
    ) -> Result<Applied> {
        self.apply_rendering(
            detections,
            dead,
            suppressed,
            window_ns,
            detect_seq,
            now_ns,
            &mut |e| e.event.clone(),
        )
    }

    /// [`Control::apply`], with the documents of matched events made only for the events an
    /// alert keeps: `render` gives the document of such an event (its `event` text may be
    /// left empty by the caller, which saves building documents that an alert already
    /// holding [`MAX_EVENTS_PER_ALERT`] events would drop).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_rendering(
        &self,
        detections: &[Detection],
        dead: &[DeadLetter],
        suppressed: &[(i64, i64)],
        window_ns: i64,
        detect_seq: u64,
        now_ns: i64,
        render: &mut dyn FnMut(&MatchedEvent) -> String,
    ) -> Result<Applied> {
        self.write(|c| {
            let mut applied = Applied::default();
            let mut tenants = std::collections::HashMap::<String, i64>::new();
            let mut tid = |c: &mut dyn Conn, name: &str| -> Result<i64> {
                if let Some(id) = tenants.get(name) {
                    return Ok(*id);
                }
                let id = tenant_id(c, name)?;
                tenants.insert(name.to_string(), id);
                Ok(id)
            };
            for d in detections {
                let t = tid(c, &d.tenant)?;
                let open = c.query_opt(OPEN_ALERT_SQL, params![t, &d.rule_id, &d.group_key])?;
                let open = match open {
                    Some(r) => Some((r.int(0)?, r.int(1)?, r.int(2)?)),
                    None => None,
                };
                match open {
                    Some((id, last, count))
                        if d.first_seen_ns.saturating_sub(last) <= window_ns =>
                    {
                        c.execute(
                            "UPDATE alerts SET count = count + $2,
                               first_seen_ns = CASE WHEN first_seen_ns < $3
                                 THEN first_seen_ns ELSE $3 END,
                               last_seen_ns = CASE WHEN last_seen_ns > $4
                                 THEN last_seen_ns ELSE $4 END,
                               updated_ns = $5
                             WHERE id = $1",
                            params![id, d.count, d.first_seen_ns, d.last_seen_ns, now_ns],
                        )?;
                        insert_events(c, id, d, count, render)?;
                        if !applied.created.contains(&id) && !applied.updated.contains(&id) {
                            applied.updated.push(id);
                        }
                    }
                    _ => {
                        let tags =
                            serde_json::to_string(&d.tags).map_err(|e| ControlError::Corrupt {
                                column: "alerts.tags",
                                detail: e.to_string(),
                            })?;
                        let id = c.insert(
                            "INSERT INTO alerts (tenant_id, rule_id, rule_title, level,
                               level_rank, tags, group_key, first_seen_ns, last_seen_ns, count,
                               status, created_ns, updated_ns)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'new', $11, $11)
                             RETURNING id",
                            params![
                                t,
                                &d.rule_id,
                                &d.rule_title,
                                &d.level,
                                d.level_rank,
                                tags,
                                &d.group_key,
                                d.first_seen_ns,
                                d.last_seen_ns,
                                d.count,
                                now_ns
                            ],
                        )?;
                        insert_events(c, id, d, 0, render)?;
                        append(
                            c,
                            t,
                            now_ns,
                            "system",
                            "alert.raise",
                            &id.to_string(),
                            &json!({"rule_id": d.rule_id, "level": d.level, "group": d.group_key}),
                        )?;
                        applied.created.push(id);
                        *applied
                            .created_per_tenant
                            .entry(d.tenant.clone())
                            .or_default() += 1;
                    }
                }
            }
            for l in dead {
                let t = tid(c, &l.tenant)?;
                c.execute(
                    "INSERT INTO dead_letters (tenant_id, seq, received_ns, source, reason, raw)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    params![
                        t,
                        l.seq as i64,
                        l.received_ns,
                        &l.source,
                        &l.reason,
                        l.raw.as_slice()
                    ],
                )?;
                applied.dead_letters += 1;
            }
            for (id, n) in suppressed {
                c.execute(
                    "UPDATE suppressions SET hits = hits + $2, last_hit_ns = $3 WHERE id = $1",
                    params![*id, *n, now_ns],
                )?;
            }
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('detect_seq', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![detect_seq.to_string()],
            )?;
            Ok(applied)
        })
    }

    /// A page of alerts, newest first.
    pub fn alerts(&self, f: &AlertFilter) -> Result<AlertPage> {
        if f.tenants.is_empty() {
            return Ok(AlertPage {
                alerts: Vec::new(),
                next: None,
            });
        }
        let limit = i64::from(f.limit.unwrap_or(100).clamp(1, 1000));
        let mut args: Vec<Val> = Vec::new();
        let mut list = Vec::new();
        for t in &f.tenants {
            args.push(t.into());
            list.push(format!("${}", args.len()));
        }
        let mut sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE t.name IN ({})",
            list.join(", ")
        );
        let mut cond = |clause: &str, v: Val| {
            args.push(v);
            sql.push_str(" AND ");
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(s) = f.status {
            cond("a.status = ?", s.as_str().into());
        }
        if f.open_only {
            cond("a.status != ?", "closed".into());
        }
        if let Some(r) = f.min_level_rank {
            cond("a.level_rank >= ?", r.into());
        }
        if let Some(r) = &f.rule_id {
            cond("a.rule_id = ?", r.into());
        }
        if let Some(r) = &f.assignee {
            cond("a.assignee = ?", r.into());
        }
        if let Some(t) = f.from_ns {
            cond("a.last_seen_ns >= ?", t.into());
        }
        if let Some(t) = f.to_ns {
            cond("a.first_seen_ns < ?", t.into());
        }
        if let Some(b) = f.before_id {
            cond("a.id < ?", b.into());
        }
        args.push((limit + 1).into());
        sql.push_str(&format!(" ORDER BY a.id DESC LIMIT ${}", args.len()));
        self.read(|c| {
            let mut alerts = c
                .query(&sql, &args)?
                .iter()
                .map(alert_row)
                .collect::<Result<Vec<_>>>()?;
            let next = if alerts.len() as i64 > limit {
                alerts.truncate(limit as usize);
                alerts.last().map(|a| a.id)
            } else {
                None
            };
            Ok(AlertPage { alerts, next })
        })
    }

    /// One alert with its kept events, if it exists within the scope `tenants`.
    pub fn alert(&self, tenants: &[String], id: i64) -> Result<Option<(Alert, Vec<AlertEvent>)>> {
        self.read(|c| {
            let Some(alert) = alert_by_id(c, id)? else {
                return Ok(None);
            };
            if !tenants.contains(&alert.tenant) {
                return Ok(None);
            }
            let mut events = Vec::new();
            for r in c.query(
                "SELECT event_seq, event_ns, event FROM alert_events WHERE alert_id = $1
                 ORDER BY event_seq",
                params![id],
            )? {
                let event =
                    serde_json::from_str(&r.text(2)?).map_err(|e| ControlError::Corrupt {
                        column: "alert_events.event",
                        detail: e.to_string(),
                    })?;
                events.push(AlertEvent {
                    seq: r.int(0)? as u64,
                    seen_ns: r.opt_int(1)?,
                    event,
                });
            }
            Ok(Some((alert, events)))
        })
    }

    /// Dead letters of a tenant, newest first (at most `limit`).
    pub fn dead_letters(&self, tenant: &str, limit: u32) -> Result<Vec<DeadLetter>> {
        self.read(|c| {
            c.query(
                "SELECT t.name, d.seq, d.received_ns, d.source, d.reason, d.raw
                 FROM dead_letters d JOIN tenants t ON t.id = d.tenant_id
                 WHERE t.name = $1 ORDER BY d.id DESC LIMIT $2",
                params![tenant, limit],
            )?
            .into_iter()
            .map(|r| {
                Ok(DeadLetter {
                    tenant: r.text(0)?,
                    seq: r.int(1)? as u64,
                    received_ns: r.int(2)?,
                    source: r.text(3)?,
                    reason: r.text(4)?,
                    raw: r.blob(5)?,
                })
            })
            .collect()
        })
    }

    /// Number of alerts per tenant and status (for metrics).
    pub fn alert_counts(&self) -> Result<Vec<(String, Status, i64)>> {
        self.read(|c| {
            c.query(
                "SELECT t.name, a.status, count(*) FROM alerts a
                 JOIN tenants t ON t.id = a.tenant_id GROUP BY t.name, a.status",
                &[],
            )?
            .into_iter()
            .map(|r| {
                let s = r.text(1)?;
                let status = Status::parse(&s).ok_or(ControlError::Corrupt {
                    column: "alerts.status",
                    detail: s,
                })?;
                Ok((r.text(0)?, status, r.int(2)?))
            })
            .collect()
        })
    }
}

/// Keeps a detection's events with an alert that already holds `held` events, up to
/// [`MAX_EVENTS_PER_ALERT`].
fn insert_events(
    c: &mut dyn Conn,
    alert: i64,
    d: &Detection,
    held: i64,
    render: &mut dyn FnMut(&MatchedEvent) -> String,
) -> Result<()> {
    let room = (MAX_EVENTS_PER_ALERT - held).max(0) as usize;
    for e in d.events.iter().take(room) {
        c.execute(
            "INSERT INTO alert_events (alert_id, event_seq, event_ns, event)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            params![alert, e.seq as i64, e.seen_ns, render(e)],
        )?;
    }
    Ok(())
}
