//! The `leitstelle` binary.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use leitstelle_hunt::output::{self, Format};
use leitstelle_hunt::{HuntOptions, Progress, RuleFilter};
use leitstelle_readers::ReadOptions;
use leitstelle_sigma::{Correlator, Engine, Level, LoadOptions, Severity};

mod search_cmd;
mod server_cmd;

/// mimalloc (see `leitstelle-alloc`). The `system-alloc` feature keeps the system allocator,
/// for heap profilers such as heaptrack that follow malloc.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: leitstelle_alloc::MiMalloc = leitstelle_alloc::MiMalloc;

/// Leitstelle: a Security Operations Center in one binary.
#[derive(Parser, Debug)]
#[command(name = "leitstelle", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run Sigma rules over EVTX, JSON/NDJSON and syslog files (also gzipped), offline.
    ///
    /// Folders are walked recursively; the file type is detected from the content. Detections
    /// go to stdout (or --output), sorted by event time; the summary goes to stderr.
    /// Exit code: 0 when every input was read, 2 when some input could not be read (the rest
    /// was scanned), 1 on a fatal error.
    Hunt(Box<HuntArgs>),
    /// Work with Sigma rule folders.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run the server: syslog (UDP/TCP/TLS), HTTP NDJSON, Elasticsearch bulk and Splunk HEC
    /// intake, a durable journal, live Sigma detection and alerts.
    ///
    /// With no arguments it starts on the embedded default: data in ./leitstelle-data, HTTP
    /// on 127.0.0.1:8080, syslog on UDP and TCP 127.0.0.1:5514. The first start creates the
    /// tenant `default`, the user `admin` and tokens, and writes them to
    /// DATA_DIR/initial-credentials.txt (readable only by its owner). SIGTERM or SIGINT stop
    /// it gracefully; SIGHUP reloads the rules.
    Serve(server_cmd::ServeArgs),
    /// Manage tenants, tokens and users in a data directory (works while the server runs).
    #[command(subcommand)]
    Admin(server_cmd::AdminCommand),
    /// The audit log: verify its hash chains.
    #[command(subcommand)]
    Audit(server_cmd::AuditCommand),
    /// Search stored events with the search language, in a data directory or on a server.
    ///
    /// `field:value`, `field:"a phrase"`, wildcards `field:*mimikatz*`, ranges
    /// `EventID:[4624 TO 4625]`, comparisons `bytes>1000000`, AND / OR / NOT, parentheses,
    /// bare words, `_exists_:field`; pipes: `| stats count, dc(User) by host`, `| top 10 host`,
    /// `| timechart span=1h count by level`, `| sort -count`, `| head 20`, `| fields a, b`.
    /// Hits are printed as JSON lines (newest first), tables as text; the count goes to stderr.
    Search(search_cmd::SearchArgs),
    /// Run Sigma rules over stored events (a retro-hunt), with the live detection engine.
    ///
    /// Matches are printed as JSON lines (newest first); the summary goes to stderr.
    Retrohunt(search_cmd::RetrohuntArgs),
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Load rule folders and print every diagnostic (rules that cannot be used and why).
    ///
    /// Exit code 0 when every rule loaded, 2 when some were skipped with errors.
    Check(CheckArgs),
    /// Ask a running server to load its rule folders again and swap them in without
    /// dropping events (as SIGHUP does).
    Reload(server_cmd::ReloadArgs),
    /// Import an upstream rule release (a SigmaHQ folder) into the server's stored rules:
    /// new rules are added, unedited ones take the new text, locally edited ones get the
    /// upstream text as a change to review; tenant overlays are kept.
    Import(server_cmd::ImportArgs),
}

#[derive(Args, Debug)]
struct RuleSource {
    /// A Sigma rule folder (SigmaHQ layout: rules/, rules-emerging-threats/, …); repeatable.
    #[arg(long = "rules", short = 'r', value_name = "DIR", required = true)]
    rules: Vec<PathBuf>,
    /// Also load rules in `deprecated` folders or with `status: deprecated`.
    #[arg(long)]
    include_deprecated: bool,
    /// Also load rules in `unsupported` folders or with `status: unsupported`.
    #[arg(long)]
    include_unsupported: bool,
    /// A YAML file of placeholder values for the `expand` modifier (`name: [values]`).
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    source: RuleSource,
    /// Print diagnostics as text (rustc-like) or JSON lines.
    #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
    format: DiagFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DiagFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutFormat {
    /// Aligned columns for a terminal.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per detection.
    Jsonl,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LevelArg {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Informational => Level::Informational,
            LevelArg::Low => Level::Low,
            LevelArg::Medium => Level::Medium,
            LevelArg::High => Level::High,
            LevelArg::Critical => Level::Critical,
        }
    }
}

