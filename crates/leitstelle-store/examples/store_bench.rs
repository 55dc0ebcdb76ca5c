//! Benchmark of the embedded event store ([`TantivyStore`]) with the figures the store issue
//! asks for: indexing rate while searches run, a needle search for a rare value, `stats count
//! by host` over everything, disk used per million events and peak memory.
//!
//! ```text
//! cargo run --release -p leitstelle-store --example store_bench -- [--events N] [--dir PATH]
//!     [--keep] [--batch N] [--commit-secs S] [--hosts N] [--tenants N]
//! store_bench --sample                      # print a generated event and a needle
//! store_bench --dir PATH --query TEXT...    # time queries on a store kept with --dir/--keep
//! ```
//!
//! Events are Sysmon process creations (EventID 1) in the EVTX tree shape with every field of
//! a real record, about 1.5 KB of JSON each (the average is printed), generated
//! deterministically (xorshift) with times spread over the two days before now, increasing
//! with the sequence number (so partitions are days). Three "needle" events carry a command
//! line and a hash that no other event has.
//!
//! The main thread generates batches and adds them, committing every `--commit-secs` the
//! way the server does; meanwhile a second thread runs needle searches every 200 ms. Then
//! the finished store is queried twice: as indexing left it (writers open, merges maybe
//! still running), and after a commit that closes the idle writers (waiting for their merges)
//! and a reopen (the state after a restart). Every query result is checked; a wrong result
//! prints `CHECK FAILED` and the exit status is 1.
//!
//! `--dir` must be on the disk to be measured (the default is a fresh folder under /tmp,
//! removed at the end unless `--keep`; a given `--dir` must be empty or absent and is kept).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leitstelle_profile::ProfileSet;
use leitstelle_store::query::parse;
use leitstelle_store::{
    EventStore, NewEvent, SearchRequest, SearchResult, TantivyOptions, TantivyStore, day_name,
    day_of,
};
use serde_json::{Value, json};

const NS: i64 = 1_000_000_000;
const SPAN_NS: i64 = 2 * 86_400 * NS;
const USERS: usize = 3_000;
const NEEDLES: usize = 3;
const NEEDLE_CMD: &str = r"C:\Users\Public\needle-7f3a9c.exe -x";
const NEEDLE_HASHES: &str = "SHA256=7F3A9C0D1E2B4A6C8E0F1A3B5C7D9E1F2A4B6C8D0E1F3A5B7C9D1E2F4A6B8C0D,\
                             MD5=7F3A9C0D1E2B4A6C8E0F1A3B5C7D9E1F";
const SEARCH_PAUSE: Duration = Duration::from_millis(200);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// (image, description, original file name, command line template). `{n}` is replaced by a
/// random number, `{g}` by a random GUID.
const EXES: &[(&str, &str, &str, &str)] = &[
    (
        r"C:\Windows\System32\svchost.exe",
        "Host Process for Windows Services",
        "svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule /instance:{n}",
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        "Windows Command Processor",
        "Cmd.Exe",
        r#"C:\Windows\system32\cmd.exe /c "copy C:\ProgramData\Temp\{g}.tmp C:\Users\Public\out-{n}.log""#,
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "Windows PowerShell",
        "PowerShell.EXE",
        r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\ProgramData\scripts\inventory-{n}.ps1",
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        "Console Window Host",
        "CONHOST.EXE",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1 -session {n}",
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        "Windows host process (Rundll32)",
        "RUNDLL32.EXE",
        r"C:\Windows\system32\rundll32.exe C:\Windows\System32\shell32.dll,Control_RunDLL {g}",
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        "Google Chrome",
        "chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id={n}"#,
    ),
    (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        "Microsoft Edge",
        "msedge.exe",
        r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --field-trial-handle={n}"#,
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        "WMI Provider Host",
        "Wmiprvse.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding -pid {n}",
    ),
    (
        r"C:\Windows\System32\dllhost.exe",
        "COM Surrogate",
        "dllhost.exe",
        r"C:\Windows\system32\DllHost.exe /Processid:{g}",
    ),
    (
        r"C:\Windows\System32\backgroundTaskHost.exe",
        "Background Task Host",
        "backgroundTaskHost.exe",
        r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:App.AppX{n}.mca"#,
    ),
    (
        r"C:\Windows\System32\RuntimeBroker.exe",
        "Runtime Broker",
        "RuntimeBroker.exe",
        r"C:\Windows\System32\RuntimeBroker.exe -Embedding {g}",
    ),
    (
        r"C:\Windows\System32\SearchProtocolHost.exe",
        "Microsoft Windows Search Protocol Host",
        "SearchProtocolHost.exe",
        r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n} Global\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 "Software\Microsoft\Windows Search""#,
    ),
    (
        r"C:\Windows\System32\net.exe",
        "Net Command",
        "net.exe",
        r"net use \\fs{n}.corp.example\share /persistent:no",
    ),
    (
        r"C:\Windows\System32\whoami.exe",
        "whoami - displays logged on user information",
        "whoami.exe",
        r"whoami /all /fo csv /nh {n}",
    ),
    (
        r"C:\Windows\System32\ipconfig.exe",
        "IP Configuration Utility",
        "ipconfig.exe",
        r"ipconfig /all /compartment:{n}",
    ),
    (
        r"C:\Windows\System32\reg.exe",
        "Registry Console Tool",
        "reg.exe",
        r"reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run /s /f {g}",
    ),
    (
        r"C:\Windows\System32\schtasks.exe",
        "Task Scheduler Configuration Tool",
        "schtasks.exe",
        r"schtasks /query /tn \Microsoft\Windows\Updates\{g} /v /fo list",
    ),
    (
        r"C:\Windows\System32\msiexec.exe",
        "Windows installer",
        "msiexec.exe",
        r"C:\Windows\system32\msiexec.exe /V /i C:\Windows\Installer\{n}.msi",
    ),
    (
        r"C:\Windows\System32\notepad.exe",
        "Notepad",
        "NOTEPAD.EXE",
        r#""C:\Windows\system32\NOTEPAD.EXE" C:\Users\Public\Documents\notes-{n}.txt"#,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        "Microsoft Excel",
        "Excel.exe",
        r#""C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE" /dde "C:\Users\Public\Documents\report-{n}.xlsx""#,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        "Microsoft Word",
        "WinWord.exe",
        r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\Public\Documents\memo-{n}.docx" /o """#,
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        "Microsoft Outlook",
        "Outlook.exe",
        r#""C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle /select outlook:{g}"#,
    ),
    (
        r"C:\Program Files\Git\mingw64\bin\git.exe",
        "Git for Windows",
        "git.exe",
        r"git.exe fetch --progress origin refs/heads/feature-{n}",
    ),
    (
        r"C:\Program Files\Python311\python.exe",
        "Python",
        "python.exe",
        r"python.exe C:\tools\collect.py --run {g}",
    ),
    (
        r"C:\Windows\System32\curl.exe",
        "The curl executable",
        "curl.exe",
        r"curl.exe -s -o C:\Users\Public\Downloads\pkg-{n}.zip https://updates.example.com/pkg/{g}",
    ),
    (
        r"C:\Windows\System32\tasklist.exe",
        "Lists the current running tasks",
        "tasklist.exe",
        r#"tasklist /v /fi "PID eq {n}""#,
    ),
    (
        r"C:\Windows\System32\sc.exe",
        "Service Control Manager Configuration Tool",
        "sc.exe",
        r"sc.exe query state= all type= service bufsize= {n}",
    ),
    (
        r"C:\Windows\System32\WerFault.exe",
        "Windows Problem Reporting",
        "WerFault.exe",
        r"C:\Windows\system32\WerFault.exe -u -p {n} -s {n}",
    ),
    (
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2205.7-0\MpCmdRun.exe",
        "Microsoft Malware Protection Command Line Utility",
        "MpCmdRun.exe",
        r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2205.7-0\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges -Reinvoke {n}"#,
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        "Host Process for Windows Tasks",
        "taskhostw.exe",
        r"taskhostw.exe KEYROAMING {g}",
    ),
];
/// Hash variants (file versions) per image.
const HASH_VARIANTS: usize = 8;

