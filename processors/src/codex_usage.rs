//! `codex_usage` connector: turns Codex log events into usage metrics, in the same process.
//!
//! Place in the flow: a logs pipeline lists the connector among its exporters, a metrics
//! pipeline among its receivers (as Collector connectors are wired). After the logs pipeline's
//! processors ran (so `team`/`project` tags and `cost.usd` are already on the records), the
//! pipeline hands each request to [`CodexUsage::consume_logs`], which aggregates the Codex
//! events it recognises and returns a metrics request for the downstream pipelines:
//!
//! | event | metric | point attributes |
//! | --- | --- | --- |
//! | `codex.sse_event`, `event.kind` = `response.completed`, or `codex.ingest.token_usage` (from `ingest`) | `codex_tokens` (sum, `{token}`) | `token_type` = `input`, `cached_input`, `output`, `reasoning_output` (Codex's own vocabulary of `codex.turn.token_usage`) |
//! | same, with a `cost.usd` attribute (from the `cost` processor) | `codex_cost_usd` (sum, `USD`, double) | — |
//! | `codex.tool_result` | `codex_tool_calls` (sum) and `codex_tool_duration` (histogram, `ms`) | `tool_name`, `success` |
//! | `codex.api_request` | `codex_api_requests` (sum) | `http.response.status_code`, `error` (`true` when the status is ≥ 400 or `error.message` is set) |
//! | `codex.tool_decision` | `codex_tool_decisions` (sum) | `tool_name`, `decision`, `source` |
//! | `codex.gateway.alert` (from `codex_anomaly`) | `codex_alerts` (sum) | `kind` |
//!
//! Every point also carries `model` and the configured `dimensions` (default `team`, `project`;
//! looked up on the record, then on its resource), and `conversation.id` when enabled (off by
//! default: one series per conversation). Output resources copy the input resource (so
//! `service.name` and the team tags stay where the Codex client's own metrics have them).
//!
//! Temporality: `cumulative` (default) keeps a running total per stream (resource + metric +
//! point attributes), bounded by `max_streams` (new streams over the bound are counted as
//! `streams_over_limit` and left out) and forgotten after `max_stale` without updates; each
//! request yields the current totals of the streams it touched, with the stream's first-seen
//! time as start time. `delta` emits what this request added. Counts are exact integers.
//! Works for clients that send no metrics at all (older `codex exec`): only logs are read.

use crate::codex_event::{bool_attr, event_name, int_attr, is_response_completed, kv, str_attr};
use crate::units::deserialize_duration;
use crate::{find_attr, BuildError, ProcessContext};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Event name of the usage records `codex-otel-gateway ingest` makes from session files; they
/// carry the same `*_token_count` attributes as `response.completed` and are counted alike.
pub const INGESTED_USAGE: &str = "codex.ingest.token_usage";

/// Name of the instrumentation scope of every metric the connector emits.
pub const SCOPE_NAME: &str = "codex-otel-gateway/codex_usage";

/// Metric names emitted by the connector.
pub mod names {
    /// Tokens by `token_type` and model.
    pub const TOKENS: &str = "codex_tokens";
    /// USD spent, summed from the `cost.usd` attribute the `cost` processor sets.
    pub const COST: &str = "codex_cost_usd";
    /// Tool calls by tool and success.
    pub const TOOL_CALLS: &str = "codex_tool_calls";
    /// Tool call duration histogram (ms) by tool and success.
    pub const TOOL_DURATION: &str = "codex_tool_duration";
    /// Model API requests by status code, with an error flag.
    pub const API_REQUESTS: &str = "codex_api_requests";
    /// Tool approval decisions by decision and source.
    pub const TOOL_DECISIONS: &str = "codex_tool_decisions";
    /// Alerts raised by the `codex_anomaly` processor, by kind.
    pub const ALERTS: &str = "codex_alerts";
}

/// Aggregation temporality of the emitted sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Running totals per stream (what Prometheus-style backends need).
    #[default]
    Cumulative,
    /// What each request added.
    Delta,
}

