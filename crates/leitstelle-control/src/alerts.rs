//! Alerts raised by detection, and dead letters (input that could not be parsed).

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter};

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

const ALERT_COLUMNS: &str = "a.id, t.name, a.rule_id, a.rule_title, a.level, a.tags, a.group_key,
     a.first_seen_ns, a.last_seen_ns, a.count, a.status, a.created_ns, a.updated_ns";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Alert, String, String)> {
    Ok((
        Alert {
            id: r.get(0)?,
            tenant: r.get(1)?,
            rule_id: r.get(2)?,
            rule_title: r.get(3)?,
            level: r.get(4)?,
            tags: Vec::new(),
            group_key: r.get(6)?,
            first_seen_ns: r.get(7)?,
            last_seen_ns: r.get(8)?,
            count: r.get(9)?,
            status: Status::New,
            created_ns: r.get(11)?,
            updated_ns: r.get(12)?,
        },
        r.get(5)?,
        r.get(10)?,
    ))
}

fn finish_alert((mut a, tags, status): (Alert, String, String)) -> Result<Alert> {
    a.tags = serde_json::from_str(&tags).map_err(|e| ControlError::Corrupt {
        column: "alerts.tags",
        detail: e.to_string(),
    })?;
    a.status = Status::parse(&status).ok_or(ControlError::Corrupt {
        column: "alerts.status",
        detail: status,
    })?;
    Ok(a)
}

impl Control {
    /// Records a batch of detections and dead letters, and that every journal record up to
    /// `detect_seq` has been through detection, in one transaction.
    ///
    /// A detection joins the newest open (not closed) alert of the same tenant, rule and
    /// group key whose last match is at most `window_ns` before the detection's first match
    /// (count and first/last seen updated, events kept while the alert holds fewer than
    /// [`MAX_EVENTS_PER_ALERT`]); otherwise it raises a new alert with status `new`.
    pub fn apply(
        &self,
        detections: &[Detection],
        dead: &[DeadLetter],
        window_ns: i64,
        detect_seq: u64,
        now_ns: i64,
    ) -> Result<Applied> {
        self.write(|tx| {
            let mut applied = Applied::default();
            let mut tenants = std::collections::HashMap::<String, i64>::new();
            let mut tid = |tx: &Transaction<'_>, name: &str| -> Result<i64> {
                if let Some(id) = tenants.get(name) {
                    return Ok(*id);
                }
                let id = tenant_id(tx, name)?;
                tenants.insert(name.to_string(), id);
                Ok(id)
            };
            for d in detections {
                let t = tid(tx, &d.tenant)?;
                let open: Option<(i64, i64, i64)> = tx
                    .query_row(
                        "SELECT id, last_seen_ns, count FROM alerts
                         WHERE tenant_id = ?1 AND rule_id = ?2 AND group_key = ?3
                           AND status != 'closed'
                         ORDER BY id DESC LIMIT 1",
                        params![t, d.rule_id, d.group_key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                match open {
                    Some((id, last, count))
                        if d.first_seen_ns.saturating_sub(last) <= window_ns =>
                    {
                        tx.execute(
                            "UPDATE alerts SET count = count + ?2,
                               first_seen_ns = min(first_seen_ns, ?3),
                               last_seen_ns = max(last_seen_ns, ?4), updated_ns = ?5
                             WHERE id = ?1",
                            params![id, d.count, d.first_seen_ns, d.last_seen_ns, now_ns],
                        )?;
                        insert_events(tx, id, d, count)?;
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
                        tx.execute(
                            "INSERT INTO alerts (tenant_id, rule_id, rule_title, level,
                               level_rank, tags, group_key, first_seen_ns, last_seen_ns, count,
                               status, created_ns, updated_ns)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'new', ?11, ?11)",
                            params![
                                t,
                                d.rule_id,
                                d.rule_title,
                                d.level,
                                d.level_rank,
                                tags,
                                d.group_key,
                                d.first_seen_ns,
                                d.last_seen_ns,
                                d.count,
                                now_ns
                            ],
                        )?;
                        let id = tx.last_insert_rowid();
                        insert_events(tx, id, d, 0)?;
                        applied.created.push(id);
                        *applied
                            .created_per_tenant
                            .entry(d.tenant.clone())
                            .or_default() += 1;
                    }
                }
            }
            for l in dead {
                let t = tid(tx, &l.tenant)?;
                tx.execute(
                    "INSERT INTO dead_letters (tenant_id, seq, received_ns, source, reason, raw)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![t, l.seq as i64, l.received_ns, l.source, l.reason, l.raw],
                )?;
                applied.dead_letters += 1;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('detect_seq', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [detect_seq.to_string()],
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
        let limit = f.limit.unwrap_or(100).clamp(1, 1000) as i64;
        let mut sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN tenants t ON t.id = a.tenant_id
             WHERE t.name IN ({})",
            vec!["?"; f.tenants.len()].join(", ")
        );
        let mut args: Vec<SqlValue> = f.tenants.iter().map(|t| t.clone().into()).collect();
        let mut cond = |clause: &str, v: SqlValue| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(s) = f.status {
            cond("a.status = ?", s.as_str().to_string().into());
        }
        if let Some(r) = f.min_level_rank {
            cond("a.level_rank >= ?", r.into());
        }
        if let Some(r) = &f.rule_id {
            cond("a.rule_id = ?", r.clone().into());
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
        sql.push_str(" ORDER BY a.id DESC LIMIT ?");
        args.push((limit + 1).into());
        self.read(|c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter()), alert_row)?;
            let mut alerts = Vec::new();
            for row in rows {
                alerts.push(finish_alert(row?)?);
            }
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
            let row = c
                .query_row(
                    &format!(
                        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN tenants t ON t.id = a.tenant_id
                         WHERE a.id = ?1"
                    ),
                    [id],
                    alert_row,
                )
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let alert = finish_alert(row)?;
            if !tenants.contains(&alert.tenant) {
                return Ok(None);
            }
            let mut st = c.prepare(
                "SELECT event_seq, event_ns, event FROM alert_events WHERE alert_id = ?1
                 ORDER BY event_seq",
            )?;
            let rows = st.query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut events = Vec::new();
            for row in rows {
                let (seq, seen_ns, text) = row?;
                let event = serde_json::from_str(&text).map_err(|e| ControlError::Corrupt {
                    column: "alert_events.event",
                    detail: e.to_string(),
                })?;
                events.push(AlertEvent {
                    seq: seq as u64,
                    seen_ns,
                    event,
                });
            }
            Ok(Some((alert, events)))
        })
    }

