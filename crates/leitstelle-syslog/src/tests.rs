//! Table-driven tests: each `check` renders the parse result as JSON (`to_value` plus
//! `version`, or `{"error": ...}`) and compares it with the expectation written inline.

use serde_json::{Value, json};

use crate::{Facility, Format, SdElement, Severity, SyslogError, SyslogMessage, parse};

fn render(result: &Result<SyslogMessage, SyslogError>) -> Value {
    match result {
        Ok(message) => {
            let mut value = message.to_value();
            if let (Some(version), Value::Object(map)) = (message.version, &mut value) {
                map.insert("version".into(), version.into());
            }
            value
        }
        Err(error) => json!({ "error": error.to_string() }),
    }
}

#[track_caller]
fn check(input: &str, expected: Value) {
    let actual = render(&parse(input));
    assert!(
        actual == expected,
        "input: {input:?}\n  actual: {actual}\nexpected: {expected}"
    );
}

#[track_caller]
fn check_nanos(input: &str, year_hint: i32, expected: Option<i64>) {
    let message = parse(input).expect("test input parses");
    assert_eq!(
        message.timestamp_nanos(year_hint),
        expected,
        "input: {input:?}, timestamp: {:?}",
        message.timestamp
    );
}

#[test]
fn rfc5424_examples_from_the_rfc() {
    check(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
        json!({
            "facility": "auth", "severity": "crit", "version": 1,
            "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
            "app_name": "su", "msg_id": "ID47",
            "message": "'su root' failed for lonvick on /dev/pts/8", "format": "rfc5424",
        }),
    );
    check(
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        json!({
            "facility": "local4", "severity": "notice", "version": 1,
            "timestamp": "2003-08-24T05:14:15.000003-07:00", "hostname": "192.0.2.1",
            "app_name": "myproc", "proc_id": "8710",
            "message": "%% It's time to make the do-nuts.", "format": "rfc5424",
        }),
    );
    check(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#,
        json!({
            "facility": "local4", "severity": "notice", "version": 1,
            "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
            "app_name": "evntslog", "msg_id": "ID47",
            "structured_data": {
                "exampleSDID@32473": { "iut": "3", "eventSource": "Application", "eventID": "1011" },
            },
            "message": "An application event log entry...", "format": "rfc5424",
        }),
    );
    check(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
        json!({
            "facility": "local4", "severity": "notice", "version": 1,
            "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
            "app_name": "evntslog", "msg_id": "ID47",
            "structured_data": {
                "exampleSDID@32473": { "iut": "3", "eventSource": "Application", "eventID": "1011" },
                "examplePriority@32473": { "class": "high" },
            },
            "message": "", "format": "rfc5424",
        }),
    );
}

#[test]
fn rfc5424_nilvalues_and_sloppy_headers() {
    let all_nil = json!({
        "facility": "user", "severity": "notice", "version": 1, "message": "", "format": "rfc5424",
    });
    check("<13>1 - - - - - -", all_nil.clone());
    check("<13>1 - - - - - - ", all_nil.clone());
    check("<13>1 - - - - -", all_nil);
    check(
        "<13>1 - - - - - - -",
        json!({ "facility": "user", "severity": "notice", "version": 1, "message": "-", "format": "rfc5424" }),
    );
    // Runs of spaces between header fields, trailing CRLF.
    check(
        "<13>1  2024-01-05T10:00:00Z   host  app  12  ID7  -  two  spaces\r\n",
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "timestamp": "2024-01-05T10:00:00Z", "hostname": "host", "app_name": "app",
            "proc_id": "12", "msg_id": "ID7", "message": " two  spaces", "format": "rfc5424",
        }),
    );
    // Sender left out the SD field: the rest is the message.
    check(
        "<13>1 2024-01-05T10:00:00Z host app 12 ID7 hello world",
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "timestamp": "2024-01-05T10:00:00Z", "hostname": "host", "app_name": "app",
            "proc_id": "12", "msg_id": "ID7", "message": "hello world", "format": "rfc5424",
        }),
    );
    // NILVALUE glued to the message.
    check(
        "<13>1 - - - - - -msg",
        json!({ "facility": "user", "severity": "notice", "version": 1, "message": "-msg", "format": "rfc5424" }),
    );
    // Truncated header.
    check(
        "<13>1 2024-01-05T10:00:00Z host",
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "timestamp": "2024-01-05T10:00:00Z", "hostname": "host", "message": "", "format": "rfc5424",
        }),
    );
    // Timestamps are kept as written even when they are not timestamps.
    check(
        "<13>1 yesterday host app - - - msg",
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "timestamp": "yesterday", "hostname": "host", "app_name": "app",
            "message": "msg", "format": "rfc5424",
        }),
    );
    check(
        "<0>2 - - - - - - v2",
        json!({ "facility": "kern", "severity": "emerg", "version": 2, "message": "v2", "format": "rfc5424" }),
    );
    // No PRI, as stored by some collectors: recognised by the timestamp after the version.
    check(
        "1 2024-01-05T10:00:00Z host app - - - msg",
        json!({
            "version": 1, "timestamp": "2024-01-05T10:00:00Z", "hostname": "host",
            "app_name": "app", "message": "msg", "format": "rfc5424",
        }),
    );
    // Version 0 is not RFC 5424: RFC 3164 content without a timestamp.
    check(
        "<13>0 - - - x",
        json!({ "facility": "user", "severity": "notice", "message": "0 - - - x", "format": "rfc3164" }),
    );
}

