//! Usage deltas → OTLP requests. Content-free by construction: only counts, the model, the
//! conversation id and Codex's own session metadata (originator, CLI version, source) are copied;
//! no prompt, response or tool text is ever read into these requests.
//!
//! Logs: one record per usage delta, `event.name` = [`EVENT_NAME`], with the token attributes
//! Codex puts on its own `codex.sse_event` records (`input_token_count`, `cached_token_count`,
//! `output_token_count`, `reasoning_token_count`, plus `total_token_count`), as integers.
//! Metrics: one monotonic **delta** sum, [`METRIC_NAME`] (unit `{token}`), a point per
//! (`model`, `token_type`) with `token_type` one of `input`, `cached_input`, `output`,
//! `reasoning_output`, `total` (the values of Codex's `codex.turn.token_usage`), covering the
//! timestamps of the deltas in the request. Resource: `service.name` = the session's originator
//! (`codex_exec`, `codex_cli_rs`, ...; `codex` when unknown), `service.version` = its CLI version,
//! `codex.ingest.source` = `session_file`.

use super::session::{SessionInfo, TokenUsage, UsageDelta};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::BTreeMap;

/// `event.name` of the usage log records.
pub const EVENT_NAME: &str = processors::codex_usage::INGESTED_USAGE;
/// Name of the usage metric (a monotonic delta sum).
pub const METRIC_NAME: &str = "codex.ingest.token_usage";
/// Instrumentation scope of everything `ingest` sends.
pub const SCOPE_NAME: &str = "codex-otel-gateway/ingest";
/// `severity_number` INFO.
const SEVERITY_INFO: i32 = 9;

/// The usage of one session file to send.
#[derive(Debug, Clone)]
pub struct FileUsage {
    /// What the file said about its session.
    pub session: SessionInfo,
    /// The deltas, in file order.
    pub deltas: Vec<UsageDelta>,
}

use processors::kv;

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

fn int(key: &str, value: u64) -> KeyValue {
    kv(
        key,
        any_value::Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
    )
}

fn service(session: &SessionInfo) -> (String, String) {
    (
        session
            .originator
            .clone()
            .unwrap_or_else(|| "codex".to_string()),
        session.cli_version.clone().unwrap_or_default(),
    )
}

fn resource((name, version): &(String, String)) -> Resource {
    let mut attributes = vec![s("service.name", name)];
    if !version.is_empty() {
        attributes.push(s("service.version", version));
    }
    attributes.push(s("codex.ingest.source", "session_file"));
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..InstrumentationScope::default()
    }
}

/// One log record per delta, grouped by resource (originator, CLI version).
pub fn logs(files: &[FileUsage], observed_unix_nano: u64) -> ExportLogsServiceRequest {
    let mut by_resource: BTreeMap<(String, String), Vec<LogRecord>> = BTreeMap::new();
    for f in files {
        let records = by_resource.entry(service(&f.session)).or_default();
        for d in &f.deltas {
            let mut attributes = vec![s("event.name", EVENT_NAME)];
            if !d.timestamp.is_empty() {
                attributes.push(s("event.timestamp", &d.timestamp));
            }
            if let Some(id) = &f.session.conversation_id {
                attributes.push(s("conversation.id", id));
            }
            if let Some(v) = &f.session.cli_version {
                attributes.push(s("app.version", v));
            }
            if let Some(o) = &f.session.originator {
                attributes.push(s("originator", o));
            }
            if let Some(src) = &f.session.source {
                attributes.push(s("session_source", src));
            }
            if let Some(m) = &d.model {
                attributes.push(s("model", m));
            }
            let u = &d.delta;
            attributes.extend([
                int("input_token_count", u.input_tokens),
                int("cached_token_count", u.cached_input_tokens),
                int("output_token_count", u.output_tokens),
                int("reasoning_token_count", u.reasoning_output_tokens),
                int("total_token_count", u.total_tokens),
            ]);
            records.push(LogRecord {
                time_unix_nano: d.time_unix_nano,
                observed_time_unix_nano: observed_unix_nano,
                severity_number: SEVERITY_INFO,
                severity_text: "INFO".to_string(),
                attributes,
                event_name: EVENT_NAME.to_string(),
                ..LogRecord::default()
            });
        }
    }
    ExportLogsServiceRequest {
        resource_logs: by_resource
            .into_iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(svc, log_records)| ResourceLogs {
                resource: Some(resource(&svc)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            })
            .collect(),
    }
}

