//! End-to-end with rsyslog (Debian's `rsyslogd`) as the shipper: the real server in-process,
//! a private rsyslogd in the foreground that forwards to it with `omfwd` over UDP, TCP
//! (octet-counted and newline framing) and TLS (the OpenSSL driver, with a client
//! certificate).
//!
//! Each rsyslogd has its own configuration, work directory and pid file in a temp folder,
//! reads only a file (`imfile`) or a local port (`imtcp` on a free port, fed by `logger`), and
//! loads neither `imuxsock` nor `imklog`; its own messages stay in its rules
//! (`processInternalMessages`): it never touches the system's `/dev/log` or
//! `/etc/rsyslog.conf`. A guard kills it when the test ends, also on a panic (and then prints
//! what it printed and processed).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use leitstelle_server::config::Protocol;
use serde_json::Value;

/// The rsyslogd to run: the Debian path (`/usr/sbin` is not on every user's PATH), else
/// whatever PATH has; `None` (after saying so, or failing under
/// `LEITSTELLE_REQUIRE_CLIENTS=1`) when there is none.
fn rsyslogd() -> Option<PathBuf> {
    for p in ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"] {
        if Path::new(p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    have("rsyslogd").then(|| PathBuf::from("rsyslogd"))
}

/// Whether rsyslog's OpenSSL network stream driver (Debian package `rsyslog-openssl`) is
/// installed; skips loudly, or fails when clients are required, if not.
fn have_ossl_driver() -> bool {
    let mut dirs = vec![PathBuf::from("/usr/lib/rsyslog")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("rsyslog")));
    }
    if dirs.iter().any(|d| d.join("lmnsd_ossl.so").is_file()) {
        return true;
    }
    if std::env::var("LEITSTELLE_REQUIRE_CLIENTS").as_deref() == Ok("1") {
        panic!("rsyslog's TLS driver lmnsd_ossl.so (rsyslog-openssl) is required but missing");
    }
    eprintln!("SKIPPED: rsyslog's TLS driver lmnsd_ossl.so is not installed (rsyslog-openssl)");
    false
}

/// A private rsyslogd in the foreground; killed (and its folder removed) on drop.
struct Rsyslogd {
    child: Child,
    dir: PathBuf,
}

impl Rsyslogd {
    /// Starts `rsyslogd -n` in `dir` with `body` (inputs and actions) after a `global()` with
    /// its own work directory and `hostname` as the local host name (the HOSTNAME of what
    /// `imfile` reads). rsyslogd's own messages go through its rules too (not to the system's
    /// log socket), and everything it processes is also written to `dir/received.log`.
    fn start(bin: &Path, dir: PathBuf, hostname: &str, body: &str) -> Rsyslogd {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let conf = format!(
            "global(workDirectory=\"{work}\" localHostname=\"{hostname}\" processInternalMessages=\"on\")\n\
             {body}\n\
             action(type=\"omfile\" file=\"{dir}/received.log\")\n",
            work = work.display(),
            dir = dir.display(),
        );
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).expect("rsyslog.conf");
        let out = std::fs::File::create(dir.join("rsyslogd.out")).expect("output file");
        let err = out.try_clone().expect("output file");
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("rsyslogd starts");
        Rsyslogd { child, dir }
    }

    /// What rsyslogd printed and what it processed, for failure messages.
    fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "--- rsyslogd output:\n{}--- processed:\n{}--- config:\n{}",
            read("rsyslogd.out"),
            read("received.log"),
            read("rsyslog.conf")
        )
    }

    /// Waits until rsyslogd processed a message (its own included) containing `text`.
    async fn wait_processed(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(self.dir.join("received.log"))
            .unwrap_or_default()
            .contains(text)
        {
            assert!(Instant::now() < deadline, "rsyslogd never logged `{text}`");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until rsyslogd's `imtcp` wrote the port it bound (`listenPortFileName`).
    async fn wait_port(&mut self, file: &Path) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(port) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rsyslogd exited ({status})");
            }
            assert!(Instant::now() < deadline, "rsyslogd bound no port");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.output());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `imfile` on `dir/in.log`, which gets `lines` first (read from the start when rsyslogd
/// starts). `extra` are more `input()` parameters.
fn file_input(dir: &Path, lines: &[&str], extra: &str) -> String {
    let file = dir.join("in.log");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&file, text).expect("input file");
    format!(
        "module(load=\"imfile\" mode=\"inotify\")\n\
         input(type=\"imfile\" file=\"{}\" tag=\"e2e-app:\" {extra})",
        file.display()
    )
}

