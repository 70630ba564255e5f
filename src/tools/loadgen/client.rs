//! `loadgen send`: replays one OTLP protobuf payload. Each of `--connections` workers owns one
//! connection (an HTTP/1.1 client, or a gRPC channel over HTTP/2) and sends one request at a
//! time: back to back (closed loop, the default) or on a fixed schedule (`--rate`, requests/s
//! over all workers; latency is then measured from the scheduled send time, so a server that
//! falls behind shows it). The payload is read, checked and (with `--gzip`) compressed once.
//! The report is one JSON object on stdout (and in `--output`).

use super::{http_path, runtime, signal_from_name, LoadgenError, SignalArg};
use crate::codec::scan::{self, ScanLimits};
use crate::exporters::otlp_grpc::PassThroughCodec;
use bytes::Bytes;
use http::uri::PathAndQuery;
use processors::Signal;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;

/// Error messages kept in the report (the first ones seen).
const ERROR_SAMPLES: usize = 5;

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP, protobuf body.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// `loadgen send` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Base URL: `http://host:port` (OTLP/HTTP: the signal's `/v1/...` path is added).
    #[arg(long)]
    pub endpoint: String,
    /// OTLP/HTTP or OTLP/gRPC.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: Protocol,
    /// An `Export*ServiceRequest` in protobuf, e.g. tests/fixtures/tool-secrets-protobuf/001_traces.pb.
    #[arg(long)]
    pub payload: PathBuf,
    /// The payload's signal (default: from the file name).
    #[arg(long, value_enum)]
    pub signal: Option<SignalArg>,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// How long to send, e.g. "10s".
    #[arg(long, default_value = "10s", value_parser = processors::units::parse_duration)]
    pub duration: Duration,
    /// Requests per second over all connections (default: as fast as answers come back).
    #[arg(long)]
    pub rate: Option<f64>,
    /// gzip the body (compressed once; the report's bytes count the compressed size).
    #[arg(long)]
    pub gzip: bool,
    /// Deadline of one request.
    #[arg(long, default_value = "10s", value_parser = processors::units::parse_duration)]
    pub timeout: Duration,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    samples: Vec<String>,
}

impl Tally {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.samples.len() < ERROR_SAMPLES {
            self.samples.push(message);
        }
    }
}

/// A worker's connection.
enum Conn {
    Http {
        client: reqwest::Client,
        url: String,
        gzip: bool,
    },
    Grpc {
        grpc: tonic::client::Grpc<tonic::transport::Channel>,
        path: PathAndQuery,
    },
}

impl Conn {
    fn new(args: &SendArgs, signal: Signal) -> Result<Conn, LoadgenError> {
        let bad = |message: String| LoadgenError::Endpoint {
            endpoint: args.endpoint.clone(),
            message,
        };
        let base = args.endpoint.trim_end_matches('/');
        match args.protocol {
            Protocol::Http => {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .http1_only()
                    .tcp_nodelay(true)
                    .timeout(args.timeout)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                Ok(Conn::Http {
                    client,
                    url: format!("{base}{}", http_path(signal)),
                    gzip: args.gzip,
                })
            }
            Protocol::Grpc => {
                let endpoint = tonic::transport::Endpoint::from_shared(base.to_string())
                    .map_err(|e| bad(e.to_string()))?
                    .tcp_nodelay(true)
                    .timeout(args.timeout);
                let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy())
                    .max_decoding_message_size(4 * 1024 * 1024);
                if args.gzip {
                    grpc = grpc.send_compressed(CompressionEncoding::Gzip);
                }
                let path = match signal {
                    Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    Signal::Metrics => {
                        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
                    }
                    Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                };
                Ok(Conn::Grpc {
                    grpc,
                    path: PathAndQuery::from_static(path),
                })
            }
        }
    }

    /// Sends one request; `Err` describes a failure.
    async fn send(&mut self, body: &Bytes) -> Result<(), String> {
        match self {
            Conn::Http { client, url, gzip } => {
                let mut req = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(body.clone());
                if *gzip {
                    req = req.header("content-encoding", "gzip");
                }
                let resp = req.send().await.map_err(|e| format!("send: {e}"))?;
                let status = resp.status();
                // Read the answer so the connection can be reused.
                let _ = resp.bytes().await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {status}"))
                }
            }
            Conn::Grpc { grpc, path } => {
                grpc.ready().await.map_err(|e| format!("connect: {e}"))?;
                grpc.unary(
                    tonic::Request::new(vec![body.clone()]),
                    path.clone(),
                    PassThroughCodec,
                )
                .await
                .map(|_| ())
                .map_err(|s| format!("gRPC {:?}: {}", s.code(), s.message()))
            }
        }
    }
}

