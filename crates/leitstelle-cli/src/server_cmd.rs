//! `leitstelle serve`, `leitstelle admin …` and `leitstelle rules reload`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use leitstelle_control::{Principal, Role};
use leitstelle_server::Config;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory: journal, control database, initial credentials [default:
    /// ./leitstelle-data, or `data_dir` of the config file].
    #[arg(long, env = "LEITSTELLE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (TOML; see docs/server-config.toml). Flags override it.
    #[arg(long, env = "LEITSTELLE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// HTTP address for the API, Elasticsearch bulk and Splunk HEC intake [default:
    /// 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    /// Address of the syslog listener (UDP and TCP) [default: 127.0.0.1:5514]; replaces the
    /// listeners of the config file with this one (tenant `default`, parser `auto`).
    #[arg(long, value_name = "ADDR:PORT")]
    syslog: Option<SocketAddr>,
    /// A Sigma rule folder (SigmaHQ layout); repeatable; replaces the config's folders.
    #[arg(long = "rules", short = 'r', value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Keep the control plane (tenants, users, alerts, cases, rules, audit) in PostgreSQL
    /// (`postgres://user:password@host/db`) instead of SQLite in the data directory.
    #[arg(
        long,
        env = "LEITSTELLE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Data directory of the server.
    #[arg(
        long,
        env = "LEITSTELLE_DATA_DIR",
        value_name = "DIR",
        default_value = "leitstelle-data"
    )]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL control plane, when it uses one (instead of the SQLite
    /// database in the data directory).
    #[arg(
        long,
        env = "LEITSTELLE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Tenants (customers).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// API tokens (for shippers and scripts).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Local users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Tenant name: 1 to 64 letters, digits, `-`, `_`, `.`.
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Provider scopes (managed SOC): which customer tenants a provider tenant may read.
    #[command(subcommand)]
    Scope(ScopeCommand),
}

