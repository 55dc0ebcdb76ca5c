//! The console's case, tenant and admin pages through the server's real router (in-process,
//! `oneshot`), logged in with form sessions: each page's forms do what they say, every form
//! needs its CSRF field, a user without the permission gets no form and a 403 when forcing
//! one, another tenant's objects stay invisible, and stored text renders inert.

mod common;

use axum::body::Body;
use axum::http::Request;
use leitstelle_control::{Detection, MatchedEvent, Principal, Role};
use serde_json::json;
use tower::ServiceExt;

use common::console::{Console, Session};

const EVIL: &str = "<script>alert(1)</script>";

/// `GET` as `s`: (status, body).
async fn get(c: &Console, uri: &str, s: &Session) -> (u16, String) {
    c.get(s, uri).await
}

/// A form `POST` as `s`: (status, where it leads, or the page when it leads nowhere).
async fn post(c: &Console, uri: &str, s: &Session, fields: &[(&str, &str)]) -> (u16, String) {
    let (st, location, body) = c.post(s, uri, fields).await;
    (st, if location.is_empty() { body } else { location })
}

fn detection(tenant: &str, seq: u64, host: &str) -> Detection {
    Detection {
        tenant: tenant.into(),
        rule_id: "r-1".into(),
        rule_title: format!("Suspicious thing {EVIL}"),
        level: "critical".into(),
        level_rank: 4,
        tags: vec![],
        group_key: host.into(),
        count: 1,
        first_seen_ns: 1,
        last_seen_ns: 1,
        events: vec![MatchedEvent {
            seq,
            seen_ns: 1,
            event: json!({ "host": host, "note": EVIL }).to_string(),
        }],
    }
}

const PW: &str = "a long password";

/// Users: ann (tier2 on acme), bob (tier1 on acme: reads cases, cannot write them),
/// carl (tier2 on beta), root (admin on acme). Alerts: two on acme, one on beta.
async fn seeded(name: &str) -> (Console, Vec<i64>) {
    let c = Console::start(name).await;
    let alerts = c
        .setup(|c| {
            let sys = Principal::system();
            for t in ["acme", "beta"] {
                c.create_tenant(t, 0).expect("tenant");
            }
            for (u, t, r) in [
                ("ann", "acme", Role::Tier2),
                ("bob", "acme", Role::Tier1),
                ("carl", "beta", Role::Tier2),
                ("root", "acme", Role::Admin),
            ] {
                c.create_user(&sys, u, PW, t, r, 0).expect("user");
            }
            let applied = c
                .apply(
                    &[
                        detection("acme", 1, "ws-1"),
                        detection("acme", 2, "ws-2"),
                        detection("beta", 3, "ws-1"),
                    ],
                    &[],
                    &[],
                    0,
                    0,
                    3,
                )
                .expect("alerts");
            applied.created
        })
        .await;
    (c, alerts)
}

fn case_id(location: &str) -> i64 {
    location
        .strip_prefix("/cases/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a case page: {location}"))
}

