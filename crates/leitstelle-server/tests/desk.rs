//! The SOC desk API on both control-plane backends:
//! - the authorization matrix: every desk endpoint × every role × own tenant / another
//!   tenant / provider scope, against a table of what is allowed written out here by hand
//!   (not derived from the server's own permission table);
//! - sessions: login, CSRF on state-changing requests, lockout;
//! - four-eyes rule changes through the API, and the approved rule going live;
//! - a hybrid SOC worked over HTTP by logged-in people.
//!
//! Requests go through the server's real router in-process (`tower::ServiceExt::oneshot`),
//! so a matrix of hundreds of requests stays fast.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use leitstelle_control::{Control, Detection, MatchedEvent, Principal, Role};
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{temp_dir, test_config};

/// A server on one backend, with its router.
struct Desk {
    running: Option<leitstelle_server::Running>,
    router: Router,
    control: Arc<Control>,
    _dir: std::path::PathBuf,
    _pg: Option<leitstelle_control::conformance::Scratch>,
}

impl Desk {
    /// Starts a server on SQLite (`pg` false) or on a scratch PostgreSQL schema; `None` when
    /// PostgreSQL is wanted but absent (skipped loudly by the conformance helper).
    async fn start(name: &str, pg: bool) -> Option<Desk> {
        let dir = temp_dir(name);
        let mut cfg = test_config(&dir);
        let mut guard = None;
        if pg {
            let n = name.to_string();
            let (url, g) = tokio::task::spawn_blocking(move || {
                leitstelle_control::conformance::temp_postgres_url(&n)
            })
            .await
            .expect("join")?;
            cfg.database_url = Some(url);
            guard = Some(g);
        }
        let running = leitstelle_server::start(cfg).await.expect("server starts");
        let router = leitstelle_server::api::router(Arc::clone(&running.app));
        let control = Arc::clone(&running.app.control);
        Some(Desk {
            running: Some(running),
            router,
            control,
            _dir: dir,
            _pg: guard,
        })
    }

    /// Runs control-plane setup off the runtime's workers.
    async fn setup<T: Send + 'static>(&self, f: impl FnOnce(&Control) -> T + Send + 'static) -> T {
        let c = Arc::clone(&self.control);
        tokio::task::spawn_blocking(move || f(&c))
            .await
            .expect("join")
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        // The scratch schema is dropped after the server let go of its connections.
        let pg = self._pg.take();
        tokio::task::spawn_blocking(move || drop(pg))
            .await
            .expect("join");
    }

    /// One request; returns (status, JSON body or the text as a JSON string).
    async fn call(&self, method: &str, uri: &str, auth: &Auth, body: Option<Body>) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        match auth {
            Auth::None => {}
            Auth::Token(t) => req = req.header("authorization", format!("Bearer {t}")),
            Auth::Session { cookie, csrf } => {
                req = req.header("cookie", format!("leitstelle_session={cookie}"));
                if let Some(c) = csrf {
                    req = req.header("x-csrf-token", c);
                }
            }
        }
        let req = req
            .header("content-type", "application/json")
            .body(body.unwrap_or_else(Body::empty))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body");
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    async fn json(&self, method: &str, uri: &str, auth: &Auth, body: Value) -> (u16, Value) {
        self.call(method, uri, auth, Some(Body::from(body.to_string())))
            .await
    }

    async fn get(&self, uri: &str, auth: &Auth) -> (u16, Value) {
        self.call("GET", uri, auth, None).await
    }

    /// Logs in; returns the session.
    async fn login(&self, user: &str, password: &str) -> Auth {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"user": user, "password": password}).to_string(),
            ))
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        assert_eq!(resp.status().as_u16(), 200, "login of {user}");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_string();
        for attr in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
        }
        let value = cookie
            .split(';')
            .next()
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_string())
            .expect("cookie value");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        Auth::Session {
            cookie: value,
            csrf: v["csrf"].as_str().map(String::from),
        }
    }
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Token(String),
    Session {
        cookie: String,
        csrf: Option<String>,
    },
}

const RULE: &str = "title: Stored rule
id: 0b8e1d2c-0000-4000-8000-00000000a001
status: test
level: medium
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    CommandLine|contains: 'stored-rule-marker'
  condition: selection
";

fn detection(tenant: &str, seq: u64) -> Detection {
    Detection {
        tenant: tenant.into(),
        rule_id: "r-1".into(),
        rule_title: "Matrix rule".into(),
        level: "high".into(),
        level_rank: 3,
        tags: vec![],
        group_key: format!("host-{seq}"),
        count: 1,
        first_seen_ns: 1,
        last_seen_ns: 1,
        events: vec![MatchedEvent {
            seq,
            seen_ns: 1,
            event: json!({"host": format!("host-{seq}"), "note": "<script>alert(1)</script>"})
                .to_string(),
        }],
    }
}

/// The objects of one tenant the matrix aims at.
#[derive(Clone, Debug)]
struct Objects {
    alert: i64,
    case: i64,
    suppression: i64,
    change: i64,
    task: i64,
    observable: i64,
    evidence: i64,
    user: String,
}

const ROLES: [Role; 8] = Role::ALL;

