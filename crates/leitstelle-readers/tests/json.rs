//! JSON layouts, profiles and timestamps, and the record size limit.

mod common;

use common::{gzip, read_path, scratch, write};
use leitstelle_event::Raw;
use leitstelle_readers::{Location, ReadErrorKind, ReadOptions};

/// Reads `input` as a file named `f.json` and compares the rendered items.
fn check(name: &str, input: &str, expected: &[&str]) {
    check_with(name, input, &ReadOptions::default(), expected);
}

fn check_with(name: &str, input: &str, opts: &ReadOptions, expected: &[&str]) {
    let dir = scratch(&format!("json-{name}"));
    let path = write(&dir, "f.json", input.as_bytes());
    let got = read_path(&path, opts);
    assert_eq!(got.lines, expected, "{name}");
    // Every record is either an event or an error; none is lost.
    let s = got.stats;
    assert_eq!(
        s.records,
        s.events + s.errors - file_errors(&got.errors),
        "{name}: {s:?}"
    );
    assert_eq!(s.bytes, input.len() as u64, "{name}");
}

fn file_errors(errors: &[leitstelle_readers::ReadError]) -> u64 {
    errors
        .iter()
        .filter(|e| e.location == leitstelle_readers::Location::File)
        .count() as u64
}

const ECS: &str = r#"{"@timestamp":"2024-05-01T10:00:00.250Z","winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":1,"event_data":{"Image":"C:\\x.exe"}},"event":{"code":"1"},"process":{"executable":"C:\\x.exe"}}"#;
const EVTX_JSON: &str = r##"{"Event":{"System":{"Channel":"Security","EventID":4688,"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:25.581875Z"}}},"EventData":{"NewProcessName":"C:\\y.exe"}}}"##;

#[test]
fn ndjson_lines_profiles_and_errors() {
    let input = format!(
        "\u{feff}{ECS}\r\n\n{EVTX_JSON}\nnot json\n[1, 2]\n{{\"time\": 1714557600, \"product\": \"Linux\"}}\n{{\"a\": 1}}\n   \n{{\"truncated\": \n"
    );
    check(
        "ndjson",
        &input,
        &[
            "#1 winlogbeat-ecs windows/sysmon/process_creation 2024-05-01T10:00:00.250Z text",
            "#3 windows-security-4688 windows/security/process_creation 2019-03-19T23:34:25.581875Z text",
            "! f.json:line 4: invalid JSON: expected ident at line 1 column 2",
            "! f.json:line 5: not a JSON object but an array",
            "#6 json linux/*/* 2024-05-01T10:00:00Z text",
            "#7 json */*/* - text",
            "! f.json:line 9: invalid JSON: EOF while parsing a value at line 1 column 14",
        ],
    );
}

#[test]
fn ndjson_keeps_each_line_as_raw_text() {
    let dir = scratch("json-raw");
    let path = write(
        &dir,
        "f.ndjson",
        b"{\"b\": 1.50, \"a\": \"x\"}\r\n{\"c\":2}",
    );
    let got = read_path(&path, &ReadOptions::default());
    let raws: Vec<&str> = got
        .events
        .iter()
        .map(|e| match &e.raw {
            Raw::Text(t) => t.as_ref(),
            _ => "not text",
        })
        .collect();
    assert_eq!(raws, ["{\"b\": 1.50, \"a\": \"x\"}", "{\"c\":2}"]);
    assert_eq!(got.events[0].data["a"], "x");
    assert_eq!(got.events[1].tenant.as_ref(), "default");
    let origin = got.events[1].origin.source.as_deref().unwrap_or("");
    assert!(origin.ends_with("f.ndjson"), "{origin}");
}

#[test]
fn arrays_of_objects() {
    check(
        "array",
        &format!("[\n  {ECS},\n  {{\"a\": 1}},\n  42\n]\n[{EVTX_JSON}]\n{{\"after\": true}}"),
        &[
            "#1 winlogbeat-ecs windows/sysmon/process_creation 2024-05-01T10:00:00.250Z text",
            "#2 json */*/* - text",
            "! f.json:element 3: not a JSON object but a number",
            "#4 windows-security-4688 windows/security/process_creation 2019-03-19T23:34:25.581875Z text",
            "#5 json */*/* - text",
        ],
    );
    check(
        "array-broken",
        "[{\"a\": 1},\n {\"b\": ]\n",
        &["! f.json:line 2: invalid JSON: expected value at line 2 column 8"],
    );
    check("array-empty", "  []  ", &[]);
}