/// Runs `loadgen send`: prints the JSON report.
pub fn run(args: SendArgs) -> Result<(), LoadgenError> {
    let raw = std::fs::read(&args.payload).map_err(|source| LoadgenError::ReadPayload {
        path: args.payload.clone(),
        source,
    })?;
    let signal = args
        .signal
        .map(Signal::from)
        .or_else(|| signal_from_name(&args.payload))
        .ok_or_else(|| LoadgenError::UnknownSignal(args.payload.clone()))?;
    let items_per_request = scan::scan(signal, &raw, &ScanLimits::NONE)
        .map_err(|source| LoadgenError::BadPayload {
            path: args.payload.clone(),
            signal,
            source,
        })?
        .items;
    // gRPC compresses per message itself (tonic); HTTP sends the body compressed once.
    let body = if args.gzip && args.protocol == Protocol::Http {
        Bytes::from(crate::codec::gzip_bytes(&raw))
    } else {
        Bytes::from(raw)
    };
    let connections = args.connections.max(1);
    let rt = runtime(args.threads)?;
    let (tallies, elapsed) = rt.block_on(async {
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections {
            conns.push(Conn::new(&args, signal)?);
        }
        let start = Instant::now();
        let deadline = start + args.duration;
        // Interval between one worker's requests at --rate.
        let period = args
            .rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(connections as f64 / r));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, conn) in conns.into_iter().enumerate() {
            let body = body.clone();
            // Spread the workers' schedules over one period.
            let offset = period.map(|p| p.mul_f64(i as f64 / connections as f64));
            tasks.spawn(worker(conn, body, deadline, period, offset));
        }
        let mut tallies = Vec::with_capacity(connections);
        while let Some(t) = tasks.join_next().await {
            match t {
                Ok(t) => tallies.push(t),
                Err(e) => {
                    let mut t = Tally::default();
                    t.error(format!("worker failed: {e}"));
                    tallies.push(t);
                }
            }
        }
        Ok::<_, LoadgenError>((tallies, start.elapsed()))
    })?;
    let report = report(
        &args,
        signal,
        items_per_request,
        body.len() as u64,
        tallies,
        elapsed,
    );
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{text}\n")).map_err(|source| LoadgenError::WriteReport {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

async fn worker(
    mut conn: Conn,
    body: Bytes,
    deadline: Instant,
    period: Option<Duration>,
    offset: Option<Duration>,
) -> Tally {
    let mut tally = Tally::default();
    let mut ticks = period.map(|p| {
        let first = tokio::time::Instant::now() + offset.unwrap_or_default();
        let mut i = tokio::time::interval_at(first, p);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        i
    });
    loop {
        let sent_at = match ticks.as_mut() {
            Some(i) => i.tick().await.into_std(),
            None => Instant::now(),
        };
        if sent_at >= deadline {
            break;
        }
        let result = conn.send(&body).await;
        let took = sent_at.elapsed();
        tally
            .latencies_us
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        match result {
            Ok(()) => tally.ok += 1,
            Err(e) => tally.error(e),
        }
    }
    tally
}

/// The `p`-quantile (0..=1) of sorted microseconds, in milliseconds.
fn quantile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn report(
    args: &SendArgs,
    signal: Signal,
    items_per_request: u64,
    body_bytes: u64,
    tallies: Vec<Tally>,
    elapsed: Duration,
) -> serde_json::Value {
    let mut latencies = Vec::new();
    let (mut ok, mut errors, mut samples) = (0u64, 0u64, Vec::new());
    for t in tallies {
        ok += t.ok;
        errors += t.errors;
        latencies.extend(t.latencies_us);
        samples.extend(t.samples);
    }
    samples.truncate(ERROR_SAMPLES);
    latencies.sort_unstable();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let items = ok * items_per_request;
    let bytes = ok * body_bytes;
    serde_json::json!({
        "protocol": match args.protocol { Protocol::Http => "http", Protocol::Grpc => "grpc" },
        "signal": signal.to_string(),
        "payload": args.payload.display().to_string(),
        "gzip": args.gzip,
        "connections": args.connections.max(1),
        "rate_target": args.rate,
        "items_per_request": items_per_request,
        "request_bytes": body_bytes,
        "duration_s": round(secs, 3),
        "requests": ok + errors,
        "ok": ok,
        "errors": errors,
        "items": items,
        "bytes": bytes,
        "requests_per_s": round(ok as f64 / secs, 1),
        "items_per_s": round(items as f64 / secs, 1),
        "mb_per_s": round(bytes as f64 / secs / 1e6, 2),
        "latency_ms": {
            "p50": round(quantile_ms(&latencies, 0.50), 3),
            "p99": round(quantile_ms(&latencies, 0.99), 3),
            "max": round(quantile_ms(&latencies, 1.0), 3),
        },
        "error_samples": samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 50.0);
        assert_eq!(quantile_ms(&v, 0.99), 99.0);
        assert_eq!(quantile_ms(&v, 1.0), 100.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
