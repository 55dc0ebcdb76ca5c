//! Triage, SLAs, MTTA/MTTR, the audit chain, cases, suppressions, rules under change
//! control and the responsibility matrix.

use super::Case;
use super::basics::{MIN, det, sys};
use crate::{
    AlertFilter, CaseUpdate, Condition, Contact, Control, ControlError, Decision, Desk, NewCase,
    NewSuppression, Overlay, Principal, Proposal, Role, RuleMeta, SlaPolicy, Status, TriageAction,
    Verdict,
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        (
            "the triage state machine refuses what it must",
            state_machine,
        ),
        (
            "every triage change is in the history and the audit log",
            history,
        ),
        (
            "alerts are assigned only to people who can triage them",
            assignment,
        ),
        ("bulk triage reports each alert on its own", bulk),
        ("SLA clocks run from creation and count breaches", sla),
        ("MTTA and MTTR follow from a scripted history", mtta_mttr),
        (
            "the audit chain verifies and any tampering is found",
            audit_tampering,
        ),
        (
            "cases hold alerts, tasks, observables, comments, evidence",
            case_life,
        ),
        (
            "observables are seen across cases and alerts within scope",
            sightings,
        ),
        (
            "suppressions hold back matching detections and count them",
            suppressions,
        ),
        (
            "the author of a rule change can never approve it",
            four_eyes,
        ),
        (
            "overlays are approved per tenant and survive upstream updates",
            overlays,
        ),
        (
            "a folder rule is disabled for all and enabled for one tenant",
            folder_rules,
        ),
        ("the responsibility matrix names whom to call", desk_doc),
        (
            "a hybrid SOC works one alert from tier 1 to the customer",
            hybrid,
        ),
    ]
}

fn user(c: &Control, name: &str, tenant: &str, role: Role) -> Principal {
    c.create_user(&sys(), name, "pw", tenant, role, 1).unwrap();
    c.principal_of_user(name).unwrap().unwrap()
}

fn one_alert(c: &Control, tenant: &str, seq: u64) -> i64 {
    c.apply(
        &[det(tenant, "r", &format!("h{seq}"), seq, MIN)],
        &[],
        &[],
        MIN,
        seq,
        5 * MIN,
    )
    .unwrap()
    .created[0]
}

fn close(verdict: Verdict) -> TriageAction {
    TriageAction::Close {
        verdict,
        reason: "checked".into(),
    }
}

fn checker(yaml: &str) -> Result<RuleMeta, String> {
    // A stand-in for the Sigma loader: `id: X` and `title: Y` lines, and no `broken`.
    if yaml.contains("broken") {
        return Err("not a rule".into());
    }
    let field = |k: &str| {
        yaml.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .ok_or(format!("no {k}"))
    };
    Ok(RuleMeta {
        id: field("id:")?,
        title: field("title:")?,
    })
}

fn state_machine(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let t1 = user(c, "t1", "t", Role::Tier1);
    let id = one_alert(c, "t", 1);
    let conflict = |r: crate::Result<_>| assert!(matches!(r, Err(ControlError::Conflict(_))));
    conflict(c.triage(&t1, id, &TriageAction::Reopen { reason: "x".into() }, 1));
    let a = c.triage(&t1, id, &TriageAction::Acknowledge, 2).unwrap();
    assert_eq!(a.status, Status::Acknowledged);
    assert_eq!(
        a.assignee.as_deref(),
        Some("t1"),
        "acknowledging takes the alert"
    );
    assert_eq!(a.ack_ns, Some(2));
    conflict(c.triage(&t1, id, &TriageAction::Acknowledge, 3));
    // closing needs a reason
    assert!(matches!(
        c.triage(
            &t1,
            id,
            &TriageAction::Close {
                verdict: Verdict::Benign,
                reason: " ".into()
            },
            3
        ),
        Err(ControlError::Invalid(_))
    ));
    let a = c.triage(&t1, id, &TriageAction::Start, 4).unwrap();
    assert_eq!(a.status, Status::InProgress);
    let a = c
        .triage(
            &t1,
            id,
            &TriageAction::Escalate {
                to: None,
                note: "looks real".into(),
            },
            5,
        )
        .unwrap();
    assert_eq!(a.status, Status::Escalated);
    assert_eq!(a.escalated_to.as_deref(), Some("tier2"));
    conflict(c.triage(
        &t1,
        id,
        &TriageAction::Escalate {
            to: None,
            note: String::new(),
        },
        6,
    ));
    let a = c.triage(&t1, id, &close(Verdict::TruePositive), 7).unwrap();
    assert_eq!(a.status, Status::Closed);
    assert_eq!(a.verdict.as_deref(), Some("true_positive"));
    assert_eq!(a.ack_ns, Some(2), "the first acknowledgement stays");
    conflict(c.triage(&t1, id, &close(Verdict::Benign), 8));
    let a = c
        .triage(
            &t1,
            id,
            &TriageAction::Reopen {
                reason: "new evidence".into(),
            },
            9,
        )
        .unwrap();
    assert_eq!((a.status, a.verdict), (Status::InProgress, None));
    let a = c
        .triage(
            &t1,
            id,
            &TriageAction::Severity {
                level: "critical".into(),
            },
            10,
        )
        .unwrap();
    assert_eq!(a.level, "critical");
    assert!(matches!(
        c.triage(
            &t1,
            id,
            &TriageAction::Severity {
                level: "huge".into()
            },
            10
        ),
        Err(ControlError::Invalid(_))
    ));
    // an alert of another tenant does not exist for t1; a customer may not triage
    c.create_tenant("u", 0).unwrap();
    let other = one_alert(c, "u", 2);
    assert!(matches!(
        c.triage(&t1, other, &TriageAction::Acknowledge, 11),
        Err(ControlError::NotFound(_))
    ));
    let cu = user(c, "cu", "t", Role::Customer);
    assert!(matches!(
        c.triage(&cu, id, &TriageAction::Acknowledge, 11),
        Err(ControlError::Forbidden(_))
    ));
}

