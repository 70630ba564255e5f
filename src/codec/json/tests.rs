//! Tests of the OTLP/JSON codec.

use super::decode::*;
use super::encode::*;
use super::error::*;

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
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use serde_json::Value as J;
use std::path::PathBuf;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Every fixture file with extension `ext`, in all fixture folders, sorted.
fn fixture_files(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(FIXTURES).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) == Some(ext) {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{rel}")).unwrap()
}

fn spans(req: &ExportTraceServiceRequest) -> Vec<&Span> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

fn metrics(req: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

fn data_point_count(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

fn log_records(req: &ExportLogsServiceRequest) -> Vec<&LogRecord> {
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn hex(s: &str) -> Vec<u8> {
    const_hex::decode(s).unwrap()
}

fn one_span(json: &str) -> Result<Span, JsonError> {
    let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{json}]}}]}}]}}"#);
    decode_traces(body.as_bytes()).map(|r| r.resource_spans[0].scope_spans[0].spans[0].clone())
}

fn one_attr_value(json: &str) -> Result<AnyValue, JsonError> {
    one_span(&format!(
        r#"{{"attributes":[{{"key":"k","value":{json}}}]}}"#
    ))
    .map(|s| s.attributes[0].value.clone().unwrap())
}

fn log_body(json: &str) -> Result<Option<AnyValue>, JsonError> {
    let body =
        format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{json}}}]}}]}}]}}"#);
    decode_logs(body.as_bytes())
        .map(|r| r.resource_logs[0].scope_logs[0].log_records[0].body.clone())
}

fn traces_round_trip(req: &ExportTraceServiceRequest) {
    let json = encode_traces(req);
    serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
    assert_eq!(&decode_traces(&json).unwrap(), req);
}

fn metrics_round_trip(req: &ExportMetricsServiceRequest) {
    let json = encode_metrics(req);
    serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
    assert_eq!(&decode_metrics(&json).unwrap(), req);
}

fn logs_round_trip(req: &ExportLogsServiceRequest) {
    let json = encode_logs(req);
    serde_json::from_slice::<J>(&json).expect("encoder output is valid JSON");
    assert_eq!(&decode_logs(&json).unwrap(), req);
}

// ----- fixtures ------------------------------------------------------------------------------

