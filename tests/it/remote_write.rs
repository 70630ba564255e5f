//! The `prometheusremotewrite` exporter against a real Prometheus server
//! (`--web.enable-remote-write-receiver`): a Codex session's delta metrics go through `team` and
//! `delta_to_cumulative` and come out of Prometheus' query API as the running totals, with the
//! team label; and `validate` refuses a remote write pipeline without `delta_to_cumulative`.

use crate::bad_requests::wait_for_metrics;
use crate::support::fixtures::{self, count_data_points, render_value};
use crate::support::gateway::{self, free_port, Gateway};
use crate::support::prometheus::{prometheus_binary, Prometheus};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(60);

/// Labels of a data point as a Prometheus user sees them: keys with `.` as `_`.
fn attribute_labels(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .filter_map(|kv| {
            let value = render_value(kv.value.as_ref()?);
            (!value.is_empty()).then(|| (kv.key.replace('.', "_"), value))
        })
        .collect()
}

/// Every sum and histogram point of `req`, start and end time moved by `by` nanoseconds.
pub fn shifted(req: &ExportMetricsServiceRequest, by: u64) -> ExportMetricsServiceRequest {
    let mut out = req.clone();
    for metric in out
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics)
    {
        match &mut metric.data {
            Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
                p.start_time_unix_nano += by;
                p.time_unix_nano += by;
            }),
            Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
                p.start_time_unix_nano += by;
                p.time_unix_nano += by;
            }),
            _ => {}
        }
    }
    out
}

/// (earliest start, latest end) over the sums and histograms of `req`.
pub fn time_span(req: &ExportMetricsServiceRequest) -> (u64, u64) {
    let mut span = (u64::MAX, 0);
    for metric in req
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let times: Vec<(u64, u64)> = match &metric.data {
            Some(Data::Sum(s)) => s
                .data_points
                .iter()
                .map(|p| (p.start_time_unix_nano, p.time_unix_nano))
                .collect(),
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .map(|p| (p.start_time_unix_nano, p.time_unix_nano))
                .collect(),
            _ => Vec::new(),
        };
        for (s, t) in times {
            span = (span.0.min(s), span.1.max(t));
        }
    }
    span
}

