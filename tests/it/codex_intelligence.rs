//! Codex intelligence through the real binary: the `codex_usage` connector (logs → metrics),
//! `cost`, `codex_anomaly` and `genai`, on the captured Codex sessions.

use crate::bad_requests::wait_for_metrics;
use crate::support::backends::FakeBackend;
use crate::support::fixtures::{self, all_log_records, attr, attr_text};
use crate::support::gateway::{self, free_port, Gateway};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Sums of one `*_token_count` attribute over the `response.completed` events of `logs`,
/// computed from the fixture itself (Codex sends the counts as strings).
pub fn token_sum(logs: &[ExportLogsServiceRequest], key: &str) -> i64 {
    all_log_records(logs)
        .into_iter()
        .filter(|r| attr_text(&r.attributes, "event.kind").as_deref() == Some("response.completed"))
        .filter_map(
            |r| match attr(&r.attributes, key).and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.parse::<i64>().ok(),
                Some(Value::IntValue(n)) => Some(*n),
                _ => None,
            },
        )
        .sum()
}

/// The latest cumulative value of every `name` point whose attribute `key` is `value`, summed
/// over streams (the last request carrying a stream holds its running total).
pub fn latest_total(
    got: &[ExportMetricsServiceRequest],
    name: &str,
    key: &str,
    value: &str,
) -> f64 {
    let mut latest: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
    for m in fixtures::all_metrics(got)
        .into_iter()
        .filter(|m| m.name == name)
    {
        let Some(metric::Data::Sum(s)) = &m.data else {
            continue;
        };
        assert_eq!(
            s.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        for p in &s.data_points {
            if !key.is_empty() && attr_text(&p.attributes, key).as_deref() != Some(value) {
                continue;
            }
            let v = match p.value {
                Some(number_data_point::Value::AsInt(n)) => n as f64,
                Some(number_data_point::Value::AsDouble(d)) => d,
                None => continue,
            };
            let id = prost::Message::encode_to_vec(
                &opentelemetry_proto::tonic::common::v1::KeyValueList {
                    values: p.attributes.clone(),
                },
            );
            latest.insert(id, v);
        }
    }
    latest.values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_connector_turns_a_replayed_session_into_token_and_tool_counters() {
    let backend = FakeBackend::grpc().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
connectors:
  codex_usage: {{}}
exporters:
  otlp: {{ endpoint: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex], exporters: [codex_usage] }}
    metrics/usage: {{ receivers: [codex_usage], exporters: [otlp] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let logs = fixtures::fixture("failing-tool-loop-protobuf", "005_logs.pb");
    let sent = fixtures::logs_of(std::slice::from_ref(&logs));
    let (status, _, _) = gateway::post_fixture(&format!("http://127.0.0.1:{http}"), &logs).await;
    assert_eq!(
        status, 200,
        "a logs pipeline whose only exporter is a connector accepts"
    );
    assert!(backend.wait_for(|b| b.data_point_count() > 0, WAIT).await);
    let got = backend.received_metrics();
    for (key, ty) in [
        ("input_token_count", "input"),
        ("cached_token_count", "cached_input"),
        ("output_token_count", "output"),
        ("reasoning_token_count", "reasoning_output"),
    ] {
        assert_eq!(
            latest_total(&got, "codex_tokens", "token_type", ty),
            token_sum(&sent, key) as f64,
            "{ty}"
        );
    }
    assert_eq!(
        latest_total(&got, "codex_tool_calls", "tool_name", "exec_command"),
        7.0
    );
    assert_eq!(
        latest_total(&got, "codex_api_requests", "error", "false"),
        8.0
    );
    wait_for_metrics(
        admin,
        &[
            format!(
                "gateway_connector_received_log_records_total{{connector=\"codex_usage\"}} {}",
                fixtures::count_log_records(&sent)
            ),
            "gateway_connector_dropped_metric_points_total{connector=\"codex_usage\"} 0".into(),
        ],
    )
    .await;
    assert!(gw.stop().await.success());
}

/// Sum of Codex's own `codex.turn.token_usage` histogram sums for one `token_type`.
fn codex_reported(got: &[ExportMetricsServiceRequest], token_type: &str) -> f64 {
    fixtures::all_metrics(got)
        .into_iter()
        .filter(|m| m.name == "codex.turn.token_usage")
        .flat_map(|m| match &m.data {
            Some(metric::Data::Histogram(h)) => h.data_points.clone(),
            _ => Vec::new(),
        })
        .filter(|p| attr_text(&p.attributes, "token_type").as_deref() == Some(token_type))
        .filter_map(|p| p.sum)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_codex_session_yields_the_usage_codex_reports_in_its_own_token_metric() {
    use crate::support::codex::{CodexSession, OtelProtocol};
    use crate::support::mock_llm::{MockLlm, Script, Usage};
    let mut script = Script::with_tool_calls(["echo one", "false", "echo three"], "Done.");
    script.usage = Usage {
        input: 5_321,
        cached: 4_096,
        output: 377,
        reasoning: 128,
    };
    let llm = MockLlm::start(script).await;
    let backend = FakeBackend::grpc().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
connectors:
  codex_usage: {{}}
exporters:
  otlp: {{ endpoint: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex], exporters: [otlp, codex_usage] }}
    metrics: {{ receivers: [otlp], exporters: [otlp] }}
    metrics/usage: {{ receivers: [codex_usage], exporters: [otlp] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let session = CodexSession::new(
        "Check the build",
        &llm.base_url(),
        OtelProtocol::HttpBinary,
        &format!("http://127.0.0.1:{http}"),
    );
    session.run().await.assert_success();
    let ok = backend
        .wait_for(
            |b| {
                let got = b.received_metrics();
                codex_reported(&got, "total") > 0.0
                    && latest_total(&got, "codex_tokens", "token_type", "output") > 0.0
            },
            WAIT,
        )
        .await;
    assert!(ok, "{}\n{}", backend.describe(), gw.output_report());
    let got = backend.received_metrics();
    for ty in ["input", "cached_input", "output", "reasoning_output"] {
        let ours = latest_total(&got, "codex_tokens", "token_type", ty);
        assert!(ours > 0.0, "{ty}");
        assert_eq!(
            ours,
            codex_reported(&got, ty),
            "{ty}: events vs codex.turn.token_usage"
        );
    }
    // Four model steps (three tool calls, then the answer), each reporting the script's usage.
    assert_eq!(
        latest_total(&got, "codex_tokens", "token_type", "cached_input"),
        4.0 * 4_096.0
    );
    assert_eq!(
        latest_total(&got, "codex_tool_calls", "tool_name", "exec_command"),
        3.0
    );
    assert!(gw.stop().await.success());
}