struct Args {
    events: u64,
    dir: Option<PathBuf>,
    keep: bool,
    batch: usize,
    commit_secs: f64,
    hosts: usize,
    tenants: usize,
    sample: bool,
    queries: Vec<String>,
    runs: usize,
}

const USAGE: &str = "usage: store_bench [--events N (10000000)] [--dir PATH] [--keep] \
                     [--batch N (5000)] [--commit-secs S (1)] [--hosts N (500)] [--tenants N (1)] [--sample (print two events and exit)]\n       store_bench --dir PATH --query TEXT [--query TEXT...] [--runs N (5)] \
                     (times queries on a kept store, no checks)";

fn die(msg: &str) -> ! {
    eprintln!("store_bench: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> T {
    text.replace('_', "")
        .parse()
        .unwrap_or_else(|_| die(&format!("{flag}: not a number: {text:?}")))
}

fn parse_args() -> Args {
    let mut a = Args {
        events: 10_000_000,
        dir: None,
        keep: false,
        batch: 5000,
        commit_secs: 1.0,
        hosts: 500,
        tenants: 1,
        sample: false,
        queries: Vec::new(),
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--events" => a.events = number(&flag, &value()),
            "--dir" => a.dir = Some(PathBuf::from(value())),
            "--keep" => a.keep = true,
            "--sample" => a.sample = true,
            "--query" => a.queries.push(value()),
            "--runs" => a.runs = number(&flag, &value()),
            "--batch" => a.batch = number(&flag, &value()),
            "--commit-secs" => a.commit_secs = number(&flag, &value()),
            "--hosts" => a.hosts = number(&flag, &value()),
            "--tenants" => a.tenants = number(&flag, &value()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            other => die(&format!("unknown argument {other:?}")),
        }
    }
    if a.events < NEEDLES as u64 {
        die(&format!("--events must be at least {NEEDLES}"));
    }
    if !a.queries.is_empty() && a.dir.is_none() {
        die("--query needs the --dir of a kept store");
    }
    if a.batch == 0 || a.runs == 0 || a.hosts == 0 || a.tenants == 0 {
        die("--batch, --hosts and --tenants must be positive");
    }
    if !(a.commit_secs.is_finite() && a.commit_secs >= 0.0) {
        die("--commit-secs must be a non-negative number");
    }
    a
}

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut bits = 0u64;
        for i in 0..digits {
            if i % 16 == 0 {
                bits = self.next();
            }
            out.push(HEX[(bits & 15) as usize] as char);
            bits >>= 4;
        }
    }

    fn guid(&mut self) -> String {
        let mut s = String::with_capacity(38);
        s.push('{');
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                s.push('-');
            }
            self.hex(&mut s, n);
        }
        s.push('}');
        s
    }
}

struct Host {
    name: String,
    parent_guid: String,
    parent_pid: u64,
    sysmon_pid: u64,
}

