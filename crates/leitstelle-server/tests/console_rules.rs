//! The console's rules and dashboard pages over the server's real router (in-process,
//! `oneshot`), logged in by form as people of different roles:
//! - the rule set lists, searches and shows rules; rule text renders inert;
//! - four-eyes review: the author is offered no approve button and a forced approval is
//!   refused on the page; another engineer approves and the rule goes live; roles without
//!   the permission see no actions and get 403 from the forms;
//! - the dashboard counts alerts of two tenants, and a person scoped to one sees only its
//!   numbers; with ten thousand alerts it still renders quickly.

mod common;

use std::time::Instant;

use leitstelle_control::{Control, Detection, MatchedEvent, Principal, Role};

use common::console::{Console, urlencode};

const PASSWORD: &str = "a long password";

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// People: alice and bob (detection engineers), tim (tier 1) and mia (manager) of the
/// operator tenant `default`, contracted for `acme` and `globex`; cara, the customer of
/// `acme`.
fn people(c: &Control) {
    let sys = Principal::system();
    for t in ["acme", "globex"] {
        c.create_tenant(t, 0).expect("tenant");
        c.add_scope(&sys, "default", t, 0).expect("scope");
    }
    for (u, r) in [
        ("alice", Role::Engineer),
        ("bob", Role::Engineer),
        ("tim", Role::Tier1),
        ("mia", Role::Manager),
    ] {
        c.create_user(&sys, u, PASSWORD, "default", r, 0)
            .expect("user");
    }
    c.create_user(&sys, "cara", PASSWORD, "acme", Role::Customer, 0)
        .expect("user");
}

const EVIL: &str = "<script>alert(1)</script>";

const PROCESS_RULE: &str = "6f0c3c1e-0b7e-4c8e-9a57-1e2e00000001";

