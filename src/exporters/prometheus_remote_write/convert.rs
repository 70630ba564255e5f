//! OTLP metrics → Prometheus remote write series, following the OpenTelemetry "Prometheus and
//! OpenMetrics Compatibility" specification. Pure: no I/O, no clock; called by the exporter's
//! service for every batch, before the requests are split ([`chunks`]) and sent.
//!
//! - Names: `processors::metric_names::prometheus_name` (the `metric_names` processor's
//!   `prometheus` mode), prefixed by `namespace_`; histograms and summaries get the `_bucket`,
//!   `_sum` and `_count` series, summaries a `quantile` label.
//! - Labels: data point attribute keys through `processors::metric_names::label_name`; keys that
//!   collide after that are merged, values joined with `;` in key order. Then the promoted
//!   resource attributes (when the point has no such label), `job` (`service.namespace/`
//!   `service.name`) and `instance` (`service.instance.id`) from the resource, the external
//!   labels (when absent), and `__name__`. Empty values are left out. Labels are sorted by name.
//! - Cumulative only: delta (and unspecified-temporality) sums and histograms are dropped and
//!   counted; so are exponential histograms, points without a value or timestamp and
//!   histograms whose bucket counts do not fit their bounds.
//! - A point flagged `no_recorded_value` becomes the Prometheus stale marker on all its series.
//! - `target_info`: one sample per resource carrying its attributes other than `service.*`
//!   identity (which are `job`/`instance`), at the newest timestamp of the resource's points.

use super::prompb::{Label, Sample, TimeSeries, WriteRequest};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, DataPointFlags, HistogramDataPoint,
    Metric, SummaryDataPoint,
};
use processors::metric_names::{label_name, prometheus_name, MetricKind};
use std::collections::{BTreeSet, HashMap};

/// The Prometheus stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Name of the resource attributes series.
pub const TARGET_INFO: &str = "target_info";
/// The label holding the metric name.
pub const NAME_LABEL: &str = "__name__";

/// Point id of samples that come from no data point (`target_info`).
const NO_POINT: u32 = u32::MAX;

/// What the conversion needs from the exporter's config, resolved once at build time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertOptions {
    /// Prefix of every metric name (without the `_`); empty: none.
    pub namespace: String,
    /// Labels added to every series that does not have them, sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Every resource attribute becomes a label of every series of that resource.
    pub all_resource_attributes: bool,
    /// These resource attributes become labels (by their original key).
    pub promoted_resource_attributes: Vec<String>,
    /// Send `target_info`.
    pub target_info: bool,
}

/// The samples of one series, each with the id of the data point it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// Sorted labels, `__name__` included.
    pub labels: Vec<Label>,
    /// Samples in time order, with their point ids.
    pub samples: Vec<(Sample, u32)>,
}

/// The result of converting one OTLP request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// Every series, in order of first appearance.
    pub series: Vec<SeriesSamples>,
    /// Data points converted.
    pub points: u64,
    /// Delta (or unspecified-temporality) sum and histogram points dropped.
    pub dropped_delta: u64,
    /// Points of a kind Prometheus remote write 1.0 cannot carry (exponential histograms) or
    /// that are malformed (no value, no timestamp, buckets that do not fit the bounds).
    pub dropped_unsupported: u64,
}

impl Converted {
    /// Samples in all series.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// One remote write request and the data points whose samples it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The request (labels and samples sorted as the specification asks).
    pub request: WriteRequest,
    /// Ids of the data points with at least one sample in this request.
    pub points: Vec<u32>,
    /// Samples in the request.
    pub samples: usize,
}