#[tokio::test]
async fn cases_from_alert_to_closed_with_tasks_observables_and_comments() {
    let (c, alerts) = seeded("console-cases").await;
    let ann = c.login("ann", PW).await;
    let bob = c.login("bob", PW).await;
    let carl = c.login("carl", PW).await;

    // The alert page offers "Open case" to ann, not to bob (tier1 cannot write cases).
    let (_, page) = get(&c, &format!("/alerts/{}", alerts[0]), &ann).await;
    assert!(page.contains("Open case"), "{page}");
    let (_, page) = get(&c, &format!("/alerts/{}", alerts[0]), &bob).await;
    assert!(!page.contains("Open case"));

    let a0 = alerts[0].to_string();
    let (st, loc) = post(
        &c,
        "/cases",
        &ann,
        &[
            ("tenant", "acme"),
            ("title", "Intrusion on ws-1"),
            ("alert", &a0),
        ],
    )
    .await;
    assert_eq!(st, 303, "{loc}");
    let id = case_id(&loc);
    let base = format!("/cases/{id}");

    // Forms without the CSRF field are refused.
    let (st, _, _) = c
        .send(
            "POST",
            &format!("{base}/comments"),
            Some(&ann),
            Some("body=hi".into()),
            None,
        )
        .await;
    assert_eq!(st, 403);

    let a1 = alerts[1].to_string();
    for (path, fields) in [
        ("tasks", vec![("title", "Collect memory"), ("owner", "ann")]),
        (
            "observables",
            vec![("kind", "host"), ("value", "WS-1"), ("note", EVIL)],
        ),
        ("comments", vec![("body", EVIL)]),
        ("alerts", vec![("alert", a1.as_str())]),
    ] {
        let (st, loc) = post(&c, &format!("{base}/{path}"), &ann, &fields).await;
        assert_eq!((st, loc.as_str()), (303, base.as_str()), "{path}");
    }
    let (st, page) = get(&c, &base, &ann).await;
    assert_eq!(st, 200);
    assert!(page.contains("Collect memory"));
    assert!(page.contains(">ws-1<"), "the host observable is normalised");
    assert!(!page.contains("<script>alert(1)"), "stored text is inert");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains(&format!("href=\"/alerts/{}\"", alerts[1])));
    assert!(page.contains("data-upload=\"/api/v1/cases/"));

    // Task state change, then closing needs a resolution.
    let task_action = page
        .split(&format!("action=\"{base}/tasks/"))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("task form")
        .to_string();
    let (st, _) = post(
        &c,
        &format!("{base}/tasks/{task_action}"),
        &ann,
        &[("state", "done")],
    )
    .await;
    assert_eq!(st, 303);
    let (st, msg) = post(
        &c,
        &format!("{base}/edit"),
        &ann,
        &[("title", "Intrusion on ws-1"), ("status", "closed")],
    )
    .await;
    assert_eq!(st, 400, "closing without a resolution: {msg}");
    let (st, _) = post(
        &c,
        &format!("{base}/edit"),
        &ann,
        &[
            ("title", "Intrusion on ws-1"),
            ("status", "closed"),
            ("resolution", "reimaged"),
        ],
    )
    .await;
    assert_eq!(st, 303);
    let (_, page) = get(&c, &base, &ann).await;
    assert!(page.contains("status-closed"));
    assert!(page.contains("reimaged"));

    // bob reads the case but gets no forms, and forcing one is refused.
    let (st, page) = get(&c, &base, &bob).await;
    assert_eq!(st, 200);
    assert!(!page.contains(&format!("action=\"{base}/comments\"")));
    let (st, _) = post(&c, &format!("{base}/comments"), &bob, &[("body", "x")]).await;
    assert_eq!(st, 403);
    // The closed case shows under "all", not under the default open view.
    let (_, list) = get(&c, "/cases", &ann).await;
    assert!(!list.contains("Intrusion on ws-1"));
    let (_, list) = get(&c, "/cases?filtered=1", &ann).await;
    assert!(list.contains("Intrusion on ws-1"));

    // carl (beta) cannot see acme's case, nor merge its alert into a beta case.
    let (st, _) = get(&c, &base, &carl).await;
    assert_eq!(st, 404);
    let (_, list) = get(&c, "/cases?filtered=1", &carl).await;
    assert!(!list.contains("Intrusion on ws-1"));
    let (st, loc) = post(
        &c,
        "/cases",
        &carl,
        &[("tenant", "beta"), ("title", "Beta case")],
    )
    .await;
    assert_eq!(st, 303);
    let (st, _) = post(
        &c,
        "/cases/merge",
        &carl,
        &[("case", &case_id(&loc).to_string()), ("alert", &a0)],
    )
    .await;
    assert!(st >= 400, "another tenant's alert cannot be merged: {st}");
    let (st, _) = post(&c, "/cases", &carl, &[("tenant", "acme"), ("title", "x")]).await;
    assert_eq!(st, 403, "opening a case in another tenant");
    c.stop().await;
}