#[test]
fn every_pb_fixture_round_trips_through_json() {
    let files = fixture_files("pb");
    assert!(
        files.len() >= 13,
        "expected the 13 captured .pb bodies, found {}",
        files.len()
    );
    let mut seen = [0usize; 3];
    for path in &files {
        let body = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("traces") {
            let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
            assert!(!spans(&req).is_empty(), "{name}");
            let json = encode_traces(&req);
            serde_json::from_slice::<J>(&json).unwrap();
            let back = decode_traces(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, req, "{}", path.display());
            seen[0] += 1;
        } else if name.contains("metrics") {
            let req = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
            assert!(
                metrics(&req)
                    .iter()
                    .map(|m| data_point_count(m))
                    .sum::<usize>()
                    > 0
            );
            let json = encode_metrics(&req);
            serde_json::from_slice::<J>(&json).unwrap();
            let back = decode_metrics(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, req, "{}", path.display());
            seen[1] += 1;
        } else if name.contains("logs") {
            let req = ExportLogsServiceRequest::decode(&body[..]).unwrap();
            assert!(!log_records(&req).is_empty(), "{name}");
            let json = encode_logs(&req);
            serde_json::from_slice::<J>(&json).unwrap();
            let back = decode_logs(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, req, "{}", path.display());
            seen[2] += 1;
        } else {
            panic!("fixture {name} names no signal");
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}

#[test]
fn every_json_fixture_decodes_with_items_and_round_trips() {
    let files: Vec<_> = fixture_files("json")
        .into_iter()
        .filter(|p| !p.ends_with("model-script.json"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    for path in &files {
        let body = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("traces") {
            let req = decode_traces(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!spans(&req).is_empty(), "{name}");
            traces_round_trip(&req);
        } else if name.contains("metrics") {
            let req = decode_metrics(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                metrics(&req)
                    .iter()
                    .map(|m| data_point_count(m))
                    .sum::<usize>()
                    > 0
            );
            metrics_round_trip(&req);
        } else if name.contains("logs") {
            let req = decode_logs(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!log_records(&req).is_empty(), "{name}");
            logs_round_trip(&req);
        } else {
            panic!("fixture {name} names no signal");
        }
    }
}

#[test]
fn json_traces_fixture_has_the_values_in_the_file() {
    let body = fixture("prompt-redacted-json/001_traces.json");
    let req = decode_traces(&body).unwrap();
    let all = spans(&req);
    let first = all[0];
    assert_eq!(first.trace_id, hex("2b41e7d7d13023116844a317e8c48e47"));
    assert_eq!(first.span_id, hex("3e99e58d9f7ce459"));
    assert_eq!(first.parent_span_id, hex("ed8ef137aec597fb"));
    assert_eq!(first.flags, 257);
    assert_eq!(first.kind, SpanKind::Internal as i32);
    assert_eq!(first.name, "fs.read_file");
    assert_eq!(first.start_time_unix_nano, 1_795_236_489_437_895_552);
    assert_eq!(first.end_time_unix_nano, 1_795_236_489_437_953_839);
    assert_eq!(
        attr(&first.attributes, "code.line.number"),
        Some(&any_value::Value::IntValue(155))
    );
    assert_eq!(
        attr(&first.attributes, "code.file.path"),
        Some(&any_value::Value::StringValue(
            "exec-server/src/local_file_system.rs".into()
        ))
    );
    assert_eq!(
        attr(&first.attributes, "sandboxed"),
        Some(&any_value::Value::BoolValue(false))
    );
    let resource = req.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        attr(&resource.attributes, "service.name"),
        Some(&any_value::Value::StringValue("codex_exec".into()))
    );

    // `"intValue": "908"` (a 64-bit int sent as a string) comes out as IntValue(908), as often
    // as the text has it.
    let text = std::str::from_utf8(&body).unwrap();
    let in_text = text.matches(r#""intValue": "908""#).count();
    let decoded = all
        .iter()
        .flat_map(|s| {
            s.attributes
                .iter()
                .chain(s.events.iter().flat_map(|e| &e.attributes))
        })
        .filter(|kv| {
            kv.value.as_ref().and_then(|v| v.value.as_ref())
                == Some(&any_value::Value::IntValue(908))
        })
        .count();
    assert!(in_text > 0);
    assert_eq!(decoded, in_text);
    assert!(all.iter().any(|s| attr(&s.attributes, "busy_ns").is_some()));
}

#[test]
fn json_traces_fixture_agrees_with_an_independent_serde_json_parse() {
    for file in ["001_traces.json", "002_traces.json"] {
        let body = fixture(&format!("prompt-redacted-json/{file}"));
        let req = decode_traces(&body).unwrap();
        let tree: J = serde_json::from_slice(&body).unwrap();
        let mut json_spans = Vec::new();
        for rs in tree["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                json_spans.extend(ss["spans"].as_array().unwrap().iter());
            }
        }
        let ours = spans(&req);
        assert_eq!(ours.len(), json_spans.len(), "{file}");
        assert!(ours.len() > 100, "{file}: {}", ours.len());
        for (s, j) in ours.iter().zip(&json_spans) {
            assert_eq!(s.name, j["name"].as_str().unwrap());
            assert_eq!(
                const_hex::encode(&s.trace_id),
                j["traceId"].as_str().unwrap()
            );
            assert_eq!(const_hex::encode(&s.span_id), j["spanId"].as_str().unwrap());
            assert_eq!(
                s.attributes.len(),
                j["attributes"].as_array().unwrap().len()
            );
            assert_eq!(s.events.len(), j["events"].as_array().unwrap().len());
            assert_eq!(s.kind, j["kind"].as_i64().unwrap() as i32);
            assert_eq!(
                s.start_time_unix_nano.to_string(),
                j["startTimeUnixNano"].as_str().unwrap()
            );
            assert_eq!(
                s.status.as_ref().unwrap().code,
                j["status"]["code"].as_i64().unwrap() as i32
            );
        }
    }
}

#[test]
fn json_metrics_fixture_has_the_values_in_the_file() {
    let body = fixture("prompt-redacted-json/003_metrics.json");
    let req = decode_metrics(&body).unwrap();
    let tree: J = serde_json::from_slice(&body).unwrap();
    let json_metrics = tree["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let ours = metrics(&req);
    assert_eq!(ours.len(), json_metrics.len());
    assert_eq!(ours.len(), 57);

    let op = ours
        .iter()
        .find(|m| m.name == "codex.auth_storage.operation")
        .unwrap();
    let Some(metric::Data::Sum(sum)) = &op.data else {
        panic!("not a sum")
    };
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    assert!(sum.is_monotonic);
    assert!(!sum.data_points.is_empty());

    let dur = ours
        .iter()
        .find(|m| m.name == "codex.auth_storage.duration")
        .unwrap();
    assert_eq!(dur.unit, "ms");
    assert_eq!(dur.description, "Duration in milliseconds.");
    let Some(metric::Data::Histogram(h)) = &dur.data else {
        panic!("not a histogram")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    let dp = &h.data_points[0];
    assert_eq!(dp.count, 4);
    assert_eq!(dp.bucket_counts.len(), 35);
    assert_eq!(dp.bucket_counts[0], 4);
    assert!(dp.bucket_counts[1..].iter().all(|&c| c == 0));
    assert_eq!(dp.explicit_bounds.len(), 34);
    assert_eq!(&dp.explicit_bounds[..4], &[0.0, 5.0, 10.0, 25.0]);
    assert_eq!(dp.explicit_bounds[33], 120_000.0);
    assert_eq!((dp.sum, dp.min, dp.max), (Some(0.0), Some(0.0), Some(0.0)));
    assert_eq!(dp.start_time_unix_nano, 1_795_236_489_386_447_423);

    // Every metric against the independent parse: kind, temporality, points, bucket counts,
    // integer values.
    for (m, j) in ours.iter().zip(json_metrics) {
        assert_eq!(m.name, j["name"].as_str().unwrap());
        match &m.data {
            Some(metric::Data::Sum(s)) => {
                let js = &j["sum"];
                assert_eq!(
                    i64::from(s.aggregation_temporality),
                    js["aggregationTemporality"].as_i64().unwrap()
                );
                let jdps = js["dataPoints"].as_array().unwrap();
                assert_eq!(s.data_points.len(), jdps.len());
                for (dp, jdp) in s.data_points.iter().zip(jdps) {
                    assert_eq!(
                        dp.value,
                        Some(number_data_point::Value::AsInt(
                            jdp["asInt"].as_i64().unwrap()
                        ))
                    );
                    assert_eq!(
                        dp.attributes.len(),
                        jdp["attributes"].as_array().unwrap().len()
                    );
                }
            }
            Some(metric::Data::Histogram(h)) => {
                let jh = &j["histogram"];
                assert_eq!(
                    i64::from(h.aggregation_temporality),
                    jh["aggregationTemporality"].as_i64().unwrap()
                );
                let jdps = jh["dataPoints"].as_array().unwrap();
                assert_eq!(h.data_points.len(), jdps.len());
                for (dp, jdp) in h.data_points.iter().zip(jdps) {
                    let counts: Vec<u64> = jdp["bucketCounts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_u64().unwrap())
                        .collect();
                    assert_eq!(dp.bucket_counts, counts);
                    assert_eq!(dp.count, jdp["count"].as_u64().unwrap());
                    assert_eq!(dp.sum, jdp["sum"].as_f64());
                }
            }
            other => panic!("unexpected metric data {other:?}"),
        }
    }
}

#[test]
fn json_logs_fixture_has_the_values_in_the_file() {
    let body = fixture("prompt-redacted-json/004_logs.json");
    let req = decode_logs(&body).unwrap();
    let tree: J = serde_json::from_slice(&body).unwrap();
    let records = log_records(&req);
    let mut json_records = Vec::new();
    for sl in tree["resourceLogs"][0]["scopeLogs"].as_array().unwrap() {
        json_records.extend(sl["logRecords"].as_array().unwrap().iter());
    }
    assert_eq!(records.len(), json_records.len());
    assert_eq!(records.len(), 29);

    let first = records[0];
    assert_eq!(first.severity_number, SeverityNumber::Debug as i32);
    assert_eq!(first.severity_text, "DEBUG");
    assert_eq!(first.time_unix_nano, 0);
    assert_eq!(first.observed_time_unix_nano, 1_795_236_490_020_433_801);
    assert!(first.trace_id.is_empty() && first.span_id.is_empty());
    assert_eq!(
        first.body.as_ref().and_then(|b| b.value.as_ref()),
        Some(&any_value::Value::StringValue(
            "flushing OTEL metrics".into()
        ))
    );
    assert_eq!(first.event_name, "event otel/src/metrics/client.rs:324");

    let second = records[1];
    assert_eq!(second.trace_id, hex("55ef4d5fb5ca997c0b49c49ded23177c"));
    assert_eq!(second.severity_number, SeverityNumber::Info as i32);
    assert_eq!(second.body, None, "\"body\": null is no body");
    assert_eq!(second.attributes.len(), 20);

    for (r, j) in records.iter().zip(&json_records) {
        assert_eq!(r.event_name, j["eventName"].as_str().unwrap());
        assert_eq!(
            r.attributes.len(),
            j["attributes"].as_array().unwrap().len()
        );
        assert_eq!(const_hex::encode(&r.span_id), j["spanId"].as_str().unwrap());
    }
    let prompts: Vec<_> = records
        .iter()
        .filter_map(|r| attr(&r.attributes, "event.name"))
        .filter(|v| **v == any_value::Value::StringValue("codex.user_prompt".into()))
        .collect();
    assert!(!prompts.is_empty());
}

// ----- every field, both directions ----------------------------------------------------------

fn every_any_value() -> Vec<KeyValue> {
    use any_value::Value;
    let av = |v: Value| Some(AnyValue { value: Some(v) });
    let kv = |k: &str, v: Value| KeyValue {
        key: k.into(),
        value: av(v),
        key_strindex: 0,
    };
    vec![
        kv(
            "s",
            Value::StringValue("text \"quoted\" \\ \n\t\u{1} é 😀 \u{2028}".into()),
        ),
        kv("empty", Value::StringValue(String::new())),
        kv("b", Value::BoolValue(true)),
        kv("bf", Value::BoolValue(false)),
        kv("i", Value::IntValue(i64::MIN)),
        kv("i0", Value::IntValue(0)),
        kv("d", Value::DoubleValue(0.1 + 0.2)),
        kv("d0", Value::DoubleValue(0.0)),
        kv("bytes", Value::BytesValue(vec![0, 1, 2, 250, 251, 255])),
        kv("nobytes", Value::BytesValue(vec![])),
        kv("strindex", Value::StringValueStrindex(7)),
        kv(
            "arr",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::IntValue(1)),
                    },
                    AnyValue { value: None },
                    AnyValue {
                        value: Some(Value::ArrayValue(ArrayValue { values: vec![] })),
                    },
                ],
            }),
        ),
        kv(
            "kv",
            Value::KvlistValue(KeyValueList {
                values: vec![
                    KeyValue {
                        key: "inner".into(),
                        value: av(Value::DoubleValue(-2.5)),
                        key_strindex: 3,
                    },
                    KeyValue {
                        key: String::new(),
                        value: None,
                        key_strindex: 0,
                    },
                ],
            }),
        ),
        KeyValue {
            key: "unset".into(),
            value: Some(AnyValue { value: None }),
            key_strindex: 0,
        },
    ]
}

fn every_resource() -> Resource {
    Resource {
        attributes: every_any_value(),
        dropped_attributes_count: 3,
        entity_refs: vec![EntityRef {
            schema_url: "https://schema".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.namespace".into()],
            description_keys: vec!["service.version".into()],
        }],
    }
}

fn every_scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "scope".into(),
        version: "1.2.3".into(),
        attributes: every_any_value(),
        dropped_attributes_count: 4,
    }
}

