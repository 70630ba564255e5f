//! Delivery guarantees: what a client was answered 200 for reaches the backend, whatever the
//! backend does (down, flaky, throttling, hung, slow) and however the gateway stops (SIGTERM,
//! `kill -9` with a persistent queue); permanent errors are tried once and counted; one bad
//! backend never slows the others or the clients; overload keeps memory bounded.
//!
//! Every request of a load carries distinct ids (log records: attribute `delivery.id = "i/j"`;
//! spans: trace and span ids rewritten from `i` and `j`), so the backends' unique ids can be
//! counted exactly; duplicates from retries are allowed and ignored.
//!
//! Tests that depend on the persistent queue (`sending_queue.storage`) or the memory limiter say
//! so (NEEDS ...) in their doc comment.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use tokio::sync::RwLock;
use tokio::task::JoinSet;

use crate::support::backends::{FakeBackend, RecordedRequest};
use crate::support::fixtures::{self, attr_str, string_kv};
use crate::support::gateway::{free_port, Gateway};

const PB: &str = "application/x-protobuf";
/// The log record attribute carrying a record's unique id.
const ID_KEY: &str = "delivery.id";

/// Tests that measure time or rates take this exclusively, so that the heavy tests of this file
/// do not run beside them; the others share it.
static QUIET: RwLock<()> = RwLock::const_new(());

// ---------------------------------------------------------------------------------------------
// Tagged requests
// ---------------------------------------------------------------------------------------------

pub(crate) fn base_logs() -> ExportLogsServiceRequest {
    fixtures::decode_logs(&fixtures::fixture("tool-secrets-protobuf", "004_logs.pb"))
}

fn base_traces() -> ExportTraceServiceRequest {
    fixtures::decode_traces(&fixtures::fixture("tool-secrets-protobuf", "002_traces.pb"))
}

/// Request `i` of a load: `base` with every log record tagged `delivery.id = "i/j"`.
pub(crate) fn tag_logs(base: &ExportLogsServiceRequest, i: usize) -> ExportLogsServiceRequest {
    let mut request = base.clone();
    let mut j = 0;
    for rl in &mut request.resource_logs {
        for sl in &mut rl.scope_logs {
            for record in &mut sl.log_records {
                record.attributes.retain(|kv| kv.key != ID_KEY);
                record
                    .attributes
                    .push(string_kv(ID_KEY, &format!("{i}/{j}")));
                j += 1;
            }
        }
    }
    request
}

/// POSTs request `i` of a load ([`tag_logs`] of [`base_logs`]) as protobuf to the gateway's
/// OTLP/HTTP port; its status.
pub(crate) async fn post_tagged_logs(http_port: u16, i: usize) -> u16 {
    let body = tag_logs(&base_logs(), i).encode_to_vec();
    let url = format!("http://127.0.0.1:{http_port}/v1/logs");
    crate::support::gateway::post(&url, PB, None, body).await.0
}

/// The ids [`tag_logs`] gives request `i` of `records` records.
pub(crate) fn log_ids_of(i: usize, records: usize) -> impl Iterator<Item = String> {
    (0..records).map(move |j| format!("{i}/{j}"))
}

fn log_id(record: &LogRecord) -> Option<String> {
    attr_str(&record.attributes, ID_KEY).map(str::to_string)
}

/// The distinct ids of the log records in `requests`.
pub(crate) fn log_ids(requests: &[ExportLogsServiceRequest]) -> HashSet<String> {
    fixtures::all_log_records(requests)
        .into_iter()
        .filter_map(log_id)
        .collect()
}

/// `requests` with every log record whose id was seen before removed.
fn dedup_logs(requests: &[ExportLogsServiceRequest]) -> Vec<ExportLogsServiceRequest> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .map(|r| {
            let mut r = r.clone();
            for rl in &mut r.resource_logs {
                for sl in &mut rl.scope_logs {
                    sl.log_records
                        .retain(|rec| log_id(rec).is_none_or(|id| seen.insert(id)));
                }
            }
            r
        })
        .collect()
}

/// Request `i` of a load: `base` with trace ids `"delivery" ‖ i` and span ids `i << 20 | j`
/// (parents remapped within the request, cleared otherwise).
fn tag_traces(base: &ExportTraceServiceRequest, i: usize) -> ExportTraceServiceRequest {
    let mut request = base.clone();
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(b"delivery");
    trace_id[8..].copy_from_slice(&(i as u64).to_be_bytes());
    let mut renamed: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for (j, span) in request
        .resource_spans
        .iter_mut()
        .flat_map(|rs| rs.scope_spans.iter_mut())
        .flat_map(|ss| ss.spans.iter_mut())
        .enumerate()
    {
        let id = span_id_of(i, j);
        renamed.insert(std::mem::replace(&mut span.span_id, id.clone()), id);
        span.trace_id = trace_id.to_vec();
    }
    for span in request
        .resource_spans
        .iter_mut()
        .flat_map(|rs| rs.scope_spans.iter_mut())
        .flat_map(|ss| ss.spans.iter_mut())
    {
        span.parent_span_id = renamed
            .get(&span.parent_span_id)
            .cloned()
            .unwrap_or_default();
    }
    request
}

fn span_id_of(i: usize, j: usize) -> Vec<u8> {
    assert!(j < 1 << 20, "too many spans in one request");
    (((i as u64) << 20) | j as u64).to_be_bytes().to_vec()
}

/// The distinct span ids in `requests`.
fn span_ids(requests: &[ExportTraceServiceRequest]) -> HashSet<Vec<u8>> {
    fixtures::all_spans(requests)
        .into_iter()
        .map(|s| s.span_id.clone())
        .collect()
}

/// `requests` with every span whose id was seen before removed.
fn dedup_traces(requests: &[ExportTraceServiceRequest]) -> Vec<ExportTraceServiceRequest> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .map(|r| {
            let mut r = r.clone();
            for rs in &mut r.resource_spans {
                for ss in &mut rs.scope_spans {
                    ss.spans.retain(|s| seen.insert(s.span_id.clone()));
                }
            }
            r
        })
        .collect()
}

/// Ids of `expected` missing from `got`: how many, and a few of them.
fn missing<T: std::hash::Hash + Eq + std::fmt::Debug>(
    expected: &HashSet<T>,
    got: &HashSet<T>,
) -> (usize, Vec<String>) {
    let missing: Vec<&T> = expected.iter().filter(|id| !got.contains(*id)).collect();
    let sample = missing.iter().take(5).map(|id| format!("{id:?}")).collect();
    (missing.len(), sample)
}

