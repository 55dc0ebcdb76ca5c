//! Back pressure and tenant quotas at intake, through the real HTTP endpoints with curl:
//! a tenant over its rate quota is told to retry (429 with `Retry-After`; HEC's 503
//! "Server is busy"), other tenants are not held up, and intake refuses while the event
//! store is too far behind the journal.

mod common;

use common::{TestServer, curl, have, sysmon_event, temp_dir, test_config};
use leitstelle_control::Role;
use leitstelle_server::config::TenantLimits;
use serde_json::Value;

fn ndjson(n: usize, marker: &str) -> String {
    (0..n)
        .map(|i| sysmon_event("quota-host", &format!("{marker} {i}")).to_string() + "\n")
        .collect()
}

/// `curl -i`: (status, headers lowercased, body).
async fn curl_i(args: &[&str]) -> (u16, String, String) {
    let mut all = vec!["-i"];
    all.extend_from_slice(args);
    let (status, text) = curl(&all).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

async fn refused_metric(s: &TestServer, reason: &str) -> u64 {
    let (_, text) = curl(&[&format!("{}/metrics", s.base)]).await;
    text.lines()
        .filter(|l| {
            l.starts_with("leitstelle_events_refused_total{")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_rate_quota_is_told_to_retry_and_others_are_not() {
    if !have("curl") {
        return;
    }
    let dir = temp_dir("quota");
    let mut cfg = test_config(&dir);
    cfg.limits.tenants.insert(
        "default".into(),
        TenantLimits {
            events_per_sec: 1,
            burst_events: 3,
            max_in_flight_events: None,
        },
    );
    let mut s = TestServer::start_with(dir, cfg).await;
    let control = std::sync::Arc::clone(&s.running().app.control);
    let other = tokio::task::spawn_blocking(move || {
        let sys = leitstelle_control::Principal::system();
        control.create_tenant("other", 0).expect("tenant");
        control
            .create_token(&sys, "other", Role::Ingest, "other-ingest", 0)
            .expect("token")
            .1
    })
    .await
    .expect("join");

    let (st, body) = s
        .post_events(&s.ingest, &ndjson(3, "within the burst"))
        .await;
    assert_eq!(st, 200, "{body}");

    let auth = format!("Authorization: Bearer {}", s.ingest);
    let events_url = format!("{}/api/v1/events", s.base);
    let (st, head, body) = curl_i(&[
        "-H",
        &auth,
        "--data-binary",
        &ndjson(1, "over"),
        &events_url,
    ])
    .await;
    assert_eq!(st, 429, "{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert!(
        v["error"].as_str().unwrap_or("").contains("rate quota"),
        "{body}"
    );

    // Elasticsearch bulk: 429 as well (Beats and Logstash retry it).
    let (st, body) = s
        .post_bulk(
            &s.ingest,
            &format!("{{\"index\":{{}}}}\n{}\n", sysmon_event("h", "bulk over")),
        )
        .await;
    assert_eq!(st, 429, "{body}");

    // Splunk HEC answers back pressure with its own "Server is busy".
    let (st, body) = curl(&[
        "-H",
        &format!("Authorization: Splunk {}", s.ingest),
        "--data-binary",
        &serde_json::json!({"event": sysmon_event("h", "hec over")}).to_string(),
        &format!("{}/services/collector/event", s.base),
    ])
    .await;
    assert_eq!(st, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["code"], 9, "{body}");

    // Another tenant has no quota and is not held up by this one.
    for _ in 0..3 {
        let (st, body) = s.post_events(&other, &ndjson(50, "other tenant")).await;
        assert_eq!(st, 200, "{body}");
    }
    assert_eq!(refused_metric(&s, "quota").await, 3);

    // The quota refills: one event per second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, body) = s.post_events(&s.ingest, &ndjson(1, "after a second")).await;
    assert_eq!(st, 200, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_refuses_while_the_store_is_too_far_behind() {
    if !have("curl") {
        return;
    }
    let dir = temp_dir("store-lag");
    let mut cfg = test_config(&dir);
    cfg.limits.max_store_lag_events = 5;
    // The store commits nothing during the test, so everything journaled counts as lag.
    cfg.store.commit_interval_ms = 600_000;
    let mut s = TestServer::start_with(dir, cfg).await;
    let (st, body) = s.post_events(&s.ingest, &ndjson(10, "fills the lag")).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = s.post_events(&s.ingest, &ndjson(1, "refused")).await;
    assert_eq!(st, 429, "{body}");
    assert!(body.contains("event store is"), "{body}");
    assert_eq!(refused_metric(&s, "store_lag").await, 1);
    s.stop().await;
}
