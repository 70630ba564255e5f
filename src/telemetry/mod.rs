//! The gateway's own telemetry: logging setup (`tracing`, text or JSON, to stderr so stdout stays
//! free for the `debug` exporter), self-metrics ([`metrics`]) and the admin listener serving
//! `/metrics`, `/healthz` and `/readyz` ([`admin`]).

pub mod admin;
pub mod metrics;

use tracing_subscriber::EnvFilter;

/// Parses a log level name.
pub fn parse_level(level: &str) -> Option<tracing::Level> {
    match level.to_ascii_lowercase().as_str() {
        "error" => Some(tracing::Level::ERROR),
        "warn" | "warning" => Some(tracing::Level::WARN),
        "info" => Some(tracing::Level::INFO),
        "debug" => Some(tracing::Level::DEBUG),
        "trace" => Some(tracing::Level::TRACE),
        _ => None,
    }
}

/// Installs the global logger. `RUST_LOG` wins over `level`; `json` selects JSON lines.
pub fn init_logging(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A second init (tests) is harmless: keep the first logger.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Logs `message` as a warning for `component` at most once every 10 seconds per component and
/// message; the rest are counted by the self-metrics anyway.
pub fn warn_rate_limited(component: &str, message: &'static str) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};
    type Seen = HashMap<(String, &'static str), (Instant, u64)>;
    static LAST: OnceLock<Mutex<Seen>> = OnceLock::new();
    let Ok(mut last) = LAST.get_or_init(Default::default).lock() else {
        return;
    };
    let now = Instant::now();
    let entry = last
        .entry((component.to_string(), message))
        .or_insert((now - Duration::from_secs(3600), 0));
    if now.duration_since(entry.0) >= Duration::from_secs(10) {
        let suppressed = entry.1;
        *entry = (now, 0);
        drop(last);
        tracing::warn!(component, suppressed, "{message}");
    } else {
        entry.1 += 1;
    }
}
