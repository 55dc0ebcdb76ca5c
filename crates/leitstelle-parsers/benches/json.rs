//! Parsing Sysmon-shaped JSON records (about 1.4 KB, as the server benchmark sends them)
//! into event trees, and freeing the trees: the intake's per-record cost before detection.
//! `cargo bench -p leitstelle-parsers --bench json` prints µs per record (median of rounds),
//! for `leitstelle_parsers::parse` and, in the same run, for `serde_json::from_str::<Value>`
//! alone as the reference it is compared with.

use std::hint::black_box;
use std::time::Instant;

use leitstelle_parsers::{Format, ParseContext, parse};

fn record(i: usize) -> String {
    let images = [
        r"C:\Windows\System32\svchost.exe",
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"C:\Windows\System32\cmd.exe",
    ];
    let image = images[i % images.len()];
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
            "EventID": 1, "Version": 5, "Level": 4, "Task": 1, "Opcode": 0,
            "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000000Z"}},
            "EventRecordID": 100_000 + i,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": format!("ws{:03}.corp.example", i % 200),
            "Security": {"#attributes": {"UserID": "S-1-5-18"}}
        },
        "EventData": {
            "RuleName": "-", "UtcTime": "2024-05-01 10:00:00.000",
            "ProcessGuid": "{5770385F-0000-0000-0000-000000000000}", "ProcessId": 4000 + i % 1000,
            "Image": image, "FileVersion": "10.0.19041.1", "Description": "Windows process",
            "Product": "Microsoft Windows Operating System", "Company": "Microsoft Corporation",
            "OriginalFileName": image.rsplit('\\').next(),
            "CommandLine": format!("{image} --job {i} --flag value"),
            "CurrentDirectory": r"C:\Windows\system32\", "User": r"NT AUTHORITY\SYSTEM",
            "LogonGuid": "{5770385F-0000-0000-E703-000000000000}", "LogonId": "0x3e7",
            "TerminalSessionId": 0, "IntegrityLevel": "System",
            "Hashes": "SHA1=0123456789ABCDEF0123456789ABCDEF01234567,MD5=0123456789ABCDEF0123456789ABCDEF,SHA256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "ParentProcessGuid": "{5770385F-0000-0000-0000-000000000001}", "ParentProcessId": 600,
            "ParentImage": r"C:\Windows\System32\services.exe",
            "ParentCommandLine": r"C:\Windows\system32\services.exe", "ParentUser": r"NT AUTHORITY\SYSTEM"
        }
    }})
    .to_string()
}

/// Median µs per record of each of `fs`, their rounds interleaved so that drift on a noisy
/// machine hits all of them alike.
fn medians_us<const K: usize>(rounds: usize, n: usize, fs: &mut [&mut dyn FnMut(); K]) -> [f64; K] {
    let mut times: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (f, t) in fs.iter_mut().zip(&mut times) {
            let start = Instant::now();
            f();
            t.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[rounds / 2]
    })
}

fn main() {
    let records: Vec<String> = (0..2000).map(record).collect();
    let bytes = records.iter().map(String::len).sum::<usize>() / records.len();
    let ctx = ParseContext::new(2024);
    const ROUNDS: usize = 31;
    let [ours, serde] = medians_us(
        ROUNDS,
        records.len(),
        &mut [
            &mut || {
                for r in &records {
                    black_box(parse(Format::Json, r.as_bytes(), &ctx).ok());
                }
            },
            &mut || {
                for r in &records {
                    black_box(serde_json::from_str::<serde_json::Value>(r).ok());
                }
            },
        ],
    );
    println!(
        "records of {bytes} bytes, parsed and freed on one thread (median of {ROUNDS} interleaved rounds of {}):",
        records.len()
    );
    println!("  leitstelle_parsers::parse (tree, checks)  {ours:.2} µs/record");
    println!("  serde_json::from_str::<Value> (reference) {serde:.2} µs/record");
    println!(
        "  ratio                                     {:.3}",
        ours / serde
    );
}