#[tokio::test]
async fn tenants_page_shows_whom_to_call_and_only_managers_edit() {
    let (c, alerts) = seeded("console-tenants").await;
    let root = c.login("root", PW).await;
    let ann = c.login("ann", PW).await;
    let carl = c.login("carl", PW).await;

    let (st, page) = get(&c, "/tenants/acme", &root).await;
    assert_eq!(st, 200);
    assert!(page.contains("action=\"/tenants/acme/desk\""), "{page}");
    let (st, msg) = post(
        &c,
        "/tenants/acme/desk",
        &root,
        &[
            ("triage", "provider tier1"),
            ("escalation", "acme IR"),
            ("c0_name", "Eve"),
            ("c0_role", "CISO"),
            ("c0_phone", "+49 30 1234"),
            ("c1_name", "Mallory"),
            ("c1_phone", "+49 30 999"),
            ("plan_critical", "Eve, Mallory"),
            ("approvals", "isolate host: CISO"),
            ("notes", EVIL),
        ],
    )
    .await;
    assert_eq!(st, 303, "{msg}");
    let (st, msg) = post(
        &c,
        "/tenants/acme/desk",
        &root,
        &[("c0_name", "Eve"), ("plan_high", "Nobody")],
    )
    .await;
    assert_eq!(st, 400, "a plan naming an unknown contact: {msg}");
    let (st, _) = post(
        &c,
        "/tenants/acme/sla",
        &root,
        &[("ack_critical", "10m"), ("resolve_critical", "2h")],
    )
    .await;
    assert_eq!(st, 303);
    let (st, msg) = post(
        &c,
        "/tenants/acme/sla",
        &root,
        &[("ack_high", "soon"), ("resolve_high", "1h")],
    )
    .await;
    assert_eq!(st, 400, "{msg}");

    let (_, page) = get(&c, "/tenants", &ann).await;
    assert!(page.contains("acme IR"));
    assert!(page.contains("href=\"tel:+49 30 1234\""));
    assert!(
        page.contains(">10m 00s<") || page.contains(">10m<"),
        "{page}"
    );
    assert!(!page.contains("<script>alert(1)"));
    assert!(
        !page.contains("action=\"/tenants/acme/desk\""),
        "ann cannot edit"
    );
    let (st, _) = post(&c, "/tenants/acme/desk", &ann, &[("triage", "me")]).await;
    assert_eq!(st, 403);
    // The critical alert shows whom to call now, in order.
    let (_, page) = get(&c, &format!("/alerts/{}", alerts[0]), &ann).await;
    let call = page.split("<h2>Whom to call now</h2>").nth(1).unwrap_or("");
    let (eve, mallory) = (call.find("Eve"), call.find("Mallory"));
    assert!(eve.is_some() && eve < mallory, "{page}");
    // carl sees beta only.
    let (_, page) = get(&c, "/tenants", &carl).await;
    assert!(page.contains("data-tenant=\"beta\""));
    assert!(!page.contains("data-tenant=\"acme\""));
    let (st, _) = get(&c, "/tenants/acme", &carl).await;
    assert_eq!(st, 404);
    c.stop().await;
}