struct User {
    name: String,
    logon_guid: String,
    logon_id: String,
}

/// The event generator, and what the checks need to know about what it generated.
struct Gen {
    rng: Rng,
    n: u64,
    start_ns: i64,
    tenants: Vec<String>,
    hosts: Vec<Host>,
    users: Vec<User>,
    hashes: Vec<String>,
    needles: Vec<u64>,
    per_host: Vec<u64>,
    per_user: Vec<u64>,
    per_exe: Vec<u64>,
    sampled_bytes: u64,
    sampled: u64,
}

impl Gen {
    fn new(n: u64, hosts: usize, tenants: usize, end_ns: i64) -> Self {
        let mut rng = Rng::new(0x5EED_1E17_57E1_1E00);
        let hosts: Vec<Host> = (1..=hosts)
            .map(|i| Host {
                name: format!("WS-{i:04}"),
                parent_guid: rng.guid(),
                parent_pid: 1000 + rng.below(9000),
                sysmon_pid: 2000 + rng.below(3000),
            })
            .collect();
        let users: Vec<User> = (1..=USERS)
            .map(|k| User {
                name: format!("CORP\\user{k}"),
                logon_guid: rng.guid(),
                logon_id: format!("0x{:x}", 0x10000 + rng.below(0xFF_FFFF)),
            })
            .collect();
        let hashes: Vec<String> = (0..EXES.len() * HASH_VARIANTS)
            .map(|_| {
                let mut s = String::from("SHA256=");
                rng.hex(&mut s, 64);
                s.push_str(",MD5=");
                rng.hex(&mut s, 32);
                s
            })
            .collect();
        // The needles' positions come from their own stream, so they do not depend on the
        // events generated.
        let mut pick = Rng::new(0xA11C_E5EE_D000_0003 ^ n);
        let mut needles: Vec<u64> = Vec::new();
        while needles.len() < NEEDLES {
            let i = pick.below(n);
            if !needles.contains(&i) {
                needles.push(i);
            }
        }
        needles.sort_unstable();
        let tenants = if tenants == 1 {
            vec!["bench".to_string()]
        } else {
            (0..tenants).map(|t| format!("bench-{t}")).collect()
        };
        Gen {
            rng,
            n,
            start_ns: end_ns - SPAN_NS,
            tenants,
            per_host: vec![0; hosts.len()],
            hosts,
            per_user: vec![0; USERS],
            users,
            per_exe: vec![0; EXES.len()],
            hashes,
            needles,
            sampled_bytes: 0,
            sampled: 0,
        }
    }

    fn time_ns(&self, i: u64) -> i64 {
        let off = i128::from(i) * i128::from(SPAN_NS) / i128::from(self.n.max(1));
        self.start_ns + off as i64
    }

    fn fill(&mut self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 40);
        let mut rest = template;
        while let Some(pos) = rest.find('{') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(t) = tail.strip_prefix("{n}") {
                let _ = write!(out, "{}", self.rng.below(10_000_000));
                rest = t;
            } else if let Some(t) = tail.strip_prefix("{g}") {
                let g = self.rng.guid();
                out.push_str(&g[1..g.len() - 1]);
                rest = t;
            } else {
                out.push('{');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }

    fn event(&mut self, i: u64) -> NewEvent {
        let time_ns = self.time_ns(i);
        let h = self.rng.below(self.hosts.len() as u64) as usize;
        let u = self.rng.below(USERS as u64) as usize;
        let x = self.rng.below(EXES.len() as u64) as usize;
        self.per_host[h] += 1;
        self.per_user[u] += 1;
        self.per_exe[x] += 1;
        let (image, description, original, template) = EXES[x];
        let needle = self.needles.binary_search(&i).is_ok();
        let command_line = if needle {
            NEEDLE_CMD.to_string()
        } else {
            self.fill(template)
        };
        let hashes = if needle {
            NEEDLE_HASHES.to_string()
        } else {
            let v = self.rng.below(HASH_VARIANTS as u64) as usize;
            self.hashes[x * HASH_VARIANTS + v].clone()
        };
        let (date, clock, frac) = clock(time_ns);
        let host = &self.hosts[h];
        let user = &self.users[u];
        let process_guid = self.rng.guid();
        let process_id = 1000 + self.rng.below(60_000);
        let thread_id = 3000 + self.rng.below(8000);
        let integrity = ["High", "Medium", "Medium", "System"][self.rng.below(4) as usize];
        let data = json!({"Event": {
            "System": {
                "Provider": {"#attributes": {
                    "Name": "Microsoft-Windows-Sysmon",
                    "Guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
                }},
                "EventID": 1, "Version": 5, "Level": 4, "Task": 1, "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {
                    "SystemTime": format!("{date}T{clock}.{:07}Z", frac / 100)
                }},
                "EventRecordID": i + 1,
                "Correlation": null,
                "Execution": {"#attributes": {"ProcessID": host.sysmon_pid, "ThreadID": thread_id}},
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": host.name,
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": {
                "RuleName": "-",
                "UtcTime": format!("{date} {clock}.{:03}", frac / 1_000_000),
                "ProcessGuid": process_guid,
                "ProcessId": process_id,
                "Image": image,
                "FileVersion": "10.0.19041.1",
                "Description": description,
                "Product": "Microsoft® Windows® Operating System",
                "Company": "Microsoft Corporation",
                "OriginalFileName": original,
                "CommandLine": command_line,
                "CurrentDirectory": "C:\\Windows\\system32\\",
                "User": user.name,
                "LogonGuid": user.logon_guid,
                "LogonId": user.logon_id,
                "TerminalSessionId": 1,
                "IntegrityLevel": integrity,
                "Hashes": hashes,
                "ParentProcessGuid": host.parent_guid,
                "ParentProcessId": host.parent_pid,
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
                "ParentUser": user.name
            }
        }});
        if i.is_multiple_of(64) {
            self.sampled += 1;
            self.sampled_bytes += data.to_string().len() as u64;
        }
        NewEvent {
            seq: i + 1,
            tenant: self.tenants[(i % self.tenants.len() as u64) as usize].clone(),
            time_ns,
            received_ns: time_ns + 150_000_000 + (self.rng.below(850) as i64) * 1_000_000,
            source: "bench".into(),
            kind: "evtx".into(),
            host: Some(host.name.clone()),
            user: Some(user.name.clone()),
            level: Some("4".into()),
            event_id: Some("1".into()),
            product: Some("windows".into()),
            service: Some("sysmon".into()),
            categories: vec!["process_creation".into()],
            data,
            raw: None,
        }
    }

    fn average_bytes(&self) -> u64 {
        self.sampled_bytes / self.sampled.max(1)
    }
}

