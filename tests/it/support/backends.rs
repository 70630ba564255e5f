//! Fake OTLP backends that record everything they receive.
//!
//! [`FakeBackend::grpc`] serves the three OTLP collector services over gRPC (gzip accepted,
//! messages up to 64 MiB); [`FakeBackend::http`] serves OTLP/HTTP: `POST` with
//! `application/x-protobuf` or `application/json`, optionally `content-encoding: gzip`, on
//! `/v1/traces`, `/v1/metrics`, `/v1/logs` or any other path whose last segment ends in
//! `traces`, `metrics` or `logs`. Both listen on `127.0.0.1`, on a port the OS picks.
//!
//! Every request is recorded ([`FakeBackend::requests`]) — rejected ones too, with
//! `accepted: false` — and every accepted export request is kept decoded
//! ([`FakeBackend::received_traces`], ...), and every request carries the [`Instant`] (and wall
//! time) it arrived, so tests can measure the gaps between attempts.
//!
//! Scripting, in the order a request sees it: [`FakeBackend::set_hang`] holds requests without
//! answering while set; [`FakeBackend::set_delay`] answers late (a slow backend);
//! [`FakeBackend::fail_next`] / [`FakeBackend::fail_next_with`] fail the next requests (optionally
//! with headers such as `Retry-After`), then [`FakeBackend::set_status`] fails every request, then
//! [`FakeBackend::set_failure_rate`] fails a seeded random share of them.
//!
//! [`FakeBackend::http_on`] / [`FakeBackend::grpc_on`] start on a given port, so a test can
//! bring up a backend that was "down" on the port the gateway already targets. Dropping the
//! backend stops its server: the listening socket closes at once and open connections are shut
//! down gracefully.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use codex_otel_gateway::codec::{json, rpc};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;

use super::fixtures::{
    count_data_points, count_log_records, count_spans, media_type, Signal, JSON, PROTOBUF,
};

/// Largest request the fake backends accept (gRPC message or HTTP body), in bytes.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Which protocol a [`FakeBackend`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Grpc,
    Http,
}

impl BackendKind {
    /// `"grpc"` or `"http"`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Grpc => "grpc",
            BackendKind::Http => "http",
        }
    }
}

/// One request as it reached a fake backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP path; for gRPC the method path
    /// (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    pub path: String,
    /// All request headers (gRPC: metadata), names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The `content-type` header, empty when absent (gRPC: `application/grpc`).
    pub content_type: String,
    /// `content-encoding` (HTTP) or `grpc-encoding` (gRPC), `None` when absent.
    pub content_encoding: Option<String>,
    /// Whether the backend answered success and kept the data. `false` for scripted failures
    /// and for requests it could not decode.
    pub accepted: bool,
    /// The HTTP status answered (gRPC: the HTTP status the scripted failure was given as; 200
    /// when accepted).
    pub status: u16,
    /// Spans, data points or log records in the request when it was accepted, else 0.
    pub items: usize,
    /// When the request reached the backend (before any hang or delay).
    pub received_at: Instant,
    /// The same moment as wall-clock time (to compare with HTTP dates).
    pub received_wall: SystemTime,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The signal the request was for, judged by its path.
    pub fn signal(&self) -> Option<Signal> {
        Signal::from_path(&self.path)
    }
}

/// A scripted failure: HTTP status and extra response headers (gRPC: see
/// [`FakeBackend::fail_next_with`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Failure {
    fn plain(status: u16) -> Failure {
        Failure {
            status,
            headers: Vec::new(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Seed of the failure-rate RNG unless [`FakeBackend::set_seed`] changes it.
pub const DEFAULT_SEED: u64 = 0x5eed_f00d;

struct Store {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    requests: Vec<RecordedRequest>,
    /// Scripted status answered to every request while set.
    status: Option<u16>,
    /// Scripted failures answered to the next requests, one each, before `status`.
    fail_next: VecDeque<Failure>,
    /// After `fail_next` and `status`: fail with this probability and status.
    failure_rate: Option<(f64, u16)>,
    rng: StdRng,
    /// How long every request waits before it is answered.
    delay: Duration,
    /// Requests currently held by `set_hang`.
    held: usize,
    /// Requests ever held by `set_hang`.
    held_total: usize,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            traces: Vec::new(),
            metrics: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
            status: None,
            fail_next: VecDeque::new(),
            failure_rate: None,
            rng: StdRng::seed_from_u64(DEFAULT_SEED),
            delay: Duration::ZERO,
            held: 0,
            held_total: 0,
        }
    }
}

impl Store {
    /// The scripted failure for the request being handled, if any.
    fn scripted_failure(&mut self) -> Option<Failure> {
        let failure = match self.fail_next.pop_front() {
            Some(f) => Some(f),
            None => match self.status {
                Some(s) => Some(Failure::plain(s)),
                None => match self.failure_rate {
                    Some((rate, status)) if self.rng.random::<f64>() < rate => {
                        Some(Failure::plain(status))
                    }
                    _ => None,
                },
            },
        };
        failure.filter(|f| !(200..300).contains(&f.status))
    }
}

/// What every handler shares: the store and the hang switch.
#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    hang: Arc<watch::Sender<bool>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            store: Arc::default(),
            hang: Arc::new(watch::channel(false).0),
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Store> {
    // A panicking handler must not hide what was recorded: ignore poisoning.
    shared.store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a request as held while it lives.
struct HeldGuard<'a>(&'a Shared);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        lock(self.0).held -= 1;
    }
}

