//! Vendor fit (issue 16, item 3): each vendor profile of `config/examples/`, run as shipped with
//! its exporter pointed at an in-test backend, takes a real Codex CLI session, and what arrives
//! is what the vendor's docs and dashboards read:
//!
//! * Last9 and Grafana Cloud translate OpenTelemetry metric names to Prometheus names
//!   themselves (the OTel specification's Prometheus compatibility rules, which both document;
//!   `processors::metric_names::prometheus_name` implements them). Applied to what the gateway
//!   sends, every name their Codex docs and dashboards query exists, with data and CUMULATIVE
//!   temporality (Mimir and Last9 store cumulative series).
//! * SigNoz keeps dotted names: Codex's dotted metric names and dotted log attribute keys arrive.
//! * Every profile: log records carry real timestamps (not 0) and numbers as numbers
//!   (`duration_ms`, `*_token_count`), which the `codex` normaliser makes of Codex's strings.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, AggregationTemporality, Metric};

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::gateway::{free_port, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use crate::support::shipped::root;
use processors::metric_names::{prometheus_name, MetricKind};

const WAIT: Duration = Duration::from_secs(60);

/// What a session through one profile delivered to its backend.
struct Delivered {
    backend: FakeBackend,
}

/// Runs the profile `file` of config/examples with `env_name` pointing its exporter at a fresh
/// backend (`url_suffix` appended), and a real Codex session with one tool call through it.
async fn deliver(file: &str, grpc_backend: bool, env_name: &str, url_suffix: &str) -> Delivered {
    let backend = if grpc_backend {
        FakeBackend::grpc().await
    } else {
        FakeBackend::http().await
    };
    let yaml =
        std::fs::read_to_string(root().join("config/examples").join(file)).expect("read profile");
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let env = [
        (
            env_name.to_string(),
            format!("http://{}{url_suffix}", backend.addr()),
        ),
        ("GATEWAY_GRPC_ENDPOINT".into(), format!("127.0.0.1:{grpc}")),
        ("GATEWAY_HTTP_ENDPOINT".into(), format!("127.0.0.1:{http}")),
        (
            "GATEWAY_ADMIN_ENDPOINT".into(),
            format!("127.0.0.1:{admin}"),
        ),
        (
            "REDACTION_HASH_KEY".into(),
            "vendor-fit-test-key-0123456789".into(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut gateway = Gateway::start_with_env(&yaml, &[grpc, http, admin], &env).await;
    let llm = MockLlm::start(Script::with_tool_calls(["echo hello"], "Done.")).await;
    let session = CodexSession::new(
        CodexVersion::V0_171,
        "say hello",
        &llm.base_url(),
        OtelProtocol::HttpBinary,
        &format!("http://127.0.0.1:{http}"),
    );
    session.run().await.assert_success();
    let arrived = backend
        .wait_for(
            |b| {
                let logs = b.received_logs();
                let tool = all_log_records(&logs).iter().any(|r| {
                    attr_text(&r.attributes, "event.name").as_deref() == Some("codex.tool_result")
                });
                tool && !b.received_metrics().is_empty()
            },
            WAIT,
        )
        .await;
    assert!(
        arrived,
        "{file}: logs and metrics reached the backend: {}",
        backend.describe()
    );
    // Let the last metric requests (the usage pipeline's) land before the gateway stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        gateway.stop().await.success(),
        "{file}: the gateway stops cleanly"
    );
    Delivered { backend }
}

fn metrics(d: &Delivered) -> Vec<Metric> {
    d.backend
        .received_metrics()
        .into_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .collect()
}

/// The Prometheus series names a translating backend makes of `m` (with data), and whether
/// it is cumulative (gauges count as cumulative: they have no temporality).
fn translated(m: &Metric) -> (Vec<String>, bool, bool) {
    let Some(kind) = MetricKind::of(m) else {
        return (Vec::new(), false, false);
    };
    let base = prometheus_name(&m.name, &m.unit, kind);
    let cumulative = AggregationTemporality::Cumulative as i32;
    let (names, has_data, is_cumulative) = match &m.data {
        Some(Data::Histogram(h)) => (
            vec![
                format!("{base}_bucket"),
                format!("{base}_sum"),
                format!("{base}_count"),
            ],
            h.data_points.iter().any(|p| p.count > 0),
            h.aggregation_temporality == cumulative,
        ),
        Some(Data::Sum(s)) => (
            vec![base],
            !s.data_points.is_empty(),
            s.aggregation_temporality == cumulative,
        ),
        Some(Data::Gauge(g)) => (vec![base], !g.data_points.is_empty(), true),
        _ => (vec![base], true, false),
    };
    (names, has_data, is_cumulative)
}

/// Every name in `wanted` is a translated series with data and cumulative temporality.
fn assert_prometheus_names(profile: &str, d: &Delivered, wanted: &[&str]) {
    let mut available = BTreeSet::new();
    let mut delta = BTreeSet::new();
    for m in metrics(d) {
        let (names, has_data, cumulative) = translated(&m);
        for n in names {
            if !cumulative {
                delta.insert(n.clone());
            }
            if has_data && cumulative {
                available.insert(n);
            }
        }
    }
    assert!(
        delta.is_empty(),
        "{profile}: metrics sent with delta temporality: {delta:?}"
    );
    eprintln!(
        "{profile}: {} translated series names with data",
        available.len()
    );
    let missing: Vec<&&str> = wanted.iter().filter(|w| !available.contains(**w)).collect();
    assert!(
        missing.is_empty(),
        "{profile}: queried names missing after translation: {missing:?}\navailable: {available:?}"
    );
}

/// Log records have real timestamps and typed numbers.
fn assert_logs_are_typed(profile: &str, d: &Delivered) {
    let logs = d.backend.received_logs();
    let records = all_log_records(&logs);
    assert!(!records.is_empty(), "{profile}: logs arrived");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let hour = 3_600_000_000_000u64;
    let mut numbers = 0;
    for r in &records {
        assert!(
            r.time_unix_nano > now - hour && r.time_unix_nano < now + hour,
            "{profile}: a log record's time_unix_nano is {} (now {now})",
            r.time_unix_nano
        );
        for kv in &r.attributes {
            if kv.key == "duration_ms" || kv.key.ends_with("_token_count") {
                let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                assert!(
                    matches!(
                        v,
                        Some(AnyValueKind::IntValue(_) | AnyValueKind::DoubleValue(_))
                    ),
                    "{profile}: {} is {v:?}, not a number",
                    kv.key
                );
                numbers += 1;
            }
        }
    }
    assert!(
        numbers > 0,
        "{profile}: the logs carried duration_ms / *_token_count fields"
    );
}

/// The metric names Last9's Codex guide (https://last9.io/docs/integrations/codex/) and the
/// Grafana dashboards in deploy/grafana chart, and the usage metrics the profiles add.
const PROMETHEUS_QUERIED: &[&str] = &[
    "codex_turn_token_usage_sum",
    "codex_turn_token_usage_count",
    "codex_tool_call_total",
    "codex_turn_ttft_duration_ms_milliseconds_bucket",
    "codex_turn_e2e_duration_ms_milliseconds_bucket",
    "codex_tokens_total",
    "codex_tool_calls_total",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last9_profile_delivers_every_name_its_codex_guide_queries_cumulative_after_translation() {
    let d = deliver("last9.yaml", false, "LAST9_OTLP_ENDPOINT", "").await;
    assert_prometheus_names("last9", &d, PROMETHEUS_QUERIED);
    assert_logs_are_typed("last9", &d);
    let reqs = d.backend.requests();
    assert!(reqs.iter().all(|r| r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic "))));
    // Logs by service.name = codex_exec, as the guide filters them.
    let logs = d.backend.received_logs();
    assert!(logs.iter().flat_map(|r| &r.resource_logs).any(|r| {
        r.resource.as_ref().is_some_and(|res| {
            attr_text(&res.attributes, "service.name").as_deref() == Some("codex_exec")
        })
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_cloud_profile_delivers_cumulative_metrics_under_the_names_its_translation_gives() {
    let d = deliver(
        "grafana-cloud.yaml",
        false,
        "GRAFANA_CLOUD_OTLP_ENDPOINT",
        "/otlp",
    )
    .await;
    // The OTLP gateway's paths: /otlp/v1/<signal>.
    assert!(
        d.backend
            .requests()
            .iter()
            .all(|r| r.path.starts_with("/otlp/v1/")),
        "{}",
        d.backend.describe()
    );
    assert_prometheus_names("grafana-cloud", &d, PROMETHEUS_QUERIED);
    assert_logs_are_typed("grafana-cloud", &d);
    // Units kept for Grafana's translation (ms -> _milliseconds).
    assert!(metrics(&d)
        .iter()
        .any(|m| m.name == "codex.turn.ttft.duration_ms" && m.unit == "ms"));
    // The log fields a Codex logs dashboard reads.
    let logs = d.backend.received_logs();
    let records = all_log_records(&logs);
    for key in [
        "model",
        "conversation.id",
        "duration_ms",
        "input_token_count",
        "output_token_count",
    ] {
        assert!(
            records
                .iter()
                .any(|r| r.attributes.iter().any(|kv| kv.key == key)),
            "log key {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signoz_profile_delivers_dotted_metric_names_and_dotted_log_keys() {
    let d = deliver("signoz.yaml", true, "SIGNOZ_OTLP_ENDPOINT", "").await;
    let names: BTreeSet<String> = metrics(&d).into_iter().map(|m| m.name).collect();
    for dotted in [
        "codex.tool.call",
        "codex.turn.token_usage",
        "codex.turn.ttft.duration_ms",
    ] {
        assert!(names.contains(dotted), "{dotted} not in {names:?}");
    }
    assert!(
        names.iter().all(|n| !n.starts_with("codex_")),
        "no underscored names: {names:?}"
    );
    let logs = d.backend.received_logs();
    let records = all_log_records(&logs);
    for key in ["event.name", "conversation.id"] {
        assert!(
            records
                .iter()
                .any(|r| r.attributes.iter().any(|kv| kv.key == key)),
            "log key {key}"
        );
    }
    assert_logs_are_typed("signoz", &d);
    let reqs = d.backend.requests();
    assert!(reqs
        .iter()
        .all(|r| r.header("signoz-ingestion-key").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_profile_delivers_typed_logs_and_cumulative_metrics() {
    let d = deliver("otlp.yaml", false, "OTLP_ENDPOINT", "").await;
    assert_logs_are_typed("otlp", &d);
    let delta: Vec<String> = metrics(&d)
        .iter()
        .filter(|m| !translated(m).2)
        .map(|m| m.name.clone())
        .collect();
    assert!(delta.is_empty(), "delta metrics: {delta:?}");
}
