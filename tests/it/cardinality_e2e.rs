//! The `cardinality` processor through the real binary: an adversarial stream of one million
//! distinct attribute values keeps the gateway's memory (peak RSS, `VmHWM`) within a configured
//! bound, leaves at most `max_attribute_sets` series per metric at the backend, and loses no
//! value (the overflow series carries the rest, exactly); every overflowed point is counted.
//! A real Codex 0.171.0 session through the Codex preset loses its per-turn labels.

use crate::support::backends::FakeBackend;
use crate::support::fixtures::{self, attr_text};
use crate::support::gateway;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
/// Distinct ids sent.
const IDS: usize = 1_000_000;
/// Points per request.
const BATCH: usize = 10_000;
/// The guard's limit per metric.
const LIMIT: usize = 1_000;
/// The configured memory bound: the memory limiter's limit, and what the peak RSS must stay under.
const RSS_BOUND_MIB: u64 = 160;

fn kv(key: &str, v: &str) -> KeyValue {
    processors::kv(key, Value::StringValue(v.into()))
}

/// One request of `BATCH` delta points of `codex.tool.call`, each with a new `call_id`-like id
/// the guard is not told to strip.
fn batch(first: usize, t: u64) -> Vec<u8> {
    let points = (first..first + BATCH)
        .map(|i| NumberDataPoint {
            attributes: vec![
                kv("request.id", &format!("{i:08}-9f2c")),
                kv("tool", "exec_command"),
                kv("app.version", "0.171.0"),
            ],
            start_time_unix_nano: t,
            time_unix_nano: t + 1,
            value: Some(number_data_point::Value::AsInt(1)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![kv("service.name", "codex_exec")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "codex.tool.call".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: points,
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Peak resident set size of `pid`, in bytes (`VmHWM` of `/proc/<pid>/status`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// Latest cumulative value per attribute set of `codex.tool.call` at the backend.
fn latest_by_set(got: &[ExportMetricsServiceRequest]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for m in fixtures::all_metrics(got)
        .into_iter()
        .filter(|m| m.name == "codex.tool.call")
    {
        let Some(metric::Data::Sum(s)) = &m.data else {
            continue;
        };
        for p in &s.data_points {
            let key = fixtures::render_attributes(&p.attributes);
            if let Some(number_data_point::Value::AsInt(v)) = p.value {
                out.insert(key, v);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardinality_guard_keeps_memory_bounded_under_a_million_distinct_ids() {
    let (backend, mut gw, http, admin) = gateway::rig(
        "",
        &format!(
            "processors:
  memory_limiter: {{ limit: {RSS_BOUND_MIB}MiB, spike_limit: 32MiB, check_interval: 50ms }}
  cardinality: {{ max_attribute_sets: {LIMIT}, preset: codex }}
  delta_to_cumulative: {{ max_streams: 10000 }}"
        ),
        "    metrics: { receivers: [otlp], processors: [memory_limiter, cardinality, delta_to_cumulative], exporters: [otlp] }",
    )
    .await
    .into_parts();
    let url = format!("http://127.0.0.1:{http}/v1/metrics");
    for (n, first) in (0..IDS).step_by(BATCH).enumerate() {
        let (status, _, answer) = gateway::post(
            &url,
            fixtures::PROTOBUF,
            None,
            batch(first, 1_000 + n as u64 * 10),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    // Every value arrives: LIMIT − 1 series of one point each, the rest in the overflow series.
    let ok = backend
        .wait_for(
            |b| latest_by_set(&b.received_metrics()).values().sum::<i64>() == IDS as i64,
            WAIT,
        )
        .await;
    let by_set = latest_by_set(&backend.received_metrics());
    assert!(
        ok,
        "sum {} over {} series\n{}",
        by_set.values().sum::<i64>(),
        by_set.len(),
        gw.output_report()
    );
    assert_eq!(
        by_set.len(),
        LIMIT,
        "at most the limit of series, overflow included"
    );
    let overflow = by_set
        .iter()
        .find(|(k, _)| k.contains("otel.metric.overflow"))
        .map(|(_, v)| *v);
    assert_eq!(overflow, Some((IDS - (LIMIT - 1)) as i64));
    let peak = peak_rss(gw.pid());
    println!(
        "peak RSS after {IDS} distinct ids: {:.1} MiB (bound {RSS_BOUND_MIB} MiB)",
        peak as f64 / (1024.0 * 1024.0)
    );
    assert!(peak < RSS_BOUND_MIB * 1024 * 1024, "peak RSS {peak} B");
    crate::bad_requests::wait_for_metrics(
        admin,
        &[format!(
            "gateway_processor_events_total{{processor=\"cardinality\",event=\"cardinality_overflow\",rule=\"codex.tool.call\"}} {}",
            IDS - (LIMIT - 1)
        )],
    )
    .await;
    assert!(gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codex_preset_strips_per_turn_ids_from_codex_s_real_cost_counter() {
    use crate::support::fixtures::Payload;
    let (backend, mut gw, http, admin) = gateway::rig(
        "",
        "processors:\n  cardinality: { preset: codex }",
        "    metrics: { receivers: [otlp], processors: [cardinality], exporters: [otlp] }",
    )
    .await
    .into_parts();
    // Codex 0.171.0's own turn-cost counter, as a real app-server session exported it.
    let (dir, session) = fixtures::versioned_sessions()
        .into_iter()
        .find(|(_, s)| s == "app-server-turn-cost")
        .expect("the 0.171.0 turn-cost capture");
    let session = fixtures::session_fixtures_in(&dir, &session);
    let metrics: Vec<_> = session
        .iter()
        .filter(|f| matches!(f.decode(), Payload::Metrics(_)))
        .collect();
    let sent = fixtures::metrics_of(&metrics.iter().map(|f| (*f).clone()).collect::<Vec<_>>());
    let has_turn_id = |reqs: &[ExportMetricsServiceRequest]| {
        fixtures::all_metrics(reqs)
            .into_iter()
            .filter(|m| m.name == "codex.turn.cost_microusd")
            .any(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s
                    .data_points
                    .iter()
                    .any(|p| attr_text(&p.attributes, "turn.id").is_some()),
                _ => false,
            })
    };
    assert!(
        has_turn_id(&sent),
        "the capture has Codex's per-turn labels"
    );
    let base = format!("http://127.0.0.1:{http}");
    for f in &metrics {
        let (status, _, _) = gateway::post_fixture(&base, f).await;
        assert_eq!(status, 200);
    }
    let n = fixtures::count_data_points(&sent);
    let arrived = |b: &FakeBackend| {
        fixtures::all_metrics(&b.received_metrics())
            .iter()
            .any(|m| m.name == "codex.turn.cost_microusd")
    };
    assert!(
        backend.wait_for(arrived, WAIT).await,
        "the counter arrives\n{}",
        gw.output_report()
    );
    let got = backend.received_metrics();
    assert!(fixtures::count_data_points(&got) <= n);
    assert!(!has_turn_id(&got), "without its per-turn labels");
    crate::bad_requests::wait_for_metrics(
        admin,
        &["gateway_processor_events_total{processor=\"cardinality\",event=\"attributes_stripped\",rule=\"codex.turn.cost_microusd/turn.id\"} 1".to_string()],
    )
    .await;
    assert!(gw.stop().await.success());
}
