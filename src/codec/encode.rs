//! Protobuf encoding of a whole export request, byte for byte what prost's `encode_to_vec`
//! writes, computing each item's length once.
//!
//! prost writes a nested message as its length and then its fields, and computes that length
//! by walking the message; at every level of nesting the subtree below is walked again. An
//! export request nests its items three levels deep (request → resource → scope → item), so
//! each span, log record or metric was measured four times before being written. Here the
//! envelope (request, resource and scope levels, whose fields are fixed by the OTLP schema) is
//! written by hand from lengths computed once per item, and each item by prost.
//!
//! Place in the flow: the pipeline encodes a processed batch once ([`super::Payload`]), and
//! every protobuf exporter sends those bytes.

use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;

/// The resource level of a request: `resource` = 1, the scopes = 2, `schema_url` = 3 (the same
/// numbers for spans, metrics and logs).
trait ResourceLevel {
    type Scope: ScopeLevel;
    fn parts(&self) -> (Option<&Resource>, &[Self::Scope], &str);
}

/// The scope level: `scope` = 1, the items = 2, `schema_url` = 3.
trait ScopeLevel {
    type Item: Message;
    fn parts(&self) -> (Option<&InstrumentationScope>, &[Self::Item], &str);
}

macro_rules! levels {
    ($resource:ty, $scopes:ident, $scope:ty, $items:ident, $item:ty) => {
        impl ResourceLevel for $resource {
            type Scope = $scope;
            fn parts(&self) -> (Option<&Resource>, &[$scope], &str) {
                // No `..`: a field added to the schema stops the build here.
                let Self {
                    resource,
                    $scopes,
                    schema_url,
                } = self;
                (resource.as_ref(), $scopes, schema_url)
            }
        }
        impl ScopeLevel for $scope {
            type Item = $item;
            fn parts(&self) -> (Option<&InstrumentationScope>, &[$item], &str) {
                let Self {
                    scope,
                    $items,
                    schema_url,
                } = self;
                (scope.as_ref(), $items, schema_url)
            }
        }
    };
}

levels!(
    opentelemetry_proto::tonic::trace::v1::ResourceSpans,
    scope_spans,
    opentelemetry_proto::tonic::trace::v1::ScopeSpans,
    spans,
    opentelemetry_proto::tonic::trace::v1::Span
);
levels!(
    opentelemetry_proto::tonic::logs::v1::ResourceLogs,
    scope_logs,
    opentelemetry_proto::tonic::logs::v1::ScopeLogs,
    log_records,
    opentelemetry_proto::tonic::logs::v1::LogRecord
);
levels!(
    opentelemetry_proto::tonic::metrics::v1::ResourceMetrics,
    scope_metrics,
    opentelemetry_proto::tonic::metrics::v1::ScopeMetrics,
    metrics,
    opentelemetry_proto::tonic::metrics::v1::Metric
);

/// Length of a length-delimited field holding `len` bytes (key of a field number below 16).
fn field_len(len: usize) -> usize {
    key_len(1) + encoded_len_varint(len as u64) + len
}

/// Length of an optional message field.
fn optional_len<M: Message>(m: Option<&M>) -> usize {
    m.map_or(0, |m| field_len(m.encoded_len()))
}

/// Length of a string field, absent when empty (proto3).
fn string_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

