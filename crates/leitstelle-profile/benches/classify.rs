//! `cargo bench -p leitstelle-profile --bench classify`: what picking an event's profile and
//! deriving its logsource costs (every parsed event pays it once), on EVTX-shaped events of
//! the channels and event ids a Windows fleet sends most.

use std::time::Instant;

use leitstelle_event::SourceKind;
use leitstelle_profile::ProfileSet;
use serde_json::{Value, json};

fn event(channel: &str, id: u64, i: u64) -> Value {
    json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"}},
            "EventID": id, "Version": 5, "Level": 4, "Task": id, "Opcode": 0,
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000000Z"}},
            "EventRecordID": i, "Correlation": null,
            "Execution": {"#attributes": {"ProcessID": 3100, "ThreadID": 4200}},
            "Channel": channel, "Computer": format!("ws{:03}.corp.example", i % 500),
            "Security": {"#attributes": {"UserID": "S-1-5-18"}}
        },
        "EventData": {
            "RuleName": "-", "UtcTime": "2024-05-01 10:00:00.000",
            "ProcessGuid": "{8F0A5B1C-0000-0000-0000-000000000000}", "ProcessId": 4242,
            "Image": "C:\\Windows\\System32\\svchost.exe", "EventType": "SetValue",
            "TargetObject": "HKLM\\SOFTWARE\\Example", "User": "NT AUTHORITY\\SYSTEM"
        }
    }})
}

fn main() {
    let set = ProfileSet::builtin();
    let sources = [
        (
            "Microsoft-Windows-Sysmon/Operational",
            [1u64, 3, 10, 11, 13],
        ),
        ("Security", [4624, 4625, 4688, 4663, 5156]),
        (
            "Microsoft-Windows-PowerShell/Operational",
            [4103, 4104, 4105, 4106, 40961],
        ),
    ];
    let events: Vec<Value> = (0..3000u64)
        .map(|i| {
            let (ch, ids) = sources[(i % 3) as usize];
            event(ch, ids[(i / 3 % 5) as usize], i)
        })
        .collect();
    let rounds = if std::env::args().any(|a| a == "--bench") {
        41
    } else {
        1
    };
    let mut times = Vec::new();
    let mut check = 0usize;
    for _ in 0..rounds {
        let started = Instant::now();
        for e in &events {
            let (i, ls) = set.classify(SourceKind::Evtx, e);
            check += i + ls.categories.len();
        }
        times.push(started.elapsed().as_secs_f64() / events.len() as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "classify (profile and logsource) of EVTX-shaped events: {:.3} µs/event (median of {rounds} rounds of {}; checksum {check})",
        times[times.len() / 2] * 1e6,
        events.len()
    );
}