#[test]
fn pretty_printed_records() {
    // `evtx_dump -o json`: a `Record N` line before each pretty-printed record.
    let evtx_dump = "Record 1\n{\n  \"Event\": {\n    \"System\": {\n      \"Channel\": \"Microsoft-Windows-Sysmon/Operational\",\n      \"EventID\": 1\n    }\n  }\n}\nRecord 2\n{\n  \"a\": 1\n}\n";
    check(
        "evtx-dump",
        evtx_dump,
        &[
            "#2 windows-evtx windows/sysmon/process_creation - text",
            "#11 json */*/* - text",
        ],
    );
    // `jq .` output, a broken record in the middle, a one-line record between pretty ones,
    // and a file that ends inside a record.
    let jq = "{\n  \"time\": \"2024-05-01 10:00:00.5\"\n}\n{\n  \"a\": oops\n}\n{\"b\": 2}\n\n{\n  \"c\": 3\n}\n{\n  \"d\": ";
    check(
        "jq",
        jq,
        &[
            "#1 json */*/* 2024-05-01T10:00:00.500Z text",
            "! f.json:line 4: invalid JSON: expected value at line 2 column 8",
            "#7 json */*/* - text",
            "#9 json */*/* - text",
            "! f.json:line 12: invalid JSON: EOF while parsing a value at line 2 column 7",
        ],
    );
}

#[test]
fn size_limit() {
    let opts = ReadOptions {
        max_record_bytes: 64,
        ..ReadOptions::default()
    };
    let long = format!("{{\"a\": \"{}\"}}", "x".repeat(100));
    check_with(
        "limit-ndjson",
        &format!("{{\"a\": 1}}\n{long}\n{{\"b\": 2}}\n"),
        &opts,
        &[
            "#1 json */*/* - text",
            "! f.json:line 2: line larger than the limit of 64 bytes (max_record_bytes)",
            "#3 json */*/* - text",
        ],
    );
    check_with(
        "limit-array",
        &format!("[\n{}{{\"a\": 10}}\n]", "{\"a\": 1},\n".repeat(9)),
        &opts,
        &[
            "! f.json: JSON document (convert it to NDJSON) larger than the limit of 64 bytes (max_record_bytes)",
        ],
    );
    let big_pretty = format!(
        "{{\n{}\n}}\n{{\n\"ok\": 1\n}}\n",
        "\"k\": 1,\n".repeat(20) + "\"z\": 0"
    );
    check_with(
        "limit-pretty",
        &big_pretty,
        &opts,
        &[
            "! f.json:line 1: record larger than the limit of 64 bytes (max_record_bytes)",
            "#24 json */*/* - text",
        ],
    );
    check_with(
        "limit-between-pretty",
        &format!("{{\n\"a\": 1\n}}\n{long}\n{{\n\"b\": 2\n}}\n"),
        &opts,
        &[
            "#1 json */*/* - text",
            "! f.json:line 4: line larger than the limit of 64 bytes (max_record_bytes)",
            "#5 json */*/* - text",
        ],
    );
}

#[test]
fn gzip_json() {
    let dir = scratch("json-gzip");
    let path = write(
        &dir,
        "events.json.gz",
        &gzip(format!("{ECS}\n{EVTX_JSON}\n").as_bytes()),
    );
    let got = read_path(&path, &ReadOptions::default());
    assert_eq!(
        got.lines,
        [
            "#1 winlogbeat-ecs windows/sysmon/process_creation 2024-05-01T10:00:00.250Z text",
            "#2 windows-security-4688 windows/security/process_creation 2019-03-19T23:34:25.581875Z text",
        ]
    );
    assert_eq!(
        got.stats.bytes,
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    );
}

#[test]
fn tenant_is_set_on_every_event() {
    let dir = scratch("json-tenant");
    let path = write(&dir, "t.json", b"{\"a\": 1}\n");
    let opts = ReadOptions {
        tenant: "acme".into(),
        ..ReadOptions::default()
    };
    let got = read_path(&path, &opts);
    assert_eq!(got.events[0].tenant.as_ref(), "acme");
}

#[test]
fn gzip_cut_short_reports_where_it_stopped() {
    let dir = scratch("json-gzip-cut");
    let lines: String = (0..2000).map(|i| format!("{{\"n\": {i}}}\n")).collect();
    let gz = gzip(lines.as_bytes());
    let path = write(&dir, "cut.json.gz", &gz[..gz.len() / 2]);
    let got = read_path(&path, &ReadOptions::default());
    assert!(!got.events.is_empty());
    assert_eq!(got.errors.len(), 1, "{:?}", got.lines);
    let e = &got.errors[0];
    assert!(matches!(e.kind, ReadErrorKind::Io(_)), "{e}");
    assert_eq!(
        e.location,
        Location::Line(got.events.len() as u64 + 1),
        "{e}"
    );
}
