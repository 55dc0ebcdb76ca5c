//! Tenants, tokens, scopes, users and sessions, alerts and dead letters.

use super::Case;
use crate::{
    AlertFilter, Control, ControlError, DeadLetter, Detection, LOCKOUT_NS, Login,
    MAX_EVENTS_PER_ALERT, MAX_FAILED_LOGINS, MatchedEvent, Perm, Principal, Role, Status,
    TOKEN_PREFIX, random_password,
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        ("tenants are created once and listed", tenants),
        ("tokens authenticate until revoked", tokens),
        ("provider scopes widen only the provider", scopes),
        ("passwords are hashed and verified at login", passwords),
        ("repeated failures lock a user out", lockout),
        ("sessions live until logout", sessions),
        ("roles are granted per tenant", roles),
        (
            "repeated matches within the window update one alert",
            grouping,
        ),
        (
            "folded detections count every match, keep at most the cap",
            folding,
        ),
        ("alert listing respects scope, filters and paging", listing),
        (
            "dead letters are kept per tenant, batches are atomic",
            dead_letters,
        ),
        (
            "closed alerts are not reopened by new matches",
            closed_stay_closed,
        ),
    ]
}

pub(super) fn sys() -> Principal {
    Principal::system()
}

pub(super) const MIN: i64 = 60_000_000_000;

pub(super) fn det(tenant: &str, rule: &str, host: &str, seq: u64, seen_ns: i64) -> Detection {
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
            event: serde_json::json!({"seq": seq, "host": host, "ip": "10.1.2.3"}).to_string(),
        }],
    }
}

fn tenants(c: &Control) {
    let a = c.create_tenant("acme", 1).unwrap();
    assert_eq!(a.name, "acme");
    assert!(matches!(
        c.create_tenant("acme", 2),
        Err(ControlError::TenantExists(_))
    ));
    assert!(matches!(
        c.create_tenant("bad name", 2),
        Err(ControlError::InvalidName(_))
    ));
    c.create_tenant("default", 3).unwrap();
    let names: Vec<_> = c.tenants().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["acme", "default"]);
    assert_eq!(c.tenant("acme").unwrap(), Some(a));
    assert_eq!(c.tenant("nope").unwrap(), None);
    assert_eq!(c.detect_seq().unwrap(), 0);
}

fn tokens(c: &Control) {
    c.create_tenant("acme", 1).unwrap();
    c.create_tenant("globex", 1).unwrap();
    let (info, secret) = c
        .create_token(&sys(), "acme", Role::Ingest, "winlogbeat", 5)
        .unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX));
    assert!(secret.starts_with(&info.prefix));
    let p = c.authenticate_token(&secret).unwrap().unwrap();
    assert_eq!(p.tenant, "acme");
    assert_eq!(p.roles_in("acme"), [Role::Ingest]);
    assert!(p.can(Perm::Ingest, "acme"));
    assert!(!p.can(Perm::ReadAlerts, "acme"));
    assert_eq!(c.authenticate_token("lst_wrong").unwrap(), None);
    assert_eq!(c.authenticate_token("").unwrap(), None);
    assert_eq!(c.tokens(Some("acme")).unwrap(), vec![info.clone()]);
    assert!(c.tokens(Some("globex")).unwrap().is_empty());
    // an admin of another tenant can neither create nor revoke acme's tokens
    let (_, g) = c
        .create_token(&sys(), "globex", Role::Admin, "g", 5)
        .unwrap();
    let g = c.authenticate_token(&g).unwrap().unwrap();
    assert!(matches!(
        c.create_token(&g, "acme", Role::Admin, "x", 6),
        Err(ControlError::Forbidden(_))
    ));
    assert!(!c.revoke_token(&g, info.id, 7).unwrap());
    assert!(c.authenticate_token(&secret).unwrap().is_some());
    assert!(c.revoke_token(&sys(), info.id, 9).unwrap());
    assert!(!c.revoke_token(&sys(), info.id, 10).unwrap());
    assert_eq!(c.authenticate_token(&secret).unwrap(), None);
    assert_eq!(c.tokens(None).unwrap()[0].revoked_ns, Some(9));
    assert!(matches!(
        c.create_token(&sys(), "nope", Role::Admin, "x", 1),
        Err(ControlError::NoTenant(_))
    ));
    // nothing secret is stored
    let stored = c.query_raw("SELECT hash FROM tokens", &[]).unwrap();
    for r in stored {
        assert!(!r.text(0).unwrap().contains(&secret[TOKEN_PREFIX.len()..]));
    }
}