#[tokio::test]
async fn admin_page_users_tokens_sources() {
    let (c, _) = seeded("console-admin").await;
    let root = c.login("root", PW).await;
    let ann = c.login("ann", PW).await;

    let (st, _) = get(&c, "/admin", &ann).await;
    assert_eq!(st, 403, "not an admin");
    let (st, _) = post(
        &c,
        "/admin/tokens",
        &ann,
        &[("tenant", "acme"), ("role", "ingest"), ("label", "x")],
    )
    .await;
    assert_eq!(st, 403);

    let (st, page) = post(
        &c,
        "/admin/tokens",
        &root,
        &[
            ("tenant", "acme"),
            ("role", "ingest"),
            ("label", "dc01-shipper"),
        ],
    )
    .await;
    assert_eq!(st, 201, "{page}");
    let secret = page
        .split("<pre class=\"secret\"><code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("secret shown once")
        .to_string();
    // The token works: events sent with it show up as a healthy source.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/events")
        .header("authorization", format!("Bearer {secret}"))
        .body(Body::from("{\"msg\":\"hello\"}\nnot json at all\n"))
        .expect("request");
    let st = c
        .router
        .clone()
        .oneshot(req)
        .await
        .expect("response")
        .status();
    assert!(st.is_success(), "{st}");
    let (st, page) = get(&c, "/admin", &root).await;
    assert_eq!(st, 200);
    assert!(!page.contains(&secret), "the secret is not shown again");
    assert!(page.contains("dc01-shipper"));
    let sources = page.split("id=\"sources\"").nth(1).unwrap_or("");
    assert!(
        sources.contains("health-failing"),
        "half the records failed: {sources}"
    );
    // Revoke it.
    let id = page
        .split("action=\"/admin/tokens/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("revoke form")
        .to_string();
    let (st, _) = post(&c, &format!("/admin/tokens/{id}/revoke"), &root, &[]).await;
    assert_eq!(st, 303);
    let (_, page) = get(&c, "/admin", &root).await;
    assert!(page.contains("revoked"));

    // Users: create, then the new user logs in; a short password is refused.
    let (st, msg) = post(
        &c,
        "/admin/users",
        &root,
        &[
            ("name", "dora"),
            ("password", "short"),
            ("tenant", "acme"),
            ("role", "tier1"),
        ],
    )
    .await;
    assert_eq!(st, 400, "{msg}");
    let (st, _) = post(
        &c,
        "/admin/users",
        &root,
        &[
            ("name", "dora"),
            ("password", PW),
            ("tenant", "acme"),
            ("role", "tier1"),
        ],
    )
    .await;
    assert_eq!(st, 303);
    let (st, _) = post(
        &c,
        "/admin/roles",
        &root,
        &[
            ("user", "dora"),
            ("tenant", "acme"),
            ("role", "tier2"),
            ("grant", "1"),
        ],
    )
    .await;
    assert_eq!(st, 303);
    let dora = c.login("dora", PW).await;
    let (st, _) = get(&c, "/cases", &dora).await;
    assert_eq!(st, 200);
    let (_, page) = get(&c, "/admin", &root).await;
    assert!(page.contains("tier2 @ acme"));
    assert!(
        page.contains("user.create"),
        "the audit log lists the change"
    );
    // Admin of acme cannot create users in beta.
    let (st, _) = post(
        &c,
        "/admin/users",
        &root,
        &[
            ("name", "eve"),
            ("password", PW),
            ("tenant", "beta"),
            ("role", "tier1"),
        ],
    )
    .await;
    assert_eq!(st, 403);
    c.stop().await;
}

#[tokio::test]
async fn root_sends_browsers_to_the_console_and_clients_to_the_probe() {
    let c = Console::start("console-root").await;
    let (st, h, _) = c
        .send(
            "GET",
            "/",
            None,
            None,
            Some("text/html,application/xhtml+xml,*/*;q=0.8"),
        )
        .await;
    assert_eq!(st, 303);
    assert_eq!(h["location"], "/alerts");
    let (st, _, body) = c
        .send("GET", "/", None, None, Some("application/json"))
        .await;
    assert_eq!(st, 200);
    assert!(body.contains("You Know, for Search"), "{body}");
    let (st, _, body) = c.send("GET", "/", None, None, None).await;
    assert_eq!(st, 200, "{body}");
    c.stop().await;
}

#[tokio::test]
async fn the_queue_filters_by_time_seen() {
    let (c, alerts) = seeded("console-since").await;
    let ann = c.login("ann", PW).await;
    let row = format!("data-id=\"{}\"", alerts[0]);
    // The seeded alerts were last seen in 1970.
    let (_, page) = get(&c, "/alerts", &ann).await;
    assert!(page.contains(&row));
    let (_, page) = get(&c, "/alerts?since=24h&open=1", &ann).await;
    assert!(!page.contains(&row), "older than a day");
    assert!(page.contains("<option value=\"24h\" selected>"));
    let (_, page) = get(&c, "/alerts?since=forever&open=1", &ann).await;
    assert!(page.contains(&row), "an unknown value filters nothing");
    c.stop().await;
}
