//! `cargo bench -p leitstelle-sigma`: events per second per core through the compiled
//! matcher, with every SigmaHQ rule under `rules/windows` loaded (from
//! `$LEITSTELLE_SHARED_DATA/sigma` or `../shared/data/sigma`; falls back to the repository's
//! example rules with a note), on Sysmon-shaped JSON events already in memory (about 1.6 KB each
//! as JSON: every field of a real record, above the "about 1 KB").
//! Also runs the reference interpreter on a sample for comparison.

use std::path::{Path, PathBuf};
use std::time::Instant;

use leitstelle_event::{Event, SourceKind};
use leitstelle_profile::ProfileSet;
use leitstelle_sigma::{Engine, LoadOptions, RuleSet, Scratch, reference};

/// The allocator the `leitstelle` binary uses, so events are laid out in memory as they are
/// in `hunt` and `serve`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn hex(&mut self, digits: usize) -> String {
        let v = self.next();
        format!("{v:016X}")[..digits.min(16)].to_string()
    }
    fn guid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Sysmon process creations with the value spread of a real fleet: command lines carry
/// per-process parts (renderer ids, temp names, GUIDs, PIDs) so almost every one is
/// unique; images, parents, users and directories come from pools of realistic size; every
/// event has its own process GUID, time and record id. (An earlier version cycled through 8
/// fixed events, which flattered any per-value caching.)
fn events(profiles: &ProfileSet) -> Vec<Event> {
    const SYS: &str = "C:\\Windows\\System32\\";
    let bins = [
        "svchost.exe",
        "conhost.exe",
        "cmd.exe",
        "rundll32.exe",
        "taskhostw.exe",
        "dllhost.exe",
        "WmiPrvSE.exe",
        "SearchProtocolHost.exe",
        "SearchFilterHost.exe",
        "backgroundTaskHost.exe",
        "RuntimeBroker.exe",
        "sc.exe",
        "net.exe",
        "net1.exe",
        "reg.exe",
        "schtasks.exe",
        "wevtutil.exe",
        "msiexec.exe",
        "consent.exe",
        "smartscreen.exe",
        "wermgr.exe",
        "WindowsPowerShell\\v1.0\\powershell.exe",
        "sppsvc.exe",
        "ipconfig.exe",
        "whoami.exe",
        "tasklist.exe",
        "gpupdate.exe",
        "certutil.exe",
        "wbem\\WMIC.exe",
        "compattelrunner.exe",
    ];
    let apps = [
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Program Files\\Mozilla Firefox\\firefox.exe",
        "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",
        "C:\\Program Files\\Git\\cmd\\git.exe",
        "C:\\Program Files\\7-Zip\\7z.exe",
        "C:\\Program Files\\Windows Defender\\MsMpEng.exe",
        "C:\\Program Files\\Notepad++\\notepad++.exe",
        "C:\\Program Files\\Python311\\python.exe",
        "C:\\Program Files\\Zoom\\bin\\Zoom.exe",
        "C:\\Program Files\\Microsoft\\Teams\\current\\Teams.exe",
        "C:\\Windows\\explorer.exe",
    ];
    let parents = [
        (
            "C:\\Windows\\System32\\services.exe",
            "C:\\Windows\\system32\\services.exe",
        ),
        ("C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE"),
        (
            "C:\\Windows\\System32\\svchost.exe",
            "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        ),
        (
            "C:\\Windows\\System32\\svchost.exe",
            "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
        ),
        (
            "C:\\Windows\\System32\\cmd.exe",
            "C:\\Windows\\system32\\cmd.exe /c \"C:\\ProgramData\\scripts\\logon.cmd\"",
        ),
        (
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\scripts\\inventory.ps1",
        ),
        (
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\"",
        ),
        ("C:\\Windows\\System32\\wininit.exe", "wininit.exe"),
        (
            "C:\\Windows\\System32\\userinit.exe",
            "C:\\Windows\\system32\\userinit.exe",
        ),
        (
            "C:\\Program Files\\Microsoft VS Code\\Code.exe",
            "\"C:\\Program Files\\Microsoft VS Code\\Code.exe\"",
        ),
    ];
    let services = [
        "netsvcs -p -s Schedule",
        "LocalServiceNetworkRestricted -p",
        "DcomLaunch -p",
        "RPCSS -p",
        "wsappx -p -s AppXSvc",
        "NetworkService -p -s Dnscache",
        "LocalSystemNetworkRestricted -p -s SysMain",
        "UnistackSvcGroup",
        "utcsvc -p",
        "appmodel -p -s StateRepository",
    ];
    let users = 60;
    let hosts = 500;
    let n = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i: usize| {
            let user = rng.below(users);
            let host = rng.below(hosts);
            let pid = 1000 + rng.below(60000);
            let (image, cmd) = match rng.below(10) {
                // System binaries with per-process arguments.
                0..=4 => {
                    let b = bins[rng.below(bins.len())];
                    let image = format!("{SYS}{b}");
                    let cmd = match b {
                        "svchost.exe" => format!("C:\\Windows\\system32\\svchost.exe -k {}", services[rng.below(services.len())]),
                        "conhost.exe" => format!("\\??\\C:\\Windows\\system32\\conhost.exe 0x{} -ForceV1", rng.hex(8)),
                        "cmd.exe" => format!("C:\\Windows\\system32\\cmd.exe /c echo {} > C:\\Users\\user{user}\\AppData\\Local\\Temp\\{}.tmp", rng.hex(6), rng.hex(8)),
                        "rundll32.exe" => format!("C:\\Windows\\system32\\rundll32.exe C:\\Windows\\System32\\shell32.dll,SHCreateLocalServerRunDll {} -Embedding", rng.guid()),
                        "dllhost.exe" => format!("C:\\Windows\\system32\\DllHost.exe /Processid:{}", rng.guid()),
                        "msiexec.exe" => format!("C:\\Windows\\system32\\msiexec.exe /V /i C:\\Windows\\Installer\\{}.msi /qn", rng.hex(7)),
                        "schtasks.exe" => format!("schtasks.exe /query /tn \\Microsoft\\Windows\\Task{} /fo LIST", rng.below(400)),
                        "reg.exe" => format!("reg.exe query HKLM\\SOFTWARE\\Vendor\\App{} /v Version", rng.below(300)),
                        other => {
                            let digits = rng.below(12) + 1;
                            format!("{other} {}", rng.hex(digits))
                        }
                    };
                    (image, cmd)
                }
                // Applications, browsers with per-process switches.
                5..=8 => {
                    let a = apps[rng.below(apps.len())];
                    let cmd = if a.ends_with("chrome.exe") || a.ends_with("msedge.exe") || a.ends_with("Code.exe") || a.ends_with("Teams.exe") {
                        format!("\"{a}\" --type=renderer --lang=en-US --renderer-client-id={} --field-trial-handle={},i,{},{},262144 --enable-features=Foo{} /prefetch:1", rng.below(5000), rng.below(9000), rng.next(), rng.next(), rng.below(40))
                    } else if a.ends_with("python.exe") || a.ends_with("git.exe") || a.ends_with("7z.exe") {
                        format!("\"{a}\" C:\\Users\\user{user}\\work\\project{}\\{}.dat", rng.below(50), rng.hex(10))
                    } else {
                        format!("\"{a}\" /n \"C:\\Users\\user{user}\\Documents\\report-{}.docx\"", rng.below(100_000))
                    };
                    (a.to_string(), cmd)
                }
                // One-off installers and tools from the user's temp folder.
                _ => {
                    let name = rng.hex(8);
                    let image = format!("C:\\Users\\user{user}\\AppData\\Local\\Temp\\{name}\\setup.exe");
                    let cmd = format!("\"{image}\" /S /D=C:\\Program Files\\Tool{}", rng.below(1000));
                    (image, cmd)
                }
            };
            let (pimage, pcmd) = parents[rng.below(parents.len())];
            let file = image.rsplit('\\').next().unwrap_or("").to_string();
            let key = image.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            let hashes = format!("SHA1={:016X}{:016X}{:08X},MD5={:016X}{:016X},SHA256={:016X}{:016X}{:016X}{:016X}",
                key, key.rotate_left(7), key as u32, key.rotate_left(13), key.rotate_left(17),
                key.rotate_left(19), key.rotate_left(23), key.rotate_left(29), key.rotate_left(31));
            let secs = i as u64 / 20;
            let time = format!("2024-05-01 {:02}:{:02}:{:02}.{:03}", 10 + secs / 3600 % 14, secs / 60 % 60, secs % 60, rng.below(1000));
            let data = serde_json::json!({"Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
                    "EventID": 1, "Version": 5, "Level": 4, "Task": 1, "Opcode": 0,
                    "Keywords": "0x8000000000000000",
                    "TimeCreated": {"#attributes": {"SystemTime": time.replace(' ', "T") + "Z"}},
                    "EventRecordID": 100_000 + i, "Correlation": null,
                    "Execution": {"#attributes": {"ProcessID": 3044, "ThreadID": 4080}},
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": format!("ws{host:03}.corp.example"),
                    "Security": {"#attributes": {"UserID": "S-1-5-18"}}
                },
                "EventData": {
                    "RuleName": "-", "UtcTime": time,
                    "ProcessGuid": rng.guid(), "ProcessId": pid,
                    "Image": image, "FileVersion": format!("10.0.19041.{}", key % 4000), "Description": format!("{} component", file.trim_end_matches(".exe")),
                    "Product": "Microsoft® Windows® Operating System", "Company": "Microsoft Corporation",
                    "OriginalFileName": file,
                    "CommandLine": cmd, "CurrentDirectory": if user.is_multiple_of(3) { format!("C:\\Users\\user{user}\\") } else { "C:\\Windows\\system32\\".to_string() },
                    "User": format!("CORP\\user{user}"), "LogonGuid": format!("{{747F3D96-6A3C-5E68-0000-0020{:08X}}}", user * 7919 + host),
                    "LogonId": format!("0x{:x}", 0x3e7 + user * 4099 + host), "TerminalSessionId": user % 3, "IntegrityLevel": (["System", "High", "Medium"][user % 3]),
                    "Hashes": hashes,
                    "ParentProcessGuid": rng.guid(), "ParentProcessId": 500 + rng.below(9000),
                    "ParentImage": pimage,
                    "ParentCommandLine": pcmd, "ParentUser": if user.is_multiple_of(3) { "NT AUTHORITY\\SYSTEM".to_string() } else { format!("CORP\\user{user}") }
                }}});
            let mut ev = Event::new(SourceKind::Json, data);
            (ev.profile, ev.logsource) = profiles.classify(ev.source, &ev.data);
            ev
        })
        .collect()
}

