//! The `codex-otel-gateway` command line: `run`, `validate`, `default-config`, `healthcheck`,
//! `codex-config`, `doctor`, `init`, `ingest`, `loadgen`, `top`. Thin: parses arguments, loads
//! the config, hands over to the library (`app` for `run`, `tools` for the client-side commands).

use anyhow::Context;
use clap::{Parser, Subcommand};
use codex_otel_gateway::config::{self, Diagnostic};
use codex_otel_gateway::tools::healthcheck;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// jemalloc: returns freed memory to the OS and reports live heap bytes, which the
/// `memory_limiter` uses (RSS alone stays high after a burst and would refuse forever).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for an unusable config (sysexits EX_CONFIG).
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "codex-otel-gateway",
    version,
    about = "OpenTelemetry gateway for the OpenAI Codex CLI"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace); RUST_LOG wins.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (with the embedded default config when --config is not given).
    Run {
        /// YAML pipeline config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a config without binding anything; exit 78 on any error.
    Validate {
        /// YAML pipeline config.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the embedded default config.
    DefaultConfig,
    /// GET the admin listener's health endpoint: exit 0 on HTTP 200, 1 otherwise (the reason on
    /// stderr). For container HEALTHCHECKs.
    Healthcheck {
        /// Plain-HTTP URL to GET.
        #[arg(long, default_value = "http://127.0.0.1:8888/healthz")]
        url: String,
        /// Deadline for the whole check (connect, send, status line), e.g. "2s", "500ms".
        #[arg(long, default_value = "2s", value_parser = processors::units::parse_duration)]
        timeout: Duration,
    },
    /// Print the Codex config.toml [otel] block that exports to this gateway's otlp receiver.
    CodexConfig(CodexConfigArgs),
    /// Write a vendor profile (safety chain + that vendor's shape) and print the Codex [otel]
    /// block for it.
    Init(InitArgs),
    /// Send the token usage in Codex session files (rollout-*.jsonl) as OTLP logs and metrics.
    Ingest(IngestArgs),
    /// Benchmark tools: `loadgen send` replays a payload, `loadgen sink` counts what arrives.
    Loadgen {
        #[command(subcommand)]
        command: codex_otel_gateway::tools::loadgen::Command,
    },
    /// Live view of a running gateway from its admin /metrics: rates per component; q quits.
    Top(codex_otel_gateway::tools::top::TopArgs),
    /// Check the Codex config.toml [otel] block, that the gateway is up, and send one synthetic
    /// span, log and metric through each exporter; one line per check, exit 1 on any failure.
    Doctor(DoctorArgs),
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// YAML pipeline config (default: the embedded default config).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Codex config (default $CODEX_HOME/config.toml, else ~/.codex/config.toml).
    #[arg(long)]
    codex_config: Option<PathBuf>,
    /// Admin listener base URL, e.g. http://127.0.0.1:8888 (default: the config's
    /// service.telemetry.metrics.address).
    #[arg(long)]
    admin: Option<String>,
    /// Deadline of each network step (resolve, connect, one request), e.g. "5s".
    #[arg(long, default_value = "5s", value_parser = processors::units::parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
struct CodexConfigArgs {
    /// YAML pipeline config (default: the embedded default config).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Exporter protocol: binary (OTLP/HTTP protobuf), json (OTLP/HTTP JSON) or grpc.
    #[arg(long, default_value = "binary", value_parser = codex_otel_gateway::tools::codex_config::Protocol::parse)]
    protocol: codex_otel_gateway::tools::codex_config::Protocol,
    /// Host clients use to reach the gateway (needed when the receiver binds 0.0.0.0).
    #[arg(long)]
    host: Option<String>,
    /// Write `authorization = "Bearer <value of NAME>"` into every exporter (Codex does not
    /// expand variables in headers; without it, a comment explains OTEL_EXPORTER_OTLP_HEADERS).
    #[arg(long, value_name = "NAME")]
    auth_header_env: Option<String>,
    /// The otlp receiver to point at (default: the only one).
    #[arg(long)]
    receiver: Option<String>,
    /// Print the /etc/codex/requirements.toml form administrators use to enforce it.
    #[arg(long)]
    requirements: bool,
    /// `environment` written into [otel] (Codex's `env` attribute on what it exports).
    #[arg(long, default_value = codex_otel_gateway::tools::codex_config::DEFAULT_ENVIRONMENT)]
    environment: String,
}

#[derive(clap::Args)]
struct InitArgs {
    /// Destination: last9, grafana-cloud, signoz, otlp or prometheus.
    #[arg(long, value_parser = codex_otel_gateway::tools::init::Vendor::parse)]
    vendor: codex_otel_gateway::tools::init::Vendor,
    /// File to write (default: the profile's name in the current folder, e.g. last9.yaml).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct IngestArgs {
    /// Session files, or folders searched recursively for rollout-*.jsonl (e.g. ~/.codex/sessions).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Running gateway's OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (protobuf to /v1/logs,
    /// /v1/metrics).
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    endpoint: Option<String>,
    /// Send through this config's pipelines in-process instead (its processors and exporters).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Extra request header `name=value` (repeatable; with --endpoint).
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Send `authorization: Bearer <value of this variable>` (with --endpoint).
    #[arg(long, value_name = "NAME")]
    bearer_token_env: Option<String>,
    /// State file (default $XDG_STATE_HOME/codex-otel-gateway/ingest-state.json, else
    /// ~/.local/state/codex-otel-gateway/ingest-state.json).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Per-request timeout with --endpoint, e.g. "10s".
    #[arg(long, default_value = "10s", value_parser = processors::units::parse_duration)]
    timeout: Duration,
    /// Log records per request.
    #[arg(long, default_value_t = codex_otel_gateway::tools::ingest::DEFAULT_BATCH_RECORDS)]
    batch: usize,
    /// Never draw the progress bar (it is only drawn when stderr is a terminal anyway).
    #[arg(long)]
    no_progress: bool,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{text:?}: expected NAME=VALUE")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(&config),
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_CONFIG);
            ExitCode::SUCCESS
        }
        Command::Healthcheck { url, timeout } => match healthcheck::check(&url, timeout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("unhealthy: {url}: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Loadgen { command } => match codex_otel_gateway::tools::loadgen::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => match run(config, cli.log_level, cli.log_format) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::CodexConfig(args) => codex_config(&args),
        Command::Doctor(args) => doctor(&args),
        Command::Init(args) => init(&args),
        Command::Top(args) => match codex_otel_gateway::tools::top::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Ingest(args) => match ingest(args, cli.log_level, cli.log_format) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

fn load(path: Option<&PathBuf>) -> Result<config::Validated, ExitCode> {
    config::load_file(path.map(PathBuf::as_path), &config::process_env).map_err(|e| {
        for line in e.lines() {
            eprintln!("{line}");
        }
        ExitCode::from(EX_CONFIG)
    })
}

fn validate(path: &PathBuf) -> ExitCode {
    match load(Some(path)) {
        Ok(v) => {
            print_diagnostics(&v.warnings);
            println!("{}: valid", path.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run(
    path: Option<PathBuf>,
    level: Option<String>,
    format: Option<String>,
) -> anyhow::Result<ExitCode> {
    let validated = match load(path.as_ref()) {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let logs = &validated.config.service.telemetry.logs;
    let level = level
        .or_else(|| logs.level.clone())
        .unwrap_or_else(|| "info".into());
    let json = format.or_else(|| logs.encoding.clone()).as_deref() == Some("json");
    codex_otel_gateway::telemetry::init_logging(&level, json);
    for w in &validated.warnings {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(codex_otel_gateway::app::run(validated, path))
        .context("gateway failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Exit code when `init` will not replace an existing file (sysexits EX_CANTCREAT).
const EX_CANTCREAT: u8 = 73;

fn init(args: &InitArgs) -> ExitCode {
    use codex_otel_gateway::tools::init::{init, InitError};
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(args.vendor.file_name()));
    match init(args.vendor, &output, args.force, &config::process_env) {
        Ok(w) => {
            for warning in &w.warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", w.text);
            ExitCode::SUCCESS
        }
        Err(e @ InitError::Exists(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(EX_CANTCREAT)
        }
        Err(e @ InitError::Write { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(EX_CANTCREAT)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EX_CONFIG)
        }
    }
}

fn codex_config(args: &CodexConfigArgs) -> ExitCode {
    use codex_otel_gateway::tools::codex_config::{render, Options};
    let validated = match load(args.config.as_ref()) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let options = Options {
        protocol: args.protocol,
        host: args.host.clone(),
        auth_header_env: args.auth_header_env.clone(),
        receiver: args.receiver.clone(),
        requirements: args.requirements,
        environment: Some(args.environment.clone()),
    };
    match render(&validated.config, &options, &config::process_env) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", r.text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EX_CONFIG)
        }
    }
}

fn doctor(args: &DoctorArgs) -> ExitCode {
    use codex_otel_gateway::tools::doctor;
    // Remember the variables the config reads, so a refused credential names its variable.
    let seen = std::cell::RefCell::new(doctor::EnvSeen::new());
    let lookup = |name: &str| {
        let value = config::process_env(name);
        if let Some(v) = &value {
            seen.borrow_mut().push((name.to_string(), v.clone()));
        }
        value
    };
    let validated = match config::load_file(args.config.as_deref(), &lookup) {
        Ok(v) => v,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return ExitCode::from(EX_CONFIG);
        }
    };
    let options = doctor::Options {
        codex_config: args.codex_config.clone(),
        admin: args.admin.clone(),
        timeout: args.timeout,
    };
    let report = doctor::run(
        &validated.config,
        &seen.borrow(),
        &options,
        &config::process_env,
    );
    print!("{}", report.render());
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn ingest(
    args: IngestArgs,
    level: Option<String>,
    format: Option<String>,
) -> anyhow::Result<ExitCode> {
    use codex_otel_gateway::tools::ingest::{self, deliver};
    codex_otel_gateway::telemetry::init_logging(
        level.as_deref().unwrap_or("warn"),
        format.as_deref() == Some("json"),
    );
    let state_path = match args.state {
        Some(p) => p,
        None => ingest::state::default_path(&config::process_env)?,
    };
    let gateway = match &args.config {
        Some(path) => match load(Some(path)) {
            Ok(v) => Some(v),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let mut headers = args.headers;
    if let Some(name) = &args.bearer_token_env {
        let token = std::env::var(name)
            .with_context(|| format!("--bearer-token-env {name}: the variable is not set"))?;
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let options = ingest::Options {
        paths: args.paths,
        state_path,
        batch_records: args.batch,
        progress: !args.no_progress,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let sink = match (&gateway, &args.endpoint) {
            (Some(cfg), _) => {
                deliver::Sink::Pipelines(Box::new(deliver::PipelineSink::start(cfg)?))
            }
            (None, Some(endpoint)) => {
                deliver::Sink::Http(deliver::HttpSink::new(endpoint, &headers, args.timeout)?)
            }
            (None, None) => anyhow::bail!("pass --endpoint or --config"),
        };
        Ok(ingest::run(&options, sink).await?)
    })?;
    for line in summary.report() {
        eprintln!("{line}");
    }
    Ok(if summary.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