fn every_exemplar() -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: every_any_value(),
            time_unix_nano: 1,
            span_id: hex("0102030405060708"),
            trace_id: hex("0102030405060708090a0b0c0d0e0f10"),
            value: Some(exemplar::Value::AsDouble(1.5)),
        },
        Exemplar {
            filtered_attributes: vec![],
            time_unix_nano: 2,
            span_id: vec![],
            trace_id: vec![],
            value: Some(exemplar::Value::AsInt(-5)),
        },
    ]
}

#[test]
fn every_trace_field_round_trips() {
    let span = Span {
        trace_id: hex("5B8EFFF798038103D269B633813FC60C"),
        span_id: hex("eee19b7ec3c1b174"),
        trace_state: "rojo=00f067aa0ba902b7".into(),
        parent_span_id: hex("eee19b7ec3c1b173"),
        flags: 0x301,
        name: "GET /api".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: u64::MAX,
        attributes: every_any_value(),
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 1_544_712_660_500_000_000,
            name: "exception".into(),
            attributes: every_any_value(),
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: hex("0af7651916cd43dd8448eb211c80319c"),
            span_id: hex("b7ad6b7169203331"),
            trace_state: "k=v".into(),
            attributes: every_any_value(),
            dropped_attributes_count: 5,
            flags: 0x100,
        }],
        dropped_links_count: 4,
        status: Some(Status {
            message: "boom".into(),
            code: StatusCode::Error as i32,
        }),
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(every_resource()),
                scope_spans: vec![
                    ScopeSpans {
                        scope: Some(every_scope()),
                        spans: vec![span, Span::default()],
                        schema_url: "https://opentelemetry.io/schemas/1.4.0".into(),
                    },
                    ScopeSpans::default(),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.5.0".into(),
            },
            ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![],
                schema_url: String::new(),
            },
        ],
    };
    traces_round_trip(&req);
    traces_round_trip(&ExportTraceServiceRequest::default());
}