    /// Dead letters of a tenant, newest first (at most `limit`).
    pub fn dead_letters(&self, tenant: &str, limit: u32) -> Result<Vec<DeadLetter>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT t.name, d.seq, d.received_ns, d.source, d.reason, d.raw
                 FROM dead_letters d JOIN tenants t ON t.id = d.tenant_id
                 WHERE t.name = ?1 ORDER BY d.id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![tenant, limit], |r| {
                Ok(DeadLetter {
                    tenant: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    received_ns: r.get(2)?,
                    source: r.get(3)?,
                    reason: r.get(4)?,
                    raw: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Number of alerts per tenant and status (for metrics).
    pub fn alert_counts(&self) -> Result<Vec<(String, Status, i64)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT t.name, a.status, count(*) FROM alerts a
                 JOIN tenants t ON t.id = a.tenant_id GROUP BY t.name, a.status",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (t, s, n) = row?;
                let s = Status::parse(&s).ok_or(ControlError::Corrupt {
                    column: "alerts.status",
                    detail: s,
                })?;
                out.push((t, s, n));
            }
            Ok(out)
        })
    }
}

/// Keeps a detection's events with an alert that already holds `held` events, up to
/// [`MAX_EVENTS_PER_ALERT`].
fn insert_events(tx: &Transaction<'_>, alert: i64, d: &Detection, held: i64) -> Result<()> {
    let room = (MAX_EVENTS_PER_ALERT - held).max(0) as usize;
    if room == 0 {
        return Ok(());
    }
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO alert_events (alert_id, event_seq, event_ns, event)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for e in d.events.iter().take(room) {
        st.execute(params![alert, e.seq as i64, e.seen_ns, e.event])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_db;

    fn det(tenant: &str, rule: &str, host: &str, seq: u64, seen_ns: i64) -> Detection {
        Detection {
            tenant: tenant.into(),
            rule_id: rule.into(),
            rule_title: format!("Rule {rule}"),
            level: "high".into(),
            level_rank: 3,
            tags: vec!["attack.t1059".into()],
            group_key: host.into(),
            count: 1,
            first_seen_ns: seen_ns,
            last_seen_ns: seen_ns,
            events: vec![MatchedEvent {
                seq,
                seen_ns,
                event: serde_json::json!({"seq": seq, "host": host}).to_string(),
            }],
        }
    }

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn repeated_matches_within_the_window_update_one_alert() {
        let db = temp_db("alerts-group");
        let c = &db.control;
        c.create_tenant("acme", 0).expect("tenant");
        let a = c
            .apply(
                &[
                    det("acme", "r1", "ws1", 1, 10 * MIN),
                    det("acme", "r1", "ws1", 2, 11 * MIN),
                    det("acme", "r1", "ws2", 3, 11 * MIN),
                    det("acme", "r2", "ws1", 4, 11 * MIN),
                ],
                &[],
                30 * MIN,
                4,
                99,
            )
            .expect("apply");
        assert_eq!(a.created.len(), 3);
        assert!(a.updated.is_empty());
        assert_eq!(c.detect_seq().expect("seq"), 4);
        // later, within the window: joins; beyond it: a new alert
        let b = c
            .apply(
                &[
                    det("acme", "r1", "ws1", 5, 40 * MIN),
                    det("acme", "r1", "ws1", 6, 80 * MIN),
                ],
                &[],
                30 * MIN,
                6,
                100,
            )
            .expect("apply");
        assert_eq!(b.updated, vec![a.created[0]]);
        assert_eq!(b.created.len(), 1);
        let scope = vec!["acme".to_string()];
        let (first, events) = c.alert(&scope, a.created[0]).expect("get").expect("some");
        assert_eq!(first.count, 3);
        assert_eq!(
            (first.first_seen_ns, first.last_seen_ns),
            (10 * MIN, 40 * MIN)
        );
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 5]
        );
        assert_eq!(events[0].event["host"], "ws1");
        assert_eq!(first.tags, vec!["attack.t1059".to_string()]);
        assert_eq!(first.status, Status::New);
    }

    #[test]
    fn folded_detections_count_every_match_and_keep_at_most_the_cap() {
        let db = temp_db("alerts-fold");
        let c = &db.control;
        c.create_tenant("a", 0).expect("tenant");
        let mut d = det("a", "r", "h", 1, MIN);
        d.count = 150;
        d.last_seen_ns = 2 * MIN;
        d.events = (1..=150)
            .map(|seq| MatchedEvent {
                seq,
                seen_ns: MIN,
                event: "{}".into(),
            })
            .collect();
        let a = c.apply(&[d.clone()], &[], 60 * MIN, 150, 1).expect("apply");
        let scope = ["a".to_string()];
        let (alert, events) = c.alert(&scope, a.created[0]).expect("get").expect("some");
        assert_eq!(alert.count, 150);
        assert_eq!((alert.first_seen_ns, alert.last_seen_ns), (MIN, 2 * MIN));
        assert_eq!(events.len(), MAX_EVENTS_PER_ALERT as usize);
        // more matches later: counted, no more events kept
        let b = c.apply(&[d], &[], 60 * MIN, 300, 1).expect("apply");
        assert_eq!(b.updated, a.created);
        let (alert, events) = c.alert(&scope, a.created[0]).expect("get").expect("some");
        assert_eq!(alert.count, 300);
        assert_eq!(events.len(), MAX_EVENTS_PER_ALERT as usize);
    }

    #[test]
    fn listing_respects_scope_filters_and_paging() {
        let db = temp_db("alerts-list");
        let c = &db.control;
        c.create_tenant("a", 0).expect("tenant");
        c.create_tenant("b", 0).expect("tenant");
        let mut ds = Vec::new();
        for i in 0..5 {
            ds.push(det("a", &format!("r{i}"), "h", i, i as i64 * MIN));
        }
        let mut low = det("b", "rb", "h", 9, 3 * MIN);
        low.level = "low".into();
        low.level_rank = 1;
        ds.push(low);
        c.apply(&ds, &[], MIN, 9, 1).expect("apply");
        let f = |tenants: &[&str]| AlertFilter {
            tenants: tenants.iter().map(|s| s.to_string()).collect(),
            ..AlertFilter::default()
        };
        assert!(c.alerts(&f(&[])).expect("list").alerts.is_empty());
        assert_eq!(c.alerts(&f(&["a"])).expect("list").alerts.len(), 5);
        assert_eq!(c.alerts(&f(&["b"])).expect("list").alerts.len(), 1);
        assert_eq!(c.alerts(&f(&["a", "b"])).expect("list").alerts.len(), 6);
        let high = AlertFilter {
            min_level_rank: Some(3),
            ..f(&["a", "b"])
        };
        assert_eq!(c.alerts(&high).expect("list").alerts.len(), 5);
        let rule = AlertFilter {
            rule_id: Some("r2".into()),
            ..f(&["a"])
        };
        assert_eq!(c.alerts(&rule).expect("list").alerts[0].rule_id, "r2");
        let time = AlertFilter {
            from_ns: Some(2 * MIN),
            to_ns: Some(4 * MIN),
            ..f(&["a"])
        };
        let ids: Vec<_> = c
            .alerts(&time)
            .expect("list")
            .alerts
            .iter()
            .map(|a| a.rule_id.clone())
            .collect();
        assert_eq!(ids, ["r3", "r2"]);
        // paging walks every alert exactly once, newest first
        let mut seen = Vec::new();
        let mut page = AlertFilter {
            limit: Some(2),
            ..f(&["a"])
        };
        loop {
            let p = c.alerts(&page).expect("page");
            seen.extend(p.alerts.iter().map(|a| a.id));
            match p.next {
                Some(n) => page.before_id = Some(n),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 5);
        // another tenant's alert is invisible by id
        let b_id = c.alerts(&f(&["b"])).expect("list").alerts[0].id;
        assert_eq!(c.alert(&["a".to_string()], b_id).expect("get"), None);
        let counts = c.alert_counts().expect("counts");
        assert!(counts.contains(&("a".to_string(), Status::New, 5)));
    }

    #[test]
    fn dead_letters_are_kept_per_tenant() {
        let db = temp_db("dead");
        let c = &db.control;
        c.create_tenant("a", 0).expect("tenant");
        let l = DeadLetter {
            tenant: "a".into(),
            seq: 7,
            received_ns: 5,
            source: "http".into(),
            reason: "invalid JSON".into(),
            raw: b"{oops".to_vec(),
        };
        let r = c
            .apply(&[], std::slice::from_ref(&l), 0, 7, 1)
            .expect("apply");
        assert_eq!(r.dead_letters, 1);
        assert_eq!(c.dead_letters("a", 10).expect("list"), vec![l]);
        let unknown = DeadLetter {
            tenant: "zz".into(),
            ..c.dead_letters("a", 1).expect("list")[0].clone()
        };
        assert!(matches!(
            c.apply(&[], &[unknown], 0, 8, 1),
            Err(ControlError::NoTenant(_))
        ));
        // the failed batch changed nothing
        assert_eq!(c.detect_seq().expect("seq"), 7);
    }

    #[test]
    fn closed_alerts_are_not_reopened_by_new_matches() {
        let db = temp_db("closed");
        let c = &db.control;
        c.create_tenant("a", 0).expect("tenant");
        let first = c
            .apply(&[det("a", "r", "h", 1, MIN)], &[], 60 * MIN, 1, 1)
            .expect("apply");
        c.write(|tx| {
            tx.execute("UPDATE alerts SET status = 'closed'", [])?;
            Ok(())
        })
        .expect("close");
        let second = c
            .apply(&[det("a", "r", "h", 2, 2 * MIN)], &[], 60 * MIN, 2, 1)
            .expect("apply");
        assert_ne!(first.created, second.created);
        assert_eq!(second.created.len(), 1);
    }
}
