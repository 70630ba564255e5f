//! `receivers: otlp: limits:`: a pass over every decoded request, before the processors, that
//! keeps the first `max_attributes_per_item` attributes of each list, truncates string values
//! longer than `max_string_length` at a character boundary, and replaces array / key-value-list
//! values nested deeper than `max_nesting_depth` by the string `"[too deep]"`. Everything it
//! changes is counted. The walk over nested values uses an explicit stack (no recursion), so a
//! hostile request cannot overflow the thread's stack; prost's decoder refuses nesting beyond
//! its own recursion limit (100) before this runs.

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, Exemplar};
use opentelemetry_proto::tonic::resource::v1::Resource;
use processors::logs_view::{LogsView, ViewLimits};
use processors::units::{self, ByteSize};
use serde::Deserialize;

/// `receivers: otlp: limits:`. What exceeds a value limit is dropped, truncated or replaced
/// (never refused) and counted in `gateway_receiver_limited_values_total{receiver}`; a request
/// over a decoding limit (`max_items_per_request`, `max_decoded_size`) is refused before it is
/// decoded (413 / RESOURCE_EXHAUSTED) and counted in `gateway_receiver_refused_requests_total`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Spans, data points or log records one request may hold; a protobuf request with more is
    /// refused before it is decoded (the count comes from a scan of its bytes), a JSON one
    /// after. Default 100000.
    #[serde(default = "default_max_items", deserialize_with = "units::uint")]
    pub max_items_per_request: u64,
    /// Largest estimated decoded size of one request (the structs prost would allocate, judged
    /// from a scan of the bytes, plus its strings); bigger requests are refused before they are
    /// decoded. A memory limiter also reserves this estimate for the request while it is
    /// processed. Default `128MiB`.
    #[serde(default = "default_max_decoded")]
    pub max_decoded_size: ByteSize,
    /// Requests decoded and processed at once by this receiver; more wait for a turn up to
    /// `decode_wait`, then get 503 / UNAVAILABLE. Default 4.
    #[serde(default = "default_max_decodes", deserialize_with = "units::uint")]
    pub max_concurrent_decodes: usize,
    /// How long a request may wait for a decoding turn. Default `2s`.
    #[serde(default = "default_decode_wait")]
    pub decode_wait: processors::units::ConfigDuration,
    /// Attributes kept per attribute list (resource, scope, span, event, link, log record, data
    /// point, exemplar); the first N are kept, the rest dropped. Default 1000.
    #[serde(default = "default_max_attributes", deserialize_with = "units::uint")]
    pub max_attributes_per_item: usize,
    /// Longest string value (attribute values, log bodies, nested values), in bytes; longer
    /// strings are truncated at a UTF-8 character boundary. Default `64KiB`.
    #[serde(default = "default_max_string")]
    pub max_string_length: ByteSize,
    /// Deepest nesting of array / key-value-list values (a scalar attribute value has depth 0,
    /// an array of scalars depth 1). A nested value deeper than this is replaced by the string
    /// `"[too deep]"`. Default 32.
    #[serde(default = "default_max_depth", deserialize_with = "units::uint")]
    pub max_nesting_depth: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_items_per_request: default_max_items(),
            max_decoded_size: default_max_decoded(),
            max_concurrent_decodes: default_max_decodes(),
            decode_wait: default_decode_wait(),
            max_attributes_per_item: default_max_attributes(),
            max_string_length: default_max_string(),
            max_nesting_depth: default_max_depth(),
        }
    }
}

fn default_max_attributes() -> usize {
    1000
}
fn default_max_items() -> u64 {
    100_000
}
fn default_max_decoded() -> ByteSize {
    ByteSize::mib(128)
}
fn default_max_decodes() -> usize {
    4
}
fn default_decode_wait() -> processors::units::ConfigDuration {
    processors::units::ConfigDuration::secs(2)
}
fn default_max_string() -> ByteSize {
    ByteSize(64 * 1024)
}
fn default_max_depth() -> usize {
    32
}

/// The string that replaces a value nested deeper than `max_nesting_depth`.
pub const TOO_DEEP: &str = "[too deep]";

/// The limits of one receiver, ready to apply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    max_attributes: usize,
    max_string: usize,
    max_depth: usize,
}

impl From<&LimitsConfig> for Limits {
    fn from(c: &LimitsConfig) -> Self {
        Limits {
            max_attributes: c.max_attributes_per_item,
            max_string: c.max_string_length.as_usize(),
            max_depth: c.max_nesting_depth,
        }
    }
}

/// A request type the limits apply to.
pub trait Limit {
    /// Applies `limits` in place; returns how many attributes / values were dropped, truncated
    /// or replaced.
    fn limit(&mut self, limits: &Limits) -> u64;
}