/// Builds the series; see the module documentation for the rules.
pub fn convert(req: &ExportMetricsServiceRequest, opts: &ConvertOptions) -> Converted {
    let mut out = Builder::default();
    for rm in &req.resource_metrics {
        let resource_attrs: &[KeyValue] = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let resource = ResourceLabels::new(resource_attrs, opts);
        let mut newest: Option<i64> = None;
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if let Some(t) = out.metric(metric, &resource, opts) {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
        if let (true, Some(ts)) = (opts.target_info, newest) {
            if let Some(labels) = resource.target_info(resource_attrs, opts) {
                out.push(
                    labels,
                    Sample {
                        value: 1.0,
                        timestamp: ts,
                    },
                    NO_POINT,
                );
            }
        }
    }
    let mut converted = out.done;
    for s in &mut converted.series {
        s.samples.sort_by_key(|(sample, _)| sample.timestamp);
    }
    converted
}

/// Splits the series into requests of at most `max_samples` samples (at least 1). A series that
/// does not fit is continued in the next request, older samples first, so sending the chunks in
/// order keeps every series in time order.
pub fn chunks(converted: Converted, max_samples: usize) -> Vec<Chunk> {
    let max = max_samples.max(1);
    let mut out = Vec::new();
    let mut current = Chunk {
        request: WriteRequest::default(),
        points: Vec::new(),
        samples: 0,
    };
    let mut ids = BTreeSet::new();
    let flush = |current: &mut Chunk, ids: &mut BTreeSet<u32>, out: &mut Vec<Chunk>| {
        if current.samples > 0 {
            current.points = std::mem::take(ids).into_iter().collect();
            out.push(std::mem::replace(
                current,
                Chunk {
                    request: WriteRequest::default(),
                    points: Vec::new(),
                    samples: 0,
                },
            ));
        }
    };
    for series in converted.series {
        let mut rest = series.samples.as_slice();
        while !rest.is_empty() {
            let room = max - current.samples;
            let (now, later) = rest.split_at(room.min(rest.len()));
            ids.extend(now.iter().map(|(_, id)| *id).filter(|id| *id != NO_POINT));
            current.request.timeseries.push(TimeSeries {
                labels: series.labels.clone(),
                samples: now.iter().map(|(s, _)| *s).collect(),
            });
            current.samples += now.len();
            rest = later;
            if current.samples == max {
                flush(&mut current, &mut ids, &mut out);
            }
        }
    }
    flush(&mut current, &mut ids, &mut out);
    out
}

#[derive(Default)]
struct Builder {
    done: Converted,
    index: HashMap<Vec<Label>, usize>,
    next_point: u32,
}

impl Builder {
    fn push(&mut self, labels: Vec<Label>, sample: Sample, point: u32) {
        match self.index.get(&labels) {
            Some(&i) => self.done.series[i].samples.push((sample, point)),
            None => {
                self.index.insert(labels.clone(), self.done.series.len());
                self.done.series.push(SeriesSamples {
                    labels,
                    samples: vec![(sample, point)],
                });
            }
        }
    }

    fn point_id(&mut self) -> u32 {
        let id = self.next_point;
        // Ids only tell points of one batch apart; a batch never holds 4 billion points.
        self.next_point = self.next_point.wrapping_add(1) % NO_POINT;
        self.done.points += 1;
        id
    }

    /// Converts one metric; returns the newest timestamp written, if any.
    fn metric(
        &mut self,
        metric: &Metric,
        resource: &ResourceLabels,
        opts: &ConvertOptions,
    ) -> Option<i64> {
        let kind = MetricKind::of(metric)?;
        let mut name = prometheus_name(&metric.name, &metric.unit, kind);
        if !opts.namespace.is_empty() {
            name = format!("{}_{name}", opts.namespace);
        }
        let mut newest: Option<i64> = None;
        let mut seen = |t: i64| newest = Some(newest.map_or(t, |n| n.max(t)));
        match metric.data.as_ref()? {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    self.number(&name, p, resource, opts, &mut seen);
                }
            }
            Data::Sum(s) => {
                if s.aggregation_temporality != AggregationTemporality::Cumulative as i32 {
                    self.drop_points(s.data_points.len(), s.aggregation_temporality);
                } else {
                    for p in &s.data_points {
                        self.number(&name, p, resource, opts, &mut seen);
                    }
                }
            }
            Data::Histogram(h) => {
                if h.aggregation_temporality != AggregationTemporality::Cumulative as i32 {
                    self.drop_points(h.data_points.len(), h.aggregation_temporality);
                } else {
                    for p in &h.data_points {
                        self.histogram(&name, p, resource, opts, &mut seen);
                    }
                }
            }
            Data::ExponentialHistogram(h) => {
                self.done.dropped_unsupported += h.data_points.len() as u64;
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    self.summary(&name, p, resource, opts, &mut seen);
                }
            }
        }
        newest
    }

    /// Converts one cumulative histogram point: a `_bucket` series per bound and `+Inf`, `_sum`
    /// (when set) and `_count`.
    fn histogram(
        &mut self,
        name: &str,
        p: &HistogramDataPoint,
        resource: &ResourceLabels,
        opts: &ConvertOptions,
        seen: &mut impl FnMut(i64),
    ) {
        let fits =
            p.bucket_counts.is_empty() || p.bucket_counts.len() == p.explicit_bounds.len() + 1;
        let Some(ts) = millis(p.time_unix_nano).filter(|_| fits) else {
            self.done.dropped_unsupported += 1;
            return;
        };
        let id = self.point_id();
        let stale = is_stale(p.flags);
        let base = point_labels(&p.attributes, resource, opts);
        let mut cumulative = 0u64;
        for (i, count) in p.bucket_counts.iter().enumerate() {
            // The last bucket is the +Inf one, written below from `count`.
            let Some(bound) = p.explicit_bounds.get(i) else {
                break;
            };
            cumulative = cumulative.saturating_add(*count);
            let labels = with_name(
                &base,
                &format!("{name}_bucket"),
                Some(("le", format_float(*bound))),
            );
            self.push(labels, sample(cumulative as f64, ts, stale), id);
        }
        let labels = with_name(
            &base,
            &format!("{name}_bucket"),
            Some(("le", "+Inf".into())),
        );
        self.push(labels, sample(p.count as f64, ts, stale), id);
        if let Some(sum) = p.sum {
            let labels = with_name(&base, &format!("{name}_sum"), None);
            self.push(labels, sample(sum, ts, stale), id);
        }
        let labels = with_name(&base, &format!("{name}_count"), None);
        self.push(labels, sample(p.count as f64, ts, stale), id);
        seen(ts);
    }

    /// Converts one summary point: a series per quantile, `_sum` and `_count`.
    fn summary(
        &mut self,
        name: &str,
        p: &SummaryDataPoint,
        resource: &ResourceLabels,
        opts: &ConvertOptions,
        seen: &mut impl FnMut(i64),
    ) {
        let Some(ts) = millis(p.time_unix_nano) else {
            self.done.dropped_unsupported += 1;
            return;
        };
        let id = self.point_id();
        let stale = is_stale(p.flags);
        let base = point_labels(&p.attributes, resource, opts);
        for q in &p.quantile_values {
            let labels = with_name(&base, name, Some(("quantile", format_float(q.quantile))));
            self.push(labels, sample(q.value, ts, stale), id);
        }
        let labels = with_name(&base, &format!("{name}_sum"), None);
        self.push(labels, sample(p.sum, ts, stale), id);
        let labels = with_name(&base, &format!("{name}_count"), None);
        self.push(labels, sample(p.count as f64, ts, stale), id);
        seen(ts);
    }

    fn drop_points(&mut self, n: usize, temporality: i32) {
        if temporality == AggregationTemporality::Delta as i32 {
            self.done.dropped_delta += n as u64;
        } else {
            self.done.dropped_unsupported += n as u64;
        }
    }

    fn number(
        &mut self,
        name: &str,
        p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
        resource: &ResourceLabels,
        opts: &ConvertOptions,
        seen: &mut impl FnMut(i64),
    ) {
        let stale = is_stale(p.flags);
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => Some(d),
            Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
            None if stale => Some(0.0),
            None => None,
        };
        let (Some(value), Some(ts)) = (value, millis(p.time_unix_nano)) else {
            self.done.dropped_unsupported += 1;
            return;
        };
        let id = self.point_id();
        let labels = with_name(&point_labels(&p.attributes, resource, opts), name, None);
        self.push(labels, sample(value, ts, stale), id);
        seen(ts);
    }
}