fn history(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let t1 = user(c, "t1", "t", Role::Tier1);
    let id = one_alert(c, "t", 1);
    c.triage(&t1, id, &TriageAction::Acknowledge, 10).unwrap();
    c.triage(
        &t1,
        id,
        &TriageAction::Comment {
            body: "<b>look</b>".into(),
        },
        11,
    )
    .unwrap();
    c.triage(
        &t1,
        id,
        &TriageAction::Severity {
            level: "low".into(),
        },
        12,
    )
    .unwrap();
    c.triage(&t1, id, &close(Verdict::FalsePositive), 13)
        .unwrap();
    let h = c.alert_history(&t1, id).unwrap();
    let fields: Vec<_> = h
        .iter()
        .map(|e| {
            (
                e.field.as_str(),
                e.new.as_deref(),
                e.actor.as_str(),
                e.at_ns,
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("status", Some("acknowledged"), "t1", 10),
            ("assignee", Some("t1"), "t1", 10),
            ("severity", Some("low"), "t1", 12),
            ("status", Some("closed"), "t1", 13),
            ("verdict", Some("false_positive"), "t1", 13),
        ]
    );
    assert_eq!(h[0].old.as_deref(), Some("new"));
    let comments = c.alert_comments(&t1, id).unwrap();
    assert_eq!(comments[0].body, "<b>look</b>");
    let log = c.audit_log(&["t".into()], false, 100).unwrap();
    let actions: Vec<_> = log.iter().map(|r| r.action.as_str()).collect();
    for a in [
        "alert.raise",
        "alert.acknowledge",
        "alert.comment",
        "alert.severity",
        "alert.close",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

fn assignment(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let m = user(c, "lead", "t", Role::Manager);
    user(c, "ana", "t", Role::Tier2);
    user(c, "cust", "t", Role::Customer);
    let id = one_alert(c, "t", 1);
    let a = c
        .triage(
            &m,
            id,
            &TriageAction::Assign {
                user: Some("ana".into()),
            },
            2,
        )
        .unwrap();
    assert_eq!(a.assignee.as_deref(), Some("ana"));
    for bad in ["cust", "nobody"] {
        assert!(matches!(
            c.triage(
                &m,
                id,
                &TriageAction::Assign {
                    user: Some(bad.into())
                },
                3
            ),
            Err(ControlError::Invalid(_))
        ));
    }
    let a = c
        .triage(&m, id, &TriageAction::Assign { user: None }, 4)
        .unwrap();
    assert_eq!(a.assignee, None);
    let mine = c
        .alerts(&AlertFilter {
            tenants: vec!["t".into()],
            assignee: Some("ana".into()),
            ..AlertFilter::default()
        })
        .unwrap();
    assert!(mine.alerts.is_empty());
}

fn bulk(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    c.create_tenant("u", 0).unwrap();
    let t1 = user(c, "t1", "t", Role::Tier1);
    let a = one_alert(c, "t", 1);
    let b = one_alert(c, "t", 2);
    let foreign = one_alert(c, "u", 3);
    c.triage(&t1, b, &TriageAction::Acknowledge, 1).unwrap();
    let out = c
        .triage_bulk(&t1, &[a, b, foreign], &TriageAction::Acknowledge, 2)
        .unwrap();
    assert!(out[0].1.is_ok());
    assert!(matches!(out[1].1, Err(ControlError::Conflict(_))));
    assert!(matches!(out[2].1, Err(ControlError::NotFound(_))));
    let closed = c
        .triage_bulk(&t1, &[a, b], &close(Verdict::Benign), 3)
        .unwrap();
    assert!(
        closed
            .iter()
            .all(|(_, r)| r.as_ref().is_ok_and(|a| a.status == Status::Closed))
    );
}

fn sla(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let m = user(c, "m", "t", Role::Manager);
    let t1 = user(c, "t1", "t", Role::Tier1);
    c.set_sla(
        &m,
        "t",
        &[SlaPolicy {
            level: "high".into(),
            ack_secs: 600,
            resolve_secs: 3600,
        }],
        0,
    )
    .unwrap();
    assert!(matches!(
        c.set_sla(&t1, "t", &[], 0),
        Err(ControlError::Forbidden(_))
    ));
    assert!(matches!(
        c.set_sla(
            &m,
            "t",
            &[SlaPolicy {
                level: "x".into(),
                ack_secs: 1,
                resolve_secs: 1
            }],
            0
        ),
        Err(ControlError::Invalid(_))
    ));
    // created at 5 min (the apply's now); ack due at 15 min, resolve due at 65 min
    let late = one_alert(c, "t", 1);
    let quick = one_alert(c, "t", 2);
    c.triage(&t1, quick, &TriageAction::Acknowledge, 6 * MIN)
        .unwrap();
    let slas = c.sla_policies(&["t".into()]).unwrap();
    let p = &slas[&("t".to_string(), "high".to_string())];
    let get = |id| c.alert(&["t".into()], id).unwrap().unwrap().0;
    let s = crate::sla_state(&get(late), p, 14 * MIN);
    assert_eq!(s.ack_due_ns, 15 * MIN);
    assert!(!s.ack_breached);
    let s = crate::sla_state(&get(late), p, 16 * MIN);
    assert!(s.ack_breached && !s.resolve_breached);
    let s = crate::sla_state(&get(quick), p, 16 * MIN);
    assert!(!s.ack_breached);
    let s = crate::sla_state(&get(quick), p, 66 * MIN);
    assert!(s.resolve_breached);
    let breaches = c.sla_breaches(66 * MIN).unwrap();
    assert_eq!(breaches["t"], (1, 2));
    // a closed alert stops its clocks
    c.triage(&t1, late, &close(Verdict::Benign), 20 * MIN)
        .unwrap();
    let s = crate::sla_state(&get(late), p, 999 * MIN);
    assert!(
        s.ack_breached,
        "acknowledged (by closing) after its due time"
    );
    assert!(!s.resolve_breached);
    // defaults apply where a tenant set none
    c.create_tenant("u", 0).unwrap();
    let d = c.sla_policies(&["u".into()]).unwrap();
    assert_eq!(d[&("u".to_string(), "critical".to_string())].ack_secs, 900);
}

fn mtta_mttr(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let ann = user(c, "ann", "t", Role::Tier1);
    let bob = user(c, "bob", "t", Role::Tier2);
    // every alert is created at 5 min
    let a = one_alert(c, "t", 1);
    let b = one_alert(c, "t", 2);
    let d = one_alert(c, "t", 3);
    // a: ann acks after 2 min, closes after 10
    c.triage(&ann, a, &TriageAction::Acknowledge, 7 * MIN)
        .unwrap();
    c.triage(&ann, a, &close(Verdict::Benign), 15 * MIN)
        .unwrap();
    // b: ann acks after 4 min, escalates; bob closes after 30
    c.triage(&ann, b, &TriageAction::Acknowledge, 9 * MIN)
        .unwrap();
    c.triage(
        &ann,
        b,
        &TriageAction::Escalate {
            to: None,
            note: String::new(),
        },
        10 * MIN,
    )
    .unwrap();
    c.triage(&bob, b, &close(Verdict::TruePositive), 35 * MIN)
        .unwrap();
    // d: never touched
    let _ = d;
    let r = c
        .triage_report(&["t".into()], 0, 60 * MIN, 60 * MIN)
        .unwrap();
    assert_eq!(r.total.alerts, 3);
    assert_eq!(r.total.acknowledged, 2);
    assert_eq!(r.total.closed, 2);
    assert_eq!(r.total.mtta_secs, Some(180.0));
    assert_eq!(r.total.mttr_secs, Some(1200.0));
    assert_eq!(r.by_tier["tier1"].alerts, 2);
    assert_eq!(r.by_tier["tier2"].mttr_secs, Some(1800.0));
    assert_eq!(r.by_analyst["ann"].acknowledged, 2);
    assert_eq!(r.by_analyst["ann"].closed, 1);
    assert_eq!(r.by_analyst["ann"].mttr_secs, Some(600.0));
    assert_eq!(r.by_analyst["bob"].closed, 1);
    assert_eq!(r.by_analyst["bob"].mttr_secs, Some(1800.0));
    assert_eq!(r.by_level["high"].alerts, 3);
    assert_eq!(r.by_rule["r"].alerts, 3);
    assert_eq!(r.by_tenant["t"].alerts, 3);
    // the untouched alert breached its (default, high: 30 min) acknowledgement SLA
    assert_eq!(r.total.ack_breaches, 1);
    // another tenant's report is empty
    let none = c
        .triage_report(&["u".into()], 0, 60 * MIN, 60 * MIN)
        .unwrap();
    assert_eq!(none.total.alerts, 0);
}

fn audit_tampering(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    c.create_tenant("u", 0).unwrap();
    let t1 = user(c, "t1", "t", Role::Tier1);
    let id = one_alert(c, "t", 1);
    for (i, a) in [
        TriageAction::Acknowledge,
        TriageAction::Comment { body: "one".into() },
        TriageAction::Comment { body: "two".into() },
        TriageAction::Comment {
            body: "three".into(),
        },
    ]
    .iter()
    .enumerate()
    {
        c.triage(&t1, id, a, 10 + i as i64).unwrap();
    }
    let (n, problems) = c.verify_audit().unwrap();
    assert!(n >= 8, "{n} records");
    assert!(problems.is_empty(), "{problems:?}");
    let t = c.tenant("t").unwrap().unwrap().id;
    let seqs = |c: &Control| -> Vec<i64> {
        c.query_raw(
            "SELECT seq FROM audit_log WHERE chain = $1 ORDER BY seq",
            &[t.into()],
        )
        .unwrap()
        .iter()
        .map(|r| r.int(0).unwrap())
        .collect()
    };
    let all = seqs(c);
    let (mid, last) = (all[all.len() / 2], *all.last().unwrap());
    // 1. an edited record
    c.execute_raw(
        "UPDATE audit_log SET actor = 'mallory' WHERE chain = $1 AND seq = $2",
        &[t.into(), mid.into()],
    )
    .unwrap();
    let (_, p) = c.verify_audit().unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].tenant.as_deref(), p[0].seq), (Some("t"), mid));
    assert!(p[0].message.contains("changed"), "{}", p[0]);
    c.execute_raw(
        "UPDATE audit_log SET actor = 't1' WHERE chain = $1 AND seq = $2",
        &[t.into(), mid.into()],
    )
    .unwrap();
    assert!(c.verify_audit().unwrap().1.is_empty(), "restored");
    // 2. two records swapped (reordered)
    c.execute_raw(
        "UPDATE audit_log SET seq = -1 WHERE chain = $1 AND seq = $2",
        &[t.into(), mid.into()],
    )
    .unwrap();
    c.execute_raw(
        "UPDATE audit_log SET seq = $2 WHERE chain = $1 AND seq = $3",
        &[t.into(), mid.into(), (mid + 1).into()],
    )
    .unwrap();
    c.execute_raw(
        "UPDATE audit_log SET seq = $2 WHERE chain = $1 AND seq = -1",
        &[t.into(), (mid + 1).into()],
    )
    .unwrap();
    let (_, p) = c.verify_audit().unwrap();
    assert!(p.iter().any(|x| x.seq == mid), "{p:?}");
    // 3. a removed record in the middle (on a fresh copy of the situation: another tenant)
    let t1u = user(c, "t1u", "u", Role::Tier1);
    let uid = one_alert(c, "u", 2);
    for i in 0..3 {
        c.triage(
            &t1u,
            uid,
            &TriageAction::Comment {
                body: format!("c{i}"),
            },
            20 + i,
        )
        .unwrap();
    }
    let u = c.tenant("u").unwrap().unwrap().id;
    c.execute_raw(
        "DELETE FROM audit_log WHERE chain = $1 AND seq = 3",
        &[u.into()],
    )
    .unwrap();
    let (_, p) = c.verify_audit().unwrap();
    let pu: Vec<_> = p
        .iter()
        .filter(|x| x.tenant.as_deref() == Some("u"))
        .collect();
    assert!(
        pu.iter()
            .any(|x| x.seq == 4 && x.message.contains("missing")),
        "{pu:?}"
    );
    // 4. the newest record cut off: the head says more
    let before = seqs(c).len();
    c.execute_raw(
        "DELETE FROM audit_log WHERE chain = $1 AND seq = $2",
        &[t.into(), last.into()],
    )
    .unwrap();
    assert_eq!(seqs(c).len(), before - 1);
    let (_, p) = c.verify_audit().unwrap();
    assert!(
        p.iter()
            .any(|x| x.tenant.as_deref() == Some("t") && x.message.contains("removed from the end")),
        "{p:?}"
    );
}

