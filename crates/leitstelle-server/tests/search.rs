//! The event store through the HTTP API: events become searchable within seconds, the
//! search language and its errors, field statistics, retro-hunts, tenant scope, metrics.

mod common;

use std::time::{Duration, Instant};

use common::*;
use leitstelle_control::Role;
use serde_json::{Value, json};

fn sysmon(host: &str, cmd: &str, time: &str) -> Value {
    let mut e = sysmon_event(host, cmd);
    e["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"] = json!(time);
    e
}

const MIMIKATZ_RULE: &str = r#"
title: Mimikatz command line
id: 0b6e5c2a-1111-4c1e-9a55-000000000001
level: high
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    CommandLine|contains: 'sekurlsa::'
  condition: selection
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_field_stats_retrohunt_and_tenant_scope() {
    if !have("curl") {
        return;
    }
    let mut s = TestServer::start("search").await;
    let control = &s.running().app.control;
    control.create_tenant("globex", 0).expect("tenant");
    let (_, globex_ingest) = control
        .create_token(
            &leitstelle_control::Principal::system(),
            "globex",
            Role::Ingest,
            "g-ingest",
            0,
        )
        .expect("token");
    let (_, globex_admin) = control
        .create_token(
            &leitstelle_control::Principal::system(),
            "globex",
            Role::Admin,
            "g-admin",
            0,
        )
        .expect("token");
    let body = [
        sysmon("WS1", "cmd.exe /c whoami", "2024-05-01T10:00:00Z"),
        sysmon(
            "WS2",
            "mimikatz.exe \"sekurlsa::logonpasswords\" exit",
            "2024-05-01T11:00:00Z",
        ),
        sysmon("WS1", "powershell -enc SQBFAFgA", "2024-05-02T09:00:00Z"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let (st, b) = s.post_events(&s.ingest, &body).await;
    assert_eq!(st, 200, "{b}");
    let g = sysmon(
        "GX1",
        "mimikatz.exe \"sekurlsa::pth\"",
        "2024-05-01T12:00:00Z",
    )
    .to_string();
    let (st, b) = s.post_events(&globex_ingest, &g).await;
    assert_eq!(st, 200, "{b}");

    // Searchable within a few seconds of the acknowledgement.
    let acked = Instant::now();
    loop {
        let (st, v) = get_json(&s.admin, &search_url(&s.base, "*", "")).await;
        assert_eq!(st, 200, "{v}");
        if v["total"] == 3 {
            break;
        }
        assert!(
            acked.elapsed() < Duration::from_secs(10),
            "not searchable: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("searchable {:?} after the acknowledgement", acked.elapsed());

    let (_, v) = get_json(&s.admin, &search_url(&s.base, "CommandLine:*sekurlsa*", "")).await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["hits"][0]["tenant"], "default");
    assert_eq!(v["hits"][0]["event"]["host"], "WS2");
    assert_eq!(v["hits"][0]["time"], "2024-05-01T11:00:00Z");
    // The other tenant sees only its own event, by search and by aggregation.
    let (_, v) = get_json(
        &globex_admin,
        &search_url(&s.base, "CommandLine:*sekurlsa*", ""),
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["hits"][0]["tenant"], "globex");
    let (_, v) = get_json(
        &globex_admin,
        &search_url(&s.base, "* | stats count by host", ""),
    )
    .await;
    assert_eq!(v["table"]["rows"], json!([["GX1", 1]]), "{v}");
    // A token cannot widen its scope; the ingest role cannot search.
    let (st, v) = get_json(&s.admin, &search_url(&s.base, "*", "&tenants=globex")).await;
    assert_eq!(st, 403, "{v}");
    let (st, _) = get_json(&s.ingest, &search_url(&s.base, "*", "")).await;
    assert_eq!(st, 403);
    let (st, _) = get_json("nope", &search_url(&s.base, "*", "")).await;
    assert_eq!(st, 401);

    // Aggregations, newest-first paging, time ranges.
    let (_, v) = get_json(
        &s.admin,
        &search_url(&s.base, "* | stats count by host | sort -count", ""),
    )
    .await;
    assert_eq!(v["table"]["columns"], json!(["host", "count"]));
    assert_eq!(v["table"]["rows"], json!([["WS1", 2], ["WS2", 1]]));
    let (_, v) = get_json(&s.admin, &search_url(&s.base, "*", "&limit=1&offset=1")).await;
    assert_eq!(v["hits"][0]["time"], "2024-05-01T11:00:00Z", "{v}");
    assert_eq!(v["next_offset"], 2);
    let (_, v) = get_json(
        &s.admin,
        &search_url(
            &s.base,
            "host:WS1",
            "&from=2024-05-02T00:00:00Z&to=2024-05-03T00:00:00Z",
        ),
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    let (_, v) = get_json(&s.admin, &search_url(&s.base, "*", "&from=-1h")).await;
    assert_eq!(v["total"], 0, "{v}");

    // Syntax errors say where and what was expected.
    let (st, v) = get_json(&s.admin, &search_url(&s.base, "host:(WS1", "")).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("column"), "{v}");
    let (st, v) = get_json(&s.admin, &search_url(&s.base, "*", "&from=yesterday")).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = get_json(&s.admin, &search_url(&s.base, "*", "&offset=1000000000000")).await;
    assert_eq!(st, 400, "{v}");

    // Field statistics for the sidebar.
    let (st, v) = get_json(
        &s.admin,
        &format!("{}/api/v1/search/fields?q=*&field=host", s.base),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["top"], json!([["WS1", 2], ["WS2", 1]]));
    assert_eq!(v["present"], 3);

    // Retro-hunt with a rule sent along, and with the loaded rules.
    let retro = |token: &str, body: Value| {
        let token = token.to_string();
        let url = format!("{}/api/v1/retrohunt", s.base);
        async move {
            let (st, b) = curl(&[
                "-H",
                &format!("Authorization: Bearer {token}"),
                "--data-binary",
                &body.to_string(),
                &url,
            ])
            .await;
            (st, serde_json::from_str::<Value>(&b).unwrap_or(Value::Null))
        }
    };
    let (st, v) = retro(&s.admin, json!({"rules": [MIMIKATZ_RULE]})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scanned"], 3);
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["matches"][0]["title"], "Mimikatz command line");
    assert_eq!(v["matches"][0]["tenant"], "default");
    let (_, v) = retro(
        &globex_admin,
        json!({"rules": [MIMIKATZ_RULE], "from": "2024-05-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(v["scanned"], 1, "{v}");
    assert_eq!(v["matches"][0]["tenant"], "globex");
    let (_, v) = retro(&s.admin, json!({"rules": [MIMIKATZ_RULE], "q": "host:WS1"})).await;
    assert_eq!(
        (v["scanned"].clone(), v["matches"].as_array().map(Vec::len)),
        (json!(2), Some(0)),
        "{v}"
    );
    let (st, v) = retro(&s.admin, json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["rules"].as_u64().unwrap_or(0) > 0, "{v}");
    let (st, v) = retro(&s.admin, json!({"rules": ["title: broken\ndetection: {}"]})).await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = retro(&s.admin, json!({"rulez": []})).await;
    assert_eq!(st, 400);

    // A provider (managed SOC) scope covers its customers: each hit names its tenant; it
    // may narrow to one customer; the customers still see only themselves.
    control.create_tenant("mssp", 0).expect("tenant");
    let (_, mssp) = control
        .create_token(
            &leitstelle_control::Principal::system(),
            "mssp",
            Role::Admin,
            "mssp-admin",
            0,
        )
        .expect("token");
    let (_, v) = get_json(&mssp, &search_url(&s.base, "CommandLine:*sekurlsa*", "")).await;
    assert_eq!(v["total"], 0, "no contract yet: {v}");
    assert!(
        control
            .add_scope(
                &leitstelle_control::Principal::system(),
                "mssp",
                "default",
                0
            )
            .expect("scope")
    );
    assert!(
        control
            .add_scope(
                &leitstelle_control::Principal::system(),
                "mssp",
                "globex",
                0
            )
            .expect("scope")
    );
    let (_, v) = get_json(&mssp, &search_url(&s.base, "CommandLine:*sekurlsa*", "")).await;
    assert_eq!(v["total"], 2, "{v}");
    let mut tenants: Vec<&str> = v["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["tenant"].as_str())
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["default", "globex"]);
    let (_, v) = get_json(&mssp, &search_url(&s.base, "* | stats count by tenant", "")).await;
    assert_eq!(
        v["table"]["rows"],
        json!([["default", 3], ["globex", 1]]),
        "{v}"
    );
    let (_, v) = get_json(&mssp, &search_url(&s.base, "*", "&tenants=globex")).await;
    assert_eq!(v["total"], 1, "{v}");
    let (_, v) = retro(&mssp, json!({"rules": [MIMIKATZ_RULE]})).await;
    assert_eq!(v["matches"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, v) = get_json(&globex_admin, &search_url(&s.base, "*", "")).await;
    assert_eq!(v["total"], 1, "{v}");
    assert!(
        control
            .remove_scope(
                &leitstelle_control::Principal::system(),
                "mssp",
                "globex",
                0
            )
            .expect("scope")
    );
    let (_, v) = get_json(&mssp, &search_url(&s.base, "CommandLine:*sekurlsa*", "")).await;
    assert_eq!(v["total"], 1, "{v}");

    // Disk use per tenant in the metrics.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, m) = curl(&[&format!("{}/metrics", s.base)]).await;
        if m.contains("leitstelle_store_events{tenant=\"default\"} 3")
            && m.contains("leitstelle_store_bytes{tenant=\"globex\"}")
        {
            break;
        }
        assert!(Instant::now() < deadline, "store metrics missing:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}
