//! Property tests: generated messages survive formatting and parsing unchanged, and no input
//! makes `parse` panic.

use chrono::{DateTime, FixedOffset};
use leitstelle_syslog::{Facility, Format, SdElement, Severity, SyslogMessage, parse};
use proptest::prelude::*;

/// RFC 5424 PRINTUSASCII without SP, `=`, `]` and `"`: the SD-NAME alphabet.
const SD_NAME: &str = r#"[!#-<>-\\^-~]{1,32}"#;

/// A generated timestamp: its text and the Unix nanoseconds it stands for.
#[derive(Debug, Clone)]
struct Stamp {
    text: String,
    nanos: i64,
}

fn stamp() -> impl Strategy<Value = Stamp> {
    let seconds = 0i64..7_258_118_400; // 1970 to 2200
    let fraction_digits = prop::sample::select(vec![0usize, 1, 3, 6, 9]);
    let offset_minutes = -(23i32 * 60 + 59)..=(23 * 60 + 59);
    (
        seconds,
        0u32..1_000_000_000,
        fraction_digits,
        offset_minutes,
        any::<bool>(),
    )
        .prop_filter_map(
            "representable timestamp",
            |(seconds, nanos, digits, offset_minutes, zulu)| {
                let offset = FixedOffset::east_opt(offset_minutes * 60)?;
                let local = DateTime::from_timestamp(seconds, 0)?.with_timezone(&offset);
                let mut text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
                let kept = if digits == 0 {
                    0
                } else {
                    let fraction = format!("{nanos:09}");
                    text.push('.');
                    text.push_str(fraction.get(..digits)?);
                    fraction.get(..digits)?.parse::<u32>().ok()? * 10u32.pow(9 - digits as u32)
                };
                if offset_minutes == 0 && zulu {
                    text.push('Z');
                } else {
                    let sign = if offset_minutes < 0 { '-' } else { '+' };
                    let abs = offset_minutes.abs();
                    text.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60));
                }
                let nanos = seconds * 1_000_000_000 + i64::from(kept);
                Some(Stamp { text, nanos })
            },
        )
}

/// An RFC 5424 header field: PRINTUSASCII, not the NILVALUE.
fn field(max: usize) -> impl Strategy<Value = Option<String>> {
    let printable =
        proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).expect("valid regex");
    proptest::option::of(printable.prop_filter("not nil", |s| s != "-"))
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), r#"[\\\]" a-zé"]{0,12}"#]
}

fn sd_element() -> impl Strategy<Value = SdElement> {
    (
        SD_NAME,
        prop::collection::vec((SD_NAME, param_value()), 0..4),
    )
        .prop_map(|(id, params)| SdElement { id, params })
}

/// Free text that survives the line trimming: no trailing newline or NUL, no leading BOM.
fn message_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z \\[\\]\"=-]{0,20}", "\\PC{0,40}"].prop_map(|text| {
        text.trim_start_matches('\u{feff}')
            .trim_end_matches(['\n', '\r', '\0'])
            .to_owned()
    })
}

fn rfc5424_message() -> impl Strategy<Value = (SyslogMessage, Option<i64>, bool)> {
    (
        (
            prop::sample::select(Facility::ALL.to_vec()),
            prop::sample::select(Severity::ALL.to_vec()),
            1u8..=255,
            proptest::option::of(stamp()),
        ),
        (field(255), field(48), field(128), field(32)),
        prop::collection::vec(sd_element(), 0..4),
        message_text(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (facility, severity, version, stamp),
                (hostname, app_name, proc_id, msg_id),
                sd,
                message,
                bom,
            )| {
                let nanos = stamp.as_ref().map(|s| s.nanos);
                let message = SyslogMessage {
                    facility: Some(facility),
                    severity: Some(severity),
                    version: Some(version),
                    timestamp: stamp.map(|s| s.text),
                    hostname,
                    app_name,
                    proc_id,
                    msg_id,
                    structured_data: sd,
                    message,
                    format: Format::Rfc5424,
                };
                (message, nanos, bom)
            },
        )
}