#[test]
fn every_metric_field_round_trips() {
    let number_points = vec![
        NumberDataPoint {
            attributes: every_any_value(),
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            exemplars: every_exemplar(),
            flags: 1,
            value: Some(number_data_point::Value::AsDouble(3.25)),
        },
        NumberDataPoint {
            attributes: vec![],
            start_time_unix_nano: 0,
            time_unix_nano: 0,
            exemplars: vec![],
            flags: 0,
            value: Some(number_data_point::Value::AsInt(0)),
        },
        NumberDataPoint::default(),
    ];
    let metric = |name: &str, data: metric::Data| Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "ms".into(),
        metadata: every_any_value(),
        data: Some(data),
    };
    let all = vec![
        metric(
            "gauge",
            metric::Data::Gauge(Gauge {
                data_points: number_points.clone(),
            }),
        ),
        metric(
            "sum",
            metric::Data::Sum(Sum {
                data_points: number_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        ),
        metric(
            "histogram",
            metric::Data::Histogram(Histogram {
                data_points: vec![
                    HistogramDataPoint {
                        attributes: every_any_value(),
                        start_time_unix_nano: 10,
                        time_unix_nano: 20,
                        count: 7,
                        sum: Some(0.0),
                        bucket_counts: vec![1, 0, 6, u64::MAX],
                        explicit_bounds: vec![-1.5, 0.0, 1e300],
                        exemplars: every_exemplar(),
                        flags: 1,
                        min: Some(-1.0),
                        max: Some(2e-300),
                    },
                    HistogramDataPoint::default(),
                ],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        ),
        metric(
            "exponential",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![
                    ExponentialHistogramDataPoint {
                        attributes: every_any_value(),
                        start_time_unix_nano: 11,
                        time_unix_nano: 21,
                        count: 9,
                        sum: Some(12.5),
                        scale: -3,
                        zero_count: 2,
                        positive: Some(Buckets {
                            offset: -2,
                            bucket_counts: vec![1, 2, 3],
                        }),
                        negative: Some(Buckets::default()),
                        flags: 1,
                        exemplars: every_exemplar(),
                        min: Some(0.0),
                        max: Some(8.0),
                        zero_threshold: 1e-9,
                    },
                    ExponentialHistogramDataPoint::default(),
                ],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        ),
        metric(
            "summary",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: every_any_value(),
                    start_time_unix_nano: 12,
                    time_unix_nano: 22,
                    count: 100,
                    sum: 1234.5,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.0,
                            value: 0.5,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 98.7,
                        },
                    ],
                    flags: 1,
                }],
            }),
        ),
        Metric {
            name: "no data".into(),
            description: String::new(),
            unit: String::new(),
            metadata: vec![],
            data: None,
        },
        metric("empty gauge", metric::Data::Gauge(Gauge::default())),
    ];
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(every_resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(every_scope()),
                metrics: all,
                schema_url: "https://scope.schema".into(),
            }],
            schema_url: "https://resource.schema".into(),
        }],
    };
    metrics_round_trip(&req);
}

#[test]
fn every_log_field_round_trips() {
    let record = LogRecord {
        time_unix_nano: 1_544_712_660_300_000_000,
        observed_time_unix_nano: 1_544_712_660_300_000_001,
        severity_number: SeverityNumber::Warn as i32,
        severity_text: "WARN".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: every_any_value(),
            })),
        }),
        attributes: every_any_value(),
        dropped_attributes_count: 2,
        flags: 1,
        trace_id: hex("5b8efff798038103d269b633813fc60c"),
        span_id: hex("eee19b7ec3c1b174"),
        event_name: "codex.tool_result".into(),
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(every_resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(every_scope()),
                log_records: vec![record, LogRecord::default()],
                schema_url: "https://scope.schema".into(),
            }],
            schema_url: "https://resource.schema".into(),
        }],
    };
    logs_round_trip(&req);
}

#[test]
fn encoder_writes_the_canonical_spec_form() {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![Span {
                    trace_id: hex("5B8EFFF798038103D269B633813FC60C"),
                    span_id: hex("EEE19B7EC3C1B174"),
                    name: "n".into(),
                    kind: SpanKind::Client as i32,
                    start_time_unix_nano: 1_544_712_660_000_000_000,
                    attributes: vec![
                        KeyValue {
                            key: "i".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::IntValue(908)),
                            }),
                            key_strindex: 0,
                        },
                        KeyValue {
                            key: "b".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::BytesValue(b"hi".to_vec())),
                            }),
                            key_strindex: 0,
                        },
                    ],
                    status: Some(Status::default()),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let json = String::from_utf8(encode_traces(&req)).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","#,
            r#""spanId":"eee19b7ec3c1b174","name":"n","kind":3,"startTimeUnixNano":"1544712660000000000","#,
            r#""attributes":[{"key":"i","value":{"intValue":"908"}},{"key":"b","value":{"bytesValue":"aGk="}}],"#,
            r#""status":{}}]}]}]}"#
        )
    );

    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "h".into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            count: 3,
                            sum: Some(0.0),
                            bucket_counts: vec![1, 2],
                            explicit_bounds: vec![2.5],
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(
        String::from_utf8(encode_metrics(&metrics)).unwrap(),
        concat!(
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":"#,
            r#"[{"count":"3","sum":0,"bucketCounts":["1","2"],"explicitBounds":[2.5]}],"#,
            r#""aggregationTemporality":1}}]}]}]}"#
        )
    );
    assert_eq!(encode_logs(&ExportLogsServiceRequest::default()), b"{}");
}

// ----- edge cases --------------------------------------------------------------------------