#[test]
fn rfc5424_structured_data() {
    let sd = |line: &str, structured_data: Value, message: &str| {
        check(
            &format!("<13>1 - - - - - {line}"),
            json!({
                "facility": "user", "severity": "notice", "version": 1,
                "structured_data": structured_data, "message": message, "format": "rfc5424",
            }),
        );
    };
    sd(
        r#"[x@1 a="q\"uote" b="back\\slash" c="br\]acket" d="other\n" e="trail\\" f=""] msg"#,
        json!({ "x@1": { "a": "q\"uote", "b": "back\\slash", "c": "br]acket", "d": "other\\n", "e": "trail\\", "f": "" } }),
        "msg",
    );
    sd(
        r#"[a x="]" y="[" z="a=b c"]"#,
        json!({ "a": { "x": "]", "y": "[", "z": "a=b c" } }),
        "",
    );
    // Repeated parameters become arrays; a repeated SD-ID is merged.
    sd(
        r#"[a x="1" x="2" x="3"][a y="z" x="4"][b] m"#,
        json!({ "a": { "x": ["1", "2", "3", "4"], "y": "z" }, "b": {} }),
        "m",
    );
    // Extra spaces inside an element.
    sd(
        r#"[id  a="1"   b="2" ] m"#,
        json!({ "id": { "a": "1", "b": "2" } }),
        "m",
    );
    // Message glued to the SD and a BOM before the message.
    sd(r#"[a]msg"#, json!({ "a": {} }), "msg");
    sd("[a] \u{feff}bom", json!({ "a": {} }), "bom");
    sd("[a] \u{feff}\u{feff}two", json!({ "a": {} }), "\u{feff}two");
    sd(
        "[ünï@1 ключ=\"значение ✓\"] сообщение 🎉",
        json!({ "ünï@1": { "ключ": "значение ✓" } }),
        "сообщение 🎉",
    );
}

#[test]
fn rfc5424_malformed_structured_data_is_kept_as_message() {
    let kept = |rest: &str| {
        check(
            &format!("<13>1 - host - - - {rest}"),
            json!({
                "facility": "user", "severity": "notice", "version": 1, "hostname": "host",
                "message": rest, "format": "rfc5424",
            }),
        );
    };
    kept(r#"[id a="b"#);
    // A lone backslash before the closing quote escapes it: unterminated.
    kept(r#"[id a="b\"]"#);
    kept("[id");
    kept("[");
    kept("[]");
    kept("[ id]");
    kept(r#"[id a=b] msg"#);
    kept(r#"[id a] msg"#);
    kept(r#"[id ="b"] msg"#);
    kept(r#"[id a="1"][broken"#);
    kept("[ключ=\"é");
}

#[test]
fn rfc5424_elements_separated_by_space_end_the_sd() {
    check(
        r#"<13>1 - - - - - [a x="1"] [b y="2"] msg"#,
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "structured_data": { "a": { "x": "1" } }, "message": r#"[b y="2"] msg"#, "format": "rfc5424",
        }),
    );
}

#[test]
fn rfc3164_lines() {
    check(
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        json!({
            "facility": "auth", "severity": "crit", "timestamp": "Oct 11 22:14:15",
            "hostname": "mymachine", "app_name": "su",
            "message": "'su root' failed for lonvick on /dev/pts/8", "format": "rfc3164",
        }),
    );
    // Log files: no PRI.
    check(
        "Jan  5 10:00:00 myhost sshd[123]: Accepted publickey for root from 10.0.0.1 port 22 ssh2",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "myhost", "app_name": "sshd", "proc_id": "123",
            "message": "Accepted publickey for root from 10.0.0.1 port 22 ssh2", "format": "rfc3164",
        }),
    );
    check(
        "Jan 15 10:00:00 mail postfix/smtpd[999]: connect from unknown[192.0.2.1]\n",
        json!({
            "timestamp": "Jan 15 10:00:00", "hostname": "mail", "app_name": "postfix/smtpd",
            "proc_id": "999", "message": "connect from unknown[192.0.2.1]", "format": "rfc3164",
        }),
    );
    check(
        "Jan  5 10:00:00 host kernel: [    0.000000] Linux version 6.1.0",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "host", "app_name": "kernel",
            "message": "[    0.000000] Linux version 6.1.0", "format": "rfc3164",
        }),
    );
    // rsyslog file format with an RFC 3339 timestamp, with and without PRI.
    check(
        "2024-01-05T10:00:00.123+01:00 host app[1]: msg",
        json!({
            "timestamp": "2024-01-05T10:00:00.123+01:00", "hostname": "host", "app_name": "app",
            "proc_id": "1", "message": "msg", "format": "rfc3164",
        }),
    );
    check(
        "<30>2024-01-05T10:00:00Z host systemd[1]: Started foo.service.",
        json!({
            "facility": "daemon", "severity": "info", "timestamp": "2024-01-05T10:00:00Z",
            "hostname": "host", "app_name": "systemd", "proc_id": "1",
            "message": "Started foo.service.", "format": "rfc3164",
        }),
    );
    check(
        "2024-01-05 10:00:00 host app: space instead of T",
        json!({
            "timestamp": "2024-01-05 10:00:00", "hostname": "host", "app_name": "app",
            "message": "space instead of T", "format": "rfc3164",
        }),
    );
}

#[test]
fn rfc3164_sloppy_senders() {
    // No hostname (programs writing to /dev/log).
    check(
        "<13>Jan  5 10:00:00 sshd[123]: msg",
        json!({
            "facility": "user", "severity": "notice", "timestamp": "Jan  5 10:00:00",
            "app_name": "sshd", "proc_id": "123", "message": "msg", "format": "rfc3164",
        }),
    );
    check(
        "<13>Jan  5 10:00:00 logger: msg",
        json!({
            "facility": "user", "severity": "notice", "timestamp": "Jan  5 10:00:00",
            "app_name": "logger", "message": "msg", "format": "rfc3164",
        }),
    );
    // No tag.
    check(
        "Jan  5 10:00:00 myhost -- MARK --",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "myhost", "message": "-- MARK --",
            "format": "rfc3164",
        }),
    );
    check(
        "Jan  5 10:00:00 myhost http://example.com/ is down",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "myhost",
            "message": "http://example.com/ is down", "format": "rfc3164",
        }),
    );
    // Tag without colon, empty pid, double space kept in the message.
    check(
        "<13>Jan  5 10:00:00 host app[42] message",
        json!({
            "facility": "user", "severity": "notice", "timestamp": "Jan  5 10:00:00",
            "hostname": "host", "app_name": "app", "proc_id": "42", "message": "message",
            "format": "rfc3164",
        }),
    );
    check(
        "Jan  5 10:00:00 host app[]:  two",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "host", "app_name": "app",
            "message": " two", "format": "rfc3164",
        }),
    );
    // Year before the time, fraction, lower-case month, one-digit hour, space after PRI.
    check(
        "<13> jan 05 2024 9:00:00.123 host app: x",
        json!({
            "facility": "user", "severity": "notice", "timestamp": "jan 05 2024 9:00:00.123",
            "hostname": "host", "app_name": "app", "message": "x", "format": "rfc3164",
        }),
    );
    // IPv6 hostnames are not tags.
    check(
        "Jan  5 10:00:00 fe80::1 app: x",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "fe80::1", "app_name": "app",
            "message": "x", "format": "rfc3164",
        }),
    );
    // Header only.
    check(
        "Jan  5 10:00:00 myhost",
        json!({ "timestamp": "Jan  5 10:00:00", "hostname": "myhost", "message": "", "format": "rfc3164" }),
    );
    // FIXME: without a tag and without a hostname the first word is taken as the hostname;
    // the line is ambiguous and this matches what rsyslog does.
    check(
        "<13>Jan  5 10:00:00 hello world",
        json!({
            "facility": "user", "severity": "notice", "timestamp": "Jan  5 10:00:00",
            "hostname": "hello", "message": "world", "format": "rfc3164",
        }),
    );
    // Impossible dates still parse (the timestamp converts to None).
    check(
        "Feb 30 10:00:00 host app: x",
        json!({
            "timestamp": "Feb 30 10:00:00", "hostname": "host", "app_name": "app",
            "message": "x", "format": "rfc3164",
        }),
    );
}