impl Limits {
    /// The same limits for [`crate::codec::scan`], which tells whether applying them would
    /// change a request.
    pub fn scan_limits(&self) -> crate::codec::scan::ScanLimits {
        crate::codec::scan::ScanLimits {
            max_attributes: self.max_attributes,
            max_string: self.max_string,
            max_depth: self.max_depth,
        }
    }

    /// Limits one attribute list; returns the number of changes and adds the dropped
    /// attributes to `dropped` (the item's `dropped_attributes_count`) when given.
    fn attrs(&self, kvs: &mut Vec<KeyValue>, dropped: Option<&mut u32>) -> u64 {
        let mut n = 0u64;
        if kvs.len() > self.max_attributes {
            let over = kvs.len() - self.max_attributes;
            kvs.truncate(self.max_attributes);
            if let Some(d) = dropped {
                *d = d.saturating_add(u32::try_from(over).unwrap_or(u32::MAX));
            }
            n += over as u64;
        }
        for kv in kvs.iter_mut() {
            if let Some(v) = kv.value.as_mut() {
                n += self.value(v);
            }
        }
        n
    }

    /// Limits one value and everything nested in it, iteratively.
    fn value(&self, root: &mut AnyValue) -> u64 {
        let mut n = 0u64;
        // (value, number of arrays / kvlists enclosing it)
        let mut stack: Vec<(&mut AnyValue, usize)> = vec![(root, 0)];
        while let Some((v, depth)) = stack.pop() {
            let is_container = matches!(
                v.value,
                Some(any_value::Value::ArrayValue(_)) | Some(any_value::Value::KvlistValue(_))
            );
            if is_container && depth >= self.max_depth {
                v.value = Some(any_value::Value::StringValue(TOO_DEEP.to_string()));
                n += 1;
                continue;
            }
            match v.value.as_mut() {
                Some(any_value::Value::StringValue(s)) if s.len() > self.max_string => {
                    let mut end = self.max_string;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s.truncate(end);
                    n += 1;
                }
                Some(any_value::Value::ArrayValue(a)) => {
                    stack.extend(a.values.iter_mut().map(|c| (c, depth + 1)));
                }
                Some(any_value::Value::KvlistValue(l)) => {
                    stack.extend(
                        l.values
                            .iter_mut()
                            .filter_map(|kv| kv.value.as_mut())
                            .map(|c| (c, depth + 1)),
                    );
                }
                _ => {}
            }
        }
        n
    }

    /// What a request must stay within to be read as a view
    /// ([`processors::logs_view::LogsView::parse`]): its log records within these limits,
    /// and at most `max_items` of them.
    pub fn view_limits(&self, max_items: u64) -> ViewLimits {
        ViewLimits {
            max_attributes: self.max_attributes,
            max_string: self.max_string,
            max_depth: self.max_depth,
            max_items,
        }
    }

    fn resource(&self, r: Option<&mut Resource>) -> u64 {
        r.map_or(0, |r| {
            self.attrs(&mut r.attributes, Some(&mut r.dropped_attributes_count))
        })
    }

    fn scope(&self, s: Option<&mut InstrumentationScope>) -> u64 {
        s.map_or(0, |s| {
            self.attrs(&mut s.attributes, Some(&mut s.dropped_attributes_count))
        })
    }

    fn exemplars(&self, ex: &mut [Exemplar]) -> u64 {
        ex.iter_mut()
            .map(|e| self.attrs(&mut e.filtered_attributes, None))
            .sum()
    }
}

impl Limit for ExportTraceServiceRequest {
    fn limit(&mut self, l: &Limits) -> u64 {
        let mut n = 0;
        for rs in &mut self.resource_spans {
            n += l.resource(rs.resource.as_mut());
            for ss in &mut rs.scope_spans {
                n += l.scope(ss.scope.as_mut());
                for span in &mut ss.spans {
                    n += l.attrs(
                        &mut span.attributes,
                        Some(&mut span.dropped_attributes_count),
                    );
                    for e in &mut span.events {
                        n += l.attrs(&mut e.attributes, Some(&mut e.dropped_attributes_count));
                    }
                    for k in &mut span.links {
                        n += l.attrs(&mut k.attributes, Some(&mut k.dropped_attributes_count));
                    }
                }
            }
        }
        n
    }
}

impl Limit for ExportLogsServiceRequest {
    fn limit(&mut self, l: &Limits) -> u64 {
        let mut n = 0;
        for rl in &mut self.resource_logs {
            n += l.resource(rl.resource.as_mut());
            for sl in &mut rl.scope_logs {
                n += l.scope(sl.scope.as_mut());
                for r in &mut sl.log_records {
                    n += l.attrs(&mut r.attributes, Some(&mut r.dropped_attributes_count));
                    if let Some(b) = r.body.as_mut() {
                        n += l.value(b);
                    }
                }
            }
        }
        n
    }
}

