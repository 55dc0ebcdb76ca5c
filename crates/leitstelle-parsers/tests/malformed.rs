//! Bad input of every format: a clear error of a stable kind, never a panic.

use leitstelle_parsers::{Format, Limits, ParseContext, ParseError, parse};
use proptest::prelude::*;

const FIXTURES: [&str; 4] = [
    include_str!("fixtures/auditd.log"),
    include_str!("fixtures/cef.log"),
    include_str!("fixtures/leef.log"),
    include_str!("fixtures/json.ndjson"),
];

fn err(format: Format, record: &[u8]) -> ParseError {
    match parse(format, record, &ParseContext::new(2024)) {
        Ok(p) => panic!("{}: parsed as {}", String::from_utf8_lossy(record), p.data),
        Err(e) => e,
    }
}

/// `record` as `format` fails with an error of `kind`.
fn check(format: Format, record: &[u8], kind: &str) {
    let e = err(format, record);
    assert_eq!(
        e.kind(),
        kind,
        "{} as {format}: {e}",
        String::from_utf8_lossy(record)
    );
}

#[test]
fn malformed_records() {
    let cases: &[(Format, &[u8], &str)] = &[
        (Format::Auto, b"", "empty"),
        (Format::Json, b" \r\n", "empty"),
        // Truncated headers.
        (Format::Cef, b"CEF:0|Vendor|Prod", "cef_header"),
        (
            Format::Auto,
            b"<134>Jan 18 11:07:53 fw CEF:0|V|P|1",
            "cef_header",
        ),
        (Format::Leef, b"LEEF:1.0|V|P", "leef_header"),
        (
            Format::Auditd,
            b"type=SYSCALL msg=audit(1364481363.243:24287",
            "auditd_header",
        ),
        (Format::Auto, b"<13", "syslog"),
        // Malformed headers.
        (Format::Cef, b"CEF:x|a|b|c|d|e|f|", "cef_header"),
        (Format::Leef, b"LEEF:3.0|V|P|1|e|a=1", "leef_header"),
        (Format::Leef, b"LEEF:2.0|V|P|1|e|x0|a=1", "leef_header"),
        (
            Format::Auditd,
            b"type=SYSCALL msg=audit(yesterday): a=1",
            "auditd_header",
        ),
        (
            Format::Auditd,
            b"type=SYSCALL msg=audit(1.2:x): a=1",
            "auditd_header",
        ),
        (
            Format::Auditd,
            b"type= msg=audit(1.2:3): a=1",
            "auditd_header",
        ),
        // Bad escapes in the CEF header; text that is no key.
        (Format::Cef, br"CEF:0|a\tb|c|d|e|f|g|", "cef_header"),
        (Format::Cef, b"CEF:0|a|b|c|d|e|f\\", "cef_header"),
        (
            Format::Cef,
            b"CEF:0|a|b|c|d|e|f|junk text src=1",
            "cef_extension",
        ),
        (
            Format::Leef,
            b"LEEF:2.0|V|P|1|e|^|junk^a=1",
            "leef_attributes",
        ),
        (
            Format::Auditd,
            b"type=SYSCALL msg=audit(1.2:3): comm=\"unterminated",
            "auditd_syntax",
        ),
        (
            Format::Auditd,
            b"type=USER_LOGIN msg=audit(1.2:3): pid=1 msg='op=login",
            "auditd_syntax",
        ),
        // Not the configured format at all.
        (Format::Cef, b"hello world", "cef_header"),
        (
            Format::Cef,
            b"<13>Jan 18 11:07:53 h app: hello",
            "cef_header",
        ),
        (Format::Leef, b"CEF:0|a|b|c|d|e|f|", "leef_header"),
        (Format::Auditd, b"msg=audit(1.2:3): a=1", "auditd_header"),
        (Format::Syslog, b"this is not syslog", "syslog"),
        (Format::Syslog, b"<999>Jan 18 11:07:53 h x", "syslog"),
        // JSON.
        (Format::Json, b"{\"a\": ", "invalid_json"),
        (Format::Json, b"{\"a\": 1} {", "invalid_json"),
        (Format::Json, b"[{\"a\": 1}]", "not_an_object"),
        (Format::Json, b"\"text\"", "not_an_object"),
        (Format::Auto, b"{not json", "invalid_json"),
        // Invalid UTF-8.
        (Format::Auto, b"CEF:0|a|b|c|d|e|f|x=\xff", "invalid_utf8"),
        (Format::Json, b"{\"a\": \"\xc3\x28\"}", "invalid_utf8"),
        (
            Format::Syslog,
            b"Jan 18 11:07:53 h app: caf\xe9",
            "invalid_utf8",
        ),
    ];
    for (format, record, kind) in cases {
        check(*format, record, kind);
    }
}