fn scopes(c: &Control) {
    for t in ["mssp", "acme", "globex"] {
        c.create_tenant(t, 1).unwrap();
    }
    let (_, provider) = c.create_token(&sys(), "mssp", Role::Admin, "p", 1).unwrap();
    let (_, customer) = c.create_token(&sys(), "acme", Role::Admin, "c", 1).unwrap();
    let auth = |s: &str| c.authenticate_token(s).unwrap().unwrap();
    assert_eq!(auth(&provider).scope, ["mssp"]);
    assert!(c.add_scope(&sys(), "mssp", "acme", 2).unwrap());
    assert!(!c.add_scope(&sys(), "mssp", "acme", 2).unwrap());
    assert!(!c.add_scope(&sys(), "mssp", "mssp", 2).unwrap());
    assert!(matches!(
        c.add_scope(&sys(), "mssp", "nope", 2),
        Err(ControlError::NoTenant(_))
    ));
    // a customer's admin is not the operator: it cannot make contracts
    assert!(matches!(
        c.add_scope(&auth(&customer), "acme", "globex", 2),
        Err(ControlError::Forbidden(_))
    ));
    assert!(c.add_scope(&sys(), "mssp", "globex", 2).unwrap());
    let p = auth(&provider);
    assert_eq!(p.scope, ["acme", "globex", "mssp"]);
    assert!(p.operator);
    let cu = auth(&customer);
    assert_eq!(cu.scope, ["acme"], "a customer does not see its provider");
    assert!(!cu.operator);
    assert_eq!(
        c.scopes().unwrap(),
        [
            ("mssp".to_string(), "acme".to_string()),
            ("mssp".into(), "globex".into())
        ]
    );
    assert!(c.remove_scope(&sys(), "mssp", "acme", 3).unwrap());
    assert!(!c.remove_scope(&sys(), "mssp", "acme", 3).unwrap());
    assert_eq!(auth(&provider).scope, ["globex", "mssp"]);
}

fn passwords(c: &Control) {
    c.create_tenant("default", 1).unwrap();
    let pw = random_password().unwrap();
    assert_eq!(pw.len(), 24);
    let u = c
        .create_user(&sys(), "admin", &pw, "default", Role::Admin, 2)
        .unwrap();
    assert!(matches!(
        c.create_user(&sys(), "admin", "x", "default", Role::Admin, 3),
        Err(ControlError::UserExists(_))
    ));
    let Login::Ok(s) = c.login("admin", &pw, 4).unwrap() else {
        panic!("login refused")
    };
    assert_eq!(s.principal.user_id(), Some(u.id));
    assert_eq!(s.principal.roles_in("default"), [Role::Admin]);
    assert_eq!(c.login("admin", "wrong", 5).unwrap(), Login::Invalid);
    assert_eq!(c.login("nobody", &pw, 5).unwrap(), Login::Invalid);
    let stored = c.query_raw("SELECT password_hash FROM users", &[]).unwrap();
    let h = stored[0].text(0).unwrap();
    assert!(h.starts_with("$argon2id$"));
    assert!(!h.contains(&pw));
    // a new password replaces the old one
    c.set_password(&sys(), "admin", "n3w-passw0rd", 6).unwrap();
    assert_eq!(c.login("admin", &pw, 7).unwrap(), Login::Invalid);
    assert!(matches!(
        c.login("admin", "n3w-passw0rd", 8).unwrap(),
        Login::Ok(_)
    ));
}

fn lockout(c: &Control) {
    c.create_tenant("t", 1).unwrap();
    c.create_user(&sys(), "eve", "right", "t", Role::Tier1, 1)
        .unwrap();
    for i in 1..MAX_FAILED_LOGINS {
        assert_eq!(c.login("eve", "wrong", 10 + i).unwrap(), Login::Invalid);
    }
    let until = match c.login("eve", "wrong", 100).unwrap() {
        Login::Locked { until_ns } => until_ns,
        other => panic!("expected a lockout, got {other:?}"),
    };
    assert_eq!(until, 100 + LOCKOUT_NS);
    // while locked even the right password is refused
    assert!(matches!(
        c.login("eve", "right", 200).unwrap(),
        Login::Locked { .. }
    ));
    assert!(matches!(
        c.login("eve", "right", until + 1).unwrap(),
        Login::Ok(_)
    ));
    // every attempt is in the audit log
    let log = c.audit_log(&["t".to_string()], true, 100).unwrap();
    let failures = log.iter().filter(|r| r.action == "login.failure").count();
    assert_eq!(failures as i64, MAX_FAILED_LOGINS);
    assert!(log.iter().any(|r| r.action == "login.refused"));
    assert!(log.iter().any(|r| r.action == "login.success"));
}