/// Waits up to `timeout` until the backend holds every id of `expected` (log records); panics
/// with what is missing. Reads only what arrived since the last poll.
pub(crate) async fn expect_log_ids(
    backend: &FakeBackend,
    expected: &HashSet<String>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    let (mut seen, mut got) = (0, HashSet::new());
    loop {
        let new = backend.received_logs_from(seen);
        seen += new.len();
        got.extend(log_ids(&new));
        if expected.iter().all(|id| got.contains(id)) {
            return;
        }
        if Instant::now() >= deadline {
            let (n, sample) = missing(expected, &got);
            panic!(
                "after {timeout:?}, {n} of {} acknowledged log records never reached {}: e.g. {sample:?}; {}",
                expected.len(),
                backend.name(),
                backend.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`expect_log_ids`] for span ids.
async fn expect_span_ids(backend: &FakeBackend, expected: &HashSet<Vec<u8>>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let (mut seen, mut got) = (0, HashSet::new());
    loop {
        let new = backend.received_traces_from(seen);
        seen += new.len();
        got.extend(span_ids(&new));
        if expected.iter().all(|id| got.contains(id)) {
            return;
        }
        if Instant::now() >= deadline {
            let (n, sample) = missing(expected, &got);
            panic!(
                "after {timeout:?}, {n} of {} acknowledged spans never reached {}: e.g. {sample:?}; {}",
                expected.len(),
                backend.name(),
                backend.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// An OTLP/HTTP client with one connection pool, for loads.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

/// The gateway's answer to one request.
#[derive(Clone, Copy, Debug)]
struct Answer {
    status: u16,
    /// `Retry-After` in seconds, when sent.
    retry_after: Option<Duration>,
}

impl Client {
    fn new(http_port: u16) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            base: format!("http://127.0.0.1:{http_port}"),
        }
    }

    /// POSTs a protobuf body to `path`; `Err` on connection errors and timeouts.
    async fn send(&self, path: &str, body: Bytes) -> Result<Answer, String> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, PB)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{e:#}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer: {e:#}"))?;
        Ok(Answer {
            status,
            retry_after,
        })
    }

    async fn send_logs(&self, request: &ExportLogsServiceRequest) -> Result<Answer, String> {
        self.send("/v1/logs", request.encode_to_vec().into()).await
    }

    async fn send_traces(&self, request: &ExportTraceServiceRequest) -> Result<Answer, String> {
        self.send("/v1/traces", request.encode_to_vec().into())
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// Self-metrics and process stats
// ---------------------------------------------------------------------------------------------

pub(crate) async fn scrape(admin_port: u16) -> String {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    match reqwest::get(&url).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("cannot scrape {url}: {e}"),
    }
}

/// The value of `series` (e.g. `gateway_exporter_retries_total{exporter="otlp/a"}`) in a
/// Prometheus text exposition; `None` when absent.
pub(crate) fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// `series` now (0 when absent).
pub(crate) async fn metric(admin_port: u16, series: &str) -> f64 {
    metric_value(&scrape(admin_port).await, series).unwrap_or(0.0)
}

/// Polls `series` until `want(value)` holds; panics with the exposition after `timeout`.
pub(crate) async fn wait_metric(
    admin_port: u16,
    series: &str,
    want: impl Fn(f64) -> bool,
    timeout: Duration,
) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        let text = scrape(admin_port).await;
        let value = metric_value(&text, series).unwrap_or(0.0);
        if want(value) {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("{series} = {value} did not reach the expected value in {timeout:?}:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `exporter="id"` series name of a per-exporter counter.
pub(crate) fn exporter_series(stem: &str, id: &str) -> String {
    format!("{stem}{{exporter=\"{id}\"}}")
}

/// Resident set size of a process, from `/proc/<pid>/status` (`VmRSS`).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The `p`-th percentile (0–100) of `samples` (sorted in place).
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// A config: `receivers:` with one OTLP/HTTP listener, then `middle` (the `processors:` and
/// `exporters:` sections), then `service:` with `service_body` (`pipelines:`,
/// `shutdown_timeout:`..., indented by 2) and the admin listener.
fn gateway_yaml(http_port: u16, admin_port: u16, middle: &str, service_body: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
{middle}
service:
{service_body}
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
"#
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Backend down
// ---------------------------------------------------------------------------------------------

/// Both backends (HTTP and gRPC) are down for 30 s while clients send 10 requests/s; every
/// request is answered 200 at once, and once the backends come up on the ports the gateway
/// targets, every log record arrives at both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_for_30s_under_steady_load_loses_nothing() {
    let _shared = QUIET.read().await;
    let (http_backend_port, grpc_backend_port) = (free_port(), free_port());
    let (http_port, admin_port) = (free_port(), free_port());
    let retry = "{ initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 120s }";
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/down:
    endpoint: http://127.0.0.1:{http_backend_port}
    timeout: 5s
    retry_on_failure: {retry}
  otlp/down:
    endpoint: http://127.0.0.1:{grpc_backend_port}
    timeout: 5s
    retry_on_failure: {retry}"#
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/down, otlp/down] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));

    // 10 requests/s for 30 s, each on its own task so one slow answer does not slow the rate.
    let requests = 300;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for i in 0..requests {
        ticker.tick().await;
        let client = client.clone();
        let request = tag_logs(&base, i);
        tasks.spawn(async move {
            let sent = Instant::now();
            (i, client.send_logs(&request).await, sent.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        let (i, answer, took) = done.expect("client task");
        let answer = answer.unwrap_or_else(|e| panic!("request {i}: no answer: {e}"));
        assert_eq!(
            answer.status, 200,
            "request {i} while the backends are down"
        );
        slowest = slowest.max(took);
    }
    eprintln!(
        "sent {requests} requests in {:?}; slowest answer {slowest:?}",
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(1),
        "clients waited on a down backend: slowest answer {slowest:?}"
    );
    let retries = metric(
        admin_port,
        &exporter_series("gateway_exporter_retries_total", "otlphttp/down"),
    )
    .await;
    assert!(retries > 0.0, "the HTTP exporter retried meanwhile");

    // The backends come up on the ports the gateway targets.
    let http_backend = FakeBackend::http_on(http_backend_port).await;
    let grpc_backend = FakeBackend::grpc_on(grpc_backend_port).await;
    let expected: HashSet<String> = (0..requests).flat_map(|i| log_ids_of(i, records)).collect();
    expect_log_ids(&http_backend, &expected, Duration::from_secs(60)).await;
    expect_log_ids(&grpc_backend, &expected, Duration::from_secs(60)).await;
    for id in ["otlphttp/down", "otlp/down"] {
        for stem in [
            "gateway_exporter_send_failed_log_records_total",
            "gateway_exporter_enqueue_failed_log_records_total",
        ] {
            assert_eq!(
                metric(admin_port, &exporter_series(stem, id)).await,
                0.0,
                "{stem} of {id}"
            );
        }
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 2. Flaky backends
// ---------------------------------------------------------------------------------------------

/// 70 % of the requests to both backends fail retryably (HTTP 503, gRPC `UNAVAILABLE`); every
/// log record and span still arrives, and the received telemetry (duplicates removed) equals
/// what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventy_percent_503_loses_nothing_and_payloads_are_equal() {
    let _exclusive = QUIET.write().await;
    let http_backend = FakeBackend::http().await;
    let grpc_backend = FakeBackend::grpc().await;
    http_backend.set_seed(7);
    grpc_backend.set_seed(11);
    http_backend.set_failure_rate(0.7, 503);
    grpc_backend.set_failure_rate(0.7, 503);
    let (http_port, admin_port) = (free_port(), free_port());
    let retry = "{ initial_interval: 20ms, max_interval: 200ms, max_elapsed_time: 300s }";
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/flaky:
    endpoint: {}
    retry_on_failure: {retry}
    sending_queue: {{ num_consumers: 16 }}
  otlp/flaky:
    endpoint: {}
    retry_on_failure: {retry}
    sending_queue: {{ num_consumers: 16 }}"#,
            http_backend.endpoint(),
            grpc_backend.endpoint()
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/flaky, otlp/flaky] }\n    traces: { receivers: [otlp], exporters: [otlphttp/flaky, otlp/flaky] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let (logs_base, traces_base) = (base_logs(), base_traces());
    let n = 80;
    let logs: Vec<_> = (0..n).map(|i| tag_logs(&logs_base, i)).collect();
    let traces: Vec<_> = (0..n).map(|i| tag_traces(&traces_base, i)).collect();
    for (i, (l, t)) in logs.iter().zip(&traces).enumerate() {
        let (a, b) = tokio::join!(client.send_logs(l), client.send_traces(t));
        for (what, answer) in [("logs", a), ("traces", b)] {
            let answer = answer.unwrap_or_else(|e| panic!("{what} {i}: no answer: {e}"));
            assert_eq!(answer.status, 200, "{what} request {i}");
        }
    }
    let expected_logs = log_ids(&logs);
    let expected_spans = span_ids(&traces);
    let wait = Duration::from_secs(90);
    for backend in [&http_backend, &grpc_backend] {
        expect_log_ids(backend, &expected_logs, wait).await;
        expect_span_ids(backend, &expected_spans, wait).await;
        let name = backend.name();
        fixtures::assert_same_log_records(&name, &logs, &dedup_logs(&backend.received_logs()));
        fixtures::assert_same_spans(&name, &traces, &dedup_traces(&backend.received_traces()));
        let rejected = backend.requests().iter().filter(|r| !r.accepted).count();
        eprintln!("{}", backend.describe());
        assert!(
            rejected >= n,
            "{name}: the failure rate was applied ({rejected} refused)"
        );
    }
    for id in ["otlphttp/flaky", "otlp/flaky"] {
        for items in ["log_records", "spans"] {
            let failed =
                exporter_series(&format!("gateway_exporter_send_failed_{items}_total"), id);
            assert_eq!(metric(admin_port, &failed).await, 0.0, "{failed}");
        }
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 3. Retry-After / RetryInfo
// ---------------------------------------------------------------------------------------------

/// The first two attempts at `backend` after it was cleared: (first, second).
async fn first_two_attempts(
    backend: &FakeBackend,
    what: &str,
) -> (RecordedRequest, RecordedRequest) {
    let ok = backend
        .wait_for(
            |b| b.requests().iter().filter(|r| r.accepted).count() >= 1,
            Duration::from_secs(20),
        )
        .await;
    assert!(ok, "{what}: never delivered; {}", backend.describe());
    let mut requests = backend.requests();
    requests.sort_by_key(|r| r.received_at);
    assert!(
        requests.len() >= 2,
        "{what}: expected a failed attempt then a retry; {requests:?}"
    );
    assert!(!requests[0].accepted, "{what}: the first attempt failed");
    assert!(requests[1].accepted, "{what}: the retry was accepted");
    (requests[0].clone(), requests[1].clone())
}

/// A backend's `Retry-After` (delay-seconds and HTTP-date) and gRPC `RESOURCE_EXHAUSTED` with
/// `RetryInfo` replace the (fast) backoff: the retry comes no earlier than asked. A 503 without
/// the header is retried fast, which shows the waits come from the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_in_seconds_and_http_date_form() {
    let _shared = QUIET.read().await;
    let http_backend = FakeBackend::http().await;
    let grpc_backend = FakeBackend::grpc().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let retry = "{ initial_interval: 50ms, max_interval: 100ms }";
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/throttled:
    endpoint: {}
    retry_on_failure: {retry}
  otlp/throttled:
    endpoint: {}
    retry_on_failure: {retry}"#,
            http_backend.endpoint(),
            grpc_backend.endpoint()
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/throttled] }\n    traces: { receivers: [otlp], exporters: [otlp/throttled] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let (logs_base, traces_base) = (base_logs(), base_traces());

    let http_cases = async {
        // Control: no header, fast backoff.
        http_backend.fail_next(1, 503);
        let answer = client.send_logs(&tag_logs(&logs_base, 0)).await;
        assert_eq!(answer.expect("answer").status, 200);
        let (first, second) = first_two_attempts(&http_backend, "503 without Retry-After").await;
        let gap = second.received_at - first.received_at;
        assert!(
            gap < Duration::from_secs(1),
            "without Retry-After the retry is fast: {gap:?}"
        );
        http_backend.clear();

        // Retry-After: 3 (seconds).
        http_backend.fail_next_with(1, 429, vec![("retry-after".into(), "3".into())]);
        let answer = client.send_logs(&tag_logs(&logs_base, 1)).await;
        assert_eq!(answer.expect("answer").status, 200);
        let (first, second) = first_two_attempts(&http_backend, "429 Retry-After: 3").await;
        let gap = second.received_at - first.received_at;
        assert!(
            gap >= Duration::from_secs(3) && gap < Duration::from_secs(6),
            "Retry-After: 3 → retry after {gap:?}"
        );
        http_backend.clear();

        // Retry-After: <HTTP-date> at least 4 s ahead, on a whole second (HTTP-dates have no
        // fractions), so the wait from the first attempt is ≥ 3 s.
        let at = SystemTime::now() + Duration::from_secs(4);
        let whole = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() + 1;
        let date = UNIX_EPOCH + Duration::from_secs(whole);
        http_backend.fail_next_with(
            1,
            429,
            vec![("retry-after".into(), httpdate::fmt_http_date(date))],
        );
        let answer = client.send_logs(&tag_logs(&logs_base, 2)).await;
        assert_eq!(answer.expect("answer").status, 200);
        let (first, second) = first_two_attempts(&http_backend, "429 Retry-After: date").await;
        let gap = second.received_at - first.received_at;
        assert!(
            gap >= Duration::from_secs(3) && gap < Duration::from_secs(8),
            "Retry-After: {} → retry after {gap:?}",
            httpdate::fmt_http_date(date)
        );
        let early = date
            .duration_since(second.received_wall)
            .unwrap_or(Duration::ZERO);
        assert!(
            early < Duration::from_millis(50),
            "the retry came {early:?} before the date the backend gave"
        );
    };
    let grpc_case = async {
        // RESOURCE_EXHAUSTED with RetryInfo { retry_delay: 2s }.
        grpc_backend.fail_next_with(1, 429, vec![("retry-after".into(), "2".into())]);
        let answer = client.send_traces(&tag_traces(&traces_base, 0)).await;
        assert_eq!(answer.expect("answer").status, 200);
        let (first, second) = first_two_attempts(&grpc_backend, "RetryInfo 2s").await;
        let gap = second.received_at - first.received_at;
        assert!(
            gap >= Duration::from_secs(2) && gap < Duration::from_secs(5),
            "RESOURCE_EXHAUSTED + RetryInfo 2s → retry after {gap:?}"
        );
    };
    tokio::join!(http_cases, grpc_case);
    let retries = metric(
        admin_port,
        &exporter_series("gateway_exporter_retries_total", "otlphttp/throttled"),
    )
    .await;
    assert_eq!(retries, 3.0, "one retry per HTTP case");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 4. Permanent errors
// ---------------------------------------------------------------------------------------------

/// 400, 401, 403, 413 and 500 (gRPC: the matching non-retryable codes) are not retried: exactly
/// one attempt, the items counted in `send_failed`, and the healthy exporter of the same
/// pipeline gets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_tried_once_dropped_and_counted_while_the_other_exporter_delivers() {
    let _shared = QUIET.read().await;
    let failing_http = FakeBackend::http().await;
    let failing_grpc = FakeBackend::grpc().await;
    let healthy = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let retry = "{ initial_interval: 50ms, max_interval: 100ms }";
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/failing:
    endpoint: {}
    retry_on_failure: {retry}
  otlp/failing:
    endpoint: {}
    retry_on_failure: {retry}
  otlphttp/healthy:
    endpoint: {}
    retry_on_failure: {retry}"#,
            failing_http.endpoint(),
            failing_grpc.endpoint(),
            healthy.endpoint()
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/failing, otlp/failing, otlphttp/healthy] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let mut expected = HashSet::new();
    for (i, status) in [400u16, 401, 403, 413, 500].into_iter().enumerate() {
        failing_http.clear();
        failing_grpc.clear();
        failing_http.set_status(Some(status));
        failing_grpc.set_status(Some(status));
        let answer = client.send_logs(&tag_logs(&base, i)).await.expect("answer");
        assert_eq!(answer.status, 200, "HTTP {status}: accepted by the gateway");
        expected.extend(log_ids_of(i, records));
        expect_log_ids(&healthy, &expected, Duration::from_secs(20)).await;
        let want = ((i + 1) * records) as f64;
        for id in ["otlphttp/failing", "otlp/failing"] {
            let series = exporter_series("gateway_exporter_send_failed_log_records_total", id);
            wait_metric(admin_port, &series, |v| v >= want, Duration::from_secs(20)).await;
            let value = metric(admin_port, &series).await;
            assert_eq!(value, want, "{series} after HTTP {status}");
        }
        // A retry would come within ~100 ms; give it time to show up.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for backend in [&failing_http, &failing_grpc] {
            assert_eq!(
                backend.request_count(),
                1,
                "HTTP {status}: exactly one attempt at {}",
                backend.describe()
            );
            assert_eq!(backend.requests()[0].status, status);
        }
    }
    for id in ["otlphttp/failing", "otlp/failing"] {
        let retries = exporter_series("gateway_exporter_retries_total", id);
        assert_eq!(metric(admin_port, &retries).await, 0.0, "{retries}");
    }
    let sent = exporter_series(
        "gateway_exporter_sent_log_records_total",
        "otlphttp/healthy",
    );
    assert_eq!(metric(admin_port, &sent).await, (5 * records) as f64);
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 5. A hung backend
// ---------------------------------------------------------------------------------------------

/// What one load phase measured.
struct Phase {
    /// Log records per second that reached backend B during the phase.
    b_rate: f64,
    /// Client latencies, sorted.
    latencies: Vec<Duration>,
}

/// Sends `rate` requests/s for `length`, each on its own task; returns B's delivery rate and
/// the client latencies. Every request must be answered 200.
async fn load_phase(
    client: &Client,
    base: &ExportLogsServiceRequest,
    first_id: usize,
    rate: u32,
    length: Duration,
    b: &FakeBackend,
) -> Phase {
    let count = (rate as f64 * length.as_secs_f64()) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in first_id..first_id + count {
        ticker.tick().await;
        let client = client.clone();
        let body: Bytes = tag_logs(base, i).encode_to_vec().into();
        tasks.spawn(async move {
            let sent = Instant::now();
            let answer = client.send("/v1/logs", body).await;
            (i, answer, sent.elapsed())
        });
    }
    let end = Instant::now();
    let mut latencies = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        let (i, answer, took) = done.expect("client task");
        let answer = answer.unwrap_or_else(|e| panic!("request {i}: no answer: {e}"));
        assert_eq!(answer.status, 200, "request {i}");
        latencies.push(took);
    }
    latencies.sort();
    let b_rate = b.items_received_between(start, end) as f64 / (end - start).as_secs_f64();
    Phase { b_rate, latencies }
}

/// Two hung backends (HTTP and gRPC: they take requests and never answer) slow neither the
/// healthy exporter B nor the clients: B's delivery rate stays ≥ 90 % of what it was with
/// everyone healthy and the clients' p99 latency within 2× (or +20 ms) of it. Once released,
/// the hung backends get everything too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_backend_does_not_slow_the_other_one_or_the_clients() {
    let _exclusive = QUIET.write().await;
    let a_http = FakeBackend::http().await;
    let a_grpc = FakeBackend::grpc().await;
    let b = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/a:
    endpoint: {}
    timeout: 60s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
  otlp/a:
    endpoint: {}
    timeout: 60s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
  otlphttp/b:
    endpoint: {}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}"#,
            a_http.endpoint(),
            a_grpc.endpoint(),
            b.endpoint()
        ),
        "  shutdown_timeout: 10s\n  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/a, otlp/a, otlphttp/b] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let (rate, length) = (50, Duration::from_secs(5));
    let per_phase = (rate as f64 * length.as_secs_f64()) as usize;

    // Warm-up (connections, allocations), not measured.
    let _ = load_phase(&client, &base, 0, rate, Duration::from_secs(1), &b).await;
    let warm = rate as usize;
    let healthy = load_phase(&client, &base, warm, rate, length, &b).await;
    a_http.set_hang(true);
    a_grpc.set_hang(true);
    let hung = load_phase(&client, &base, warm + per_phase, rate, length, &b).await;
    assert!(
        a_http.held_count() > 0 && a_grpc.held_count() > 0,
        "the A backends held requests: {} / {}",
        a_http.held_count(),
        a_grpc.held_count()
    );
    let (mut l1, mut l2) = (healthy.latencies, hung.latencies);
    let (p99_healthy, p99_hung) = (percentile(&mut l1, 99.0), percentile(&mut l2, 99.0));
    eprintln!(
        "B: {:.0} records/s with A healthy, {:.0} with A hung; client p99 {p99_healthy:?} → {p99_hung:?}, p50 {:?} → {:?}",
        healthy.b_rate,
        hung.b_rate,
        percentile(&mut l1, 50.0),
        percentile(&mut l2, 50.0),
    );
    assert!(healthy.b_rate > 0.0, "B received nothing while healthy");
    assert!(
        hung.b_rate >= 0.9 * healthy.b_rate,
        "B slowed down while A hung: {:.0} → {:.0} records/s",
        healthy.b_rate,
        hung.b_rate
    );
    let allowed = (p99_healthy * 2).max(p99_healthy + Duration::from_millis(20));
    assert!(
        p99_hung <= allowed,
        "clients slowed down while A hung: p99 {p99_healthy:?} → {p99_hung:?}"
    );

    // Released, the hung backends get everything.
    a_http.set_hang(false);
    a_grpc.set_hang(false);
    let total = warm + 2 * per_phase;
    let expected: HashSet<String> = (0..total).flat_map(|i| log_ids_of(i, records)).collect();
    for backend in [&b, &a_http, &a_grpc] {
        expect_log_ids(backend, &expected, Duration::from_secs(60)).await;
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 6, 7. Stopping the gateway
// ---------------------------------------------------------------------------------------------

/// Ids acknowledged (answered 200) by a load, shared between client tasks.
#[derive(Clone, Default)]
struct Acked(Arc<Mutex<Vec<usize>>>);

impl Acked {
    fn push(&self, i: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(i);
    }

    fn requests(&self) -> Vec<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn log_ids(&self, records: usize) -> HashSet<String> {
        self.requests()
            .into_iter()
            .flat_map(|i| log_ids_of(i, records))
            .collect()
    }
}

/// `clients` tasks sending tagged logs requests back to back until `stop` is set, a deadline
/// passes or (once `stopping` is set) the gateway stops answering. Returns the tasks; answers
/// 200 go to `acked`.
fn spawn_clients(
    clients: usize,
    client: &Client,
    base: &ExportLogsServiceRequest,
    acked: &Acked,
    stop: &Arc<AtomicBool>,
    hard_deadline: Instant,
) -> JoinSet<(usize, usize)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (client, base, acked, stop, next) = (
            client.clone(),
            base.clone(),
            acked.clone(),
            stop.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let (mut ok, mut refused) = (0, 0);
            while !stop.load(Ordering::SeqCst) && Instant::now() < hard_deadline {
                let i = next.fetch_add(1, Ordering::SeqCst);
                match client.send_logs(&tag_logs(&base, i)).await {
                    Ok(a) if a.status == 200 => {
                        acked.push(i);
                        ok += 1;
                    }
                    Ok(_) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            (ok, refused)
        });
    }
    tasks
}

/// SIGTERM while clients are sending to a slow backend (20 ms per request): the gateway exits 0
/// within `shutdown_timeout` + 5 s, and every log record it acknowledged was delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_exits_zero_and_loses_nothing_acknowledged() {
    let _exclusive = QUIET.write().await;
    let backend = FakeBackend::http().await;
    backend.set_delay(Duration::from_millis(20));
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/slow:
    endpoint: {}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}"#,
            backend.endpoint()
        ),
        "  shutdown_timeout: 20s\n  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/slow] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = spawn_clients(
        6,
        &client,
        &base,
        &acked,
        &stop,
        Instant::now() + Duration::from_secs(40),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = acked.requests().len();
    assert!(before > 0, "the load was running");
    let sigterm = Instant::now();
    gw.terminate();
    // Clients keep sending through the shutdown, until the gateway has exited.
    let status = gw.wait_exit(Duration::from_secs(25)).await;
    let took = sigterm.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut refused) = (0, 0);
    while let Some(done) = clients.join_next().await {
        let (o, r) = done.expect("client task");
        ok += o;
        refused += r;
    }
    let status = status.unwrap_or_else(|| {
        panic!(
            "no exit within shutdown_timeout + 5 s after SIGTERM\n{}",
            gw.output_report()
        )
    });
    eprintln!(
        "exit {status} {took:?} after SIGTERM; {ok} requests acknowledged ({before} before SIGTERM), {refused} refused; {}",
        backend.describe()
    );
    assert!(status.success(), "{}", gw.output_report());
    assert!(
        !gw.stderr().contains("shutdown deadline passed"),
        "{}",
        gw.output_report()
    );
    expect_log_ids(&backend, &acked.log_ids(records), Duration::from_secs(1)).await;
}