/// The reference formatter for the round trip (RFC 5424 section 6).
fn format_rfc5424(message: &SyslogMessage, bom: bool) -> String {
    let nil = |field: &Option<String>| field.clone().unwrap_or_else(|| "-".into());
    let mut line = format!(
        "<{}>{} {} {} {} {} {} ",
        message.priority().unwrap_or(13),
        message.version.unwrap_or(1),
        nil(&message.timestamp),
        nil(&message.hostname),
        nil(&message.app_name),
        nil(&message.proc_id),
        nil(&message.msg_id),
    );
    if message.structured_data.is_empty() {
        line.push('-');
    }
    for element in &message.structured_data {
        line.push('[');
        line.push_str(&element.id);
        for (name, value) in &element.params {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace(']', "\\]");
            line.push_str(&format!(" {name}=\"{escaped}\""));
        }
        line.push(']');
    }
    if !message.message.is_empty() || bom {
        line.push(' ');
        if bom {
            line.push('\u{feff}');
        }
        line.push_str(&message.message);
    }
    line
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn rfc3164_message() -> impl Strategy<Value = SyslogMessage> {
    (
        proptest::option::of((
            prop::sample::select(Facility::ALL.to_vec()),
            prop::sample::select(Severity::ALL.to_vec()),
        )),
        (
            prop::sample::select(MONTHS.to_vec()),
            1u32..=31,
            0u32..24,
            0u32..60,
            0u32..60,
        ),
        "[a-z0-9][a-z0-9.-]{0,20}",
        proptest::option::of(("[a-zA-Z0-9/_.-]{1,32}", proptest::option::of("[0-9]{1,7}"))),
        message_text(),
    )
        .prop_map(
            |(pri, (month, day, hour, minute, second), host, tag, message)| {
                let (app_name, proc_id) = tag.unzip();
                SyslogMessage {
                    facility: pri.map(|(f, _)| f),
                    severity: pri.map(|(_, s)| s),
                    version: None,
                    timestamp: Some(format!(
                        "{month} {day:>2} {hour:02}:{minute:02}:{second:02}"
                    )),
                    hostname: Some(host),
                    app_name,
                    proc_id: proc_id.flatten(),
                    msg_id: None,
                    structured_data: Vec::new(),
                    message,
                    format: Format::Rfc3164,
                }
            },
        )
        .prop_filter("untagged message must not start with a tag", |message| {
            let first = message.message.split(' ').next().unwrap_or_default();
            message.app_name.is_some() || !(first.ends_with(':') || first.ends_with(']'))
        })
}

fn format_rfc3164(message: &SyslogMessage) -> String {
    let mut line = String::new();
    if let Some(priority) = message.priority() {
        line.push_str(&format!("<{priority}>"));
    }
    line.push_str(message.timestamp.as_deref().unwrap_or_default());
    line.push(' ');
    line.push_str(message.hostname.as_deref().unwrap_or_default());
    line.push(' ');
    if let Some(app) = &message.app_name {
        line.push_str(app);
        if let Some(pid) = &message.proc_id {
            line.push_str(&format!("[{pid}]"));
        }
        line.push_str(": ");
    }
    line.push_str(&message.message);
    line
}

/// Pieces of syslog syntax, so that random lines get past the first checks.
fn syslogish_line() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "<",
        ">",
        "<13>",
        "<191>",
        "<192>",
        "1",
        "1 ",
        " ",
        "  ",
        "-",
        "- ",
        "[",
        "]",
        "\"",
        "\\",
        "=",
        "a=\"b\"",
        "Jan",
        "Jan  5 ",
        "10:00:00",
        "2024-01-05T10:00:00",
        ".123",
        "Z",
        "z",
        "+01:00",
        "-0530",
        ":",
        ": ",
        "[1]",
        "é",
        "🎉",
        "\u{feff}",
        "\n",
        "\r",
        "\0",
        "\t",
        "a",
        "5",
        ".",
        "999",
        "@",
    ]);
    prop::collection::vec(
        prop_oneof![4 => piece.prop_map(str::to_owned), 1 => any::<String>()],
        0..40,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Every field of a parsed line is a piece of that line.
fn assert_fields_come_from(line: &str, message: &SyslogMessage) {
    let fields = [
        &message.timestamp,
        &message.hostname,
        &message.app_name,
        &message.proc_id,
        &message.msg_id,
    ];
    for field in fields.into_iter().flatten() {
        assert!(line.contains(field.as_str()), "{field:?} not in {line:?}");
    }
    assert!(
        line.contains(&message.message),
        "{:?} not in {line:?}",
        message.message
    );
    for element in &message.structured_data {
        assert!(line.contains(&element.id));
    }
}

proptest! {
    #[test]
    fn rfc5424_round_trip((message, nanos, bom) in rfc5424_message()) {
        let line = format_rfc5424(&message, bom);
        let parsed = parse(&line);
        prop_assert_eq!(parsed.as_ref(), Ok(&message), "line: {:?}", line);
        prop_assert_eq!(message.timestamp_nanos(0), nanos);
    }

    #[test]
    fn rfc3164_round_trip(message in rfc3164_message()) {
        let line = format_rfc3164(&message);
        let parsed = parse(&line);
        prop_assert_eq!(parsed.as_ref(), Ok(&message), "line: {:?}", line);
    }

    #[test]
    fn to_value_round_trips_the_fields((message, _, _) in rfc5424_message()) {
        let value = message.to_value();
        prop_assert_eq!(value["message"].as_str(), Some(message.message.as_str()));
        prop_assert_eq!(value["hostname"].as_str(), message.hostname.as_deref());
        prop_assert_eq!(value.get("structured_data").is_some(), !message.structured_data.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(line in any::<String>()) {
        if let Ok(message) = parse(&line) {
            assert_fields_come_from(&line, &message);
            let _ = (message.to_value(), message.timestamp_nanos(2024));
        }
    }

    #[test]
    fn parse_never_panics_on_syslog_like_strings(line in syslogish_line(), year in any::<i32>()) {
        if let Ok(message) = parse(&line) {
            assert_fields_come_from(&line, &message);
            let _ = (message.to_value(), message.timestamp_nanos(year));
        }
    }
}
