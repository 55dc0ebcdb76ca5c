//! HTTP API details with curl: gzip bodies and their cap, size limits, JSON arrays, the
//! OpenAPI document, rules status and reload.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_arrays_and_limits() {
    if !have("curl") || !have("gzip") {
        return;
    }
    let dir = temp_dir("limits");
    let mut cfg = test_config(&dir);
    cfg.limits.max_body_bytes = 64 * 1024;
    cfg.limits.max_decompressed_bytes = 200 * 1024;
    cfg.limits.max_event_bytes = 4 * 1024;
    let mut s = TestServer::start_with(dir.clone(), cfg).await;
    let url = format!("{}/api/v1/events", s.base);
    let auth = format!("Authorization: Bearer {}", s.ingest);
    let post_file = |file: std::path::PathBuf, gz: bool| {
        let mut args = vec!["-H".to_string(), auth.clone()];
        if gz {
            args.extend(["-H".into(), "Content-Encoding: gzip".into()]);
        }
        args.extend([
            "--data-binary".into(),
            format!("@{}", file.display()),
            url.clone(),
        ]);
        args
    };
    let gzip = |name: &str, content: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, content).expect("write");
        let st = Command::new("gzip")
            .arg("-f")
            .arg(&p)
            .status()
            .expect("gzip");
        assert!(st.success());
        dir.join(format!("{name}.gz"))
    };
    // a gzipped JSON array of events: accepted, detected
    let events = json!([
        {"product": "e2e", "marker": "count-me", "host": "gz"},
        {"product": "e2e", "marker": "count-me", "host": "gz"}
    ]);
    let f = gzip("array.json", events.to_string().as_bytes());
    let args = post_file(f, true);
    let (st, body) = curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["accepted"],
        2
    );
    s.wait_alerts(&s.admin, |a| {
        a.iter().any(|x| x["group_key"] == "gz" && x["count"] == 2)
    })
    .await;
    // a gzip bomb over the decompressed cap: 413
    let f = gzip("bomb.ndjson", &vec![b' '; 1024 * 1024]);
    let args = post_file(f, true);
    let (st, body) = curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(st, 413, "{body}");
    assert!(
        body.contains("decompressed body is larger than the limit"),
        "{body}"
    );
    // a body over the limit as sent: 413
    let big = dir.join("big.ndjson");
    std::fs::write(&big, vec![b'\n'; 100 * 1024]).expect("write");
    let args = post_file(big, false);
    let (st, _) = curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(st, 413);
    // an event over the event limit is rejected (and kept), the others accepted
    let line = json!({"product": "e2e", "pad": "x".repeat(5000)}).to_string();
    let small = json!({"product": "e2e"}).to_string();
    let (st, body) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        &format!("{line}\n{small}\n"),
        &url,
    ])
    .await;
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        v["errors"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("larger than the limit"))
    );
    // not gzip at all, declared as gzip: 400; unknown encoding: 415
    let (st, _) = curl(&[
        "-H",
        &auth,
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        "{}",
        &url,
    ])
    .await;
    assert_eq!(st, 400);
    let (st, _) = curl(&[
        "-H",
        &auth,
        "-H",
        "Content-Encoding: br",
        "--data-binary",
        "{}",
        &url,
    ])
    .await;
    assert_eq!(st, 415);
    // an unknown parser name: 400 naming the known ones
    let (st, body) = curl(&[
        "-H",
        &auth,
        "--data-binary",
        "{}",
        &format!("{url}?format=xml"),
    ])
    .await;
    assert_eq!(st, 400);
    assert!(body.contains("unknown format `xml`"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_rules_can_be_reloaded() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("openapi").await;
    let (st, body) = curl(&[&format!("{}/api/v1/openapi.json", s.base)]).await;
    assert_eq!(st, 200);
    let doc: Value = serde_json::from_str(&body).expect("openapi is JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/events",
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/rules",
        "/api/v1/rules/reload",
        "/",
        "/_bulk",
        "/{index}/_bulk",
        "/_license",
        "/services/collector/event",
        "/services/collector/raw",
        "/services/collector/health",
        "/api/v1/search",
        "/api/v1/search/fields",
        "/api/v1/retrohunt",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    for p in ["/healthz", "/readyz"] {
        assert_eq!(curl(&[&format!("{}{p}", s.base)]).await.0, 200);
    }
    let admin = format!("Authorization: Bearer {}", s.admin);
    let (st, body) = curl(&["-H", &admin, &format!("{}/api/v1/rules", s.base)]).await;
    assert_eq!(st, 200);
    let rules: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(rules["rules"], 3);
    let (st, body) = curl(&[
        "-X",
        "POST",
        "-H",
        &admin,
        &format!("{}/api/v1/rules/reload", s.base),
    ])
    .await;
    assert_eq!(st, 200, "{body}");
    let ingest = format!("Authorization: Bearer {}", s.ingest);
    let (st, _) = curl(&[
        "-X",
        "POST",
        "-H",
        &ingest,
        &format!("{}/api/v1/rules/reload", s.base),
    ])
    .await;
    assert_eq!(st, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_syslog_connections_are_closed_and_the_connection_limit_holds() {
    use std::io::{Read, Write};
    let dir = temp_dir("idle");
    let mut cfg = test_config(&dir);
    cfg.syslog = leitstelle_server::Config::from_toml(
        "[[syslog]]\nlisten = \"127.0.0.1:0\"\nprotocols = [\"tcp\"]\nmax_connections = 1\nidle_timeout_secs = 1\n",
    )
    .expect("config")
    .syslog;
    let mut s = TestServer::start_with(dir, cfg).await;
    let addr = s.syslog_addr(leitstelle_server::config::Protocol::Tcp);
    let started = std::time::Instant::now();
    // the first connection takes the only slot and stays silent; the second waits in the
    // backlog with a message
    let (mut idle, second) = tokio::task::spawn_blocking(move || {
        let idle = std::net::TcpStream::connect(addr).expect("connect");
        idle.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut second = std::net::TcpStream::connect(addr).expect("connect");
        second
            .write_all(
                b"<13>1 2024-05-01T10:00:00Z limit-host app - - - leitstelle-syslog-marker\n",
            )
            .expect("write");
        (idle, second)
    })
    .await
    .expect("join");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let early = s.wait_alerts(&s.admin, |_| true).await;
    assert!(
        !early.iter().any(|x| x["group_key"] == "limit-host"),
        "the second connection was served while the first held the only slot"
    );
    // the idle one is closed after ~1 s; then the second is served
    let n = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 1];
        idle.read(&mut buf).expect("read until closed")
    })
    .await
    .expect("join");
    assert_eq!(n, 0, "the idle connection was closed");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    s.wait_alerts(&s.admin, |a| {
        a.iter().any(|x| x["group_key"] == "limit-host")
    })
    .await;
    drop(second);
    s.stop().await;
}
