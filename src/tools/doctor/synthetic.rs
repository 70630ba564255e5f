//! The synthetic data `doctor` sends through each exporter: one span, one log record, one
//! cumulative counter point (cumulative, so `prometheusremotewrite` takes it too), all under
//! `service.name = codex-otel-gateway-doctor` so a backend's user can find and ignore them.

use crate::codec::{Batch, Payload};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use processors::Signal;
use std::time::{SystemTime, UNIX_EPOCH};

/// `service.name` of everything `doctor` sends.
pub const SERVICE_NAME: &str = "codex-otel-gateway-doctor";
/// The span's name, the log record's event name and the metric's name.
pub const NAME: &str = "codex_otel_gateway.doctor.probe";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![text("service.name", SERVICE_NAME)],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "codex-otel-gateway doctor".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One item of `signal`, as the batch every exporter client takes.
pub fn batch(signal: Signal) -> Batch {
    let now = now_nanos();
    let payload: Payload = match signal {
        Signal::Traces => ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: vec![Span {
                        trace_id: rand::random::<[u8; 16]>().to_vec(),
                        span_id: rand::random::<[u8; 8]>().to_vec(),
                        name: NAME.to_string(),
                        start_time_unix_nano: now.saturating_sub(1_000_000),
                        end_time_unix_nano: now,
                        kind: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .into(),
        Signal::Logs => ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: vec![LogRecord {
                        time_unix_nano: now,
                        observed_time_unix_nano: now,
                        severity_number: 9,
                        severity_text: "INFO".to_string(),
                        event_name: NAME.to_string(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(
                                "synthetic record sent by codex-otel-gateway doctor".to_string(),
                            )),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .into(),
        Signal::Metrics => ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![Metric {
                        name: NAME.to_string(),
                        description: "synthetic point sent by codex-otel-gateway doctor"
                            .to_string(),
                        unit: "1".to_string(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                start_time_unix_nano: now.saturating_sub(1_000_000_000),
                                time_unix_nano: now,
                                value: Some(number_data_point::Value::AsInt(1)),
                                ..Default::default()
                            }],
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .into(),
    };
    Batch::new(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_gets_one_item() {
        for s in Signal::ALL {
            let b = batch(s);
            assert_eq!(b.signal(), s);
            assert_eq!(b.items(), 1);
        }
    }
}
