//! Syslog text files.

mod common;

use common::{gzip, read_path, scratch, write};
use leitstelle_event::Raw;
use leitstelle_readers::ReadOptions;

fn opts() -> ReadOptions {
    ReadOptions {
        year_hint: Some(2023),
        ..ReadOptions::default()
    }
}

const LOG: &str = "<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 [ex@32473 iut=\"3\"] An application event\n\
Jan  5 10:00:00 myhost sshd[123]: Accepted publickey for root\n\
\n\
<86>Jan  5 10:00:01 myhost sudo: pam_unix(sudo:session): session opened\r\n\
this is not syslog\n\
2024-01-05T10:00:00.123+01:00 host app[1]: rsyslog file format\n";

// Services come from the built-in `syslog` profile: the facility mapped (`authpriv` to
// `auth`), else the program (`sshd`, `sudo` are `auth`), else `syslog`.
#[test]
fn lines_become_events_and_unparsable_lines_errors() {
    let dir = scratch("syslog-lines");
    let path = write(&dir, "messages", LOG.as_bytes());
    let got = read_path(&path, &opts());
    assert_eq!(
        got.lines,
        [
            "#1 syslog linux/syslog/* 2003-10-11T22:14:15.003Z text",
            "#2 syslog linux/auth/* 2023-01-05T10:00:00Z text",
            "#4 syslog linux/auth/* 2023-01-05T10:00:01Z text",
            "! messages:line 5: unparsable syslog line: no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp",
            "#6 syslog linux/syslog/* 2024-01-05T09:00:00.123Z text",
        ]
    );
    let s = got.stats;
    assert_eq!((s.records, s.events, s.errors), (5, 4, 1));
    let e = &got.events[2];
    assert_eq!(e.data["app_name"], "sudo");
    assert_eq!(e.data["facility"], "authpriv");
    assert_eq!(e.data["message"], "pam_unix(sudo:session): session opened");
    match &e.raw {
        Raw::Text(t) => assert_eq!(
            t.as_ref(),
            "<86>Jan  5 10:00:01 myhost sudo: pam_unix(sudo:session): session opened"
        ),
        other => panic!("raw is {other:?}"),
    }
}

#[test]
fn year_comes_from_the_file_time_without_a_hint() {
    let dir = scratch("syslog-year");
    let path = write(&dir, "auth.log", b"Mar  1 00:00:00 h sshd[1]: x\n");
    let year = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%Y")
                .to_string()
        })
        .expect("mtime");
    let got = read_path(&path, &ReadOptions::default());
    assert_eq!(
        got.lines,
        [format!(
            "#1 syslog linux/auth/* {year}-03-01T00:00:00Z text"
        )]
    );
}

#[test]
fn gzip_latin1_and_long_lines() {
    let dir = scratch("syslog-gzip");
    let mut log = b"Jan  5 10:00:00 h app: caf\xe9\n".to_vec();
    log.extend(format!("Jan  5 10:00:01 h app: {}\n", "x".repeat(200)).as_bytes());
    log.extend(b"Jan  5 10:00:02 h app: end");
    let path = write(&dir, "syslog.1.gz", &gzip(&log));
    let opts = ReadOptions {
        max_record_bytes: 100,
        ..opts()
    };
    let got = read_path(&path, &opts);
    assert_eq!(
        got.lines,
        [
            "#1 syslog linux/syslog/* 2023-01-05T10:00:00Z text",
            "! syslog.1.gz:line 2: line larger than the limit of 100 bytes (max_record_bytes)",
            "#3 syslog linux/syslog/* 2023-01-05T10:00:02Z text",
        ]
    );
    assert_eq!(got.events[0].data["message"], "caf\u{fffd}");
}

#[test]
fn a_text_file_that_is_not_a_log_is_one_error_not_one_per_line() {
    let dir = scratch("syslog-not-a-log");
    let licence: String = (1..=40)
        .map(|i| format!("Clause {i} of a licence text.\n"))
        .collect();
    let path = write(&dir, "LICENSE", licence.as_bytes());
    let got = read_path(&path, &opts());
    assert!(got.events.is_empty());
    assert_eq!(got.errors.len(), 1, "{:?}", got.lines);
    let e = got.errors[0].to_string();
    assert!(
        e.ends_with("LICENSE: not a log file: none of the first 16 lines is a syslog message (unparsable syslog line: no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp)"),
        "{e}"
    );
    // A few bad lines before good ones are still reported one by one, in order.
    let mixed = "garbage one\ngarbage two\nJan  5 10:00:00 myhost sshd[1]: ok\nmore garbage\n";
    let path = write(&dir, "mixed.log", mixed.as_bytes());
    let got = read_path(&path, &opts());
    assert_eq!(got.events.len(), 1);
    let lines: Vec<&str> = got
        .errors
        .iter()
        .map(|e| e.to_string())
        .map(|s| {
            if s.contains(":line 1:") {
                "1"
            } else if s.contains(":line 2:") {
                "2"
            } else if s.contains(":line 4:") {
                "4"
            } else {
                "?"
            }
        })
        .collect();
    assert_eq!(lines, ["1", "2", "4"]);
    // Fewer bad lines than the threshold and nothing else: each is reported at the end.
    let path = write(&dir, "short.txt", b"just\nthree\nlines\n");
    assert_eq!(read_path(&path, &opts()).errors.len(), 3);
}

// Text files are read by `leitstelle-parsers` in `auto` mode: an auditd log, bare CEF
// records and CEF inside syslog become events of their own source kinds; a malformed record
// is an error naming what is wrong.
#[test]
fn audit_logs_and_cef_records() {
    let dir = scratch("syslog-audit-cef");
    let audit = "type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2 comm=\"cat\" exe=\"/bin/cat\" key=\"sshd_config\"\n\
type=PROCTITLE msg=audit(1364481363.243:24287): proctitle=636174002F6574632F7373682F737368645F636F6E666967\n";
    let path = write(&dir, "audit.log", audit.as_bytes());
    let got = read_path(&path, &opts());
    assert_eq!(
        got.lines,
        [
            "#1 linux-auditd linux/auditd/* 2013-03-28T14:36:03.243Z text",
            "#2 linux-auditd linux/auditd/* 2013-03-28T14:36:03.243Z text",
        ]
    );
    assert_eq!(got.events[1].data["proctitle"], "cat /etc/ssh/sshd_config");
    let cef = "CEF:0|Check Point|VPN-1 & FireWall-1|R81|Log|Drop|5|src=10.0.0.5 rt=1705576073000\n\
<134>Jan 18 11:07:53 fw01 CEF:0|Check Point|VPN-1 & FireWall-1|R81|Log|Accept|5|src=10.0.0.6\n\
CEF:0|Check Point|truncated\n";
    let path = write(&dir, "cef.log", cef.as_bytes());
    let got = read_path(&path, &opts());
    assert_eq!(
        got.lines,
        [
            "#1 cef checkpoint/firewall/* 2024-01-18T11:07:53Z text",
            "#2 cef checkpoint/firewall/* 2023-01-18T11:07:53Z text",
            "! cef.log:line 3: invalid CEF header: truncated: 3 of the 7 `|`-separated header fields (Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|)",
        ]
    );
    assert_eq!(got.events[1].data["syslog"]["hostname"], "fw01");
}
