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