/// The labels a resource contributes to each of its series.
struct ResourceLabels {
    /// Promoted attributes, as (label, value), added when the point lacks the label.
    promoted: Vec<(String, String)>,
    /// `job` and `instance`, which override point attributes of the same name.
    identity: Vec<(String, String)>,
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

impl ResourceLabels {
    fn new(attrs: &[KeyValue], opts: &ConvertOptions) -> Self {
        let text = |key: &str| {
            attrs
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.as_ref())
                .map(value_text)
                .filter(|v| !v.is_empty())
        };
        let mut identity = Vec::new();
        if let Some(name) = text(SERVICE_NAME) {
            let job = match text(SERVICE_NAMESPACE) {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            };
            identity.push(("job".to_string(), job));
        }
        if let Some(instance) = text(SERVICE_INSTANCE_ID) {
            identity.push(("instance".to_string(), instance));
        }
        let promoted_attrs: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| {
                opts.all_resource_attributes || opts.promoted_resource_attributes.contains(&kv.key)
            })
            .collect();
        ResourceLabels {
            promoted: sanitized_labels(promoted_attrs),
            identity,
        }
    }

    /// The `target_info` labels of this resource, or `None` when it has no attribute besides
    /// the service identity.
    fn target_info(&self, attrs: &[KeyValue], opts: &ConvertOptions) -> Option<Vec<Label>> {
        let rest: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| {
                ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&kv.key.as_str())
            })
            .collect();
        let mut labels = sanitized_labels(rest);
        if labels.is_empty() {
            return None;
        }
        for (k, v) in &self.identity {
            set(&mut labels, k, v);
        }
        for (k, v) in &opts.external_labels {
            add_missing(&mut labels, k, v);
        }
        Some(with_name(&labels, TARGET_INFO, None))
    }
}

