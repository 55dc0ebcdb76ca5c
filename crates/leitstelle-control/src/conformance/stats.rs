//! The dashboard's aggregates: hand-worked figures, the same figures as the triage report
//! (which walks every history) and the SLA breach count, and the caller's scope.

use super::Case;
use super::basics::{MIN, sys};
use crate::stats::{AlertStats, StatsQuery};
use crate::{
    Control, ControlError, Detection, MatchedEvent, Principal, Role, SlaPolicy, TriageAction,
    Verdict,
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        (
            "dashboard aggregates match hand-worked figures and the triage report",
            aggregates,
        ),
        ("dashboard aggregates stay within the caller's scope", scope),
    ]
}

/// The start of the period of every case (far from zero, so nothing is negative).
const T: i64 = 1000 * MIN;

fn user(c: &Control, name: &str, tenant: &str, role: Role) -> Principal {
    c.create_user(&sys(), name, "pw", tenant, role, 1).unwrap();
    c.principal_of_user(name).unwrap().unwrap()
}

#[allow(clippy::too_many_arguments)]
fn raise(
    c: &Control,
    tenant: &str,
    rule: &str,
    level: &str,
    tags: &[&str],
    host: &str,
    count: i64,
    seq: u64,
    at: i64,
) -> i64 {
    let d = Detection {
        tenant: tenant.into(),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level: level.into(),
        level_rank: crate::level_rank(level).unwrap(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        group_key: host.into(),
        count,
        first_seen_ns: at,
        last_seen_ns: at,
        events: vec![MatchedEvent {
            seq,
            seen_ns: at,
            event: serde_json::json!({"seq": seq}).to_string(),
        }],
    };
    c.apply(&[d], &[], &[], MIN, seq, at).unwrap().created[0]
}

const EXEC: &[&str] = &["attack.execution", "attack.t1059", "attack.T1059"];
const CRED: &[&str] = &["attack.credential_access", "attack.t1003.001"];

/// acme: three `r1` alerts at T+5 (one closed by tier 1, one escalated and closed by
/// tier 2, one untouched), one `r2` alert of four matches at T+70, one `r3` alert before
/// the period; globex: one `r1` alert at T+10 under a strict SLA.
fn fixture(c: &Control) {
    c.create_tenant("acme", 0).unwrap();
    c.create_tenant("globex", 0).unwrap();
    let ann = user(c, "ann", "acme", Role::Tier1);
    let bob = user(c, "bob", "acme", Role::Tier2);
    let a1 = raise(c, "acme", "r1", "high", EXEC, "h1", 1, 1, T + 5 * MIN);
    let a2 = raise(c, "acme", "r1", "high", EXEC, "h2", 1, 2, T + 5 * MIN);
    let _a3 = raise(c, "acme", "r1", "high", EXEC, "h3", 1, 3, T + 5 * MIN);
    raise(c, "acme", "r2", "medium", CRED, "h4", 4, 4, T + 70 * MIN);
    raise(c, "acme", "r3", "low", &[], "h5", 1, 5, T - 100 * MIN);
    raise(c, "globex", "r1", "high", EXEC, "g1", 1, 6, T + 10 * MIN);
    let close = |v| TriageAction::Close {
        verdict: v,
        reason: "checked".into(),
    };
    c.triage(&ann, a1, &TriageAction::Acknowledge, T + 7 * MIN)
        .unwrap();
    c.triage(&ann, a1, &close(Verdict::Benign), T + 15 * MIN)
        .unwrap();
    c.triage(&ann, a2, &TriageAction::Acknowledge, T + 9 * MIN)
        .unwrap();
    let escalate = TriageAction::Escalate {
        to: None,
        note: String::new(),
    };
    c.triage(&ann, a2, &escalate, T + 10 * MIN).unwrap();
    c.triage(&bob, a2, &close(Verdict::TruePositive), T + 35 * MIN)
        .unwrap();
    let strict = [SlaPolicy {
        level: "high".into(),
        ack_secs: 60,
        resolve_secs: 120,
    }];
    c.set_sla(&sys(), "globex", &strict, T).unwrap();
}

fn query(tenants: &[&str]) -> StatsQuery {
    StatsQuery {
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
        from_ns: T,
        to_ns: T + 120 * MIN,
        bucket_ns: 60 * MIN,
        now_ns: T + 120 * MIN,
    }
}

fn timeline(s: &AlertStats) -> Vec<(i64, &str, u64)> {
    s.timeline
        .iter()
        .map(|l| ((l.bucket_ns - T) / MIN, l.level.as_str(), l.alerts))
        .collect()
}

fn aggregates(c: &Control) {
    fixture(c);
    let q = query(&["acme", "globex"]);
    let s = c.alert_stats(&sys(), &q).unwrap();
    assert_eq!(s.tenants, ["acme", "globex"]);
    assert_eq!(timeline(&s), [(0, "high", 4), (60, "medium", 1)]);
    // top rules: r1 (4 alerts), r2 (1 alert of 4 matches); r3 is outside the period
    let top: Vec<_> = s
        .top_rules
        .iter()
        .map(|r| (r.rule_id.as_str(), r.title.as_str(), r.alerts, r.matches))
        .collect();
    assert_eq!(top, [("r1", "Rule r1", 4, 4), ("r2", "Rule r2", 1, 4)]);
    // tags: case-folded, an alert counts once per tag
    assert_eq!(s.tags["attack.t1059"], 4);
    assert_eq!(s.tags["attack.execution"], 4);
    assert_eq!(s.tags["attack.t1003.001"], 1);
    assert_eq!(s.tags.len(), 4);
    // open now: acme a3 (high, 115 min old: past the default 30 min to acknowledge), r2,
    // r3; globex g1 (past its strict 1 min and 2 min)
    let open: Vec<_> = s
        .open
        .iter()
        .map(|o| {
            (
                o.tenant.as_str(),
                o.level.as_str(),
                o.alerts,
                o.ack_breached,
                o.resolve_breached,
            )
        })
        .collect();
    assert_eq!(
        open,
        [
            ("acme", "high", 1, 1, 0),
            ("acme", "low", 1, 0, 0),
            ("acme", "medium", 1, 0, 0),
            ("globex", "high", 1, 1, 1),
        ]
    );
    // the same breaches as the server's SLA gauges
    let breaches = c.sla_breaches(q.now_ns).unwrap();
    for (tenant, (ack, resolve)) in &breaches {
        let mine = s.open.iter().filter(|o| &o.tenant == tenant);
        let (a, r) = mine.fold((0, 0), |(a, r), o| {
            (a + o.ack_breached, r + o.resolve_breached)
        });
        assert_eq!((a, r), (*ack, *resolve), "breaches of {tenant}");
    }
    // per tenant and tier, hand-worked: acme tier 1 = a1 (ack 2 min, closed 10 min), a3,
    // the r2 alert; tier 2 = a2 (ack 4 min, closed 30 min)
    let tier = |t: &str, tier: &str| {
        s.tiers
            .iter()
            .find(|f| f.tenant == t && f.tier == tier)
            .cloned()
            .unwrap_or_else(|| panic!("no figures for {t} {tier}"))
    };
    let t1 = tier("acme", "tier1");
    assert_eq!((t1.alerts, t1.acknowledged, t1.closed), (3, 1, 1));
    assert_eq!((t1.mtta_secs, t1.mttr_secs), (Some(120.0), Some(600.0)));
    assert_eq!((t1.ack_breaches, t1.resolve_breaches), (1, 0));
    let t2 = tier("acme", "tier2");
    assert_eq!((t2.alerts, t2.acknowledged, t2.closed), (1, 1, 1));
    assert_eq!((t2.mtta_secs, t2.mttr_secs), (Some(240.0), Some(1800.0)));
    let g = tier("globex", "tier1");
    assert_eq!((g.alerts, g.acknowledged, g.mtta_secs), (1, 0, None));
    assert_eq!((g.ack_breaches, g.resolve_breaches), (1, 1));
    // and every figure equals the triage report's, tenant by tenant
    for t in ["acme", "globex"] {
        let r = c
            .triage_report(&[t.to_string()], q.from_ns, q.to_ns, q.now_ns)
            .unwrap();
        for (name, want) in &r.by_tier {
            let got = tier(t, name);
            assert_eq!(
                (got.alerts, got.acknowledged, got.closed),
                (want.alerts, want.acknowledged, want.closed),
                "{t} {name}"
            );
            assert_eq!(
                (got.ack_breaches, got.resolve_breaches),
                (want.ack_breaches, want.resolve_breaches),
                "{t} {name}"
            );
            assert_eq!(got.mtta_secs, want.mtta_secs, "{t} {name}");
            assert_eq!(got.mttr_secs, want.mttr_secs, "{t} {name}");
        }
        assert_eq!(
            s.tiers.iter().filter(|f| f.tenant == t).count(),
            r.by_tier.len()
        );
    }
    // an empty period
    let empty = c
        .alert_stats(
            &sys(),
            &StatsQuery {
                from_ns: T + 500 * MIN,
                to_ns: T + 600 * MIN,
                ..q.clone()
            },
        )
        .unwrap();
    assert!(empty.timeline.is_empty() && empty.top_rules.is_empty() && empty.tiers.is_empty());
    assert_eq!(
        empty.open.len(),
        4,
        "open alerts do not depend on the period"
    );
    // unusable periods and buckets
    for bad in [
        StatsQuery {
            bucket_ns: 0,
            ..q.clone()
        },
        StatsQuery {
            to_ns: q.from_ns,
            ..q.clone()
        },
        StatsQuery {
            bucket_ns: 1,
            ..q.clone()
        },
    ] {
        assert!(matches!(
            c.alert_stats(&sys(), &bad),
            Err(ControlError::Invalid(_))
        ));
    }
}

fn scope(c: &Control) {
    fixture(c);
    let carl = user(c, "carl", "acme", Role::Customer);
    let s = c.alert_stats(&carl, &query(&["acme", "globex"])).unwrap();
    assert_eq!(s.tenants, ["acme"], "globex is left out");
    assert_eq!(timeline(&s), [(0, "high", 3), (60, "medium", 1)]);
    assert!(s.open.iter().all(|o| o.tenant == "acme"));
    assert!(s.tiers.iter().all(|o| o.tenant == "acme"));
    assert_eq!(s.top_rules[0].alerts, 3);
    // asking only for a tenant outside the scope gives nothing, not an error
    let none = c.alert_stats(&carl, &query(&["globex"])).unwrap();
    assert_eq!(none, AlertStats::default());
    // a role without metrics is refused
    let ingest = user(c, "feeder", "acme", Role::Ingest);
    assert!(matches!(
        c.alert_stats(&ingest, &query(&["acme"])),
        Err(ControlError::Forbidden(_))
    ));
}