/// What a request does on arrival, before anything is decided: note the time, wait while the
/// backend hangs, then wait out the delay. Returns the arrival time.
async fn arrive(shared: &Shared) -> (Instant, SystemTime) {
    let arrived = (Instant::now(), SystemTime::now());
    let mut hang = shared.hang.subscribe();
    if *hang.borrow_and_update() {
        {
            let mut store = lock(shared);
            store.held += 1;
            store.held_total += 1;
        }
        let _guard = HeldGuard(shared);
        let _ = hang.wait_for(|h| !*h).await;
    }
    let delay = lock(shared).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    arrived
}

/// The gRPC code a gRPC fake backend answers for a scripted HTTP status, chosen so that OTLP's
/// retry rules treat both protocols alike. Retryable: 429, 502, 503 → `Unavailable`; 408, 504 →
/// `DeadlineExceeded`. Not retryable: 400, 413 → `InvalidArgument`; 401 → `Unauthenticated`;
/// 403 → `PermissionDenied`; 404 → `NotFound`; 500 → `Internal`; 501 → `Unimplemented`;
/// anything else → `Unknown`.
pub fn grpc_code_for_http(status: u16) -> tonic::Code {
    match status {
        400 | 413 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::NotFound,
        408 | 504 => tonic::Code::DeadlineExceeded,
        429 | 502 | 503 => tonic::Code::Unavailable,
        500 => tonic::Code::Internal,
        501 => tonic::Code::Unimplemented,
        _ => tonic::Code::Unknown,
    }
}

