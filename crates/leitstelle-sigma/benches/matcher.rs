//! `cargo bench -p leitstelle-sigma`: events per second per core through the compiled
//! matcher, with every SigmaHQ rule under `rules/windows` loaded (from
//! `$LEITSTELLE_SHARED_DATA/sigma` or `../shared/data/sigma`; falls back to the repository's
//! example rules with a note), on Sysmon-shaped JSON events of about 1 KB already in memory.
//! Also runs the reference interpreter on a sample for comparison.

use std::path::{Path, PathBuf};
use std::time::Instant;

use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch, reference};

fn rule_texts() -> (String, Vec<(String, String)>) {
    let base = std::env::var_os("LEITSTELLE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let mut dir = base.join("sigma/rules/windows");
    if !dir.is_dir() {
        eprintln!("NOTE: {} absent; using examples/rules", dir.display());
        dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules");
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                out.push((p.display().to_string(), t));
            }
        }
    }
    (dir.display().to_string(), out)
}

fn events(profiles: &ProfileSet) -> Vec<Event> {
    let images = [
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\explorer.exe",
        "C:\\Users\\alice\\AppData\\Local\\Temp\\setup.exe",
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\System32\\rundll32.exe",
        "C:\\Windows\\System32\\conhost.exe",
    ];
    let cmds = [
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=en-US --num-raster-threads=4 --enable-main-frame-before-activation",
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\scripts\\inventory.ps1",
        "C:\\Windows\\Explorer.EXE",
        "\"C:\\Users\\alice\\AppData\\Local\\Temp\\setup.exe\" /S /D=C:\\Program Files\\Tool",
        "cmd.exe /c echo hello > C:\\temp\\out.txt",
        "rundll32.exe C:\\Windows\\System32\\shell32.dll,Control_RunDLL",
        "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
    ];
    (0..std::env::var("BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000))
        .map(|i| {
            let k = i % images.len();
            let data = serde_json::json!({"Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
                    "EventID": 1, "Version": 5, "Level": 4, "Task": 1, "Opcode": 0,
                    "Keywords": "0x8000000000000000",
                    "TimeCreated": {"#attributes": {"SystemTime": "2024-05-01T10:00:00.000000Z"}},
                    "EventRecordID": 100_000 + i, "Correlation": null,
                    "Execution": {"#attributes": {"ProcessID": 3044, "ThreadID": 4080}},
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": format!("ws{:03}.corp.example", i % 200),
                    "Security": {"#attributes": {"UserID": "S-1-5-18"}}
                },
                "EventData": {
                    "RuleName": "-", "UtcTime": "2024-05-01 10:00:00.000",
                    "ProcessGuid": "{747F3D96-6A3C-5E68-0000-00103B4A1A00}", "ProcessId": 4000 + i % 997,
                    "Image": images[k], "FileVersion": "10.0.19041.1", "Description": "Windows component",
                    "Product": "Microsoft® Windows® Operating System", "Company": "Microsoft Corporation",
                    "OriginalFileName": images[k].rsplit('\\').next().unwrap_or(""),
                    "CommandLine": cmds[k], "CurrentDirectory": "C:\\Windows\\system32\\",
                    "User": "CORP\\alice", "LogonGuid": "{747F3D96-6A3C-5E68-0000-0020E7030000}",
                    "LogonId": "0x3e7", "TerminalSessionId": 0, "IntegrityLevel": "System",
                    "Hashes": "SHA1=3F64C98F22DA277A07CAB248C44C56EEDB796A81,MD5=8A0A29438052FAED8A2532DA50455756,SHA256=0E7E3A4A6F2C5DAB0F7C6C5E0FB3F8A3A7CA2E7F4C7E1E3A9D3C1A0B2E4F6A8C",
                    "ParentProcessGuid": "{747F3D96-661E-5E68-0000-0010F5A20000}", "ParentProcessId": 612,
                    "ParentImage": "C:\\Windows\\System32\\services.exe",
                    "ParentCommandLine": "C:\\Windows\\system32\\services.exe", "ParentUser": "NT AUTHORITY\\SYSTEM"
                }}});
            let mut ev = Event::new(SourceKind::Json, data);
            (ev.profile, ev.logsource) = profiles.classify(ev.source, &ev.data);
            ev
        })
        .collect()
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent; keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (dir, texts) = rule_texts();
    let started = Instant::now();
    let set = RuleSet::load(
        texts.iter().map(|(p, t)| (p.as_str(), t.as_str())),
        &LoadOptions::default(),
    );
    let load = started.elapsed();
    let profiles = ProfileSet::builtin();
    let mut set = set;
    // BENCH_EXCLUDE=id1,id2 leaves rules out (to measure what one rule costs).
    if let Ok(ex) = std::env::var("BENCH_EXCLUDE") {
        let ex: Vec<&str> = ex.split(',').collect();
        set.rules
            .retain(|r| !r.id.as_deref().is_some_and(|id| ex.contains(&id)));
    }
    let rules_copy = set.rules.clone();
    let n_rules = set.rules.len();
    let started = Instant::now();
    let engine = Engine::compile(set.rules, &profiles);
    let compile = started.elapsed();
    let evs = events(&profiles);
    let avg_bytes: usize = evs
        .iter()
        .take(100)
        .map(|e| e.data.to_string().len())
        .sum::<usize>()
        / 100;
    let mut scratch = Scratch::new();
    // Warm up (builds the bucket).
    let mut hits = 0usize;
    for e in evs.iter().take(100) {
        hits += engine.matches(e, &mut scratch).len();
    }
    let rounds = if quick { 1 } else { 20 };
    let started = Instant::now();
    for _ in 0..rounds {
        for e in &evs {
            hits += engine.matches(e, &mut scratch).len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let n = (rounds * evs.len()) as f64;
    let c = scratch.counters();
    let per = |x: u64| x as f64 / c.events.max(1) as f64;
    println!(
        "per event: {:.1} values ({:.0} bytes) scanned, {:.1} needle hits, {:.1} rules evaluated",
        per(c.values_scanned),
        per(c.bytes_scanned),
        per(c.needle_hits),
        per(c.rules_evaluated)
    );
    let sample = if quick { 20 } else { 100 };
    let started = Instant::now();
    for e in evs.iter().take(sample) {
        hits += reference::matches(&rules_copy, &profiles, e).len();
    }
    let ref_secs = started.elapsed().as_secs_f64();
    println!(
        "rules: {n_rules} from {dir} (load {:.0} ms, compile {:.0} ms, {} shared predicates)",
        load.as_secs_f64() * 1e3,
        compile.as_secs_f64() * 1e3,
        engine.predicate_count()
    );
    let stats = engine.bucket_stats(&evs[0].logsource);
    println!(
        "bucket {}: {} rules, {} evaluated for every event, {} fields scanned, {} needles, automata {:.1} MB",
        evs[0].logsource,
        stats.rules,
        stats.always,
        stats.fields_scanned,
        stats.needles,
        stats.automata_bytes as f64 / 1e6
    );
    println!("scanned for every event: {}", stats.eager_fields.join(", "));
    if std::env::var_os("SHOW_ALWAYS").is_some() {
        for t in &stats.always_titles {
            println!("  always: {t}");
        }
    }
    println!(
        "events: {} Sysmon-shaped JSON, about {avg_bytes} bytes each",
        evs.len()
    );
    println!(
        "compiled matcher: {:.0} events/s on one core ({:.2} µs/event)",
        n / secs,
        secs * 1e6 / n
    );
    println!(
        "reference interpreter: {:.0} events/s ({:.1} µs/event) (checksum {hits})",
        sample as f64 / ref_secs,
        ref_secs * 1e6 / sample as f64
    );
}
