//! Load generator for `scripts/bench-serve.sh`: sends Sysmon-shaped JSON events of about
//! 1 KB over HTTP NDJSON (`POST /api/v1/events`, keep-alive, several connections) for a
//! while and prints how many were acknowledged per second. An event counts only when the
//! server answered 200 with it accepted, i.e. after it was fsynced in the journal.
//!
//! Usage: `load HOST:PORT TOKEN [SECONDS=20] [CONNECTIONS=4] [BATCH=1000]`

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn event(i: usize) -> String {
    const IMAGES: [&str; 6] = [
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\System32\\rundll32.exe",
    ];
    const CMDS: [&str; 6] = [
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=en-US",
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\scripts\\inventory.ps1",
        "C:\\Windows\\Explorer.EXE",
        "cmd.exe /c echo hello > C:\\temp\\out.txt",
        "rundll32.exe C:\\Windows\\System32\\shell32.dll,Control_RunDLL",
    ];
    let k = i % IMAGES.len();
    // one event in 500 looks like credential dumping (SigmaHQ rules fire on it)
    let cmd = if i.is_multiple_of(500) {
        "C:\\Users\\bob\\AppData\\Local\\Temp\\mimikatz.exe \"privilege::debug\" \"sekurlsa::logonpasswords\" exit"
    } else {
        CMDS[k]
    };
    let v = serde_json::json!({"Event": {
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
            "Image": IMAGES[k], "FileVersion": "10.0.19041.1", "Description": "Windows process",
            "Product": "Microsoft Windows Operating System", "Company": "Microsoft Corporation",
            "OriginalFileName": IMAGES[k].rsplit('\\').next(),
            "CommandLine": cmd, "CurrentDirectory": "C:\\Windows\\system32\\",
            "User": "CORP\\alice", "LogonGuid": "{5770385F-0000-0000-0000-000000000001}",
            "LogonId": "0x3e7", "TerminalSessionId": 0, "IntegrityLevel": "System",
            "Hashes": "SHA1=0000000000000000000000000000000000000000,MD5=00000000000000000000000000000000",
            "ParentProcessGuid": "{5770385F-0000-0000-0000-000000000002}", "ParentProcessId": 700,
            "ParentImage": "C:\\Windows\\System32\\services.exe",
            "ParentCommandLine": "C:\\Windows\\system32\\services.exe", "ParentUser": "NT AUTHORITY\\SYSTEM"
        }
    }});
    v.to_string()
}

async fn post(
    r: &mut BufReader<TcpStream>,
    host: &str,
    token: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let s = r.get_mut();
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut status_line = String::new();
    r.read_line(&mut status_line).await?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: load HOST:PORT TOKEN [SECONDS] [CONNECTIONS] [BATCH]");
        std::process::exit(2);
    }
    let host = args[1].clone();
    let token = args[2].clone();
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let conns: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(4);
    let batch: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1000);
    // a few different bodies, generated once, so the generator costs little
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|b| {
            (0..batch)
                .map(|i| event(b * batch + i) + "\n")
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let avg = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len() / batch;
    let bodies = std::sync::Arc::new(bodies);
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (host, token, bodies) = (host.clone(), token.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(&host).await?;
            stream.set_nodelay(true)?;
            let mut r = BufReader::new(stream);
            let mut acked = 0u64;
            let mut refused = 0u64;
            let mut i = c;
            while Instant::now() < until {
                let (status, resp) = post(&mut r, &host, &token, &bodies[i % bodies.len()]).await?;
                if status == 429 {
                    // What shippers do: wait a little and send the same batch again.
                    refused += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if status != 200 {
                    eprintln!("status {status}: {resp}");
                    break;
                }
                let v: serde_json::Value = serde_json::from_str(&resp).unwrap_or_default();
                acked += v["accepted"].as_u64().unwrap_or(0);
                i += 1;
            }
            std::io::Result::Ok((acked, refused))
        }));
    }
    let (mut total, mut refused) = (0u64, 0u64);
    for t in tasks {
        match t.await {
            Ok(Ok((n, r))) => {
                total += n;
                refused += r;
            }
            Ok(Err(e)) => eprintln!("connection: {e}"),
            Err(e) => eprintln!("task: {e}"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "acknowledged {total} events of {avg} bytes in {elapsed:.1} s over {conns} connections (batches of {batch}): {:.0} events/s; {refused} batches answered 429 and sent again",
        total as f64 / elapsed
    );
    Ok(())
}