fn marker_alerts(alerts: &[Value]) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| a["rule_id"].as_str().is_some_and(|r| r.ends_with("0002")))
        .collect()
}

/// How many marker events the alerts of `host` (all hosts: `None`) count.
fn marker_count(alerts: &[Value], host: Option<&str>) -> i64 {
    marker_alerts(alerts)
        .iter()
        .filter(|a| host.is_none_or(|h| a["group_key"] == h))
        .map(|a| a["count"].as_i64().unwrap_or(0))
        .sum()
}

/// The events kept with the marker alert of `host`.
async fn alert_events(s: &TestServer, alerts: &[Value], host: &str) -> Vec<Value> {
    let alert = marker_alerts(alerts)
        .into_iter()
        .find(|a| a["group_key"] == host)
        .expect("alert of the host");
    let id = alert["id"].as_i64().expect("id");
    let (status, body) = curl(&[
        "-H",
        &format!("Authorization: Bearer {}", s.admin),
        &format!("{}/api/v1/alerts/{id}", s.base),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    let detail: Value = serde_json::from_str(&body).expect("json");
    detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_udp_in_its_traditional_format() {
    let Some(bin) = rsyslogd() else { return };
    let mut s = TestServer::start("rsyslog-udp").await;
    let addr = s.syslog_addr(Protocol::Udp);
    let dir = temp_dir("rsyslogd-udp");
    let input = file_input(
        &dir,
        &[
            "leitstelle-syslog-marker one over udp",
            "harmless",
            "leitstelle-syslog-marker two over udp",
        ],
        "",
    );
    // omfwd's default template over UDP: RSYSLOG_TraditionalForwardFormat (RFC 3164-ish)
    let r = Rsyslogd::start(
        &bin,
        dir,
        "rsyslog-udp",
        &format!(
            "{input}\naction(type=\"omfwd\" target=\"{}\" port=\"{}\" protocol=\"udp\")",
            addr.ip(),
            addr.port()
        ),
    );
    let alerts = s
        .wait_alerts(&s.admin, |a| marker_count(a, Some("rsyslog-udp")) == 2)
        .await;
    let events = alert_events(&s, &alerts, "rsyslog-udp").await;
    let ev = &events[0];
    assert_eq!(ev["data"]["format"], "rfc3164", "{ev}");
    assert_eq!(ev["data"]["hostname"], "rsyslog-udp", "{ev}");
    assert_eq!(ev["data"]["app_name"], "e2e-app", "{ev}");
    assert_eq!(ev["logsource"]["product"], "linux", "{ev}");
    drop(r);
    s.stop().await;
}

/// A server, and an rsyslogd forwarding to its TCP listener in RFC 5424 with `framing`
/// (`TCP_Framing`) two marker messages, the first of two lines, and a harmless one. The
/// hostname is `host`.
async fn multiline_over_tcp(framing: &str, host: &str) -> Option<(TestServer, Rsyslogd)> {
    let bin = rsyslogd()?;
    let s = TestServer::start(host).await;
    let addr = s.syslog_addr(Protocol::Tcp);
    let dir = temp_dir(&format!("rsyslogd-{host}"));
    // readMode 2: a line indented is part of the message before it, kept with its line feed
    // (escapeLF off), which also ends the message; a message is sent when the next one
    // starts (the last line is never sent)
    let input = file_input(
        &dir,
        &[
            "leitstelle-syslog-marker first line",
            "  continued on a second line",
            "harmless",
            "leitstelle-syslog-marker again",
            "not sent",
        ],
        "readMode=\"2\" escapeLF=\"off\"",
    );
    let r = Rsyslogd::start(
        &bin,
        dir,
        host,
        &format!(
            "{input}\naction(type=\"omfwd\" target=\"{}\" port=\"{}\" protocol=\"tcp\" \
             TCP_Framing=\"{framing}\" template=\"RSYSLOG_SyslogProtocol23Format\")",
            addr.ip(),
            addr.port()
        ),
    );
    Some((s, r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tcp_octet_counted_rfc5424_with_a_multiline_message() {
    let Some((mut s, r)) = multiline_over_tcp("octet-counted", "rsyslog-tcp-oc").await else {
        return;
    };
    let alerts = s
        .wait_alerts(&s.admin, |a| marker_count(a, Some("rsyslog-tcp-oc")) == 2)
        .await;
    let events = alert_events(&s, &alerts, "rsyslog-tcp-oc").await;
    let multi = events
        .iter()
        .find(|e| {
            e["data"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("first line"))
        })
        .unwrap_or_else(|| panic!("the first message is missing: {events:?}"));
    // only octet counting frames it whole
    assert!(
        multi["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("first line\n  continued on a second line")),
        "{multi}"
    );
    assert_eq!(multi["data"]["format"], "rfc5424", "{multi}");
    assert_eq!(multi["data"]["app_name"], "e2e-app", "{multi}");
    assert_eq!(multi["data"]["facility"], "local0", "{multi}");
    // nothing was split off: the continuation line was no event of its own
    let dead = s
        .running()
        .app
        .control
        .dead_letters("default", 10)
        .expect("dead letters");
    assert!(dead.is_empty(), "{dead:?}");
    drop(r);
    s.stop().await;
}

/// With newline framing the same messages arrive split (the continuation line is a dead
/// letter), and rsyslog sends each as `MSG LF LF` (the message ends with its own line feed).
/// The server holds a burst that ends in such a stray delimiter until the next message or
/// the end of the connection (`syslog::connection` keeps reading while the buffer is not
/// empty, `read_frame` skips the delimiter and then waits for more), so the alerts do not
/// come while rsyslogd keeps its connection open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tcp_with_newline_framing_a_message_ending_in_lf() {
    let Some((mut s, r)) = multiline_over_tcp("traditional", "rsyslog-tcp-lf").await else {
        return;
    };
    s.wait_alerts(&s.admin, |a| marker_count(a, Some("rsyslog-tcp-lf")) == 2)
        .await;
    drop(r);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_through_rsyslog_relay_over_tcp_with_newline_framing() {
    let Some(bin) = rsyslogd() else { return };
    if !have("logger") {
        return;
    }
    let mut s = TestServer::start("rsyslog-tcp-lf").await;
    let addr = s.syslog_addr(Protocol::Tcp);
    let dir = temp_dir("rsyslogd-tcp-lf");
    let port_file = dir.join("imtcp.port");
    // a relay: imtcp on a free port (0; rsyslogd writes the one it bound), forwarding with
    // omfwd's defaults over TCP: newline framing, RSYSLOG_TraditionalForwardFormat
    let mut r = Rsyslogd::start(
        &bin,
        dir,
        "rsyslog-relay",
        &format!(
            "module(load=\"imtcp\")\n\
             input(type=\"imtcp\" port=\"0\" listenPortFileName=\"{}\")\n\
             action(type=\"omfwd\" target=\"{}\" port=\"{}\" protocol=\"tcp\")",
            port_file.display(),
            addr.ip(),
            addr.port()
        ),
    );
    let port = r.wait_port(&port_file).await;
    // logger sends one message per line of its input
    let mut cmd = Command::new("logger");
    cmd.args([
        "--tcp",
        "--server",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--rfc3164",
        "--tag",
        "e2e-relay",
    ])
    .stdin(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("logger");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(
                b"leitstelle-syslog-marker relayed one\nharmless\n\
                  leitstelle-syslog-marker relayed two\nleitstelle-syslog-marker relayed three\n",
            )
            .expect("write");
        child.wait_with_output().expect("logger runs")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the relay keeps logger's HOSTNAME (this machine's name)
    let alerts = s
        .wait_alerts(&s.admin, |a| marker_count(a, None) == 3)
        .await;
    let host = marker_alerts(&alerts)[0]["group_key"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!host.is_empty() && host != "rsyslog-relay", "{alerts:?}");
    let events = alert_events(&s, &alerts, &host).await;
    assert!(
        events
            .iter()
            .all(|e| e["data"]["app_name"] == "e2e-relay" && e["data"]["format"] == "rfc3164"),
        "{events:?}"
    );
    drop(r);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tls_with_a_client_certificate() {
    let Some(bin) = rsyslogd() else { return };
    if !have("openssl") || !have_ossl_driver() {
        return;
    }
    let (mut s, dir, addr) = tls_server("rsyslog-tls").await;
    // RFC 5425: RFC 5424 messages, octet counted; the server is checked against the CA and
    // its name (CN 127.0.0.1); per-action TLS files
    let forward = |with_cert: bool| {
        let client = if with_cert {
            format!(
                "streamDriver.CertFile=\"{d}/client.pem\" streamDriver.KeyFile=\"{d}/client.key\"",
                d = dir.display()
            )
        } else {
            String::new()
        };
        format!(
            "action(type=\"omfwd\" target=\"{ip}\" port=\"{port}\" protocol=\"tcp\" \
             TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\" \
             StreamDriver=\"ossl\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" \
             StreamDriverPermittedPeers=\"127.0.0.1\" streamDriver.CAFile=\"{d}/ca.pem\" {client})",
            ip = addr.ip(),
            port = addr.port(),
            d = dir.display()
        )
    };
    let lines = [
        "leitstelle-syslog-marker one over tls",
        "harmless",
        "leitstelle-syslog-marker two over tls",
    ];
    // one rsyslogd without a client certificate: the server refuses it
    let nocert_dir = temp_dir("rsyslogd-tls-nocert");
    let input = file_input(&nocert_dir, &lines, "");
    let nocert = Rsyslogd::start(
        &bin,
        nocert_dir,
        "rsyslog-nocert",
        &format!("{input}\n{}", forward(false)),
    );
    let cert_dir = temp_dir("rsyslogd-tls");
    let input = file_input(&cert_dir, &lines, "");
    let r = Rsyslogd::start(
        &bin,
        cert_dir,
        "rsyslog-tls",
        &format!("{input}\n{}", forward(true)),
    );
    let alerts = s
        .wait_alerts(&s.admin, |a| marker_count(a, Some("rsyslog-tls")) == 2)
        .await;
    let events = alert_events(&s, &alerts, "rsyslog-tls").await;
    assert_eq!(events[0]["data"]["format"], "rfc5424", "{}", events[0]);
    assert_eq!(
        events[0]["data"]["hostname"], "rsyslog-tls",
        "{}",
        events[0]
    );
    // the other one connected too (for TLS 1.3 the client's side of the handshake is done
    // before the server checks the client's certificate) and got nothing in
    nocert
        .wait_processed("TLS Connection initiated with remote syslog server")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alerts = s.wait_alerts(&s.admin, |_| true).await;
    let hosts: Vec<_> = marker_alerts(&alerts)
        .iter()
        .map(|a| a["group_key"].clone())
        .collect();
    assert_eq!(hosts, vec![Value::from("rsyslog-tls")]);
    drop(r);
    drop(nocert);
    s.stop().await;
}