#[derive(Args, Debug)]
struct HuntArgs {
    /// Files or folders to scan (folders recursively).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    source: RuleSource,
    /// Only run rules of this level or higher.
    #[arg(long, value_enum, value_name = "LEVEL")]
    min_level: Option<LevelArg>,
    /// Output format of the detections.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
    /// Write detections to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only events at or after this time (RFC 3339, or YYYY-MM-DD as UTC midnight); events
    /// without a time are kept.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only events before this time (RFC 3339, or YYYY-MM-DD as UTC midnight).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only run the rule with this id; repeatable.
    #[arg(long = "rule-id", value_name = "ID")]
    rule_ids: Vec<String>,
    /// Do not run the rule with this id; repeatable.
    #[arg(long = "exclude-rule-id", value_name = "ID")]
    exclude_rule_ids: Vec<String>,
    /// Only run rules with this tag (a trailing `*` matches a prefix, e.g. `attack.t1059*`);
    /// repeatable.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Do not run rules with this tag (trailing `*` as for --tag); repeatable.
    #[arg(long = "exclude-tag", value_name = "TAG")]
    exclude_tags: Vec<String>,
    /// Only run rules with this status (stable, test, experimental); repeatable.
    #[arg(long = "status", value_name = "STATUS")]
    statuses: Vec<String>,
    /// A source profile file (YAML, see profiles/README.md), tried before the built-in ones;
    /// repeatable.
    #[arg(long = "profile", value_name = "FILE")]
    profiles: Vec<PathBuf>,
    /// Tenant recorded on every event.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Scan every field value, never reusing the hits of a value seen before (same
    /// detections, slower; for measuring what that reuse saves on your data).
    #[arg(long)]
    no_value_memo: bool,
    /// Largest record (line, JSON document) held in memory; larger ones are counted as
    /// errors and skipped.
    #[arg(long, default_value_t = leitstelle_readers::DEFAULT_MAX_RECORD_BYTES, value_name = "BYTES")]
    max_record_bytes: usize,
    /// Write every read error to this file (one per line).
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Write every rule diagnostic to this file as JSON lines.
    #[arg(long, value_name = "FILE")]
    diagnostics: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Never draw a progress bar (it is only drawn when stderr is a terminal anyway).
    #[arg(long)]
    no_progress: bool,
}

fn load_options(src: &RuleSource) -> anyhow::Result<LoadOptions> {
    let placeholders = match &src.placeholders {
        Some(p) => leitstelle_hunt::load_placeholders(p)?,
        None => Default::default(),
    };
    Ok(LoadOptions {
        include_deprecated: src.include_deprecated,
        include_unsupported: src.include_unsupported,
        placeholders,
    })
}

