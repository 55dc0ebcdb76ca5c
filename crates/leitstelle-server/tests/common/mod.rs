//! Shared harness of the server's end-to-end tests: a real server in-process on free ports,
//! talked to with real clients (curl, logger, openssl, rsyslog, the Python Elasticsearch
//! client) run as processes.
//!
//! A client that is not installed makes its test skip with a note, unless
//! `LEITSTELLE_REQUIRE_CLIENTS=1` (set by `.ci/run`, which installs them), where it fails.

#![allow(dead_code)]

pub mod console;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use leitstelle_control::Role;
use leitstelle_server::{Config, Running};
use serde_json::Value;

pub struct TestServer {
    pub running: Option<Running>,
    pub dir: PathBuf,
    pub admin: String,
    pub ingest: String,
    pub base: String,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("leitstelle-e2e-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

/// A configuration on free loopback ports with the test rules.
pub fn test_config(dir: &Path) -> Config {
    let mut cfg = Config::from_toml(
        r#"
[http]
listen = "127.0.0.1:0"
[[syslog]]
listen = "127.0.0.1:0"
protocols = ["udp"]
[[syslog]]
listen = "127.0.0.1:0"
protocols = ["tcp"]
[alerts]
window_secs = 3600
"#,
    )
    .expect("config");
    cfg.data_dir = dir.join("data");
    cfg.rules.paths = vec![rules_dir()];
    // Test events carry fixed past timestamps; keep them.
    cfg.store.retention_days = 0;
    cfg.store.commit_interval_ms = 200;
    cfg
}

impl TestServer {
    pub async fn start(name: &str) -> TestServer {
        let dir = temp_dir(name);
        let cfg = test_config(&dir);
        TestServer::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: PathBuf, cfg: Config) -> TestServer {
        let running = leitstelle_server::start(cfg).await.expect("server starts");
        // The control plane is synchronous (PostgreSQL's client refuses a runtime worker).
        let control = std::sync::Arc::clone(&running.app.control);
        let (admin, ingest) = tokio::task::spawn_blocking(move || {
            let sys = leitstelle_control::Principal::system();
            let (_, admin) = control
                .create_token(&sys, "default", Role::Admin, "test-admin", 0)
                .expect("token");
            let (_, ingest) = control
                .create_token(&sys, "default", Role::Ingest, "test-ingest", 0)
                .expect("token");
            (admin, ingest)
        })
        .await
        .expect("join");
        let base = format!("http://{}", running.http_addr);
        TestServer {
            running: Some(running),
            dir,
            admin,
            ingest,
            base,
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    /// The bound address of the first syslog listener with this protocol.
    pub fn syslog_addr(&self, proto: leitstelle_server::config::Protocol) -> std::net::SocketAddr {
        self.running()
            .syslog_addrs
            .iter()
            .find(|(_, p, _)| *p == proto)
            .map(|(_, _, a)| *a)
            .expect("listener")
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Sends a body to `POST /api/v1/events` with `token`; returns (status, body).
    pub async fn post_events(&self, token: &str, body: &str) -> (u16, String) {
        curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--data-binary",
            body,
            &format!("{}/api/v1/events", self.base),
        ])
        .await
    }

    /// Sends an Elasticsearch bulk body to `POST /logs/_bulk` with `token` as the Basic
    /// password; returns (status, body).
    pub async fn post_bulk(&self, token: &str, body: &str) -> (u16, String) {
        curl(&[
            "-u",
            &format!("x:{token}"),
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            body,
            &format!("{}/logs/_bulk", self.base),
        ])
        .await
    }

    /// Polls the alerts API (as `token`) until `pred` holds for the list, or fails after 10 s.
    pub async fn wait_alerts(&self, token: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = curl(&[
                "-H",
                &format!("Authorization: Bearer {token}"),
                &format!("{}/api/v1/alerts", self.base),
            ])
            .await;
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).expect("json");
            let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
            if pred(&alerts) {
                return alerts;
            }
            if Instant::now() > deadline {
                panic!("alerts did not arrive in time; last answer: {body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether a client program is installed; if not, says so, and fails when clients are
/// required.
pub fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("LEITSTELLE_REQUIRE_CLIENTS").as_deref() == Ok("1") {
            panic!("{program} is required (LEITSTELLE_REQUIRE_CLIENTS=1) but not installed");
        }
        eprintln!("SKIPPED: {program} is not installed (.ci/run installs it)");
    }
    found
}

/// A self-signed CA (`ca.pem`), a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) and a client certificate (`client.pem`, `client.key`) in `dir`, made with
/// openssl.
pub fn make_certs(dir: &Path) -> bool {
    let sh = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=e2e-ca 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf; \
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=e2e-client 2>/dev/null; \
         printf 'extendedKeyUsage=clientAuth\\n' > client.cnf; \
         openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.cnf 2>/dev/null",
        d = dir.display()
    );
    Command::new("sh")
        .args(["-c", &sh])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a command on a blocking thread.
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("command runs"))
        .await
        .expect("join")
}

/// Runs curl with `args` (plus `-s -w` for the status); returns (status, body).
pub async fn curl(args: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "-w", "\n%{http_code}"]).args(args);
    let out = run(cmd).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// `GET` with a bearer token; returns (status, parsed JSON or `null`).
pub async fn get_json(token: &str, url: &str) -> (u16, Value) {
    let (st, body) = curl(&["-H", &format!("Authorization: Bearer {token}"), url]).await;
    (st, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A search URL with the query text percent-encoded.
pub fn search_url(base: &str, q: &str, extra: &str) -> String {
    let mut enc = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{base}/api/v1/search?q={enc}{extra}")
}

/// A Sysmon process-creation event (native EVTX-JSON shape) with a command line.
pub fn sysmon_event(host: &str, command_line: &str) -> Value {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": host,
            "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000000Z"}}
        },
        "EventData": {
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": command_line,
            "User": "CORP\\alice"
        }
    }})
}

/// A server whose only syslog listener is TLS with client certificates required, and the
/// folder with the certificates `make_certs` made.
pub async fn tls_server(name: &str) -> (TestServer, PathBuf, std::net::SocketAddr) {
    let dir = temp_dir(name);
    assert!(make_certs(&dir), "openssl could not make certificates");
    let mut cfg = test_config(&dir);
    cfg.syslog = Config::from_toml(&format!(
        "[[syslog]]\nname = \"tls\"\nlisten = \"127.0.0.1:0\"\nprotocols = [\"tls\"]\n\
         tls = {{ cert = \"{d}/server.pem\", key = \"{d}/server.key\", client_ca = \"{d}/ca.pem\" }}\n",
        d = dir.display()
    ))
    .expect("config")
    .syslog;
    let s = TestServer::start_with(dir.clone(), cfg).await;
    let addr = s.syslog_addr(leitstelle_server::config::Protocol::Tls);
    (s, dir, addr)
}