#[test]
fn rfc3164_pri_without_timestamp() {
    check(
        "<13>hello world",
        json!({ "facility": "user", "severity": "notice", "message": "hello world", "format": "rfc3164" }),
    );
    check(
        "<30>dnsmasq[12]: query[A] example.com",
        json!({
            "facility": "daemon", "severity": "info", "app_name": "dnsmasq", "proc_id": "12",
            "message": "query[A] example.com", "format": "rfc3164",
        }),
    );
    check(
        "<191>",
        json!({ "facility": "local7", "severity": "debug", "message": "", "format": "rfc3164" }),
    );
    check(
        "<013>1",
        json!({ "facility": "user", "severity": "notice", "message": "1", "format": "rfc3164" }),
    );
    check(
        "<13>Jan  5 10:00",
        json!({ "facility": "user", "severity": "notice", "message": "Jan  5 10:00", "format": "rfc3164" }),
    );
}

#[test]
fn multibyte_utf8_everywhere() {
    check(
        "<13>1 2024-01-05T10:00:00Z hôst 应用 прц ИД [ünï@1 ключ=\"значение\"] \u{feff}сообщение 🎉",
        json!({
            "facility": "user", "severity": "notice", "version": 1,
            "timestamp": "2024-01-05T10:00:00Z", "hostname": "hôst", "app_name": "应用",
            "proc_id": "прц", "msg_id": "ИД", "structured_data": { "ünï@1": { "ключ": "значение" } },
            "message": "сообщение 🎉", "format": "rfc5424",
        }),
    );
    check(
        "Jan  5 10:00:00 hôst dæmon[ß]: grüße 🎉",
        json!({
            "timestamp": "Jan  5 10:00:00", "hostname": "hôst", "app_name": "dæmon", "proc_id": "ß",
            "message": "grüße 🎉", "format": "rfc3164",
        }),
    );
    check(
        "Jan  5 10:00:00 ñ: x",
        json!({ "timestamp": "Jan  5 10:00:00", "app_name": "ñ", "message": "x", "format": "rfc3164" }),
    );
    check(
        "\u{feff}Jan  5 10:00:00 h é",
        json!({ "timestamp": "Jan  5 10:00:00", "hostname": "h", "message": "é", "format": "rfc3164" }),
    );
    check(
        "<1é>x",
        json!({ "error": "no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp" }),
    );
    check(
        "Jäн  5 10:00:00 h x",
        json!({ "error": "no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp" }),
    );
    check(
        "日本語のテキスト",
        json!({ "error": "no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp" }),
    );
    check(
        "é",
        json!({ "error": "no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp" }),
    );
}

