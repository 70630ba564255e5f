//! The three OTLP export requests seen through one trait, so the pipeline can count, process and
//! prune any signal with one piece of code.

use crate::{ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::fmt;

/// An OTLP signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`, as in pipeline ids and URL paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What one item of this signal is called in counters: `spans`, `metric_points`, `log_records`.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    /// Parses `traces`, `metrics` or `logs`.
    pub fn parse(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|sig| sig.as_str() == s)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the pipeline needs from an export request of any signal.
pub trait OtlpRequest: prost::Message + Default + Clone + Send + Sync + 'static {
    /// The signal of this request type.
    const SIGNAL: Signal;
    /// Number of items: spans, metric data points, or log records.
    fn item_count(&self) -> usize;
    /// Removes scopes without items and resources without scopes.
    fn prune(&mut self);
    /// Runs one processor over this request.
    fn process_with(&mut self, p: &dyn Processor, cx: &mut ProcessContext<'_>);
    /// The `service.name` of each resource, in order (empty string where absent).
    fn service_names(&self) -> Vec<&str>;
}

/// Number of data points in one metric, whatever its type.
pub fn metric_point_count(m: &Metric) -> usize {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .and_then(|r| find_attr(&r.attributes, "service.name"))
        .and_then(|v| match v {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// The value of attribute `key`, if present with a value.
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

impl OtlpRequest for ExportTraceServiceRequest {
    const SIGNAL: Signal = Signal::Traces;

    fn item_count(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    fn prune(&mut self) {
        for r in &mut self.resource_spans {
            r.scope_spans.retain(|s| !s.spans.is_empty());
        }
        self.resource_spans.retain(|r| !r.scope_spans.is_empty());
    }

    fn process_with(&mut self, p: &dyn Processor, cx: &mut ProcessContext<'_>) {
        p.process_traces(self, cx)
    }

    fn service_names(&self) -> Vec<&str> {
        self.resource_spans
            .iter()
            .map(|r| service_name(r.resource.as_ref()))
            .collect()
    }
}

impl OtlpRequest for ExportMetricsServiceRequest {
    const SIGNAL: Signal = Signal::Metrics;

    fn item_count(&self) -> usize {
        self.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(metric_point_count)
            .sum()
    }

    fn prune(&mut self) {
        for r in &mut self.resource_metrics {
            for s in &mut r.scope_metrics {
                s.metrics.retain(|m| metric_point_count(m) > 0);
            }
            r.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        self.resource_metrics
            .retain(|r| !r.scope_metrics.is_empty());
    }

    fn process_with(&mut self, p: &dyn Processor, cx: &mut ProcessContext<'_>) {
        p.process_metrics(self, cx)
    }

    fn service_names(&self) -> Vec<&str> {
        self.resource_metrics
            .iter()
            .map(|r| service_name(r.resource.as_ref()))
            .collect()
    }
}

impl OtlpRequest for ExportLogsServiceRequest {
    const SIGNAL: Signal = Signal::Logs;

    fn item_count(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }

    fn prune(&mut self) {
        for r in &mut self.resource_logs {
            r.scope_logs.retain(|s| !s.log_records.is_empty());
        }
        self.resource_logs.retain(|r| !r.scope_logs.is_empty());
    }

    fn process_with(&mut self, p: &dyn Processor, cx: &mut ProcessContext<'_>) {
        p.process_logs(self, cx)
    }

    fn service_names(&self) -> Vec<&str> {
        self.resource_logs
            .iter()
            .map(|r| service_name(r.resource.as_ref()))
            .collect()
    }
}