fn sessions(c: &Control) {
    c.create_tenant("t", 1).unwrap();
    c.create_user(&sys(), "ann", "pw", "t", Role::Tier2, 1)
        .unwrap();
    let Login::Ok(s) = c.login("ann", "pw", 10).unwrap() else {
        panic!("login refused")
    };
    let (p, csrf) = c.authenticate_session(&s.secret, 11).unwrap().unwrap();
    assert_eq!(p.actor(), "ann");
    assert_eq!(csrf, s.csrf);
    assert!(
        c.authenticate_session(&s.secret, s.expires_ns + 1)
            .unwrap()
            .is_none()
    );
    assert!(c.authenticate_session("lss_forged", 11).unwrap().is_none());
    assert!(c.authenticate_session(&s.csrf, 11).unwrap().is_none());
    assert!(c.logout(&s.secret, 12).unwrap());
    assert!(!c.logout(&s.secret, 13).unwrap());
    assert!(c.authenticate_session(&s.secret, 14).unwrap().is_none());
    let stored = c.query_raw("SELECT id_hash FROM sessions", &[]).unwrap();
    assert!(stored.iter().all(|r| r.text(0).unwrap() != s.secret));
}

fn roles(c: &Control) {
    c.create_tenant("mssp", 1).unwrap();
    c.create_tenant("acme", 1).unwrap();
    c.create_user(&sys(), "bob", "pw", "mssp", Role::Tier1, 1)
        .unwrap();
    assert!(
        c.set_role(&sys(), "bob", "acme", Role::Hunter, true, 2)
            .unwrap()
    );
    assert!(
        !c.set_role(&sys(), "bob", "acme", Role::Hunter, true, 2)
            .unwrap()
    );
    let p = c.principal_of_user("bob").unwrap().unwrap();
    assert_eq!(p.roles_in("acme"), [Role::Hunter]);
    assert_eq!(p.roles_in("mssp"), [Role::Tier1]);
    let u = c.user("bob").unwrap().unwrap();
    assert_eq!(u.tenant, "mssp");
    assert_eq!(u.roles.len(), 2);
    assert_eq!(c.users(&["acme".into()]).unwrap().len(), 1);
    assert!(c.users(&["other".into()]).unwrap().is_empty());
    assert!(matches!(
        c.set_role(&sys(), "nobody", "acme", Role::Hunter, true, 2),
        Err(ControlError::NoUser(_))
    ));
    assert!(
        c.set_role(&sys(), "bob", "acme", Role::Hunter, false, 3)
            .unwrap()
    );
    assert!(
        c.principal_of_user("bob")
            .unwrap()
            .unwrap()
            .roles_in("acme")
            .is_empty()
    );
}