/// `connectors: codex_usage[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodexUsageConfig {
    /// Attribute keys copied onto every point, looked up on the record first, then on its
    /// resource (where the `team` processor puts its tags by default). Absent keys are left out.
    pub dimensions: Vec<String>,
    /// Adds `conversation.id` to every point. Off by default: one series per conversation.
    pub conversation_id: bool,
    /// `cumulative` (default) or `delta`.
    pub aggregation_temporality: Temporality,
    /// Explicit bucket bounds of `codex_tool_duration`, in milliseconds, ascending.
    pub duration_buckets_ms: Vec<f64>,
    /// Most streams kept (cumulative only); new streams beyond it are counted and left out.
    pub max_streams: usize,
    /// A stream without updates for this long is forgotten (cumulative only; a later update
    /// starts it again from zero with a new start time).
    #[serde(deserialize_with = "deserialize_duration")]
    pub max_stale: Duration,
}

impl Default for CodexUsageConfig {
    fn default() -> Self {
        CodexUsageConfig {
            dimensions: vec!["team".into(), "project".into()],
            conversation_id: false,
            aggregation_temporality: Temporality::Cumulative,
            duration_buckets_ms: vec![
                5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
                30_000.0, 60_000.0, 120_000.0, 300_000.0,
            ],
            max_streams: 10_000,
            max_stale: Duration::from_secs(3600),
        }
    }
}

impl CodexUsageConfig {
    /// Checks the config and builds the connector.
    pub fn build(&self) -> Result<CodexUsage, Vec<BuildError>> {
        let mut errors = Vec::new();
        for (i, d) in self.dimensions.iter().enumerate() {
            if d.is_empty() {
                errors.push(BuildError::field(format!("dimensions[{i}]"), "empty key"));
            } else if RESERVED.contains(&d.as_str()) {
                errors.push(BuildError::field(
                    format!("dimensions[{i}]"),
                    format!("{d:?} is set by the connector itself"),
                ));
            }
        }
        let b = &self.duration_buckets_ms;
        if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
            errors.push(BuildError::field(
                "duration_buckets_ms",
                "bounds must be finite and strictly ascending",
            ));
        }
        if self.max_streams == 0 {
            errors.push(BuildError::field("max_streams", "must be at least 1"));
        }
        if self.max_stale.is_zero() {
            errors.push(BuildError::field("max_stale", "must be more than zero"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CodexUsage {
            cfg: self.clone(),
            state: Mutex::new(State::default()),
        })
    }
}

/// Point attribute keys the connector sets itself.
const RESERVED: &[&str] = &[
    "model",
    "token_type",
    "tool_name",
    "success",
    "http.response.status_code",
    "error",
    "decision",
    "source",
    "kind",
    "conversation.id",
];

/// The built connector. Thread-safe; the running totals sit behind one mutex.
#[derive(Debug)]
pub struct CodexUsage {
    cfg: CodexUsageConfig,
    state: Mutex<State>,
}

/// The running totals, and when stale ones were last forgotten.
#[derive(Debug, Default)]
struct State {
    streams: HashMap<Vec<u8>, Stream>,
    last_sweep: Option<Instant>,
}

/// How often stale streams are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Stream {
    start: u64,
    last_seen: Instant,
    value: Value,
}

/// What one stream holds: a sum or a histogram.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Double(f64),
    Hist {
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        buckets: Vec<u64>,
    },
}

impl Value {
    fn add(&mut self, other: &Value) {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => *a = a.saturating_add(*b),
            (Value::Double(a), Value::Double(b)) => *a += b,
            (
                Value::Hist {
                    count,
                    sum,
                    min,
                    max,
                    buckets,
                },
                Value::Hist {
                    count: c2,
                    sum: s2,
                    min: mi2,
                    max: ma2,
                    buckets: b2,
                },
            ) => {
                *count += c2;
                *sum += s2;
                *min = min.min(*mi2);
                *max = max.max(*ma2);
                for (a, b) in buckets.iter_mut().zip(b2) {
                    *a += b;
                }
            }
            _ => {}
        }
    }
}