/// Reads an event as classifying it leaves it: its tree ([`touch`]) and its logsource.
fn read(e: &Event) -> usize {
    touch(&e.data)
        + e.logsource
            .categories
            .iter()
            .map(|c| last_byte(c))
            .sum::<usize>()
}

/// The last byte of a text (reading it costs what reading the text's memory costs).
fn last_byte(s: &str) -> usize {
    usize::from(s.as_bytes().last().copied().unwrap_or(0))
}

/// Reads one byte of every key and string of a value (the memory a field lookup touches).
fn touch(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m.iter().map(|(k, v)| last_byte(k) + touch(v)).sum(),
        serde_json::Value::Array(a) => a.iter().map(touch).sum(),
        serde_json::Value::String(s) => last_byte(s),
        _ => 1,
    }
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
    // BENCH_NO_MEMO=1 scans every value (with few events every value repeats, and the memo
    // would answer nearly all of them).
    let mut scratch = if std::env::var_os("BENCH_NO_MEMO").is_some() {
        Scratch::without_value_memo()
    } else {
        Scratch::new()
    };
    // Warm up (builds the bucket).
    let mut hits = 0usize;
    for e in evs.iter().take(100) {
        hits += engine.matches(e, &mut scratch).len();
    }
    let rounds = if quick {
        1
    } else {
        std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20)
    };
    // The floor: reading every leaf of every event once (what any matcher must at least
    // touch when a keyword rule applies), in the same memory state as the matcher's run.
    let mut floor = Vec::with_capacity(rounds);
    let mut times = Vec::with_capacity(rounds);
    // Each event read (`read`) just before it is matched: in `hunt` and `serve` an event is
    // matched right after it was parsed, with its tree in the cache. Its cost less that of
    // the reading alone is the matcher's on events in cache.
    let mut read_then_match = Vec::with_capacity(rounds);
    let mut total = 0.0;
    for _ in 0..rounds {
        let started = Instant::now();
        let mut bytes = 0usize;
        for e in &evs {
            bytes += read(e);
        }
        floor.push(started.elapsed().as_secs_f64());
        hits += bytes & 1;
        let started = Instant::now();
        for e in &evs {
            hits += engine.matches(e, &mut scratch).len();
        }
        let t = started.elapsed().as_secs_f64();
        times.push(t);
        total += t;
        let started = Instant::now();
        for e in &evs {
            hits += read(e) & 1;
            hits += engine.matches(e, &mut scratch).len();
        }
        read_then_match.push(started.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (floor, round) = (median(&mut floor), median(&mut times));
    let in_cache = median(&mut read_then_match) - floor;
    let secs = total;
    let n = (rounds * evs.len()) as f64;
    let c = scratch.counters();
    let per = |x: u64| x as f64 / c.events.max(1) as f64;
    println!(
        "per event: {:.1} values ({:.0} bytes) scanned, {:.1} from the value memo, {:.1} needle hits, {:.1} rules evaluated",
        per(c.values_scanned),
        per(c.bytes_scanned),
        per(c.values_memoised),
        per(c.needle_hits),
        per(c.rules_evaluated)
    );
    // BENCH_NO_REFERENCE=1 leaves the reference out (for a profile of the matcher alone).
    let sample = match (quick, std::env::var_os("BENCH_NO_REFERENCE")) {
        (_, Some(_)) => 0,
        (true, None) => 20,
        (false, None) => 100,
    };
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
    let distinct = |field: &str| {
        evs.iter()
            .filter_map(|e| e.data["Event"]["EventData"][field].as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    println!(
        "events: {} Sysmon-shaped JSON, about {avg_bytes} bytes each; distinct CommandLine {}, Image {}, ParentCommandLine {}",
        evs.len(),
        distinct("CommandLine"),
        distinct("Image"),
        distinct("ParentCommandLine")
    );
    println!(
        "compiled matcher: {:.0} events/s on one core ({:.2} µs/event)",
        n / secs,
        secs * 1e6 / n
    );
    println!(
        "median round: {:.0} events/s ({:.2} µs/event); reading every leaf alone: {:.2} µs/event",
        evs.len() as f64 / round,
        round * 1e6 / evs.len() as f64,
        floor * 1e6 / evs.len() as f64
    );
    println!(
        "events in cache (each read just before it is matched, as in hunt and serve): {:.0} events/s ({:.2} µs/event)",
        evs.len() as f64 / in_cache,
        in_cache * 1e6 / evs.len() as f64
    );
    println!(
        "reference interpreter: {:.0} events/s ({:.1} µs/event) (checksum {hits})",
        sample as f64 / ref_secs,
        ref_secs * 1e6 / sample.max(1) as f64
    );
}
