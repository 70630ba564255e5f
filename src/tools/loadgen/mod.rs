//! `codex-otel-gateway loadgen`: the benchmark tools (see BENCHMARKS.md).
//!
//! * `loadgen send` ([`client`]) replays one OTLP protobuf payload over OTLP/HTTP or OTLP/gRPC
//!   from N connections for a duration, as fast as answers come back or at a fixed rate, and
//!   prints a JSON report: requests/s, items/s, MB/s, p50/p99/max latency, errors.
//! * `loadgen sink` ([`sink`]) is a counting OTLP receiver (gRPC and HTTP on one port): it
//!   counts the requests, bytes and items (spans, data points, log records) it gets, answers
//!   `GET /stats` with the counts as JSON and prints them when stopped.
//!
//! Both run on their own small tokio runtime (`--threads`, default 1) so a benchmark can give
//! them one core and the gateway another.

pub mod client;
pub mod sink;

use processors::Signal;
use std::path::{Path, PathBuf};

/// `loadgen` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replay a protobuf payload against an OTLP endpoint; print a JSON report.
    Send(client::SendArgs),
    /// Count what OTLP clients send (gRPC and HTTP on one port); `GET /stats` for JSON.
    Sink(sink::SinkArgs),
}

/// Why a `loadgen` command failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The payload file cannot be read.
    #[error("{path}: cannot read: {source}")]
    ReadPayload {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// `--signal` was not given and the file name does not say.
    #[error("{0}: cannot tell the signal from the file name; pass --signal")]
    UnknownSignal(PathBuf),
    /// The payload is not an export request of the signal.
    #[error("{path}: not an OTLP {signal} export request in protobuf: {source}")]
    BadPayload {
        /// The file.
        path: PathBuf,
        /// Its signal.
        signal: Signal,
        /// What is wrong.
        source: crate::codec::scan::ScanError,
    },
    /// The endpoint is not usable.
    #[error("endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// As given.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The sink's address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// The report file could not be written.
    #[error("{path}: cannot write the report: {source}")]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}

/// Runs a `loadgen` subcommand to completion.
pub fn run(command: Command) -> Result<(), LoadgenError> {
    match command {
        Command::Send(args) => client::run(args),
        Command::Sink(args) => sink::run(args),
    }
}

/// A current-thread runtime for one thread, a multi-thread runtime for more.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, LoadgenError> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder.enable_all().build().map_err(LoadgenError::Runtime)
}

/// The signal a payload file holds, from its name (`..._traces.pb`, `metrics`, `logs`).
pub fn signal_from_name(path: &Path) -> Option<Signal> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let hits: Vec<Signal> = [
        ("trace", Signal::Traces),
        ("metric", Signal::Metrics),
        ("log", Signal::Logs),
    ]
    .into_iter()
    .filter(|(word, _)| name.contains(word))
    .map(|(_, s)| s)
    .collect();
    match hits.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// `--signal` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignalArg {
    /// Spans.
    Traces,
    /// Data points.
    Metrics,
    /// Log records.
    Logs,
}

impl From<SignalArg> for Signal {
    fn from(s: SignalArg) -> Signal {
        match s {
            SignalArg::Traces => Signal::Traces,
            SignalArg::Metrics => Signal::Metrics,
            SignalArg::Logs => Signal::Logs,
        }
    }
}

/// The OTLP/HTTP path of `signal`.
pub fn http_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/v1/traces",
        Signal::Metrics => "/v1/metrics",
        Signal::Logs => "/v1/logs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_comes_from_the_file_name_when_it_is_unambiguous() {
        assert_eq!(
            signal_from_name(Path::new("x/001_traces.pb")),
            Some(Signal::Traces)
        );
        assert_eq!(
            signal_from_name(Path::new("003_metrics.pb")),
            Some(Signal::Metrics)
        );
        assert_eq!(
            signal_from_name(Path::new("004_LOGS.pb")),
            Some(Signal::Logs)
        );
        assert_eq!(signal_from_name(Path::new("payload.pb")), None);
        assert_eq!(signal_from_name(Path::new("traces_and_logs.pb")), None);
    }
}