#[derive(Subcommand, Debug)]
pub enum ScopeCommand {
    /// Let tokens of PROVIDER read the events and alerts of CUSTOMER.
    Add {
        provider: String,
        customer: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// End it.
    Remove {
        provider: String,
        customer: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List provider scopes as `PROVIDER CUSTOMER` lines.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// May only send events.
    Ingest,
    /// First-line analyst: works the alert queue.
    Tier1,
    /// Incident responder: takes escalations, runs cases.
    Tier2,
    /// Threat hunter: searches, retro-hunts, opens cases.
    Hunter,
    /// Detection engineer: proposes and reviews rule changes, owns suppressions.
    Engineer,
    /// SOC manager: triage, cases, SLAs, responsibility matrix, reports, audit.
    Manager,
    /// The customer: reads its own tenant and approves changes for it.
    Customer,
    /// Everything within its tenants.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Ingest => Role::Ingest,
            RoleArg::Tier1 => Role::Tier1,
            RoleArg::Tier2 => Role::Tier2,
            RoleArg::Hunter => Role::Hunter,
            RoleArg::Engineer => Role::Engineer,
            RoleArg::Manager => Role::Manager,
            RoleArg::Customer => Role::Customer,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints only the token on stdout (it is not stored and cannot be
    /// shown again).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Ingest)]
        role: RoleArg,
        /// A label to recognise the token by (for example the shipper's name).
        #[arg(long = "name", default_value = "token")]
        label: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Revoke a token by id (see `token list`); it stops working at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user belonging to TENANT (a provider's staff belong to the provider's
    /// tenant); prints a generated password on stdout.
    Create {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Admin)]
        role: RoleArg,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Give a user a role in a tenant.
    Grant {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Take a role away.
    Revoke {
        name: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List users with their roles.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Set a new generated password (and lift a lockout); prints it on stdout.
    Password {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute every tenant's hash chain; report each edited, removed or reordered record.
    ///
    /// Exit code 0 when every chain is intact, 2 when tampering was found.
    Verify {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Print each chain's head (last record and hash), to keep elsewhere as an anchor.
    Heads {
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A rule folder of an upstream release (SigmaHQ layout).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// The server's HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    server: String,
    /// An admin token of the server.
    #[arg(long, env = "LEITSTELLE_TOKEN", hide_env_values = true)]
    token: String,
}

fn now_ns() -> i64 {
    leitstelle_server::pipeline::now_ns()
}

fn control(dir: &DataDir) -> anyhow::Result<leitstelle_control::Control> {
    Ok(leitstelle_server::open_control(
        &dir.data_dir,
        dir.database_url.as_deref(),
    )?)
}

/// Local administration acts as the system: whoever can open the database owns it.
fn system() -> Principal {
    Principal::system()
}

pub fn admin(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AdminCommand::Tenant(TenantCommand::Create { name, dir }) => {
            let t = control(&dir)?.create_tenant(&name, now_ns())?;
            writeln!(out, "{}", t.name)?;
        }
        AdminCommand::Tenant(TenantCommand::List { dir }) => {
            for t in control(&dir)?.tenants()? {
                writeln!(out, "{}", t.name)?;
            }
        }
        AdminCommand::Tenant(TenantCommand::Scope(ScopeCommand::Add {
            provider,
            customer,
            dir,
        })) => {
            if !control(&dir)?.add_scope(&system(), &provider, &customer, now_ns())? {
                eprintln!("{provider} already covers {customer}");
            }
        }
        AdminCommand::Tenant(TenantCommand::Scope(ScopeCommand::Remove {
            provider,
            customer,
            dir,
        })) => {
            if !control(&dir)?.remove_scope(&system(), &provider, &customer, now_ns())? {
                bail!("{provider} does not cover {customer}");
            }
        }
        AdminCommand::Tenant(TenantCommand::Scope(ScopeCommand::List { dir })) => {
            for (p, c) in control(&dir)?.scopes()? {
                writeln!(out, "{p} {c}")?;
            }
        }
        AdminCommand::Token(TokenCommand::Create {
            tenant,
            role,
            label,
            dir,
        }) => {
            let (_, secret) =
                control(&dir)?.create_token(&system(), &tenant, role.into(), &label, now_ns())?;
            writeln!(out, "{secret}")?;
        }
        AdminCommand::Token(TokenCommand::List { tenant, dir }) => {
            writeln!(out, "id\ttenant\trole\tname\tprefix\trevoked")?;
            for t in control(&dir)?.tokens(tenant.as_deref())? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}…\t{}",
                    t.id,
                    t.tenant,
                    t.role.as_str(),
                    t.label,
                    t.prefix,
                    if t.revoked_ns.is_some() { "yes" } else { "no" }
                )?;
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { id, dir }) => {
            if !control(&dir)?.revoke_token(&system(), id, now_ns())? {
                bail!("no active token with id {id}");
            }
            eprintln!("token {id} revoked");
        }
        AdminCommand::User(UserCommand::Create {
            name,
            tenant,
            role,
            dir,
        }) => {
            let password = leitstelle_control::random_password()?;
            control(&dir)?.create_user(
                &system(),
                &name,
                &password,
                &tenant,
                role.into(),
                now_ns(),
            )?;
            writeln!(out, "{password}")?;
        }
        AdminCommand::User(UserCommand::Grant {
            name,
            tenant,
            role,
            dir,
        }) => {
            if !control(&dir)?.set_role(&system(), &name, &tenant, role.into(), true, now_ns())? {
                eprintln!("{name} already holds that role in {tenant}");
            }
        }
        AdminCommand::User(UserCommand::Revoke {
            name,
            tenant,
            role,
            dir,
        }) => {
            if !control(&dir)?.set_role(&system(), &name, &tenant, role.into(), false, now_ns())? {
                bail!("{name} does not hold that role in {tenant}");
            }
        }
        AdminCommand::User(UserCommand::List { dir }) => {
            let c = control(&dir)?;
            let tenants: Vec<String> = c.tenants()?.into_iter().map(|t| t.name).collect();
            writeln!(out, "name\ttenant\troles")?;
            for u in c.users(&tenants)? {
                let roles: Vec<String> = u
                    .roles
                    .iter()
                    .map(|(t, r)| format!("{}@{t}", r.as_str()))
                    .collect();
                writeln!(out, "{}\t{}\t{}", u.name, u.tenant, roles.join(","))?;
            }
        }
        AdminCommand::User(UserCommand::Password { name, dir }) => {
            let password = leitstelle_control::random_password()?;
            control(&dir)?.set_password(&system(), &name, &password, now_ns())?;
            writeln!(out, "{password}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AuditCommand::Verify { dir } => {
            let (checked, problems) = control(&dir)?.verify_audit()?;
            for p in &problems {
                writeln!(out, "{p}")?;
            }
            eprintln!(
                "{checked} audit records checked, {} problem(s)",
                problems.len()
            );
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        AuditCommand::Heads { dir } => {
            for (tenant, seq, hash) in control(&dir)?.audit_heads()? {
                writeln!(
                    out,
                    "{}\t{seq}\t{hash}",
                    tenant.as_deref().unwrap_or("(system)")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `leitstelle rules import DIR`: an upstream release into the stored rules.
pub fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut texts = Vec::new();
    for entry in walkdir::WalkDir::new(&args.dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("reading {}", args.dir.display()))?;
        let p = entry.path();
        let name = p.display().to_string();
        if !entry.file_type().is_file()
            || !p.extension().is_some_and(|x| x == "yml" || x == "yaml")
            || leitstelle_sigma::skip_by_path(&name, &leitstelle_sigma::LoadOptions::default())
                .is_some()
        {
            continue;
        }
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {name}"))?;
        texts.push((name, text));
    }
    let report = control(&args.data)?.import_upstream(
        &system(),
        &texts,
        &leitstelle_server::rules::check_rule,
        now_ns(),
    )?;
    for (file, why) in &report.rejected {
        eprintln!("skipped {file}: {why}");
    }
    eprintln!(
        "{} added, {} updated, {} unchanged, {} locally edited (changes proposed: {:?}), {} skipped",
        report.added,
        report.updated,
        report.unchanged,
        report.proposed.len(),
        report.proposed,
        report.rejected.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The configuration in effect: the file (if any), then the flags.
fn config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(h) = args.http {
        cfg.http.listen = h;
    }
    if let Some(s) = args.syslog {
        let mut l = cfg.syslog_listeners().remove(0);
        l.listen = s;
        l.protocols = vec![
            leitstelle_server::config::Protocol::Udp,
            leitstelle_server::config::Protocol::Tcp,
        ];
        l.tls = None;
        cfg.syslog = vec![l];
    }
    if !args.rules.is_empty() {
        cfg.rules.paths = args.rules.clone();
    }
    if let Some(url) = &args.database_url {
        cfg.database_url = Some(url.clone());
    }
    cfg.check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    Ok(cfg)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(&args)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEITSTELLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("leitstelle")
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        // Handlers first: a SIGTERM that arrives while starting still stops gracefully.
        let signals = Signals::new()?;
        let running = leitstelle_server::start(cfg).await?;
        if let Some(p) = &running.credentials {
            tracing::info!(
                file = %p.display(),
                "first start: tenant `default`, user `admin` and tokens created; the credentials are in this file (readable only by its owner)"
            );
        }
        tracing::info!(http = %running.http_addr, "listening (HTTP)");
        for (name, proto, addr) in &running.syslog_addrs {
            tracing::info!(listener = %name, protocol = ?proto, %addr, "listening (syslog)");
        }
        signals.wait(&running).await;
        tracing::info!("stopping: no new input; flushing the journal and detection");
        running.shutdown().await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The signals `serve` acts on: SIGTERM and SIGINT stop, SIGHUP reloads the rules.
#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Returns on SIGTERM or SIGINT; reloads the rules on SIGHUP.
    async fn wait(mut self, running: &leitstelle_server::Running) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    let app = std::sync::Arc::clone(&running.app);
                    // errors are logged and counted by reload_rules
                    let _ = tokio::task::spawn_blocking(move || app.reload_rules()).await;
                }
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals)
    }

    async fn wait(self, _running: &leitstelle_server::Running) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `rules reload`: asks a running server to reload its rules (`POST /api/v1/rules/reload`).
/// The request is one plain HTTP/1.1 exchange on loopback, written here to keep an HTTP
/// client library out of the binary.
pub fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let (status, body) = crate::search_cmd::http(
        &args.server,
        "POST",
        "/api/v1/rules/reload",
        &args.token,
        b"",
    )?;
    println!("{}", body.trim());
    if status != 200 {
        bail!("the server answered {status}");
    }
    Ok(ExitCode::SUCCESS)
}