/// Writes a request whose field 1 holds `resources`.
fn encode_request<R: ResourceLevel>(resources: &[R]) -> Vec<u8> {
    // Lengths in the order they are written: each resource, then its scopes' and items' own,
    // resource by resource (pre-order), so the writing pass reads them front to back.
    let mut lens: Vec<usize> = Vec::new();
    let mut total = 0;
    for r in resources {
        let (resource, scopes, schema_url) = r.parts();
        let at = lens.len();
        lens.push(0);
        let mut r_len = optional_len(resource) + string_len(schema_url);
        for s in scopes {
            let (scope, items, schema_url) = s.parts();
            let s_at = lens.len();
            lens.push(0);
            let mut s_len = optional_len(scope) + string_len(schema_url);
            for item in items {
                let len = item.encoded_len();
                lens.push(len);
                s_len += field_len(len);
            }
            lens[s_at] = s_len;
            r_len += field_len(s_len);
        }
        lens[at] = r_len;
        total += field_len(r_len);
    }
    let mut buf = Vec::with_capacity(total);
    let mut next = lens.iter().copied();
    let mut len_field = |tag: u32, buf: &mut Vec<u8>| {
        let len = next.next().unwrap_or_default();
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(len as u64, buf);
    };
    for r in resources {
        let (resource, scopes, schema_url) = r.parts();
        len_field(1, &mut buf);
        if let Some(resource) = resource {
            prost::encoding::message::encode(1, resource, &mut buf);
        }
        for s in scopes {
            let (scope, items, schema_url) = s.parts();
            len_field(2, &mut buf);
            if let Some(scope) = scope {
                prost::encoding::message::encode(1, scope, &mut buf);
            }
            for item in items {
                len_field(2, &mut buf);
                item.encode_raw(&mut buf);
            }
            put_schema_url(schema_url, &mut buf);
        }
        put_schema_url(schema_url, &mut buf);
    }
    buf
}

/// Writes `schema_url` as field 3 unless it is empty (proto3).
fn put_schema_url(s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        encode_key(3, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// The protobuf encoding of a traces request.
pub fn traces(r: &ExportTraceServiceRequest) -> Vec<u8> {
    let ExportTraceServiceRequest { resource_spans } = r;
    encode_request(resource_spans)
}

/// The protobuf encoding of a metrics request.
pub fn metrics(r: &ExportMetricsServiceRequest) -> Vec<u8> {
    let ExportMetricsServiceRequest { resource_metrics } = r;
    encode_request(resource_metrics)
}

/// The protobuf encoding of a logs request.
pub fn logs(r: &ExportLogsServiceRequest) -> Vec<u8> {
    let ExportLogsServiceRequest { resource_logs } = r;
    encode_request(resource_logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

    /// Every `.pb` file under `dir`, at any depth.
    fn protobuf_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("list").flatten() {
            let path = entry.path();
            if path.is_dir() {
                protobuf_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "pb") {
                out.push(path);
            }
        }
    }

    #[test]
    fn writes_the_same_bytes_as_prost_for_every_fixture() {
        let mut files = Vec::new();
        protobuf_files(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
            &mut files,
        );
        let mut checked = 0;
        for path in &files {
            let name = path.to_string_lossy().to_string();
            let body = std::fs::read(path).expect("read");
            if name.contains("traces") {
                let r = ExportTraceServiceRequest::decode(body.as_slice()).expect("decode");
                assert_eq!(traces(&r), r.encode_to_vec(), "{name}");
            } else if name.contains("metrics") {
                let r = ExportMetricsServiceRequest::decode(body.as_slice()).expect("decode");
                assert_eq!(metrics(&r), r.encode_to_vec(), "{name}");
            } else if name.contains("logs") {
                let r = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
                assert_eq!(logs(&r), r.encode_to_vec(), "{name}");
            } else {
                continue;
            }
            checked += 1;
        }
        assert!(checked >= 80, "only {checked} of {} fixtures", files.len());
    }

    #[test]
    fn writes_the_same_bytes_as_prost_for_empty_and_missing_parts_and_schema_urls() {
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let kv = KeyValue {
            key: "k".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue("v".repeat(200))),
            }),
            ..Default::default()
        };
        let record = LogRecord {
            attributes: vec![kv.clone(); 3],
            ..Default::default()
        };
        let cases = vec![
            ExportLogsServiceRequest::default(),
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs::default(); 2],
            },
            ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(Resource::default()),
                    scope_logs: vec![
                        ScopeLogs::default(),
                        ScopeLogs {
                            scope: Some(InstrumentationScope {
                                name: "s".into(),
                                attributes: vec![kv.clone()],
                                ..Default::default()
                            }),
                            log_records: [LogRecord::default(), record.clone()]
                                .into_iter()
                                .cycle()
                                .take(140)
                                .collect(),
                            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                        },
                    ],
                    schema_url: "r".repeat(300),
                }],
            },
        ];
        for r in cases {
            assert_eq!(logs(&r), r.encode_to_vec(), "{r:?}");
        }
    }
}
