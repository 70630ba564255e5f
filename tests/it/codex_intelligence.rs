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

/// A gateway with the `codex` normaliser, the `codex_usage` connector and one `otlp` exporter
/// to a fresh in-test backend; `pipelines` is the body of `service: pipelines:`.
async fn usage_gateway(pipelines: &str) -> (FakeBackend, Gateway, u16, u16) {
    gateway::rig(
        "",
        "processors:\n  codex: {}\nconnectors:\n  codex_usage: {}",
        pipelines,
    )
    .await
    .into_parts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_connector_turns_a_replayed_session_into_token_and_tool_counters() {
    let (backend, mut gw, http, admin) = usage_gateway(
        // No processors: the connector still sees every decoded request (no byte pass-through).
        "    logs: { receivers: [otlp], exporters: [codex_usage] }
    metrics/usage: { receivers: [codex_usage], exporters: [otlp] }
    traces: { receivers: [otlp], processors: [codex], exporters: [otlp] }",
    )
    .await;
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

async fn a_real_codex_session_yields_the_usage_codex_reports_in_its_own_token_metric(
    version: crate::support::codex::CodexVersion,
) {
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
    let (backend, mut gw, http, _) = usage_gateway(
        "    logs: { receivers: [otlp], processors: [codex], exporters: [otlp, codex_usage] }
    metrics: { receivers: [otlp], exporters: [otlp] }
    metrics/usage: { receivers: [codex_usage], exporters: [otlp] }",
    )
    .await;
    let session = CodexSession::new(
        version,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_codex_0_169_session_yields_the_usage_codex_reports_in_its_own_token_metric() {
    a_real_codex_session_yields_the_usage_codex_reports_in_its_own_token_metric(
        crate::support::codex::CodexVersion::V0_169,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_codex_0_171_session_yields_the_usage_codex_reports_in_its_own_token_metric() {
    a_real_codex_session_yields_the_usage_codex_reports_in_its_own_token_metric(
        crate::support::codex::CodexVersion::V0_171,
    )
    .await;
}

/// What one replay of `failing-tool-loop-protobuf` through the full Codex logs chain produced.
struct Replay {
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    sent_logs: Vec<ExportLogsServiceRequest>,
    admin_text: String,
}

impl Replay {
    fn alert_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = all_log_records(&self.logs)
            .into_iter()
            .filter(|r| {
                attr_text(&r.attributes, "event.name").as_deref() == Some("codex.gateway.alert")
            })
            .filter_map(|r| attr_text(&r.attributes, "alert.kind"))
            .collect();
        kinds.sort();
        kinds
    }
}

/// Prices of the test's `cost` table (USD per 1M tokens), distinct so a mix-up shows.
const PRICES: [f64; 4] = [2.0, 0.5, 8.0, 12.0];

async fn replay_tool_loop(max_tokens: u64, consecutive_failures: u32) -> Replay {
    let backend = FakeBackend::grpc().await;
    let (http, admin) = (free_port(), free_port());
    let [input, cached, output, reasoning] = PRICES;
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
  team:
    rules:
      - name: repo
        match: {{ resource_attribute: {{ key: service.name, value: codex_exec }} }}
        set: {{ team: payments, project: payments-service }}
    default: {{ team: unknown }}
  genai: {{}}
  cost:
    models:
      gpt-5.1-codex: {{ input: {input}, cached_input: {cached}, output: {output}, reasoning: {reasoning} }}
  codex_anomaly:
    runaway_session: {{ max_tokens: {max_tokens} }}
    tool_failure_loop: {{ consecutive_failures: {consecutive_failures} }}
connectors:
  codex_usage: {{}}
exporters:
  otlp: {{ endpoint: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex, team, genai, cost, codex_anomaly], exporters: [otlp, codex_usage] }}
    metrics: {{ receivers: [otlp], processors: [codex, team], exporters: [otlp] }}
    traces: {{ receivers: [otlp], processors: [codex, team], exporters: [otlp] }}
    metrics/usage: {{ receivers: [codex_usage], exporters: [otlp] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let session = fixtures::session_fixtures("failing-tool-loop-protobuf");
    let base = format!("http://127.0.0.1:{http}");
    for f in &session {
        let (status, _, _) = gateway::post_fixture(&base, f).await;
        assert_eq!(status, 200, "{}", f.label());
    }
    let sent_logs = fixtures::logs_of(&session);
    let n = fixtures::count_log_records(&sent_logs);
    assert!(
        backend
            .wait_for(
                |b| b.log_record_count() >= n
                    && fixtures::all_metrics(&b.received_metrics())
                        .iter()
                        .any(|m| m.name == "codex_tokens"),
                WAIT
            )
            .await,
        "{}",
        backend.describe()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let admin_text = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let replay = Replay {
        logs: backend.received_logs(),
        metrics: backend.received_metrics(),
        sent_logs,
        admin_text,
    };
    assert!(gw.stop().await.success());
    replay
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_loop_replay_counts_tokens_and_dollars_exactly_and_alerts_once_per_kind() {
    let r = replay_tool_loop(500_000, 5).await;
    let sums = [
        "input_token_count",
        "cached_token_count",
        "output_token_count",
        "reasoning_token_count",
    ]
    .map(|k| token_sum(&r.sent_logs, k) as f64);
    assert_eq!(sums, [720_036.0, 160_000.0, 24_000.0, 12_000.0]);
    for (i, ty) in ["input", "cached_input", "output", "reasoning_output"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            latest_total(&r.metrics, "codex_tokens", "token_type", ty),
            sums[i],
            "{ty}"
        );
        assert_eq!(
            latest_total(&r.metrics, "codex_tokens", "team", "payments"),
            sums.iter().sum::<f64>(),
            "every token point carries the team"
        );
    }
    // Codex's input includes the cached tokens and its output the reasoning ones.
    let [input, cached, output, reasoning] = sums;
    let expected = ((input - cached) * PRICES[0]
        + cached * PRICES[1]
        + (output - reasoning) * PRICES[2]
        + reasoning * PRICES[3])
        / 1e6;
    let cost = latest_total(&r.metrics, "codex_cost_usd", "model", "gpt-5.1-codex");
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
    // Each priced usage event carries its own cost.
    let per_event: f64 = all_log_records(&r.logs)
        .into_iter()
        .filter_map(
            |lr| match attr(&lr.attributes, "cost.usd").and_then(|v| v.value.as_ref()) {
                Some(Value::DoubleValue(d)) => Some(*d),
                _ => None,
            },
        )
        .sum();
    assert!((per_event - expected).abs() < 1e-9, "{per_event}");

    assert_eq!(r.alert_kinds(), ["runaway_session", "tool_failure_loop"]);
    let alert = all_log_records(&r.logs)
        .into_iter()
        .find(|lr| attr_text(&lr.attributes, "alert.kind").as_deref() == Some("tool_failure_loop"))
        .expect("alert");
    assert_eq!(
        attr_text(&alert.attributes, "conversation.id").as_deref(),
        Some("01a1fc6e-fa43-71b0-95bd-d025fbd0e34c")
    );
    assert_eq!(
        attr_text(&alert.attributes, "team").as_deref(),
        Some("payments")
    );
    for kind in ["runaway_session", "tool_failure_loop"] {
        assert_eq!(
            latest_total(&r.metrics, "codex_alerts", "kind", kind),
            1.0,
            "{kind}"
        );
        let line = format!(
            "gateway_processor_events_total{{processor=\"codex_anomaly\",event=\"alerts\",rule=\"{kind}\"}} 1"
        );
        assert!(
            r.admin_text.lines().any(|l| l == line),
            "{line}\n{}",
            r.admin_text
        );
    }
    // genai semantic conventions ride along on the usage events.
    assert!(all_log_records(&r.logs).iter().any(|lr| {
        attr(&lr.attributes, "gen_ai.usage.input_tokens").is_some()
            && attr_text(&lr.attributes, "gen_ai.request.model").as_deref() == Some("gpt-5.1-codex")
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_loop_replay_raises_no_alert_with_thresholds_above_the_session() {
    // 744,036 tokens and six failures in a row: just above both.
    let r = replay_tool_loop(744_036, 7).await;
    assert!(r.alert_kinds().is_empty(), "{:?}", r.alert_kinds());
    assert_eq!(latest_total(&r.metrics, "codex_alerts", "", ""), 0.0);
    assert!(latest_total(&r.metrics, "codex_tokens", "token_type", "input") > 0.0);
}

#[test]
fn the_shipped_price_table_says_when_and_where_each_price_was_read() {
    use codex_otel_gateway::pipeline::processors::ProcessorConfig;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/codex-full.yaml"
    );
    let text = std::fs::read_to_string(path).expect("read");
    let cfg = codex_otel_gateway::config::load_str(&text, &|_| None)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .config;
    let Some(ProcessorConfig::Cost(cost)) = cfg.processors.get("cost") else {
        panic!("codex-full.yaml has a cost processor");
    };
    assert!(cost.models.len() >= 9);
    for (model, p) in &cost.models {
        assert!(p.as_of.is_some(), "{model}: as_of");
        assert!(p.source_url.is_some(), "{model}: source_url");
        // A price not read on OpenAI's own pages is marked as an estimate.
        let openai = p
            .source_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://developers.openai.com/"));
        assert!(
            openai || p.estimate,
            "{model}: not from OpenAI, not marked estimate"
        );
    }
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/codex.md"))
        .expect("docs/codex.md");
    for model in cost
        .models
        .iter()
        .filter(|(_, p)| p.estimate)
        .map(|(m, _)| m)
    {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| {model} |")))
            .unwrap_or_else(|| panic!("{model} has a row in docs/codex.md"));
        assert!(row.contains("estimate"), "{model}: {row}");
    }
}

/// The real Codex 0.171.0 app-server session whose turn Codex priced (see
/// `tests/fixtures/codex-0.171.0/README.md`): its logs requests.
fn turn_cost_session() -> Vec<fixtures::Fixture> {
    let (dir, session) = fixtures::versioned_sessions()
        .into_iter()
        .find(|(_, s)| s == "app-server-turn-cost")
        .expect("the 0.171.0 turn-cost capture");
    fixtures::session_fixtures_in(&dir, &session)
        .into_iter()
        .filter(|f| matches!(f.decode(), fixtures::Payload::Logs(_)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_s_reported_turn_cost_and_the_table_price_arrive_side_by_side_with_their_difference()
{
    let [input, cached, output, reasoning] = PRICES;
    let (backend, mut gw, http, admin) = gateway::rig(
        "",
        &format!(
            "processors:
  codex: {{}}
  cost:
    source: both
    models:
      gpt-5.1-codex: {{ input: {input}, cached_input: {cached}, output: {output}, reasoning: {reasoning} }}
connectors:
  codex_usage: {{}}"
        ),
        "    logs: { receivers: [otlp], processors: [codex, cost], exporters: [otlp, codex_usage] }
    metrics/usage: { receivers: [codex_usage], exporters: [otlp] }",
    )
    .await
    .into_parts();
    let base = format!("http://127.0.0.1:{http}");
    for f in turn_cost_session() {
        let (status, _, _) = gateway::post_fixture(&base, &f).await;
        assert_eq!(status, 200, "{}", f.label());
    }
    // The model script: one tool call then the answer, each step reporting input 1200 + n,
    // cached 1000, output 42, reasoning 7; and the turn priced at 0.0123456 USD.
    let (steps, n_sum) = (2.0, 3.0);
    let tokens = [
        1200.0 * steps + n_sum,
        1000.0 * steps,
        42.0 * steps,
        7.0 * steps,
    ];
    let table = ((tokens[0] - tokens[1]) * input
        + tokens[1] * cached
        + (tokens[2] - tokens[3]) * output
        + tokens[3] * reasoning)
        / 1e6;
    let reported = 0.0123456;
    let ok = backend
        .wait_for(
            |b| {
                let got = b.received_metrics();
                latest_total(&got, "codex_cost_reconciliation_usd", "", "") != 0.0
            },
            WAIT,
        )
        .await;
    assert!(ok, "{}\n{}", backend.describe(), gw.output_report());
    let got = backend.received_metrics();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    let priced = latest_total(&got, "codex_cost_usd", "cost_source", "price_table");
    assert!(close(priced, table), "{priced} vs {table}");
    let theirs = latest_total(&got, "codex_cost_usd", "cost_source", "reported");
    assert!(close(theirs, reported), "{theirs}");
    let diff = latest_total(&got, "codex_cost_reconciliation_usd", "", "");
    assert!(
        close(diff, reported - table),
        "{diff} vs {}",
        reported - table
    );
    assert_eq!(
        latest_total(&got, "codex_tokens", "token_type", "input"),
        tokens[0]
    );
    wait_for_metrics(
        admin,
        &["gateway_processor_events_total{processor=\"cost\",event=\"cost_reported\",rule=\"gpt-5.1-codex\"} 1".into()],
    )
    .await;
    assert!(gw.stop().await.success());
}