/// Attribute keys in label form, values as text, colliding keys merged (`;`-joined in key
/// order), empty values left out.
fn sanitized_labels(attrs: Vec<&KeyValue>) -> Vec<(String, String)> {
    let mut named: Vec<(String, &str, String)> = attrs
        .into_iter()
        .filter_map(|kv| {
            let value = value_text(kv.value.as_ref()?.value.as_ref()?);
            (!value.is_empty() && !kv.key.is_empty())
                .then(|| (label_name(&kv.key), kv.key.as_str(), value))
        })
        .collect();
    named.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
    let mut out: Vec<(String, String)> = Vec::with_capacity(named.len());
    for (label, _, value) in named {
        match out.last_mut() {
            Some((last, joined)) if *last == label => {
                joined.push(';');
                joined.push_str(&value);
            }
            _ => out.push((label, value)),
        }
    }
    out
}

/// The labels of a data point, without `__name__`.
fn point_labels(
    attrs: &[KeyValue],
    resource: &ResourceLabels,
    opts: &ConvertOptions,
) -> Vec<(String, String)> {
    let mut labels = sanitized_labels(attrs.iter().collect());
    for (k, v) in &resource.promoted {
        add_missing(&mut labels, k, v);
    }
    for (k, v) in &resource.identity {
        set(&mut labels, k, v);
    }
    for (k, v) in &opts.external_labels {
        add_missing(&mut labels, k, v);
    }
    labels
}