#[test]
fn int64_fields_accept_numbers_and_strings() {
    use any_value::Value;
    assert_eq!(
        one_attr_value(r#"{"intValue":42}"#).unwrap().value,
        Some(Value::IntValue(42))
    );
    assert_eq!(
        one_attr_value(r#"{"intValue":"42"}"#).unwrap().value,
        Some(Value::IntValue(42))
    );
    assert_eq!(
        one_attr_value(r#"{"intValue":"-9223372036854775808"}"#)
            .unwrap()
            .value,
        Some(Value::IntValue(i64::MIN))
    );
    assert_eq!(
        one_attr_value(r#"{"intValue":9223372036854775807}"#)
            .unwrap()
            .value,
        Some(Value::IntValue(i64::MAX))
    );
    assert_eq!(
        one_attr_value(r#"{"intValue":"1e3"}"#).unwrap().value,
        Some(Value::IntValue(1000))
    );
    assert_eq!(
        one_attr_value(r#"{"intValue":5.0}"#).unwrap().value,
        Some(Value::IntValue(5))
    );
    assert!(one_attr_value(r#"{"intValue":"9223372036854775808"}"#).is_err());
    assert!(one_attr_value(r#"{"intValue":1.5}"#).is_err());
    assert!(one_attr_value(r#"{"intValue":"12a"}"#).is_err());
    assert!(one_attr_value(r#"{"intValue":" 1"}"#).is_err());
    assert!(one_attr_value(r#"{"intValue":"007"}"#).is_err());
    assert!(one_attr_value(r#"{"intValue":true}"#).is_err());

    let s = one_span(
        r#"{"startTimeUnixNano":1795236489437895552,"endTimeUnixNano":"18446744073709551615",
            "droppedAttributesCount":"7","flags":"257"}"#,
    )
    .unwrap();
    assert_eq!(s.start_time_unix_nano, 1_795_236_489_437_895_552);
    assert_eq!(s.end_time_unix_nano, u64::MAX);
    assert_eq!(s.dropped_attributes_count, 7);
    assert_eq!(s.flags, 257);
    let err = one_span(r#"{"startTimeUnixNano":-1}"#).unwrap_err();
    assert_eq!(err.kind(), JsonErrorKind::Invalid);
    assert!(err.to_string().contains("out of range for uint64"), "{err}");
    assert!(one_span(r#"{"droppedAttributesCount":4294967296}"#).is_err());
    assert!(one_span(r#"{"startTimeUnixNano":"18446744073709551616"}"#).is_err());

    let m = decode_metrics(
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
            {"count":"4","bucketCounts":["1",2,"3"],"sum":"2.5"}]}}]}]}]}"#,
    )
    .unwrap();
    let Some(metric::Data::Histogram(h)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!()
    };
    assert_eq!(h.data_points[0].count, 4);
    assert_eq!(h.data_points[0].bucket_counts, vec![1, 2, 3]);
    assert_eq!(h.data_points[0].sum, Some(2.5));
}

#[test]
fn enums_accept_integers_and_value_names() {
    let s =
        one_span(r#"{"kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"}}"#).unwrap();
    assert_eq!(s.kind, SpanKind::Server as i32);
    assert_eq!(s.status.unwrap().code, StatusCode::Error as i32);
    assert_eq!(one_span(r#"{"kind":4}"#).unwrap().kind, 4);
    // proto3 enums are open: unknown numbers are kept.
    assert_eq!(one_span(r#"{"kind":99}"#).unwrap().kind, 99);
    let err = one_span(r#"{"kind":"SPAN_KIND_BOGUS"}"#).unwrap_err();
    assert!(err.to_string().contains("SPAN_KIND_BOGUS"), "{err}");
    assert!(one_span(r#"{"kind":"span_kind_server"}"#).is_err());

    let m = decode_metrics(
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE"}},
            {"histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA"}},
            {"exponentialHistogram":{"aggregationTemporality":2}}]}]}]}"#,
    )
    .unwrap();
    let ms = metrics(&m);
    assert!(matches!(&ms[0].data, Some(metric::Data::Sum(s)) if s.aggregation_temporality == 2));
    assert!(
        matches!(&ms[1].data, Some(metric::Data::Histogram(h)) if h.aggregation_temporality == 1)
    );
    assert!(
        matches!(&ms[2].data, Some(metric::Data::ExponentialHistogram(h)) if h.aggregation_temporality == 2)
    );

    let l = decode_logs(
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(
        log_records(&l)[0].severity_number,
        SeverityNumber::Warn as i32
    );
}

#[test]
fn snake_case_field_names_are_accepted() {
    let traces = decode_traces(
        br#"{"resource_spans":[{"resource":{"attributes":[],"dropped_attributes_count":1,
            "entity_refs":[{"schema_url":"u","type":"t","id_keys":["a"],"description_keys":["b"]}]},
          "schema_url":"rs","scope_spans":[{"schema_url":"ss","scope":{"name":"n","dropped_attributes_count":2},
          "spans":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
            "parent_span_id":"eee19b7ec3c1b173","trace_state":"x","start_time_unix_nano":"1",
            "end_time_unix_nano":"2","dropped_attributes_count":3,"dropped_events_count":4,
            "dropped_links_count":5,"attributes":[{"key":"k","value":{"string_value":"v"}},
              {"key":"a","value":{"array_value":{"values":[{"int_value":"1"},{"double_value":2.5},
              {"bool_value":true},{"bytes_value":"aGk"},{"kvlist_value":{"values":[]}}]}}},
              {"key_strindex":9,"value":{"string_value_strindex":3}}],
            "events":[{"time_unix_nano":"9","name":"e","dropped_attributes_count":1}],
            "links":[{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
              "trace_state":"y","dropped_attributes_count":6,"flags":256}]}]}]}]}"#,
    )
    .unwrap();
    let rs = &traces.resource_spans[0];
    assert_eq!(rs.schema_url, "rs");
    let res = rs.resource.as_ref().unwrap();
    assert_eq!(res.dropped_attributes_count, 1);
    assert_eq!(res.entity_refs[0].id_keys, vec!["a".to_string()]);
    assert_eq!(res.entity_refs[0].description_keys, vec!["b".to_string()]);
    assert_eq!(rs.scope_spans[0].schema_url, "ss");
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!(s.trace_id, hex("5b8efff798038103d269b633813fc60c"));
    assert_eq!(s.parent_span_id, hex("eee19b7ec3c1b173"));
    assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (1, 2));
    assert_eq!(
        (
            s.dropped_attributes_count,
            s.dropped_events_count,
            s.dropped_links_count
        ),
        (3, 4, 5)
    );
    assert_eq!(
        attr(&s.attributes, "k"),
        Some(&any_value::Value::StringValue("v".into()))
    );
    let Some(any_value::Value::ArrayValue(a)) = attr(&s.attributes, "a") else {
        panic!()
    };
    assert_eq!(a.values.len(), 5);
    assert_eq!(
        a.values[3].value,
        Some(any_value::Value::BytesValue(b"hi".to_vec()))
    );
    assert_eq!(s.attributes[2].key_strindex, 9);
    assert_eq!(s.events[0].time_unix_nano, 9);
    assert_eq!(s.links[0].flags, 256);

    let m = decode_metrics(
        br#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
            {"sum":{"data_points":[{"as_int":"5","time_unix_nano":"3","start_time_unix_nano":"2"}],
                    "aggregation_temporality":1,"is_monotonic":true}},
            {"exponential_histogram":{"data_points":[{"zero_count":"2","zero_threshold":0.5,
               "positive":{"offset":1,"bucket_counts":["1"]}}]}},
            {"summary":{"data_points":[{"quantile_values":[{"quantile":0.5,"value":1}]}]}},
            {"gauge":{"data_points":[{"as_double":1.5,"exemplars":[{"as_int":"3",
               "filtered_attributes":[],"span_id":"eee19b7ec3c1b174","time_unix_nano":"1"}]}]}}]}]}]}"#,
    )
    .unwrap();
    let ms = metrics(&m);
    let Some(metric::Data::Sum(sum)) = &ms[0].data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(5))
    );
    assert_eq!(sum.data_points[0].start_time_unix_nano, 2);
    let Some(metric::Data::ExponentialHistogram(eh)) = &ms[1].data else {
        panic!()
    };
    assert_eq!(eh.data_points[0].zero_count, 2);
    assert_eq!(
        eh.data_points[0].positive.as_ref().unwrap().bucket_counts,
        vec![1]
    );
    let Some(metric::Data::Summary(su)) = &ms[2].data else {
        panic!()
    };
    assert_eq!(su.data_points[0].quantile_values[0].value, 1.0);
    let Some(metric::Data::Gauge(g)) = &ms[3].data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].exemplars[0].value,
        Some(exemplar::Value::AsInt(3))
    );

    let l = decode_logs(
        br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"1",
            "observed_time_unix_nano":"2","severity_number":9,"severity_text":"INFO",
            "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
            "event_name":"ev","dropped_attributes_count":1}]}]}]}"#,
    )
    .unwrap();
    let r = log_records(&l)[0];
    assert_eq!((r.time_unix_nano, r.observed_time_unix_nano), (1, 2));
    assert_eq!((r.severity_number, r.severity_text.as_str()), (9, "INFO"));
    assert_eq!(r.event_name, "ev");
    assert_eq!(r.span_id, hex("eee19b7ec3c1b174"));
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let req = decode_traces(
        br#"{"extra":{"deep":[1,2,{"x":[null,true,false,"s\"\u00e9",-1.5e3]}]},
             "resourceSpans":[{"unknownArray":[[[]],{}],"scopeSpans":[{"spans":[
               {"name":"a","newField2030":{"nested":{"objects":[{"and":"arrays"}]}},
                "attributes":[{"key":"k","futureKey":1,"value":{"stringValue":"v","futureValue":{"a":[]}}}]}]}]}],
             "trailingUnknown":"x"}"#,
    )
    .unwrap();
    let s = spans(&req)[0];
    assert_eq!(s.name, "a");
    assert_eq!(
        attr(&s.attributes, "k"),
        Some(&any_value::Value::StringValue("v".into()))
    );
    // Unknown values must still be well-formed JSON.
    assert!(decode_traces(br#"{"extra":[1,}"#).is_err());
    assert!(decode_traces(br#"{"extra":tru}"#).is_err());
}

#[test]
fn null_fields_decode_as_defaults() {
    let req = decode_traces(
        br#"{"resourceSpans":[{"resource":null,"schemaUrl":null,"scopeSpans":[{"scope":null,
            "spans":[{"traceId":null,"spanId":null,"name":null,"kind":null,"flags":null,
            "startTimeUnixNano":null,"attributes":null,"events":null,"links":null,"status":null,
            "droppedAttributesCount":null}, null]}]}]}"#,
    )
    .unwrap();
    let rs = &req.resource_spans[0];
    assert_eq!(rs.resource, None);
    assert_eq!(rs.scope_spans[0].scope, None);
    assert_eq!(
        rs.scope_spans[0].spans,
        vec![Span::default(), Span::default()]
    );
    assert_eq!(
        decode_traces(br#"{"resourceSpans":null}"#).unwrap(),
        Default::default()
    );
    assert_eq!(
        one_attr_value(r#"{"stringValue":null}"#).unwrap().value,
        None
    );
    assert_eq!(log_body("null").unwrap(), None);
    assert_eq!(log_body("{}").unwrap(), Some(AnyValue::default()));
    let m = decode_metrics(
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[
            {"sum":null,"min":null,"max":null,"count":null,"bucketCounts":null}]}}]}]}]}"#,
    )
    .unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&m)[0].data else {
        panic!()
    };
    assert_eq!(h.data_points[0], HistogramDataPoint::default());
}