fn grouping(c: &Control) {
    c.create_tenant("acme", 0).unwrap();
    let a = c
        .apply(
            &[
                det("acme", "r1", "ws1", 1, 10 * MIN),
                det("acme", "r1", "ws1", 2, 11 * MIN),
                det("acme", "r1", "ws2", 3, 11 * MIN),
                det("acme", "r2", "ws1", 4, 11 * MIN),
            ],
            &[],
            &[],
            30 * MIN,
            4,
            99,
        )
        .unwrap();
    assert_eq!(a.created.len(), 3);
    assert!(a.updated.is_empty());
    assert_eq!(c.detect_seq().unwrap(), 4);
    let b = c
        .apply(
            &[
                det("acme", "r1", "ws1", 5, 40 * MIN),
                det("acme", "r1", "ws1", 6, 80 * MIN),
            ],
            &[],
            &[],
            30 * MIN,
            6,
            100,
        )
        .unwrap();
    assert_eq!(b.updated, vec![a.created[0]]);
    assert_eq!(b.created.len(), 1);
    let scope = vec!["acme".to_string()];
    let (first, events) = c.alert(&scope, a.created[0]).unwrap().unwrap();
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

fn folding(c: &Control) {
    c.create_tenant("a", 0).unwrap();
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
    let a = c.apply(&[d.clone()], &[], &[], 60 * MIN, 150, 1).unwrap();
    let scope = ["a".to_string()];
    let (alert, events) = c.alert(&scope, a.created[0]).unwrap().unwrap();
    assert_eq!(alert.count, 150);
    assert_eq!((alert.first_seen_ns, alert.last_seen_ns), (MIN, 2 * MIN));
    assert_eq!(events.len(), MAX_EVENTS_PER_ALERT as usize);
    let b = c.apply(&[d], &[], &[], 60 * MIN, 300, 1).unwrap();
    assert_eq!(b.updated, a.created);
    let (alert, events) = c.alert(&scope, a.created[0]).unwrap().unwrap();
    assert_eq!(alert.count, 300);
    assert_eq!(events.len(), MAX_EVENTS_PER_ALERT as usize);
}

fn listing(c: &Control) {
    c.create_tenant("a", 0).unwrap();
    c.create_tenant("b", 0).unwrap();
    let mut ds = Vec::new();
    for i in 0..5 {
        ds.push(det("a", &format!("r{i}"), "h", i, i as i64 * MIN));
    }
    let mut low = det("b", "rb", "h", 9, 3 * MIN);
    low.level = "low".into();
    low.level_rank = 1;
    ds.push(low);
    c.apply(&ds, &[], &[], MIN, 9, 1).unwrap();
    let f = |tenants: &[&str]| AlertFilter {
        tenants: tenants.iter().map(|s| s.to_string()).collect(),
        ..AlertFilter::default()
    };
    assert!(c.alerts(&f(&[])).unwrap().alerts.is_empty());
    assert_eq!(c.alerts(&f(&["a"])).unwrap().alerts.len(), 5);
    assert_eq!(c.alerts(&f(&["b"])).unwrap().alerts.len(), 1);
    assert_eq!(c.alerts(&f(&["a", "b"])).unwrap().alerts.len(), 6);
    let high = AlertFilter {
        min_level_rank: Some(3),
        ..f(&["a", "b"])
    };
    assert_eq!(c.alerts(&high).unwrap().alerts.len(), 5);
    let rule = AlertFilter {
        rule_id: Some("r2".into()),
        ..f(&["a"])
    };
    assert_eq!(c.alerts(&rule).unwrap().alerts[0].rule_id, "r2");
    let time = AlertFilter {
        from_ns: Some(2 * MIN),
        to_ns: Some(4 * MIN),
        ..f(&["a"])
    };
    let ids: Vec<_> = c
        .alerts(&time)
        .unwrap()
        .alerts
        .iter()
        .map(|a| a.rule_id.clone())
        .collect();
    assert_eq!(ids, ["r3", "r2"]);
    let mut seen = Vec::new();
    let mut page = AlertFilter {
        limit: Some(2),
        ..f(&["a"])
    };
    loop {
        let p = c.alerts(&page).unwrap();
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
    let b_id = c.alerts(&f(&["b"])).unwrap().alerts[0].id;
    assert_eq!(c.alert(&["a".to_string()], b_id).unwrap(), None);
    let counts = c.alert_counts().unwrap();
    assert!(counts.contains(&("a".to_string(), Status::New, 5)));
    let open = AlertFilter {
        open_only: true,
        status: Some(Status::New),
        ..f(&["a"])
    };
    assert_eq!(c.alerts(&open).unwrap().alerts.len(), 5);
}

fn dead_letters(c: &Control) {
    c.create_tenant("a", 0).unwrap();
    let l = DeadLetter {
        tenant: "a".into(),
        seq: 7,
        received_ns: 5,
        source: "http".into(),
        reason: "invalid JSON".into(),
        raw: b"{oops\xff".to_vec(),
    };
    let r = c
        .apply(&[], std::slice::from_ref(&l), &[], 0, 7, 1)
        .unwrap();
    assert_eq!(r.dead_letters, 1);
    assert_eq!(c.dead_letters("a", 10).unwrap(), vec![l.clone()]);
    let unknown = DeadLetter {
        tenant: "zz".into(),
        ..l
    };
    assert!(matches!(
        c.apply(&[det("a", "r", "h", 8, 1)], &[unknown], &[], 0, 8, 1),
        Err(ControlError::NoTenant(_))
    ));
    // the failed batch changed nothing
    assert_eq!(c.detect_seq().unwrap(), 7);
    assert!(
        c.alerts(&AlertFilter {
            tenants: vec!["a".into()],
            ..AlertFilter::default()
        })
        .unwrap()
        .alerts
        .is_empty()
    );
}

fn closed_stay_closed(c: &Control) {
    c.create_tenant("a", 0).unwrap();
    let first = c
        .apply(&[det("a", "r", "h", 1, MIN)], &[], &[], 60 * MIN, 1, 1)
        .unwrap();
    c.execute_raw("UPDATE alerts SET status = 'closed'", &[])
        .unwrap();
    let second = c
        .apply(&[det("a", "r", "h", 2, 2 * MIN)], &[], &[], 60 * MIN, 2, 1)
        .unwrap();
    assert_ne!(first.created, second.created);
    assert_eq!(second.created.len(), 1);
}
