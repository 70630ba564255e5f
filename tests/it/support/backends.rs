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
//! ([`FakeBackend::received_traces`], ...). [`FakeBackend::set_status`] and
//! [`FakeBackend::fail_next`] script failures. Dropping the backend stops its server: the
//! listening socket closes at once and open connections are shut down gracefully.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use codex_otel_gateway::codec::json;
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
use tokio::sync::oneshot;
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

#[derive(Default)]
struct Store {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    requests: Vec<RecordedRequest>,
    /// Scripted status answered to every request while set.
    status: Option<u16>,
    /// Scripted statuses answered to the next requests, one each, before `status`.
    fail_next: VecDeque<u16>,
}

impl Store {
    /// The scripted failure status for the request being handled, if any.
    fn scripted_failure(&mut self) -> Option<u16> {
        self.fail_next
            .pop_front()
            .or(self.status)
            .filter(|s| !(200..300).contains(s))
    }
}

type Shared = Arc<Mutex<Store>>;

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    // A panicking handler must not hide what was recorded: ignore poisoning.
    store.lock().unwrap_or_else(|e| e.into_inner())
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
        let listener = bind().await;
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
        let listener = bind().await;
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
        lock(&self.store)
            .fail_next
            .extend(std::iter::repeat_n(status, count));
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

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("fake backend: cannot bind 127.0.0.1:0: {e}"))
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
    fn accept<T>(
        &self,
        signal: Signal,
        request: tonic::Request<T>,
        keep: impl FnOnce(&mut Store, T),
    ) -> Result<(), tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        let mut recorded = RecordedRequest {
            path: signal.grpc_path().to_string(),
            headers: header_list(&headers),
            content_type: header_text(&headers, header::CONTENT_TYPE).unwrap_or_default(),
            content_encoding: headers
                .get("grpc-encoding")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            accepted: true,
        };
        let mut store = lock(&self.store);
        if let Some(status) = store.scripted_failure() {
            recorded.accepted = false;
            store.requests.push(recorded);
            return Err(tonic::Status::new(
                grpc_code_for_http(status),
                format!("fake backend: scripted failure (HTTP {status})"),
            ));
        }
        store.requests.push(recorded);
        keep(&mut store, request.into_inner());
        Ok(())
    }
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.accept(Signal::Traces, request, |s, r| s.traces.push(r))?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.accept(Signal::Metrics, request, |s, r| s.metrics.push(r))?;
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.accept(Signal::Logs, request, |s, r| s.logs.push(r))?;
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
    let mut recorded = RecordedRequest {
        path: uri.path().to_string(),
        headers: header_list(&headers),
        content_type: header_text(&headers, header::CONTENT_TYPE).unwrap_or_default(),
        content_encoding: header_text(&headers, header::CONTENT_ENCODING),
        accepted: false,
    };
    let media = media_type(&recorded.content_type);
    let outcome = handle_http(&method, &recorded, &media, &body);
    let mut store = lock(&store);
    let decoded = match outcome {
        Ok(decoded) => decoded,
        Err((status, message)) => {
            store.requests.push(recorded);
            return (status, message).into_response();
        }
    };
    if let Some(status) = store.scripted_failure() {
        store.requests.push(recorded);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, format!("fake backend: scripted failure ({status})")).into_response();
    }
    recorded.accepted = true;
    store.requests.push(recorded);
    let json_reply = media == JSON;
    let reply_body = match decoded {
        Decoded::Traces(r) => {
            store.traces.push(r);
            ExportTraceServiceResponse::default().encode_to_vec()
        }
        Decoded::Metrics(r) => {
            store.metrics.push(r);
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        Decoded::Logs(r) => {
            store.logs.push(r);
            ExportLogsServiceResponse::default().encode_to_vec()
        }
    };
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