#[test]
fn errors() {
    let no_header = json!({ "error": "no syslog header found: expected <PRI>, an RFC 5424 version or a timestamp" });
    let empty = json!({ "error": "empty line" });
    for input in [
        "",
        " ",
        "\t \t",
        "\n",
        "\r\n",
        "\0",
        "\u{feff}",
        " \u{3000} ",
    ] {
        check(input, empty.clone());
    }
    for input in [
        "garbage without anything syslog-like",
        "<13",
        "<abc>Jan  5 10:00:00 host app: x",
        "<-1>x",
        "< 13>x",
        "42 apples",
        "1 - - - - - - no timestamp after the version",
        "Jan",
        "Jan  5",
        "Jan  5 10:00",
        "Jan  5 10:00:00x host",
        "Foo  5 10:00:00 host app: x",
        "2024-01-05",
        "2024-01-05T10:00",
        ">13<",
    ] {
        check(input, no_header.clone());
    }
    check(
        "<192>Jan  5 10:00:00 host app: x",
        json!({ "error": "invalid priority <192>: expected a number from 0 to 191" }),
    );
    check(
        "<999>x",
        json!({ "error": "invalid priority <999>: expected a number from 0 to 191" }),
    );
    check(
        "<1000>x",
        json!({ "error": "invalid priority <1000>: expected a number from 0 to 191" }),
    );
    check(
        "<0013>x",
        json!({ "error": "invalid priority <0013>: expected a number from 0 to 191" }),
    );
    check(
        "<>x",
        json!({ "error": "invalid priority <>: expected a number from 0 to 191" }),
    );
    check(
        &format!("<{}>x", "9".repeat(100)),
        json!({ "error": "invalid priority <999999999999...>: expected a number from 0 to 191" }),
    );
    // Callers branch on the variant.
    assert_eq!(parse(""), Err(SyslogError::Empty));
    assert_eq!(parse("nonsense"), Err(SyslogError::NoHeader));
    assert_eq!(
        parse("<200>x"),
        Err(SyslogError::InvalidPriority("200".into()))
    );
}

