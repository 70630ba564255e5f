//! prost → canonical OTLP/JSON: a small writer of JSON values and objects, one encoder per
//! message, and the public request and response encoders.

use super::parse::*;
use std::io::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, EntityRef, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, Exemplar, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

pub(super) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub(super) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub(super) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A double as a JSON value: shortest round-trip digits, `"NaN"` / `"Infinity"` / `"-Infinity"`.
pub(super) fn push_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        let a = v.abs();
        // Writing into a Vec cannot fail.
        let _ = if a != 0.0 && !(1e-6..1e16).contains(&a) {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

/// A JSON string literal with the escapes JSON requires.
pub(super) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[usize::from(c >> 4)]);
            out.push(HEX_DIGITS[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 0xf)]);
    }
    out.push(b'"');
}

/// Writes one JSON object; each method writes its member only when the value is not the proto3
/// default (except `member`, which always writes).
pub(super) struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    pub(super) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    pub(super) fn close(self) {
        self.out.push(b'}');
    }

    /// Writes `,"name":` and hands back the buffer for the value.
    pub(super) fn member(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub(super) fn str(&mut self, name: &str, v: &str) {
        if !v.is_empty() {
            push_str(self.member(name), v);
        }
    }

    pub(super) fn bool(&mut self, name: &str, v: bool) {
        if v {
            self.member(name).extend_from_slice(b"true");
        }
    }

    pub(super) fn u32(&mut self, name: &str, v: u32) {
        if v != 0 {
            push_u64(self.member(name), u64::from(v));
        }
    }

    pub(super) fn i32(&mut self, name: &str, v: i32) {
        if v != 0 {
            push_i64(self.member(name), i64::from(v));
        }
    }

    /// 64-bit unsigned integer, written as a string.
    pub(super) fn u64(&mut self, name: &str, v: u64) {
        if v != 0 {
            let out = self.member(name);
            out.push(b'"');
            push_u64(out, v);
            out.push(b'"');
        }
    }

    /// 64-bit signed integer, written as a string.
    pub(super) fn i64(&mut self, name: &str, v: i64) {
        if v != 0 {
            let out = self.member(name);
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }

    pub(super) fn f64(&mut self, name: &str, v: f64) {
        if v != 0.0 {
            push_f64(self.member(name), v);
        }
    }

    pub(super) fn opt_f64(&mut self, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            push_f64(self.member(name), v);
        }
    }

    pub(super) fn id(&mut self, name: &str, v: &[u8]) {
        if !v.is_empty() {
            push_hex(self.member(name), v);
        }
    }

    pub(super) fn msg<T>(
        &mut self,
        name: &str,
        v: Option<&T>,
        write: impl FnOnce(&mut Vec<u8>, &T),
    ) {
        if let Some(v) = v {
            write(self.member(name), v);
        }
    }

    pub(super) fn list<T>(
        &mut self,
        name: &str,
        items: &[T],
        mut write: impl FnMut(&mut Vec<u8>, &T),
    ) {
        if items.is_empty() {
            return;
        }
        let out = self.member(name);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(out, item);
        }
        out.push(b']');
    }

    pub(super) fn u64_list(&mut self, name: &str, items: &[u64]) {
        self.list(name, items, |out, &v| {
            out.push(b'"');
            push_u64(out, v);
            out.push(b'"');
        });
    }

    pub(super) fn f64_list(&mut self, name: &str, items: &[f64]) {
        self.list(name, items, |out, &v| push_f64(out, v));
    }

    pub(super) fn str_list(&mut self, name: &str, items: &[String]) {
        self.list(name, items, |out, v| push_str(out, v));
    }

    pub(super) fn attributes(&mut self, name: &str, items: &[KeyValue]) {
        self.list(name, items, |out, kv| enc_key_value(out, kv, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// Message encoders
// ---------------------------------------------------------------------------------------------

pub(super) fn enc_key_value(out: &mut Vec<u8>, m: &KeyValue, depth: u32) {
    let mut o = Obj::open(out);
    o.str("key", &m.key);
    o.msg("value", m.value.as_ref(), |out, v| {
        enc_any_value(out, v, depth)
    });
    o.i32("keyStrindex", m.key_strindex);
    o.close();
}

pub(super) fn enc_any_value(out: &mut Vec<u8>, m: &AnyValue, depth: u32) {
    use any_value::Value;
    let mut o = Obj::open(out);
    match &m.value {
        None => {}
        Some(Value::StringValue(s)) => push_str(o.member("stringValue"), s),
        Some(Value::BoolValue(b)) => {
            o.member("boolValue")
                .extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Some(Value::IntValue(v)) => {
            let out = o.member("intValue");
            out.push(b'"');
            push_i64(out, *v);
            out.push(b'"');
        }
        Some(Value::DoubleValue(v)) => push_f64(o.member("doubleValue"), *v),
        Some(Value::ArrayValue(a)) if depth < MAX_ANY_VALUE_DEPTH => {
            let mut inner = Obj::open(o.member("arrayValue"));
            inner.list("values", &a.values, |out, v| {
                enc_any_value(out, v, depth + 1)
            });
            inner.close();
        }
        Some(Value::KvlistValue(l)) if depth < MAX_ANY_VALUE_DEPTH => {
            let mut inner = Obj::open(o.member("kvlistValue"));
            inner.list("values", &l.values, |out, kv| {
                enc_key_value(out, kv, depth + 1)
            });
            inner.close();
        }
        // Deeper than the decoder accepts (only possible for values built in code): written as
        // an empty AnyValue so that the output stays decodable.
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => {}
        Some(Value::BytesValue(b)) => {
            let out = o.member("bytesValue");
            out.push(b'"');
            out.extend_from_slice(STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        Some(Value::StringValueStrindex(v)) => {
            push_i64(o.member("stringValueStrindex"), i64::from(*v));
        }
    }
    o.close();
}

pub(super) fn enc_entity_ref(out: &mut Vec<u8>, m: &EntityRef) {
    let mut o = Obj::open(out);
    o.str("schemaUrl", &m.schema_url);
    o.str("type", &m.r#type);
    o.str_list("idKeys", &m.id_keys);
    o.str_list("descriptionKeys", &m.description_keys);
    o.close();
}

pub(super) fn enc_resource(out: &mut Vec<u8>, m: &Resource) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.list("entityRefs", &m.entity_refs, enc_entity_ref);
    o.close();
}

pub(super) fn enc_scope(out: &mut Vec<u8>, m: &InstrumentationScope) {
    let mut o = Obj::open(out);
    o.str("name", &m.name);
    o.str("version", &m.version);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.close();
}

// ----- traces ----------------------------------------------------------------------------------

pub(super) fn enc_resource_spans(out: &mut Vec<u8>, m: &ResourceSpans) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeSpans", &m.scope_spans, enc_scope_spans);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_scope_spans(out: &mut Vec<u8>, m: &ScopeSpans) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("spans", &m.spans, enc_span);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_span(out: &mut Vec<u8>, m: &Span) {
    let mut o = Obj::open(out);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("traceState", &m.trace_state);
    o.id("parentSpanId", &m.parent_span_id);
    o.u32("flags", m.flags);
    o.str("name", &m.name);
    o.i32("kind", m.kind);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("endTimeUnixNano", m.end_time_unix_nano);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.list("events", &m.events, enc_event);
    o.u32("droppedEventsCount", m.dropped_events_count);
    o.list("links", &m.links, enc_link);
    o.u32("droppedLinksCount", m.dropped_links_count);
    o.msg("status", m.status.as_ref(), enc_status);
    o.close();
}

pub(super) fn enc_event(out: &mut Vec<u8>, m: &Event) {
    let mut o = Obj::open(out);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.str("name", &m.name);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.close();
}

pub(super) fn enc_link(out: &mut Vec<u8>, m: &Link) {
    let mut o = Obj::open(out);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("traceState", &m.trace_state);
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.u32("flags", m.flags);
    o.close();
}

pub(super) fn enc_status(out: &mut Vec<u8>, m: &Status) {
    let mut o = Obj::open(out);
    o.str("message", &m.message);
    o.i32("code", m.code);
    o.close();
}

// ----- metrics ---------------------------------------------------------------------------------

pub(super) fn enc_resource_metrics(out: &mut Vec<u8>, m: &ResourceMetrics) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeMetrics", &m.scope_metrics, enc_scope_metrics);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_scope_metrics(out: &mut Vec<u8>, m: &ScopeMetrics) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("metrics", &m.metrics, enc_metric);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_metric(out: &mut Vec<u8>, m: &Metric) {
    use metric::Data;
    let mut o = Obj::open(out);
    o.str("name", &m.name);
    o.str("description", &m.description);
    o.str("unit", &m.unit);
    match &m.data {
        None => {}
        Some(Data::Gauge(g)) => {
            let mut d = Obj::open(o.member("gauge"));
            d.list("dataPoints", &g.data_points, enc_number_data_point);
            d.close();
        }
        Some(Data::Sum(s)) => {
            let mut d = Obj::open(o.member("sum"));
            d.list("dataPoints", &s.data_points, enc_number_data_point);
            d.i32("aggregationTemporality", s.aggregation_temporality);
            d.bool("isMonotonic", s.is_monotonic);
            d.close();
        }
        Some(Data::Histogram(h)) => {
            let mut d = Obj::open(o.member("histogram"));
            d.list("dataPoints", &h.data_points, enc_histogram_data_point);
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.close();
        }
        Some(Data::ExponentialHistogram(h)) => {
            let mut d = Obj::open(o.member("exponentialHistogram"));
            d.list(
                "dataPoints",
                &h.data_points,
                enc_exponential_histogram_data_point,
            );
            d.i32("aggregationTemporality", h.aggregation_temporality);
            d.close();
        }
        Some(Data::Summary(s)) => {
            let mut d = Obj::open(o.member("summary"));
            d.list("dataPoints", &s.data_points, enc_summary_data_point);
            d.close();
        }
    }
    o.attributes("metadata", &m.metadata);
    o.close();
}

pub(super) fn enc_number_data_point(out: &mut Vec<u8>, m: &NumberDataPoint) {
    use number_data_point::Value;
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    match m.value {
        None => {}
        Some(Value::AsDouble(v)) => push_f64(o.member("asDouble"), v),
        Some(Value::AsInt(v)) => {
            let out = o.member("asInt");
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.u32("flags", m.flags);
    o.close();
}

pub(super) fn enc_histogram_data_point(out: &mut Vec<u8>, m: &HistogramDataPoint) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.opt_f64("sum", m.sum);
    o.u64_list("bucketCounts", &m.bucket_counts);
    o.f64_list("explicitBounds", &m.explicit_bounds);
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.u32("flags", m.flags);
    o.opt_f64("min", m.min);
    o.opt_f64("max", m.max);
    o.close();
}

pub(super) fn enc_exponential_histogram_data_point(
    out: &mut Vec<u8>,
    m: &ExponentialHistogramDataPoint,
) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.opt_f64("sum", m.sum);
    o.i32("scale", m.scale);
    o.u64("zeroCount", m.zero_count);
    o.msg("positive", m.positive.as_ref(), enc_buckets);
    o.msg("negative", m.negative.as_ref(), enc_buckets);
    o.u32("flags", m.flags);
    o.list("exemplars", &m.exemplars, enc_exemplar);
    o.opt_f64("min", m.min);
    o.opt_f64("max", m.max);
    o.f64("zeroThreshold", m.zero_threshold);
    o.close();
}

pub(super) fn enc_buckets(out: &mut Vec<u8>, m: &Buckets) {
    let mut o = Obj::open(out);
    o.i32("offset", m.offset);
    o.u64_list("bucketCounts", &m.bucket_counts);
    o.close();
}

pub(super) fn enc_summary_data_point(out: &mut Vec<u8>, m: &SummaryDataPoint) {
    let mut o = Obj::open(out);
    o.attributes("attributes", &m.attributes);
    o.u64("startTimeUnixNano", m.start_time_unix_nano);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("count", m.count);
    o.f64("sum", m.sum);
    o.list("quantileValues", &m.quantile_values, |out, q| {
        let mut o = Obj::open(out);
        o.f64("quantile", q.quantile);
        o.f64("value", q.value);
        o.close();
    });
    o.u32("flags", m.flags);
    o.close();
}

pub(super) fn enc_exemplar(out: &mut Vec<u8>, m: &Exemplar) {
    use exemplar::Value;
    let mut o = Obj::open(out);
    o.attributes("filteredAttributes", &m.filtered_attributes);
    o.u64("timeUnixNano", m.time_unix_nano);
    match m.value {
        None => {}
        Some(Value::AsDouble(v)) => push_f64(o.member("asDouble"), v),
        Some(Value::AsInt(v)) => {
            let out = o.member("asInt");
            out.push(b'"');
            push_i64(out, v);
            out.push(b'"');
        }
    }
    o.id("spanId", &m.span_id);
    o.id("traceId", &m.trace_id);
    o.close();
}

// ----- logs ------------------------------------------------------------------------------------

pub(super) fn enc_resource_logs(out: &mut Vec<u8>, m: &ResourceLogs) {
    let mut o = Obj::open(out);
    o.msg("resource", m.resource.as_ref(), enc_resource);
    o.list("scopeLogs", &m.scope_logs, enc_scope_logs);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_scope_logs(out: &mut Vec<u8>, m: &ScopeLogs) {
    let mut o = Obj::open(out);
    o.msg("scope", m.scope.as_ref(), enc_scope);
    o.list("logRecords", &m.log_records, enc_log_record);
    o.str("schemaUrl", &m.schema_url);
    o.close();
}

pub(super) fn enc_log_record(out: &mut Vec<u8>, m: &LogRecord) {
    let mut o = Obj::open(out);
    o.u64("timeUnixNano", m.time_unix_nano);
    o.u64("observedTimeUnixNano", m.observed_time_unix_nano);
    o.i32("severityNumber", m.severity_number);
    o.str("severityText", &m.severity_text);
    o.msg("body", m.body.as_ref(), |out, v| enc_any_value(out, v, 0));
    o.attributes("attributes", &m.attributes);
    o.u32("droppedAttributesCount", m.dropped_attributes_count);
    o.u32("flags", m.flags);
    o.id("traceId", &m.trace_id);
    o.id("spanId", &m.span_id);
    o.str("eventName", &m.event_name);
    o.close();
}

pub(super) fn enc_partial_success(
    out: &mut Vec<u8>,
    rejected_name: &str,
    rejected: i64,
    message: &str,
) {
    let mut o = Obj::open(out);
    let mut p = Obj::open(o.member("partialSuccess"));
    p.i64(rejected_name, rejected);
    p.str("errorMessage", message);
    p.close();
    o.close();
}

// ---------------------------------------------------------------------------------------------
// Public encoders
// ---------------------------------------------------------------------------------------------

/// Encodes an `ExportTraceServiceRequest` as canonical OTLP/JSON.
pub fn encode_traces(req: &ExportTraceServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list("resourceSpans", &req.resource_spans, enc_resource_spans);
    o.close();
    out
}

/// Encodes an `ExportMetricsServiceRequest` as canonical OTLP/JSON.
pub fn encode_metrics(req: &ExportMetricsServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list(
        "resourceMetrics",
        &req.resource_metrics,
        enc_resource_metrics,
    );
    o.close();
    out
}

/// Encodes an `ExportLogsServiceRequest` as canonical OTLP/JSON.
pub fn encode_logs(req: &ExportLogsServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut o = Obj::open(&mut out);
    o.list("resourceLogs", &req.resource_logs, enc_resource_logs);
    o.close();
    out
}

/// Encodes an `ExportTraceServiceResponse` (`{}` on full success).
pub fn encode_trace_response(r: &ExportTraceServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedSpans",
                p.rejected_spans,
                &p.error_message,
            );
            out
        }
    }
}

/// Encodes an `ExportMetricsServiceResponse` (`{}` on full success).
pub fn encode_metrics_response(r: &ExportMetricsServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedDataPoints",
                p.rejected_data_points,
                &p.error_message,
            );
            out
        }
    }
}

/// Encodes an `ExportLogsServiceResponse` (`{}` on full success).
pub fn encode_logs_response(r: &ExportLogsServiceResponse) -> Vec<u8> {
    match &r.partial_success {
        None => b"{}".to_vec(),
        Some(p) => {
            let mut out = Vec::with_capacity(64 + p.error_message.len());
            enc_partial_success(
                &mut out,
                "rejectedLogRecords",
                p.rejected_log_records,
                &p.error_message,
            );
            out
        }
    }
}