fn add_missing(labels: &mut Vec<(String, String)>, key: &str, value: &str) {
    if !labels.iter().any(|(k, _)| k == key) {
        labels.push((key.to_string(), value.to_string()));
    }
}

fn set(labels: &mut Vec<(String, String)>, key: &str, value: &str) {
    match labels.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value.to_string(),
        None => labels.push((key.to_string(), value.to_string())),
    }
}

/// The final, sorted label set: `base` plus `__name__` and an optional extra label (`le`,
/// `quantile`), both overriding labels of the same name.
fn with_name(base: &[(String, String)], name: &str, extra: Option<(&str, String)>) -> Vec<Label> {
    let mut labels: Vec<Label> = base
        .iter()
        .filter(|(k, _)| k != NAME_LABEL && extra.as_ref().is_none_or(|(e, _)| k != e))
        .map(|(k, v)| Label {
            name: k.clone(),
            value: v.clone(),
        })
        .collect();
    labels.push(Label {
        name: NAME_LABEL.to_string(),
        value: name.to_string(),
    });
    if let Some((k, v)) = extra {
        labels.push(Label {
            name: k.to_string(),
            value: v,
        });
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

fn is_stale(flags: u32) -> bool {
    flags & DataPointFlags::NoRecordedValueMask as u32 != 0
}

fn sample(value: f64, timestamp: i64, stale: bool) -> Sample {
    Sample {
        value: if stale {
            f64::from_bits(STALE_NAN)
        } else {
            value
        },
        timestamp,
    }
}

/// Nanoseconds → milliseconds; `None` for a zero (missing) timestamp.
fn millis(nanos: u64) -> Option<i64> {
    (nanos != 0).then(|| i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
}

/// A bound or quantile as Prometheus writes it: `0.5`, `10`, `+Inf`.
pub fn format_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        v.to_string()
    }
}

/// An attribute value as label text: strings as they are, numbers and booleans as written,
/// bytes in base64, arrays and maps as JSON.
fn value_text(v: &any_value::Value) -> String {
    use any_value::Value as V;
    match v {
        V::StringValue(s) => s.clone(),
        V::BoolValue(b) => b.to_string(),
        V::IntValue(i) => i.to_string(),
        V::DoubleValue(d) => format_float(*d),
        V::BytesValue(b) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        V::ArrayValue(_) | V::KvlistValue(_) => json_value(v).to_string(),
        // An index into a profiles string table: meaningless here, so the label is left out.
        V::StringValueStrindex(_) => String::new(),
    }
}

fn json_value(v: &any_value::Value) -> serde_json::Value {
    use any_value::Value as V;
    match v {
        V::StringValue(s) => serde_json::Value::String(s.clone()),
        V::BoolValue(b) => serde_json::Value::Bool(*b),
        V::IntValue(i) => serde_json::Value::from(*i),
        V::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(format_float(*d))),
        V::BytesValue(_) | V::StringValueStrindex(_) => serde_json::Value::String(value_text(v)),
        V::ArrayValue(a) => serde_json::Value::Array(
            a.values
                .iter()
                .map(|x| x.value.as_ref().map_or(serde_json::Value::Null, json_value))
                .collect(),
        ),
        V::KvlistValue(l) => serde_json::Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value
                            .as_ref()
                            .and_then(|x| x.value.as_ref())
                            .map_or(serde_json::Value::Null, json_value),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::{
        exponential_histogram_data_point::Buckets, summary_data_point::ValueAtQuantile,
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    const T: u64 = 1_700_000_000_123_456_789;
    const T_MS: i64 = 1_700_000_000_123;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn codex_resource() -> Vec<KeyValue> {
        vec![
            kv("service.name", "codex_exec"),
            kv("service.namespace", "ai"),
            kv("service.instance.id", "host-1"),
            kv("team", "payments"),
            kv("host.arch", "x86_64"),
        ]
    }

    fn number(value: i64, attrs: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs,
            start_time_unix_nano: T - 1_000_000_000,
            time_unix_nano: T,
            value: Some(number_data_point::Value::AsInt(value)),
            ..Default::default()
        }
    }

    fn sum(
        name: &str,
        temporality: AggregationTemporality,
        points: Vec<NumberDataPoint>,
    ) -> Metric {
        Metric {
            name: name.into(),
            data: Some(Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(k, v)| Label {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    fn series<'a>(c: &'a Converted, name: &str) -> Vec<&'a SeriesSamples> {
        c.series
            .iter()
            .filter(|s| {
                s.labels
                    .iter()
                    .any(|l| l.name == NAME_LABEL && l.value == name)
            })
            .collect()
    }

    fn label<'a>(s: &'a SeriesSamples, name: &str) -> Option<&'a str> {
        s.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn a_cumulative_counter_gets_its_prometheus_name_and_sorted_labels_from_attributes_resource_and_config(
    ) {
        let req = request(
            codex_resource(),
            vec![sum(
                "codex.tool.call",
                AggregationTemporality::Cumulative,
                vec![number(
                    7,
                    vec![
                        kv("tool.name", "shell"),
                        kv("success", "false"),
                        kv("empty", ""),
                    ],
                )],
            )],
        );
        let opts = ConvertOptions {
            external_labels: vec![
                ("gateway".into(), "eu-1".into()),
                ("success".into(), "x".into()),
            ],
            promoted_resource_attributes: vec!["team".into()],
            target_info: false,
            ..Default::default()
        };
        let c = convert(&req, &opts);
        assert_eq!(
            (c.points, c.dropped_delta, c.dropped_unsupported),
            (1, 0, 0)
        );
        assert_eq!(c.series.len(), 1);
        assert_eq!(
            c.series[0].labels,
            labels(&[
                ("__name__", "codex_tool_call_total"),
                ("gateway", "eu-1"),
                ("instance", "host-1"),
                ("job", "ai/codex_exec"),
                ("success", "false"),
                ("team", "payments"),
                ("tool_name", "shell"),
            ]),
            "attributes win over external labels; empty values are left out"
        );
        assert_eq!(
            c.series[0].samples,
            vec![(
                Sample {
                    value: 7.0,
                    timestamp: T_MS
                },
                0
            )]
        );
        // The namespace prefixes the name.
        let c = convert(
            &req,
            &ConvertOptions {
                namespace: "codex".into(),
                ..Default::default()
            },
        );
        assert_eq!(series(&c, "codex_codex_tool_call_total").len(), 1);
        assert!(
            label(series(&c, "codex_codex_tool_call_total")[0], "team").is_none(),
            "resource attributes are not labels unless promoted"
        );
    }

    #[test]
    fn resource_to_telemetry_copies_every_resource_attribute_and_colliding_keys_are_joined() {
        let req = request(
            vec![kv("service.name", "codex"), kv("k8s.pod", "p1")],
            vec![sum(
                "requests",
                AggregationTemporality::Cumulative,
                vec![number(
                    1,
                    vec![kv("a.b", "x"), kv("a_b", "y"), kv("k8s_pod", "mine")],
                )],
            )],
        );
        let c = convert(
            &req,
            &ConvertOptions {
                all_resource_attributes: true,
                ..Default::default()
            },
        );
        let s = series(&c, "requests_total")[0];
        assert_eq!(label(s, "a_b"), Some("x;y"), "joined in original key order");
        assert_eq!(
            label(s, "k8s_pod"),
            Some("mine"),
            "the point's attribute wins"
        );
        assert_eq!(label(s, "service_name"), Some("codex"));
        assert_eq!(
            label(s, "job"),
            Some("codex"),
            "no namespace: job is the name"
        );
    }

    #[test]
    fn histogram_buckets_become_cumulative_le_series_with_inf_sum_and_count() {
        let metric = Metric {
            name: "http.server.duration".into(),
            unit: "ms".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv("route", "/x")],
                    time_unix_nano: T,
                    count: 10,
                    sum: Some(123.5),
                    bucket_counts: vec![1, 2, 3, 4],
                    explicit_bounds: vec![0.5, 10.0, 250.0],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        };
        let c = convert(&request(vec![], vec![metric]), &ConvertOptions::default());
        let buckets: Vec<(String, f64)> = series(&c, "http_server_duration_milliseconds_bucket")
            .iter()
            .map(|s| {
                (
                    label(s, "le").unwrap_or("-").to_string(),
                    s.samples[0].0.value,
                )
            })
            .collect();
        assert_eq!(
            buckets,
            vec![
                ("0.5".to_string(), 1.0),
                ("10".to_string(), 3.0),
                ("250".to_string(), 6.0),
                ("+Inf".to_string(), 10.0),
            ]
        );
        let one = |name: &str| series(&c, name)[0].samples[0].0.value;
        assert_eq!(one("http_server_duration_milliseconds_sum"), 123.5);
        assert_eq!(one("http_server_duration_milliseconds_count"), 10.0);
        assert_eq!(c.points, 1);
        assert!(c
            .series
            .iter()
            .all(|s| s.samples.iter().all(|(_, id)| *id == 0)));
    }

    #[test]
    fn summaries_get_quantile_series_sum_and_count() {
        let metric = Metric {
            name: "rpc.latency".into(),
            unit: "s".into(),
            data: Some(Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T,
                    count: 4,
                    sum: 2.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 0.25,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 1.5,
                        },
                    ],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let c = convert(&request(vec![], vec![metric]), &ConvertOptions::default());
        let q: Vec<(Option<&str>, f64)> = series(&c, "rpc_latency_seconds")
            .iter()
            .map(|s| (label(s, "quantile"), s.samples[0].0.value))
            .collect();
        assert_eq!(q, vec![(Some("0.5"), 0.25), (Some("0.99"), 1.5)]);
        assert_eq!(
            series(&c, "rpc_latency_seconds_sum")[0].samples[0].0.value,
            2.0
        );
        assert_eq!(
            series(&c, "rpc_latency_seconds_count")[0].samples[0]
                .0
                .value,
            4.0
        );
    }

    #[test]
    fn delta_and_exponential_histogram_points_are_dropped_and_counted() {
        let delta_hist = Metric {
            name: "codex.turn.e2e_duration_ms".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: T,
                    count: 1,
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })),
            ..Default::default()
        };
        let exp = Metric {
            name: "latency".into(),
            data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: T,
                    count: 3,
                    positive: Some(Buckets {
                        offset: 0,
                        bucket_counts: vec![3],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        };
        let req = request(
            codex_resource(),
            vec![
                sum(
                    "codex.tool.call",
                    AggregationTemporality::Delta,
                    vec![number(1, vec![]), number(2, vec![kv("x", "y")])],
                ),
                delta_hist,
                exp,
            ],
        );
        let c = convert(
            &req,
            &ConvertOptions {
                target_info: true,
                ..Default::default()
            },
        );
        assert_eq!(c.dropped_delta, 3);
        assert_eq!(c.dropped_unsupported, 1);
        assert_eq!(c.points, 0);
        assert!(c.series.is_empty(), "no target_info without any sample");
    }

    #[test]
    fn no_recorded_value_becomes_the_stale_marker_and_points_without_a_timestamp_are_dropped() {
        let mut stale = number(0, vec![]);
        stale.value = None;
        stale.flags = DataPointFlags::NoRecordedValueMask as u32;
        let mut untimed = number(5, vec![kv("a", "b")]);
        untimed.time_unix_nano = 0;
        let gauge = Metric {
            name: "queue.depth".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![stale, untimed],
            })),
            ..Default::default()
        };
        let c = convert(&request(vec![], vec![gauge]), &ConvertOptions::default());
        assert_eq!(c.dropped_unsupported, 1);
        let s = series(&c, "queue_depth");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].samples[0].0.value.to_bits(), STALE_NAN);
        assert_eq!(s[0].samples[0].0.timestamp, T_MS);
    }

    #[test]
    fn target_info_carries_resource_attributes_with_job_and_instance() {
        let req = request(
            codex_resource(),
            vec![sum(
                "codex.tool.call",
                AggregationTemporality::Cumulative,
                vec![number(1, vec![])],
            )],
        );
        let opts = ConvertOptions {
            target_info: true,
            external_labels: vec![("gateway".into(), "eu-1".into())],
            ..Default::default()
        };
        let c = convert(&req, &opts);
        let info = series(&c, TARGET_INFO);
        assert_eq!(info.len(), 1);
        assert_eq!(
            info[0].labels,
            labels(&[
                ("__name__", "target_info"),
                ("gateway", "eu-1"),
                ("host_arch", "x86_64"),
                ("instance", "host-1"),
                ("job", "ai/codex_exec"),
                ("team", "payments"),
            ])
        );
        assert_eq!(
            info[0].samples,
            vec![(
                Sample {
                    value: 1.0,
                    timestamp: T_MS
                },
                NO_POINT
            )]
        );
        // Only the service identity: no target_info. Disabled: none either.
        let only_service = request(
            vec![kv("service.name", "codex")],
            vec![sum(
                "c",
                AggregationTemporality::Cumulative,
                vec![number(1, vec![])],
            )],
        );
        assert!(series(&convert(&only_service, &opts), TARGET_INFO).is_empty());
        let off = ConvertOptions::default();
        assert!(series(&convert(&req, &off), TARGET_INFO).is_empty());
    }

    #[test]
    fn chunks_respect_the_sample_bound_keep_series_in_time_order_and_know_their_points() {
        let mut points = Vec::new();
        for i in 0..5u64 {
            let mut p = number(i as i64, vec![]);
            // Out of order on purpose: the conversion sorts by time.
            p.time_unix_nano = T + (4 - i) * 1_000_000_000;
            points.push(p);
        }
        let req = request(
            vec![],
            vec![
                sum("a", AggregationTemporality::Cumulative, points),
                sum(
                    "b",
                    AggregationTemporality::Cumulative,
                    vec![number(9, vec![])],
                ),
            ],
        );
        let c = convert(&req, &ConvertOptions::default());
        assert_eq!(c.sample_count(), 6);
        let chunks = chunks(c, 4);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks.iter().map(|c| c.samples).collect::<Vec<_>>(),
            vec![4, 2]
        );
        let a: Vec<i64> = chunks
            .iter()
            .flat_map(|c| &c.request.timeseries)
            .filter(|s| s.labels[0].value == "a_total")
            .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
            .collect();
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(a, sorted, "older samples first, across requests");
        assert_eq!(a.len(), 5);
        assert_eq!(chunks[0].points.len(), 4);
        assert_eq!(
            chunks[1].points.len(),
            2,
            "the last `a` point and the `b` point"
        );
        // A bound of 0 is treated as 1.
        let one = super::chunks(convert(&req, &ConvertOptions::default()), 0);
        assert_eq!(one.len(), 6);
    }

    #[test]
    fn attribute_values_become_label_text() {
        use opentelemetry_proto::tonic::common::v1::ArrayValue;
        let v = |x| AnyValue { value: Some(x) };
        assert_eq!(value_text(&any_value::Value::IntValue(-3)), "-3");
        assert_eq!(value_text(&any_value::Value::BoolValue(true)), "true");
        assert_eq!(value_text(&any_value::Value::DoubleValue(0.25)), "0.25");
        assert_eq!(
            value_text(&any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    v(any_value::Value::StringValue("a".into())),
                    v(any_value::Value::IntValue(1))
                ]
            })),
            r#"["a",1]"#
        );
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1e6), "1000000");
    }
}
