//! `loadgen sink`: a counting OTLP receiver for benchmarks. One port speaks HTTP/1.1 and
//! HTTP/2 (h2c): `application/grpc` requests are OTLP/gRPC `Export` calls (gzip accepted),
//! `POST /v1/{traces,metrics,logs}` OTLP/HTTP (protobuf or JSON, gzip accepted). Every request
//! is answered with success once counted; its items are counted with the allocation-free
//! [`crate::codec::scan`] (JSON bodies are decoded). `GET /stats` returns the counts as JSON;
//! on SIGINT / SIGTERM the sink prints them and exits.

use super::{runtime, LoadgenError};
use crate::codec::{json, scan};
use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use processors::{OtlpRequest, Signal};
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `loadgen sink` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// Listen address (OTLP/gRPC and OTLP/HTTP).
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub listen: SocketAddr,
    /// Worker threads of the sink's runtime.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Counts of one signal.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    items: AtomicU64,
}

/// Everything the sink counted.
#[derive(Default)]
pub struct Stats {
    by_signal: [Counts; 3],
    bytes: AtomicU64,
    bad: AtomicU64,
}

impl Stats {
    fn add(&self, signal: Signal, items: u64, bytes: usize) {
        let c = &self.by_signal[signal as usize];
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.items.fetch_add(items, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counts as JSON: `requests`, `items`, `bytes`, `bad_requests`, and per signal.
    pub fn json(&self) -> serde_json::Value {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let per = |s: Signal| {
            let c = &self.by_signal[s as usize];
            serde_json::json!({ "requests": get(&c.requests), "items": get(&c.items) })
        };
        let sum =
            |f: fn(&Counts) -> &AtomicU64| self.by_signal.iter().map(|c| get(f(c))).sum::<u64>();
        serde_json::json!({
            "requests": sum(|c| &c.requests),
            "items": sum(|c| &c.items),
            "bytes": get(&self.bytes),
            "bad_requests": get(&self.bad),
            "traces": per(Signal::Traces),
            "metrics": per(Signal::Metrics),
            "logs": per(Signal::Logs),
        })
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Runs the sink until SIGINT / SIGTERM; prints the final counts.
pub fn run(args: SinkArgs) -> Result<(), LoadgenError> {
    let rt = runtime(args.threads)?;
    let stats = Arc::new(Stats::default());
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| LoadgenError::Bind {
                addr: args.listen,
                source,
            })?;
        eprintln!(
            "loadgen sink: listening on {}",
            listener.local_addr().unwrap_or(args.listen)
        );
        let serve = serve(listener, stats.clone());
        tokio::select! {
            () = serve => {}
            () = stopped() => {}
        }
        Ok::<_, LoadgenError>(())
    })?;
    println!(
        "{}",
        serde_json::to_string_pretty(&stats.json()).unwrap_or_default()
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (never, if they cannot be watched).
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Accepts connections forever, serving each with hyper (HTTP/1.1 or h2c).
pub async fn serve(listener: tokio::net::TcpListener, stats: Arc<Stats>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((io, _)) = listener.accept().await else {
            continue;
        };
        let _ = io.set_nodelay(true);
        let stats = stats.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let stats = stats.clone();
                async move { Ok::<_, Infallible>(handle(&stats, req).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(io), svc).await;
        });
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn signal_of_grpc_path(path: &str) -> Option<Signal> {
    match path {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some(Signal::Traces),
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => Some(Signal::Metrics),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some(Signal::Logs),
        _ => None,
    }
}

fn signal_of_http_path(path: &str) -> Option<Signal> {
    match path {
        "/v1/traces" => Some(Signal::Traces),
        "/v1/metrics" => Some(Signal::Metrics),
        "/v1/logs" => Some(Signal::Logs),
        _ => None,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn gunzip(data: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(data.len() * 4);
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .ok()?;
    Some(Bytes::from(out))
}

async fn handle(stats: &Stats, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && path == "/stats" {
        return full(StatusCode::OK, "application/json", stats.json().to_string());
    }
    let headers = req.headers().clone();
    let Ok(collected) = req.into_body().collect().await else {
        stats.bad.fetch_add(1, Ordering::Relaxed);
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "cannot read the body",
        );
    };
    let body = collected.to_bytes();
    if header(&headers, "content-type").starts_with("application/grpc") {
        return grpc(stats, &path, &headers, body);
    }
    let Some(signal) = signal_of_http_path(&path) else {
        return full(StatusCode::NOT_FOUND, "text/plain", "not found");
    };
    let wire_len = body.len();
    let body = if header(&headers, "content-encoding").eq_ignore_ascii_case("gzip") {
        match gunzip(&body) {
            Some(b) => b,
            None => {
                stats.bad.fetch_add(1, Ordering::Relaxed);
                return full(StatusCode::BAD_REQUEST, "text/plain", "invalid gzip body");
            }
        }
    } else {
        body
    };
    let json_body = header(&headers, "content-type").starts_with("application/json");
    let items = if json_body {
        match signal {
            Signal::Traces => json::decode_traces(&body).map(|r| r.item_count()),
            Signal::Metrics => json::decode_metrics(&body).map(|r| r.item_count()),
            Signal::Logs => json::decode_logs(&body).map(|r| r.item_count()),
        }
        .ok()
        .map(|n| n as u64)
    } else {
        scan::count(signal, &body).ok()
    };
    match items {
        Some(items) => {
            stats.add(signal, items, wire_len);
            if json_body {
                full(StatusCode::OK, "application/json", "{}")
            } else {
                full(StatusCode::OK, "application/x-protobuf", Bytes::new())
            }
        }
        None => {
            stats.bad.fetch_add(1, Ordering::Relaxed);
            full(StatusCode::BAD_REQUEST, "text/plain", "invalid OTLP body")
        }
    }
}

/// A gRPC reply: `grpc-status` in the trailers after an empty message (status 0), or
/// trailers-only (an error).
fn grpc_reply(code: u8, message: &'static str) -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from(u16::from(code)));
    if !message.is_empty() {
        trailers.insert("grpc-message", http::HeaderValue::from_static(message));
    }
    let mut resp = if code == 0 {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
            Ok(Frame::trailers(trailers)),
        ];
        Response::new(BodyExt::boxed(StreamBody::new(futures::stream::iter(
            frames,
        ))))
    } else {
        let mut r = Response::new(Full::new(Bytes::new()).boxed());
        r.headers_mut().extend(trailers);
        r
    };
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    resp
}

fn grpc(stats: &Stats, path: &str, headers: &HeaderMap, mut body: Bytes) -> Response<Body> {
    let Some(signal) = signal_of_grpc_path(path) else {
        return grpc_reply(12, "unknown method");
    };
    let wire_len = body.len();
    let gzip = header(headers, "grpc-encoding").eq_ignore_ascii_case("gzip");
    let mut items = 0u64;
    // A unary call carries one message; count every message that came.
    while body.has_remaining() {
        if body.len() < 5 {
            stats.bad.fetch_add(1, Ordering::Relaxed);
            return grpc_reply(13, "truncated message");
        }
        let compressed = body[0] == 1;
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        body.advance(5);
        if body.len() < len {
            stats.bad.fetch_add(1, Ordering::Relaxed);
            return grpc_reply(13, "truncated message");
        }
        let msg = body.split_to(len);
        let msg = match (compressed, gzip) {
            (false, _) => Some(msg),
            (true, true) => gunzip(&msg),
            (true, false) => None,
        };
        match msg.and_then(|m| scan::count(signal, &m).ok()) {
            Some(n) => items += n,
            None => {
                stats.bad.fetch_add(1, Ordering::Relaxed);
                return grpc_reply(3, "invalid OTLP message");
            }
        }
    }
    stats.add(signal, items, wire_len);
    grpc_reply(0, "")
}