/// (`YYYY-MM-DD`, `HH:MM:SS`, ns within the second) of a time.
fn clock(ns: i64) -> (String, String, i64) {
    let day = day_of(ns);
    let rem = ns - day * 86_400 * NS;
    let secs = rem / NS;
    (
        day_name(day),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        rem % NS,
    )
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Measuring

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The nearest-rank percentile of sorted durations, in ms.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

struct Timings {
    sorted: Vec<Duration>,
}

impl Timings {
    fn new(mut v: Vec<Duration>) -> Self {
        v.sort();
        Timings { sorted: v }
    }
    fn median(&self) -> f64 {
        pct(&self.sorted, 0.5)
    }
    fn p95(&self) -> f64 {
        pct(&self.sorted, 0.95)
    }
    fn max(&self) -> f64 {
        self.sorted.last().map_or(f64::NAN, |d| ms(*d))
    }
    fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// Fields of /proc/self/status in MB (`VmHWM`, `VmRSS`, `RssAnon`, `RssFile`).
fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time of this process so far (user + system, all threads, exited ones included), in
/// seconds; assumes the usual 100 clock ticks per second.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// The 1-minute load average of the machine.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[derive(Default)]
struct Disk {
    bytes: u64,
    allocated: u64,
    files: u64,
    segments: u64,
    partitions: u64,
    /// Bytes per segment file kind (`store` documents, `term` dictionaries, `idx` postings,
    /// `pos` positions, `fast` columns, `fieldnorm`).
    by_kind: BTreeMap<String, u64>,
}

/// File sizes under `dir` (apparent and allocated), files, tantivy segments (distinct
/// segment ids) and partitions (directories holding a `meta.json`).
fn disk_usage(dir: &Path) -> Disk {
    use std::os::unix::fs::MetadataExt;
    let mut d = Disk::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        let mut segs = std::collections::HashSet::new();
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                d.bytes += m.len();
                d.allocated += m.blocks() * 512;
                d.files += 1;
                let name = e.file_name().to_string_lossy().into_owned();
                if name == "meta.json" {
                    d.partitions += 1;
                }
                if let Some((stem, ext)) = name.split_once('.')
                    && stem.len() == 32
                    && ["idx", "term", "store", "fast", "pos", "fieldnorm"].contains(&ext)
                {
                    segs.insert(stem.to_string());
                    *d.by_kind.entry(ext.to_string()).or_default() += m.len();
                }
            }
        }
        d.segments += segs.len() as u64;
    }
    d
}

/// Bytes of files under `dir` that are deleted but still mapped by this process (segments
/// merged away that an open reader still uses): disk space not yet given back. Per
/// partition directory (`tenant/day`).
fn deleted_mapped(dir: &Path) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return out;
    };
    let mut by_inode: HashMap<u64, (String, u64)> = HashMap::new();
    for line in maps.lines() {
        let Some(rest) = line.strip_suffix(" (deleted)") else {
            continue;
        };
        let cols: Vec<&str> = rest.splitn(6, ' ').collect();
        let Some(path) = cols.get(5).map(|p| Path::new(p.trim_start())) else {
            continue;
        };
        let Ok(rel) = path.strip_prefix(dir) else {
            continue;
        };
        let Some((a, b)) = cols[0].split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b), Ok(inode)) = (
            u64::from_str_radix(a, 16),
            u64::from_str_radix(b, 16),
            cols[4].parse::<u64>(),
        ) else {
            continue;
        };
        let part = rel
            .parent()
            .map_or(String::new(), |p| p.to_string_lossy().into_owned());
        by_inode.entry(inode).or_insert((part, 0)).1 += b - a;
    }
    for (part, bytes) in by_inode.into_values() {
        *out.entry(part).or_default() += bytes;
    }
    out
}

fn mb_list(m: &BTreeMap<String, u64>) -> String {
    let total: u64 = m.values().sum();
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k} {:.1}", *v as f64 / 1e6))
        .collect();
    if parts.is_empty() {
        format!("{:.1}", total as f64 / 1e6)
    } else {
        format!("{:.1}: {}", total as f64 / 1e6, parts.join(", "))
    }
}

/// The file system type holding `dir` (from /proc/self/mounts).
fn fs_type(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best = (0usize, "?".to_string());
    for l in mounts.lines() {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.len() >= 3 && dir.starts_with(cols[1]) && cols[1].len() >= best.0 {
            best = (cols[1].len(), cols[2].to_string());
        }
    }
    best.1
}

