//! The conformance suite of [`EventStore`]: every backend must pass [`run`].
//!
//! It loads a small fixed set of events (two tenants, three days, EVTX-, ECS- and
//! syslog-shaped) and checks every query form of the search language, pipe stages, paging,
//! time range edges, tenant isolation (search, aggregations, field statistics, scans),
//! exactly-once adds, retention and usage. The expected answers are worked out by hand from
//! the fixtures below.
//!
//! Call it from a test with a function that makes an empty store:
//! `leitstelle_store::conformance::run(&mut || Box::new(MemoryStore::new(profiles.clone())))`.

use serde_json::{Value, json};

use crate::{EventStore, NewEvent, Retention, SearchRequest, StoreError};

const DAY: i64 = 86_400 * 1_000_000_000;
const HOUR: i64 = 3_600 * 1_000_000_000;
/// The first fixture day (2024-10-04).
pub const D0: i64 = 20_000 * DAY;

fn evtx(
    seq: u64,
    tenant: &str,
    time_ns: i64,
    channel: &str,
    event_id: u64,
    computer: &str,
    data: Value,
) -> NewEvent {
    let user = data
        .get("User")
        .or_else(|| data.get("TargetUserName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    NewEvent {
        seq,
        tenant: tenant.into(),
        time_ns,
        received_ns: time_ns + 1_000,
        source: "api".into(),
        kind: "evtx".into(),
        host: Some(computer.into()),
        user,
        level: Some("4".into()),
        event_id: Some(event_id.to_string()),
        product: Some("windows".into()),
        service: Some(
            if channel == "Security" {
                "security"
            } else {
                "sysmon"
            }
            .into(),
        ),
        categories: if event_id == 1 {
            vec!["process_creation".into()]
        } else {
            vec![]
        },
        data: json!({"Event": {
            "System": {"EventID": event_id, "Channel": channel, "Computer": computer},
            "EventData": data,
        }}),
        raw: None,
    }
}

fn syslog(seq: u64, tenant: &str, time_ns: i64, host: &str, message: &str, bytes: u64) -> NewEvent {
    NewEvent {
        seq,
        tenant: tenant.into(),
        time_ns,
        received_ns: time_ns,
        source: "syslog:udp:127.0.0.1:5514".into(),
        kind: "syslog".into(),
        host: Some(host.into()),
        user: None,
        level: Some("warning".into()),
        event_id: None,
        product: Some("linux".into()),
        service: Some("sshd".into()),
        categories: vec![],
        data: json!({"hostname": host, "app": "sshd", "message": message, "bytes": bytes}),
        raw: Some(format!("<36>1 - {host} sshd - - - {message}")),
    }
}

/// The fixture events: seq 1–6 of tenant `acme`, 7–8 of tenant `globex`.
pub fn fixtures() -> Vec<NewEvent> {
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    vec![
        evtx(
            1,
            "acme",
            D0 + 10 * HOUR,
            sysmon,
            1,
            "WS1.acme.local",
            json!({
                "Image": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": "cmd.exe /c whoami",
                "User": "ACME\\alice",
                "ParentImage": "C:\\Windows\\explorer.exe",
            }),
        ),
        evtx(
            2,
            "acme",
            D0 + 11 * HOUR,
            sysmon,
            1,
            "WS2",
            json!({
                "Image": "C:\\Tools\\mimikatz.exe",
                "CommandLine": "mimikatz.exe \"sekurlsa::logonpasswords\" exit",
                "User": "ACME\\bob",
            }),
        ),
        evtx(
            3,
            "acme",
            D0 + DAY + 9 * HOUR,
            "Security",
            4624,
            "DC1",
            json!({
                "TargetUserName": "alice", "LogonType": 3, "IpAddress": "10.0.0.5",
            }),
        ),
        evtx(
            4,
            "acme",
            D0 + DAY + 9 * HOUR + 5 * 60 * 1_000_000_000,
            "Security",
            4625,
            "DC1",
            json!({
                "TargetUserName": "bob", "LogonType": "10", "IpAddress": "203.0.113.7",
            }),
        ),
        NewEvent {
            seq: 5,
            tenant: "acme".into(),
            time_ns: D0 + 2 * DAY + 8 * HOUR,
            received_ns: D0 + 2 * DAY + 8 * HOUR,
            source: "_bulk".into(),
            kind: "json".into(),
            host: Some("ws1.acme.local".into()),
            user: Some("alice".into()),
            level: None,
            event_id: Some("1".into()),
            product: Some("windows".into()),
            service: None,
            categories: vec!["process_creation".into()],
            data: json!({
                "process": {
                    "command_line": "powershell -enc SQBFAFgA",
                    "executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                },
                "host": {"name": "ws1.acme.local"},
                "user": {"name": "alice"},
                "event": {"code": "1"},
                "destination": {"bytes": 1_500_000},
                "tags": ["edr", "prod"],
            }),
            raw: None,
        },
        syslog(
            6,
            "acme",
            D0 + 2 * DAY + 8 * HOUR + 30 * 60 * 1_000_000_000,
            "fw1",
            "Failed password for root from 198.51.100.9 port 22 ssh2",
            512,
        ),
        evtx(
            7,
            "globex",
            D0 + DAY + 12 * HOUR,
            sysmon,
            1,
            "GX1",
            json!({
                "Image": "C:\\Temp\\mimikatz.exe",
                "CommandLine": "mimikatz.exe coffee",
                "User": "GLOBEX\\eve",
            }),
        ),
        syslog(
            8,
            "globex",
            D0 + 2 * DAY + 13 * HOUR,
            "gx-fw",
            "Accepted password for alice",
            64,
        ),
    ]
}

/// The watermark the suite commits the fixtures with.
pub const WATERMARK: u64 = 9;

fn loaded(make: &mut dyn FnMut() -> Box<dyn EventStore>) -> Box<dyn EventStore> {
    let s = make();
    assert_eq!(s.committed(), 1, "an empty store's watermark is 1");
    let mut ev = fixtures();
    // Two batches and two commits, like the server's indexer.
    let second = ev.split_off(4);
    s.add(ev).expect("add");
    s.commit(5).expect("commit");
    s.add(second).expect("add");
    s.commit(WATERMARK).expect("commit");
    s
}

fn req(tenants: &[&str], q: &str) -> SearchRequest {
    let query = crate::query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut r = SearchRequest::new(tenants, query);
    r.limit = 1000;
    r
}

fn seqs(s: &dyn EventStore, r: &SearchRequest) -> Vec<u64> {
    let res = s.search(r).unwrap_or_else(|e| panic!("{:?}: {e}", r.query));
    res.hits.iter().map(|h| h.seq).collect()
}

/// Sorted sequence numbers of the hits of `q` over `tenants`.
fn find(s: &dyn EventStore, tenants: &[&str], q: &str) -> Vec<u64> {
    let r = req(tenants, q);
    let mut v = seqs(s, &r);
    let total = s.search(&r).map(|x| x.total).unwrap_or(u64::MAX);
    assert_eq!(total, v.len() as u64, "`{q}`: the total counts every match");
    v.sort();
    v
}

fn table(s: &dyn EventStore, tenants: &[&str], q: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let res = s
        .search(&req(tenants, q))
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    let t = res.table.unwrap_or_else(|| panic!("{q}: no table"));
    (t.columns, t.rows)
}

/// Runs the whole suite. Panics (with the query that failed) on the first difference.
pub fn run(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    queries(make);
    stages(make);
    paging_and_time(make);
    isolation(make);
    exactly_once(make);
    retention(make);
}

/// Every filter form of the language.
pub fn queries(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    let s = s.as_ref();
    let a = &["acme"];
    let cases: &[(&str, &[u64])] = &[
        ("*", &[1, 2, 3, 4, 5, 6]),
        ("", &[1, 2, 3, 4, 5, 6]),
        // Exact values, case-insensitive, Windows paths verbatim.
        ("Image:C:\\Windows\\System32\\cmd.exe", &[1]),
        ("image:c:\\windows\\system32\\CMD.EXE", &[1]),
        ("Event.EventData.Image:C:\\Windows\\System32\\cmd.exe", &[1]),
        ("Image:cmd.exe", &[]),
        // Wildcards.
        ("Image:*\\mimikatz.exe", &[2]),
        ("Image:C:\\Windows\\*", &[1, 5]),
        ("CommandLine:*whoami*", &[1]),
        ("CommandLine:cmd.exe?/c*", &[1]),
        ("CommandLine:*-enc*", &[5]),
        ("process.command_line:powershell*", &[5]),
        // Phrases: the whole value, wildcard characters literal.
        ("CommandLine:\"cmd.exe /c whoami\"", &[1]),
        ("CommandLine:\"cmd.exe /c *\"", &[]),
        // Numeric ranges and comparisons (numbers and numeric strings alike).
        ("EventID:[4624 TO 4625]", &[3, 4]),
        ("EventID:{4624 TO 4625]", &[4]),
        ("EventID:[4624 TO 4625}", &[3]),
        ("EventID:[4624 TO *]", &[3, 4]),
        ("LogonType>3", &[4]),
        ("LogonType>=3", &[3, 4]),
        ("LogonType<10", &[3]),
        ("LogonType:<=10", &[3, 4]),
        ("destination.bytes>1000000", &[5]),
        ("bytes<1000", &[6]),
        // Text ranges compare lowercase text.
        ("TargetUserName:[a TO b]", &[3]),
        ("TargetUserName:[a TO bz]", &[3, 4]),
        // Bare words, phrases and wildcards over every field.
        ("mimikatz", &[2]),
        ("MIMIKATZ", &[2]),
        ("logonpasswords", &[2]),
        ("\"failed password\"", &[6]),
        ("\"password failed\"", &[]),
        ("198.51.100.9", &[6]),
        ("*sekurlsa*", &[2]),
        ("whoam", &[]),
        // Exists.
        ("_exists_:IpAddress", &[3, 4]),
        ("NOT _exists_:IpAddress", &[1, 2, 5, 6]),
        // `Image` includes the EVTX profile's `Event.UserData.*.Image`.
        ("_exists_:Image", &[1, 2, 5]),
        ("_exists_:Event.EventData", &[]),
        ("_exists_:host", &[1, 2, 3, 4, 5, 6]),
        ("Image:*", &[1, 2, 5]),
        // Boolean structure.
        ("TargetUserName:alice OR TargetUserName:bob", &[3, 4]),
        ("TargetUserName:alice AND LogonType:3", &[3]),
        ("TargetUserName:alice LogonType:10", &[]),
        (
            "(TargetUserName:alice OR TargetUserName:bob) AND NOT LogonType:10",
            &[3],
        ),
        ("-host:DC1", &[1, 2, 5, 6]),
        ("NOT host:DC1 AND NOT kind:syslog", &[1, 2, 5]),
        ("mimikatz OR whoami", &[1, 2]),
        // Meta fields.
        ("host:DC1", &[3, 4]),
        ("host:ws1*", &[1, 5]),
        ("level:warning", &[6]),
        ("source:_bulk", &[5]),
        ("kind:evtx", &[1, 2, 3, 4]),
        ("category:process_creation", &[1, 2, 5]),
        ("service:security", &[3, 4]),
        ("logsource:windows/sysmon/*", &[1, 2]),
        ("tenant:acme", &[1, 2, 3, 4, 5, 6]),
        ("tenant:globex", &[]),
        // Arrays are looked through.
        ("tags:prod", &[5]),
        // Dotted paths of nested objects, and the Sigma names the profiles know.
        ("user.name:alice", &[5]),
        ("Computer:DC1", &[3, 4]),
    ];
    for (q, want) in cases {
        assert_eq!(find(s, a, q), want.to_vec(), "query `{q}`");
    }
    // A range without a field is refused with an error, not answered.
    let r = SearchRequest::new(
        a,
        crate::query::Query {
            filter: crate::query::Expr::Any(crate::query::Pred::Range {
                lower: std::ops::Bound::Unbounded,
                upper: std::ops::Bound::Included("5".into()),
            }),
            stages: vec![],
        },
    );
    assert!(matches!(s.search(&r), Err(StoreError::Query(_))));
}

/// Pipe stages: stats, top, timechart, sort, head, fields.
pub fn stages(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    let s = s.as_ref();
    let a = &["acme"];
    let (cols, rows) = table(s, a, "* | stats count by host");
    assert_eq!(cols, ["host", "count"]);
    assert_eq!(
        rows,
        vec![
            vec![json!("DC1"), json!(2)],
            vec![json!("WS1.acme.local"), json!(1)],
            vec![json!("WS2"), json!(1)],
            vec![json!("fw1"), json!(1)],
            vec![json!("ws1.acme.local"), json!(1)],
        ]
    );
    let (cols, rows) = table(
        s,
        a,
        "EventID:[4624 TO 4625] | stats count, dc(TargetUserName) as users, min(LogonType), \
         max(LogonType), avg(LogonType), sum(LogonType) by host",
    );
    assert_eq!(
        cols,
        [
            "host",
            "count",
            "users",
            "min(LogonType)",
            "max(LogonType)",
            "avg(LogonType)",
            "sum(LogonType)"
        ]
    );
    assert_eq!(
        rows,
        vec![vec![
            json!("DC1"),
            json!(2),
            json!(2),
            json!(3.0),
            json!(10.0),
            json!(6.5),
            json!(13.0)
        ]]
    );
    let (_, rows) = table(s, a, "* | stats count, count(IpAddress) as with_ip");
    assert_eq!(rows, vec![vec![json!(6), json!(2)]]);
    let (_, rows) = table(s, a, "* | stats count by kind, host");
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0], vec![json!("evtx"), json!("DC1"), json!(2)]);
    // `Image` includes a path with a `*` segment (`Event.UserData.*.Image`).
    let (_, rows) = table(s, a, "* | stats count by Image");
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Multi-valued fields count once per value.
    let (_, rows) = table(s, a, "* | stats count by tags");
    assert_eq!(
        rows,
        vec![vec![json!("edr"), json!(1)], vec![json!("prod"), json!(1)]]
    );
    let (cols, rows) = table(s, a, "* | top 2 host");
    assert_eq!(cols, ["host", "count", "percent"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], json!("DC1"));
    assert_eq!(rows[0][1], json!(2));
    assert!((rows[0][2].as_f64().unwrap_or(0.0) - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!(rows[1][0], json!("WS1.acme.local"));
    let (cols, rows) = table(s, a, "* | timechart span=1d count");
    assert_eq!(cols, ["_time", "count"]);
    assert_eq!(
        rows,
        vec![
            vec![json!("2024-10-04T00:00:00Z"), json!(2)],
            vec![json!("2024-10-05T00:00:00Z"), json!(2)],
            vec![json!("2024-10-06T00:00:00Z"), json!(2)],
        ]
    );
    let (cols, rows) = table(
        s,
        &["acme", "globex"],
        "* | timechart span=1d count by tenant",
    );
    assert_eq!(cols, ["_time", "tenant", "count"]);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[2],
        vec![json!("2024-10-05T00:00:00Z"), json!("globex"), json!(1)]
    );
    let (_, rows) = table(s, a, "* | stats count by host | sort -count, host | head 2");
    assert_eq!(
        rows,
        vec![
            vec![json!("DC1"), json!(2)],
            vec![json!("WS1.acme.local"), json!(1)]
        ]
    );
    let (cols, rows) = table(s, a, "* | stats count by host | fields host");
    assert_eq!(cols, ["host"]);
    assert_eq!(rows.len(), 5);
    // Events: sort by a field (events without it last, newest first), head, fields.
    assert_eq!(seqs(s, &req(a, "* | sort LogonType")), [3, 4, 6, 5, 2, 1]);
    assert_eq!(seqs(s, &req(a, "* | sort -LogonType")), [4, 3, 6, 5, 2, 1]);
    assert_eq!(seqs(s, &req(a, "* | head 2")), [6, 5]);
    let res = s
        .search(&req(a, "host:DC1 | fields host, TargetUserName"))
        .expect("search");
    let f = res.hits[0].fields.as_ref().expect("fields");
    assert_eq!(f["host"], vec!["DC1".to_string()]);
    assert_eq!(f["TargetUserName"], vec!["bob".to_string()]);
    // The stored document comes back whole.
    let res = s.search(&req(a, "host:fw1")).expect("search");
    assert_eq!(
        res.hits[0].document["data"]["message"],
        json!("Failed password for root from 198.51.100.9 port 22 ssh2")
    );
    assert_eq!(
        res.hits[0].document["raw"],
        json!("<36>1 - fw1 sshd - - - Failed password for root from 198.51.100.9 port 22 ssh2")
    );
    assert_eq!(res.hits[0].tenant, "acme");
    // Stage errors.
    for bad in [
        "* | head 2 | stats count",
        "* | stats count | top host",
        "* | stats count | sort nothere",
    ] {
        assert!(
            matches!(s.search(&req(a, bad)), Err(StoreError::Query(_))),
            "`{bad}`"
        );
    }
    // Field statistics.
    let fs = s.field_stats(&req(a, "*"), "host", 3).expect("field stats");
    assert_eq!((fs.total, fs.present, fs.distinct), (6, 6, 5));
    assert_eq!(
        fs.top,
        vec![
            ("DC1".into(), 2),
            ("WS1.acme.local".into(), 1),
            ("WS2".into(), 1)
        ]
    );
    let fs = s
        .field_stats(&req(a, "kind:evtx"), "IpAddress", 10)
        .expect("field stats");
    assert_eq!((fs.total, fs.present, fs.distinct), (4, 2, 2));
}

/// Paging, newest-first order and time range edges.
pub fn paging_and_time(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    let s = s.as_ref();
    let mut r = req(&["acme"], "*");
    assert_eq!(seqs(s, &r), [6, 5, 4, 3, 2, 1]);
    r.limit = 2;
    r.offset = 2;
    let res = s.search(&r).expect("search");
    assert_eq!(res.total, 6);
    assert_eq!(res.hits.iter().map(|h| h.seq).collect::<Vec<_>>(), [4, 3]);
    r.offset = 6;
    assert!(s.search(&r).expect("search").hits.is_empty());
    // `from` is inclusive, `to` exclusive, to the nanosecond.
    let t3 = D0 + DAY + 9 * HOUR;
    let mut r = req(&["acme"], "*");
    r.from_ns = Some(t3);
    assert_eq!(find_req(s, &r), [3, 4, 5, 6]);
    r.from_ns = Some(t3 + 1);
    assert_eq!(find_req(s, &r), [4, 5, 6]);
    r.from_ns = None;
    r.to_ns = Some(t3);
    assert_eq!(find_req(s, &r), [1, 2]);
    r.to_ns = Some(t3 + 1);
    assert_eq!(find_req(s, &r), [1, 2, 3]);
    // A whole day, and a range between events.
    r.from_ns = Some(D0 + DAY);
    r.to_ns = Some(D0 + 2 * DAY);
    assert_eq!(find_req(s, &r), [3, 4]);
    r.from_ns = Some(D0 + 12 * HOUR);
    r.to_ns = Some(D0 + DAY);
    assert_eq!(find_req(s, &r), Vec::<u64>::new());
    let (_, rows) = {
        let mut r = req(&["acme"], "* | stats count");
        r.from_ns = Some(D0 + DAY);
        let t = s.search(&r).expect("search").table.expect("table");
        (t.columns, t.rows)
    };
    assert_eq!(rows, vec![vec![json!(4)]]);
}

fn find_req(s: &dyn EventStore, r: &SearchRequest) -> Vec<u64> {
    let mut v = seqs(s, r);
    v.sort();
    v
}

/// A tenant never sees another tenant's events, by any route.
pub fn isolation(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    let s = s.as_ref();
    assert_eq!(find(s, &["acme"], "Image:*mimikatz*"), [2]);
    assert_eq!(find(s, &["globex"], "Image:*mimikatz*"), [7]);
    assert_eq!(find(s, &["acme", "globex"], "Image:*mimikatz*"), [2, 7]);
    assert_eq!(find(s, &[], "*"), Vec::<u64>::new());
    assert_eq!(find(s, &["initech"], "*"), Vec::<u64>::new());
    assert_eq!(
        find(s, &["acme"], "tenant:globex OR coffee"),
        Vec::<u64>::new()
    );
    let res = s
        .search(&req(&["acme", "globex"], "mimikatz"))
        .expect("search");
    let tenants: Vec<&str> = res.hits.iter().map(|h| h.tenant.as_str()).collect();
    assert_eq!(tenants, ["globex", "acme"], "each hit names its tenant");
    let (_, rows) = table(s, &["globex"], "* | stats count by tenant");
    assert_eq!(rows, vec![vec![json!("globex"), json!(2)]]);
    let (_, rows) = table(s, &["globex"], "* | stats count by host");
    assert_eq!(rows.len(), 2);
    let fs = s
        .field_stats(&req(&["globex"], "*"), "user", 10)
        .expect("field stats");
    assert_eq!(fs.top, vec![("GLOBEX\\eve".to_string(), 1)]);
    let mut seen = Vec::new();
    s.scan(&req(&["globex"], "*"), &mut |e| {
        seen.push((e.tenant.clone(), e.seq));
        true
    })
    .expect("scan");
    seen.sort();
    assert_eq!(seen, [("globex".to_string(), 7), ("globex".to_string(), 8)]);
    let mut n = 0;
    s.scan(&req(&["acme"], "*"), &mut |_| {
        n += 1;
        n < 2
    })
    .expect("scan");
    assert_eq!(n, 2, "a scan stops when asked");
}

/// Events already committed are kept once when added again (a replay after a crash).
pub fn exactly_once(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    assert_eq!(s.committed(), WATERMARK);
    s.add(fixtures()).expect("add again");
    s.commit(WATERMARK).expect("commit");
    assert_eq!(
        find(s.as_ref(), &["acme", "globex"], "*"),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let mut extra = fixtures().remove(0);
    extra.seq = 9;
    s.add(vec![extra]).expect("add");
    assert_eq!(
        find(s.as_ref(), &["acme"], "*").len(),
        6,
        "not searchable before commit"
    );
    s.commit(10).expect("commit");
    assert_eq!(s.committed(), 10);
    assert_eq!(find(s.as_ref(), &["acme"], "*"), [1, 2, 3, 4, 5, 6, 9]);
}

/// Retention drops whole days, by age and by size; usage reports per tenant.
pub fn retention(make: &mut dyn FnMut() -> Box<dyn EventStore>) {
    let s = loaded(make);
    let u = s.usage().expect("usage");
    assert_eq!(u.len(), 2);
    assert_eq!(
        (u[0].tenant.as_str(), u[0].partitions, u[0].events),
        ("acme", 3, 6)
    );
    assert_eq!(
        (u[1].tenant.as_str(), u[1].partitions, u[1].events),
        ("globex", 2, 2)
    );
    assert!(u.iter().all(|x| x.bytes > 0));
    let now = D0 + 2 * DAY + 12 * HOUR;
    // acme keeps 2 days (today and yesterday); globex keeps everything.
    let policy = |t: &str| {
        if t == "acme" {
            Retention {
                max_age_days: Some(2),
                max_bytes: None,
            }
        } else {
            Retention::default()
        }
    };
    let dropped = s.retain(&policy, now).expect("retain");
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (
            dropped[0].tenant.as_str(),
            dropped[0].day.as_str(),
            dropped[0].events
        ),
        ("acme", "2024-10-04", 2)
    );
    assert_eq!(find(s.as_ref(), &["acme"], "*"), [3, 4, 5, 6]);
    assert_eq!(find(s.as_ref(), &["globex"], "*"), [7, 8]);
    // By size: the oldest days go until the tenant fits; the newest day always stays.
    let by_size = |_: &str| Retention {
        max_age_days: None,
        max_bytes: Some(1),
    };
    let dropped = s.retain(&by_size, now).expect("retain");
    assert_eq!(dropped.len(), 2);
    assert_eq!(find(s.as_ref(), &["acme"], "*"), [5, 6]);
    assert_eq!(find(s.as_ref(), &["globex"], "*"), [8]);
    let u = s.usage().expect("usage");
    assert_eq!(u.iter().map(|x| x.partitions).sum::<u64>(), 2);
    // New events for a dropped day start a new partition.
    let mut late = fixtures().remove(0);
    late.seq = 20;
    s.add(vec![late]).expect("add");
    s.commit(21).expect("commit");
    assert_eq!(find(s.as_ref(), &["acme"], "*"), [5, 6, 20]);
}