/// Persistent queue config of one `otlphttp` exporter, for the restart tests.
fn persistent_yaml(
    http_port: u16,
    admin_port: u16,
    backend_port: u16,
    directory: &std::path::Path,
    shutdown_timeout: &str,
) -> String {
    gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/persist:
    endpoint: http://127.0.0.1:{backend_port}
    timeout: 5s
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 300s }}
    sending_queue:
      queue_size: 10000
      storage: {{ directory: "{}" }}"#,
            directory.display()
        ),
        &format!(
            "  shutdown_timeout: {shutdown_timeout}\n  pipelines:\n    logs: {{ receivers: [otlp], exporters: [otlphttp/persist] }}"
        ),
    )
}

/// NEEDS the persistent queue (`sending_queue.storage`). With the backend down, clients send
/// for 3 s; the gateway is killed with SIGKILL; a new gateway with the same config and storage
/// directory delivers every acknowledged log record once the backend is up, and counts what it
/// reloaded in `gateway_exporter_queue_recovered_log_records_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_a_persistent_queue_loses_nothing_acknowledged() {
    let _shared = QUIET.read().await;
    let storage = tempfile::tempdir().expect("temporary directory");
    let backend_port = free_port();
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = persistent_yaml(http_port, admin_port, backend_port, storage.path(), "5s");
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = spawn_clients(
        4,
        &client,
        &base,
        &acked,
        &stop,
        Instant::now() + Duration::from_secs(3),
    );
    // Kill while the clients are still sending.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    gw.kill();
    stop.store(true, Ordering::SeqCst);
    while clients.join_next().await.is_some() {}
    let acked_ids = acked.log_ids(records);
    assert!(!acked_ids.is_empty(), "the gateway acknowledged something");
    eprintln!(
        "{} requests acknowledged before kill -9",
        acked.requests().len()
    );

    let backend = FakeBackend::http_on(backend_port).await;
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    expect_log_ids(&backend, &acked_ids, Duration::from_secs(60)).await;
    let recovered = metric(
        admin_port,
        &exporter_series(
            "gateway_exporter_queue_recovered_log_records_total",
            "otlphttp/persist",
        ),
    )
    .await;
    assert!(
        recovered >= acked_ids.len() as f64,
        "recovered {recovered} log records, {} were acknowledged",
        acked_ids.len()
    );
    let corrupt = metric(
        admin_port,
        &exporter_series(
            "gateway_exporter_queue_corrupt_records_total",
            "otlphttp/persist",
        ),
    )
    .await;
    eprintln!("corrupt records after kill -9: {corrupt}");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

