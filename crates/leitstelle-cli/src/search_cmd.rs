//! `leitstelle search` and `leitstelle retrohunt`: against a data directory (the store is
//! opened directly; works while the server runs) or a running server (`--server`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use leitstelle_server::search::{MAX_RETRO_MATCHES, build_request, hit_json, retrohunt};
use leitstelle_sigma::{Engine, LoadOptions};
use leitstelle_store::{EventStore, SearchResult, Table};
use serde_json::{Value, json};

/// Where to search: a data directory, or a server.
#[derive(Args, Debug)]
pub struct Target {
    /// Searched directly (every tenant in it, unless --tenant narrows) without --server.
    #[command(flatten)]
    dir: crate::server_cmd::DataDir,
    /// Search a running server at this HTTP address instead (needs --token).
    #[arg(long, value_name = "ADDR:PORT")]
    server: Option<String>,
    /// A token of the server (its tenant is the scope).
    #[arg(long, env = "LEITSTELLE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Only these tenants (repeat, or comma-separated).
    #[arg(long = "tenant", value_name = "NAME", value_delimiter = ',')]
    tenants: Vec<String>,
    /// Start of the time range: RFC 3339, `now`, or relative like `-24h`, `now-7d`.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    from: Option<String>,
    /// End of the time range (exclusive), same forms as --from.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    to: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The query, for example `Image:*\mimikatz.exe AND NOT User:SYSTEM | stats count by host`.
    query: String,
    #[command(flatten)]
    target: Target,
    /// Hits to print at most.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Hits to skip (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Print the whole answer as one JSON document instead of hits as JSON lines (and tables
    /// as text).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RetrohuntArgs {
    /// Sigma rule files or folders (SigmaHQ layout).
    #[arg(long = "rules", value_name = "PATH", required = true)]
    rules: Vec<PathBuf>,
    /// Only events matching this search query.
    #[arg(long, default_value = "")]
    query: String,
    #[command(flatten)]
    target: Target,
    /// Matches to print at most.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

/// A tiny HTTP/1.1 client for the CLI's few calls to its own server.
pub fn http(
    server: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    let mut s =
        std::net::TcpStream::connect(server).with_context(|| format!("connecting to {server}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(600)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {server}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn open_store(dir: &std::path::Path) -> anyhow::Result<leitstelle_store::TantivyStore> {
    let store_dir = leitstelle_server::store_path(dir);
    if !store_dir.is_dir() {
        bail!(
            "no event store in {} (start the server on it first)",
            dir.display()
        );
    }
    Ok(leitstelle_server::open_store(
        dir,
        Arc::new(leitstelle_profile::ProfileSet::builtin()),
        &leitstelle_server::config::StoreConfig::default(),
    )?)
}

/// The tenants to search locally: those asked for, else every tenant in the store.
fn local_tenants(store: &dyn EventStore, asked: &[String]) -> anyhow::Result<Vec<String>> {
    if !asked.is_empty() {
        return Ok(asked.to_vec());
    }
    Ok(store.usage()?.into_iter().map(|u| u.tenant).collect())
}

fn print_table(out: &mut impl Write, t: &Table) -> std::io::Result<()> {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        o => o.to_string(),
    };
    let mut widths: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (i, v) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell(v).chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        writeln!(out, "{}", parts.join("  ").trim_end())
    };
    line(out, t.columns.clone())?;
    for r in &t.rows {
        line(out, r.iter().map(cell).collect())?;
    }
    Ok(())
}

pub fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let t = &args.target;
    let answer: Value = if let Some(server) = &t.server {
        let token = t
            .token
            .as_deref()
            .context("--server needs --token (or LEITSTELLE_TOKEN)")?;
        let mut path = format!(
            "/api/v1/search?q={}&limit={}&offset={}",
            encode(&args.query),
            args.limit,
            args.offset
        );
        for (k, v) in [("from", &t.from), ("to", &t.to)] {
            if let Some(v) = v {
                path.push_str(&format!("&{k}={}", encode(v)));
            }
        }
        if !t.tenants.is_empty() {
            path.push_str(&format!("&tenants={}", encode(&t.tenants.join(","))));
        }
        let (status, body) = http(server, "GET", &path, token, b"")?;
        let v: Value = serde_json::from_str(&body).unwrap_or(json!({"error": body}));
        if status != 200 {
            bail!(
                "the server answered {status}: {}",
                v["error"].as_str().unwrap_or(&body)
            );
        }
        v
    } else {
        let store = open_store(&t.dir.data_dir)?;
        let tenants = local_tenants(&store, &t.tenants)?;
        let req = build_request(
            tenants,
            &args.query,
            t.from.as_deref(),
            t.to.as_deref(),
            Some(args.limit),
            Some(args.offset),
        )?;
        let res: SearchResult = store.search(&req)?;
        json!({
            "total": res.total,
            "hits": res.hits.iter().map(hit_json).collect::<Vec<_>>(),
            "table": res.table,
        })
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
    } else if let Some(table) = answer.get("table").filter(|t| !t.is_null()) {
        let t: Table = Table {
            columns: serde_json::from_value(table["columns"].clone())?,
            rows: serde_json::from_value(table["rows"].clone())?,
        };
        print_table(&mut out, &t)?;
    } else {
        for h in answer["hits"].as_array().into_iter().flatten() {
            serde_json::to_writer(&mut out, h)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    eprintln!("{} events matched", answer["total"]);
    Ok(ExitCode::SUCCESS)
}

pub fn retro(args: RetrohuntArgs) -> anyhow::Result<ExitCode> {
    let t = &args.target;
    let limit = args.limit.clamp(1, MAX_RETRO_MATCHES);
    let answer: Value = if let Some(server) = &t.server {
        let token = t
            .token
            .as_deref()
            .context("--server needs --token (or LEITSTELLE_TOKEN)")?;
        let mut texts = Vec::new();
        for path in &args.rules {
            for e in walk_yaml(path)? {
                texts.push(
                    std::fs::read_to_string(&e)
                        .with_context(|| format!("reading {}", e.display()))?,
                );
            }
        }
        let mut body = json!({"rules": texts, "q": args.query, "limit": limit});
        if let Some(f) = &t.from {
            body["from"] = json!(f);
        }
        if let Some(to) = &t.to {
            body["to"] = json!(to);
        }
        if !t.tenants.is_empty() {
            body["tenants"] = json!(t.tenants.join(","));
        }
        let (status, text) = http(
            server,
            "POST",
            "/api/v1/retrohunt",
            token,
            body.to_string().as_bytes(),
        )?;
        let v: Value = serde_json::from_str(&text).unwrap_or(json!({"error": text}));
        if status != 200 {
            bail!(
                "the server answered {status}: {}",
                v["error"].as_str().unwrap_or(&text)
            );
        }
        v
    } else {
        let store = open_store(&t.dir.data_dir)?;
        let profiles = leitstelle_profile::ProfileSet::builtin();
        let set = leitstelle_hunt::load_rules(&args.rules, &LoadOptions::default())?;
        for d in &set.diagnostics {
            eprintln!("{d}");
        }
        let n = set.rules.len();
        if n == 0 {
            bail!("no usable rule in {:?}", args.rules);
        }
        let engine = Engine::compile(set.rules, &profiles);
        let req = build_request(
            local_tenants(&store, &t.tenants)?,
            &args.query,
            t.from.as_deref(),
            t.to.as_deref(),
            None,
            None,
        )?;
        let mut r = retrohunt(&store, &profiles, &engine, &req, limit)?;
        r.rules = n;
        serde_json::to_value(&r)?
    };
    let mut out = std::io::stdout().lock();
    for m in answer["matches"].as_array().into_iter().flatten() {
        serde_json::to_writer(&mut out, m)?;
        writeln!(out)?;
    }
    out.flush()?;
    eprintln!(
        "{} rules over {} events: {} matches{}",
        answer["rules"],
        answer["scanned"],
        answer["matches"].as_array().map_or(0, Vec::len),
        if answer["truncated"] == true {
            " (truncated; raise --limit)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The `.yml` / `.yaml` files under a path (the path itself if it is a file).
fn walk_yaml(path: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml")
                && leitstelle_sigma::skip_by_path(&p.to_string_lossy(), &LoadOptions::default())
                    .is_none()
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