#[test]
fn messages_say_what_and_where() {
    let e = err(Format::Cef, b"CEF:0|Vendor|Prod");
    assert_eq!(
        e.to_string(),
        "invalid CEF header: truncated: 3 of the 7 `|`-separated header fields (Version|Device \
         Vendor|Device Product|Device Version|Signature ID|Name|Severity|)"
    );
    let e = err(Format::Cef, br"CEF:0|a\tb|c|d|e|f|g|");
    assert_eq!(
        e.to_string(),
        r"invalid CEF header: invalid escape `\t` in the DeviceVendor field (only `\|` and `\\`)"
    );
    let e = err(Format::Auto, b"\x00\x01CEF:0|a|b|c|d|e|f|x=\xff");
    assert_eq!(e.to_string(), "invalid UTF-8 at byte 22");
    let e = err(Format::Cef, b"hello world");
    assert_eq!(
        e.to_string(),
        "invalid CEF header: no CEF record: expected `CEF:` at the start or after a syslog header"
    );
}

#[test]
fn limits_name_themselves() {
    let limits = Limits::default();
    // A record over the size limit is refused before it is looked at.
    let big = vec![b'x'; limits.max_record_bytes + 1];
    let e = err(Format::Auto, &big);
    assert_eq!(e.kind(), "too_large");
    assert_eq!(
        e.to_string(),
        "record of 1048577 bytes larger than the limit of 1048576 bytes (max_record_bytes)"
    );
    // One huge field.
    let huge = format!("CEF:0|a|b|c|d|e|f|src=1 msg={}", "A".repeat(300 << 10));
    let e = err(Format::Cef, huge.as_bytes());
    assert_eq!(
        e.to_string(),
        "field `msg` of 307200 bytes larger than the limit of 262144 bytes (max_field_bytes)"
    );
    let huge = format!("{{\"k\": [\"{}\"]}}", "A".repeat(300 << 10));
    check(Format::Json, huge.as_bytes(), "field_too_large");
    // Too many fields.
    let many: String = (0..10_001).map(|i| format!(" k{i}=1")).collect();
    let e = err(Format::Cef, format!("CEF:0|a|b|c|d|e|f|{many}").as_bytes());
    assert_eq!(e.to_string(), "more than 10000 fields (max_fields)");
    let many: String = (0..10_001).map(|i| format!("a{i}=1 ")).collect();
    check(
        Format::Auditd,
        format!("type=EXECVE msg=audit(1.2:3): {many}").as_bytes(),
        "too_many_fields",
    );
    // Deep JSON, also far beyond serde_json's own recursion limit: no stack overflow.
    for depth in [65, 200, 100_000] {
        let deep = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let e = err(Format::Json, deep.as_bytes());
        assert_eq!(e.to_string(), "nested deeper than 64 levels (max_depth)");
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        check(Format::Auto, deep.as_bytes(), "too_deep");
    }
    let ok = format!("{}{{}}{}", "{\"a\":".repeat(63), "}".repeat(63));
    assert!(parse(Format::Json, ok.as_bytes(), &ParseContext::new(2024)).is_ok());
}

#[test]
fn lossy_utf8_keeps_what_can_be_read() {
    let ctx = ParseContext {
        lossy_utf8: true,
        ..ParseContext::new(2024)
    };
    let p = parse(Format::Syslog, b"Jan 18 11:07:53 h app: caf\xe9", &ctx).expect("lossy");
    assert_eq!(p.data["message"], "caf\u{fffd}");
}

/// Every prefix of every fixture line, in every format: an event or an error, no panic.
#[test]
fn truncated_fixtures_never_panic() {
    let ctx = ParseContext::new(2024);
    for fixture in FIXTURES {
        for line in fixture.lines() {
            for end in 0..=line.len() {
                for format in Format::ALL {
                    let _ = parse(format, &line.as_bytes()[..end], &ctx);
                }
            }
        }
    }
}

fn any_format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

/// Fixture lines with a few bytes changed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let lines: Vec<&'static str> = FIXTURES.iter().flat_map(|f| f.lines()).collect();
    (
        prop::sample::select(lines),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    )
        .prop_map(|(line, edits)| {
            let mut bytes = line.as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes
        })
}

/// Text made of the characters the grammars care about.
fn grammar_soup() -> impl Strategy<Value = String> {
    prop::string::string_regex(
        r#"(CEF:|LEEF:|type=|msg=|audit\(|node=|<13>|Jan 18 11:07:53 |[|=\\ "'\t^\x1d:(){}\[\]]|[a-z0-9.]{1,4}){0,40}"#,
    )
    .expect("regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(format in any_format(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(format, &bytes, &ParseContext::new(2024));
    }

    #[test]
    fn mutated_fixtures_never_panic(format in any_format(), bytes in mutated()) {
        if let Ok(p) = parse(format, &bytes, &ParseContext::new(2024)) {
            prop_assert!(p.data.is_object());
        }
    }

    #[test]
    fn grammar_soup_never_panics(format in any_format(), text in grammar_soup()) {
        let ctx = ParseContext { lossy_utf8: true, ..ParseContext::new(2024) };
        if let Ok(p) = parse(format, text.as_bytes(), &ctx) {
            prop_assert!(p.data.is_object());
        }
    }
}