fn new_rule(marker: &str) -> String {
    format!(
        "title: 'Proposed {EVIL} rule'
id: 0b8e1d2c-0000-4000-8000-00000000c0{n:02}
status: test
description: 'Catches {EVIL} in command lines'
level: high
tags:
  - attack.execution
  - attack.t1059.003
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    CommandLine|contains: '{marker}'
  condition: selection
",
        n = marker.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pages_and_four_eyes_review() {
    let c = Console::start("console-rules").await;
    c.setup(people).await;
    let alice = c.login("alice", PASSWORD).await;
    let bob = c.login("bob", PASSWORD).await;
    let tim = c.login("tim", PASSWORD).await;

    // the rule set, searched by text and by level
    let (st, list) = c.get(&tim, "/rules").await;
    assert_eq!(st, 200);
    for title in [
        "E2E marker in a process command line",
        "E2E marker in a syslog message",
    ] {
        assert!(list.contains(title), "{title} listed");
    }
    assert!(list.contains(&format!("href=\"/rules/{PROCESS_RULE}\"")));
    let (_, found) = c.get(&tim, "/rules?q=syslog+linux&level=").await;
    assert!(found.contains("E2E marker in a syslog message"));
    assert!(!found.contains("E2E marker in a process command line"));
    let (_, high) = c.get(&tim, "/rules?q=&level=high").await;
    assert!(high.contains("E2E marker in a process command line"));
    assert!(!high.contains("E2E marker in a syslog message"));
    let (_, tagged) = c.get(&tim, "/rules?q=T1059").await;
    assert!(tagged.contains("E2E marker in a process command line"));
    assert!(!tagged.contains("E2E marker in any JSON event"));

    // one rule: metadata, ATT&CK link, YAML; tier 1 gets no proposal form
    let (st, rule) = c.get(&tim, &format!("/rules/{PROCESS_RULE}")).await;
    assert_eq!(st, 200);
    assert!(rule.contains("windows/process_creation"));
    assert!(rule.contains("https://attack.mitre.org/techniques/T1059/"));
    assert!(rule.contains("leitstelle-e2e-marker"), "the YAML");
    assert!(
        !rule.contains("action=\"/rules/new\""),
        "no actions for tier 1"
    );
    let (st, _) = c.get(&tim, "/rules/no-such-rule").await;
    assert_eq!(st, 404);
    let (_, rule) = c.get(&alice, &format!("/rules/{PROCESS_RULE}")).await;
    assert!(
        rule.contains("action=\"/rules/new\""),
        "engineers may propose"
    );

    // proposing: a reason is required; tier 1 is refused; the form needs its CSRF field
    let yaml = new_rule("four-eyes-console");
    let (st, _, form) = c
        .post(
            &alice,
            "/rules/new",
            &[("kind", "create"), ("yaml", &yaml), ("note", " ")],
        )
        .await;
    assert_eq!(st, 400);
    assert!(form.contains("A reason is required"), "{form}");
    assert!(
        form.contains("&lt;script&gt;"),
        "the text comes back, inert"
    );
    let (st, _, _) = c
        .post(
            &tim,
            "/rules/new",
            &[("kind", "create"), ("yaml", &yaml), ("note", "x")],
        )
        .await;
    assert_eq!(st, 403);
    let (st, _, _) = c
        .send(
            "POST",
            "/rules/new",
            Some(&alice),
            Some(format!("kind=create&note=x&yaml={}", urlencode(&yaml))),
            None,
        )
        .await;
    assert_eq!(st, 403, "no CSRF field");
    let (st, _, bad) = c
        .post(
            &alice,
            "/rules/new",
            &[("kind", "create"), ("yaml", "title: x"), ("note", "x")],
        )
        .await;
    assert_eq!(st, 400, "a broken rule is refused: {bad}");
    assert!(bad.contains("role=\"alert\""));
    let (st, location, _) = c
        .post(
            &alice,
            "/rules/new",
            &[
                ("kind", "create"),
                ("yaml", &yaml),
                ("note", "new detection"),
            ],
        )
        .await;
    assert_eq!(st, 303);
    assert!(location.starts_with("/rules/changes/"), "{location}");

    // the queue and the change as its author sees it: no approve button, a withdraw one
    let (_, queue) = c.get(&bob, "/rules/changes").await;
    assert!(queue.contains(&format!("href=\"{location}\"")), "{queue}");
    let (st, mine) = c.get(&alice, &location).await;
    assert_eq!(st, 200);
    assert!(
        !mine.contains("value=\"approve\""),
        "the author may not approve"
    );
    assert!(mine.contains("another person must approve"));
    assert!(mine.contains(&format!("{location}/withdraw")));
    assert!(
        mine.contains("class=\"ins\""),
        "the new text as added lines"
    );
    assert_eq!(mine.matches("<script").count(), 1, "only the app's script");
    assert!(mine.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // forcing it anyway is refused by the control plane, plainly
    let review = format!("{location}/review");
    let (st, _, refused) = c
        .post(&alice, &review, &[("decision", "approve"), ("note", "")])
        .await;
    assert_eq!(st, 403);
    assert!(refused.contains("role=\"alert\">Refused:"), "{refused}");
    assert!(refused.contains("the author of a change cannot approve it"));
    // tier 1 sees no review actions and is refused
    let (_, theirs) = c.get(&tim, &location).await;
    assert!(!theirs.contains("value=\"approve\"") && !theirs.contains("value=\"reject\""));
    let (st, _, _) = c
        .post(&tim, &review, &[("decision", "approve"), ("note", "")])
        .await;
    assert_eq!(st, 403);
    let (st, _, _) = c.post(&tim, &format!("{location}/withdraw"), &[]).await;
    assert_eq!(st, 403);
    // another engineer approves: the rule is stored, live, and shows its versions
    let (_, other) = c.get(&bob, &location).await;
    assert!(other.contains("value=\"approve\""));
    assert!(!other.contains("/withdraw\""));
    let (st, back, _) = c
        .post(&bob, &review, &[("decision", "approve"), ("note", "lgtm")])
        .await;
    assert_eq!(st, 303);
    assert_eq!(back, location);
    let (_, done) = c.get(&bob, &location).await;
    assert!(done.contains("change-approved"));
    assert!(done.contains("lgtm"));
    let new_id = "0b8e1d2c-0000-4000-8000-00000000c017";
    let (st, stored) = c.get(&tim, &format!("/rules/{new_id}")).await;
    assert_eq!(st, 200, "{stored}");
    assert!(stored.contains("Versions"));
    assert!(
        stored.contains("<td>alice</td><td>bob</td>"),
        "author and approver"
    );
    assert_eq!(stored.matches("<script").count(), 1);
    assert!(stored.contains("Proposed &lt;script&gt;alert(1)&lt;/script&gt; rule"));
    let (_, list) = c.get(&tim, "/rules?q=proposed+t1059.003").await;
    assert!(
        list.contains(&format!("href=\"/rules/{new_id}\"")),
        "{list}"
    );
    assert_eq!(list.matches("<script").count(), 1);
    // deciding twice is a conflict, shown on the page
    let (st, _, again) = c
        .post(&bob, &review, &[("decision", "reject"), ("note", "")])
        .await;
    assert_eq!(st, 409);
    assert!(again.contains("Refused:"));

    // an edit shows a line diff against the stored text; its author withdraws it
    let (st, form) = c.get(&alice, &format!("/rules/new?rule={new_id}")).await;
    assert_eq!(st, 200);
    assert!(form.contains("name=\"kind\" value=\"edit\""));
    let edited = yaml.replace("level: high", "level: critical");
    let (st, location, _) = c
        .post(
            &alice,
            "/rules/new",
            &[
                ("kind", "edit"),
                ("rule_id", new_id),
                ("yaml", &edited),
                ("note", "more severe"),
            ],
        )
        .await;
    assert_eq!(st, 303);
    let (_, diff) = c.get(&bob, &location).await;
    assert!(
        diff.contains("<del><code>level: high</code></del>"),
        "{diff}"
    );
    assert!(diff.contains("<ins><code>level: critical</code></ins>"));
    let (st, _, refused) = c.post(&bob, &format!("{location}/withdraw"), &[]).await;
    assert_eq!(st, 403, "only the author withdraws");
    assert!(refused.contains("only the author may withdraw"));
    let (st, _, _) = c.post(&alice, &format!("{location}/withdraw"), &[]).await;
    assert_eq!(st, 303);
    let (_, gone) = c.get(&alice, &location).await;
    assert!(gone.contains("change-withdrawn"));
    let (_, queue) = c.get(&bob, "/rules/changes").await;
    assert!(queue.contains("Nothing awaits review."), "{queue}");

    // disabling a folder rule is a change too
    let (st, location, _) = c
        .post(
            &alice,
            "/rules/new",
            &[
                ("kind", "disable"),
                ("rule_id", PROCESS_RULE),
                ("note", "noisy"),
            ],
        )
        .await;
    assert_eq!(st, 303);
    let (st, _, _) = c
        .post(
            &bob,
            &format!("{location}/review"),
            &[("decision", "approve"), ("note", "ok")],
        )
        .await;
    assert_eq!(st, 303);
    let (_, rule) = c.get(&tim, &format!("/rules/{PROCESS_RULE}")).await;
    assert!(rule.contains("disabled for every tenant"), "{rule}");
    c.stop().await;
}

fn detection(
    tenant: &str,
    rule: &str,
    title: &str,
    level: &str,
    tags: &[&str],
    n: u64,
) -> Detection {
    let now = now_ns();
    Detection {
        tenant: tenant.into(),
        rule_id: rule.into(),
        rule_title: title.into(),
        level: level.into(),
        level_rank: leitstelle_control::level_rank(level).expect("level"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        group_key: format!("{tenant}-host-{n}"),
        count: 1,
        first_seen_ns: now,
        last_seen_ns: now,
        events: vec![MatchedEvent {
            seq: n,
            seen_ns: now,
            event: serde_json::json!({"n": n, "note": EVIL}).to_string(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_counts_two_tenants_and_respects_scope() {
    let c = Console::start("console-dash").await;
    c.setup(|c| {
        people(c);
        let mut d = Vec::new();
        for n in 0..3 {
            d.push(detection(
                "acme",
                PROCESS_RULE,
                "E2E marker in a process command line",
                "high",
                &["attack.execution", "attack.t1059"],
                n,
            ));
        }
        for n in 3..5 {
            d.push(detection(
                "globex",
                "globex-only-rule",
                &format!("Globex {EVIL} rule"),
                "medium",
                &["attack.t1003.001"],
                n,
            ));
        }
        c.apply(&d, &[], &[], 0, 5, now_ns()).expect("alerts");
    })
    .await;
    let mia = c.login("mia", PASSWORD).await;
    let cara = c.login("cara", PASSWORD).await;
    let tim = c.login("tim", PASSWORD).await;

    let (st, all) = c.get(&mia, "/dashboard").await;
    assert_eq!(st, 200);
    assert!(all.contains("Alerts raised by level (5)"), "{all}");
    assert!(all.contains("<td class=\"tenant\">acme</td>"));
    assert!(all.contains("<td class=\"tenant\">globex</td>"));
    assert!(all.contains("Globex &lt;script&gt;alert(1)&lt;/script&gt; rule"));
    assert_eq!(all.matches("<script").count(), 1, "only the app's script");
    assert!(!all.contains("style="));
    // every bar segment and matrix cell has a tooltip
    let rects =
        all.matches("<rect class=\"seg").count() + all.matches("<rect class=\"cell").count();
    let titled = all
        .split("<rect class=\"")
        .skip(1)
        .filter(|r| r.contains("><title>"))
        .count();
    assert!(
        rects > 0 && titled >= rects,
        "{rects} rects, {titled} titled"
    );
    // the process rule is enabled and tagged: T1059 is covered and had alerts
    assert!(
        all.contains("<rect class=\"cell hit\""),
        "a technique with alerts"
    );
    assert!(all.contains("T1059 · Execution"));
    // periods, and the tenant switcher narrowing to one tenant
    let (st, week) = c.get(&mia, "/dashboard?period=7d").await;
    assert_eq!(st, 200);
    assert!(week.contains("aria-current=\"page\">7d<"));
    let (_, one) = c.get(&mia, "/dashboard?tenant=globex&period=30d").await;
    assert!(one.contains("Alerts raised by level (2)"), "{one}");
    assert!(!one.contains("<td class=\"tenant\">acme</td>"));

    // the customer of acme sees acme's numbers only, and nothing of globex
    let (st, own) = c.get(&cara, "/dashboard").await;
    assert_eq!(st, 200);
    assert!(own.contains("Alerts raised by level (3)"), "{own}");
    assert!(!own.contains("globex") && !own.contains("Globex"), "{own}");
    let (_, forced) = c.get(&cara, "/dashboard?tenant=globex").await;
    assert!(
        forced.contains("Alerts raised by level (3)"),
        "a tenant outside the scope is ignored"
    );
    assert!(!forced.contains("Globex"));
    // tier 1 reads metrics too
    let (st, _) = c.get(&tim, "/dashboard").await;
    assert_eq!(st, 200);
    // the rules pages are closed to whoever may not read rules (an ingest-only user)
    c.setup(|c| {
        c.create_user(
            &Principal::system(),
            "feeder",
            PASSWORD,
            "acme",
            Role::Ingest,
            0,
        )
        .expect("user")
    })
    .await;
    let feeder = c.login("feeder", PASSWORD).await;
    for uri in ["/dashboard", "/rules", "/rules/changes"] {
        let (st, _) = c.get(&feeder, uri).await;
        assert_eq!(st, 403, "{uri}");
    }
    c.stop().await;
}

/// Ten thousand open alerts over two tenants: the dashboard is counted by the database, so
/// it renders well under a second (the time is printed, not asserted: scripts/bench-console.sh
/// measures pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_with_ten_thousand_alerts_renders_quickly() {
    let c = Console::start("console-dash-10k").await;
    c.setup(|c| {
        people(c);
        let levels = ["informational", "low", "medium", "high", "critical"];
        let d: Vec<Detection> = (0..10_000u64)
            .map(|n| {
                let tenant = if n % 3 == 0 { "globex" } else { "acme" };
                let rule = format!("rule-{}", n % 40);
                let tag = format!("attack.t{}", 1000 + n % 40);
                let mut det = detection(
                    tenant,
                    &rule,
                    &format!("Rule {}", n % 40),
                    levels[(n % 5) as usize],
                    &["attack.execution", tag.as_str()],
                    n,
                );
                det.events.clear();
                det
            })
            .collect();
        c.apply(&d, &[], &[], 0, 10_000, now_ns()).expect("alerts");
    })
    .await;
    let mia = c.login("mia", PASSWORD).await;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let (st, page) = c.get(&mia, "/dashboard?period=30d").await;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(st, 200);
        assert!(page.contains("Alerts raised by level (10000)"));
        best = best.min(secs);
    }
    eprintln!(
        "dashboard with 10000 open alerts: {:.0} ms (best of 3)",
        best * 1000.0
    );
    c.stop().await;
}