#[test]
fn very_long_and_hostile_lines() {
    let long = "é".repeat(500_000);
    let line = format!("<13>1 - - - - - - {long}");
    assert_eq!(parse(&line).map(|m| m.message.len()), Ok(long.len()));
    let line = format!("Jan  5 10:00:00 host app: {long}");
    assert_eq!(parse(&line).map(|m| m.message.len()), Ok(long.len()));
    let line = format!("Jan  5 10:00:00 {long}");
    assert_eq!(
        parse(&line).map(|m| m.hostname.map(|h| h.len())),
        Ok(Some(long.len()))
    );

    // Many elements, an endless element, an endless value, endless brackets.
    let many = r#"[a b="c"]"#.repeat(100_000);
    let parsed =
        parse(&format!("<13>1 - - - - - {many} m")).map(|m| (m.structured_data.len(), m.message));
    assert_eq!(parsed, Ok((100_000, "m".to_string())));
    for rest in [
        format!("[a {}", r#"b="c" "#.repeat(100_000)),
        format!(r#"[a b="{}"#, "\\\"".repeat(100_000)),
        "[".repeat(200_000),
        "]".repeat(200_000),
        "=\"".repeat(200_000),
    ] {
        let message = parse(&format!("<13>1 - - - - - {rest}")).map(|m| m.message);
        assert_eq!(message.as_deref(), Ok(rest.as_str()));
    }

    // Long runs where the parser looks for structure.
    let hostile = [
        format!("<{}", "1".repeat(100_000)),
        format!("<13>{}", " ".repeat(100_000)),
        format!("<13>1{}", " -".repeat(100_000)),
        format!("Jan {}", "5".repeat(100_000)),
        format!("Jan  5 10:00:00.{} host x", "1".repeat(100_000)),
        format!("2024-01-05T10:00:00.{}Z host x", "9".repeat(100_000)),
        format!("Jan  5 10:00:00 {}", "a[".repeat(100_000)),
        format!("Jan  5 10:00:00 h {}:", "[".repeat(100_000)),
        "\n".repeat(100_000),
        "\u{feff}".repeat(100_000),
    ];
    for line in &hostile {
        let _ = parse(line).map(|m| (m.to_value(), m.timestamp_nanos(2024)));
    }
}

#[test]
fn timestamps() {
    check_nanos(
        "<13>1 2003-10-11T22:14:15.003Z h a - - -",
        0,
        Some(1_065_910_455_003_000_000),
    );
    check_nanos(
        "<13>1 2003-08-24T05:14:15.000003-07:00 h a - - -",
        0,
        Some(1_061_727_255_000_003_000),
    );
    check_nanos(
        "<13>1 2024-01-05t10:00:00z h",
        0,
        Some(1_704_448_800_000_000_000),
    );
    check_nanos("<13>1 1970-01-01T00:00:00Z h", 0, Some(0));
    check_nanos(
        "<13>1 1970-01-01T00:00:00.1234567891234Z h",
        0,
        Some(123_456_789),
    );
    check_nanos(
        "<13>1 2024-01-05T10:00:00-05:30 h",
        0,
        Some(1_704_468_600_000_000_000),
    );
    check_nanos(
        "<13>1 2016-12-31T23:59:60Z h",
        0,
        Some(1_483_228_800_000_000_000),
    );
    // No zone means UTC; lenient offsets.
    check_nanos(
        "2024-01-05T10:00:00 h a: x",
        0,
        Some(1_704_448_800_000_000_000),
    );
    check_nanos(
        "2024-01-05T10:00:00.123+01:00 h a: x",
        0,
        Some(1_704_445_200_123_000_000),
    );
    check_nanos(
        "2024-01-05T10:00:00+0100 h a: x",
        0,
        Some(1_704_445_200_000_000_000),
    );
    check_nanos(
        "2024-01-05T10:00:00+01 h a: x",
        0,
        Some(1_704_445_200_000_000_000),
    );
    // RFC 3164 takes the year from the hint unless the line has one.
    check_nanos(
        "Jan  5 10:00:00 h a: x",
        2024,
        Some(1_704_448_800_000_000_000),
    );
    check_nanos(
        "Jan  5 2024 10:00:00 h a: x",
        1999,
        Some(1_704_448_800_000_000_000),
    );
    check_nanos(
        "Jan  5 10:00:00.5 h a: x",
        2024,
        Some(1_704_448_800_500_000_000),
    );
    check_nanos(
        "Feb 29 00:00:00 h a: x",
        2024,
        Some(1_709_164_800_000_000_000),
    );
    check_nanos("Feb 29 00:00:00 h a: x", 2023, None);
    check_nanos("Feb 30 00:00:00 h a: x", 2024, None);
    check_nanos("Jan  5 25:00:00 h a: x", 2024, None);
    check_nanos("Jan  5 10:00:00 h a: x", i32::MAX, None);
    check_nanos("Jan  5 10:00:00 h a: x", 2300, None);
    // Absent or unparsable timestamps.
    check_nanos("<13>1 - h a - - -", 2024, None);
    check_nanos("<13>1 yesterday h a - - -", 2024, None);
    check_nanos("<13>1 2024-13-01T00:00:00Z h", 2024, None);
    check_nanos("<13>1 2024-01-05T10:00:00+24:00 h", 2024, None);
    check_nanos("<13>1 2024-01-05T10:00:00Zjunk h", 2024, None);
    check_nanos("<13>hello", 2024, None);
}

#[test]
fn to_value_has_exactly_the_documented_keys() {
    let message = SyslogMessage {
        facility: Some(Facility::SolarisCron),
        severity: Some(Severity::Warning),
        version: Some(1),
        timestamp: Some("t".into()),
        hostname: Some("h".into()),
        app_name: Some("a".into()),
        proc_id: Some("p".into()),
        msg_id: Some("m".into()),
        structured_data: vec![SdElement {
            id: "id".into(),
            params: vec![("k".into(), "v".into())],
        }],
        message: "msg".into(),
        format: Format::Rfc5424,
    };
    assert_eq!(
        message.to_value(),
        json!({
            "facility": "solaris-cron", "severity": "warning", "timestamp": "t", "hostname": "h",
            "app_name": "a", "proc_id": "p", "msg_id": "m", "structured_data": { "id": { "k": "v" } },
            "message": "msg", "format": "rfc5424",
        })
    );
    assert_eq!(message.priority(), Some(15 * 8 + 4));
}

#[test]
fn facility_and_severity_names() {
    let facilities: Vec<_> = Facility::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        facilities.join(","),
        "kern,user,mail,daemon,auth,syslog,lpr,news,uucp,cron,authpriv,ftp,ntp,security,console,\
         solaris-cron,local0,local1,local2,local3,local4,local5,local6,local7"
    );
    let severities: Vec<_> = Severity::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        severities.join(","),
        "emerg,alert,crit,err,warning,notice,info,debug"
    );
    for (code, facility) in (0u8..).zip(Facility::ALL) {
        assert_eq!(Facility::from_code(code), Some(facility));
        assert_eq!(facility.code(), code);
    }
    for (code, severity) in (0u8..).zip(Severity::ALL) {
        assert_eq!(Severity::from_code(code), Some(severity));
        assert_eq!(severity.code(), code);
    }
    assert_eq!(Facility::from_code(24), None);
    assert_eq!(Severity::from_code(8), None);
    for pri in 0..=191u8 {
        let message = parse(&format!("<{pri}>x")).map(|m| m.priority());
        assert_eq!(message, Ok(Some(pri)));
    }
}