/// NEEDS the persistent queue. Backend down, clients sending, SIGTERM: the gateway exits 0
/// within `shutdown_timeout` (3 s) + 5 s without losing the queue; restarted with the backend
/// up, it delivers every acknowledged log record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_persistent_queue_exits_quickly_and_delivers_everything_after_restart() {
    let _shared = QUIET.read().await;
    let storage = tempfile::tempdir().expect("temporary directory");
    let backend_port = free_port();
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = persistent_yaml(http_port, admin_port, backend_port, storage.path(), "3s");
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = spawn_clients(
        4,
        &client,
        &base,
        &acked,
        &stop,
        Instant::now() + Duration::from_secs(20),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sigterm = Instant::now();
    gw.terminate();
    let status = gw.wait_exit(Duration::from_secs(8)).await;
    let took = sigterm.elapsed();
    stop.store(true, Ordering::SeqCst);
    while clients.join_next().await.is_some() {}
    let status = status.unwrap_or_else(|| {
        panic!(
            "no exit within shutdown_timeout + 5 s after SIGTERM\n{}",
            gw.output_report()
        )
    });
    eprintln!(
        "exit {status} {took:?} after SIGTERM; {} requests acknowledged",
        acked.requests().len()
    );
    assert!(status.success(), "{}", gw.output_report());
    let acked_ids = acked.log_ids(records);
    assert!(!acked_ids.is_empty(), "the gateway acknowledged something");

    let backend = FakeBackend::http_on(backend_port).await;
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    expect_log_ids(&backend, &acked_ids, Duration::from_secs(60)).await;
    let recovered = metric(
        admin_port,
        &exporter_series(
            "gateway_exporter_queue_recovered_log_records_total",
            "otlphttp/persist",
        ),
    )
    .await;
    assert!(recovered > 0.0, "the restart reloaded the queue");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 8. Overload
// ---------------------------------------------------------------------------------------------

/// A big logs request: `records` copies of one fixture record with `body_bytes`-byte bodies
/// (tag it with [`tag_logs`]).
fn big_template(records: usize, body_bytes: usize) -> ExportLogsServiceRequest {
    let mut request = base_logs();
    let rl = &mut request.resource_logs[0];
    rl.scope_logs.truncate(1);
    let sl = &mut rl.scope_logs[0];
    let mut record = sl.log_records[0].clone();
    // Varied text, so nothing along the way can shrink it much.
    let body: String = (0..body_bytes)
        .map(|k| char::from(b'a' + ((k * 7 + k / 26) % 26) as u8))
        .collect();
    record.body = Some(AnyValue {
        value: Some(any_value::Value::StringValue(body)),
    });
    sl.log_records = vec![record; records];
    request.resource_logs.truncate(1);
    request
}

/// NEEDS the memory limiter (and byte-bounded queues). A slow backend (50 ms per request, one
/// consumer) and 8 clients sending 128 KiB requests as fast as they can for 60 s, resending
/// after `Retry-After` when refused: the gateway's RSS stays under limit + 50 MiB, the clients
/// are pushed back (429/503) at least once, and once the load stops and the backend speeds up,
/// every acknowledged log record is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_keeps_rss_bounded_and_delivers_everything_resent_afterwards() {
    let _exclusive = QUIET.write().await;
    let backend = FakeBackend::http().await;
    backend.set_delay(Duration::from_millis(50));
    let (http_port, admin_port) = (free_port(), free_port());
    let limit: u64 = 200 * 1024 * 1024;
    let margin: u64 = 50 * 1024 * 1024;
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"processors:
  memory_limiter:
    limit: 200MiB
    spike_limit: 50MiB
    check_interval: 100ms
exporters:
  otlphttp/slow:
    endpoint: {}
    compression: none
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 600s }}
    sending_queue: {{ num_consumers: 1, queue_size: 1000000, max_bytes: 4GiB }}"#,
            backend.endpoint()
        ),
        "  shutdown_timeout: 5s\n  pipelines:\n    logs: { receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp/slow] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let pid = gw.pid();
    let (records, body_bytes) = (256, 512);
    let template = big_template(records, body_bytes);
    let request_bytes = template.encoded_len();
    assert!(request_bytes > 128 * 1024, "{request_bytes} bytes");

    // RSS sampler.
    let max_rss = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (max_rss, sampling) = (max_rss.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::SeqCst) {
                if let Some(rss) = rss_bytes(pid) {
                    max_rss.fetch_max(rss as usize, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // Clients: as fast as possible; 429/503 → sleep Retry-After, resend the same request.
    let client = Client::new(http_port);
    let acked = Acked::default();
    let pushed_back = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let load_start = Instant::now();
    let load_end = load_start + Duration::from_secs(60);
    let mut clients = JoinSet::new();
    for _ in 0..8 {
        let (client, template, acked, pushed_back, next) = (
            client.clone(),
            template.clone(),
            acked.clone(),
            pushed_back.clone(),
            next.clone(),
        );
        clients.spawn(async move {
            'requests: while Instant::now() < load_end {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let body: Bytes = tag_logs(&template, i).encode_to_vec().into();
                for _attempt in 0..10_000 {
                    if Instant::now() >= load_end {
                        break 'requests;
                    }
                    match client.send("/v1/logs", body.clone()).await {
                        Ok(a) if a.status == 200 => {
                            acked.push(i);
                            continue 'requests;
                        }
                        Ok(a) if a.status == 429 || a.status == 503 => {
                            pushed_back.fetch_add(1, Ordering::SeqCst);
                            let wait = a.retry_after.unwrap_or(Duration::from_secs(1));
                            tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                        }
                        Ok(a) => panic!("request {i}: unexpected status {}", a.status),
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }
    let acked_requests = acked.requests().len();
    // The backend could take 20 requests/s (50 ms each, one consumer): how busy was it kept?
    let delivered = backend.items_received_between(load_start, load_end) / records;
    eprintln!(
        "load over: {acked_requests} requests acknowledged, {} pushed back, max RSS so far {} MiB; \
         {delivered} requests delivered during the load ({:.1}/s, backend capacity 20/s)",
        pushed_back.load(Ordering::SeqCst),
        max_rss.load(Ordering::SeqCst) / (1024 * 1024),
        delivered as f64 / 60.0
    );

    // The backend speeds up; everything acknowledged arrives.
    backend.set_delay(Duration::ZERO);
    let expected = acked.log_ids(records);
    expect_log_ids(&backend, &expected, Duration::from_secs(180)).await;
    sampling.store(false, Ordering::SeqCst);
    sampler.await.expect("sampler");
    let max_rss = max_rss.load(Ordering::SeqCst) as u64;
    eprintln!("max RSS {} MiB", max_rss / (1024 * 1024));
    assert!(
        max_rss < limit + margin,
        "RSS reached {} MiB, limit 200 MiB + 50 MiB margin",
        max_rss / (1024 * 1024)
    );
    assert!(
        pushed_back.load(Ordering::SeqCst) > 0,
        "the clients were never pushed back (429/503)"
    );
    assert!(acked_requests > 0, "something was acknowledged");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 9. A gRPC backend killed mid-load
// ---------------------------------------------------------------------------------------------

/// The killable gRPC backend: a second gateway (OTLP/gRPC in, `otlphttp` out to the in-test
/// backend that counts) with a persistent queue, so what it acknowledged survives its SIGKILL.
fn relay_yaml(grpc_port: u16, admin_port: u16, sink: &str, directory: &std::path::Path) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }} }} }}
exporters:
  otlphttp/sink:
    endpoint: {sink}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 300s }}
    sending_queue: {{ queue_size: 100000, storage: {{ directory: "{}" }} }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/sink] }}
