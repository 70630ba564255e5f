//! Access to the recorded Codex CLI telemetry in `tests/fixtures/` and helpers to compare OTLP
//! requests independently of how they were batched.
//!
//! Every fixture folder holds request bodies that a real `codex exec` (0.169.0) posted to an
//! OTLP/HTTP endpoint, listed in `index.jsonl` (see `tests/fixtures/README.md`).
//!
//! Comparison works on *flat items*: one [`FlatItem`] per span, per metric data point or per log
//! record, carrying its resource attributes, its scope and the item itself re-encoded with prost.
//! Two lists of export requests hold the same telemetry exactly when their sorted flat items are
//! equal, however the items were split into requests, resources or scopes. The
//! `assert_same_*` helpers panic with counts first and then the first difference.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use codex_otel_gateway::codec::json;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// Content type of OTLP/HTTP protobuf bodies.
pub const PROTOBUF: &str = "application/x-protobuf";
/// Content type of OTLP/HTTP JSON bodies.
pub const JSON: &str = "application/json";

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// All signals, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `"traces"`, `"metrics"` or `"logs"`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The standard OTLP/HTTP path: `/v1/traces`, `/v1/metrics`, `/v1/logs`.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// The gRPC method path of the OTLP collector service.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    /// The signal a request path is for, judged by its last segment (`/v1/traces`,
    /// `/custom/prefix/traces`, the gRPC method paths...). `None` when it names no signal.
    pub fn from_path(path: &str) -> Option<Signal> {
        let path = path.trim_end_matches('/');
        let lower = path.to_ascii_lowercase();
        if lower.contains(".trace.v1.traceservice/") || lower.ends_with("traces") {
            Some(Signal::Traces)
        } else if lower.contains(".metrics.v1.metricsservice/") || lower.ends_with("metrics") {
            Some(Signal::Metrics)
        } else if lower.contains(".logs.v1.logsservice/") || lower.ends_with("logs") {
            Some(Signal::Logs)
        } else {
            None
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One recorded request body from `tests/fixtures/<session>/`.
#[derive(Clone, PartialEq, Eq)]
pub struct Fixture {
    /// Folder name, e.g. `tool-secrets-protobuf`.
    pub session: String,
    /// File name inside the folder, e.g. `001_traces.pb`.
    pub file: String,
    pub signal: Signal,
    /// The path Codex posted to (`/v1/traces`...).
    pub path: String,
    /// `application/x-protobuf` or `application/json`.
    pub content_type: String,
    /// The user agent Codex sent (`OTel-OTLP-Exporter-Rust/0.31.0`).
    pub user_agent: String,
    /// The body exactly as Codex sent it (never compressed).
    pub body: Vec<u8>,
}

impl Fixture {
    /// `session/file`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.session, self.file)
    }

    pub fn is_json(&self) -> bool {
        is_json_content_type(&self.content_type)
    }

    pub fn is_protobuf(&self) -> bool {
        !self.is_json()
    }

    /// Decodes the body whatever its encoding.
    pub fn decode(&self) -> Payload {
        match self.signal {
            Signal::Traces => Payload::Traces(decode_traces(self)),
            Signal::Metrics => Payload::Metrics(decode_metrics(self)),
            Signal::Logs => Payload::Logs(decode_logs(self)),
        }
    }

    /// The body as OTLP protobuf (JSON fixtures are decoded and re-encoded).
    pub fn protobuf_body(&self) -> Vec<u8> {
        if self.is_json() {
            self.decode().encode_protobuf()
        } else {
            self.body.clone()
        }
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("session", &self.session)
            .field("file", &self.file)
            .field("signal", &self.signal)
            .field("path", &self.path)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A decoded request of any signal.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Payload {
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
        }
    }

    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self {
            Payload::Traces(r) => r.encode_to_vec(),
            Payload::Metrics(r) => r.encode_to_vec(),
            Payload::Logs(r) => r.encode_to_vec(),
        }
    }

    /// Encodes with the gateway's OTLP/JSON codec.
    pub fn encode_json(&self) -> Vec<u8> {
        match self {
            Payload::Traces(r) => json::encode_traces(r),
            Payload::Metrics(r) => json::encode_metrics(r),
            Payload::Logs(r) => json::encode_logs(r),
        }
    }

    /// Number of spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Traces(r) => count_spans(std::slice::from_ref(r)),
            Payload::Metrics(r) => count_data_points(std::slice::from_ref(r)),
            Payload::Logs(r) => count_log_records(std::slice::from_ref(r)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// `<crate>/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Names of the fixture folders (those with an `index.jsonl`), sorted.
pub fn sessions() -> Vec<String> {
    let dir = fixtures_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list fixtures in {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap_or_else(|e| panic!("cannot list fixtures in {}: {e}", dir.display())))
        .filter(|e| e.path().join("index.jsonl").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no fixture folder with an index.jsonl in {}",
        dir.display()
    );
    names
}

/// The captures of later Codex versions: `(tests/fixtures/codex-<version>, session)` for every
/// session folder (with an `index.jsonl`) there, sorted.
pub fn versioned_sessions() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixtures_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path();
        if !e.file_name().to_string_lossy().starts_with("codex-") || !dir.is_dir() {
            continue;
        }
        for s in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if s.path().join("index.jsonl").is_file() {
                out.push((dir.clone(), s.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    out.sort();
    out
}

/// The fixtures of one folder, in `index.jsonl` order (the order Codex sent them).
pub fn session_fixtures(session: &str) -> Vec<Fixture> {
    session_fixtures_in(&fixtures_dir(), session)
}

/// The fixtures of folder `session` under `root`, in `index.jsonl` order.
pub fn session_fixtures_in(root: &Path, session: &str) -> Vec<Fixture> {
    let dir = root.join(session);
    let index_path = dir.join("index.jsonl");
    let index = std::fs::read_to_string(&index_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", index_path.display()));
    let mut fixtures = Vec::new();
    for (n, line) in index.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}:{}", index_path.display(), n + 1);
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: invalid JSON line: {e}", where_()));
        let field = |name: &str| -> String {
            entry
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let file = field("file");
        assert!(!file.is_empty(), "{}: no \"file\"", where_());
        let path = field("path");
        let signal = Signal::from_path(&path)
            .or_else(|| Signal::from_path(file.split('.').next().unwrap_or_default()))
            .unwrap_or_else(|| panic!("{}: cannot tell the signal of {file} ({path})", where_()));
        let body_path = dir.join(&file);
        let body = std::fs::read(&body_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", body_path.display()));
        if let Some(expected) = entry.get("bytes").and_then(|v| v.as_u64()) {
            assert_eq!(
                body.len() as u64,
                expected,
                "{}: {} has {} bytes, index says {expected}",
                where_(),
                body_path.display(),
                body.len()
            );
        }
        let mut content_type = field("content_type");
        if content_type.is_empty() {
            content_type = if file.ends_with(".json") {
                JSON
            } else {
                PROTOBUF
            }
            .to_string();
        }
        fixtures.push(Fixture {
            session: session.to_string(),
            file,
            signal,
            path: if path.is_empty() {
                signal.http_path().to_string()
            } else {
                path
            },
            content_type,
            user_agent: field("user_agent"),
            body,
        });
    }
    assert!(
        !fixtures.is_empty(),
        "{} lists no fixture",
        index_path.display()
    );
    fixtures
}

/// Every fixture of every folder, folder by folder in index order.
pub fn all_fixtures() -> Vec<Fixture> {
    sessions()
        .iter()
        .flat_map(|s| session_fixtures(s))
        .collect()
}

/// Fixtures whose body is OTLP protobuf.
pub fn protobuf_fixtures() -> Vec<Fixture> {
    all_fixtures()
        .into_iter()
        .filter(Fixture::is_protobuf)
        .collect()
}

/// Fixtures whose body is OTLP/JSON.
pub fn json_fixtures() -> Vec<Fixture> {
    all_fixtures()
        .into_iter()
        .filter(Fixture::is_json)
        .collect()
}

/// One fixture by folder and file name.
pub fn fixture(session: &str, file: &str) -> Fixture {
    session_fixtures(session)
        .into_iter()
        .find(|f| f.file == file)
        .unwrap_or_else(|| {
            panic!(
                "no fixture {session}/{file} in {}",
                fixtures_dir().display()
            )
        })
}

/// The fixtures of one signal out of a list.
pub fn of_signal(fixtures: &[Fixture], signal: Signal) -> Vec<Fixture> {
    fixtures
        .iter()
        .filter(|f| f.signal == signal)
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// `true` for `application/json` (parameters such as `; charset=utf-8` ignored).
pub fn is_json_content_type(content_type: &str) -> bool {
    media_type(content_type) == JSON
}

/// The media type of a content type, lower-cased, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn check_signal(fixture: &Fixture, wanted: Signal) {
    assert_eq!(
        fixture.signal,
        wanted,
        "fixture {} holds {}, not {}",
        fixture.label(),
        fixture.signal,
        wanted
    );
}

/// Decodes a traces fixture (protobuf or JSON); panics if it is not one or does not decode.
pub fn decode_traces(fixture: &Fixture) -> ExportTraceServiceRequest {
    check_signal(fixture, Signal::Traces);
    decode_traces_body(&fixture.content_type, &fixture.body)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.label()))
}

/// Decodes a metrics fixture (protobuf or JSON); panics if it is not one or does not decode.
pub fn decode_metrics(fixture: &Fixture) -> ExportMetricsServiceRequest {
    check_signal(fixture, Signal::Metrics);
    decode_metrics_body(&fixture.content_type, &fixture.body)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.label()))
}

/// Decodes a logs fixture (protobuf or JSON); panics if it is not one or does not decode.
pub fn decode_logs(fixture: &Fixture) -> ExportLogsServiceRequest {
    check_signal(fixture, Signal::Logs);
    decode_logs_body(&fixture.content_type, &fixture.body)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", fixture.label()))
}

/// Decodes an uncompressed OTLP traces body by content type (JSON, anything else protobuf).
pub fn decode_traces_body(
    content_type: &str,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, String> {
    if is_json_content_type(content_type) {
        json::decode_traces(body).map_err(|e| format!("invalid OTLP/JSON traces: {e:?}"))
    } else {
        ExportTraceServiceRequest::decode(body)
            .map_err(|e| format!("invalid OTLP protobuf traces: {e}"))
    }
}

/// Decodes an uncompressed OTLP metrics body by content type (JSON, anything else protobuf).
pub fn decode_metrics_body(
    content_type: &str,
    body: &[u8],
) -> Result<ExportMetricsServiceRequest, String> {
    if is_json_content_type(content_type) {
        json::decode_metrics(body).map_err(|e| format!("invalid OTLP/JSON metrics: {e:?}"))
    } else {
        ExportMetricsServiceRequest::decode(body)
            .map_err(|e| format!("invalid OTLP protobuf metrics: {e}"))
    }
}

/// Decodes an uncompressed OTLP logs body by content type (JSON, anything else protobuf).
pub fn decode_logs_body(
    content_type: &str,
    body: &[u8],
) -> Result<ExportLogsServiceRequest, String> {
    if is_json_content_type(content_type) {
        json::decode_logs(body).map_err(|e| format!("invalid OTLP/JSON logs: {e:?}"))
    } else {
        ExportLogsServiceRequest::decode(body)
            .map_err(|e| format!("invalid OTLP protobuf logs: {e}"))
    }
}

/// Decodes every traces fixture of the list (others are skipped).
pub fn traces_of(fixtures: &[Fixture]) -> Vec<ExportTraceServiceRequest> {
    fixtures
        .iter()
        .filter(|f| f.signal == Signal::Traces)
        .map(decode_traces)
        .collect()
}

/// Decodes every metrics fixture of the list (others are skipped).
pub fn metrics_of(fixtures: &[Fixture]) -> Vec<ExportMetricsServiceRequest> {
    fixtures
        .iter()
        .filter(|f| f.signal == Signal::Metrics)
        .map(decode_metrics)
        .collect()
}

/// Decodes every logs fixture of the list (others are skipped).
pub fn logs_of(fixtures: &[Fixture]) -> Vec<ExportLogsServiceRequest> {
    fixtures
        .iter()
        .filter(|f| f.signal == Signal::Logs)
        .map(decode_logs)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Counting and attribute access
// ---------------------------------------------------------------------------------------------

/// Number of spans in the requests.
pub fn count_spans(requests: &[ExportTraceServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// Number of metric data points (of every metric type) in the requests.
pub fn count_data_points(requests: &[ExportMetricsServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(metric_point_count)
        .sum()
}

/// Number of log records in the requests.
pub fn count_log_records(requests: &[ExportLogsServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum()
}

/// Number of data points of one metric.
pub fn metric_point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Every span of the requests (without its resource and scope).
pub fn all_spans(requests: &[ExportTraceServiceRequest]) -> Vec<&Span> {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect()
}

/// Every metric of the requests (without its resource and scope).
pub fn all_metrics(requests: &[ExportMetricsServiceRequest]) -> Vec<&Metric> {
    requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect()
}

/// Every log record of the requests (without its resource and scope).
pub fn all_log_records(requests: &[ExportLogsServiceRequest]) -> Vec<&LogRecord> {
    requests
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| &rl.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .collect()
}

/// The value of attribute `key`, if present (the first one if repeated).
pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The value of attribute `key` if it is a string.
pub fn attr_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The value of attribute `key` rendered as text (see [`render_value`]).
pub fn attr_text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attr(attributes, key).map(render_value)
}

/// A string attribute, for building or editing test data.
pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

/// Renders an attribute value: strings as they are, numbers and booleans in decimal, bytes in
/// hex, arrays as `[a, b]` and key-value lists as `{k=v, ...}`.
pub fn render_value(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(render_value).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(kv)) => format!("{{{}}}", render_attributes(&kv.values)),
        Some(any_value::Value::StringValueStrindex(i)) => format!("strindex:{i}"),
    }
}

/// Renders attributes as `k=v, k=v` in their order.
pub fn render_attributes(attributes: &[KeyValue]) -> String {
    attributes
        .iter()
        .map(|kv| {
            format!(
                "{}={}",
                kv.key,
                kv.value.as_ref().map(render_value).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower-case hex of bytes (trace and span ids).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `true` if `needle` occurs in any string field of the messages (attribute values, log
/// bodies, span names, ...): for "this secret must not reach the backend" checks.
pub fn contains_text(haystack: &[impl Message], needle: &str) -> bool {
    // Strings are stored verbatim in protobuf, so a byte search over the encoding finds every
    // occurrence in any string field.
    let needle = needle.as_bytes();
    haystack.iter().any(|m| {
        let bytes = m.encode_to_vec();
        !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle)
    })
}

// ---------------------------------------------------------------------------------------------
// Flattening and comparison
// ---------------------------------------------------------------------------------------------

/// What a [`FlatItem`] holds, so that its bytes can be decoded again for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKind {
    Span,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint,
    LogRecord,
}

/// One span, metric data point or log record with everything it inherits from its request.
///
/// Equality covers all fields; the derived order sorts by resource, scope, then `key`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlatItem {
    /// Resource attributes rendered with [`render_value`], sorted by key, then the resource's
    /// `dropped_attributes_count` as `("<dropped>", n)` when non-zero.
    pub resource: Vec<(String, String)>,
    pub scope_name: String,
    pub scope_version: String,
    /// Scope attributes, rendered and sorted like `resource`.
    pub scope_attributes: Vec<(String, String)>,
    /// Human-readable identity of the item, also used for sorting. Spans:
    /// `span name=.. trace_id=.. span_id=..`; data points: `metric name=.. type=.. temporality=..
    /// monotonic=.. unit=.. description=.. metadata=[..] attrs=[..] time=..`; log records:
    /// `log event.name=.. time=.. observed=..`. For metrics it carries every metric-level field.
    pub key: String,
    pub kind: ItemKind,
    /// The span / data point / log record re-encoded with prost.
    pub bytes: Vec<u8>,
}

impl FlatItem {
    /// The item decoded again and pretty-printed with `{:#?}`.
    pub fn pretty(&self) -> String {
        let bytes = self.bytes.as_slice();
        let decoded = match self.kind {
            ItemKind::Span => Span::decode(bytes).map(|v| format!("{v:#?}")),
            ItemKind::NumberDataPoint => NumberDataPoint::decode(bytes).map(|v| format!("{v:#?}")),
            ItemKind::HistogramDataPoint => {
                HistogramDataPoint::decode(bytes).map(|v| format!("{v:#?}"))
            }
            ItemKind::ExponentialHistogramDataPoint => {
                ExponentialHistogramDataPoint::decode(bytes).map(|v| format!("{v:#?}"))
            }
            ItemKind::SummaryDataPoint => {
                SummaryDataPoint::decode(bytes).map(|v| format!("{v:#?}"))
            }
            ItemKind::LogRecord => LogRecord::decode(bytes).map(|v| format!("{v:#?}")),
        };
        decoded.unwrap_or_else(|e| format!("<undecodable {:?}: {e}>", self.kind))
    }

    fn context(&self) -> String {
        format!(
            "resource[{}] scope={}@{}{}",
            self.resource
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.scope_name,
            self.scope_version,
            if self.scope_attributes.is_empty() {
                String::new()
            } else {
                format!(
                    " scope_attrs[{}]",
                    self.scope_attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    }
}

impl fmt::Display for FlatItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.key, self.context())
    }
}

impl fmt::Debug for FlatItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FlatItem({self}, {} bytes)", self.bytes.len())
    }
}

fn flat_resource(resource: Option<&Resource>) -> Vec<(String, String)> {
    let Some(resource) = resource else {
        return Vec::new();
    };
    let mut out = sorted_attributes(&resource.attributes);
    if resource.dropped_attributes_count != 0 {
        out.push((
            "<dropped>".to_string(),
            resource.dropped_attributes_count.to_string(),
        ));
    }
    out
}

fn sorted_attributes(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(render_value).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

fn flat_scope(scope: Option<&InstrumentationScope>) -> (String, String, Vec<(String, String)>) {
    match scope {
        Some(s) => (
            s.name.clone(),
            s.version.clone(),
            sorted_attributes(&s.attributes),
        ),
        None => (String::new(), String::new(), Vec::new()),
    }
}

/// One [`FlatItem`] per span, sorted.
pub fn flatten_spans(requests: &[ExportTraceServiceRequest]) -> Vec<FlatItem> {
    let mut out = Vec::new();
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        let resource = flat_resource(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            let (scope_name, scope_version, scope_attributes) = flat_scope(ss.scope.as_ref());
            for span in &ss.spans {
                out.push(FlatItem {
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    key: format!(
                        "span name={} trace_id={} span_id={}",
                        span.name,
                        hex(&span.trace_id),
                        hex(&span.span_id)
                    ),
                    kind: ItemKind::Span,
                    bytes: span.encode_to_vec(),
                });
            }
        }
    }
    out.sort();
    out
}

fn temporality_name(value: i32) -> String {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Delta) => "delta".to_string(),
        Ok(AggregationTemporality::Cumulative) => "cumulative".to_string(),
        Ok(AggregationTemporality::Unspecified) => "unspecified".to_string(),
        Err(_) => format!("unknown({value})"),
    }
}

/// The kind, attributes, time and encoding of each data point of one metric.
fn point_parts<'a, P: Message>(
    kind: ItemKind,
    points: &'a [P],
    parts: impl Fn(&'a P) -> (&'a Vec<KeyValue>, u64),
) -> Vec<(ItemKind, &'a Vec<KeyValue>, u64, Vec<u8>)> {
    points
        .iter()
        .map(|p| {
            let (attributes, time) = parts(p);
            (kind, attributes, time, p.encode_to_vec())
        })
        .collect()
}

/// One [`FlatItem`] per metric data point, carrying its metric's name, description, unit, type,
/// temporality, monotonicity and metadata in `key`; sorted.
pub fn flatten_data_points(requests: &[ExportMetricsServiceRequest]) -> Vec<FlatItem> {
    let mut out = Vec::new();
    for rm in requests.iter().flat_map(|r| &r.resource_metrics) {
        let resource = flat_resource(rm.resource.as_ref());
        for sm in &rm.scope_metrics {
            let (scope_name, scope_version, scope_attributes) = flat_scope(sm.scope.as_ref());
            for m in &sm.metrics {
                let none = || String::from("-");
                let (kind_name, temporality, monotonic, points) = match &m.data {
                    Some(metric::Data::Gauge(g)) => (
                        "gauge",
                        none(),
                        none(),
                        point_parts(ItemKind::NumberDataPoint, &g.data_points, |p| {
                            (&p.attributes, p.time_unix_nano)
                        }),
                    ),
                    Some(metric::Data::Sum(s)) => (
                        "sum",
                        temporality_name(s.aggregation_temporality),
                        s.is_monotonic.to_string(),
                        point_parts(ItemKind::NumberDataPoint, &s.data_points, |p| {
                            (&p.attributes, p.time_unix_nano)
                        }),
                    ),
                    Some(metric::Data::Histogram(h)) => (
                        "histogram",
                        temporality_name(h.aggregation_temporality),
                        none(),
                        point_parts(ItemKind::HistogramDataPoint, &h.data_points, |p| {
                            (&p.attributes, p.time_unix_nano)
                        }),
                    ),
                    Some(metric::Data::ExponentialHistogram(h)) => (
                        "exponential_histogram",
                        temporality_name(h.aggregation_temporality),
                        none(),
                        point_parts(
                            ItemKind::ExponentialHistogramDataPoint,
                            &h.data_points,
                            |p| (&p.attributes, p.time_unix_nano),
                        ),
                    ),
                    Some(metric::Data::Summary(s)) => (
                        "summary",
                        none(),
                        none(),
                        point_parts(ItemKind::SummaryDataPoint, &s.data_points, |p| {
                            (&p.attributes, p.time_unix_nano)
                        }),
                    ),
                    None => continue,
                };
                for (kind, attributes, time, bytes) in points {
                    out.push(FlatItem {
                        resource: resource.clone(),
                        scope_name: scope_name.clone(),
                        scope_version: scope_version.clone(),
                        scope_attributes: scope_attributes.clone(),
                        key: format!(
                            "metric name={} type={kind_name} temporality={temporality} \
                             monotonic={monotonic} unit={:?} description={:?} metadata=[{}] \
                             attrs=[{}] time={time}",
                            m.name,
                            m.unit,
                            m.description,
                            render_attributes(&m.metadata),
                            render_attributes(attributes),
                        ),
                        kind,
                        bytes,
                    });
                }
            }
        }
    }
    out.sort();
    out
}

/// One [`FlatItem`] per log record, sorted.
pub fn flatten_log_records(requests: &[ExportLogsServiceRequest]) -> Vec<FlatItem> {
    let mut out = Vec::new();
    for rl in requests.iter().flat_map(|r| &r.resource_logs) {
        let resource = flat_resource(rl.resource.as_ref());
        for sl in &rl.scope_logs {
            let (scope_name, scope_version, scope_attributes) = flat_scope(sl.scope.as_ref());
            for record in &sl.log_records {
                let event = if record.event_name.is_empty() {
                    attr_text(&record.attributes, "event.name").unwrap_or_default()
                } else {
                    record.event_name.clone()
                };
                out.push(FlatItem {
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    key: format!(
                        "log event.name={event} time={} observed={} span_id={}",
                        record.time_unix_nano,
                        record.observed_time_unix_nano,
                        hex(&record.span_id)
                    ),
                    kind: ItemKind::LogRecord,
                    bytes: record.encode_to_vec(),
                });
            }
        }
    }
    out.sort();
    out
}

/// Compares two multisets of flat items (any order). `Ok` when equal; otherwise a message with
/// the counts — items missing, changed (an item with the same key arrived with other content,
/// resource or scope) and unexpected (never sent, or duplicated) — then the first missing item,
/// the first unexpected one, and for the first changed one where it differs.
///
/// `context` names the receiver (`"backend http"`), `what` the items (`"spans"`).
pub fn compare_items(
    context: &str,
    what: &str,
    sent: &[FlatItem],
    received: &[FlatItem],
) -> Result<(), String> {
    let mut sent_sorted: Vec<&FlatItem> = sent.iter().collect();
    let mut received_sorted: Vec<&FlatItem> = received.iter().collect();
    sent_sorted.sort();
    received_sorted.sort();
    let (mut missing, mut unexpected) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < sent_sorted.len() || j < received_sorted.len() {
        match (sent_sorted.get(i), received_sorted.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                missing.push(*a);
                i += 1;
            }
            (Some(_), Some(b)) => {
                unexpected.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                missing.push(*a);
                i += 1;
            }
            (None, Some(b)) => {
                unexpected.push(*b);
                j += 1;
            }
            (None, None) => break,
        }
    }
    if missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    // A missing item whose identity (kind and key) shows up among the unexpected ones was
    // changed on the way rather than lost; pair them up.
    let mut by_identity: HashMap<(ItemKind, &str), Vec<usize>> = HashMap::new();
    for (index, u) in unexpected.iter().enumerate().rev() {
        by_identity
            .entry((u.kind, u.key.as_str()))
            .or_default()
            .push(index);
    }
    let mut changed: Vec<(&FlatItem, &FlatItem)> = Vec::new();
    let mut lost: Vec<&FlatItem> = Vec::new();
    let mut extra: Vec<Option<&FlatItem>> = unexpected.iter().map(|u| Some(*u)).collect();
    for m in &missing {
        let counterpart = by_identity
            .get_mut(&(m.kind, m.key.as_str()))
            .and_then(Vec::pop)
            .and_then(|index| extra[index].take());
        match counterpart {
            Some(u) => changed.push((*m, u)),
            None => lost.push(*m),
        }
    }
    let extra: Vec<&FlatItem> = extra.into_iter().flatten().collect();
    let matched = sent.len() - missing.len();
    let mut msg = format!(
        "{context}: {matched} of {} {what} arrived unchanged; {} received: {} missing, {} changed, \
         {} unexpected",
        sent.len(),
        received.len(),
        lost.len(),
        changed.len(),
        extra.len()
    );
    if let Some(first) = lost.first() {
        msg.push_str(&format!("\nfirst missing: {first}"));
    }
    if let Some(first) = extra.first() {
        msg.push_str(&format!("\nfirst unexpected: {first}"));
    }
    if let Some((sent_item, received_item)) = changed.first() {
        msg.push_str(&format!("\nfirst changed: {}", sent_item.key));
        if sent_item.context() != received_item.context() {
            msg.push_str(&format!(
                "\n  sent with     {}\n  received with {}",
                sent_item.context(),
                received_item.context()
            ));
        }
        if sent_item.bytes != received_item.bytes {
            msg.push_str(&line_diff(&sent_item.pretty(), &received_item.pretty()));
        }
    }
    Err(msg)
}

