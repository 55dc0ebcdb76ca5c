//! The console's hunt page over the real router (in-process, `tower::ServiceExt::oneshot`)
//! with events posted through the API and indexed by the server: results, histogram and
//! field sidebar; value links that build the right query; hostile event data rendered
//! inert; query errors with their column; saved hunts (console forms and JSON API) with
//! owner-only deletion; retro-hunts of a good and a broken rule; tenant scope.
//!
//! The cost of the page over a million stored events is measured by
//! `LEITSTELLE_MEASURE_HUNT=1 cargo test --release -p leitstelle-server --test console_hunt
//! measure -- --nocapture` (it prints the figures; it asserts no timings).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use leitstelle_console::hunt::{HuntQuery, TimeRange, add_clause, filter_clause};
use leitstelle_control::{Principal, Role};
use leitstelle_query::{Expr, Pred};
use leitstelle_store::{SearchRequest, query};
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{sysmon_event, temp_dir, test_config};

const PAYLOAD_SCRIPT: &str = "<script>alert(1)</script>";
const PAYLOAD_IMG: &str = "\"><img src=x onerror=alert(1)>";
const RANGE: &str = "range=custom&from=2024-05-01T00%3A00%3A00Z&to=2024-05-03T00%3A00%3A00Z";

/// A running server with two tenants, people and events.
struct World {
    running: Option<leitstelle_server::Running>,
    router: Router,
    /// Hunter tokens of acme (two, to tell owners apart).
    acme_hunter: String,
    acme_hunter2: String,
    _dir: std::path::PathBuf,
}

/// A response: status, `location` header, body text.
struct Resp {
    status: u16,
    location: String,
    headers: axum::http::HeaderMap,
    body: String,
}

fn sysmon(host: &str, cmd: &str, image: &str, time: &str) -> Value {
    let mut e = sysmon_event(host, cmd);
    e["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"] = json!(time);
    e["Event"]["EventData"]["Image"] = json!(image);
    e
}

const CMD: &str = r"C:\Windows\System32\cmd.exe";