"#,
        directory.display()
    )
}

/// Clients send logs to a gateway whose `otlp` (gRPC) exporter feeds a relay gateway; the relay
/// is killed with SIGKILL mid-load and restarted on the same port, once per round (CI: 2 rounds;
/// `scripts/soak grpc-backend-kill`: for minutes). Every log record a client was answered 200
/// for arrives at the final backend; nothing is counted as failed or dropped. Duplicates are
/// allowed, and bounded by what was resent: the gateway's retries (whole requests) plus what the
/// relay reloaded from its queue after each kill.
async fn grpc_backend_killed_mid_load(persistent: bool) {
    let _shared = QUIET.read().await;
    let sink = FakeBackend::http().await;
    let relay_dir = tempfile::tempdir().expect("temporary directory");
    let own_dir = tempfile::tempdir().expect("temporary directory");
    let (relay_port, relay_admin) = (free_port(), free_port());
    let relay = relay_yaml(relay_port, relay_admin, &sink.endpoint(), relay_dir.path());
    let (http_port, admin_port) = (free_port(), free_port());
    let storage = if persistent {
        format!(
            ", storage: {{ directory: \"{}\" }}",
            own_dir.path().display()
        )
    } else {
        String::new()
    };
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlp/relay:
    endpoint: http://127.0.0.1:{relay_port}
    timeout: 5s
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 300s }}
    sending_queue: {{ queue_size: 100000, on_full: reject{storage} }}"#
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlp/relay] }",
    );
    let recovered_series = exporter_series(
        "gateway_exporter_queue_recovered_log_records_total",
        "otlphttp/sink",
    );
    let mut relay_gw = Gateway::start(&relay, &[relay_port, relay_admin]).await;
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = spawn_clients(
        4,
        &client,
        &base,
        &acked,
        &stop,
        Instant::now() + Duration::from_secs(24 * 3600),
    );
    let mut relay_reloaded = 0.0;
    let mut rounds = crate::support::soak::Rounds::new(2);
    while rounds.next() {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let before = acked.requests().len();
        relay_gw.kill();
        // Down long enough for connection-refused retries.
        tokio::time::sleep(Duration::from_millis(700)).await;
        relay_gw = Gateway::start(&relay, &[relay_port, relay_admin]).await;
        // The relay reloads its queue before it listens.
        relay_reloaded += metric(relay_admin, &recovered_series).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(
            acked.requests().len() > before,
            "round {}: the load went on",
            rounds.done()
        );
    }
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }
    let expected = acked.log_ids(records);
    expect_log_ids(&sink, &expected, Duration::from_secs(120)).await;

    let exporter = |stem: &str| exporter_series(stem, "otlp/relay");
    let retries = metric(admin_port, &exporter("gateway_exporter_retries_total")).await;
    for stem in [
        "gateway_exporter_send_failed_log_records_total",
        "gateway_exporter_enqueue_failed_log_records_total",
    ] {
        assert_eq!(metric(admin_port, &exporter(stem)).await, 0.0, "{stem}");
    }
    assert!(retries > 0.0, "the exporter saw the relay die and retried");
    let received = sink.log_record_count();
    let unique = log_ids(&sink.received_logs()).len();
    let duplicates = received - unique;
    let bound = retries as usize * records + relay_reloaded as usize;
    eprintln!(
        "persistent={persistent}: {} rounds, {} records acknowledged, {unique} distinct arrived \
         ({duplicates} duplicates; bound {bound}: {retries} retried requests × {records} records \
         + {relay_reloaded} reloaded by the relay)",
        rounds.done(),
        expected.len()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates > bound {bound}"
    );
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    assert!(
        relay_gw.stop().await.success(),
        "{}",
        relay_gw.output_report()
    );
}