// ---------------------------------------------------------------------------------------
// Queries and their checks

struct Ctx {
    tenants: Vec<String>,
    failures: Vec<String>,
}

impl Ctx {
    fn request(&self, text: &str, limit: usize) -> SearchRequest {
        let query = parse(text).unwrap_or_else(|e| panic!("query {text:?} does not parse: {e}"));
        let mut req = SearchRequest::new(&[], query);
        req.tenants = self.tenants.clone();
        req.limit = limit;
        req
    }

    fn fail(&mut self, msg: String) {
        println!("CHECK FAILED: {msg}");
        self.failures.push(msg);
    }

    /// Runs `text` `runs` times; checks the last result with `check`.
    fn time(
        &mut self,
        store: &TantivyStore,
        text: &str,
        runs: usize,
        check: &dyn Fn(&SearchResult) -> Result<(), String>,
    ) -> Timings {
        let req = self.request(text, 10_000);
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let t0 = Instant::now();
            let r = store.search(&req);
            times.push(t0.elapsed());
            match r {
                Ok(r) => last = Some(r),
                Err(e) => {
                    self.fail(format!("{text}: {e}"));
                    return Timings::new(times);
                }
            }
        }
        if let Some(r) = last
            && let Err(e) = check(&r)
        {
            self.fail(format!("{text}: {e}"));
        }
        let t = Timings::new(times);
        println!(
            "  {text:<70} runs {:>2}  median {:>9.1} ms  p95 {:>9.1} ms  first {:>9.1} ms",
            runs,
            t.median(),
            t.p95(),
            ms(t.sorted.first().copied().unwrap_or_default())
        );
        t
    }
}

fn needle_check(r: &SearchResult) -> Result<(), String> {
    if r.total != NEEDLES as u64 || r.hits.len() != NEEDLES {
        return Err(format!(
            "expected exactly {NEEDLES} hits, got total {} and {} hits",
            r.total,
            r.hits.len()
        ));
    }
    for h in &r.hits {
        let cmd = h.document.pointer("/data/Event/EventData/CommandLine");
        if cmd.and_then(Value::as_str) != Some(NEEDLE_CMD) {
            return Err(format!("hit seq {} is not a needle: {cmd:?}", h.seq));
        }
    }
    Ok(())
}

/// Checks a `stats count by F` table against the expected counts per value.
fn count_table_check(r: &SearchResult, want: &BTreeMap<String, u64>) -> Result<(), String> {
    let t = r.table.as_ref().ok_or("no table")?;
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for row in &t.rows {
        let key = row
            .first()
            .and_then(Value::as_str)
            .ok_or("row without key")?;
        let n = row
            .last()
            .and_then(Value::as_u64)
            .ok_or("row without count")?;
        got.insert(key.to_string(), n);
    }
    let (sum_got, sum_want): (u64, u64) = (got.values().sum(), want.values().sum());
    if got.len() != want.len() || sum_got != sum_want {
        return Err(format!(
            "{} rows summing to {sum_got}, expected {} rows summing to {sum_want}",
            got.len(),
            want.len()
        ));
    }
    if &got != want {
        let bad = want.iter().find(|(k, v)| got.get(*k) != Some(v));
        return Err(format!("counts differ, e.g. {bad:?}"));
    }
    Ok(())
}

struct Phase {
    needle_cmd: Timings,
    needle_hash: Timings,
    needle_word: Timings,
    needle_wild: Timings,
    by_host: Timings,
    by_user: Timings,
    by_image: Timings,
    timechart: Timings,
    timechart_rows: usize,
}

fn query_phase(ctx: &mut Ctx, store: &TantivyStore, g: &Gen) -> Phase {
    let n = g.n;
    let named = |names: Vec<String>, counts: &[u64]| -> BTreeMap<String, u64> {
        names
            .into_iter()
            .zip(counts.iter().copied())
            .filter(|(_, c)| *c > 0)
            .collect()
    };
    let hosts = named(
        g.hosts.iter().map(|h| h.name.clone()).collect(),
        &g.per_host,
    );
    let users = named(
        g.users.iter().map(|u| u.name.clone()).collect(),
        &g.per_user,
    );
    let mut images: BTreeMap<String, u64> = BTreeMap::new();
    for (x, c) in g.per_exe.iter().enumerate() {
        if *c > 0 {
            *images.entry(EXES[x].0.to_string()).or_default() += c;
        }
    }
    if hosts.len() != g.hosts.len() {
        println!(
            "  note: only {} of {} hosts got events",
            hosts.len(),
            g.hosts.len()
        );
    }
    let needle_cmd = ctx.time(
        store,
        &format!("CommandLine:\"{NEEDLE_CMD}\""),
        21,
        &needle_check,
    );
    let needle_hash = ctx.time(
        store,
        &format!("Hashes:\"{NEEDLE_HASHES}\""),
        21,
        &needle_check,
    );
    let needle_word = ctx.time(store, "needle", 21, &needle_check);
    let needle_wild = ctx.time(store, "CommandLine:*needle-7f3a9c*", 3, &needle_check);
    let by_host = ctx.time(store, "* | stats count by host", 5, &|r| {
        count_table_check(r, &hosts)
    });
    let by_user = ctx.time(store, "* | stats count by User", 1, &|r| {
        count_table_check(r, &users)
    });
    let by_image = ctx.time(store, "* | stats count by Image", 1, &|r| {
        count_table_check(r, &images)
    });
    let rows = std::cell::Cell::new(0usize);
    let timechart = ctx.time(store, "EventID:1 | timechart span=1h count", 1, &|r| {
        let t = r.table.as_ref().ok_or("no table")?;
        rows.set(t.rows.len());
        let sum: u64 = t
            .rows
            .iter()
            .filter_map(|row| row.last().and_then(Value::as_u64))
            .sum();
        let hours = (g.time_ns(n - 1).div_euclid(3600 * NS) - g.time_ns(0).div_euclid(3600 * NS)
            + 1) as usize;
        // Every hour has events unless there are very few.
        let rows_ok = t.rows.len() == hours || (n < 1000 && t.rows.len() < hours);
        if sum != n || !rows_ok {
            return Err(format!(
                "{} rows summing to {sum}, expected {hours} rows summing to {n}",
                t.rows.len()
            ));
        }
        Ok(())
    });
    Phase {
        needle_cmd,
        needle_hash,
        needle_word,
        needle_wild,
        by_host,
        by_user,
        by_image,
        timechart,
        timechart_rows: rows.get(),
    }
}