/// The lines of `a` absent from `b` (`-`) and of `b` absent from `a` (`+`), at most 20 each.
fn line_diff(a: &str, b: &str) -> String {
    let a_lines: Vec<&str> = a.lines().collect();
    let b_lines: Vec<&str> = b.lines().collect();
    let mut out = String::from("\n  content difference (- sent, + received):");
    let only_a: Vec<&&str> = a_lines
        .iter()
        .filter(|l| !b_lines.contains(l))
        .take(20)
        .collect();
    let only_b: Vec<&&str> = b_lines
        .iter()
        .filter(|l| !a_lines.contains(l))
        .take(20)
        .collect();
    if only_a.is_empty() && only_b.is_empty() {
        out.push_str("\n    (same lines, different order or repetition)");
    }
    for l in only_a {
        out.push_str(&format!("\n  - {}", l.trim()));
    }
    for l in only_b {
        out.push_str(&format!("\n  + {}", l.trim()));
    }
    out
}

/// Panics unless `received` holds exactly the spans of `sent` (any batching).
pub fn assert_same_spans(
    context: &str,
    sent: &[ExportTraceServiceRequest],
    received: &[ExportTraceServiceRequest],
) {
    if let Err(msg) = compare_items(
        context,
        "spans",
        &flatten_spans(sent),
        &flatten_spans(received),
    ) {
        panic!("{msg}");
    }
}

/// Panics unless `received` holds exactly the metric data points of `sent` (any batching).
pub fn assert_same_data_points(
    context: &str,
    sent: &[ExportMetricsServiceRequest],
    received: &[ExportMetricsServiceRequest],
) {
    if let Err(msg) = compare_items(
        context,
        "data points",
        &flatten_data_points(sent),
        &flatten_data_points(received),
    ) {
        panic!("{msg}");
    }
}

/// Panics unless `received` holds exactly the log records of `sent` (any batching).
pub fn assert_same_log_records(
    context: &str,
    sent: &[ExportLogsServiceRequest],
    received: &[ExportLogsServiceRequest],
) {
    if let Err(msg) = compare_items(
        context,
        "log records",
        &flatten_log_records(sent),
        &flatten_log_records(received),
    ) {
        panic!("{msg}");
    }
}
