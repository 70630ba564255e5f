//! OTLP/JSON → prost: one decoder per message, driven by the pull parser in a single pass,
//! and the public request and response decoders.

use super::error::*;
use super::parse::*;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

// ---------------------------------------------------------------------------------------------
// Message decoders
// ---------------------------------------------------------------------------------------------

pub(super) fn attributes(p: &mut Parser<'_>) -> PResult<Vec<KeyValue>> {
    p.array(|p| key_value(p, 0))
}

pub(super) fn key_value(p: &mut Parser<'_>, depth: u32) -> PResult<KeyValue> {
    let mut m = KeyValue::default();
    p.object(|p, k| {
        match k {
            "key" => m.key = p.string_owned()?,
            "value" => m.value = Some(any_value(p, depth)?),
            "keyStrindex" | "key_strindex" => m.key_strindex = p.i32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn too_deep(p: &Parser<'_>) -> PErr {
    PErr::new(
        JsonErrorKind::TooDeep,
        p.pos,
        format!("arrayValue/kvlistValue nested more than {MAX_ANY_VALUE_DEPTH} levels"),
    )
}

pub(super) fn any_value(p: &mut Parser<'_>, depth: u32) -> PResult<AnyValue> {
    use any_value::Value;
    let mut m = AnyValue::default();
    p.object(|p, k| {
        match k {
            "stringValue" | "string_value" => m.value = Some(Value::StringValue(p.string_owned()?)),
            "boolValue" | "bool_value" => m.value = Some(Value::BoolValue(p.boolean()?)),
            "intValue" | "int_value" => m.value = Some(Value::IntValue(p.i64()?)),
            "doubleValue" | "double_value" => m.value = Some(Value::DoubleValue(p.f64()?)),
            "arrayValue" | "array_value" => {
                if depth >= MAX_ANY_VALUE_DEPTH {
                    return Err(too_deep(p));
                }
                m.value = Some(Value::ArrayValue(array_value(p, depth + 1)?));
            }
            "kvlistValue" | "kvlist_value" => {
                if depth >= MAX_ANY_VALUE_DEPTH {
                    return Err(too_deep(p));
                }
                m.value = Some(Value::KvlistValue(kvlist_value(p, depth + 1)?));
            }
            "bytesValue" | "bytes_value" => m.value = Some(Value::BytesValue(p.base64()?)),
            "stringValueStrindex" | "string_value_strindex" => {
                m.value = Some(Value::StringValueStrindex(p.i32()?));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn array_value(p: &mut Parser<'_>, depth: u32) -> PResult<ArrayValue> {
    let mut m = ArrayValue::default();
    p.object(|p, k| {
        match k {
            "values" => m.values = p.array(|p| any_value(p, depth))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn kvlist_value(p: &mut Parser<'_>, depth: u32) -> PResult<KeyValueList> {
    let mut m = KeyValueList::default();
    p.object(|p, k| {
        match k {
            "values" => m.values = p.array(|p| key_value(p, depth))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn entity_ref(p: &mut Parser<'_>) -> PResult<EntityRef> {
    let mut m = EntityRef::default();
    p.object(|p, k| {
        match k {
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            "type" => m.r#type = p.string_owned()?,
            "idKeys" | "id_keys" => m.id_keys = p.array(Parser::string_owned)?,
            "descriptionKeys" | "description_keys" => {
                m.description_keys = p.array(Parser::string_owned)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn resource(p: &mut Parser<'_>) -> PResult<Resource> {
    let mut m = Resource::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "entityRefs" | "entity_refs" => m.entity_refs = p.array(entity_ref)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn scope(p: &mut Parser<'_>) -> PResult<InstrumentationScope> {
    let mut m = InstrumentationScope::default();
    p.object(|p, k| {
        match k {
            "name" => m.name = p.string_owned()?,
            "version" => m.version = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- traces ----------------------------------------------------------------------------------

pub(super) fn resource_spans(p: &mut Parser<'_>) -> PResult<ResourceSpans> {
    let mut m = ResourceSpans::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeSpans" | "scope_spans" => m.scope_spans = p.array(scope_spans)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn scope_spans(p: &mut Parser<'_>) -> PResult<ScopeSpans> {
    let mut m = ScopeSpans::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "spans" => m.spans = p.array(span)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn span(p: &mut Parser<'_>) -> PResult<Span> {
    let mut m = Span::default();
    p.object(|p, k| {
        match k {
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceState" | "trace_state" => m.trace_state = p.string_owned()?,
            "parentSpanId" | "parent_span_id" => m.parent_span_id = p.id(SPAN_ID_LEN)?,
            "flags" => m.flags = p.u32()?,
            "name" => m.name = p.string_owned()?,
            "kind" => m.kind = p.enumeration(span_kind_by_name)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "endTimeUnixNano" | "end_time_unix_nano" => m.end_time_unix_nano = p.u64()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "events" => m.events = p.array(event)?,
            "droppedEventsCount" | "dropped_events_count" => m.dropped_events_count = p.u32()?,
            "links" => m.links = p.array(link)?,
            "droppedLinksCount" | "dropped_links_count" => m.dropped_links_count = p.u32()?,
            "status" => m.status = Some(span_status(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn event(p: &mut Parser<'_>) -> PResult<Event> {
    let mut m = Event::default();
    p.object(|p, k| {
        match k {
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "name" => m.name = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn link(p: &mut Parser<'_>) -> PResult<Link> {
    let mut m = Link::default();
    p.object(|p, k| {
        match k {
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceState" | "trace_state" => m.trace_state = p.string_owned()?,
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn span_status(p: &mut Parser<'_>) -> PResult<Status> {
    let mut m = Status::default();
    p.object(|p, k| {
        match k {
            "message" => m.message = p.string_owned()?,
            "code" => m.code = p.enumeration(status_code_by_name)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- metrics ---------------------------------------------------------------------------------

pub(super) fn resource_metrics(p: &mut Parser<'_>) -> PResult<ResourceMetrics> {
    let mut m = ResourceMetrics::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeMetrics" | "scope_metrics" => m.scope_metrics = p.array(scope_metrics)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn scope_metrics(p: &mut Parser<'_>) -> PResult<ScopeMetrics> {
    let mut m = ScopeMetrics::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "metrics" => m.metrics = p.array(metric)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn metric(p: &mut Parser<'_>) -> PResult<Metric> {
    use metric::Data;
    let mut m = Metric::default();
    p.object(|p, k| {
        match k {
            "name" => m.name = p.string_owned()?,
            "description" => m.description = p.string_owned()?,
            "unit" => m.unit = p.string_owned()?,
            "metadata" => m.metadata = attributes(p)?,
            "gauge" => m.data = Some(Data::Gauge(gauge(p)?)),
            "sum" => m.data = Some(Data::Sum(sum(p)?)),
            "histogram" => m.data = Some(Data::Histogram(histogram(p)?)),
            "exponentialHistogram" | "exponential_histogram" => {
                m.data = Some(Data::ExponentialHistogram(exponential_histogram(p)?));
            }
            "summary" => m.data = Some(Data::Summary(summary(p)?)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn gauge(p: &mut Parser<'_>) -> PResult<Gauge> {
    let mut m = Gauge::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(number_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn sum(p: &mut Parser<'_>) -> PResult<Sum> {
    let mut m = Sum::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(number_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            "isMonotonic" | "is_monotonic" => m.is_monotonic = p.boolean()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn histogram(p: &mut Parser<'_>) -> PResult<Histogram> {
    let mut m = Histogram::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(histogram_data_point)?,
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn exponential_histogram(p: &mut Parser<'_>) -> PResult<ExponentialHistogram> {
    let mut m = ExponentialHistogram::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => {
                m.data_points = p.array(exponential_histogram_data_point)?;
            }
            "aggregationTemporality" | "aggregation_temporality" => {
                m.aggregation_temporality = p.enumeration(temporality_by_name)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn summary(p: &mut Parser<'_>) -> PResult<Summary> {
    let mut m = Summary::default();
    p.object(|p, k| {
        match k {
            "dataPoints" | "data_points" => m.data_points = p.array(summary_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn number_data_point(p: &mut Parser<'_>) -> PResult<NumberDataPoint> {
    use number_data_point::Value;
    let mut m = NumberDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "asDouble" | "as_double" => m.value = Some(Value::AsDouble(p.f64()?)),
            "asInt" | "as_int" => m.value = Some(Value::AsInt(p.i64()?)),
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn histogram_data_point(p: &mut Parser<'_>) -> PResult<HistogramDataPoint> {
    let mut m = HistogramDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = Some(p.f64()?),
            "bucketCounts" | "bucket_counts" => m.bucket_counts = p.array(Parser::u64)?,
            "explicitBounds" | "explicit_bounds" => m.explicit_bounds = p.array(Parser::f64)?,
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "flags" => m.flags = p.u32()?,
            "min" => m.min = Some(p.f64()?),
            "max" => m.max = Some(p.f64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn exponential_histogram_data_point(
    p: &mut Parser<'_>,
) -> PResult<ExponentialHistogramDataPoint> {
    let mut m = ExponentialHistogramDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = Some(p.f64()?),
            "scale" => m.scale = p.i32()?,
            "zeroCount" | "zero_count" => m.zero_count = p.u64()?,
            "positive" => m.positive = Some(buckets(p)?),
            "negative" => m.negative = Some(buckets(p)?),
            "flags" => m.flags = p.u32()?,
            "exemplars" => m.exemplars = p.array(exemplar)?,
            "min" => m.min = Some(p.f64()?),
            "max" => m.max = Some(p.f64()?),
            "zeroThreshold" | "zero_threshold" => m.zero_threshold = p.f64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn buckets(p: &mut Parser<'_>) -> PResult<Buckets> {
    let mut m = Buckets::default();
    p.object(|p, k| {
        match k {
            "offset" => m.offset = p.i32()?,
            "bucketCounts" | "bucket_counts" => m.bucket_counts = p.array(Parser::u64)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn summary_data_point(p: &mut Parser<'_>) -> PResult<SummaryDataPoint> {
    let mut m = SummaryDataPoint::default();
    p.object(|p, k| {
        match k {
            "attributes" => m.attributes = attributes(p)?,
            "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = p.u64()?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "count" => m.count = p.u64()?,
            "sum" => m.sum = p.f64()?,
            "quantileValues" | "quantile_values" => {
                m.quantile_values = p.array(value_at_quantile)?
            }
            "flags" => m.flags = p.u32()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn value_at_quantile(p: &mut Parser<'_>) -> PResult<ValueAtQuantile> {
    let mut m = ValueAtQuantile::default();
    p.object(|p, k| {
        match k {
            "quantile" => m.quantile = p.f64()?,
            "value" => m.value = p.f64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn exemplar(p: &mut Parser<'_>) -> PResult<Exemplar> {
    use exemplar::Value;
    let mut m = Exemplar::default();
    p.object(|p, k| {
        match k {
            "filteredAttributes" | "filtered_attributes" => m.filtered_attributes = attributes(p)?,
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "asDouble" | "as_double" => m.value = Some(Value::AsDouble(p.f64()?)),
            "asInt" | "as_int" => m.value = Some(Value::AsInt(p.i64()?)),
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- logs ------------------------------------------------------------------------------------

pub(super) fn resource_logs(p: &mut Parser<'_>) -> PResult<ResourceLogs> {
    let mut m = ResourceLogs::default();
    p.object(|p, k| {
        match k {
            "resource" => m.resource = Some(resource(p)?),
            "scopeLogs" | "scope_logs" => m.scope_logs = p.array(scope_logs)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn scope_logs(p: &mut Parser<'_>) -> PResult<ScopeLogs> {
    let mut m = ScopeLogs::default();
    p.object(|p, k| {
        match k {
            "scope" => m.scope = Some(scope(p)?),
            "logRecords" | "log_records" => m.log_records = p.array(log_record)?,
            "schemaUrl" | "schema_url" => m.schema_url = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

pub(super) fn log_record(p: &mut Parser<'_>) -> PResult<LogRecord> {
    let mut m = LogRecord::default();
    p.object(|p, k| {
        match k {
            "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = p.u64()?,
            "observedTimeUnixNano" | "observed_time_unix_nano" => {
                m.observed_time_unix_nano = p.u64()?;
            }
            "severityNumber" | "severity_number" => {
                m.severity_number = p.enumeration(severity_by_name)?;
            }
            "severityText" | "severity_text" => m.severity_text = p.string_owned()?,
            "body" => m.body = Some(any_value(p, 0)?),
            "attributes" => m.attributes = attributes(p)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                m.dropped_attributes_count = p.u32()?;
            }
            "flags" => m.flags = p.u32()?,
            "traceId" | "trace_id" => m.trace_id = p.id(TRACE_ID_LEN)?,
            "spanId" | "span_id" => m.span_id = p.id(SPAN_ID_LEN)?,
            "eventName" | "event_name" => m.event_name = p.string_owned()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(m)
}

// ----- responses -------------------------------------------------------------------------------

/// Responses: like [`decode_body`], but an empty (or all-whitespace) body is the empty response,
/// since some servers answer a full success with no body at all.
pub(super) fn decode_response<T: Default>(
    body: &[u8],
    f: impl FnOnce(&mut Parser<'_>) -> PResult<T>,
) -> Result<T, JsonError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    decode_body(body, f)
}

/// `{"partialSuccess": {"<rejected>": n, "errorMessage": "..."}}` → `(rejected, message)` inside
/// `Some` when `partialSuccess` is present.
pub(super) fn partial_success_response(
    p: &mut Parser<'_>,
    rejected_camel: &str,
    rejected_snake: &str,
) -> PResult<Option<(i64, String)>> {
    let mut out = None;
    p.object(|p, k| {
        match k {
            "partialSuccess" | "partial_success" => {
                let mut rejected = 0;
                let mut message = String::new();
                p.object(|p, k| {
                    if k == rejected_camel || k == rejected_snake {
                        rejected = p.i64()?;
                    } else if k == "errorMessage" || k == "error_message" {
                        message = p.string_owned()?;
                    } else {
                        return Ok(false);
                    }
                    Ok(true)
                })?;
                out = Some((rejected, message));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Public decoders
// ---------------------------------------------------------------------------------------------

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body (`POST /v1/traces`).
pub fn decode_traces(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportTraceServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceSpans" | "resource_spans" => m.resource_spans = p.array(resource_spans)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` body (`POST /v1/metrics`).
pub fn decode_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportMetricsServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceMetrics" | "resource_metrics" => {
                    m.resource_metrics = p.array(resource_metrics)?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` body (`POST /v1/logs`).
pub fn decode_logs(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    decode_body(body, |p| {
        let mut m = ExportLogsServiceRequest::default();
        p.object(|p, k| {
            match k {
                "resourceLogs" | "resource_logs" => m.resource_logs = p.array(resource_logs)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    })
}

/// Decodes an OTLP/JSON `ExportTraceServiceResponse` (an empty body counts as `{}`).
pub fn decode_trace_response(body: &[u8]) -> Result<ExportTraceServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedSpans", "rejected_spans")?;
        Ok(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        })
    })
}

/// Decodes an OTLP/JSON `ExportMetricsServiceResponse` (an empty body counts as `{}`).
pub fn decode_metrics_response(body: &[u8]) -> Result<ExportMetricsServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedDataPoints", "rejected_data_points")?;
        Ok(ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points,
                    error_message,
                }
            }),
        })
    })
}

/// Decodes an OTLP/JSON `ExportLogsServiceResponse` (an empty body counts as `{}`).
pub fn decode_logs_response(body: &[u8]) -> Result<ExportLogsServiceResponse, JsonError> {
    decode_response(body, |p| {
        let partial = partial_success_response(p, "rejectedLogRecords", "rejected_log_records")?;
        Ok(ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        })
    })
}