fn case_life(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    c.create_tenant("u", 0).unwrap();
    let r = user(c, "resp", "t", Role::Tier2);
    let t1 = user(c, "t1", "t", Role::Tier1);
    let a1 = one_alert(c, "t", 1);
    let a2 = one_alert(c, "t", 2);
    let foreign = one_alert(c, "u", 3);
    let new = |alerts: Vec<i64>| NewCase {
        tenant: "t".into(),
        title: "Intrusion on h1".into(),
        alerts,
        ..NewCase::default()
    };
    assert!(matches!(
        c.create_case(&t1, &new(vec![]), 1),
        Err(ControlError::Forbidden(_))
    ));
    assert!(matches!(
        c.create_case(&r, &new(vec![foreign]), 1),
        Err(ControlError::NotFound(_))
    ));
    let case = c.create_case(&r, &new(vec![a1]), 2).unwrap();
    assert_eq!(
        (case.severity.as_str(), case.status.as_str()),
        ("high", "open")
    );
    assert_eq!(case.alerts, [a1]);
    let case = c.add_case_alerts(&r, case.id, &[a2], 3).unwrap();
    assert_eq!(case.alerts, [a1, a2]);
    assert_eq!(
        c.alert(&["t".into()], a2).unwrap().unwrap().0.case_id,
        Some(case.id)
    );
    let task = c
        .add_task(&r, case.id, "Isolate h1", Some("resp"), 4)
        .unwrap();
    let task = c
        .update_task(&r, case.id, task.id, Some("done"), None, 5)
        .unwrap();
    assert_eq!(task.state, "done");
    assert!(matches!(
        c.update_task(&r, case.id, task.id, Some("sleeping"), None, 5),
        Err(ControlError::Invalid(_))
    ));
    let o = c
        .add_observable(&r, case.id, "ip", " 10.1.2.3 ", "C2", 6)
        .unwrap();
    assert_eq!(o.value, "10.1.2.3");
    assert!(matches!(
        c.add_observable(&r, case.id, "ip", "10.1.2.3", "", 6),
        Err(ControlError::Conflict(_))
    ));
    assert!(matches!(
        c.add_observable(&r, case.id, "ip", "999.1.1.1", "", 6),
        Err(ControlError::Invalid(_))
    ));
    let h = c
        .add_observable(&r, case.id, "hash", &"AB".repeat(32), "", 6)
        .unwrap();
    assert_eq!(h.value, "ab".repeat(32));
    c.add_case_comment(&r, case.id, "contained", 7).unwrap();
    let ev = c
        .add_evidence(&r, case.id, "memory.txt", b"evil bytes", 8)
        .unwrap();
    assert_eq!(ev.size, 10);
    assert_eq!(
        ev.sha256,
        "bf0d6d3f14b00453cb97ecac5518862b111129bdad240982948257fb1cc6100c"
    );
    assert!(matches!(
        c.add_evidence(&r, case.id, "../etc/passwd", b"x", 8),
        Err(ControlError::Invalid(_))
    ));
    let (meta, bytes) = c.evidence_content(&t1, case.id, ev.id, 9).unwrap();
    assert_eq!((meta, bytes.as_slice()), (ev.clone(), &b"evil bytes"[..]));
    // closing needs a resolution
    let closing = CaseUpdate {
        status: Some("closed".into()),
        ..CaseUpdate::default()
    };
    assert!(matches!(
        c.update_case(&r, case.id, &closing, 10),
        Err(ControlError::Invalid(_))
    ));
    let done = c
        .update_case(
            &r,
            case.id,
            &CaseUpdate {
                resolution: Some("reimaged".into()),
                ..closing
            },
            10,
        )
        .unwrap();
    assert_eq!((done.status.as_str(), done.closed_ns), ("closed", Some(10)));
    let tl: Vec<_> = c
        .case_timeline(&t1, case.id)
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert_eq!(
        tl,
        [
            "create",
            "alert_merge",
            "alert_merge",
            "task_add",
            "task_update",
            "observable_add",
            "observable_add",
            "comment",
            "evidence_add",
            "update"
        ]
    );
    let export = c.export_case(&t1, case.id, 11).unwrap();
    assert_eq!(export["case"]["id"], case.id);
    assert_eq!(export["observables"].as_array().map(Vec::len), Some(2));
    assert_eq!(export["evidence"][0]["sha256"], ev.sha256);
    assert_eq!(export["alerts"].as_array().map(Vec::len), Some(2));
    // the case does not exist for another tenant's people
    let other = user(c, "o", "u", Role::Tier2);
    assert!(matches!(
        c.case(&other, case.id),
        Err(ControlError::NotFound(_))
    ));
    assert!(
        c.cases(&other, &["t".into(), "u".into()], false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.cases(&t1, &["t".into()], false).unwrap().len(), 1);
    assert!(c.cases(&t1, &["t".into()], true).unwrap().is_empty());
    let log = c.audit_log(&["t".into()], false, 200).unwrap();
    assert!(log.iter().any(|r| r.action == "case.export"));
    assert!(log.iter().any(|r| r.action == "evidence.download"));
}

fn sightings(c: &Control) {
    for t in ["mssp", "acme", "globex", "initech"] {
        c.create_tenant(t, 0).unwrap();
    }
    c.add_scope(&sys(), "mssp", "acme", 0).unwrap();
    c.add_scope(&sys(), "mssp", "globex", 0).unwrap();
    let prov = user(c, "prov", "mssp", Role::Tier2);
    let acme = user(c, "acme-ir", "acme", Role::Tier2);
    let init = user(c, "init-ir", "initech", Role::Tier2);
    let mk = |who: &Principal, t: &str, alert_seq: u64| {
        let a = one_alert(c, t, alert_seq);
        let case = c
            .create_case(
                who,
                &NewCase {
                    tenant: t.into(),
                    title: format!("case in {t}"),
                    alerts: vec![a],
                    ..NewCase::default()
                },
                1,
            )
            .unwrap();
        let o = c
            .add_observable(who, case.id, "ip", "10.1.2.3", "", 2)
            .unwrap();
        (case.id, o.id)
    };
    let (acme_case, acme_obs) = mk(&acme, "acme", 1);
    let (globex_case, _) = mk(&prov, "globex", 2);
    let (init_case, init_obs) = mk(&init, "initech", 3);
    // the provider sees acme's and globex's; acme's own responder only acme's alert
    let s = c.sightings(&prov, acme_case, acme_obs).unwrap();
    assert!(s.iter().any(|x| x.kind == "case" && x.id == globex_case));
    assert!(s.iter().all(|x| x.tenant != "initech"));
    assert!(s.iter().any(|x| x.kind == "alert" && x.tenant == "globex"));
    let s = c.sightings(&acme, acme_case, acme_obs).unwrap();
    assert!(s.iter().all(|x| x.tenant == "acme"), "{s:?}");
    assert!(s.iter().any(|x| x.kind == "alert"));
    let s = c.sightings(&init, init_case, init_obs).unwrap();
    assert!(s.iter().all(|x| x.tenant == "initech"), "{s:?}");
    assert!(matches!(
        c.sightings(&init, acme_case, acme_obs),
        Err(ControlError::NotFound(_))
    ));
}

fn suppressions(c: &Control) {
    c.create_tenant("t", 0).unwrap();
    let eng = user(c, "eng", "t", Role::Engineer);
    let t1 = user(c, "t1", "t", Role::Tier1);
    let cond = |f: &str, v: &str| Condition {
        field: f.into(),
        value: v.into(),
    };
    let new = NewSuppression {
        tenant: "t".into(),
        rule_id: Some("r".into()),
        conditions: vec![
            cond("Computer", "WS1"),
            cond("ParentImage", "*\\backup.exe"),
        ],
        owner: None,
        reason: "nightly backup".into(),
        expires_ns: 100 * MIN,
    };
    assert!(matches!(
        c.create_suppression(&t1, &new, MIN),
        Err(ControlError::Forbidden(_))
    ));
    for bad in [
        NewSuppression {
            conditions: vec![],
            ..new.clone()
        },
        NewSuppression {
            expires_ns: 0,
            ..new.clone()
        },
        NewSuppression {
            reason: String::new(),
            ..new.clone()
        },
    ] {
        assert!(matches!(
            c.create_suppression(&eng, &bad, MIN),
            Err(ControlError::Invalid(_))
        ));
    }
    let g0 = c.gate_generation().unwrap();
    let s = c.create_suppression(&eng, &new, MIN).unwrap();
    assert_eq!(s.owner, "eng");
    assert!(c.gate_generation().unwrap() > g0);
    let gate = c.gate(2 * MIN).unwrap();
    let mut event = |f: &str| -> Vec<String> {
        match f {
            "Computer" => vec!["ws1".into()],
            "ParentImage" => vec!["C:\\Tools\\Backup.exe".into()],
            _ => vec![],
        }
    };
    assert_eq!(
        gate.decide("t", "r", "high", 2 * MIN, &mut event),
        Decision::Suppressed(s.id)
    );
    assert!(matches!(
        gate.decide("t", "other", "high", 2 * MIN, &mut event),
        Decision::Alert { .. }
    ));
    assert!(matches!(
        gate.decide("u", "r", "high", 2 * MIN, &mut event),
        Decision::Alert { .. }
    ));
    let mut elsewhere = |f: &str| -> Vec<String> {
        if f == "Computer" {
            vec!["ws2".into()]
        } else {
            vec!["x\\backup.exe".into()]
        }
    };
    assert!(matches!(
        gate.decide("t", "r", "high", 2 * MIN, &mut elsewhere),
        Decision::Alert { .. }
    ));
    // expired: no longer applies
    assert!(matches!(
        gate.decide("t", "r", "high", 101 * MIN, &mut event),
        Decision::Alert { .. }
    ));
    // suppressed matches are counted on the suppression
    c.apply(&[], &[], &[(s.id, 3)], MIN, 1, 3 * MIN).unwrap();
    let listed = c.suppressions(&["t".into()]).unwrap();
    assert_eq!((listed[0].hits, listed[0].last_hit_ns), (3, Some(3 * MIN)));
    assert!(c.suppressions(&["u".into()]).unwrap().is_empty());
    assert!(c.remove_suppression(&eng, s.id, 4 * MIN).unwrap());
    assert!(!c.remove_suppression(&eng, s.id, 4 * MIN).unwrap());
    assert!(matches!(
        c.gate(5 * MIN)
            .unwrap()
            .decide("t", "r", "high", 5 * MIN, &mut event),
        Decision::Alert { .. }
    ));
}

const RULE_V1: &str = "title: Whoami\nid: rule-1\ndetection: v1\n";
const RULE_V2: &str = "title: Whoami (tuned)\nid: rule-1\ndetection: v2\n";

fn four_eyes(c: &Control) {
    c.create_tenant("soc", 0).unwrap();
    let alice = user(c, "alice", "soc", Role::Engineer);
    let bob = user(c, "bob", "soc", Role::Engineer);
    let t1 = user(c, "t1", "soc", Role::Tier1);
    let propose = |who: &Principal, kind: &str, yaml: Option<&str>| {
        c.propose_rule_change(
            who,
            &Proposal {
                kind: kind.into(),
                rule_id: Some("rule-1".into()),
                yaml: yaml.map(Into::into),
                note: "why".into(),
                ..Proposal::default()
            },
            &checker,
            10,
        )
    };
    assert!(matches!(
        propose(&t1, "create", Some(RULE_V1)),
        Err(ControlError::Forbidden(_))
    ));
    assert!(matches!(
        propose(&alice, "create", Some("broken")),
        Err(ControlError::Invalid(_))
    ));
    assert!(matches!(
        propose(&alice, "edit", Some(RULE_V1)),
        Err(ControlError::NotFound(_))
    ));
    let ch = propose(&alice, "create", Some(RULE_V1)).unwrap();
    assert_eq!(
        (ch.status.as_str(), ch.author.as_str()),
        ("proposed", "alice")
    );
    assert!(
        c.stored_rules().unwrap().is_empty(),
        "nothing is live before approval"
    );
    // the author cannot approve, through the domain layer, whatever roles they hold
    let err = c.review_rule_change(&alice, ch.id, true, "lgtm", &checker, 11);
    assert!(matches!(err, Err(ControlError::Forbidden(_))), "{err:?}");
    c.set_role(&sys(), "alice", "soc", Role::Admin, true, 11)
        .unwrap();
    let alice_admin = c.principal_of_user("alice").unwrap().unwrap();
    assert!(matches!(
        c.review_rule_change(&alice_admin, ch.id, true, "", &checker, 11),
        Err(ControlError::Forbidden(_))
    ));
    // tier 1 may not review
    assert!(matches!(
        c.review_rule_change(&t1, ch.id, true, "", &checker, 11),
        Err(ControlError::Forbidden(_))
    ));
    let g0 = c.rules_generation().unwrap();
    let ok = c
        .review_rule_change(&bob, ch.id, true, "lgtm", &checker, 12)
        .unwrap();
    assert_eq!(
        (ok.status.as_str(), ok.reviewer.as_deref()),
        ("approved", Some("bob"))
    );
    assert!(c.rules_generation().unwrap() > g0);
    let (rule, versions) = c.stored_rule("rule-1").unwrap().unwrap();
    assert_eq!(
        (rule.version, rule.origin.as_str(), rule.enabled),
        (1, "local", true)
    );
    assert_eq!(
        (versions[0].author.as_str(), versions[0].approver.as_str()),
        ("alice", "bob")
    );
    assert!(matches!(
        c.review_rule_change(&bob, ch.id, true, "", &checker, 13),
        Err(ControlError::Conflict(_))
    ));
    // two edits against version 1: the second to be approved is stale
    let e1 = propose(&bob, "edit", Some(RULE_V2)).unwrap();
    let e2 = propose(&alice, "edit", Some(RULE_V2)).unwrap();
    c.review_rule_change(&alice, e1.id, true, "", &checker, 14)
        .unwrap();
    assert!(matches!(
        c.review_rule_change(&bob, e2.id, true, "", &checker, 15),
        Err(ControlError::Conflict(_))
    ));
    // disabling, rejecting, withdrawing
    let d = propose(&alice, "disable", None).unwrap();
    let rej = c
        .review_rule_change(&bob, d.id, false, "still needed", &checker, 16)
        .unwrap();
    assert_eq!(rej.status, "rejected");
    assert!(c.stored_rule("rule-1").unwrap().unwrap().0.enabled);
    let d = propose(&alice, "disable", None).unwrap();
    assert!(matches!(
        c.withdraw_rule_change(&bob, d.id, 17),
        Err(ControlError::Forbidden(_))
    ));
    c.withdraw_rule_change(&alice, d.id, 17).unwrap();
    let d = propose(&alice, "disable", None).unwrap();
    c.review_rule_change(&bob, d.id, true, "", &checker, 18)
        .unwrap();
    let (rule, versions) = c.stored_rule("rule-1").unwrap().unwrap();
    assert_eq!((rule.version, rule.enabled), (3, false));
    assert_eq!(versions.len(), 3);
    assert_eq!(
        c.rule_changes(&t1, Some("proposed")).unwrap().len(),
        1,
        "e2 is left"
    );
    let log = c.audit_log(&[], true, 100).unwrap();
    assert!(
        log.iter()
            .any(|r| r.action == "rule.approve" && r.actor == "bob")
    );
}

fn overlays(c: &Control) {
    for t in ["mssp", "acme", "globex"] {
        c.create_tenant(t, 0).unwrap();
    }
    c.add_scope(&sys(), "mssp", "acme", 0).unwrap();
    c.add_scope(&sys(), "mssp", "globex", 0).unwrap();
    let eng = user(c, "eng", "mssp", Role::Engineer);
    let cust = user(c, "cust", "acme", Role::Customer);
    let other_cust = user(c, "gcust", "globex", Role::Customer);
    // the upstream rule arrives by import
    let rep = c
        .import_upstream(&sys(), &[("r1.yml".into(), RULE_V1.into())], &checker, 1)
        .unwrap();
    assert_eq!(rep.added, 1);
    let overlay = Overlay {
        enabled: None,
        level: Some("low".into()),
        exceptions: vec![vec![Condition {
            field: "User".into(),
            value: "svc_backup".into(),
        }]],
    };
    let p = Proposal {
        kind: "overlay".into(),
        rule_id: Some("rule-1".into()),
        tenant: Some("acme".into()),
        overlay: Some(overlay.clone()),
        ..Proposal::default()
    };
    // a customer may not propose, nor approve for all tenants, nor for another tenant
    assert!(matches!(
        c.propose_rule_change(&cust, &p, &checker, 2),
        Err(ControlError::Forbidden(_))
    ));
    let ch = c.propose_rule_change(&eng, &p, &checker, 2).unwrap();
    assert!(matches!(
        c.review_rule_change(&other_cust, ch.id, true, "", &checker, 3),
        Err(ControlError::NotFound(_))
    ));
    c.review_rule_change(&cust, ch.id, true, "ok for us", &checker, 3)
        .unwrap();
    let global = c
        .propose_rule_change(
            &eng,
            &Proposal {
                kind: "disable".into(),
                rule_id: Some("rule-1".into()),
                ..Proposal::default()
            },
            &checker,
            4,
        )
        .unwrap();
    assert!(matches!(
        c.review_rule_change(&cust, global.id, true, "", &checker, 4),
        Err(ControlError::Forbidden(_))
    ));
    // the gate applies the overlay to acme only
    let gate = c.gate(5).unwrap();
    let mut svc = |f: &str| {
        if f == "User" {
            vec!["SVC_BACKUP".into()]
        } else {
            vec![]
        }
    };
    assert_eq!(
        gate.decide("acme", "rule-1", "high", 5, &mut svc),
        Decision::Excluded
    );
    let mut alice = |f: &str| {
        if f == "User" {
            vec!["alice".into()]
        } else {
            vec![]
        }
    };
    assert_eq!(
        gate.decide("acme", "rule-1", "high", 5, &mut alice),
        Decision::Alert {
            level: "low".into()
        }
    );
    assert_eq!(
        gate.decide("globex", "rule-1", "high", 5, &mut alice),
        Decision::Alert {
            level: "high".into()
        }
    );
    // an upstream update: the rule takes the new text, the overlay stays
    let rep = c
        .import_upstream(&sys(), &[("r1.yml".into(), RULE_V2.into())], &checker, 6)
        .unwrap();
    assert_eq!((rep.updated, rep.added), (1, 0));
    let (rule, _) = c.stored_rule("rule-1").unwrap().unwrap();
    assert_eq!((rule.version, rule.title.as_str()), (2, "Whoami (tuned)"));
    assert_eq!(c.overlays(&["acme".into()]).unwrap()[0].2, overlay);
    // a locally edited rule gets the upstream text as a proposal instead
    let v3 = "title: Local\nid: rule-1\ndetection: local\n";
    let ed = c
        .propose_rule_change(
            &eng,
            &Proposal {
                kind: "edit".into(),
                yaml: Some(v3.into()),
                ..Proposal::default()
            },
            &checker,
            7,
        )
        .unwrap();
    let eng2 = user(c, "eng2", "mssp", Role::Engineer);
    c.review_rule_change(&eng2, ed.id, true, "", &checker, 8)
        .unwrap();
    let v4 = "title: Upstream 3\nid: rule-1\ndetection: v3\n";
    let rep = c
        .import_upstream(
            &sys(),
            &[
                ("r1.yml".into(), v4.into()),
                ("bad.yml".into(), "broken".into()),
            ],
            &checker,
            9,
        )
        .unwrap();
    assert_eq!(rep.proposed.len(), 1);
    assert_eq!(rep.rejected.len(), 1);
    let (rule, _) = c.stored_rule("rule-1").unwrap().unwrap();
    assert_eq!((rule.origin.as_str(), rule.yaml.as_str()), ("local", v3));
    assert_eq!(rule.upstream_yaml.as_deref(), Some(v4));
    let again = c
        .import_upstream(&sys(), &[("r1.yml".into(), v4.into())], &checker, 10)
        .unwrap();
    assert!(
        again.proposed.is_empty(),
        "the same upstream text is proposed once"
    );
}

fn folder_rules(c: &Control) {
    for t in ["soc", "acme"] {
        c.create_tenant(t, 0).unwrap();
    }
    c.add_scope(&sys(), "soc", "acme", 0).unwrap();
    let alice = user(c, "alice", "soc", Role::Engineer);
    let bob = user(c, "bob", "soc", Role::Engineer);
    let review = |ch: crate::RuleChange| {
        c.review_rule_change(&bob, ch.id, true, "", &checker, 3)
            .unwrap()
    };
    let mut event = |_: &str| -> Vec<String> { vec![] };
    // a rule that lives only in the configured folders (never stored)
    let off = c
        .propose_rule_change(
            &alice,
            &Proposal {
                kind: "disable".into(),
                rule_id: Some("folder-rule".into()),
                ..Proposal::default()
            },
            &checker,
            1,
        )
        .unwrap();
    assert_eq!(off.base_version, None);
    let g0 = c.gate_generation().unwrap();
    review(off);
    assert!(c.gate_generation().unwrap() > g0, "the gate must reload");
    let (row, _) = c.stored_rule("folder-rule").unwrap().unwrap();
    assert_eq!(
        (row.origin.as_str(), row.enabled, row.yaml.as_str()),
        ("folder", false, "")
    );
    let gate = c.gate(4).unwrap();
    for t in ["soc", "acme"] {
        assert_eq!(
            gate.decide(t, "folder-rule", "high", 4, &mut event),
            Decision::Excluded
        );
    }
    assert!(matches!(
        gate.decide("acme", "other-rule", "high", 4, &mut event),
        Decision::Alert { .. }
    ));
    // acme turns it back on for itself
    let on = c
        .propose_rule_change(
            &alice,
            &Proposal {
                kind: "overlay".into(),
                rule_id: Some("folder-rule".into()),
                tenant: Some("acme".into()),
                overlay: Some(Overlay {
                    enabled: Some(true),
                    ..Overlay::default()
                }),
                ..Proposal::default()
            },
            &checker,
            5,
        )
        .unwrap();
    review(on);
    let gate = c.gate(6).unwrap();
    assert!(matches!(
        gate.decide("acme", "folder-rule", "high", 6, &mut event),
        Decision::Alert { .. }
    ));
    assert_eq!(
        gate.decide("soc", "folder-rule", "high", 6, &mut event),
        Decision::Excluded
    );
    // an upstream import of that id takes over the text and keeps the flag
    let text = "title: Folder rule\nid: folder-rule\ndetection: x\n";
    let rep = c
        .import_upstream(&sys(), &[("f.yml".into(), text.into())], &checker, 7)
        .unwrap();
    assert_eq!(rep.updated, 1);
    let (row, _) = c.stored_rule("folder-rule").unwrap().unwrap();
    assert_eq!(
        (row.origin.as_str(), row.enabled, row.yaml.as_str()),
        ("upstream", false, text)
    );
}

fn desk_doc(c: &Control) {
    c.create_tenant("acme", 0).unwrap();
    let m = user(c, "m", "acme", Role::Manager);
    let t1 = user(c, "t1", "acme", Role::Tier1);
    let contact = |n: &str| Contact {
        name: n.into(),
        phone: "+49 30 1234".into(),
        hours: "24/7".into(),
        ..Contact::default()
    };
    let mut desk = Desk {
        triage: "provider tier1".into(),
        escalation: "acme IR".into(),
        contacts: vec![contact("CISO"), contact("IT on call")],
        ..Desk::default()
    };
    desk.escalation_plan
        .insert("high".into(), vec!["IT on call".into(), "CISO".into()]);
    desk.escalation_plan
        .insert("critical".into(), vec!["CISO".into()]);
    assert!(matches!(
        c.set_desk(&t1, "acme", &desk, 1),
        Err(ControlError::Forbidden(_))
    ));
    let mut bad = desk.clone();
    bad.escalation_plan
        .insert("low".into(), vec!["Nobody".into()]);
    assert!(matches!(
        c.set_desk(&m, "acme", &bad, 1),
        Err(ControlError::Invalid(_))
    ));
    c.set_desk(&m, "acme", &desk, 1).unwrap();
    let got = c.desk(&t1, "acme").unwrap();
    assert_eq!(got, desk);
    let names = |l: &str| -> Vec<String> { got.call_list(l).into_iter().map(|c| c.name).collect() };
    assert_eq!(names("high"), ["IT on call", "CISO"]);
    assert_eq!(
        names("medium"),
        ["IT on call", "CISO"],
        "the next more severe plan"
    );
    assert_eq!(names("critical"), ["CISO"]);
    // escalation goes to the matrix's team
    let id = one_alert(c, "acme", 1);
    let a = c
        .triage(
            &t1,
            id,
            &TriageAction::Escalate {
                to: None,
                note: String::new(),
            },
            2,
        )
        .unwrap();
    assert_eq!(a.escalated_to.as_deref(), Some("acme IR"));
    c.create_tenant("other", 0).unwrap();
    assert!(matches!(
        c.desk(&t1, "other"),
        Err(ControlError::NotFound(_))
    ));
}

fn hybrid(c: &Control) {
    for t in ["mssp", "acme", "globex"] {
        c.create_tenant(t, 0).unwrap();
    }
    c.add_scope(&sys(), "mssp", "acme", 0).unwrap();
    c.add_scope(&sys(), "mssp", "globex", 0).unwrap();
    let prov_t1 = user(c, "prov-t1", "mssp", Role::Tier1);
    let acme_ir = user(c, "acme-ir", "acme", Role::Tier2);
    let acme_cust = user(c, "acme-boss", "acme", Role::Customer);
    let m = user(c, "acme-lead", "acme", Role::Manager);
    c.set_desk(
        &m,
        "acme",
        &Desk {
            escalation: "acme-ir team".into(),
            ..Desk::default()
        },
        0,
    )
    .unwrap();
    let alert = one_alert(c, "acme", 1);
    let _globex_alert = one_alert(c, "globex", 2);
    // provider tier 1 triages and escalates to the customer's team
    c.triage(&prov_t1, alert, &TriageAction::Acknowledge, MIN)
        .unwrap();
    let a = c
        .triage(
            &prov_t1,
            alert,
            &TriageAction::Escalate {
                to: None,
                note: "confirmed, needs the customer".into(),
            },
            2 * MIN,
        )
        .unwrap();
    assert_eq!(a.escalated_to.as_deref(), Some("acme-ir team"));
    // the customer's responder takes it, opens a case, adds observables, closes both
    c.triage(&acme_ir, alert, &TriageAction::Start, 3 * MIN)
        .unwrap();
    let case = c
        .create_case(
            &acme_ir,
            &NewCase {
                tenant: "acme".into(),
                title: "Credential theft".into(),
                alerts: vec![alert],
                ..NewCase::default()
            },
            4 * MIN,
        )
        .unwrap();
    c.add_observable(&acme_ir, case.id, "host", "WS1", "", 5 * MIN)
        .unwrap();
    c.add_observable(&acme_ir, case.id, "user", "ACME\\jdoe", "", 5 * MIN)
        .unwrap();
    c.triage(&acme_ir, alert, &close(Verdict::TruePositive), 6 * MIN)
        .unwrap();
    c.update_case(
        &acme_ir,
        case.id,
        &CaseUpdate {
            status: Some("closed".into()),
            resolution: Some("password reset, host reimaged".into()),
            ..CaseUpdate::default()
        },
        7 * MIN,
    )
    .unwrap();
    // every step is in the history and the audit log
    let h = c.alert_history(&acme_cust, alert).unwrap();
    let steps: Vec<_> = h
        .iter()
        .filter(|e| e.field == "status")
        .map(|e| (e.actor.as_str(), e.new.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        steps,
        [
            ("prov-t1", "acknowledged"),
            ("prov-t1", "escalated"),
            ("acme-ir", "in_progress"),
            ("acme-ir", "closed")
        ]
    );
    assert!(h.iter().any(|e| e.field == "case"));
    let log = c.audit_log(&["acme".into()], false, 100).unwrap();
    for (actor, action) in [
        ("prov-t1", "alert.acknowledge"),
        ("prov-t1", "alert.escalate"),
        ("acme-ir", "alert.start"),
        ("acme-ir", "case.create"),
        ("acme-ir", "case.observable_add"),
        ("acme-ir", "alert.close"),
        ("acme-ir", "case.update"),
    ] {
        assert!(
            log.iter().any(|r| r.actor == actor && r.action == action),
            "{actor} {action} missing"
        );
    }
    // the customer sees its tenant and nothing of any other
    assert_eq!(acme_cust.scope, ["acme"]);
    let all = c
        .alerts(&AlertFilter {
            tenants: acme_cust.scope_for(crate::Perm::ReadAlerts),
            ..AlertFilter::default()
        })
        .unwrap();
    assert!(all.alerts.iter().all(|a| a.tenant == "acme"));
    assert_eq!(all.alerts.len(), 1);
    assert!(
        c.cases(&acme_cust, &["globex".into(), "mssp".into()], false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.case(&acme_cust, case.id).unwrap().status, "closed");
    assert!(
        c.audit_log(&acme_cust.scope, false, 100)
            .unwrap()
            .iter()
            .all(|r| r.tenant.as_deref() == Some("acme"))
    );
    let (_, problems) = c.verify_audit().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}
