//! `codex-otel-gateway doctor`: the vendor troubleshooting lists as one command, run where Codex
//! or the gateway runs. Three groups of checks, each a line of the [`Report`]:
//!
//! 1. [`codex_toml`]: the Codex CLI's `config.toml` `[otel]` table against what the gateway's
//!    `otlp` receiver serves (per-signal URLs and their paths, `protocol`, header format and auth
//!    scheme, `log_user_prompt`, exporters left at `none`/`statsig`, `environment`).
//! 2. The admin listener's `/healthz` and `/readyz` (through [`super::healthcheck`]).
//! 3. [`probe`]: one synthetic span, log record and metric sent through each exporter of the
//!    config with the exporter's own client (its URL, headers, TLS), one attempt, the outcome
//!    explained per stage: DNS, connect, TLS, HTTP/gRPC status.
//!
//! Client side only: it reads the config (`main.rs` loads it) and talks to the network; the exit
//! code is non-zero when any check fails.

pub mod codex_toml;
pub mod probe;
pub mod synthetic;

use crate::config::model::GatewayConfig;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but probably not what the user wants.
    Warn,
    /// Broken: the exit code is non-zero.
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The outcome.
    pub level: Level,
    /// What was checked, e.g. `codex [otel.exporter]` or `exporters.otlphttp/last9 logs`.
    pub subject: String,
    /// What was found, in plain language.
    pub message: String,
    /// What to do about it (empty when nothing is to be done).
    pub fix: String,
}

impl Check {
    /// A passed check.
    pub fn ok(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Check::new(Level::Ok, subject, message, "")
    }

    /// A warning with its fix.
    pub fn warn(
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::new(Level::Warn, subject, message, fix)
    }

    /// A failure with its fix.
    pub fn fail(
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check::new(Level::Fail, subject, message, fix)
    }

    fn new(
        level: Level,
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            level,
            subject: subject.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The lines.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.level == Level::Fail)
    }

    /// One line per check (`ok|warn|FAIL  subject: message — fix: ...`), then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = write!(out, "{:<4}  {}: {}", c.level.label(), c.subject, c.message);
            if !c.fix.is_empty() {
                let _ = write!(out, " — fix: {}", c.fix);
            }
            out.push('\n');
        }
        let count = |l: Level| self.checks.iter().filter(|c| c.level == l).count();
        let _ = writeln!(
            out,
            "{} ok, {} warnings, {} failures",
            count(Level::Ok),
            count(Level::Warn),
            count(Level::Fail)
        );
        out
    }
}

/// What `doctor` checks.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Codex `config.toml`; `None`: `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`
    /// (a missing default file is a warning, a missing named file a failure).
    pub codex_config: Option<PathBuf>,
    /// Base URL of the admin listener (`http://host:port`); default: the config's
    /// `service.telemetry.metrics.address`.
    pub admin: Option<String>,
    /// Deadline of each network step (resolve, connect, one request).
    pub timeout: Duration,
}

/// Environment variables the config referred to while it was loaded, with their values: the
/// report names the one an exporter's credential came from.
pub type EnvSeen = Vec<(String, String)>;

/// Runs every check against `cfg`; `lookup` reads environment variables (`CODEX_HOME`, `HOME`,
/// `OTEL_EXPORTER_OTLP_HEADERS`).
pub fn run(
    cfg: &GatewayConfig,
    env_seen: &EnvSeen,
    opts: &Options,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Report {
    let mut report = Report::default();
    report.checks.extend(codex_toml::check_file(
        cfg,
        opts.codex_config.as_deref(),
        lookup,
    ));
    report.checks.extend(gateway_health(cfg, opts));
    report
        .checks
        .extend(probe::probe_exporters(cfg, env_seen, opts.timeout));
    report
}

/// GETs `/healthz` and `/readyz` of the admin listener.
fn gateway_health(cfg: &GatewayConfig, opts: &Options) -> Vec<Check> {
    let base = match &opts.admin {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let metrics = &cfg.service.telemetry.metrics;
            if metrics.level.as_deref() == Some("none") {
                return vec![Check::warn(
                    "gateway",
                    "the admin listener is off (service.telemetry.metrics.level: none), so \
                     whether the gateway runs cannot be checked",
                    "pass --admin http://HOST:PORT of a gateway that has one",
                )];
            }
            format!("http://{}", client_address(&metrics.address))
        }
    };
    let mut out = Vec::new();
    for path in ["/healthz", "/readyz"] {
        let url = format!("{base}{path}");
        match super::healthcheck::check(&url, opts.timeout) {
            Ok(()) => out.push(Check::ok("gateway", format!("{url}: 200"))),
            Err(e) if path == "/healthz" => {
                out.push(Check::fail(
                    "gateway",
                    format!("{url}: {e}"),
                    "start the gateway (codex-otel-gateway run --config ...) or pass --admin \
                     with its admin address",
                ));
                break;
            }
            Err(e) => out.push(Check::fail(
                "gateway",
                format!("{url}: {e}"),
                "the gateway runs but is not ready: see its log (a full queue or the memory \
                 limit refuses data)",
            )),
        }
    }
    out
}

/// A listen address as a client dials it: `0.0.0.0`/`::` become loopback.
fn client_address(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("" | "0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]" | "::", port)) => format!("[::1]:{port}"),
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failure_fails_the_report_and_every_check_is_one_line() {
        let mut r = Report::default();
        r.checks.push(Check::ok("a", "fine"));
        r.checks.push(Check::warn("b", "hmm", "do x"));
        assert!(!r.failed());
        r.checks.push(Check::fail("c", "broken", "do y"));
        assert!(r.failed());
        let text = r.render();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("FAIL  c: broken — fix: do y"));
        assert!(text.ends_with("1 ok, 1 warnings, 1 failures\n"));
    }

    #[test]
    fn wildcard_listen_addresses_are_dialled_on_loopback() {
        assert_eq!(client_address("0.0.0.0:8888"), "127.0.0.1:8888");
        assert_eq!(client_address(":8888"), "127.0.0.1:8888");
        assert_eq!(client_address("[::]:8888"), "[::1]:8888");
        assert_eq!(client_address("gw:8888"), "gw:8888");
    }
}