/// A buffered output file, with the path in the error.
fn create(path: &std::path::Path) -> anyhow::Result<io::BufWriter<std::fs::File>> {
    let f =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(io::BufWriter::new(f))
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return d.timestamp_nanos_opt().context("time out of range");
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
    {
        return Ok(t);
    }
    bail!("invalid time `{s}`: expected RFC 3339 (2024-01-31T12:00:00Z) or a date (2024-01-31)")
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, bytes: u64, _events: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn hunt(args: HuntArgs) -> anyhow::Result<ExitCode> {
    // A short run whose rule compilation and automata building free tens of MB again: give
    // them back at once, so they do not count in the run's peak memory.
    leitstelle_alloc::return_freed_memory_promptly();
    let opts = load_options(&args.source)?;
    let from = args.from.as_deref().map(parse_time).transpose()?;
    let to = args.to.as_deref().map(parse_time).transpose()?;
    let profiles = leitstelle_hunt::load_profiles(&args.profiles)?;
    let set = leitstelle_hunt::load_rules(&args.source.rules, &opts)?;
    let skipped: Vec<(String, usize)> = set
        .skipped_by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    let filters = set.filters.len();
    let correlation_rules = set.correlations;
    let mut diagnostics = set.diagnostics;
    let mut rules = set.rules;
    let filtered_out = leitstelle_hunt::select_rules(
        &mut rules,
        &RuleFilter {
            min_level: args.min_level.map(Level::from),
            include_ids: args.rule_ids,
            exclude_ids: args.exclude_rule_ids,
            include_tags: args.tags,
            exclude_tags: args.exclude_tags,
            statuses: args.statuses,
        },
    );
    if rules.is_empty() {
        bail!(
            "no rules to run: {} loaded rules were all filtered out or none loaded",
            filtered_out
        );
    }
    let rules_loaded = rules.len();
    let engine = Engine::compile(rules, &profiles);
    let (correlator, corr_diags) = Correlator::new(&correlation_rules, engine.rules());
    for d in &corr_diags {
        eprintln!("{d}");
    }
    diagnostics.extend(corr_diags);
    if let Some(path) = &args.diagnostics {
        let mut f = create(path)?;
        for d in &diagnostics {
            serde_json::to_writer(&mut f, d)?;
            writeln!(f)?;
        }
        f.flush()?;
    }
    let correlations = correlator.plans.len();
    let (jobs, discover_errors) = leitstelle_readers::discover(&args.paths);
    let files = jobs.len() as u64;
    let bar = if !args.no_progress && io::stderr().is_terminal() {
        let pb = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})",
        ) {
            pb.set_style(style);
        }
        pb
    } else {
        ProgressBar::hidden()
    };
    let hunt_opts = HuntOptions {
        read: ReadOptions {
            tenant: Arc::from(args.tenant.as_str()),
            max_record_bytes: args.max_record_bytes,
            year_hint: None,
        },
        from,
        to,
        threads: args.threads,
        max_errors_kept: 100,
        keep_all_errors: args.errors.is_some(),
        split_evtx_bytes: leitstelle_hunt::DEFAULT_SPLIT_EVTX_BYTES,
        correlator: (!correlator.is_empty()).then(|| Arc::new(correlator)),
        no_value_memo: args.no_value_memo,
    };
    let (detections, mut summary) =
        leitstelle_hunt::run(&engine, &profiles, jobs, &hunt_opts, &Bar(bar));
    summary.files = files;
    summary.rules_loaded = rules_loaded;
    summary.rules_filtered_out = filtered_out;
    summary.rules_skipped = skipped;
    summary.filters = filters;
    summary.correlations = correlations;
    summary.errors += discover_errors.len() as u64;
    let mut all_errors: Vec<String> = discover_errors.iter().map(|e| e.to_string()).collect();
    all_errors.extend(summary.error_samples.iter().cloned());
    if let Some(path) = &args.errors {
        let mut f = create(path)?;
        for e in &all_errors {
            writeln!(f, "{e}")?;
        }
        f.flush()?;
    }
    summary.error_samples = all_errors;

    let format = match args.format {
        OutFormat::Table => Format::Table,
        OutFormat::Csv => Format::Csv,
        OutFormat::Jsonl => Format::Jsonl,
    };
    let written = match &args.output {
        Some(path) => {
            let mut f = create(path)?;
            output::write_detections(&mut f, format, &detections).and_then(|_| f.flush())
        }
        None => {
            let stdout = io::stdout();
            let mut lock = io::BufWriter::new(stdout.lock());
            output::write_detections(&mut lock, format, &detections).and_then(|_| lock.flush())
        }
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("cannot write detections")?,
    }
    if !args.quiet {
        let mut err = io::stderr().lock();
        let _ = output::write_summary(&mut err, &summary);
    }
    Ok(if summary.errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let opts = load_options(&args.source)?;
    let set = leitstelle_hunt::load_rules(&args.source.rules, &opts)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut errors = 0;
    for d in &set.diagnostics {
        if d.severity == Severity::Error {
            errors += 1;
        }
        let r = match args.format {
            DiagFormat::Text => writeln!(out, "{d}"),
            DiagFormat::Json => serde_json::to_writer(&mut out, d)
                .map_err(io::Error::other)
                .and_then(|_| writeln!(out)),
        };
        if let Err(e) = r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    let _ = out.flush();
    let skipped: Vec<String> = set
        .skipped_by_reason()
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect();
    eprintln!(
        "{} rules, {} filters, {} correlations loaded; {} errors{}",
        set.rules.len(),
        set.filters.len(),
        set.correlations.len(),
        errors,
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped: {}", skipped.join(", "))
        }
    );
    Ok(if errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hunt(args) => hunt(*args),
        Command::Rules(RulesCommand::Check(args)) => check(args),
        Command::Rules(RulesCommand::Reload(args)) => server_cmd::reload(args),
        Command::Rules(RulesCommand::Import(args)) => server_cmd::import(args),
        Command::Audit(cmd) => server_cmd::audit(cmd),
        Command::Serve(args) => server_cmd::serve(args),
        Command::Admin(cmd) => server_cmd::admin(cmd),
        Command::Search(args) => search_cmd::search(args),
        Command::Retrohunt(args) => search_cmd::retro(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