/// A fake OTLP backend (gRPC or HTTP) running as tokio tasks on `127.0.0.1`.
pub struct FakeBackend {
    kind: BackendKind,
    addr: SocketAddr,
    store: Shared,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FakeBackend {
    /// Starts an OTLP/gRPC backend (traces, metrics and logs services; gzip accepted and
    /// offered; messages up to [`MAX_MESSAGE_SIZE`]).
    pub async fn grpc() -> FakeBackend {
        FakeBackend::grpc_on(0).await
    }

    /// [`FakeBackend::grpc`] on `127.0.0.1:port` (0: a port the OS picks). Retries the bind for
    /// a few seconds while the port is still taken.
    pub async fn grpc_on(port: u16) -> FakeBackend {
        let listener = bind(port).await;
        let addr = listener
            .local_addr()
            .expect("fake grpc backend: local_addr");
        let store = Shared::default();
        let sink = GrpcSink {
            store: store.clone(),
        };
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(sink.clone())
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(MAX_MESSAGE_SIZE),
                )
                .add_service(
                    MetricsServiceServer::new(sink.clone())
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(MAX_MESSAGE_SIZE),
                )
                .add_service(
                    LogsServiceServer::new(sink)
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip)
                        .max_decoding_message_size(MAX_MESSAGE_SIZE),
                )
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = on_shutdown.await;
                })
                .await;
            if let Err(e) = result {
                eprintln!("fake grpc backend on {addr} failed: {e}");
            }
        });
        FakeBackend {
            kind: BackendKind::Grpc,
            addr,
            store,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// Starts an OTLP/HTTP backend (protobuf and JSON, gzip accepted, bodies up to
    /// [`MAX_MESSAGE_SIZE`]). It answers 200 with an empty `Export*ServiceResponse` in the
    /// request's encoding; 404 for a path naming no signal, 405 for another method than POST,
    /// 415 for an unknown content type or encoding, 400 for a body it cannot decode.
    pub async fn http() -> FakeBackend {
        FakeBackend::http_on(0).await
    }

    /// [`FakeBackend::http`] on `127.0.0.1:port` (0: a port the OS picks). Retries the bind for
    /// a few seconds while the port is still taken.
    pub async fn http_on(port: u16) -> FakeBackend {
        let listener = bind(port).await;
        let addr = listener
            .local_addr()
            .expect("fake http backend: local_addr");
        let store = Shared::default();
        let (shutdown, on_shutdown) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(http_handler)
            .layer(DefaultBodyLimit::max(MAX_MESSAGE_SIZE))
            .with_state(store.clone());
        let task = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = on_shutdown.await;
                })
                .await;
            if let Err(e) = result {
                eprintln!("fake http backend on {addr} failed: {e}");
            }
        });
        FakeBackend {
            kind: BackendKind::Http,
            addr,
            store,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// `"backend grpc"` or `"backend http"`, for assertion messages.
    pub fn name(&self) -> String {
        format!("backend {}", self.kind.name())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no path).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `endpoint()` followed by `path`, e.g. `url("/v1/traces")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint())
    }

    /// The accepted trace export requests, in arrival order.
    pub fn received_traces(&self) -> Vec<ExportTraceServiceRequest> {
        lock(&self.store).traces.clone()
    }

    /// The accepted metrics export requests, in arrival order.
    pub fn received_metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        lock(&self.store).metrics.clone()
    }

    /// The accepted logs export requests, in arrival order.
    pub fn received_logs(&self) -> Vec<ExportLogsServiceRequest> {
        lock(&self.store).logs.clone()
    }

    /// The accepted trace export requests from the `from`-th on (for incremental polling of a
    /// backend holding a lot).
    pub fn received_traces_from(&self, from: usize) -> Vec<ExportTraceServiceRequest> {
        let store = lock(&self.store);
        store.traces.get(from..).unwrap_or_default().to_vec()
    }

    /// The accepted logs export requests from the `from`-th on.
    pub fn received_logs_from(&self, from: usize) -> Vec<ExportLogsServiceRequest> {
        let store = lock(&self.store);
        store.logs.get(from..).unwrap_or_default().to_vec()
    }

    /// The accepted logs export requests, each with the request that carried it (headers
    /// included), in arrival order.
    pub fn received_logs_with_headers(&self) -> Vec<(RecordedRequest, ExportLogsServiceRequest)> {
        let store = lock(&self.store);
        store
            .requests
            .iter()
            .filter(|r| r.accepted && r.signal() == Some(Signal::Logs))
            .cloned()
            .zip(store.logs.iter().cloned())
            .collect()
    }

    /// Every request that reached the backend, accepted or not, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.store).requests.clone()
    }

    /// Number of requests that reached the backend, accepted or not.
    pub fn request_count(&self) -> usize {
        lock(&self.store).requests.len()
    }

    /// Spans in the accepted trace requests.
    pub fn span_count(&self) -> usize {
        count_spans(&lock(&self.store).traces)
    }

    /// Metric data points in the accepted metrics requests.
    pub fn data_point_count(&self) -> usize {
        count_data_points(&lock(&self.store).metrics)
    }

    /// Log records in the accepted logs requests.
    pub fn log_record_count(&self) -> usize {
        count_log_records(&lock(&self.store).logs)
    }

    /// `"backend http 127.0.0.1:PORT: 4 requests (1 rejected), 512 spans, 55 data points,
    /// 30 log records"`, for messages.
    pub fn describe(&self) -> String {
        let store = lock(&self.store);
        let rejected = store.requests.iter().filter(|r| !r.accepted).count();
        format!(
            "{} {}: {} requests ({rejected} rejected), {} spans, {} data points, {} log records",
            self.name(),
            self.addr,
            store.requests.len(),
            count_spans(&store.traces),
            count_data_points(&store.metrics),
            count_log_records(&store.logs),
        )
    }

    /// While `Some(status)`, answer every request with that HTTP status (gRPC: the code
    /// [`grpc_code_for_http`] maps it to) and keep none of its data; `None` (or a 2xx status)
    /// restores normal answers.
    pub fn set_status(&self, status: Option<u16>) {
        lock(&self.store).status = status;
    }

    /// Answer the next `count` requests with `status` (before any [`set_status`] one), then go
    /// back to normal.
    ///
    /// [`set_status`]: FakeBackend::set_status
    pub fn fail_next(&self, count: usize, status: u16) {
        self.fail_next_with(count, status, Vec::new());
    }

    /// [`fail_next`] with extra response headers, e.g. `429` with `("retry-after", "3")` or an
    /// HTTP-date (`httpdate::fmt_http_date(..)`).
    ///
    /// gRPC backends turn a `Retry-After` header (seconds or HTTP-date, measured when the answer
    /// is made) into a `google.rpc.RetryInfo` detail, and then answer `429` as
    /// `RESOURCE_EXHAUSTED` (the OTLP way to say "retry later"); other statuses keep the code
    /// of [`grpc_code_for_http`]. Other headers become response metadata when they are valid
    /// ASCII metadata.
    ///
    /// [`fail_next`]: FakeBackend::fail_next
    pub fn fail_next_with(&self, count: usize, status: u16, headers: Vec<(String, String)>) {
        let failure = Failure { status, headers };
        lock(&self.store)
            .fail_next
            .extend(std::iter::repeat_n(failure, count));
    }

    /// After `fail_next` and `set_status`: fail each request with `status` with probability
    /// `rate` (0 turns it off), drawn from a seeded RNG (see [`set_seed`]) so runs repeat.
    ///
    /// [`set_seed`]: FakeBackend::set_seed
    pub fn set_failure_rate(&self, rate: f64, status: u16) {
        lock(&self.store).failure_rate = (rate > 0.0).then_some((rate, status));
    }

    /// Re-seeds the failure-rate RNG (default [`DEFAULT_SEED`]).
    pub fn set_seed(&self, seed: u64) {
        lock(&self.store).rng = StdRng::seed_from_u64(seed);
    }

    /// While `true`, requests are taken in and held unanswered (recorded when released); `false`
    /// releases the held ones, which then go on normally.
    pub fn set_hang(&self, hang: bool) {
        self.store.hang.send_replace(hang);
    }

    /// Requests currently held by [`set_hang`](FakeBackend::set_hang). A held request whose
    /// client gives up is no longer held and is never recorded in [`requests`].
    ///
    /// [`requests`]: FakeBackend::requests
    pub fn held_count(&self) -> usize {
        lock(&self.store).held
    }

    /// Requests ever held by [`set_hang`](FakeBackend::set_hang).
    pub fn held_total(&self) -> usize {
        lock(&self.store).held_total
    }

    /// Every request waits `delay` before it is answered (`Duration::ZERO`: none). A request
    /// uses the delay set when it arrived.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.store).delay = delay;
    }

    /// The arrival times of every request (accepted or not), in arrival order of recording.
    pub fn arrival_times(&self) -> Vec<Instant> {
        let mut times: Vec<Instant> = lock(&self.store)
            .requests
            .iter()
            .map(|r| r.received_at)
            .collect();
        times.sort();
        times
    }

    /// Items (spans, data points, log records) in accepted requests that arrived in
    /// `[from, to)`.
    pub fn items_received_between(&self, from: Instant, to: Instant) -> usize {
        lock(&self.store)
            .requests
            .iter()
            .filter(|r| r.accepted && r.received_at >= from && r.received_at < to)
            .map(|r| r.items)
            .sum()
    }

    /// Forgets everything received and recorded (scripted failures stay).
    pub fn clear(&self) {
        let mut store = lock(&self.store);
        store.traces.clear();
        store.metrics.clear();
        store.logs.clear();
        store.requests.clear();
    }

    /// Polls `condition` every 20 ms until it holds (`true`) or `timeout` passes (`false`).
    pub async fn wait_for(
        &self,
        mut condition: impl FnMut(&Self) -> bool,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` spans arrived; panics with [`describe`] after `timeout`.
    ///
    /// [`describe`]: FakeBackend::describe
    pub async fn expect_spans(&self, n: usize, timeout: Duration) {
        if !self.wait_for(|b| b.span_count() >= n, timeout).await {
            panic!("waited {timeout:?} for {n} spans; {}", self.describe());
        }
    }

    /// Waits until at least `n` metric data points arrived; panics after `timeout`.
    pub async fn expect_data_points(&self, n: usize, timeout: Duration) {
        if !self.wait_for(|b| b.data_point_count() >= n, timeout).await {
            panic!(
                "waited {timeout:?} for {n} data points; {}",
                self.describe()
            );
        }
    }

    /// Waits until at least `n` log records arrived; panics after `timeout`.
    pub async fn expect_log_records(&self, n: usize, timeout: Duration) {
        if !self.wait_for(|b| b.log_record_count() >= n, timeout).await {
            panic!(
                "waited {timeout:?} for {n} log records; {}",
                self.describe()
            );
        }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        // Firing the shutdown signal makes open connections close gracefully; aborting the
        // server task closes the listening socket at once.
        drop(self.shutdown.take());
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

async fn bind(port: u16) -> tokio::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return listener,
            Err(e) if port != 0 && Instant::now() < deadline => {
                eprintln!("fake backend: 127.0.0.1:{port} not free yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("fake backend: cannot bind 127.0.0.1:{port}: {e}"),
        }
    }
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let value = v
                .to_str()
                .map(str::to_string)
                .unwrap_or_else(|_| format!("<non-utf8 {:?}>", v.as_bytes()));
            (k.as_str().to_string(), value)
        })
        .collect()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

// ---------------------------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct GrpcSink {
    store: Shared,
}

impl GrpcSink {
    /// Records the request and, unless a failure is scripted, hands its message to `keep`.
    async fn accept<T>(
        &self,
        signal: Signal,
        request: tonic::Request<T>,
        count: impl FnOnce(&T) -> usize,
        keep: impl FnOnce(&mut Store, T),
    ) -> Result<(), tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        let (received_at, received_wall) = arrive(&self.store).await;
        let mut recorded = RecordedRequest {
            path: signal.grpc_path().to_string(),
            headers: header_list(&headers),
            content_type: header_text(&headers, header::CONTENT_TYPE).unwrap_or_default(),
            content_encoding: headers
                .get("grpc-encoding")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            accepted: true,
            status: 200,
            items: 0,
            received_at,
            received_wall,
        };
        let mut store = lock(&self.store);
        if let Some(failure) = store.scripted_failure() {
            recorded.accepted = false;
            recorded.status = failure.status;
            store.requests.push(recorded);
            return Err(grpc_failure(&failure));
        }
        let message = request.into_inner();
        recorded.items = count(&message);
        store.requests.push(recorded);
        keep(&mut store, message);
        Ok(())
    }
}

/// The gRPC status for a scripted failure (see [`FakeBackend::fail_next_with`]).
fn grpc_failure(failure: &Failure) -> tonic::Status {
    let message = format!("fake backend: scripted failure (HTTP {})", failure.status);
    let delay = failure
        .header("retry-after")
        .and_then(|v| retry_after_delay(v, SystemTime::now()));
    let mut status = match delay {
        Some(delay) => {
            let code = if failure.status == 429 {
                tonic::Code::ResourceExhausted
            } else {
                grpc_code_for_http(failure.status)
            };
            let info = rpc::RetryInfo {
                retry_delay: Some(rpc::ProtoDuration {
                    seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                    nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
                }),
            };
            let details = rpc::Status {
                code: code as i32,
                message: message.clone(),
                details: vec![rpc::Any {
                    type_url: rpc::RETRY_INFO_TYPE.to_string(),
                    value: info.encode_to_vec(),
                }],
            };
            tonic::Status::with_details(code, message, details.encode_to_vec().into())
        }
        None => tonic::Status::new(grpc_code_for_http(failure.status), message),
    };
    for (name, value) in &failure.headers {
        if name.eq_ignore_ascii_case("retry-after") {
            continue;
        }
        let key = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
        let value = tonic::metadata::MetadataValue::try_from(value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            status.metadata_mut().insert(key, value);
        }
    }
    status
}

/// `Retry-After` as a delay from `now`: delay-seconds or an HTTP-date (past dates: zero).
pub fn retry_after_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.accept(
            Signal::Traces,
            request,
            |r| count_spans(std::slice::from_ref(r)),
            |s, r| s.traces.push(r),
        )
        .await?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.accept(
            Signal::Metrics,
            request,
            |r| count_data_points(std::slice::from_ref(r)),
            |s, r| s.metrics.push(r),
        )
        .await?;
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.accept(
            Signal::Logs,
            request,
            |r| count_log_records(std::slice::from_ref(r)),
            |s, r| s.logs.push(r),
        )
        .await?;
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// A decoded OTLP/HTTP body.
enum Decoded {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

async fn http_handler(
    State(store): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (received_at, received_wall) = arrive(&store).await;
    let mut recorded = RecordedRequest {
        path: uri.path().to_string(),
        headers: header_list(&headers),
        content_type: header_text(&headers, header::CONTENT_TYPE).unwrap_or_default(),
        content_encoding: header_text(&headers, header::CONTENT_ENCODING),
        accepted: false,
        status: 0,
        items: 0,
        received_at,
        received_wall,
    };
    let media = media_type(&recorded.content_type);
    let outcome = handle_http(&method, &recorded, &media, &body);
    let mut store = lock(&store);
    let decoded = match outcome {
        Ok(decoded) => decoded,
        Err((status, message)) => {
            recorded.status = status.as_u16();
            store.requests.push(recorded);
            return (status, message).into_response();
        }
    };
    if let Some(failure) = store.scripted_failure() {
        recorded.status = failure.status;
        store.requests.push(recorded);
        let status =
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            (status, format!("fake backend: scripted failure ({status})")).into_response();
        for (name, value) in &failure.headers {
            let name = header::HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(value);
            if let (Ok(name), Ok(value)) = (name, value) {
                response.headers_mut().append(name, value);
            }
        }
        return response;
    }
    recorded.accepted = true;
    recorded.status = 200;
    let json_reply = media == JSON;
    let reply_body = match decoded {
        Decoded::Traces(r) => {
            recorded.items = count_spans(std::slice::from_ref(&r));
            store.traces.push(r);
            ExportTraceServiceResponse::default().encode_to_vec()
        }
        Decoded::Metrics(r) => {
            recorded.items = count_data_points(std::slice::from_ref(&r));
            store.metrics.push(r);
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        Decoded::Logs(r) => {
            recorded.items = count_log_records(std::slice::from_ref(&r));
            store.logs.push(r);
            ExportLogsServiceResponse::default().encode_to_vec()
        }
    };
    store.requests.push(recorded);
    drop(store);
    let (content_type, reply_body) = if json_reply {
        (JSON, b"{}".to_vec())
    } else {
        (PROTOBUF, reply_body)
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        reply_body,
    )
        .into_response()
}

/// Checks and decodes one OTLP/HTTP request; `Err` carries the status and message to answer.
fn handle_http(
    method: &Method,
    recorded: &RecordedRequest,
    media: &str,
    body: &[u8],
) -> Result<Decoded, (StatusCode, String)> {
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("fake backend: {method} not allowed"),
        ));
    }
    let signal = Signal::from_path(&recorded.path).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("fake backend: no OTLP signal at {}", recorded.path),
        )
    })?;
    let plain = match recorded
        .content_encoding
        .as_deref()
        .map(str::to_ascii_lowercase)
    {
        None => body.to_vec(),
        Some(e) if e.is_empty() || e == "identity" => body.to_vec(),
        Some(e) if e == "gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|err| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("fake backend: invalid gzip body: {err}"),
                    )
                })?;
            out
        }
        Some(e) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("fake backend: unsupported content-encoding {e:?}"),
            ))
        }
    };
    let bad = |e: String| (StatusCode::BAD_REQUEST, format!("fake backend: {e}"));
    match media {
        PROTOBUF => match signal {
            Signal::Traces => ExportTraceServiceRequest::decode(plain.as_slice())
                .map(Decoded::Traces)
                .map_err(|e| bad(format!("invalid protobuf traces: {e}"))),
            Signal::Metrics => ExportMetricsServiceRequest::decode(plain.as_slice())
                .map(Decoded::Metrics)
                .map_err(|e| bad(format!("invalid protobuf metrics: {e}"))),
            Signal::Logs => ExportLogsServiceRequest::decode(plain.as_slice())
                .map(Decoded::Logs)
                .map_err(|e| bad(format!("invalid protobuf logs: {e}"))),
        },
        JSON => match signal {
            Signal::Traces => json::decode_traces(&plain)
                .map(Decoded::Traces)
                .map_err(|e| bad(format!("invalid JSON traces: {e:?}"))),
            Signal::Metrics => json::decode_metrics(&plain)
                .map(Decoded::Metrics)
                .map_err(|e| bad(format!("invalid JSON metrics: {e:?}"))),
            Signal::Logs => json::decode_logs(&plain)
                .map(Decoded::Logs)
                .map_err(|e| bad(format!("invalid JSON logs: {e:?}"))),
        },
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("fake backend: unsupported content-type {other:?}"),
        )),
    }
}