fn labels_of(series: &serde_json::Value) -> BTreeMap<String, String> {
    series["metric"]
        .as_object()
        .expect("metric labels")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn value_of(series: &serde_json::Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_delta_counters_arrive_in_a_real_prometheus_as_running_totals_with_the_team_label() {
    // Fail (not skip) before anything starts when Prometheus is missing.
    prometheus_binary();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut prometheus =
        Prometheus::start(dir.path(), None, &["--web.enable-remote-write-receiver"]);
    prometheus
        .wait_for_value("vector(1)", "1", Duration::from_secs(30))
        .await;

    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  team:
    rules:
      - name: header
        match:
          metadata: {{ key: x-codex-team, regex: "^(?P<team>[a-z0-9-]+)$" }}
        set: {{ team: "$${{team}}", project: payments-service }}
  delta_to_cumulative: {{ max_stale: 1h }}
exporters:
  prometheusremotewrite:
    endpoint: "http://127.0.0.1:{port}/api/v1/write"
    promote_resource_attributes: [team, project]
    external_labels: {{ gateway: it }}
    max_samples_per_request: 500
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    metrics: {{ receivers: [otlp], processors: [team, delta_to_cumulative], exporters: [prometheusremotewrite] }}
"#,
        port = prometheus.port
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;

    let session = fixtures::session_fixtures("failing-tool-loop-protobuf");
    let metrics = fixtures::decode_metrics(
        session
            .iter()
            .find(|f| f.signal == fixtures::Signal::Metrics)
            .expect("the session has metrics"),
    );
    // The session's metrics three times, as three consecutive delta windows ending a second
    // ago (Prometheus answers an instant query from the last five minutes).
    let (start, end) = time_span(&metrics);
    let window = end - start + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let last_end = now - 1_000_000_000;
    let first_shift = last_end - end - 2 * window;
    for k in 0..3u64 {
        let body = prost::Message::encode_to_vec(&shifted(&metrics, first_shift + k * window));
        let (status, _, answer) = gateway::post_with_headers(
            &format!("http://127.0.0.1:{http}/v1/metrics"),
            "application/x-protobuf",
            None,
            &[("x-codex-team", "checkout")],
            body,
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    let points = count_data_points(std::slice::from_ref(&metrics));
    wait_for_metrics(
        admin,
        &[
            format!(
                "gateway_exporter_sent_metric_points_total{{exporter=\"prometheusremotewrite\"}} {}",
                3 * points
            ),
            "gateway_exporter_send_failed_metric_points_total{exporter=\"prometheusremotewrite\"} 0"
                .into(),
            "gateway_exporter_dropped_delta_metric_points_total{exporter=\"prometheusremotewrite\"} 0"
                .into(),
        ],
    )
    .await;

    // What was sent: per attribute set, the deltas of codex.tool.call and the counts of
    // codex.tool.call.duration_ms; and the service name for `job`.
    let mut calls: BTreeMap<BTreeMap<String, String>, f64> = BTreeMap::new();
    let mut durations = 0u64;
    let mut services = Vec::new();
    for rm in &metrics.resource_metrics {
        if let Some(name) = rm
            .resource
            .as_ref()
            .and_then(|r| fixtures::attr_text(&r.attributes, "service.name"))
        {
            services.push(name);
        }
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match (&metric.data, metric.name.as_str()) {
                (Some(Data::Sum(s)), "codex.tool.call") => {
                    for p in &s.data_points {
                        let v = match p.value {
                            Some(Value::AsInt(i)) => i as f64,
                            Some(Value::AsDouble(d)) => d,
                            None => 0.0,
                        };
                        *calls.entry(attribute_labels(&p.attributes)).or_default() += v;
                    }
                }
                (Some(Data::Histogram(h)), "codex.tool.call.duration_ms") => {
                    durations += h.data_points.iter().map(|p| p.count).sum::<u64>();
                }
                _ => {}
            }
        }
    }
    assert!(!calls.is_empty(), "the session has tool calls");
    assert!(durations > 0, "the session has tool call durations");
    assert_eq!(services.len(), 1, "one resource: {services:?}");

    // codex_tool_call_total (docs/metric-names.md): one series per attribute set, valued at the
    // sum of the three deltas, with team/project from the team processor and job/instance.
    let query = "codex_tool_call_total";
    let result = prometheus
        .wait_for(query, WAIT, |r| {
            r.len() == calls.len()
                && r.iter().all(|s| {
                    let mut labels = labels_of(s);
                    labels.retain(|k, _| {
                        !["__name__", "job", "instance", "team", "project", "gateway"]
                            .contains(&k.as_str())
                    });
                    calls.get(&labels).is_some_and(|v| 3.0 * v == value_of(s))
                })
        })
        .await;
    for series in &result {
        let labels = labels_of(series);
        assert_eq!(labels["team"], "checkout", "{labels:?}");
        assert_eq!(labels["project"], "payments-service", "{labels:?}");
        assert_eq!(labels["gateway"], "it", "{labels:?}");
        assert_eq!(labels["job"], services[0], "{labels:?}");
    }
    let total: f64 = calls.values().sum();
    prometheus
        .wait_for_value(
            "sum(codex_tool_call_total{team=\"checkout\"})",
            &(3.0 * total).to_string(),
            WAIT,
        )
        .await;

    // The histogram: cumulative count, the +Inf bucket equal to it.
    let count = (3 * durations).to_string();
    prometheus
        .wait_for_value(
            "sum(codex_tool_call_duration_ms_milliseconds_count)",
            &count,
            WAIT,
        )
        .await;
    prometheus
        .wait_for_value(
            "sum(codex_tool_call_duration_ms_milliseconds_bucket{le=\"+Inf\"})",
            &count,
            WAIT,
        )
        .await;
    // Resource attributes: target_info, joinable on job.
    prometheus
        .wait_for_value(
            &format!(
                "count(target_info{{job=\"{}\",team=\"checkout\"}})",
                services[0]
            ),
            "1",
            WAIT,
        )
        .await;
    drop(prometheus);
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

#[test]
fn validate_refuses_a_remote_write_pipeline_without_delta_to_cumulative_and_names_the_processor() {
    let yaml = r#"
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:4318 } } }
processors:
  team: {}
exporters:
  prometheusremotewrite:
    endpoint: http://127.0.0.1:9090/api/v1/write
service:
  pipelines:
    metrics: { receivers: [otlp], processors: [team], exporters: [prometheusremotewrite] }
    traces: { receivers: [otlp], exporters: [prometheusremotewrite] }
"#;
    let (code, stdout, stderr) = Gateway::validate(yaml);
    assert_eq!(code, 78, "{stdout}{stderr}");
    let delta = stderr
        .lines()
        .find(|l| l.contains("service.pipelines.metrics.processors"))
        .unwrap_or_else(|| panic!("no error on the metrics pipeline's processors:\n{stderr}"));
    assert!(delta.starts_with("error:"), "{delta}");
    assert!(
        delta.contains("add a delta_to_cumulative processor"),
        "{delta}"
    );
    assert!(
        stderr.lines().any(
            |l| l.starts_with("error: service.pipelines.traces.exporters[0]")
                && l.contains("metrics only")
        ),
        "{stderr}"
    );

    // With the processor, the same pipeline is valid.
    let fixed = yaml
        .replace("  team: {}", "  team: {}\n  delta_to_cumulative: {}")
        .replace(
            "processors: [team]",
            "processors: [team, delta_to_cumulative]",
        )
        .replace(
            "    traces: { receivers: [otlp], exporters: [prometheusremotewrite] }\n",
            "",
        );
    let (code, stdout, stderr) = Gateway::validate(&fixed);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}