/// Tenants: `mssp` (the provider, operator of the deployment), `acme` and `globex` (its
/// customers), `initech` (outside mssp's contract). Tokens of every role in `acme` and in
/// `mssp`; an alert, a case, a suppression and a proposed overlay in `acme` and `initech`.
async fn matrix_fixture(d: &Desk) -> (BTreeMap<(String, Role), String>, BTreeMap<String, Objects>) {
    d.setup(|c| {
        let sys = Principal::system();
        for t in ["acme", "mssp", "globex", "initech"] {
            c.create_tenant(t, 0).expect("tenant");
        }
        c.add_scope(&sys, "mssp", "acme", 0).expect("scope");
        c.add_scope(&sys, "mssp", "globex", 0).expect("scope");
        let mut tokens = BTreeMap::new();
        for t in ["acme", "mssp"] {
            for r in ROLES {
                let (_, s) = c
                    .create_token(&sys, t, r, &format!("{}-{}", t, r.as_str()), 0)
                    .expect("token");
                tokens.insert((t.to_string(), r), s);
            }
        }
        c.import_upstream(
            &sys,
            &[("stored.yml".into(), RULE.into())],
            &leitstelle_server::rules::check_rule,
            0,
        )
        .expect("import");
        let mut objects = BTreeMap::new();
        for (i, t) in ["acme", "initech"].iter().enumerate() {
            let applied = c
                .apply(&[detection(t, i as u64 + 1)], &[], &[], 0, 0, 1)
                .expect("alert");
            let alert = applied.created[0];
            let case = c
                .create_case(
                    &sys,
                    &leitstelle_control::NewCase {
                        tenant: t.to_string(),
                        title: format!("case of {t}"),
                        alerts: vec![alert],
                        ..Default::default()
                    },
                    1,
                )
                .expect("case")
                .id;
            let suppression = c
                .create_suppression(
                    &sys,
                    &leitstelle_control::NewSuppression {
                        tenant: t.to_string(),
                        rule_id: None,
                        conditions: vec![leitstelle_control::Condition {
                            field: "Computer".into(),
                            value: "nothing".into(),
                        }],
                        owner: None,
                        reason: "matrix".into(),
                        expires_ns: 1 + 24 * 3600 * 1_000_000_000,
                    },
                    1,
                )
                .expect("suppression")
                .id;
            let change = c
                .propose_rule_change(
                    &sys,
                    &leitstelle_control::Proposal {
                        kind: "overlay".into(),
                        rule_id: Some("r-1".into()),
                        tenant: Some(t.to_string()),
                        overlay: Some(leitstelle_control::Overlay {
                            level: Some("low".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    &leitstelle_server::rules::check_rule,
                    1,
                )
                .expect("change")
                .id;
            let task = c.add_task(&sys, case, "task", None, 1).expect("task").id;
            let observable = c
                .add_observable(&sys, case, "ip", "10.1.2.3", "", 1)
                .expect("observable")
                .id;
            let evidence = c
                .add_evidence(&sys, case, "e.txt", b"bytes", 1)
                .expect("evidence")
                .id;
            let user = format!("staff-{t}");
            c.create_user(&sys, &user, "a long password", t, Role::Tier1, 1)
                .expect("user");
            objects.insert(
                t.to_string(),
                Objects {
                    alert,
                    case,
                    suppression,
                    change,
                    task,
                    observable,
                    evidence,
                    user,
                },
            );
        }
        (tokens, objects)
    })
    .await
}

/// How an endpoint relates to tenants.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Acts on an object or a listing of one tenant.
    Tenant,
    /// Acts for every tenant at once: only the operator's staff (here: the provider).
    Global,
    /// Not about a tenant's objects (tested for the caller's own tenant only).
    Own,
}

/// One row of the matrix: the request and the roles allowed, by letter:
/// I ingest, 1 tier1, 2 tier2, H hunter, E engineer, M manager, C customer, A admin.
struct Row {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    allowed: &'static str,
    kind: Kind,
}

const fn row(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    allowed: &'static str,
    kind: Kind,
) -> Row {
    Row {
        name,
        method,
        path,
        body,
        allowed,
        kind,
    }
}

use Kind::{Global, Own, Tenant};

const MATRIX: &[Row] = &[
    row(
        "alerts.list",
        "GET",
        "/api/v1/alerts?tenants={t}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "alerts.get",
        "GET",
        "/api/v1/alerts/{alert}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "alerts.triage",
        "POST",
        "/api/v1/alerts/{alert}/triage",
        r#"{"action":"comment","body":"seen"}"#,
        "12MA",
        Tenant,
    ),
    row(
        "alerts.bulk",
        "POST",
        "/api/v1/alerts/bulk",
        r#"{"ids":[{alert}],"action":"comment","body":"seen"}"#,
        "12MA",
        Tenant,
    ),
    row(
        "cases.list",
        "GET",
        "/api/v1/cases?tenants={t}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "cases.create",
        "POST",
        "/api/v1/cases",
        r#"{"tenant":"{t}","title":"opened"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.get",
        "GET",
        "/api/v1/cases/{case}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "cases.update",
        "PATCH",
        "/api/v1/cases/{case}",
        r#"{"description":"d{n}"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.task",
        "POST",
        "/api/v1/cases/{case}/tasks",
        r#"{"title":"task"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.observable",
        "POST",
        "/api/v1/cases/{case}/observables",
        r#"{"kind":"host","value":"host{n}"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.comment",
        "POST",
        "/api/v1/cases/{case}/comments",
        r#"{"body":"note"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.evidence",
        "POST",
        "/api/v1/cases/{case}/evidence?name=e{n}.txt",
        "evidence bytes",
        "2HMA",
        Tenant,
    ),
    row(
        "cases.export",
        "GET",
        "/api/v1/cases/{case}/export",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "cases.merge_alerts",
        "POST",
        "/api/v1/cases/{case}/alerts",
        r#"{"alerts":[{alert}]}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.task_update",
        "PATCH",
        "/api/v1/cases/{case}/tasks/{task}",
        r#"{"state":"in_progress"}"#,
        "2HMA",
        Tenant,
    ),
    row(
        "cases.sightings",
        "GET",
        "/api/v1/cases/{case}/observables/{obs}/sightings",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "cases.evidence_download",
        "GET",
        "/api/v1/cases/{case}/evidence/{ev}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "suppressions.list",
        "GET",
        "/api/v1/suppressions?tenants={t}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "suppressions.create",
        "POST",
        "/api/v1/suppressions",
        r#"{"tenant":"{t}","conditions":[{"field":"Computer","value":"ws{n}"}],"reason":"backup","expires_ns":{future}}"#,
        "EA",
        Tenant,
    ),
    row(
        "suppressions.delete",
        "DELETE",
        "/api/v1/suppressions/{sup}",
        "",
        "EA",
        Tenant,
    ),
    row(
        "rules.overlays",
        "GET",
        "/api/v1/rules/overlays?tenants={t}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "rules.propose_overlay",
        "POST",
        "/api/v1/rules/changes",
        r#"{"kind":"overlay","tenant":"{t}","rule_id":"r-1","overlay":{"level":"low"}}"#,
        "EA",
        Tenant,
    ),
    row(
        "rules.approve_overlay",
        "POST",
        "/api/v1/rules/changes/{change}/approve",
        r#"{"note":"ok"}"#,
        "EMCA",
        Tenant,
    ),
    row(
        "rules.reject",
        "POST",
        "/api/v1/rules/changes/{change}/reject",
        r#"{"note":"no"}"#,
        "EMCA",
        Tenant,
    ),
    row(
        "rules.change",
        "GET",
        "/api/v1/rules/changes/{change}",
        "",
        "12HEMCA",
        Tenant,
    ),
    // Only the author may withdraw (the changes here are the system's): nobody may.
    row(
        "rules.withdraw",
        "POST",
        "/api/v1/rules/changes/{change}/withdraw",
        "",
        "",
        Tenant,
    ),
    row(
        "rules.propose_global",
        "POST",
        "/api/v1/rules/changes",
        r#"{"kind":"disable","rule_id":"0b8e1d2c-0000-4000-8000-00000000a001"}"#,
        "EA",
        Global,
    ),
    row(
        "rules.changes",
        "GET",
        "/api/v1/rules/changes",
        "",
        "12HEMCA",
        Own,
    ),
    row(
        "rules.stored",
        "GET",
        "/api/v1/rules/stored",
        "",
        "12HEMCA",
        Own,
    ),
    row(
        "rules.stored_one",
        "GET",
        "/api/v1/rules/stored/0b8e1d2c-0000-4000-8000-00000000a001",
        "",
        "12HEMCA",
        Own,
    ),
    row("rules.status", "GET", "/api/v1/rules", "", "12HEMCA", Own),
    row(
        "rules.reload",
        "POST",
        "/api/v1/rules/reload",
        "",
        "A",
        Global,
    ),
    row(
        "desk.get",
        "GET",
        "/api/v1/tenants/{t}/desk",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "desk.put",
        "PUT",
        "/api/v1/tenants/{t}/desk",
        r#"{"triage":"provider tier1","escalation":"IR"}"#,
        "MA",
        Tenant,
    ),
    row(
        "sla.get",
        "GET",
        "/api/v1/tenants/{t}/sla",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "sla.put",
        "PUT",
        "/api/v1/tenants/{t}/sla",
        r#"[{"level":"high","ack_secs":600,"resolve_secs":3600}]"#,
        "MA",
        Tenant,
    ),
    row(
        "reports.triage",
        "GET",
        "/api/v1/reports/triage?tenants={t}",
        "",
        "12HEMCA",
        Tenant,
    ),
    row(
        "users.list",
        "GET",
        "/api/v1/users?tenants={t}",
        "",
        "A",
        Tenant,
    ),
    row(
        "users.create",
        "POST",
        "/api/v1/users",
        r#"{"name":"user{n}","password":"correct horse battery","tenant":"{t}","role":"tier1"}"#,
        "A",
        Tenant,
    ),
    row(
        "users.roles",
        "POST",
        "/api/v1/users/{user}/roles",
        r#"{"tenant":"{t}","role":"hunter"}"#,
        "A",
        Tenant,
    ),
    row(
        "tokens.list",
        "GET",
        "/api/v1/tokens?tenants={t}",
        "",
        "A",
        Tenant,
    ),
    row(
        "tokens.revoke",
        "DELETE",
        "/api/v1/tokens/{fresh_token}",
        "",
        "A",
        Tenant,
    ),
    row(
        "tokens.create",
        "POST",
        "/api/v1/tokens",
        r#"{"tenant":"{t}","role":"ingest","label":"shipper{n}"}"#,
        "A",
        Tenant,
    ),
    row(
        "audit.list",
        "GET",
        "/api/v1/audit?tenants={t}",
        "",
        "MA",
        Tenant,
    ),
    row(
        "search",
        "GET",
        "/api/v1/search?tenants={t}&q=",
        "",
        "12HEMA",
        Tenant,
    ),
    row(
        "search.fields",
        "GET",
        "/api/v1/search/fields?tenants={t}&field=host",
        "",
        "12HEMA",
        Tenant,
    ),
    row(
        "retrohunt",
        "POST",
        "/api/v1/retrohunt",
        r#"{"tenants":"{t}"}"#,
        "2HEA",
        Tenant,
    ),
    row(
        "events.ingest",
        "POST",
        "/api/v1/events",
        r#"{"message":"hello"}"#,
        "IA",
        Own,
    ),
    row(
        "elastic.bulk",
        "POST",
        "/_bulk",
        "{\"index\":{}}\n{\"message\":\"hello\"}\n",
        "IA",
        Own,
    ),
    row(
        "hec.event",
        "POST",
        "/services/collector/event",
        r#"{"event":"hello"}"#,
        "IA",
        Own,
    ),
    row("auth.me", "GET", "/api/v1/auth/me", "", "I12HEMCA", Own),
    row(
        "auth.logout",
        "POST",
        "/api/v1/auth/logout",
        "",
        "I12HEMCA",
        Own,
    ),
];

fn letter(r: Role) -> char {
    match r {
        Role::Ingest => 'I',
        Role::Tier1 => '1',
        Role::Tier2 => '2',
        Role::Hunter => 'H',
        Role::Engineer => 'E',
        Role::Manager => 'M',
        Role::Customer => 'C',
        Role::Admin => 'A',
    }
}

/// Runs the whole matrix; returns the number of requests made.
async fn run_matrix(d: &Desk) -> usize {
    let (tokens, objects) = matrix_fixture(d).await;
    let mut n = 0usize;
    let mut failures = Vec::new();
    for row in MATRIX {
        for role in ROLES {
            let permitted = row.allowed.contains(letter(role));
            // (relation, caller's tenant, target tenant, expected)
            let cases: Vec<(&str, &str, &str, bool)> = match row.kind {
                Tenant => vec![
                    ("own", "acme", "acme", permitted),
                    ("other", "acme", "initech", false),
                    (
                        "provider",
                        "mssp",
                        "acme",
                        permitted && role != Role::Customer,
                    ),
                ],
                Global => vec![
                    ("own (a customer)", "acme", "acme", false),
                    ("provider (the operator)", "mssp", "mssp", permitted),
                ],
                Own => vec![("own", "acme", "acme", permitted)],
            };
            for (relation, caller, target, expected) in cases {
                n += 1;
                let o = &objects.get(target).unwrap_or(&objects["acme"]);
                let fresh_token = if row.path.contains("{fresh_token}") {
                    let t = target.to_string();
                    d.setup(move |c| {
                        c.create_token(&Principal::system(), &t, Role::Ingest, "to-revoke", 0)
                            .expect("token")
                            .0
                            .id
                    })
                    .await
                } else {
                    0
                };
                let fill = |s: &str| {
                    s.replace("{t}", target)
                        .replace("{fresh_token}", &fresh_token.to_string())
                        .replace("{task}", &o.task.to_string())
                        .replace("{obs}", &o.observable.to_string())
                        .replace("{ev}", &o.evidence.to_string())
                        .replace("{user}", &o.user)
                        .replace("{alert}", &o.alert.to_string())
                        .replace("{case}", &o.case.to_string())
                        .replace("{sup}", &o.suppression.to_string())
                        .replace("{change}", &o.change.to_string())
                        .replace("{n}", &n.to_string())
                        .replace(
                            "{future}",
                            &(leitstelle_server::pipeline::now_ns() + 24 * 3600 * 1_000_000_000)
                                .to_string(),
                        )
                };
                let auth = Auth::Token(tokens[&(caller.to_string(), role)].clone());
                let body = (!row.body.is_empty()).then(|| Body::from(fill(row.body)));
                let (status, v) = d.call(row.method, &fill(row.path), &auth, body).await;
                let allowed = match status {
                    200 | 201 | 409 => {
                        // A bulk answer is 200 with a verdict per alert.
                        row.name != "alerts.bulk" || v["results"][0]["ok"] == json!(true)
                    }
                    403 | 404 => false,
                    other => {
                        failures.push(format!(
                            "{} as {} of {caller} on {target} ({relation}): unexpected {other} {v}",
                            row.name,
                            role.as_str()
                        ));
                        continue;
                    }
                };
                if allowed != expected {
                    failures.push(format!(
                        "{} as {} of {caller} on {target} ({relation}): {} but expected {} ({status} {v})",
                        row.name,
                        role.as_str(),
                        if allowed { "allowed" } else { "denied" },
                        if expected { "allowed" } else { "denied" },
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} matrix cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Listings never carry another tenant's data, whatever is asked.
    for role in ROLES {
        let auth = Auth::Token(tokens[&("acme".to_string(), role)].clone());
        for path in ["/api/v1/alerts", "/api/v1/cases", "/api/v1/suppressions"] {
            let (status, v) = d.get(path, &auth).await;
            if status != 200 {
                continue;
            }
            let items = v
                .get("alerts")
                .cloned()
                .unwrap_or(v.clone())
                .as_array()
                .cloned()
                .unwrap_or_default();
            for it in items {
                assert_eq!(
                    it["tenant"],
                    "acme",
                    "{path} as {} leaked {it}",
                    role.as_str()
                );
            }
        }
        let (status, v) = d.get("/api/v1/audit", &auth).await;
        if status == 200 {
            for r in v.as_array().into_iter().flatten() {
                assert_eq!(r["tenant"], "acme", "audit as {} leaked {r}", role.as_str());
            }
        }
    }
    n
}

async fn matrix(pg: bool) {
    let Some(d) = Desk::start(if pg { "matrix-pg" } else { "matrix-sqlite" }, pg).await else {
        return;
    };
    let n = run_matrix(&d).await;
    eprintln!(
        "authorization matrix on {}: {n} requests, all as expected",
        if pg { "PostgreSQL" } else { "SQLite" }
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_on_sqlite() {
    matrix(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_on_postgres() {
    matrix(true).await;
}

/// Sessions: cookies, CSRF, logout, lockout, unauthenticated requests.
async fn sessions(pg: bool) {
    let Some(d) = Desk::start(if pg { "sessions-pg" } else { "sessions-sqlite" }, pg).await else {
        return;
    };
    let alert = d
        .setup(|c| {
            let sys = Principal::system();
            c.create_user(&sys, "ann", "a long password", "default", Role::Tier1, 0)
                .expect("user");
            c.apply(&[detection("default", 1)], &[], &[], 0, 0, 1)
                .expect("alert")
                .created[0]
        })
        .await;
    assert_eq!(d.get("/api/v1/alerts", &Auth::None).await.0, 401);
    assert_eq!(
        d.get("/api/v1/alerts", &Auth::Token("lst_forged".into()))
            .await
            .0,
        401
    );
    let session = d.login("ann", "a long password").await;
    let (st, me) = d.get("/api/v1/auth/me", &session).await;
    assert_eq!(st, 200);
    assert_eq!(me["actor"], "ann");
    assert_eq!(me["roles"]["default"], json!(["tier1"]));
    let (st, _) = d.get("/api/v1/alerts", &session).await;
    assert_eq!(st, 200);
    // a state-changing request on the cookie alone is refused without the CSRF token
    let Auth::Session { cookie, csrf } = session.clone() else {
        unreachable!()
    };
    let bare = Auth::Session {
        cookie: cookie.clone(),
        csrf: None,
    };
    let wrong = Auth::Session {
        cookie: cookie.clone(),
        csrf: Some("forged".into()),
    };
    let ack = json!({"action": "acknowledge"});
    let uri = format!("/api/v1/alerts/{alert}/triage");
    assert_eq!(d.json("POST", &uri, &bare, ack.clone()).await.0, 403);
    assert_eq!(d.json("POST", &uri, &wrong, ack.clone()).await.0, 403);
    let (st, a) = d.json("POST", &uri, &session, ack).await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["assignee"], "ann");
    // logout ends the session
    assert_eq!(
        d.call("POST", "/api/v1/auth/logout", &session, None)
            .await
            .0,
        200
    );
    assert_eq!(d.get("/api/v1/alerts", &bare).await.0, 401);
    let _ = csrf;
    // lockout after repeated failures, answered 429; the audit log has each attempt
    for _ in 0..4 {
        let (st, _) = d
            .json(
                "POST",
                "/api/v1/auth/login",
                &Auth::None,
                json!({"user": "ann", "password": "wrong"}),
            )
            .await;
        assert_eq!(st, 401);
    }
    let (st, v) = d
        .json(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            json!({"user": "ann", "password": "wrong"}),
        )
        .await;
    assert_eq!(st, 429, "{v}");
    let (st, _) = d
        .json(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            json!({"user": "ann", "password": "a long password"}),
        )
        .await;
    assert_eq!(st, 429, "locked even with the right password");
    assert_eq!(
        d.json(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            json!({"nope": 1})
        )
        .await
        .0,
        400
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_and_lockout_on_sqlite() {
    sessions(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_and_lockout_on_postgres() {
    sessions(true).await;
}

/// Four-eyes through the API: the author's approval is refused; another engineer's makes
/// the rule live, and an event then raises an alert with it.
async fn four_eyes(pg: bool) {
    let Some(d) = Desk::start(if pg { "4eyes-pg" } else { "4eyes-sqlite" }, pg).await else {
        return;
    };
    let ingest = d
        .setup(|c| {
            let sys = Principal::system();
            for u in ["alice", "bob"] {
                c.create_user(&sys, u, "a long password", "default", Role::Engineer, 0)
                    .expect("user");
            }
            c.create_token(&sys, "default", Role::Ingest, "ingest", 0)
                .expect("token")
                .1
        })
        .await;
    let alice = d.login("alice", "a long password").await;
    let bob = d.login("bob", "a long password").await;
    let yaml = RULE.replace("stored-rule-marker", "four-eyes-marker");
    let (st, ch) = d
        .json(
            "POST",
            "/api/v1/rules/changes",
            &alice,
            json!({"kind": "create", "yaml": yaml, "note": "new detection"}),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    let id = ch["id"].as_i64().expect("id");
    let (st, v) = d
        .json(
            "POST",
            "/api/v1/rules/changes",
            &alice,
            json!({"kind": "create", "yaml": "title: x"}),
        )
        .await;
    assert_eq!(st, 400, "a broken rule is refused when proposed: {v}");
    let approve = format!("/api/v1/rules/changes/{id}/approve");
    let (st, v) = d.json("POST", &approve, &alice, json!({})).await;
    assert_eq!(st, 403, "the author approving: {v}");
    assert!(v["error"].as_str().unwrap_or("").contains("author"), "{v}");
    let (_, queue) = d.get("/api/v1/rules/changes?status=proposed", &bob).await;
    assert_eq!(queue.as_array().map(Vec::len), Some(1));
    let (st, v) = d
        .json("POST", &approve, &bob, json!({"note": "lgtm"}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["reviewer"].as_str()),
        (Some("approved"), Some("bob"))
    );
    let (_, stored) = d
        .get(
            "/api/v1/rules/stored/0b8e1d2c-0000-4000-8000-00000000a001",
            &bob,
        )
        .await;
    assert_eq!(stored["versions"][0]["author"], "alice");
    assert_eq!(stored["versions"][0]["approver"], "bob");
    // it is live: an event with the marker raises an alert of this rule
    let event = common::sysmon_event("ws9", "cmd /c four-eyes-marker");
    let (st, v) = d
        .call(
            "POST",
            "/api/v1/events",
            &Auth::Token(ingest),
            Some(Body::from(event.to_string())),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, v) = d.get("/api/v1/alerts", &bob).await;
        if v["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["rule_id"] == "0b8e1d2c-0000-4000-8000-00000000a001")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert from the approved rule: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_rule_change_goes_live_on_sqlite() {
    four_eyes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_rule_change_goes_live_on_postgres() {
    four_eyes(true).await;
}

/// A hybrid SOC over HTTP: the provider's tier 1 acknowledges and escalates a customer's
/// alert to the customer's own responder, who opens a case, adds observables and closes
/// both; the history and audit log show every step; the customer sees only its tenant.
async fn hybrid(pg: bool) {
    let Some(d) = Desk::start(if pg { "hybrid-pg" } else { "hybrid-sqlite" }, pg).await else {
        return;
    };
    let (alert, other) = d
        .setup(|c| {
            let sys = Principal::system();
            for t in ["mssp", "acme", "globex"] {
                c.create_tenant(t, 0).expect("tenant");
            }
            c.add_scope(&sys, "mssp", "acme", 0).expect("scope");
            c.add_scope(&sys, "mssp", "globex", 0).expect("scope");
            for (u, t, r) in [
                ("pt1", "mssp", Role::Tier1),
                ("air", "acme", Role::Tier2),
                ("alead", "acme", Role::Manager),
                ("aboss", "acme", Role::Customer),
            ] {
                c.create_user(&sys, u, "a long password", t, r, 0)
                    .expect("user");
            }
            let a = c
                .apply(&[detection("acme", 1)], &[], &[], 0, 0, 1)
                .expect("alert")
                .created[0];
            let g = c
                .apply(&[detection("globex", 2)], &[], &[], 0, 0, 1)
                .expect("alert")
                .created[0];
            (a, g)
        })
        .await;
    let pt1 = d.login("pt1", "a long password").await;
    let air = d.login("air", "a long password").await;
    let alead = d.login("alead", "a long password").await;
    let aboss = d.login("aboss", "a long password").await;
    let (st, v) = d
        .json(
            "PUT",
            "/api/v1/tenants/acme/desk",
            &alead,
            json!({"escalation": "acme IR", "contacts": [{"name": "CISO", "phone": "+49 30 1"}],
                   "escalation_plan": {"high": ["CISO"]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let triage = format!("/api/v1/alerts/{alert}/triage");
    let step = |auth: &Auth, body: Value| {
        let auth = auth.clone();
        let triage = triage.clone();
        let d = &d;
        async move {
            let (st, v) = d.json("POST", &triage, &auth, body).await;
            assert_eq!(st, 200, "{v}");
            v
        }
    };
    step(&pt1, json!({"action": "acknowledge"})).await;
    let v = step(
        &pt1,
        json!({"action": "escalate", "note": "needs the customer"}),
    )
    .await;
    assert_eq!(v["escalated_to"], "acme IR");
    // the provider's tier 1 cannot open the customer's case (tier 1 does not own cases)
    let (st, _) = d
        .json(
            "POST",
            "/api/v1/cases",
            &pt1,
            json!({"tenant": "acme", "title": "x"}),
        )
        .await;
    assert_eq!(st, 403);
    step(&air, json!({"action": "start"})).await;
    let (st, case) = d
        .json(
            "POST",
            "/api/v1/cases",
            &air,
            json!({"tenant": "acme", "title": "Credential theft", "alerts": [alert]}),
        )
        .await;
    assert_eq!(st, 201, "{case}");
    let case_id = case["id"].as_i64().expect("id");
    for (kind, value) in [("host", "WS1"), ("ip", "10.1.2.3")] {
        let (st, v) = d
            .json(
                "POST",
                &format!("/api/v1/cases/{case_id}/observables"),
                &air,
                json!({"kind": kind, "value": value}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    step(
        &air,
        json!({"action": "close", "verdict": "true_positive", "reason": "confirmed"}),
    )
    .await;
    let (st, v) = d
        .json(
            "PATCH",
            &format!("/api/v1/cases/{case_id}"),
            &air,
            json!({"status": "closed", "resolution": "password reset"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // every step in the alert's history, seen by the customer
    let (st, detail) = d.get(&format!("/api/v1/alerts/{alert}"), &aboss).await;
    assert_eq!(st, 200);
    let steps: Vec<(String, String)> = detail["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["field"] == "status")
        .map(|h| {
            (
                h["actor"].as_str().unwrap_or("").to_string(),
                h["new"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [
        ("pt1", "acknowledged"),
        ("pt1", "escalated"),
        ("air", "in_progress"),
        ("air", "closed"),
    ];
    assert_eq!(
        steps,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{detail}"
    );
    assert_eq!(
        detail["call"][0]["name"], "CISO",
        "whom to call now: {detail}"
    );
    // and in the audit log (the manager reads it)
    let (st, log) = d.get("/api/v1/audit?tenants=acme", &alead).await;
    assert_eq!(st, 200);
    for (actor, action) in [
        ("pt1", "alert.acknowledge"),
        ("pt1", "alert.escalate"),
        ("air", "case.create"),
        ("air", "case.observable_add"),
        ("air", "alert.close"),
        ("air", "case.update"),
        ("alead", "desk.set"),
        ("aboss", "login.success"),
    ] {
        assert!(
            log.as_array()
                .into_iter()
                .flatten()
                .any(|r| r["actor"] == actor && r["action"] == action),
            "{actor} {action} not in the audit log"
        );
    }
    // the customer sees its tenant only
    let (_, mine) = d.get("/api/v1/alerts", &aboss).await;
    let tenants: Vec<&str> = mine["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["tenant"].as_str())
        .collect();
    assert_eq!(tenants, ["acme"]);
    assert_eq!(
        d.get(&format!("/api/v1/alerts/{other}"), &aboss).await.0,
        404
    );
    assert_eq!(d.get("/api/v1/alerts?tenants=globex", &aboss).await.0, 403);
    assert_eq!(d.get("/api/v1/cases?tenants=mssp", &aboss).await.0, 403);
    let (_, cases) = d.get("/api/v1/cases", &aboss).await;
    assert!(
        cases
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["tenant"] == "acme")
    );
    let (st, tenants) = d.get("/api/v1/tenants", &aboss).await;
    assert_eq!(st, 200);
    assert_eq!(tenants.as_array().map(Vec::len), Some(1), "{tenants}");
    // while the provider's analyst sees both customers
    let (_, theirs) = d.get("/api/v1/alerts", &pt1).await;
    assert_eq!(theirs["alerts"].as_array().map(Vec::len), Some(2));
    // the untouched globex alert is past its acknowledgement SLA, in /metrics
    let (st, metrics) = d.get("/metrics", &Auth::None).await;
    assert_eq!(st, 200);
    let text = metrics.as_str().unwrap_or("");
    assert!(
        text.contains("alerts_sla_ack_breached{tenant=\"globex\"} 1"),
        "{text}"
    );
    // the chain is intact
    let (checked, problems) = d.setup(|c| c.verify_audit().expect("verify")).await;
    assert!(checked > 10);
    assert!(problems.is_empty(), "{problems:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_soc_scenario_on_sqlite() {
    hybrid(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_soc_scenario_on_postgres() {
    hybrid(true).await;
}

/// Every endpoint of the matrix is documented in the OpenAPI description, with its method.
#[test]
fn every_matrix_endpoint_is_in_the_openapi_description() {
    let doc: Value = serde_json::from_str(leitstelle_server::OPENAPI).expect("openapi is JSON");
    let mut missing = Vec::new();
    for row in MATRIX {
        let path = row.path.split('?').next().unwrap_or(row.path);
        let path = path
            .replace("0b8e1d2c-0000-4000-8000-00000000a001", "{id}")
            .replace("{alert}", "{id}")
            .replace("{case}", "{id}")
            .replace("{sup}", "{id}")
            .replace("{change}", "{id}")
            .replace("{fresh_token}", "{id}")
            .replace("{user}", "{name}");
        let method = row.method.to_ascii_lowercase();
        if doc["paths"][&path][&method].is_null() {
            missing.push(format!("{} {path}", row.method));
        }
    }
    assert!(missing.is_empty(), "not in openapi.json: {missing:?}");
}

/// Suppressions and tenant overlays act on live detection: a suppressed match is counted on
/// its suppression and raises nothing; an overlay's exception drops a match and its level
/// replaces the rule's.
async fn gate(pg: bool) {
    let Some(d) = Desk::start(if pg { "gate-pg" } else { "gate-sqlite" }, pg).await else {
        return;
    };
    let (eng, ingest) = d
        .setup(|c| {
            let sys = Principal::system();
            c.create_user(&sys, "lead", "a long password", "default", Role::Manager, 0)
                .expect("user");
            let eng = c
                .create_token(&sys, "default", Role::Engineer, "eng", 0)
                .expect("token")
                .1;
            let ingest = c
                .create_token(&sys, "default", Role::Ingest, "ingest", 0)
                .expect("token")
                .1;
            (eng, ingest)
        })
        .await;
    let eng = Auth::Token(eng);
    let lead = d.login("lead", "a long password").await;
    const RULE_ID: &str = "6f0c3c1e-0b7e-4c8e-9a57-1e2e00000001";
    let future = leitstelle_server::pipeline::now_ns() + 24 * 3600 * 1_000_000_000;
    let (st, sup) = d
        .json(
            "POST",
            "/api/v1/suppressions",
            &eng,
            json!({"tenant": "default", "rule_id": RULE_ID,
                   "conditions": [{"field": "host", "value": "WS-QUIET*"}],
                   "reason": "known noisy test host", "expires_ns": future}),
        )
        .await;
    assert_eq!(st, 201, "{sup}");
    let (st, ch) = d
        .json(
            "POST",
            "/api/v1/rules/changes",
            &eng,
            json!({"kind": "overlay", "tenant": "default", "rule_id": RULE_ID,
                   "overlay": {"level": "low",
                               "exceptions": [[{"field": "User", "value": "CORP\\svc_*"}]]}}),
        )
        .await;
    assert_eq!(st, 201, "{ch}");
    let (st, v) = d
        .json(
            "POST",
            &format!("/api/v1/rules/changes/{}/approve", ch["id"]),
            &lead,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let quiet = common::sysmon_event("ws-quiet-01", "x leitstelle-e2e-marker");
    let mut service = common::sysmon_event("ws2", "x leitstelle-e2e-marker");
    service["Event"]["EventData"]["User"] = json!("CORP\\svc_backup");
    let normal = common::sysmon_event("ws3", "x leitstelle-e2e-marker");
    let body = format!("{quiet}\n{service}\n{normal}\n");
    let (st, v) = d
        .call(
            "POST",
            "/api/v1/events",
            &Auth::Token(ingest),
            Some(Body::from(body)),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let alerts = loop {
        let (_, v) = d.get("/api/v1/alerts", &lead).await;
        let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
        if !alerts.is_empty() {
            break alerts;
        }
        assert!(std::time::Instant::now() < deadline, "no alert arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Detection handles a request's events in one batch: by now all three are decided.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["group_key"], "ws3");
    assert_eq!(alerts[0]["level"], "low", "the overlay's level");
    let (_, sups) = d.get("/api/v1/suppressions", &lead).await;
    assert_eq!(sups[0]["hits"], 1, "{sups}");
    let (_, metrics) = d.get("/metrics", &Auth::None).await;
    assert!(
        metrics
            .as_str()
            .unwrap_or("")
            .contains("detections_suppressed_total{tenant=\"default\"} 2"),
        "{metrics}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressions_and_overlays_gate_live_detection_on_sqlite() {
    gate(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressions_and_overlays_gate_live_detection_on_postgres() {
    gate(true).await;
}

/// Rules imported while the server runs (as `leitstelle rules import` does, from another
/// process) are picked up without a reload command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_rules_changed_elsewhere_are_reloaded() {
    let Some(d) = Desk::start("generation", false).await else {
        return;
    };
    let token = d
        .setup(|c| {
            c.create_token(&Principal::system(), "default", Role::Tier1, "t1", 0)
                .expect("token")
                .1
        })
        .await;
    let auth = Auth::Token(token);
    let (_, before) = d.get("/api/v1/rules", &auth).await;
    let n = before["rules"].as_i64().expect("count");
    d.setup(|c| {
        c.import_upstream(
            &Principal::system(),
            &[("stored.yml".into(), RULE.into())],
            &leitstelle_server::rules::check_rule,
            1,
        )
        .expect("import")
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, now) = d.get("/api/v1/rules", &auth).await;
        if now["rules"].as_i64() == Some(n + 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not reloaded: {now}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    d.stop().await;
}

/// The console's first pages over the real router: login by form, the queue and the alert
/// page with security headers and event data rendered inert, a triage form refused without
/// its CSRF field and taken with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_login_queue_alert_and_triage_form() {
    let Some(d) = Desk::start("console", false).await else {
        return;
    };
    let alert = d
        .setup(|c| {
            let sys = Principal::system();
            c.create_user(&sys, "ann", "a long password", "default", Role::Tier1, 0)
                .expect("user");
            c.apply(&[detection("default", 1)], &[], &[], 0, 0, 1)
                .expect("alert")
                .created[0]
        })
        .await;
    let send = |method: &str, uri: &str, cookie: Option<&str>, form: Option<String>| {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("leitstelle_session={c}"));
        }
        if form.is_some() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req
            .body(form.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let router = d.router.clone();
        async move {
            let resp = router.oneshot(req).await.expect("response");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .expect("body");
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (st, h, _) = send("GET", "/alerts", None, None).await;
    assert_eq!(st, 303);
    assert!(h["location"].to_str().unwrap_or("").starts_with("/login"));
    let (st, _, _) = send(
        "POST",
        "/login",
        None,
        Some("user=ann&password=wrong&next=%2Falerts".into()),
    )
    .await;
    assert_eq!(st, 401);
    let (st, h, _) = send(
        "POST",
        "/login",
        None,
        Some("user=ann&password=a+long+password&next=%2Falerts".into()),
    )
    .await;
    assert_eq!(st, 303);
    let cookie = h["set-cookie"].to_str().unwrap_or("").to_string();
    let session = cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("session");
    let (st, h, queue) = send("GET", "/alerts", Some(&session), None).await;
    assert_eq!(st, 200);
    let csp = h["content-security-policy"].to_str().unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        queue.contains(&format!("href=\"/alerts/{alert}\"")),
        "{queue}"
    );
    let (st, _, page) = send("GET", &format!("/alerts/{alert}"), Some(&session), None).await;
    assert_eq!(st, 200);
    assert!(
        !page.contains("<script>alert(1)"),
        "event data must be inert"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    let csrf = common::console::csrf_of(&page).expect("csrf field");
    let uri = format!("/alerts/{alert}/triage");
    let (st, _, _) = send(
        "POST",
        &uri,
        Some(&session),
        Some("action=acknowledge".into()),
    )
    .await;
    assert_eq!(st, 403, "a form without its CSRF field is refused");
    let (st, _, _) = send(
        "POST",
        &uri,
        Some(&session),
        Some(format!("action=acknowledge&csrf={csrf}")),
    )
    .await;
    assert_eq!(st, 303);
    let (_, _, page) = send("GET", &format!("/alerts/{alert}"), Some(&session), None).await;
    assert!(page.contains("status-acknowledged"), "{page}");
    let (st, h, js) = send("GET", "/static/app.js", None, None).await;
    assert_eq!(st, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/javascript")
    );
    assert!(js.contains("EventSource"));
    d.stop().await;
}