#[test]
fn bad_hex_ids_are_errors() {
    let err = one_span(r#"{"traceId":"5b8efff798038103d269b633813fc60"}"#).unwrap_err();
    assert_eq!(err.kind(), JsonErrorKind::Invalid);
    assert_eq!(
        err.path(),
        "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    );
    assert!(
        err.reason().contains("expected 32 hex characters, got 31"),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].traceId (byte "
        ),
        "{err}"
    );
    for bad in [
        r#"{"traceId":"zz8efff798038103d269b633813fc60c"}"#,
        r#"{"traceId":"0x8efff798038103d269b633813fc60c"}"#,
        r#"{"spanId":"eee19b7ec3c1b17"}"#,
        r#"{"spanId":"eee19b7ec3c1b1745"}"#,
        r#"{"parentSpanId":"ZZZZZZZZZZZZZZZZ"}"#,
        r#"{"spanId":12}"#,
        r#"{"links":[{"traceId":"abc"}]}"#,
        // base64 (what protobuf's generic JSON mapping would send) is not hex.
        r#"{"traceId":"W47/95gDgQPSabYzgT/GDA=="}"#,
    ] {
        assert!(one_span(bad).is_err(), "{bad}");
    }
    let s = one_span(r#"{"traceId":"5B8EFFF798038103d269b633813fc60c","spanId":""}"#).unwrap();
    assert_eq!(s.trace_id, hex("5b8efff798038103d269b633813fc60c"));
    assert!(s.span_id.is_empty());
    let err =
        decode_logs(br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"spanId":"xyz"}]}]}]}"#)
            .unwrap_err();
    assert_eq!(
        err.path(),
        "resourceLogs[0].scopeLogs[0].logRecords[1].spanId"
    );
}