/// Which metric a point belongs to (index into [`METRICS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Tokens,
    Cost,
    ToolCalls,
    ToolDuration,
    ApiRequests,
    ToolDecisions,
    Alerts,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tokens => names::TOKENS,
            Kind::Cost => names::COST,
            Kind::ToolCalls => names::TOOL_CALLS,
            Kind::ToolDuration => names::TOOL_DURATION,
            Kind::ApiRequests => names::API_REQUESTS,
            Kind::ToolDecisions => names::TOOL_DECISIONS,
            Kind::Alerts => names::ALERTS,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Kind::Tokens => "{token}",
            Kind::Cost => "USD",
            Kind::ToolCalls => "{call}",
            Kind::ToolDuration => "ms",
            Kind::ApiRequests => "{request}",
            Kind::ToolDecisions => "{decision}",
            Kind::Alerts => "{alert}",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Tokens => "Tokens used by Codex, from response.completed events",
            Kind::Cost => "USD spent by Codex, priced by the gateway's cost processor",
            Kind::ToolCalls => "Codex tool calls",
            Kind::ToolDuration => "Codex tool call duration",
            Kind::ApiRequests => "Codex model API requests",
            Kind::ToolDecisions => "Codex tool approval decisions",
            Kind::Alerts => "Alerts raised by the gateway's codex_anomaly processor",
        }
    }
}

/// One aggregated point of this request, before it meets the running totals.
struct Pending {
    kind: Kind,
    resource: usize,
    attrs: Vec<KeyValue>,
    value: Value,
    start: u64,
}

impl CodexUsage {
    /// Aggregates the Codex events in `req` into a metrics request (`None` when it held none).
    /// Streams over `max_streams` are counted in `cx` as `streams_over_limit`.
    pub fn consume_logs(
        &self,
        req: &ExportLogsServiceRequest,
        cx: &mut ProcessContext<'_>,
    ) -> Option<ExportMetricsServiceRequest> {
        self.consume_logs_at(req, cx, crate::clock::unix_nanos(), Instant::now())
    }

