//! `leitstelle serve` and `leitstelle admin` as processes: first start, graceful stop, and
//! the crash test (sustained ingest, `kill -9` at random moments, restart, repeated; every
//! acknowledged event is stored exactly once and detected exactly once), and `search` /
//! `retrohunt` against a server and against a data directory.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_leitstelle");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leitstelle-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn have_curl() -> bool {
    let ok = Command::new("curl").arg("--version").output().is_ok();
    if !ok {
        if std::env::var("LEITSTELLE_REQUIRE_CLIENTS").as_deref() == Ok("1") {
            panic!("curl is required (LEITSTELLE_REQUIRE_CLIENTS=1)");
        }
        eprintln!("SKIPPED: curl is not installed");
    }
    ok
}

/// A server process; its log is collected by a thread (so it never blocks on a full pipe).
struct Server {
    child: Child,
    http: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let config = dir.join("config.toml");
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("LEITSTELLE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .contains("listening (HTTP)")
                    .then(|| line.split("http=").nth(1))
                    .flatten()
                {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut l = log2.lock().unwrap_or_else(|p| p.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let http = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {}", log.lock().expect("log"));
            }
        };
        Server { child, http, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the event store has committed every journaled record (a stop cuts the
    /// indexer's backlog short; the next start would index the rest).
    fn wait_until_stored(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let metrics = Command::new("curl")
                .args(["-s", &format!("http://{}/metrics", self.http)])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let gauge = |name: &str| {
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let durable = gauge("leitstelle_journal_durable_seq");
            let committed = gauge("leitstelle_store_committed_seq");
            if durable > 0 && committed > durable {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the store did not catch up with the journal: committed {committed}, durable {durable}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM and wait: the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .expect("admin runs");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_config(dir: &Path) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(
        rules.join("every.yml"),
        "title: every crash-test event\nid: 0c5e3f4a-0000-4000-8000-000000000001\nlevel: low\n\
         logsource: {product: crashtest}\ndetection: {s: {marker: count-me}, condition: s}\n",
    )
    .expect("rule");
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [[syslog]]\nlisten = \"127.0.0.1:0\"\nprotocols = [\"udp\"]\n\
             [rules]\npaths = [\"{d}/rules\"]\n[journal]\nsegment_bytes = 1048576\n",
            d = dir.display()
        ),
    )
    .expect("config");
}

#[test]
fn first_start_writes_private_credentials_and_sigterm_stops_cleanly() {
    let dir = temp_dir("first");
    write_config(&dir);
    let server = Server::start(&dir);
    let creds = dir.join("data/initial-credentials.txt");
    let text = std::fs::read_to_string(&creds).expect("credentials file");
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password = "))
        .expect("password line")
        .to_string();
    assert!(text.contains("ingest_token = lst_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // `rules reload` asks the running server to reload, with the admin token
    let admin_token = text
        .lines()
        .find_map(|l| l.strip_prefix("admin_token = "))
        .expect("admin token line");
    let out = Command::new(BIN)
        .args([
            "rules",
            "reload",
            "--server",
            &server.http,
            "--token",
            admin_token,
        ])
        .output()
        .expect("reload runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"rules\":1"));
    let out = Command::new(BIN)
        .args([
            "rules",
            "reload",
            "--server",
            &server.http,
            "--token",
            "lst_wrong",
        ])
        .output()
        .expect("reload runs");
    assert!(!out.status.success());
    // the log names the file, never the password
    let log = server.log();
    assert!(log.contains("initial-credentials.txt"), "{log}");
    assert!(!log.contains(&password));
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    // a second start creates nothing
    let server = Server::start(&dir);
    assert!(!server.log().contains("first start"));
    assert!(server.stop().success());
    // admin: tenants and tokens; token create prints only the token
    assert_eq!(admin(&dir, &["tenant", "create", "acme"]).trim(), "acme");
    let token = admin(
        &dir,
        &["token", "create", "--tenant", "acme", "--name", "fw"],
    );
    assert_eq!(token.lines().count(), 1);
    assert!(token.starts_with("lst_"));
    let list = admin(&dir, &["token", "list", "--tenant", "acme"]);
    assert!(list.contains("\tacme\tingest\tfw\t"), "{list}");
    assert!(!list.contains(token.trim()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends batches of events until stopped; returns the ids of acknowledged events.
fn ingest(http: String, token: String, next_id: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut acked = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let first = next_id.fetch_add(200, Ordering::Relaxed);
        let ids: Vec<u64> = (first..first + 200).collect();
        let body: String = ids
            .iter()
            .map(|i| {
                format!(
                    "{{\"product\":\"crashtest\",\"marker\":\"count-me\",\"id\":{i},\"host\":\"h{}\",\"pad\":\"{}\"}}\n",
                    i % 7,
                    "x".repeat(600)
                )
            })
            .collect();
        let out = Command::new("curl")
            .args(["-s", "-f", "--max-time", "10", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .args([
                "--data-binary",
                "@-",
                &format!("http://{http}/api/v1/events"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                if let Some(mut stdin) = c.stdin.take() {
                    let _ = stdin.write_all(body.as_bytes());
                }
                c.wait_with_output()
            });
        match out {
            Ok(o) if o.status.success() => {
                let v: serde_json::Value =
                    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
                if v["accepted"] == 200 {
                    acked.extend(ids);
                }
            }
            _ => break,
        }
    }
    acked
}

#[test]
fn kill_9_during_ingest_loses_and_duplicates_nothing_acknowledged() {
    if !have_curl() {
        return;
    }
    let dir = temp_dir("crash");
    write_config(&dir);
    admin(&dir, &["tenant", "create", "default"]);
    let token = admin(
        &dir,
        &["token", "create", "--tenant", "default", "--name", "crash"],
    )
    .trim()
    .to_string();
    let next_id = Arc::new(AtomicU64::new(0));
    let mut acked: HashSet<u64> = HashSet::new();
    let rounds = 6;
    for round in 0..rounds {
        let server = Server::start(&dir);
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..3)
            .map(|_| {
                let (h, t, n, s) = (
                    server.http.clone(),
                    token.clone(),
                    Arc::clone(&next_id),
                    Arc::clone(&stop),
                );
                std::thread::spawn(move || ingest(h, t, n, s))
            })
            .collect();
        // a pseudo-random moment between 0.3 and 1.5 s
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0) as u64;
        std::thread::sleep(Duration::from_millis(300 + (nanos ^ (round * 7919)) % 1200));
        let mut server = server;
        server.child.kill().expect("kill -9");
        let _ = server.child.wait();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            acked.extend(s.join().expect("sender"));
        }
    }
    assert!(
        acked.len() >= 1000,
        "too few events acknowledged: {}",
        acked.len()
    );
    // A last, clean start replays what was journaled but not detected and indexes what was
    // not stored, then a clean stop.
    let server = Server::start(&dir);
    server.wait_until_stored();
    assert!(server.stop().success());

    // Every acknowledged event is stored exactly once (unacknowledged ones at most once):
    // the journal has been trimmed below what the store committed, so the store is where
    // all of them are now.
    let store = leitstelle_server::open_store(
        &dir.join("data"),
        std::sync::Arc::new(leitstelle_profile::ProfileSet::builtin()),
        &leitstelle_server::config::StoreConfig::default(),
    )
    .expect("store");
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut event_records = 0i64;
    let all = leitstelle_store::SearchRequest::new(
        &["default"],
        leitstelle_store::query::parse("*").expect("query"),
    );
    leitstelle_store::EventStore::scan(&store, &all, &mut |e| {
        *seen
            .entry(e.data["id"].as_u64().unwrap_or(u64::MAX))
            .or_default() += 1;
        event_records += 1;
        true
    })
    .expect("scan");
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "stored twice: {dupes:?}");
    let missing: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {} of {}",
        missing.len(),
        acked.len()
    );
    // The journal was trimmed behind the store and detection, and what is left of it holds
    // nothing twice either.
    let (journal, _) = leitstelle_journal::Journal::open(
        &dir.join("data/journal"),
        leitstelle_journal::JournalOptions::default(),
    )
    .expect("journal");
    let first = journal.stats();
    let mut in_journal: HashMap<u64, usize> = HashMap::new();
    for rec in journal.reader(1).expect("reader") {
        let (_, payload) = rec.expect("record");
        let r = leitstelle_server::record::Record::decode(&payload).expect("decode");
        let v: serde_json::Value = serde_json::from_slice(r.raw).expect("event json");
        *in_journal.entry(v["id"].as_u64().expect("id")).or_default() += 1;
    }
    assert!(
        in_journal.values().all(|n| *n == 1),
        "duplicated in the journal"
    );
    assert!(
        (in_journal.len() as i64) < event_records,
        "the journal was never trimmed ({} segments, {} records kept of {event_records})",
        first.segments,
        in_journal.len()
    );
    drop(journal);

    // Every journaled event was detected exactly once: the alerts' counts add up.
    let control = leitstelle_control::Control::open(&dir.join("data/control.db")).expect("db");
    let mut total = 0;
    let mut filter = leitstelle_control::AlertFilter {
        tenants: vec!["default".into()],
        limit: Some(1000),
        ..Default::default()
    };
    loop {
        let page = control.alerts(&filter).expect("alerts");
        total += page.alerts.iter().map(|a| a.count).sum::<i64>();
        match page.next {
            Some(n) => filter.before_id = Some(n),
            None => break,
        }
    }
    assert_eq!(total, event_records, "detections != stored events");
    eprintln!(
        "crash test: {rounds} kills, {} acknowledged, {event_records} journaled and stored once, all detected once; {} records left in the journal",
        acked.len(),
        in_journal.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("leitstelle runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn search_and_retrohunt_from_the_command_line() {
    if !have_curl() {
        return;
    }
    let dir = temp_dir("search");
    write_config(&dir);
    admin(&dir, &["tenant", "create", "default"]);
    let ingest = admin(&dir, &["token", "create", "--tenant", "default"])
        .trim()
        .to_string();
    let token = admin(
        &dir,
        &["token", "create", "--tenant", "default", "--role", "admin"],
    )
    .trim()
    .to_string();
    let server = Server::start(&dir);
    let body: String = (0..5)
        .map(|i| {
            format!(
                "{{\"product\":\"crashtest\",\"marker\":\"{}\",\"id\":{i},\"host\":\"h{}\"}}\n",
                if i == 3 { "count-me" } else { "other" },
                i % 2
            )
        })
        .collect();
    let out = Command::new("curl")
        .args(["-s", "-f", "-H", &format!("Authorization: Bearer {ingest}")])
        .args([
            "--data-binary",
            &body,
            &format!("http://{}/api/v1/events", server.http),
        ])
        .output()
        .expect("curl");
    assert!(out.status.success());
    // Through the server: hits as JSON lines, tables as text.
    let deadline = Instant::now() + Duration::from_secs(15);
    let hits = loop {
        let (ok, stdout, stderr) = cli(&[
            "search",
            "host:h1",
            "--server",
            &server.http,
            "--token",
            &token,
        ]);
        assert!(ok, "{stderr}");
        if stdout.lines().count() == 2 || Instant::now() > deadline {
            break stdout;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let ids: HashSet<u64> = hits
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["event"]["data"]["id"]
                .as_u64()
                .expect("id")
        })
        .collect();
    assert_eq!(ids, HashSet::from([1, 3]));
    let (ok, table, _) = cli(&[
        "search",
        "* | stats count by host",
        "--server",
        &server.http,
        "--token",
        &token,
    ]);
    assert!(ok);
    assert_eq!(
        table.lines().collect::<Vec<_>>(),
        ["host  count", "h0    3", "h1    2"]
    );
    let (ok, _, err) = cli(&[
        "search",
        "host:(h1",
        "--server",
        &server.http,
        "--token",
        &token,
    ]);
    assert!(!ok && err.contains("column"), "{err}");
    let (ok, out, err) = cli(&[
        "retrohunt",
        "--rules",
        &dir.join("rules").to_string_lossy(),
        "--server",
        &server.http,
        "--token",
        &token,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("every crash-test event"), "{out}");
    // Directly on the data directory, while the server runs and after it stopped.
    let data = dir.join("data");
    let data = data.to_string_lossy();
    let (ok, out, err) = cli(&["search", "marker:count-me", "--data-dir", &data]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(server.stop().success());
    let (ok, out, err) = cli(&[
        "retrohunt",
        "--rules",
        &dir.join("rules").to_string_lossy(),
        "--data-dir",
        &data,
        "--query",
        "host:h1",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("over 2 events"), "{err}");
    let (ok, out, _) = cli(&["search", "*", "--data-dir", &data, "--tenant", "nobody"]);
    assert!(ok && out.is_empty(), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