/// A view's records are within the limits ([`Limits::view_limits`]); its resources and scopes,
/// decoded, are limited here as in a decoded request.
impl Limit for LogsView<'_> {
    fn limit(&mut self, l: &Limits) -> u64 {
        let mut n = 0;
        for rl in &mut self.resource_logs {
            n += l.resource(rl.resource.as_mut());
            for sl in &mut rl.scope_logs {
                n += l.scope(sl.scope.as_mut());
            }
        }
        n
    }
}

impl Limit for ExportMetricsServiceRequest {
    fn limit(&mut self, l: &Limits) -> u64 {
        let mut n = 0;
        for rm in &mut self.resource_metrics {
            n += l.resource(rm.resource.as_mut());
            for sm in &mut rm.scope_metrics {
                n += l.scope(sm.scope.as_mut());
                for m in &mut sm.metrics {
                    n += l.attrs(&mut m.metadata, None);
                    match m.data.as_mut() {
                        Some(metric::Data::Gauge(g)) => {
                            for p in &mut g.data_points {
                                n += l.attrs(&mut p.attributes, None)
                                    + l.exemplars(&mut p.exemplars);
                            }
                        }
                        Some(metric::Data::Sum(s)) => {
                            for p in &mut s.data_points {
                                n += l.attrs(&mut p.attributes, None)
                                    + l.exemplars(&mut p.exemplars);
                            }
                        }
                        Some(metric::Data::Histogram(h)) => {
                            for p in &mut h.data_points {
                                n += l.attrs(&mut p.attributes, None)
                                    + l.exemplars(&mut p.exemplars);
                            }
                        }
                        Some(metric::Data::ExponentialHistogram(h)) => {
                            for p in &mut h.data_points {
                                n += l.attrs(&mut p.attributes, None)
                                    + l.exemplars(&mut p.exemplars);
                            }
                        }
                        Some(metric::Data::Summary(s)) => {
                            for p in &mut s.data_points {
                                n += l.attrs(&mut p.attributes, None);
                            }
                        }
                        None => {}
                    }
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;

    fn s(text: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(text.into())),
        }
    }

    fn nested(depth: usize) -> AnyValue {
        let mut v = s("leaf");
        for _ in 0..depth {
            v = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        v
    }

    fn depth_of(mut v: &AnyValue) -> (usize, String) {
        let mut d = 0;
        loop {
            match &v.value {
                Some(any_value::Value::ArrayValue(a)) => {
                    v = &a.values[0];
                    d += 1;
                }
                Some(any_value::Value::StringValue(s)) => return (d, s.clone()),
                other => panic!("{other:?}"),
            }
        }
    }

    fn limits(attrs: usize, string: usize, depth: usize) -> Limits {
        Limits {
            max_attributes: attrs,
            max_string: string,
            max_depth: depth,
        }
    }

    #[test]
    fn strings_are_truncated_at_a_char_boundary() {
        let mut v = s("aé€"); // 1 + 2 + 3 bytes
        assert_eq!(limits(10, 4, 5).value(&mut v), 1);
        assert_eq!(v, s("aé"));
        let mut v = s("short");
        assert_eq!(limits(10, 5, 5).value(&mut v), 0);
    }

    #[test]
    fn deep_values_are_replaced_and_shallow_ones_kept() {
        let mut v = nested(40);
        assert_eq!(limits(10, 100, 32).value(&mut v), 1);
        assert_eq!(depth_of(&v), (32, TOO_DEEP.to_string()));
        let mut v = nested(32);
        assert_eq!(limits(10, 100, 32).value(&mut v), 0);
        assert_eq!(depth_of(&v), (32, "leaf".to_string()));
        // As deep as prost's decoder lets through.
        let mut v = nested(95);
        assert_eq!(limits(10, 100, 0).value(&mut v), 1);
        assert_eq!(depth_of(&v), (0, TOO_DEEP.to_string()));
    }

    #[test]
    fn attribute_lists_keep_the_first_n() {
        let mut kvs: Vec<KeyValue> = (0..10)
            .map(|i| KeyValue {
                key: format!("k{i}"),
                value: Some(s("v")),
                ..Default::default()
            })
            .collect();
        let mut dropped = 1;
        assert_eq!(limits(4, 100, 5).attrs(&mut kvs, Some(&mut dropped)), 6);
        assert_eq!(kvs.len(), 4);
        assert_eq!(kvs[3].key, "k3");
        assert_eq!(dropped, 7);
    }
}