/// See [`grpc_backend_killed_mid_load`]: the gateway's queue in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_backend_killed_mid_load_loses_nothing_acknowledged_with_a_memory_queue() {
    grpc_backend_killed_mid_load(false).await;
}

/// See [`grpc_backend_killed_mid_load`]: the gateway's queue on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_backend_killed_mid_load_loses_nothing_acknowledged_with_a_persistent_queue() {
    grpc_backend_killed_mid_load(true).await;
}

// ---------------------------------------------------------------------------------------------
// 10. Requests on the wire at the shutdown deadline
// ---------------------------------------------------------------------------------------------

/// Items the gateway logged as dropped at the shutdown deadline for `exporter` (0 if none).
fn dropped_at_deadline(stderr: &str, exporter: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("items dropped") && l.contains(&format!("exporter={exporter} ")))
        .filter_map(|l| {
            l.split("items=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// SIGTERM with `shutdown_timeout: 1s` while two slow backends (HTTP and gRPC, each answering
/// after 2 s) hold one request of each exporter (one consumer each) and three more wait in each
/// queue: the requests being answered finish after the deadline, within the default 5 s
/// `shutdown_grace`, and count as sent; only the three queued ones count as `shutdown_dropped`.
/// Delivered plus dropped is exactly what was acknowledged, per exporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_the_wire_at_the_shutdown_deadline_count_by_their_outcome_not_as_dropped() {
    let _shared = QUIET.read().await;
    let http_backend = FakeBackend::http().await;
    let grpc_backend = FakeBackend::grpc().await;
    for backend in [&http_backend, &grpc_backend] {
        backend.set_delay(Duration::from_secs(2));
    }
    let (http_port, admin_port) = (free_port(), free_port());
    let retry = "{ initial_interval: 100ms, max_interval: 1s }";
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/slow:
    endpoint: {}
    timeout: 5s
    retry_on_failure: {retry}
    sending_queue: {{ num_consumers: 1 }}
  otlp/slow:
    endpoint: {}
    timeout: 5s
    retry_on_failure: {retry}
    sending_queue: {{ num_consumers: 1 }}"#,
            http_backend.endpoint(),
            grpc_backend.endpoint()
        ),
        "  shutdown_timeout: 1s\n  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/slow, otlp/slow] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let requests = 4;
    for i in 0..requests {
        let answer = client.send_logs(&tag_logs(&base, i)).await.expect("answer");
        assert_eq!(answer.status, 200);
    }
    // Both exporters have one request on the wire.
    for id in ["otlphttp/slow", "otlp/slow"] {
        let series = exporter_series("gateway_exporter_in_flight_requests", id);
        wait_metric(admin_port, &series, |v| v == 1.0, Duration::from_secs(10)).await;
    }
    let sigterm = Instant::now();
    gw.terminate();
    let status = gw.wait_exit(Duration::from_secs(15)).await;
    eprintln!("exit {status:?} {:?} after SIGTERM", sigterm.elapsed());
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        gw.output_report()
    );
    // Whatever reached a backend arrived; give a backend still answering time to record it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stderr = gw.stderr();
    for (id, backend) in [
        ("otlphttp/slow", &http_backend),
        ("otlp/slow", &grpc_backend),
    ] {
        let delivered = backend.log_record_count();
        let dropped = dropped_at_deadline(&stderr, id);
        eprintln!("{id}: {delivered} records delivered, {dropped} counted as dropped");
        assert_eq!(
            delivered + dropped,
            requests * records,
            "{id}: delivered + dropped = acknowledged\n{stderr}"
        );
        assert_eq!(delivered, records, "{id}: the request on the wire finished");
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Refusals counted once
// ---------------------------------------------------------------------------------------------

/// An `on_full: reject` queue of one request held by a hung backend: every later request is
/// refused (HTTP 503, gRPC `UNAVAILABLE`) and counted exactly once in
/// `gateway_receiver_refused_requests_total`, with its items in
/// `gateway_receiver_refused_log_records_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_full_refusal_is_counted_once_over_http_and_grpc() {
    let _shared = QUIET.read().await;
    let backend = FakeBackend::http().await;
    backend.set_hang(true);
    let (http_port, grpc_port, admin_port) = (free_port(), free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
      grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }}
exporters:
  otlphttp/held:
    endpoint: {}
    sending_queue: {{ num_consumers: 1, queue_size: 1, on_full: reject }}
service:
  shutdown_timeout: 1s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/held] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http_port, grpc_port, admin_port]).await;
    let client = Client::new(http_port);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let first = client.send_logs(&tag_logs(&base, 0)).await.expect("answer");
    assert_eq!(first.status, 200, "the queue's one request");
    let refused_requests = "gateway_receiver_refused_requests_total{receiver=\"otlp\"}";
    let refused_records = "gateway_receiver_refused_log_records_total{receiver=\"otlp\"}";
    for i in 1..=3 {
        let answer = client.send_logs(&tag_logs(&base, i)).await.expect("answer");
        assert_eq!(answer.status, 503, "request {i}: the queue is full");
    }
    assert_eq!(
        metric(admin_port, refused_requests).await,
        3.0,
        "HTTP: once each"
    );
    assert_eq!(
        metric(admin_port, refused_records).await,
        (3 * records) as f64
    );
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let status = crate::support::gateway::grpc_export_logs(&endpoint, tag_logs(&base, 4))
        .await
        .expect_err("the queue is full");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(
        metric(admin_port, refused_requests).await,
        4.0,
        "gRPC: once"
    );
    assert_eq!(
        metric(admin_port, refused_records).await,
        (4 * records) as f64
    );
    backend.set_hang(false);
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

