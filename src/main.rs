//! The `codex-otel-gateway` command line: `run`, `validate`. Thin: parses arguments, loads the
//! config, hands over to the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use codex_otel_gateway::config::{self, Diagnostic};
use std::path::PathBuf;
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config } => validate(&config),
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_CONFIG);
            ExitCode::SUCCESS
        }
        Command::Run { config } => match run(config, cli.log_level, cli.log_format) {
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
    let text = match path {
        None => config::DEFAULT_CONFIG.to_string(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: cannot read: {e}", p.display());
                return Err(ExitCode::from(EX_CONFIG));
            }
        },
    };
    config::load_str(&text, &config::process_env).map_err(|diags| {
        print_diagnostics(&diags);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        eprintln!("{errors} error(s) in the config");
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
        .block_on(codex_otel_gateway::app::run(validated.config, path))
        .context("gateway failed")?;
    Ok(ExitCode::SUCCESS)
}