impl World {
    async fn start(name: &str) -> World {
        let dir = temp_dir(name);
        let cfg = test_config(&dir);
        let running = leitstelle_server::start(cfg).await.expect("server starts");
        let router = leitstelle_server::api::router(Arc::clone(&running.app));
        let c = Arc::clone(&running.app.control);
        let tokens = tokio::task::spawn_blocking(move || {
            let sys = Principal::system();
            for t in ["acme", "beta"] {
                c.create_tenant(t, 1).expect("tenant");
            }
            for (user, tenant, role) in [
                ("hana", "acme", Role::Hunter),
                ("hugo", "acme", Role::Hunter),
                ("tina", "beta", Role::Hunter),
                ("max", "acme", Role::Hunter),
                ("tom", "acme", Role::Tier1),
            ] {
                c.create_user(&sys, user, "a long password", tenant, role, 1)
                    .expect("user");
            }
            c.set_role(&sys, "max", "beta", Role::Hunter, true, 1)
                .expect("role");
            let token = |t: &str, r: Role, l: &str| c.create_token(&sys, t, r, l, 1).expect("t").1;
            (
                token("acme", Role::Ingest, "acme-in"),
                token("beta", Role::Ingest, "beta-in"),
                token("acme", Role::Hunter, "acme-hunt"),
                token("acme", Role::Hunter, "acme-hunt2"),
            )
        })
        .await
        .expect("join");
        let w = World {
            running: Some(running),
            router,
            acme_hunter: tokens.2,
            acme_hunter2: tokens.3,
            _dir: dir,
        };
        let acme = [
            sysmon("WS1", "cmd.exe /c whoami", CMD, "2024-05-01T10:00:00Z"),
            sysmon(
                "WS2",
                "mimikatz.exe \"sekurlsa::logonpasswords\" exit",
                CMD,
                "2024-05-01T11:00:00Z",
            ),
            sysmon("WS1", PAYLOAD_SCRIPT, PAYLOAD_IMG, "2024-05-02T09:00:00Z"),
        ];
        let body: Vec<String> = acme.iter().map(Value::to_string).collect();
        let r = w
            .send(
                "POST",
                "/api/v1/events",
                Some(&tokens.0),
                None,
                Some(body.join("\n")),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let line =
            format!("<13>1 2024-05-01T12:00:00Z ws3 app - - - {PAYLOAD_SCRIPT} {PAYLOAD_IMG}");
        let r = w
            .send(
                "POST",
                "/api/v1/events?format=syslog",
                Some(&tokens.0),
                None,
                Some(line),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let beta = sysmon("BX1", "beta-only-secret", CMD, "2024-05-01T10:30:00Z");
        let r = w
            .send(
                "POST",
                "/api/v1/events",
                Some(&tokens.1),
                None,
                Some(beta.to_string()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        w.wait_searchable(5).await;
        w
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Waits until the store holds `n` events of acme and beta together.
    async fn wait_searchable(&self, n: u64) {
        let store = Arc::clone(&self.running.as_ref().expect("running").app.store);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = Arc::clone(&store);
            let total = tokio::task::spawn_blocking(move || {
                let req = SearchRequest::new(&["acme", "beta"], query::parse("*").expect("q"));
                s.search(&req).map(|r| r.total).unwrap_or(0)
            })
            .await
            .expect("join");
            if total >= n {
                return;
            }
            assert!(Instant::now() < deadline, "only {total} of {n} searchable");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One request with a bearer token or a session cookie, and a form or JSON body.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        cookie: Option<&str>,
        body: Option<String>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req
                .header("authorization", format!("Bearer {t}"))
                .header("content-type", "application/json");
        }
        if let Some(c) = cookie {
            req = req
                .header("cookie", format!("leitstelle_session={c}"))
                .header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 26)
            .await
            .expect("body");
        Resp {
            status,
            location,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Logs in by the console's form; returns the session cookie's value.
    async fn login(&self, user: &str) -> String {
        let r = self
            .send(
                "POST",
                "/login",
                None,
                Some(""),
                Some(format!("user={user}&password=a+long+password&next=%2Fhunt")),
            )
            .await;
        assert_eq!(r.status, 303, "login of {user}: {}", r.body);
        r.headers["set-cookie"]
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_string())
            .expect("session")
    }

    async fn page(&self, cookie: &str, uri: &str) -> Resp {
        self.send("GET", uri, None, Some(cookie), None).await
    }
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    common::console::csrf_of(page).expect("csrf field")
}

/// Every `href` of a page, unescaped.
fn hrefs(page: &str) -> Vec<String> {
    page.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| h.replace("&amp;", "&").replace("&quot;", "\""))
        .collect()
}

/// The `N matching events` figure of a page.
fn total(page: &str) -> u64 {
    page.split("<strong>")
        .nth(1)
        .and_then(|s| s.split("</strong> matching events").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {page}"))
}

fn url(q: &str) -> String {
    HuntQuery {
        q: q.into(),
        range: TimeRange::Custom {
            from: "2024-05-01T00:00:00Z".into(),
            to: "2024-05-03T00:00:00Z".into(),
        },
        tenant: None,
        offset: 0,
    }
    .url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_results_histogram_sidebar_and_value_links_that_work() {
    let w = World::start("hunt-page").await;
    let hana = w.login("hana").await;
    let r = w.page(&hana, &format!("/hunt?q=*&{RANGE}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let csp = r.headers["content-security-policy"].to_str().unwrap_or("");
    assert!(csp.contains("style-src 'self'"), "{csp}");
    let page = &r.body;
    assert_eq!(total(page), 4, "acme's events only");
    assert!(!page.contains("BX1") && !page.contains("beta-only-secret"));
    // The histogram: two days in hourly bars, one event at 10:00.
    assert!(page.contains("<svg class=\"histogram\""), "{page}");
    assert!(
        page.contains("<title>2024-05-01 10:00:00 – 2024-05-01 11:00:00 UTC: 1 events</title>"),
        "{page}"
    );
    assert!(page.contains("4 events in 48 buckets of 1h 00m"), "{page}");
    let bar = url("*")
        .replace("2024-05-01T00%3A00%3A00Z", "2024-05-01T10%3A00%3A00Z")
        .replace("2024-05-03T00%3A00%3A00Z", "2024-05-01T11%3A00%3A00Z");
    assert!(hrefs(page).contains(&bar), "bar link {bar}");
    let r = w.page(&hana, &bar).await;
    assert_eq!(total(&r.body), 1);
    // Rows expand to the whole event without script.
    assert!(page.contains("<details"));
    assert!(page.contains("sekurlsa::logonpasswords"));
    // The sidebar says what it counted; its value links build the right queries.
    assert!(page.contains("Top values in the 4 events shown."), "{page}");
    let links = hrefs(page);
    let host = url(r#"host:"WS2""#);
    assert!(links.contains(&host), "{host} in {links:?}");
    assert_eq!(total(&w.page(&hana, &host).await.body), 1);
    let not_host = url(r#"NOT host:"WS1""#);
    assert!(links.contains(&not_host), "{not_host}");
    assert_eq!(total(&w.page(&hana, &not_host).await.body), 2);
    // Backslashes stay literal inside quotes.
    let image = url(r#"Event.EventData.Image:"C:\Windows\System32\cmd.exe""#);
    assert!(links.contains(&image), "{image}");
    assert_eq!(total(&w.page(&hana, &image).await.body), 2);
    // A quote in the value is escaped, and the filter matches exactly that value.
    let hostile = url(&format!(
        "Event.EventData.Image:\"{}\"",
        PAYLOAD_IMG.replace('"', "\\\"")
    ));
    assert!(links.contains(&hostile), "{hostile}");
    assert_eq!(total(&w.page(&hana, &hostile).await.body), 1);
    // Links from a filtered query add to the filter and keep the pipe stages.
    let r = w.page(&hana, &url("EventID:1 | stats count by host")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("stage-table"), "a table instead of hits");
    assert!(r.body.contains("<td>WS1</td>"), "{}", r.body);
    // Paging: one event per page is not configurable, but offset is honoured.
    let r = w.page(&hana, &format!("{}&offset=3", url("*"))).await;
    assert!(r.body.contains("Events 4–4 of 4"), "{}", r.body);
    assert!(r.body.contains("rel=\"prev\""));
    // The default view is the last 24 hours (these events are older).
    let r = w.page(&hana, "/hunt").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Last 24 hours"));
    assert!(r.body.contains("No events match."), "{}", r.body);
    // A tier-1 analyst may search too; an unauthenticated visitor is sent to log in.
    let tom = w.login("tom").await;
    assert_eq!(w.page(&tom, &url("*")).await.status, 200);
    let r = w.send("GET", "/hunt", None, None, None).await;
    assert_eq!(r.status, 303);
    assert!(r.location.starts_with("/login"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_event_data_renders_inert_and_bad_queries_show_their_column() {
    let w = World::start("hunt-xss").await;
    let hana = w.login("hana").await;
    let r = w.page(&hana, &url("*")).await;
    let page = &r.body;
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the external script"
    );
    assert!(!page.contains("<img"), "no injected element");
    assert!(!page.contains("onerror=alert(1)>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    // The syslog event's raw text is shown, escaped.
    assert!(
        page.contains("<pre class=\"raw\">&lt;13&gt;1 2024-05-01T12:00:00Z"),
        "{page}"
    );
    // The query itself is echoed escaped too.
    let r = w.page(&hana, &url("\"><script>alert(9)</script>")).await;
    assert!(!r.body.contains("<script>alert(9)"));

    let r = w.page(&hana, &url("(a OR b")).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("column 8: expected &#39;)&#39; to close &#39;(&#39; at column 1")
            || r.body
                .contains("column 8: expected ')' to close '(' at column 1"),
        "{}",
        r.body
    );
    assert!(r.body.contains("(a OR b\n       ^"), "{}", r.body);
    let r = w.page(&hana, &url("* | stat count")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("unknown pipe command"), "{}", r.body);
    let r = w
        .page(&hana, "/hunt?q=*&range=custom&from=yesterday-ish")
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("`from`"), "{}", r.body);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_hunts_are_saved_listed_and_deleted_only_by_their_owner() {
    let w = World::start("hunt-saved").await;
    let hana = w.login("hana").await;
    let hugo = w.login("hugo").await;
    let tina = w.login("tina").await;
    let page = w.page(&hana, &url("*")).await.body;
    let token = csrf(&page);
    let q = "CommandLine:*sekurlsa*";
    let form = format!(
        "name=Mimikatz&q={}&from=-7d&to=",
        leitstelle_console::hunt::url_encode(q)
    );
    let r = w
        .send("POST", "/hunt/saved", None, Some(&hana), Some(form.clone()))
        .await;
    assert_eq!(r.status, 403, "refused without its CSRF field");
    let r = w
        .send(
            "POST",
            "/hunt/saved",
            None,
            Some(&hana),
            Some(format!("{form}&csrf={token}")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location,
        HuntQuery {
            q: q.into(),
            range: TimeRange::Preset("7d"),
            tenant: None,
            offset: 0
        }
        .url()
    );
    let r = w
        .send(
            "POST",
            "/hunt/saved",
            None,
            Some(&hana),
            Some(format!("name=Broken&q=%28a&csrf={token}")),
        )
        .await;
    assert_eq!(r.status, 400, "a query that does not parse is not saved");

    let mine = w.page(&hana, "/hunt").await.body;
    assert!(mine.contains(">Mimikatz</a>"), "{mine}");
    let id: i64 = mine
        .split("action=\"/hunt/saved/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .expect("a delete form for the owner");
    // A colleague sees it but gets no delete form and cannot delete it.
    let theirs = w.page(&hugo, "/hunt").await.body;
    assert!(theirs.contains(">Mimikatz</a>"));
    assert!(!theirs.contains(&format!("/hunt/saved/{id}/delete")));
    let r = w
        .send(
            "POST",
            &format!("/hunt/saved/{id}/delete"),
            None,
            Some(&hugo),
            Some(format!("csrf={}", csrf(&theirs))),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Another tenant does not even see it.
    let other = w.page(&tina, "/hunt").await.body;
    assert!(!other.contains("Mimikatz"));
    let r = w
        .send(
            "POST",
            &format!("/hunt/saved/{id}/delete"),
            None,
            Some(&tina),
            Some(format!("csrf={}", csrf(&other))),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = w
        .send(
            "POST",
            &format!("/hunt/saved/{id}/delete"),
            None,
            Some(&hana),
            Some(format!("csrf={token}")),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!w.page(&hana, "/hunt").await.body.contains(">Mimikatz</a>"));

    // The JSON API.
    let (t1, t2) = (w.acme_hunter.clone(), w.acme_hunter2.clone());
    let r = w
        .send(
            "POST",
            "/api/v1/hunts",
            Some(&t1),
            None,
            Some(json!({"name": "api", "q": "host:WS1", "from": "-24h"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let saved: Value = serde_json::from_str(&r.body).expect("json");
    let owner = saved["owner"].as_str().unwrap_or("");
    assert!(
        owner.starts_with("token:") && owner.ends_with(":acme-hunt"),
        "{saved}"
    );
    let r = w
        .send(
            "POST",
            "/api/v1/hunts",
            Some(&t1),
            None,
            Some(json!({"name": "bad", "q": "(a OR b"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("column 8"), "{}", r.body);
    let r = w.send("GET", "/api/v1/hunts", Some(&t2), None, None).await;
    assert_eq!(r.status, 200);
    let list: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(list["hunts"].as_array().map(Vec::len), Some(1), "{list}");
    let r = w
        .send("GET", "/api/v1/hunts?tenants=beta", Some(&t2), None, None)
        .await;
    assert_eq!(r.status, 403, "asking for another tenant does not widen");
    let del = format!("/api/v1/hunts/{}", saved["id"]);
    let r = w.send("DELETE", &del, Some(&t2), None, None).await;
    assert_eq!(r.status, 403);
    let r = w.send("DELETE", &del, Some(&t1), None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = w.send("DELETE", &del, Some(&t1), None, None).await;
    assert_eq!(r.status, 404);
    w.stop().await;
}

const GOOD_RULE: &str = r#"
title: Mimikatz on the command line
id: 0b6e5c2a-1111-4c1e-9a55-0000000000aa
level: high
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|contains: sekurlsa
  condition: selection
"#;

const BROKEN_RULE: &str = r#"
title: Broken
logsource:
  product: windows
detection:
  selection:
    CommandLine|contains: x
  condition: selection and nothere
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retro_hunts_run_a_pasted_or_loaded_rule_and_explain_a_broken_one() {
    let w = World::start("hunt-retro").await;
    let hana = w.login("hana").await;
    let page = w.page(&hana, &url("*")).await.body;
    let token = csrf(&page);
    let enc = leitstelle_console::hunt::url_encode;
    let form = |rule: &str, id: &str| {
        format!(
            "q=*&range=custom&from=2024-05-01T00%3A00%3A00Z&to=2024-05-03T00%3A00%3A00Z\
             &rule={}&rule_id={}&csrf={token}",
            enc(rule),
            enc(id)
        )
    };
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(form(GOOD_RULE, "")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("1 match of 1 rule in 4 events scanned"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Mimikatz on the command line"));
    assert!(r.body.contains("level-high"));
    // The hunt itself is still shown around it.
    assert_eq!(total(&r.body), 4);

    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(form(BROKEN_RULE, "")),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("The pasted text holds no usable Sigma rule."),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("nothere"),
        "the diagnostic names the problem: {}",
        r.body
    );
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(form("{{{ not yaml: [", "")),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A loaded rule by id (the test rule matches none of these events).
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(form("", "6f0c3c1e-0b7e-4c8e-9a57-1e2e00000001")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("0 matches of 1 rule in 4 events scanned"),
        "{}",
        r.body
    );
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(form("", "no-such-id")),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("No loaded rule has the id"));
    // A tier-1 analyst may search but not retro-hunt.
    let tom = w.login("tom").await;
    let tpage = w.page(&tom, &url("*")).await.body;
    assert!(!tpage.contains("/hunt/retro"));
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&tom),
            Some(format!("rule={}&csrf={}", enc(GOOD_RULE), csrf(&tpage))),
        )
        .await;
    assert_eq!(r.status, 403);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_switcher_narrows_and_never_widens() {
    let w = World::start("hunt-scope").await;
    let hana = w.login("hana").await;
    // hana holds roles in acme only: asking for beta falls back to her own scope.
    let r = w.page(&hana, &format!("{}&tenant=beta", url("*"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(total(&r.body), 4);
    assert!(!r.body.contains("BX1") && !r.body.contains("beta-only-secret"));
    assert!(r.body.contains("Tenants searched: acme."), "{}", r.body);
    let r = w
        .page(&hana, &format!("{}&tenant=beta", url("beta-only-secret")))
        .await;
    assert_eq!(total(&r.body), 0);
    // max holds roles in both: all of them, or one picked.
    let max = w.login("max").await;
    assert_eq!(total(&w.page(&max, &url("*")).await.body), 5);
    let r = w.page(&max, &format!("{}&tenant=beta", url("*"))).await;
    assert_eq!(total(&r.body), 1);
    assert!(r.body.contains("BX1"));
    assert!(r.body.contains("Tenants searched: beta."));
    // Links on a narrowed page keep the tenant.
    assert!(
        hrefs(&r.body)
            .iter()
            .any(|h| h.contains("host%3A%22BX1%22") && h.ends_with("&tenant=beta")),
        "{}",
        r.body
    );
    // The retro-hunt is scoped the same way.
    let page = w.page(&hana, &url("*")).await.body;
    let rule = GOOD_RULE.replace("sekurlsa", "beta-only-secret");
    let r = w
        .send(
            "POST",
            "/hunt/retro",
            None,
            Some(&hana),
            Some(format!(
                "q=*&range=all&tenant=beta&rule={}&csrf={}",
                leitstelle_console::hunt::url_encode(&rule),
                csrf(&page)
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("0 matches of 1 rule in 4 events scanned"),
        "{}",
        r.body
    );
    w.stop().await;
}

/// The value links' filters parse back to exactly the value (checked with the real parser,
/// which the console crate does not depend on).
#[test]
fn value_filters_parse_back_to_the_value() {
    for value in [
        "plain",
        "two words",
        r"C:\Windows\System32\cmd.exe",
        r#"say "hi""#,
        r#"a\"b"#,
        r#"\"#,
        r"C:\Temp\",
        "*?|()[]{}<>=!:",
        "AND",
        "not",
        "",
        "ünïcødé ✓",
        PAYLOAD_IMG,
    ] {
        let Some(clause) = filter_clause("Event.EventData.Image", value) else {
            assert!(
                value.ends_with('\\'),
                "only a trailing backslash may refuse: {value}"
            );
            continue;
        };
        let q = leitstelle_query::parse(&clause).unwrap_or_else(|e| panic!("{clause}: {e}"));
        let Expr::Field { field, pred } = q.filter else {
            panic!("{clause}: {:?}", q.filter);
        };
        assert_eq!(field, "Event.EventData.Image");
        match pred {
            Pred::Phrase(p) | Pred::Term(p) => assert_eq!(p, value, "{clause}"),
            other => panic!("{clause}: {other:?}"),
        }
        // Added to a query with an OR and stages, the result still parses.
        let q = add_clause("a OR b | stats count by host", &clause, true);
        leitstelle_query::parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}