// ---------------------------------------------------------------------------------------------
// 12. Merged exports (`sending_queue.batch`)
// ---------------------------------------------------------------------------------------------

/// Two exporters (OTLP/HTTP and OTLP/gRPC), one worker each, merging with
/// `sending_queue.batch`; `extra` is added to each exporter's `sending_queue`. The HTTP
/// exporter sends uncompressed (a merged export's parts go out as they are) unless `extra`
/// names a persistent queue (then gzip: the parts compressed into one stream).
fn merging_yaml(
    http_port: u16,
    admin_port: u16,
    backends: [&FakeBackend; 2],
    batch: &str,
    extra: &str,
) -> String {
    let compression = if extra.contains("storage") {
        "gzip"
    } else {
        "none"
    };
    gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/merge:
    endpoint: {}
    compression: {compression}
    sending_queue: {{ num_consumers: 1, batch: {batch}{extra} }}
  otlp/merge:
    endpoint: {}
    sending_queue: {{ num_consumers: 1, batch: {batch}{extra} }}"#,
            backends[0].endpoint(),
            backends[1].endpoint()
        ),
        "  shutdown_timeout: 5s\n  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/merge, otlp/merge] }",
    )
}

/// A gateway of [`merging_yaml`] with `batch` and a memory queue, and a client of it.
async fn start_merging(backends: [&FakeBackend; 2], batch: &str) -> (Gateway, Client) {
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = merging_yaml(http_port, admin_port, backends, batch, "");
    let gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    (gw, Client::new(http_port))
}