/// `--query` mode: times queries on an existing store (all its tenants), without checks.
fn time_queries(args: &Args) {
    let dir = args
        .dir
        .as_deref()
        .unwrap_or_else(|| die("--query needs --dir"));
    if !dir.join("COMMITTED").exists() {
        die(&format!("{} holds no store", dir.display()));
    }
    let t = Instant::now();
    let store = TantivyStore::open(
        dir,
        Arc::new(ProfileSet::builtin()),
        TantivyOptions::default(),
    )
    .expect("open the store");
    let usage = store.usage().expect("usage");
    println!(
        "opened {} in {:.2} s: {} events",
        dir.display(),
        t.elapsed().as_secs_f64(),
        usage.iter().map(|u| u.events).sum::<u64>()
    );
    let mut ctx = Ctx {
        tenants: usage.iter().map(|u| u.tenant.clone()).collect(),
        failures: Vec::new(),
    };
    for q in &args.queries {
        let shape = std::cell::Cell::new((0u64, 0usize, 0usize));
        ctx.time(&store, q, args.runs, &|r| {
            shape.set((
                r.total,
                r.hits.len(),
                r.table.as_ref().map_or(0, |t| t.rows.len()),
            ));
            Ok(())
        });
        let (total, hits, rows) = shape.get();
        println!("    total {total}, {hits} hits, {rows} rows");
    }
}

// ---------------------------------------------------------------------------------------

