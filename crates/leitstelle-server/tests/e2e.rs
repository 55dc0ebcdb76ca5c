//! End-to-end: the real server in-process, real clients as processes. Each intake test
//! sends an event a test rule (tests/rules) must match and checks the alert appears.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use leitstelle_control::Role;
use leitstelle_server::config::Protocol;
use serde_json::{Value, json};

fn rule_alerts<'a>(alerts: &'a [Value], rule_id_suffix: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| {
            a["rule_id"]
                .as_str()
                .is_some_and(|r| r.ends_with(rule_id_suffix))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_events_raise_grouped_alerts_with_their_events() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("ndjson").await;
    let body = [
        sysmon_event("ws1", "cmd /c leitstelle-e2e-marker one"),
        sysmon_event("ws1", "cmd /c leitstelle-e2e-marker two"),
        sysmon_event("ws2", "cmd /c leitstelle-e2e-marker three"),
        sysmon_event("ws1", "cmd /c harmless"),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let (status, resp) = s.post_events(&s.ingest, &body).await;
    assert_eq!(status, 200, "{resp}");
    let r: Value = serde_json::from_str(&resp).expect("json");
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(4), Some(0))
    );

    let alerts = s
        .wait_alerts(&s.admin, |a| {
            rule_alerts(a, "0001")
                .iter()
                .map(|x| x["count"].as_i64().unwrap_or(0))
                .sum::<i64>()
                == 3
        })
        .await;
    let mut per_host: Vec<(String, i64)> = rule_alerts(&alerts, "0001")
        .iter()
        .map(|a| {
            (
                a["group_key"].as_str().unwrap_or("").to_string(),
                a["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    per_host.sort();
    assert_eq!(
        per_host,
        vec![("ws1".to_string(), 2), ("ws2".to_string(), 1)]
    );
    let a = rule_alerts(&alerts, "0001")[0];
    assert_eq!(a["level"], "high");
    assert_eq!(a["status"], "new");
    assert_eq!(a["tags"], json!(["attack.execution", "attack.t1059"]));

    let id = a["id"].as_i64().expect("id");
    let (status, detail) = curl(&[
        "-H",
        &format!("Authorization: Bearer {}", s.admin),
        &format!("{}/api/v1/alerts/{id}", s.base),
    ])
    .await;
    assert_eq!(status, 200, "{detail}");
    let d: Value = serde_json::from_str(&detail).expect("json");
    let events = d["events"].as_array().expect("events");
    assert!(!events.is_empty());
    let ev = &events[0]["event"];
    assert!(
        ev["data"]["Event"]["EventData"]["CommandLine"]
            .as_str()
            .is_some_and(|c| c.contains("leitstelle-e2e-marker"))
    );
    assert_eq!(ev["logsource"]["product"], "windows");
    assert!(
        ev["raw"]
            .as_str()
            .is_some_and(|r| r.contains("leitstelle-e2e-marker"))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_and_kept_good_ones_accepted() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("badlines").await;
    let good = json!({"product": "e2e", "marker": "count-me", "host": "h"}).to_string();
    let body = format!("{good}\n{{not json\n[1,2]\n{good}\n");
    let (status, resp) = s.post_events(&s.ingest, &body).await;
    assert_eq!(status, 200, "{resp}");
    let r: Value = serde_json::from_str(&resp).expect("json");
    assert_eq!(r["accepted"], 2);
    assert_eq!(r["rejected"], 2);
    let idx: Vec<_> = r["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["index"].clone())
        .collect();
    assert_eq!(idx, vec![json!(1), json!(2)]);
    s.wait_alerts(&s.admin, |a| {
        rule_alerts(a, "0003")
            .first()
            .is_some_and(|x| x["count"] == 2)
    })
    .await;
    // the dead letters are kept with their reason
    let control = &s.running().app.control;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let dead = control.dead_letters("default", 10).expect("dead letters");
        if dead.len() == 2 {
            assert!(dead.iter().any(|d| d.raw == b"{not json"));
            assert!(
                dead.iter()
                    .all(|d| d.source == "http" && !d.reason.is_empty())
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dead letters missing: {dead:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // all bad: 400, still kept
    let (status, _) = s.post_events(&s.ingest, "nope").await;
    assert_eq!(status, 400);
    let metrics = curl(&[&format!("{}/metrics", s.base)]).await.1;
    assert!(
        metrics.contains("leitstelle_events_failed_total{"),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_and_tenants_are_enforced() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("auth").await;
    let control = &s.running().app.control;
    control.create_tenant("other", 0).expect("tenant");
    let (_, other_admin) = control
        .create_token(
            &leitstelle_control::Principal::system(),
            "other",
            Role::Admin,
            "o",
            0,
        )
        .expect("token");
    let url = format!("{}/api/v1/alerts", s.base);
    assert_eq!(curl(&[&url]).await.0, 401);
    assert_eq!(
        curl(&["-H", "Authorization: Bearer lst_nope", &url])
            .await
            .0,
        401
    );
    let ingest_hdr = format!("Authorization: Bearer {}", s.ingest);
    assert_eq!(curl(&["-H", &ingest_hdr, &url]).await.0, 403);
    // an event of tenant default raises an alert only default's admin sees
    let ev = sysmon_event("ws9", "leitstelle-e2e-marker tenant");
    let events_url = format!("{}/api/v1/events", s.base);
    let (st, _) = curl(&[
        "-H",
        &ingest_hdr,
        "--data-binary",
        &ev.to_string(),
        &events_url,
    ])
    .await;
    assert_eq!(st, 200);
    let alerts = s
        .wait_alerts(&s.admin, |a| !rule_alerts(a, "0001").is_empty())
        .await;
    let id = rule_alerts(&alerts, "0001")[0]["id"].as_i64().expect("id");
    let other = s.wait_alerts(&other_admin, |_| true).await;
    assert!(other.is_empty(), "{other:?}");
    let (st, _) = curl(&[
        "-H",
        &format!("Authorization: Bearer {other_admin}"),
        &format!("{url}/{id}"),
    ])
    .await;
    assert_eq!(st, 404);
    // a revoked token stops working
    let tokens = control.tokens(Some("default")).expect("tokens");
    let ingest_id = tokens
        .iter()
        .find(|t| t.label == "test-ingest")
        .expect("ingest")
        .id;
    control
        .revoke_token(&leitstelle_control::Principal::system(), ingest_id, 1)
        .expect("revoke");
    let (st, _) = curl(&["-H", &ingest_hdr, "--data-binary", "{}", &events_url]).await;
    assert_eq!(st, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_over_udp_and_tcp_raises_alerts() {
    if !have("logger") {
        return;
    }
    let mut s = TestServer::start("logger").await;
    // (this logger has no --hostname: both messages carry this machine's name)
    for (proto, flag) in [(Protocol::Udp, "--udp"), (Protocol::Tcp, "--tcp")] {
        let addr = s.syslog_addr(proto);
        let mut cmd = Command::new("logger");
        cmd.args([
            flag,
            "--server",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
            "--rfc5424",
            "--tag",
            "e2e",
            "leitstelle-syslog-marker via logger",
        ]);
        let out = run(cmd).await;
        assert!(
            out.status.success(),
            "logger: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let alerts = s
        .wait_alerts(&s.admin, |a| {
            rule_alerts(a, "0002")
                .iter()
                .map(|x| x["count"].as_i64().unwrap_or(0))
                .sum::<i64>()
                == 2
        })
        .await;
    assert!(
        rule_alerts(&alerts, "0002")[0]["group_key"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    // RFC 3164 with octet counting over TCP too
    let addr = s.syslog_addr(Protocol::Tcp);
    let mut cmd = Command::new("logger");
    cmd.args([
        "--tcp",
        "--octet-count",
        "--rfc3164",
        "--server",
        &addr.ip().to_string(),
        "--port",
        &addr.port().to_string(),
        "leitstelle-syslog-marker octet counted",
    ]);
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.wait_alerts(&s.admin, |a| {
        rule_alerts(a, "0002")
            .iter()
            .map(|x| x["count"].as_i64().unwrap_or(0))
            .sum::<i64>()
            == 3
    })
    .await;
    s.stop().await;
}

fn hec(status: u16, code: u32, text: &str) -> (u16, Value) {
    (status, json!({"code": code, "text": text}))
}

fn parsed((status, body): (u16, String)) -> (u16, Value) {
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_with_curl() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("hec").await;
    let url = format!("{}/services/collector/event", s.base);
    let auth = format!("Authorization: Splunk {}", s.ingest);
    let health = parsed(curl(&[&format!("{}/services/collector/health", s.base)]).await);
    assert_eq!(health, hec(200, 17, "HEC is healthy"));
    // two envelopes, concatenated: an object event and a text (syslog) event
    let payload = format!(
        "{}{}",
        json!({"time": 1714557600.5, "host": "hec-src", "sourcetype": "xmlwineventlog",
               "event": sysmon_event("hec-host", "leitstelle-e2e-marker via hec")}),
        json!({"event": "<13>1 2024-05-01T10:00:00Z hec-host app - - - leitstelle-syslog-marker via hec"})
    );
    let r = parsed(curl(&["-H", &auth, "--data-binary", &payload, &url]).await);
    assert_eq!(r, hec(200, 0, "Success"));
    let r = parsed(
        curl(&[
            "-H",
            &auth,
            "--data-binary",
            "<13>Jan  2 03:04:05 rawhost app: leitstelle-syslog-marker raw\n",
            &format!("{}/services/collector/raw", s.base),
        ])
        .await,
    );
    assert_eq!(r, hec(200, 0, "Success"));
    s.wait_alerts(&s.admin, |a| {
        !rule_alerts(a, "0001").is_empty()
            && rule_alerts(a, "0002")
                .iter()
                .map(|x| x["count"].as_i64().unwrap_or(0))
                .sum::<i64>()
                == 2
    })
    .await;
    // HEC's error codes
    let r = parsed(curl(&["--data-binary", "{}", &url]).await);
    assert_eq!(r, hec(401, 2, "Token is required"));
    let r = parsed(
        curl(&[
            "-H",
            "Authorization: Splunk lst_bad",
            "--data-binary",
            "{}",
            &url,
        ])
        .await,
    );
    assert_eq!(r, hec(403, 4, "Invalid token"));
    let (st, body) = curl(&["-H", &auth, "--data-binary", r#"{"time": 1}"#, &url]).await;
    assert_eq!(st, 400);
    assert!(body.contains(r#""code":12"#), "{body}");
    let (st, body) = curl(&["-H", &auth, "--data-binary", r#"{"event": ""}"#, &url]).await;
    assert_eq!(st, 400);
    assert!(body.contains(r#""code":13"#), "{body}");
    let (st, body) = curl(&["-H", &auth, "--data-binary", "{oops", &url]).await;
    assert_eq!(st, 400);
    assert!(body.contains(r#""code":6"#), "{body}");
    let r = parsed(curl(&["-H", &auth, "-X", "POST", &url]).await);
    assert_eq!(r, hec(400, 5, "No data"));
    s.stop().await;
}

const ES_SCRIPT: &str = r#"
import sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], basic_auth=("elastic", sys.argv[2]), request_timeout=10)
info = es.info()
assert info["version"]["number"].startswith("8."), info
doc = {
    "@timestamp": "2024-05-01T10:00:00.000Z",
    "host": {"name": "es-host"},
    "winlog": {
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "event_id": 1,
        "provider_name": "Microsoft-Windows-Sysmon",
        "computer_name": "es-host",
        "event_data": {"CommandLine": "powershell leitstelle-e2e-marker via bulk"},
    },
    "process": {"command_line": "powershell leitstelle-e2e-marker via bulk"},
}
actions = [{"_index": "winlogbeat-8.15.0", "_source": doc} for _ in range(3)]
ok, errors = helpers.bulk(es, actions, raise_on_error=False)
print(ok, len(errors))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_elasticsearch_bulk_helper() {
    let has_client = Command::new("python3")
        .args(["-c", "import elasticsearch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_client {
        if std::env::var("LEITSTELLE_REQUIRE_CLIENTS").as_deref() == Ok("1") {
            panic!("the Python elasticsearch client is required but not installed");
        }
        eprintln!("SKIPPED: python3 with the elasticsearch client is not installed");
        return;
    }
    let mut s = TestServer::start("elastic").await;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", ES_SCRIPT, &s.base, &s.ingest]);
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "python: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3 0");
    let alerts = s
        .wait_alerts(&s.admin, |a| {
            rule_alerts(a, "0001")
                .first()
                .is_some_and(|x| x["count"] == 3)
        })
        .await;
    assert_eq!(rule_alerts(&alerts, "0001")[0]["group_key"], "es-host");
    // probes answer with the product header; bulk refuses what it does not do, per item
    let (st, body) = curl(&["-i", &format!("{}/_license", s.base)]).await;
    assert_eq!(st, 200);
    assert!(
        body.to_ascii_lowercase()
            .contains("x-elastic-product: elasticsearch"),
        "{body}"
    );
    let (st, body) = s
        .post_bulk(
            &s.ingest,
            "{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n{bad json\n",
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["errors"], true);
    assert_eq!(v["items"][0]["delete"]["status"], 400);
    assert_eq!(v["items"][1]["index"]["status"], 400);
    assert_eq!(
        v["items"][1]["index"]["error"]["type"],
        "mapper_parsing_exception"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_syslog_with_client_certificates() {
    if !have("openssl") {
        return;
    }
    let (mut s, dir, addr) = tls_server("tls").await;
    let cert_dir = dir.clone();
    let send = move |with_cert: bool, host: &str| {
        let dir = &cert_dir;
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-connect",
            &addr.to_string(),
            "-CAfile",
            &format!("{}/ca.pem", dir.display()),
            "-verify_return_error",
        ]);
        if with_cert {
            cmd.args([
                "-cert",
                &format!("{}/client.pem", dir.display()),
                "-key",
                &format!("{}/client.key", dir.display()),
            ]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("openssl");
        let msg = format!(
            "<13>1 2024-05-01T10:00:00Z {host} app - - - leitstelle-syslog-marker over tls\n"
        );
        let framed = format!("{} {}", msg.len(), msg);
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(framed.as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        child.wait_with_output().expect("openssl runs")
    };
    // without a client certificate the server refuses the connection
    let send = std::sync::Arc::new(send);
    let s1 = std::sync::Arc::clone(&send);
    tokio::task::spawn_blocking(move || s1(false, "nocert-host"))
        .await
        .expect("join");
    let s2 = std::sync::Arc::clone(&send);
    tokio::task::spawn_blocking(move || s2(true, "tls-host"))
        .await
        .expect("join");
    let alerts = s
        .wait_alerts(&s.admin, |a| !rule_alerts(a, "0002").is_empty())
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let alerts = s.wait_alerts(&s.admin, |a| a.len() >= alerts.len()).await;
    let hosts: Vec<_> = rule_alerts(&alerts, "0002")
        .iter()
        .map(|a| a["group_key"].clone())
        .collect();
    assert_eq!(hosts, vec![json!("tls-host")]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_replays_nothing_twice_and_reload_swaps_rules() {
    if !have("curl") {
        return;
    }
    let dir = temp_dir("restart");
    let cfg = test_config(&dir);
    let mut s = TestServer::start_with(dir.clone(), cfg.clone()).await;
    let ev = json!({"product": "e2e", "marker": "count-me", "host": "r"}).to_string();
    let body = vec![ev; 50].join("\n");
    let hdr = format!("Authorization: Bearer {}", s.ingest);
    let url = format!("{}/api/v1/events", s.base);
    assert_eq!(
        curl(&["-H", &hdr, "--data-binary", &body, &url]).await.0,
        200
    );
    s.stop().await;
    // after a graceful stop everything acknowledged was detected: one alert, count 50
    let control = leitstelle_server::open_control(&cfg.data_dir, None).expect("control");
    let page = control
        .alerts(&leitstelle_control::AlertFilter {
            tenants: vec!["default".into()],
            ..Default::default()
        })
        .expect("alerts");
    assert_eq!(page.alerts.len(), 1);
    assert_eq!(page.alerts[0].count, 50);
    drop(control);
    // restart: nothing is replayed twice
    let running = leitstelle_server::start(cfg.clone())
        .await
        .expect("restart");
    assert_eq!(running.replayed, 0);
    let page = running
        .app
        .control
        .alerts(&leitstelle_control::AlertFilter {
            tenants: vec!["default".into()],
            ..Default::default()
        })
        .expect("alerts");
    assert_eq!(page.alerts[0].count, 50);
    // one more event before the reload, so the detector's state is warm with the old set
    let (_, token) = running
        .app
        .control
        .create_token(
            &leitstelle_control::Principal::system(),
            "default",
            leitstelle_control::Role::Admin,
            "after-restart",
            0,
        )
        .expect("token");
    let hdr = format!("Authorization: Bearer {token}");
    let url = format!("http://{}/api/v1/events", running.http_addr);
    let ev = json!({"product": "e2e", "marker": "count-me", "host": "r"}).to_string();
    assert_eq!(curl(&["-H", &hdr, "--data-binary", &ev, &url]).await.0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running
        .app
        .control
        .alerts(&leitstelle_control::AlertFilter {
            tenants: vec!["default".into()],
            ..Default::default()
        })
        .expect("alerts")
        .alerts[0]
        .count
        != 51
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the 51st event was not detected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // reload with a folder holding one more rule
    let extra = dir.join("extra-rules");
    std::fs::create_dir_all(&extra).expect("dir");
    std::fs::write(
        extra.join("x.yml"),
        "title: x\nid: 6f0c3c1e-0b7e-4c8e-9a57-1e2e000000ff\nlevel: low\nlogsource: {product: e2e}\ndetection: {s: {marker: other}, condition: s}\n",
    )
    .expect("rule");
    let before = running.app.rules.load().rules;
    let state = {
        let mut app_cfg = running.app.config.rules.clone();
        app_cfg.paths.push(extra);
        leitstelle_server::rules::reload(&app_cfg, &running.app.profiles, &[], &running.app.rules)
            .expect("reload")
    };
    assert_eq!(state.rules, before + 1);
    assert_eq!(running.app.rules.load().rules, before + 1);
    // the detector matches with the new set (its per-thread state follows the reload)
    let (_, token) = running
        .app
        .control
        .create_token(
            &leitstelle_control::Principal::system(),
            "default",
            leitstelle_control::Role::Admin,
            "after-reload",
            0,
        )
        .expect("token");
    let url = format!("http://{}/api/v1/events", running.http_addr);
    let ev = json!({"product": "e2e", "marker": "other", "host": "reloaded"}).to_string();
    let hdr = format!("Authorization: Bearer {token}");
    assert_eq!(curl(&["-H", &hdr, "--data-binary", &ev, &url]).await.0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = running
            .app
            .control
            .alerts(&leitstelle_control::AlertFilter {
                tenants: vec!["default".into()],
                ..Default::default()
            })
            .expect("alerts");
        if page.alerts.iter().any(|a| a.rule_id.ends_with("0000ff")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert from the reloaded rule"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