#[test]
fn bytes_value_is_base64_with_or_without_padding() {
    use any_value::Value;
    for (text, bytes) in [
        (r#""aGk=""#, b"hi".to_vec()),
        (r#""aGk""#, b"hi".to_vec()),
        (r#""""#, vec![]),
        (r#""-_8""#, vec![0xfb, 0xff]),
        (r#""+/8=""#, vec![0xfb, 0xff]),
    ] {
        assert_eq!(
            one_attr_value(&format!(r#"{{"bytesValue":{text}}}"#))
                .unwrap()
                .value,
            Some(Value::BytesValue(bytes)),
            "{text}"
        );
    }
    for bad in [r#""!!!!""#, r#""a""#, r#""aGk=x""#, "12"] {
        let err = one_attr_value(&format!(r#"{{"bytesValue":{bad}}}"#)).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::Invalid, "{bad}: {err}");
    }
}

#[test]
fn malformed_json_is_an_error() {
    for bad in [
        &b""[..],
        b"   ",
        b"{",
        b"}",
        b"{\"resourceSpans\":[}",
        b"{\"resourceSpans\":[],}",
        b"{\"resourceSpans\" []}",
        b"{resourceSpans:[]}",
        b"{'resourceSpans':[]}",
        b"{} {}",
        b"{}x",
        b"{\"a\":\"unterminated}",
        b"{\"a\":\"bad \\x escape\"}",
        b"{\"a\":\"raw \n newline\"}",
        b"{\"a\":01}",
        b"{\"a\":1.}",
        b"{\"a\":-}",
        b"{\"a\":+1}",
        b"{\"a\":nul}",
        b"{\"a\":NaN}",
        b"\xff\xfe{}",
        b"{\"a\":\"\xc3\x28\"}",
    ] {
        let err = decode_traces(bad).unwrap_err();
        assert_eq!(
            err.kind(),
            JsonErrorKind::Syntax,
            "{:?}: {err}",
            String::from_utf8_lossy(bad)
        );
    }
    // Valid JSON of the wrong shape.
    for bad in [
        &b"[]"[..],
        b"null",
        b"1",
        b"\"x\"",
        b"{\"resourceSpans\":{}}",
    ] {
        let err = decode_traces(bad).unwrap_err();
        assert_eq!(
            err.kind(),
            JsonErrorKind::Invalid,
            "{:?}: {err}",
            String::from_utf8_lossy(bad)
        );
    }
    let err = decode_traces(b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":1}]}]}]}")
        .unwrap_err();
    assert_eq!(err.path(), "resourceSpans[0].scopeSpans[0].spans[0].name");
    assert!(
        err.reason().contains("expected a string, found a number"),
        "{err}"
    );
    // A UTF-8 byte order mark and surrounding whitespace are fine.
    assert!(decode_traces(b"\xEF\xBB\xBF \n{}\r\n").is_ok());
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let n = 10_000;
    let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
    for _ in 0..n {
        body.push_str(r#"{"arrayValue":{"values":["#);
    }
    for _ in 0..n {
        body.push_str("]}}");
    }
    body.push_str("}]}]}]}");
    let err = decode_logs(body.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), JsonErrorKind::TooDeep, "{err}");

    // Deep unknown fields: arrays, objects, and both interleaved.
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}"), (r#"[{"a":"#, "}]")] {
        let body = format!(r#"{{"unknown":{}1{}}}"#, open.repeat(n), close.repeat(n));
        let err = decode_traces(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), JsonErrorKind::TooDeep, "{err}");
        // Unclosed too.
        let body = format!(r#"{{"unknown":{}"#, open.repeat(n));
        assert!(decode_traces(body.as_bytes()).is_err());
    }
    let err = decode_traces(&b"[".repeat(100_000)).unwrap_err();
    assert_eq!(err.kind(), JsonErrorKind::Invalid);
}

/// `levels` kvlistValues nested in a log body.
fn nested_kvlist(levels: usize) -> String {
    let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
    for _ in 0..levels {
        body.push_str(r#"{"kvlistValue":{"values":[{"key":"k","value":"#);
    }
    body.push_str(r#"{"intValue":"1"}"#);
    for _ in 0..levels {
        body.push_str("}]}}");
    }
    body.push_str("}]}]}]}");
    body
}

#[test]
fn any_value_nesting_is_capped_at_128_levels() {
    let deepest = decode_logs(nested_kvlist(128).as_bytes()).unwrap();
    logs_round_trip_without_serde_json(&deepest);
    // Worst case for the stack: the deepest typed nesting plus unknown junk nested up to the
    // overall JSON limit inside it.
    let junk = format!(
        r#"{{"intValue":"1","junk":{}0{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let worst = nested_kvlist(128).replace(r#"{"intValue":"1"}"#, &junk);
    assert_eq!(decode_logs(worst.as_bytes()).unwrap(), deepest);
    let err = decode_logs(nested_kvlist(129).as_bytes()).unwrap_err();
    assert_eq!(err.kind(), JsonErrorKind::TooDeep);
    assert!(err.reason().contains("128"), "{err}");

    let mut arrays = r#"{"arrayValue":{"values":["#.repeat(129);
    arrays.push_str(&"]}}".repeat(129));
    assert_eq!(
        log_body(&arrays).unwrap_err().kind(),
        JsonErrorKind::TooDeep
    );

    // Values built in code deeper than the cap still encode (to something decodable).
    let mut v = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..300 {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(v),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let back = decode_logs(&encode_logs(&req)).unwrap();
    let mut depth = 0;
    let mut cur = log_records(&back)[0].body.clone().unwrap();
    while let Some(any_value::Value::ArrayValue(a)) = cur.value {
        depth += 1;
        cur = a.values[0].clone();
    }
    assert_eq!(depth, 128);
}

/// Round trip for values too deep for serde_json's own 128-level limit.
fn logs_round_trip_without_serde_json(req: &ExportLogsServiceRequest) {
    assert_eq!(&decode_logs(&encode_logs(req)).unwrap(), req);
}

#[test]
fn nan_and_infinity_doubles() {
    use any_value::Value;
    let v = |json: &str| match one_attr_value(json).unwrap().value {
        Some(Value::DoubleValue(d)) => d,
        other => panic!("{other:?}"),
    };
    assert!(v(r#"{"doubleValue":"NaN"}"#).is_nan());
    assert_eq!(v(r#"{"doubleValue":"Infinity"}"#), f64::INFINITY);
    assert_eq!(v(r#"{"doubleValue":"-Infinity"}"#), f64::NEG_INFINITY);
    assert_eq!(v(r#"{"doubleValue":"2.5"}"#), 2.5);
    assert_eq!(v(r#"{"doubleValue":7}"#), 7.0);
    assert_eq!(v(r#"{"doubleValue":-1E-3}"#), -0.001);
    for bad in [
        r#""nan""#,
        r#""inf""#,
        r#""+Infinity""#,
        r#""1.5x""#,
        "1e400",
        "true",
    ] {
        assert!(
            one_attr_value(&format!(r#"{{"doubleValue":{bad}}}"#)).is_err(),
            "{bad}"
        );
    }

    let dp = HistogramDataPoint {
        sum: Some(f64::NAN),
        min: Some(f64::NEG_INFINITY),
        max: Some(f64::INFINITY),
        explicit_bounds: vec![f64::NEG_INFINITY, 0.0, f64::NAN],
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![dp],
                        aggregation_temporality: 0,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let json = String::from_utf8(encode_metrics(&req)).unwrap();
    assert!(json.contains(r#""sum":"NaN""#), "{json}");
    assert!(json.contains(r#""min":"-Infinity""#), "{json}");
    assert!(json.contains(r#""max":"Infinity""#), "{json}");
    assert!(
        json.contains(r#""explicitBounds":["-Infinity",0,"NaN"]"#),
        "{json}"
    );
    let back = decode_metrics(json.as_bytes()).unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&back)[0].data else {
        panic!()
    };
    let dp = &h.data_points[0];
    assert!(dp.sum.unwrap().is_nan());
    assert_eq!(dp.min, Some(f64::NEG_INFINITY));
    assert_eq!(dp.max, Some(f64::INFINITY));
    assert!(dp.explicit_bounds[2].is_nan());
}

#[test]
fn doubles_round_trip_bit_for_bit() {
    let values = vec![
        0.1 + 0.2,
        1.0 / 3.0,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        -0.0,
        1e21,
        1e16,
        9_007_199_254_740_993.0,
        123_456_789.123_456_78,
        2.5e-7,
        1e-6,
        0.000_001_234,
        18_446_744_073_709_551_616.0,
        -9_223_372_036_854_775_808.0,
        std::f64::consts::PI,
    ];
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![HistogramDataPoint {
                            explicit_bounds: values.clone(),
                            ..Default::default()
                        }],
                        aggregation_temporality: 0,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let back = decode_metrics(&encode_metrics(&req)).unwrap();
    let Some(metric::Data::Histogram(h)) = &metrics(&back)[0].data else {
        panic!()
    };
    let got: Vec<u64> = h.data_points[0]
        .explicit_bounds
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
}

#[test]
fn strings_with_escapes_round_trip() {
    use any_value::Value;
    assert_eq!(
        one_attr_value(r#"{"stringValue":"a\"b\\c\/d\b\f\n\r\t\u0001\u00e9\ud83d\ude00"}"#)
            .unwrap()
            .value,
        Some(Value::StringValue(
            "a\"b\\c/d\u{8}\u{c}\n\r\t\u{1}é😀".into()
        ))
    );
    // Unpaired surrogates encode no character: refused, as in protobuf's JSON mapping.
    for lone in [
        r#""x\ud800y""#,
        r#""x\udc00""#,
        r#""\ud800\u0041""#,
        r#""\ud800""#,
    ] {
        let err = one_attr_value(&format!(r#"{{"stringValue":{lone}}}"#)).unwrap_err();
        assert!(
            err.to_string().contains("unpaired UTF-16 surrogate"),
            "{lone}: {err}"
        );
    }
    // Escaped field names are still recognised.
    assert_eq!(
        one_attr_value(r#"{"string\u0056alue":"v"}"#).unwrap().value,
        Some(Value::StringValue("v".into()))
    );
    let all_controls: String = (0u8..0x20)
        .map(char::from)
        .chain("\"\\/\u{7f}".chars())
        .collect();
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    severity_text: all_controls.clone(),
                    event_name: "€ 😀 \u{2028}\u{2029}".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    logs_round_trip(&req);
    let json = encode_logs(&req);
    let tree: J = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        tree["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityText"],
        J::String(all_controls)
    );
}

#[test]
fn responses_round_trip_and_accept_empty_bodies() {
    let t = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 3,
            error_message: "3 spans had \"bad\" ids".into(),
        }),
    };
    let json = encode_trace_response(&t);
    assert_eq!(
        std::str::from_utf8(&json).unwrap(),
        r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"3 spans had \"bad\" ids"}}"#
    );
    assert_eq!(decode_trace_response(&json).unwrap(), t);
    assert_eq!(
        encode_trace_response(&ExportTraceServiceResponse::default()),
        b"{}"
    );

    let m = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 0,
            error_message: "warning only".into(),
        }),
    };
    assert_eq!(
        decode_metrics_response(&encode_metrics_response(&m)).unwrap(),
        m
    );
    let l = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: i64::MAX,
            error_message: String::new(),
        }),
    };
    assert_eq!(decode_logs_response(&encode_logs_response(&l)).unwrap(), l);
    assert_eq!(
        decode_logs_response(&encode_logs_response(&ExportLogsServiceResponse::default())).unwrap(),
        ExportLogsServiceResponse::default()
    );

    // What real servers send.
    assert_eq!(
        decode_trace_response(b"").unwrap(),
        ExportTraceServiceResponse::default()
    );
    assert_eq!(
        decode_trace_response(b"{}").unwrap(),
        ExportTraceServiceResponse::default()
    );
    assert_eq!(
        decode_trace_response(br#"{"partialSuccess":{}}"#).unwrap(),
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess::default())
        }
    );
    assert_eq!(
        decode_metrics_response(br#"{"partial_success":{"rejected_data_points":2,"x":1}}"#)
            .unwrap()
            .partial_success
            .unwrap()
            .rejected_data_points,
        2
    );
    assert_eq!(
        decode_logs_response(
            br#"{"partialSuccess":{"rejectedLogRecords":"5","errorMessage":"m"}}"#
        )
        .unwrap()
        .partial_success
        .unwrap(),
        ExportLogsPartialSuccess {
            rejected_log_records: 5,
            error_message: "m".into()
        }
    );
    assert!(decode_trace_response(b"<html>bad gateway</html>").is_err());
    assert!(decode_trace_response(br#"{"partialSuccess":{"rejectedSpans":"x"}}"#).is_err());
}

#[test]
fn oneof_last_member_wins_and_empty_any_value_is_unset() {
    use any_value::Value;
    assert_eq!(
        one_attr_value(r#"{"stringValue":"a","intValue":"2"}"#)
            .unwrap()
            .value,
        Some(Value::IntValue(2))
    );
    assert_eq!(one_attr_value("{}").unwrap().value, None);
    assert_eq!(
        one_attr_value(r#"{"arrayValue":{}}"#).unwrap().value,
        Some(Value::ArrayValue(ArrayValue::default()))
    );
    assert_eq!(
        one_attr_value(r#"{"arrayValue":{"values":[null,{}]}}"#)
            .unwrap()
            .value,
        Some(Value::ArrayValue(ArrayValue {
            values: vec![AnyValue::default(), AnyValue::default()]
        }))
    );
}