    /// [`CodexUsage::consume_logs`] at a given time (tests).
    pub fn consume_logs_at(
        &self,
        req: &ExportLogsServiceRequest,
        cx: &mut ProcessContext<'_>,
        now_unix: u64,
        now: Instant,
    ) -> Option<ExportMetricsServiceRequest> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut resources: Vec<(Option<&Resource>, Vec<u8>)> = Vec::new();
        for rl in &req.resource_logs {
            let resource = rl.resource.as_ref();
            let rkey = resource.map(|r| r.encode_to_vec()).unwrap_or_default();
            let ridx = resources.len();
            resources.push((resource, rkey));
            for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                for (kind, attrs, value) in self.points_of(record, resource) {
                    let start = record_time(record).unwrap_or(now_unix);
                    let key = stream_key(kind, &resources[ridx].1, &attrs);
                    // One key per stream: the running totals below find it by the same key.
                    match index.get(&key) {
                        Some(&i) => {
                            pending[i].value.add(&value);
                            pending[i].start = pending[i].start.min(start);
                        }
                        None => {
                            index.insert(key, pending.len());
                            pending.push(Pending {
                                kind,
                                resource: ridx,
                                attrs,
                                value,
                                start,
                            });
                        }
                    }
                }
            }
        }
        if pending.is_empty() {
            return None;
        }
        if self.cfg.aggregation_temporality == Temporality::Cumulative {
            let mut keys = vec![Vec::new(); pending.len()];
            for (key, i) in index {
                keys[i] = key;
            }
            let mut guard = self.lock();
            let state = &mut *guard;
            // Forget stale streams at most once per second, not on every request.
            if state
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_INTERVAL)
            {
                let stale = self.cfg.max_stale;
                state
                    .streams
                    .retain(|_, s| now.saturating_duration_since(s.last_seen) < stale);
                state.last_sweep = Some(now);
            }
            let streams = &mut state.streams;
            let mut kept = Vec::with_capacity(pending.len());
            for (mut p, key) in pending.into_iter().zip(keys) {
                let full = streams.len() >= self.cfg.max_streams;
                match streams.get_mut(&key) {
                    Some(s) => {
                        s.value.add(&p.value);
                        s.last_seen = now;
                        p.value = s.value.clone();
                        p.start = s.start;
                    }
                    None if full => {
                        cx.count("streams_over_limit", p.kind.name(), 1);
                        continue;
                    }
                    None => {
                        streams.insert(
                            key,
                            Stream {
                                start: now_unix.min(p.start),
                                last_seen: now,
                                value: p.value.clone(),
                            },
                        );
                        p.start = now_unix.min(p.start);
                    }
                }
                kept.push(p);
            }
            pending = kept;
        }
        Some(self.assemble(pending, &resources, now_unix))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of cumulative streams held.
    pub fn stream_count(&self) -> usize {
        self.lock().streams.len()
    }

    /// The points one record contributes.
    fn points_of(
        &self,
        record: &LogRecord,
        resource: Option<&Resource>,
    ) -> Vec<(Kind, Vec<KeyValue>, Value)> {
        let attrs = &record.attributes;
        let event = event_name(record);
        let mut out = Vec::new();
        let base = |extra: &[(&str, AnyValue)]| -> Vec<KeyValue> {
            let mut kv: Vec<KeyValue> = Vec::with_capacity(extra.len() + 4);
            if let Some(m) = str_attr(attrs, "model") {
                kv.push(string_kv("model", m));
            }
            for (k, v) in extra {
                kv.push(KeyValue {
                    key: (*k).to_string(),
                    value: Some(v.clone()),
                    ..Default::default()
                });
            }
            for d in &self.cfg.dimensions {
                let v = find_attr(attrs, d)
                    .or_else(|| resource.and_then(|r| find_attr(&r.attributes, d)));
                if let Some(v) = v {
                    kv.push(KeyValue {
                        key: d.clone(),
                        value: Some(AnyValue {
                            value: Some(v.clone()),
                        }),
                        ..Default::default()
                    });
                }
            }
            if self.cfg.conversation_id {
                if let Some(c) = str_attr(attrs, "conversation.id") {
                    kv.push(string_kv("conversation.id", c));
                }
            }
            kv
        };
        match event {
            _ if is_response_completed(record) || event == INGESTED_USAGE => {
                for (key, ty) in [
                    ("input_token_count", "input"),
                    ("cached_token_count", "cached_input"),
                    ("output_token_count", "output"),
                    ("reasoning_token_count", "reasoning_output"),
                ] {
                    if let Some(n) = int_attr(attrs, key) {
                        out.push((
                            Kind::Tokens,
                            base(&[("token_type", string_value(ty))]),
                            Value::Int(n),
                        ));
                    }
                }
                if let Some(c) = double_attr(attrs, "cost.usd") {
                    out.push((Kind::Cost, base(&[]), Value::Double(c)));
                }
            }
            "codex.tool_result" => {
                let tool = string_value(str_attr(attrs, "tool_name").unwrap_or(""));
                let success = string_value(match bool_attr(attrs, "success") {
                    Some(true) => "true",
                    Some(false) => "false",
                    None => "unknown",
                });
                let dims = base(&[("tool_name", tool), ("success", success)]);
                if let Some(ms) = int_attr(attrs, "duration_ms") {
                    out.push((
                        Kind::ToolDuration,
                        dims.clone(),
                        self.histogram_of(ms as f64),
                    ));
                }
                out.push((Kind::ToolCalls, dims, Value::Int(1)));
            }
            "codex.api_request" => {
                let status = int_attr(attrs, "http.response.status_code").unwrap_or(0);
                let error = status >= 400 || find_attr(attrs, "error.message").is_some();
                out.push((
                    Kind::ApiRequests,
                    base(&[
                        (
                            "http.response.status_code",
                            AnyValue {
                                value: Some(any_value::Value::IntValue(status)),
                            },
                        ),
                        ("error", string_value(if error { "true" } else { "false" })),
                    ]),
                    Value::Int(1),
                ));
            }
            "codex.tool_decision" => {
                let get = |k| string_value(str_attr(attrs, k).unwrap_or(""));
                out.push((
                    Kind::ToolDecisions,
                    base(&[
                        ("tool_name", get("tool_name")),
                        ("decision", get("decision")),
                        ("source", get("source")),
                    ]),
                    Value::Int(1),
                ));
            }
            "codex.gateway.alert" => {
                let kind = string_value(str_attr(attrs, "alert.kind").unwrap_or(""));
                out.push((Kind::Alerts, base(&[("kind", kind)]), Value::Int(1)));
            }
            _ => {}
        }
        out
    }

    fn histogram_of(&self, x: f64) -> Value {
        let bounds = &self.cfg.duration_buckets_ms;
        let mut buckets = vec![0u64; bounds.len() + 1];
        // OTLP explicit buckets are upper-inclusive: bucket i holds (bounds[i-1], bounds[i]].
        let i = bounds.partition_point(|b| *b < x);
        if let Some(b) = buckets.get_mut(i) {
            *b = 1;
        }
        Value::Hist {
            count: 1,
            sum: x,
            min: x,
            max: x,
            buckets,
        }
    }

    fn assemble(
        &self,
        mut pending: Vec<Pending>,
        resources: &[(Option<&Resource>, Vec<u8>)],
        now_unix: u64,
    ) -> ExportMetricsServiceRequest {
        pending.sort_by_key(|p| (p.resource, p.kind));
        let temporality = match self.cfg.aggregation_temporality {
            Temporality::Cumulative => AggregationTemporality::Cumulative,
            Temporality::Delta => AggregationTemporality::Delta,
        } as i32;
        let mut out: Vec<ResourceMetrics> = Vec::new();
        let mut current: Option<usize> = None;
        for p in pending {
            if current != Some(p.resource) {
                current = Some(p.resource);
                out.push(ResourceMetrics {
                    resource: resources[p.resource].0.cloned(),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: SCOPE_NAME.to_string(),
                            version: env!("CARGO_PKG_VERSION").to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            let Some(metrics) = out
                .last_mut()
                .and_then(|r| r.scope_metrics.first_mut())
                .map(|s| &mut s.metrics)
            else {
                continue;
            };
            if metrics.last().map(|m| m.name.as_str()) != Some(p.kind.name()) {
                metrics.push(self.empty_metric(p.kind, temporality));
            }
            let Some(metric) = metrics.last_mut() else {
                continue;
            };
            match (&mut metric.data, p.value) {
                (Some(metric::Data::Sum(s)), v @ (Value::Int(_) | Value::Double(_))) => {
                    s.data_points.push(NumberDataPoint {
                        attributes: p.attrs,
                        start_time_unix_nano: p.start,
                        time_unix_nano: now_unix,
                        value: match v {
                            Value::Double(x) => Some(number_data_point::Value::AsDouble(x)),
                            Value::Int(n) => Some(number_data_point::Value::AsInt(n)),
                            Value::Hist { .. } => None,
                        },
                        ..Default::default()
                    })
                }
                (
                    Some(metric::Data::Histogram(h)),
                    Value::Hist {
                        count,
                        sum,
                        min,
                        max,
                        buckets,
                    },
                ) => h.data_points.push(HistogramDataPoint {
                    attributes: p.attrs,
                    start_time_unix_nano: p.start,
                    time_unix_nano: now_unix,
                    count,
                    sum: Some(sum),
                    min: Some(min),
                    max: Some(max),
                    bucket_counts: buckets,
                    explicit_bounds: self.cfg.duration_buckets_ms.clone(),
                    ..Default::default()
                }),
                _ => {}
            }
        }
        ExportMetricsServiceRequest {
            resource_metrics: out,
        }
    }

    fn empty_metric(&self, kind: Kind, temporality: i32) -> Metric {
        let data = match kind {
            Kind::ToolDuration => metric::Data::Histogram(Histogram {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
            }),
            _ => metric::Data::Sum(Sum {
                data_points: Vec::new(),
                aggregation_temporality: temporality,
                is_monotonic: true,
            }),
        };
        Metric {
            name: kind.name().to_string(),
            description: kind.description().to_string(),
            unit: kind.unit().to_string(),
            data: Some(data),
            ..Default::default()
        }
    }
}

/// Identity of a stream: metric, resource (encoded) and point attributes (encoded, in order).
fn stream_key(kind: Kind, resource: &[u8], attrs: &[KeyValue]) -> Vec<u8> {
    let mut key = Vec::with_capacity(resource.len() + 64);
    key.push(kind as u8);
    key.extend_from_slice(&(resource.len() as u64).to_le_bytes());
    key.extend_from_slice(resource);
    for kv in attrs {
        kv.encode_length_delimited(&mut key).unwrap_or_default();
    }
    key
}

fn record_time(r: &LogRecord) -> Option<u64> {
    [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0)
}

fn double_attr(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find_attr(attrs, key)? {
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::IntValue(n) => Some(*n as f64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|d| d.is_finite())
}

fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

fn string_kv(key: &str, s: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(s.to_string()))
}

#[cfg(test)]
mod tests;