/// The server's allocator, so the figures match what `leitstelle serve` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = parse_args();
    if args.sample {
        let mut g = Gen::new(args.events, args.hosts, args.tenants, now_ns());
        for i in [0, g.needles[0]] {
            let e = g.event(i);
            let json = serde_json::to_string_pretty(&e.data).expect("serialize an event");
            println!("{json}\n({} bytes compact)", e.data.to_string().len());
        }
        return;
    }
    if !args.queries.is_empty() {
        time_queries(&args);
        return;
    }
    let (dir, remove_dir) = match &args.dir {
        Some(d) => {
            if std::fs::read_dir(d).is_ok_and(|mut rd| rd.next().is_some()) {
                die(&format!("--dir {} is not empty", d.display()));
            }
            (d.clone(), false)
        }
        None => (
            PathBuf::from("/tmp").join(format!(
                "leitstelle-store-bench-{}-{}",
                std::process::id(),
                now_ns() / NS
            )),
            !args.keep,
        ),
    };
    std::fs::create_dir_all(&dir).expect("create the store directory");
    let fstype = fs_type(&dir);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let n = args.events;
    let mut opts = TantivyOptions::default();
    if let Some(t) = std::env::var("STORE_WRITER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.writer_threads = t;
    }
    if let Some(m) = std::env::var("STORE_WRITER_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        opts.writer_memory_bytes = m << 20;
    }
    println!(
        "store bench: {n} events, batch {}, commit every {} s, {} hosts, {} tenants, {cores} cores",
        args.batch, args.commit_secs, args.hosts, args.tenants
    );
    println!(
        "store in {} ({fstype}{}), {opts:?}",
        dir.display(),
        if fstype == "tmpfs" {
            ": memory, not disk: the figures do not measure a disk"
        } else {
            ""
        }
    );

    let profiles = Arc::new(ProfileSet::builtin());
    let store =
        Arc::new(TantivyStore::open(&dir, profiles.clone(), opts.clone()).expect("open the store"));
    let mut g = Gen::new(n, args.hosts, args.tenants, now_ns());
    let mut ctx = Ctx {
        tenants: g.tenants.clone(),
        failures: Vec::new(),
    };
    println!(
        "needles at sequence numbers {:?}",
        g.needles.iter().map(|i| i + 1).collect::<Vec<_>>()
    );

    // Searches while indexing.
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicU64::new(0));
    let searcher = {
        let store = store.clone();
        let stop = stop.clone();
        let searches = searches.clone();
        let reqs: Vec<SearchRequest> = [
            format!("CommandLine:\"{NEEDLE_CMD}\""),
            format!("Hashes:\"{NEEDLE_HASHES}\""),
            "needle".to_string(),
        ]
        .iter()
        .map(|q| ctx.request(q, 100))
        .collect();
        std::thread::Builder::new()
            .name("searcher".into())
            .spawn(move || {
                let mut lat = Vec::new();
                let mut errors = Vec::new();
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let r = store.search(&reqs[k % reqs.len()]);
                    lat.push(t0.elapsed());
                    if let Err(e) = r {
                        errors.push(e.to_string());
                    }
                    k += 1;
                    searches.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(SEARCH_PAUSE);
                }
                (lat, errors)
            })
            .expect("spawn the search thread")
    };

    let commit_every = Duration::from_secs_f64(args.commit_secs);
    let (load_start, cpu_start) = (loadavg(), cpu_secs());
    let start = Instant::now();
    let (mut gen_time, mut add_time, mut commit_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut commits: Vec<Duration> = Vec::new();
    let mut commit_at: Vec<(Duration, u64)> = Vec::new();
    let mut added = 0u64;
    let mut mark20: Option<(Instant, u64)> = None;
    let mut last_commit = Instant::now();
    let (mut last_progress, mut last_progress_n) = (Instant::now(), 0u64);
    while added < n {
        let t = Instant::now();
        let m = (args.batch as u64).min(n - added);
        let batch: Vec<NewEvent> = (added..added + m).map(|i| g.event(i)).collect();
        gen_time += t.elapsed();
        let t = Instant::now();
        store.add(batch).expect("add a batch");
        add_time += t.elapsed();
        added += m;
        if mark20.is_none() && added * 5 >= n {
            mark20 = Some((Instant::now(), added));
        }
        if last_commit.elapsed() >= commit_every {
            let t = Instant::now();
            store.commit(added + 1).expect("commit");
            let d = t.elapsed();
            commit_time += d;
            commits.push(d);
            commit_at.push((d, added));
            last_commit = Instant::now();
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            let now = Instant::now();
            println!(
                "[{:>6.0} s] {added:>10} events  {:>7.0} ev/s now  {:>7.0} ev/s overall  \
                 {} searches  rss {:.0} MB  slowest commit {:.0} ms",
                start.elapsed().as_secs_f64(),
                (added - last_progress_n) as f64 / (now - last_progress).as_secs_f64(),
                added as f64 / start.elapsed().as_secs_f64(),
                searches.load(Ordering::Relaxed),
                proc_status_mb("VmRSS"),
                commits.iter().max().map_or(0.0, |d| ms(*d)),
            );
            (last_progress, last_progress_n) = (now, added);
        }
    }
    let t = Instant::now();
    store.commit(n + 1).expect("final commit");
    let d = t.elapsed();
    commit_time += d;
    commits.push(d);
    let end = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let (during, search_errors) = searcher.join().expect("search thread");
    for e in &search_errors {
        ctx.fail(format!("search during indexing: {e}"));
    }
    let during = Timings::new(during);
    commit_at.sort_by_key(|c| std::cmp::Reverse(c.0));
    let slowest: Vec<String> = commit_at
        .iter()
        .take(3)
        .map(|(d, k)| {
            format!(
                "{:.0} ms after {k} events ({})",
                ms(*d),
                day_name(day_of(g.time_ns(k - 1)))
            )
        })
        .collect();
    let commits = Timings::new(commits);
    let index_secs = (end - start).as_secs_f64();
    let rate = n as f64 / index_secs;
    let rate80 = mark20.map_or(f64::NAN, |(t, k)| (n - k) as f64 / (end - t).as_secs_f64());
    let hwm_indexing = proc_status_mb("VmHWM");
    let cores_used = (cpu_secs() - cpu_start) / index_secs;
    let load_end = loadavg();
    let mb_per_s = rate * g.average_bytes() as f64 / 1e6;
    println!(
        "indexed {n} events in {index_secs:.1} s: {rate:.0} ev/s overall, {rate80:.0} ev/s over \
         the last 80% ({mb_per_s:.1} MB/s of event JSON, average {} bytes); this process \
         used {cores_used:.2} cores, machine load {load_start} -> {load_end}",
        g.average_bytes()
    );
    println!(
        "main thread: generating {:.1} s ({:.1} us/event), add {:.1} s, commit {:.1} s \
         ({} commits, median {:.0} ms, p95 {:.0} ms, max {:.0} ms)",
        gen_time.as_secs_f64(),
        gen_time.as_secs_f64() * 1e6 / n as f64,
        add_time.as_secs_f64(),
        commit_time.as_secs_f64(),
        commits.len(),
        commits.median(),
        commits.p95(),
        commits.max()
    );
    println!("slowest commits: {}", slowest.join(", "));
    println!(
        "searches during indexing: {} (median {:.1} ms, p95 {:.1} ms, max {:.1} ms)",
        during.len(),
        during.median(),
        during.p95(),
        during.max()
    );

    println!("queries on the store as indexing left it (writers open):");
    let a = query_phase(&mut ctx, &store, &g);
    let disk_a = disk_usage(&dir);
    let deleted_a = deleted_mapped(&dir);
    let usage: u64 = store.usage().expect("usage").iter().map(|u| u.events).sum();
    if usage != n {
        ctx.fail(format!("usage() counts {usage} events, expected {n}"));
    }
    let (rss_a, hwm_a) = (proc_status_mb("VmRSS"), proc_status_mb("VmHWM"));

    // Close the writers (waiting for their merges), then reopen the store.
    let t = Instant::now();
    store.commit(n + 1).expect("commit closing the writers");
    let close_secs = t.elapsed().as_secs_f64();
    let deleted_closed = deleted_mapped(&dir);
    drop(store);
    let t = Instant::now();
    let store = TantivyStore::open(&dir, profiles, opts).expect("reopen the store");
    let reopen_secs = t.elapsed().as_secs_f64();
    if store.committed() != n + 1 {
        ctx.fail(format!(
            "committed() is {} after reopening, expected {}",
            store.committed(),
            n + 1
        ));
    }
    let disk_b = disk_usage(&dir);
    println!(
        "closed the writers in {close_secs:.1} s (merges), reopened in {reopen_secs:.2} s; \
         segments {} -> {}",
        disk_a.segments, disk_b.segments
    );
    println!("queries after closing the writers and reopening:");
    let b = query_phase(&mut ctx, &store, &g);
    let (rss_b, hwm_b) = (proc_status_mb("VmRSS"), proc_status_mb("VmHWM"));
    let rss_anon = proc_status_mb("RssAnon");
    drop(store);

    let per_m = |bytes: u64| bytes as f64 / (n as f64 / 1e6) / 1e6;
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k}: {v}");
    };
    kv("events", n.to_string());
    kv("event_json_bytes_avg", g.average_bytes().to_string());
    kv("cores", cores.to_string());
    kv("filesystem", fstype.clone());
    kv(
        "hosts_tenants_batch_commit_s",
        format!(
            "{} / {} / {} / {}",
            args.hosts, args.tenants, args.batch, args.commit_secs
        ),
    );
    kv("index_seconds", format!("{index_secs:.1}"));
    kv("index_rate_overall_eps", format!("{rate:.0}"));
    kv("index_rate_last80pct_eps", format!("{rate80:.0}"));
    kv("index_json_mb_per_s", format!("{mb_per_s:.1}"));
    kv(
        "index_cpu_cores_used_machine_load",
        format!("{cores_used:.2} (load {load_start} -> {load_end})"),
    );
    kv(
        "generation_us_per_event",
        format!("{:.1}", gen_time.as_secs_f64() * 1e6 / n as f64),
    );
    kv(
        "commits_n_median_p95_max_ms",
        format!(
            "{} / {:.0} / {:.0} / {:.0}",
            commits.len(),
            commits.median(),
            commits.p95(),
            commits.max()
        ),
    );
    kv("slowest_commits", slowest.join(", "));
    kv(
        "searches_during_indexing_n_median_p95_max_ms",
        format!(
            "{} / {:.1} / {:.1} / {:.1}",
            during.len(),
            during.median(),
            during.p95(),
            during.max()
        ),
    );
    for (label, p) in [("", &a), ("reopened_", &b)] {
        let mp = |t: &Timings| format!("{:.1} / {:.1}", t.median(), t.p95());
        kv(
            &format!("{label}needle_commandline_exact_median_p95_ms"),
            mp(&p.needle_cmd),
        );
        kv(
            &format!("{label}needle_hashes_exact_median_p95_ms"),
            mp(&p.needle_hash),
        );
        kv(
            &format!("{label}needle_bare_word_median_p95_ms"),
            mp(&p.needle_word),
        );
        kv(
            &format!("{label}needle_wildcard_median_ms"),
            format!("{:.1}", p.needle_wild.median()),
        );
        kv(
            &format!("{label}stats_count_by_host_median_ms"),
            format!("{:.0}", p.by_host.median()),
        );
        kv(
            &format!("{label}stats_count_by_user_ms"),
            format!("{:.0}", p.by_user.median()),
        );
        kv(
            &format!("{label}stats_count_by_image_ms"),
            format!("{:.0}", p.by_image.median()),
        );
        kv(
            &format!("{label}timechart_1h_count_ms"),
            format!("{:.0} ({} rows)", p.timechart.median(), p.timechart_rows),
        );
    }
    kv(
        "disk_bytes",
        format!(
            "{} ({:.1} MB; allocated {:.1} MB; {} partitions, {} segments, {} files)",
            disk_a.bytes,
            disk_a.bytes as f64 / 1e6,
            disk_a.allocated as f64 / 1e6,
            disk_a.partitions,
            disk_a.segments,
            disk_a.files
        ),
    );
    kv(
        "disk_mb_by_file_kind",
        disk_a
            .by_kind
            .iter()
            .map(|(k, v)| format!("{k} {:.1}", *v as f64 / 1e6))
            .collect::<Vec<_>>()
            .join(", "),
    );
    kv(
        "disk_mb_per_million_events",
        format!("{:.0}", per_m(disk_a.bytes)),
    );
    kv(
        "deleted_but_mapped_mb",
        format!(
            "{} (after closing the writers: {})",
            mb_list(&deleted_a),
            mb_list(&deleted_closed)
        ),
    );
    kv(
        "reopened_disk_bytes",
        format!(
            "{} ({:.1} MB; {} segments)",
            disk_b.bytes,
            disk_b.bytes as f64 / 1e6,
            disk_b.segments
        ),
    );
    kv(
        "reopened_disk_mb_per_million_events",
        format!("{:.0}", per_m(disk_b.bytes)),
    );
    kv("close_writers_seconds", format!("{close_secs:.1}"));
    kv(
        "peak_rss_mb",
        format!(
            "{hwm_b:.0} (at the end of indexing {hwm_indexing:.0}, after the first queries {hwm_a:.0})"
        ),
    );
    kv(
        "rss_mb",
        format!("{rss_b:.0} at the end ({rss_anon:.0} anonymous), {rss_a:.0} before reopening"),
    );
    kv(
        "checks",
        if ctx.failures.is_empty() {
            "all passed".to_string()
        } else {
            format!("{} FAILED", ctx.failures.len())
        },
    );
    println!("\n== store_bench summary ==\n{out}");

    if remove_dir {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("could not remove {}: {e}", dir.display());
        }
    } else {
        println!("store kept in {}", dir.display());
    }
    if !ctx.failures.is_empty() {
        for f in &ctx.failures {
            eprintln!("CHECK FAILED: {f}");
        }
        std::process::exit(1);
    }
}