/// Sends tagged requests `ids` from 4 concurrent clients; every one must be answered 200.
async fn send_all(client: &Client, base: &ExportLogsServiceRequest, ids: std::ops::Range<usize>) {
    let mut tasks = JoinSet::new();
    for lane in 0..4 {
        let (client, base, ids) = (client.clone(), base.clone(), ids.clone());
        tasks.spawn(async move {
            for i in ids.skip(lane).step_by(4) {
                let answer = client.send_logs(&tag_logs(&base, i)).await.expect("answer");
                assert_eq!(answer.status, 200, "request {i}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }
}

/// With slow backends (300 ms per export) and one worker per exporter, the requests queued
/// meanwhile leave merged: both backends receive every acknowledged log record exactly once, in
/// far fewer exports than requests, none over `max_size`; the merged requests are counted in
/// `gateway_exporter_merged_requests_total` and every record in `..._sent_log_records_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_leave_merged_in_fewer_exports_and_every_record_arrives_once() {
    let _shared = QUIET.read().await;
    let (http_backend, grpc_backend) = (FakeBackend::http().await, FakeBackend::grpc().await);
    for backend in [&http_backend, &grpc_backend] {
        backend.set_delay(Duration::from_millis(300));
    }
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let (http_port, admin_port) = (free_port(), free_port());
    let batch = format!(
        "{{ flush_timeout: 100ms, min_size: {}, max_size: {} }}",
        3 * records,
        3 * records
    );
    let yaml = merging_yaml(
        http_port,
        admin_port,
        [&http_backend, &grpc_backend],
        &batch,
        "",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let requests = 30;
    send_all(&Client::new(http_port), &base, 0..requests).await;
    let expected: HashSet<String> = (0..requests).flat_map(|i| log_ids_of(i, records)).collect();
    for (id, backend) in [
        ("otlphttp/merge", &http_backend),
        ("otlp/merge", &grpc_backend),
    ] {
        expect_log_ids(backend, &expected, Duration::from_secs(30)).await;
        let received = backend.received_logs();
        let per_export: Vec<usize> = received
            .iter()
            .map(|r| fixtures::count_log_records(std::slice::from_ref(r)))
            .collect();
        eprintln!(
            "{id}: {requests} requests left in {} exports: {per_export:?}",
            received.len()
        );
        assert_eq!(
            per_export.iter().sum::<usize>(),
            requests * records,
            "{id}: each record exactly once"
        );
        assert!(
            received.len() <= requests / 2,
            "{id}: {} exports for {requests} requests: nothing was merged",
            received.len()
        );
        assert!(
            per_export.iter().all(|&n| n <= 3 * records),
            "{id}: an export over max_size ({} records): {per_export:?}",
            3 * records
        );
        let merged = metric(
            admin_port,
            &exporter_series("gateway_exporter_merged_requests_total", id),
        )
        .await;
        assert!(
            merged >= (requests / 2) as f64,
            "{id}: merged requests counted: {merged}"
        );
        let sent = metric(
            admin_port,
            &exporter_series("gateway_exporter_sent_log_records_total", id),
        )
        .await;
        assert_eq!(
            sent,
            (requests * records) as f64,
            "{id}: sent records counted"
        );
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

/// A merging worker exports what it holds once `flush_timeout` has passed since its first
/// request (not before), and a SIGTERM does not wait for a long `flush_timeout`: the queue
/// closes, the worker exports at once, and the gateway exits 0 with every record delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merging_worker_flushes_after_its_timeout_and_at_once_on_sigterm() {
    let _shared = QUIET.read().await;
    let (http_backend, grpc_backend) = (FakeBackend::http().await, FakeBackend::grpc().await);
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));

    // 1. A lone request leaves after the flush timeout.
    let backends = [&http_backend, &grpc_backend];
    let (mut gw, client) =
        start_merging(backends, "{ flush_timeout: 400ms, min_size: 1000000 }").await;
    let sent_at = Instant::now();
    send_all(&client, &base, 0..1).await;
    let expected: HashSet<String> = log_ids_of(0, records).collect();
    for backend in [&http_backend, &grpc_backend] {
        expect_log_ids(backend, &expected, Duration::from_secs(10)).await;
        let arrived = backend.arrival_times()[0];
        let waited = arrived.saturating_duration_since(sent_at);
        eprintln!("{}: exported {waited:?} after the request", backend.name());
        assert!(
            waited >= Duration::from_millis(350),
            "exported before flush_timeout: {waited:?}"
        );
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());

    // 2. A SIGTERM ends a 60 s wait.
    let (mut gw, client) =
        start_merging(backends, "{ flush_timeout: 60s, min_size: 1000000 }").await;
    send_all(&client, &base, 1..9).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for backend in [&http_backend, &grpc_backend] {
        assert_eq!(
            backend.request_count(),
            1,
            "still merging: nothing more exported yet"
        );
    }
    let sigterm = Instant::now();
    gw.terminate();
    let status = gw.wait_exit(Duration::from_secs(10)).await;
    eprintln!("exit {status:?} {:?} after SIGTERM", sigterm.elapsed());
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        gw.output_report()
    );
    let expected: HashSet<String> = (1..9).flat_map(|i| log_ids_of(i, records)).collect();
    for backend in [&http_backend, &grpc_backend] {
        expect_log_ids(backend, &expected, Duration::from_secs(5)).await;
        assert_eq!(backend.request_count(), 2, "the 8 requests in one export");
    }
}

/// NEEDS the persistent queue. Merged exports delete every request they carried from the
/// queue file: after a clean stop and a restart on the same directory, nothing is reloaded or
/// sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_queue_deletes_every_request_of_a_merged_export() {
    let _shared = QUIET.read().await;
    let storage = tempfile::tempdir().expect("temporary directory");
    let (http_backend, grpc_backend) = (FakeBackend::http().await, FakeBackend::grpc().await);
    for backend in [&http_backend, &grpc_backend] {
        backend.set_delay(Duration::from_millis(200));
    }
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let (http_port, admin_port) = (free_port(), free_port());
    let storage_yaml = format!(
        ", storage: {{ directory: \"{}\" }}",
        storage.path().display()
    );
    let yaml = merging_yaml(
        http_port,
        admin_port,
        [&http_backend, &grpc_backend],
        "{ flush_timeout: 50ms }",
        &storage_yaml,
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let requests = 20;
    send_all(&Client::new(http_port), &base, 0..requests).await;
    let expected: HashSet<String> = (0..requests).flat_map(|i| log_ids_of(i, records)).collect();
    for (id, backend) in [
        ("otlphttp/merge", &http_backend),
        ("otlp/merge", &grpc_backend),
    ] {
        expect_log_ids(backend, &expected, Duration::from_secs(30)).await;
        let merged = metric(
            admin_port,
            &exporter_series("gateway_exporter_merged_requests_total", id),
        )
        .await;
        eprintln!(
            "{id}: {} exports, {merged} requests merged",
            backend.request_count()
        );
        assert!(merged > 0.0, "{id}: something was merged");
    }
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    let before = [
        http_backend.log_record_count(),
        grpc_backend.log_record_count(),
    ];
    assert_eq!(before, [requests * records; 2], "each record once");

    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in ["otlphttp/merge", "otlp/merge"] {
        let series = exporter_series("gateway_exporter_queue_recovered_log_records_total", id);
        assert_eq!(
            metric(admin_port, &series).await,
            0.0,
            "{id}: reloaded {series}"
        );
    }
    assert_eq!(
        [
            http_backend.log_record_count(),
            grpc_backend.log_record_count()
        ],
        before,
        "nothing sent again after the restart"
    );
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

/// An `otlphttp` exporter sending JSON merges too: the requests queued together are decoded
/// once, as one, and leave as one JSON body holding every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_exporter_sends_merged_requests_as_one_body() {
    let _shared = QUIET.read().await;
    let backend = FakeBackend::http().await;
    let base = base_logs();
    let records = fixtures::count_log_records(std::slice::from_ref(&base));
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = gateway_yaml(
        http_port,
        admin_port,
        &format!(
            r#"exporters:
  otlphttp/json:
    endpoint: {}
    encoding: json
    sending_queue: {{ num_consumers: 1, batch: {{ flush_timeout: 2s, min_size: 1000000 }} }}"#,
            backend.endpoint()
        ),
        "  pipelines:\n    logs: { receivers: [otlp], exporters: [otlphttp/json] }",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    send_all(&Client::new(http_port), &base, 0..6).await;
    let expected: HashSet<String> = (0..6).flat_map(|i| log_ids_of(i, records)).collect();
    expect_log_ids(&backend, &expected, Duration::from_secs(10)).await;
    let requests = backend.requests();
    assert_eq!(requests.len(), 1, "one export for the 6 requests");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(backend.log_record_count(), 6 * records, "each record once");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}
