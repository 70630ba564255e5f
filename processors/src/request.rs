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

/// Calls `f` with the attributes of every data point of `m`, whatever its type.
pub fn for_each_point_attributes(m: &mut Metric, mut f: impl FnMut(&mut Vec<KeyValue>)) {
    match &mut m.data {
        Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
        }
        Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        None => {}
    }
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

/// Merging and splitting requests, for batching. Merging appends into equal resources and
/// scopes; splitting cuts a request into pieces of at most `max` items (metric data points are
/// split inside a metric when needed), each piece keeping its resource and scope.
pub trait Batchable: OtlpRequest {
    /// Moves every item of `other` into `self`, joining equal resources and scopes.
    fn absorb(&mut self, other: Self);
    /// Splits into requests of at most `max` items each (`max` = 0: no split).
    fn split(self, max: usize) -> Vec<Self>;
}

macro_rules! batchable {
    ($req:ty, $res:ident, $scopes:ident, $items:ident) => {
        impl Batchable for $req {
            fn absorb(&mut self, other: Self) {
                for r in other.$res {
                    let found = self
                        .$res
                        .iter_mut()
                        .find(|e| e.resource == r.resource && e.schema_url == r.schema_url);
                    let Some(existing) = found else {
                        self.$res.push(r);
                        continue;
                    };
                    for s in r.$scopes {
                        match existing
                            .$scopes
                            .iter_mut()
                            .find(|e| e.scope == s.scope && e.schema_url == s.schema_url)
                        {
                            Some(es) => es.$items.extend(s.$items),
                            None => existing.$scopes.push(s),
                        }
                    }
                }
            }

            fn split(self, max: usize) -> Vec<Self> {
                if max == 0 || self.item_count() <= max {
                    return vec![self];
                }
                let mut out = Vec::new();
                let mut current = Self::default();
                let mut room = max;
                for mut r in self.$res {
                    let scopes = std::mem::take(&mut r.$scopes);
                    for mut s in scopes {
                        let mut items = std::mem::take(&mut s.$items);
                        while !items.is_empty() {
                            let take = room.min(items.len());
                            let rest = items.split_off(take);
                            let mut piece = s.clone();
                            piece.$items = items;
                            let mut rp = r.clone();
                            rp.$scopes = vec![piece];
                            current.absorb(Self { $res: vec![rp] });
                            items = rest;
                            room -= take;
                            if room == 0 {
                                out.push(std::mem::take(&mut current));
                                room = max;
                            }
                        }
                    }
                }
                if current.item_count() > 0 {
                    out.push(current);
                }
                out
            }
        }
    };
}

batchable!(
    ExportTraceServiceRequest,
    resource_spans,
    scope_spans,
    spans
);
batchable!(
    ExportLogsServiceRequest,
    resource_logs,
    scope_logs,
    log_records
);

impl Batchable for ExportMetricsServiceRequest {
    fn absorb(&mut self, other: Self) {
        for r in other.resource_metrics {
            let found = self
                .resource_metrics
                .iter_mut()
                .find(|e| e.resource == r.resource && e.schema_url == r.schema_url);
            let Some(existing) = found else {
                self.resource_metrics.push(r);
                continue;
            };
            for s in r.scope_metrics {
                match existing
                    .scope_metrics
                    .iter_mut()
                    .find(|e| e.scope == s.scope && e.schema_url == s.schema_url)
                {
                    Some(es) => es.metrics.extend(s.metrics),
                    None => existing.scope_metrics.push(s),
                }
            }
        }
    }

    fn split(self, max: usize) -> Vec<Self> {
        if max == 0 || self.item_count() <= max {
            return vec![self];
        }
        let mut out = Vec::new();
        let mut current = Self::default();
        let mut room = max;
        for mut r in self.resource_metrics {
            let scopes = std::mem::take(&mut r.scope_metrics);
            for mut s in scopes {
                let metrics = std::mem::take(&mut s.metrics);
                for m in metrics {
                    let mut m = Some(m);
                    while let Some(metric) = m.take() {
                        let (piece, rest) = split_metric(metric, room);
                        room -= metric_point_count(&piece);
                        let mut sp = s.clone();
                        sp.metrics = vec![piece];
                        let mut rp = r.clone();
                        rp.scope_metrics = vec![sp];
                        current.absorb(Self {
                            resource_metrics: vec![rp],
                        });
                        if room == 0 {
                            out.push(std::mem::take(&mut current));
                            room = max;
                        }
                        m = rest;
                    }
                }
            }
        }
        if current.item_count() > 0 {
            out.push(current);
        }
        out
    }
}

/// Cuts `m` after `n` data points: (first part, rest if any).
fn split_metric(mut m: Metric, n: usize) -> (Metric, Option<Metric>) {
    if metric_point_count(&m) <= n {
        return (m, None);
    }
    let mut rest = Metric {
        data: None,
        ..m.clone()
    };
    macro_rules! cut {
        ($variant:ident, $d:expr) => {{
            let tail = $d.data_points.split_off(n);
            let mut other = $d.clone();
            other.data_points = tail;
            rest.data = Some(Data::$variant(other));
        }};
    }
    match &mut m.data {
        Some(Data::Gauge(d)) => cut!(Gauge, d),
        Some(Data::Sum(d)) => cut!(Sum, d),
        Some(Data::Histogram(d)) => cut!(Histogram, d),
        Some(Data::ExponentialHistogram(d)) => cut!(ExponentialHistogram, d),
        Some(Data::Summary(d)) => cut!(Summary, d),
        None => return (m, None),
    }
    (m, Some(rest))
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use prost::Message;

    fn fixture<T: Message + Default>(path: &str) -> T {
        let body = std::fs::read(format!(
            "{}/../tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        T::decode(body.as_slice()).expect("decode")
    }

    #[test]
    fn split_then_merge_keeps_every_item_and_respects_the_maximum() {
        let traces: ExportTraceServiceRequest = fixture("tool-secrets-protobuf/001_traces.pb");
        let n = traces.item_count();
        let parts = traces.clone().split(100);
        assert_eq!(parts.len(), n.div_ceil(100));
        assert!(parts.iter().all(|p| p.item_count() <= 100));
        let mut merged = ExportTraceServiceRequest::default();
        for p in parts {
            merged.absorb(p);
        }
        assert_eq!(merged.item_count(), n);
        assert_eq!(
            merged.resource_spans.len(),
            traces.resource_spans.len(),
            "equal resources joined"
        );
        let mut a: Vec<_> = traces
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect();
        let mut b: Vec<_> = merged
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.span_id.clone())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn metrics_split_inside_a_metric_and_merge_back() {
        let metrics: ExportMetricsServiceRequest =
            fixture("failing-tool-loop-protobuf/004_metrics.pb");
        let n = metrics.item_count();
        let parts = metrics.clone().split(3);
        assert!(parts
            .iter()
            .all(|p| p.item_count() <= 3 && p.item_count() > 0));
        assert_eq!(parts.iter().map(OtlpRequest::item_count).sum::<usize>(), n);
        let mut merged = ExportMetricsServiceRequest::default();
        for p in parts {
            merged.absorb(p);
        }
        assert_eq!(merged.item_count(), n);
    }

    #[test]
    fn logs_from_two_requests_merge_under_one_resource() {
        let logs: ExportLogsServiceRequest = fixture("tool-secrets-protobuf/004_logs.pb");
        let mut a = logs.clone();
        a.absorb(logs.clone());
        assert_eq!(a.item_count(), 2 * logs.item_count());
        assert_eq!(a.resource_logs.len(), logs.resource_logs.len());
    }
}