/// The token types and their counts in a [`TokenUsage`].
fn token_types(u: &TokenUsage) -> [(&'static str, u64); 5] {
    [
        ("input", u.input_tokens),
        ("cached_input", u.cached_input_tokens),
        ("output", u.output_tokens),
        ("reasoning_output", u.reasoning_output_tokens),
        ("total", u.total_tokens),
    ]
}

#[derive(Default)]
struct Acc {
    usage: TokenUsage,
    start: u64,
    end: u64,
}

/// The delta sum [`METRIC_NAME`]: per resource, one point per (model, token type) with the
/// summed deltas; the point spans the earliest to the latest delta timestamp (`now` when none
/// parsed).
pub fn metrics(files: &[FileUsage], now_unix_nano: u64) -> ExportMetricsServiceRequest {
    let mut by_resource: BTreeMap<(String, String), BTreeMap<String, Acc>> = BTreeMap::new();
    for f in files {
        let models = by_resource.entry(service(&f.session)).or_default();
        for d in &f.deltas {
            let model = d.model.clone().unwrap_or_else(|| "unknown".to_string());
            let acc = models.entry(model).or_default();
            acc.usage.add(&d.delta);
            let t = if d.time_unix_nano == 0 {
                now_unix_nano
            } else {
                d.time_unix_nano
            };
            acc.start = if acc.start == 0 { t } else { acc.start.min(t) };
            acc.end = acc.end.max(t);
        }
    }
    let resource_metrics = by_resource
        .into_iter()
        .filter(|(_, models)| !models.is_empty())
        .map(|(svc, models)| {
            let mut data_points = Vec::new();
            for (model, acc) in models {
                for (token_type, n) in token_types(&acc.usage) {
                    data_points.push(NumberDataPoint {
                        attributes: vec![s("model", &model), s("token_type", token_type)],
                        start_time_unix_nano: acc.start,
                        time_unix_nano: acc.end,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(n).unwrap_or(i64::MAX),
                        )),
                        ..NumberDataPoint::default()
                    });
                }
            }
            ResourceMetrics {
                resource: Some(resource(&svc)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: vec![Metric {
                        name: METRIC_NAME.to_string(),
                        description: "Tokens used by Codex sessions, read from session files"
                            .to_string(),
                        unit: "{token}".to_string(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points,
                            aggregation_temporality: AggregationTemporality::Delta as i32,
                            is_monotonic: true,
                        })),
                        ..Metric::default()
                    }],
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_codex_token_attribute_names_and_points_sum_the_deltas() {
        let delta = |input, t| UsageDelta {
            timestamp: "2026-11-21T09:45:38.039Z".into(),
            time_unix_nano: t,
            model: Some("gpt-5.1-codex".into()),
            delta: TokenUsage {
                input_tokens: input,
                cached_input_tokens: 1,
                output_tokens: 2,
                reasoning_output_tokens: 1,
                total_tokens: input + 2,
            },
        };
        let files = [FileUsage {
            session: SessionInfo {
                conversation_id: Some("c1".into()),
                originator: Some("codex_exec".into()),
                ..SessionInfo::default()
            },
            deltas: vec![delta(10, 100), delta(20, 200)],
        }];
        let l = logs(&files, 5);
        let records = &l.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 2);
        let keys: Vec<_> = records[0]
            .attributes
            .iter()
            .map(|a| a.key.as_str())
            .collect();
        for k in [
            "event.name",
            "conversation.id",
            "model",
            "input_token_count",
            "cached_token_count",
            "output_token_count",
            "reasoning_token_count",
        ] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
        let m = metrics(&files, 7);
        let Some(metric::Data::Sum(sum)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("a sum")
        };
        assert_eq!(sum.data_points.len(), 5);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(30))
        );
        assert_eq!(sum.data_points[0].start_time_unix_nano, 100);
        assert_eq!(sum.data_points[0].time_unix_nano, 200);
        assert!(logs(&[], 0).resource_logs.is_empty());
        assert!(metrics(&[], 0).resource_metrics.is_empty());
    }
}
