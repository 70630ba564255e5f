//! The transform processors through the real binary: the shipped `codex-lean` example, the
//! `codex` normaliser, `team` tagging from a request header, and their audit counters.

use crate::bad_requests::wait_for_metrics;
use crate::support::backends::FakeBackend;
use crate::support::fixtures::{
    self, all_log_records, all_spans, attr_text, count_spans, traces_of,
};
use crate::support::gateway::{self, free_port, Gateway};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use std::collections::HashSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn has_duplicate_keys(attrs: &[KeyValue]) -> bool {
    let mut seen = HashSet::new();
    attrs.iter().any(|kv| !seen.insert(kv.key.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_codex_lean_example_keeps_dashboard_spans_and_drops_internal_ones() {
    let backend = FakeBackend::http().await;
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/codex-lean.yaml"
    ))
    .expect("read example");
    let env = [
        ("GATEWAY_GRPC_ENDPOINT", format!("127.0.0.1:{grpc}")),
        ("GATEWAY_HTTP_ENDPOINT", format!("127.0.0.1:{http}")),
        ("GATEWAY_ADMIN_ENDPOINT", format!("127.0.0.1:{admin}")),
        ("LEAN_OTLP_ENDPOINT", backend.endpoint()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut gw = Gateway::start_with_env(&yaml, &[grpc, http, admin], &env).await;

    let sent: Vec<_> = fixtures::protobuf_fixtures();
    let sent_bytes: usize = sent
        .iter()
        .filter(|f| f.signal == fixtures::Signal::Traces)
        .map(|f| f.body.len())
        .sum();
    let sent_spans = count_spans(&traces_of(&sent));
    for f in &sent {
        let (status, _, _) = gateway::post_fixture(&format!("http://127.0.0.1:{http}"), f).await;
        assert_eq!(status, 200);
    }
    let logs = fixtures::count_log_records(&fixtures::logs_of(&sent));
    backend.expect_log_records(logs, WAIT).await;
    // 301 of 2,307 spans are the ones a dashboard needs (see the example's header).
    backend.expect_spans(301, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(backend.span_count(), 301, "{}", backend.describe());
    let received = backend.received_traces();
    let got_bytes: usize = received.iter().map(prost::Message::encoded_len).sum();
    assert!(
        got_bytes * 5 < sent_bytes,
        "at least 80% smaller: {sent_bytes} → {got_bytes}"
    );
    let names: HashSet<&str> = all_spans(&received)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for kept in [
        "session_task.turn",
        "exec_command",
        "codex.exec",
        "run_sampling_request",
    ] {
        assert!(names.contains(kept), "{kept} kept; got {names:?}");
    }
    for span in all_spans(&received) {
        assert!(!span.name.starts_with("fs."), "{}", span.name);
        for kv in &span.attributes {
            assert!(
                !(kv.key.starts_with("code.")
                    || kv.key.starts_with("thread.")
                    || kv.key == "busy_ns"
                    || kv.key == "idle_ns"),
                "{} still has {}",
                span.name,
                kv.key
            );
        }
    }
    // Drops are counted: processor dropped spans and attribute drops by pattern.
    wait_for_metrics(
        admin,
        &[format!(
            "gateway_processor_dropped_spans_total{{processor=\"filter/codex-lean\"}} {}",
            sent_spans - 301
        )],
    )
    .await;
    let text = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(text.contains("gateway_processor_events_total{processor=\"filter/codex-lean\",event=\"attributes_dropped\""), "{text}");
    // The codex normaliser ran on the logs: real timestamps, event_name promoted.
    for r in all_log_records(&backend.received_logs()) {
        assert_ne!(r.time_unix_nano, 0, "no zero timestamps");
        assert!(!has_duplicate_keys(&r.attributes));
        if let Some(name) = attr_text(&r.attributes, "event.name") {
            assert_eq!(r.event_name, name);
        }
    }
    assert!(gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_tags_logs_metrics_and_traces_from_a_request_header_with_a_default() {
    let backend = FakeBackend::grpc().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
  team:
    rules:
      - name: header
        match:
          metadata: {{ key: x-codex-team, regex: "^(?P<team>[a-z0-9-]+)$" }}
        set: {{ team: "$${{team}}", project: payments-service }}
    default: {{ team: unknown }}
exporters:
  otlp: {{ endpoint: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex, team], exporters: [otlp] }}
    metrics: {{ receivers: [otlp], processors: [codex, team], exporters: [otlp] }}
    traces: {{ receivers: [otlp], processors: [codex, team], exporters: [otlp] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let base = format!("http://127.0.0.1:{http}");
    let session = fixtures::session_fixtures("failing-tool-loop-protobuf");
    for f in &session {
        let url = format!("{base}{}", f.signal.http_path());
        let (status, _, _) = gateway::post_with_headers(
            &url,
            "application/x-protobuf",
            None,
            &[("x-codex-team", "checkout")],
            f.body.clone(),
        )
        .await;
        assert_eq!(status, 200);
    }
    // Without the header: the default.
    let other = fixtures::fixture("tool-secrets-protobuf", "004_logs.pb");
    gateway::post_fixture(&base, &other).await;
    let n_logs = fixtures::count_log_records(&fixtures::logs_of(&session))
        + fixtures::count_log_records(&fixtures::logs_of(std::slice::from_ref(&other)));
    backend.expect_log_records(n_logs, WAIT).await;
    backend
        .expect_spans(count_spans(&traces_of(&session)), WAIT)
        .await;
    backend
        .expect_data_points(
            fixtures::count_data_points(&fixtures::metrics_of(&session)),
            WAIT,
        )
        .await;

    let team_of = |r: &Option<opentelemetry_proto::tonic::resource::v1::Resource>| {
        r.as_ref()
            .and_then(|r| attr_text(&r.attributes, "team"))
            .unwrap_or_default()
    };
    let mut teams: Vec<String> = backend
        .received_logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .map(|r| team_of(&r.resource))
        .collect();
    teams.sort();
    teams.dedup();
    assert_eq!(teams, ["checkout", "unknown"]);
    for r in backend
        .received_metrics()
        .iter()
        .flat_map(|r| &r.resource_metrics)
    {
        assert_eq!(team_of(&r.resource), "checkout");
        assert_eq!(
            r.resource
                .as_ref()
                .and_then(|r| attr_text(&r.attributes, "project"))
                .as_deref(),
            Some("payments-service")
        );
    }
    for r in backend
        .received_traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
    {
        assert_eq!(team_of(&r.resource), "checkout");
        for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
            assert!(
                !has_duplicate_keys(&s.attributes),
                "{} has duplicate keys",
                s.name
            );
        }
    }
    wait_for_metrics(admin, &["gateway_processor_events_total{processor=\"team\",event=\"team_tagged\",rule=\"default\"} 21".to_string()]).await;
    assert!(gw.stop().await.success());
}

/// `original name → prometheus name` from the documented table in docs/metric-names.md.
fn documented_prometheus_names() -> std::collections::HashMap<String, String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metric-names.md"))
        .expect("doc");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            // | metric | type | temporality | unit | underscore | prometheus | sessions |
            (cells.len() >= 7).then(|| (cells[1].to_string(), cells[6].to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_session_comes_out_tagged_renamed_normalised_and_cumulative() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, number_data_point::Value, AggregationTemporality,
    };
    use std::collections::HashMap;

    let backend = FakeBackend::http().await;
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
  team:
    rules:
      - match: {{ resource_attribute: {{ key: env, value: prod }} }}
        set: {{ team: payments, project: payments-service }}
  metric_names: {{ mode: prometheus }}
  delta_to_cumulative: {{ max_stale: 10m }}
exporters:
  otlphttp: {{ endpoint: "{}" }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex, team], exporters: [otlphttp] }}
    metrics: {{ receivers: [otlp], processors: [codex, team, metric_names, delta_to_cumulative], exporters: [otlphttp] }}
"#,
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http, admin]).await;
    let base = format!("http://127.0.0.1:{http}");
    let session = fixtures::session_fixtures("failing-tool-loop-protobuf");
    let logs_fixture = session
        .iter()
        .find(|f| f.signal == fixtures::Signal::Logs)
        .expect("logs");
    gateway::post_fixture(&base, logs_fixture).await;

    // The session's metrics three times, as three consecutive delta windows.
    let metrics = fixtures::decode_metrics(
        session
            .iter()
            .find(|f| f.signal == fixtures::Signal::Metrics)
            .expect("metrics"),
    );
    let points = |m: &ExportMetricsServiceRequest| -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for metric in m
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            match &metric.data {
                Some(Data::Sum(s)) => out.extend(
                    s.data_points
                        .iter()
                        .map(|p| (p.start_time_unix_nano, p.time_unix_nano)),
                ),
                Some(Data::Histogram(h)) => out.extend(
                    h.data_points
                        .iter()
                        .map(|p| (p.start_time_unix_nano, p.time_unix_nano)),
                ),
                _ => {}
            }
        }
        out
    };
    let window = points(&metrics)
        .iter()
        .map(|(s, t)| t - s)
        .max()
        .unwrap_or(0)
        + 1;
    for k in 0..3u64 {
        let mut shifted = metrics.clone();
        for metric in shifted
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            match &mut metric.data {
                Some(Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
                    p.start_time_unix_nano += k * window;
                    p.time_unix_nano += k * window;
                }),
                Some(Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
                    p.start_time_unix_nano += k * window;
                    p.time_unix_nano += k * window;
                }),
                _ => {}
            }
        }
        let (status, _, _) = gateway::post(
            &format!("{base}/v1/metrics"),
            "application/x-protobuf",
            None,
            prost::Message::encode_to_vec(&shifted),
        )
        .await;
        assert_eq!(status, 200);
    }
    let n_points = fixtures::count_data_points(std::slice::from_ref(&metrics));
    backend.expect_data_points(3 * n_points, WAIT).await;
    backend
        .expect_log_records(
            fixtures::count_log_records(&[fixtures::decode_logs(logs_fixture)]),
            WAIT,
        )
        .await;

    // Logs: tagged, real timestamps, no duplicate keys.
    for r in backend
        .received_logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
    {
        assert_eq!(
            r.resource
                .as_ref()
                .and_then(|r| attr_text(&r.attributes, "team"))
                .as_deref(),
            Some("payments")
        );
        for rec in r.scope_logs.iter().flat_map(|s| &s.log_records) {
            assert_ne!(rec.time_unix_nano, 0);
            assert!(!has_duplicate_keys(&rec.attributes));
        }
    }
    // Metrics: tagged, names as documented, cumulative running totals of the deltas.
    let documented = documented_prometheus_names();
    let mut expected_sum: HashMap<(String, String), f64> = HashMap::new();
    for metric in metrics
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        if let Some(Data::Sum(s)) = &metric.data {
            for p in &s.data_points {
                let v = match p.value {
                    Some(Value::AsInt(i)) => i as f64,
                    Some(Value::AsDouble(d)) => d,
                    None => 0.0,
                };
                expected_sum.insert(
                    (
                        documented[&metric.name].clone(),
                        fixtures::render_attributes(&p.attributes),
                    ),
                    3.0 * v,
                );
            }
        }
    }
    let received = backend.received_metrics();
    let last = received.last().expect("three metric requests");
    let mut seen_names = HashSet::new();
    for rm in &last.resource_metrics {
        assert_eq!(
            rm.resource
                .as_ref()
                .and_then(|r| attr_text(&r.attributes, "team"))
                .as_deref(),
            Some("payments")
        );
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            assert!(
                documented.values().any(|n| n == &metric.name),
                "{} is not in docs/metric-names.md",
                metric.name
            );
            seen_names.insert(metric.name.clone());
            match &metric.data {
                Some(Data::Sum(s)) => {
                    assert_eq!(
                        s.aggregation_temporality,
                        AggregationTemporality::Cumulative as i32,
                        "{}",
                        metric.name
                    );
                    for p in &s.data_points {
                        let v = match p.value {
                            Some(Value::AsInt(i)) => i as f64,
                            Some(Value::AsDouble(d)) => d,
                            None => 0.0,
                        };
                        let key = (
                            metric.name.clone(),
                            fixtures::render_attributes(&p.attributes),
                        );
                        assert_eq!(Some(&v), expected_sum.get(&key), "running total of {key:?}");
                    }
                }
                Some(Data::Histogram(h)) => {
                    assert_eq!(
                        h.aggregation_temporality,
                        AggregationTemporality::Cumulative as i32,
                        "{}",
                        metric.name
                    );
                }
                _ => {}
            }
        }
    }
    let expected_names: HashSet<String> = metrics
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| documented[&m.name].clone())
        .collect();
    assert_eq!(seen_names, expected_names);
    assert!(expected_sum.len() > 10, "the session has sums to check");
    assert!(gw.stop().await.success());
}

/// Starts a gateway whose logs pipeline runs the Codex chain (`codex`, `redaction` with the
/// preset and summary counts, `team`, `resource`) into `exporters`.
async fn chain_gateway(exporters: &str, pipeline_exporters: &str) -> (Gateway, u16, u16) {
    let (http, admin) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http}" }} }} }}
processors:
  codex: {{}}
  redaction: {{ preset: codex, hash_key: "view-test-hash-key-0123456789", summary: counts }}
  team:
    rules:
      - name: header
        match: {{ metadata: {{ key: x-codex-team, regex: "^(?P<team>[a-z0-9-]+)$" }} }}
        set: {{ team: "$${{team}}" }}
    default: {{ team: unknown, project: payments-service }}
  resource:
    attributes:
      - {{ key: deployment.environment, value: test, action: upsert }}
exporters:
{exporters}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [codex, redaction, team, resource], exporters: [{pipeline_exporters}] }}
"#
    );
    (Gateway::start(&yaml, &[http, admin]).await, http, admin)
}

/// The processor audit counters of the logs pipeline, as `/metrics` lines.
async fn processor_event_lines(admin: u16) -> Vec<String> {
    let text = reqwest::get(format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("gateway_processor_events_total{"))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_processed_in_place_leave_exactly_as_decoded_logs_do() {
    use prost::Message;
    // Gateway `viewed`: protobuf exporters only, so its logs are processed as views of the
    // request bytes. Gateway `decoded`: the same chain with a JSON exporter besides, which needs
    // the decoded request, so every request is decoded as before.
    let (viewed_backend, decoded_backend, json_backend) = (
        FakeBackend::grpc().await,
        FakeBackend::grpc().await,
        FakeBackend::http().await,
    );
    let (mut viewed, viewed_http, viewed_admin) = chain_gateway(
        &format!("  otlp: {{ endpoint: \"{}\" }}", viewed_backend.endpoint()),
        "otlp",
    )
    .await;
    let (mut decoded, decoded_http, decoded_admin) = chain_gateway(
        &format!(
            "  otlp: {{ endpoint: \"{}\" }}\n  otlphttp/json: {{ endpoint: \"{}\", encoding: json }}",
            decoded_backend.endpoint(),
            json_backend.endpoint()
        ),
        "otlp, otlphttp/json",
    )
    .await;
    assert!(
        viewed
            .stdout()
            .contains("(protobuf logs processed in place, not decoded)"),
        "{}",
        viewed.stdout()
    );
    assert!(
        !decoded.stdout().contains("processed in place"),
        "{}",
        decoded.stdout()
    );

    let logs: Vec<_> = fixtures::protobuf_fixtures()
        .into_iter()
        .filter(|f| f.signal == fixtures::Signal::Logs)
        .collect();
    assert!(logs.len() >= 3, "{} logs fixtures", logs.len());
    let mut records = 0;
    for (i, f) in logs.iter().enumerate() {
        // Every other request with the team header.
        let headers: &[(&str, &str)] = if i % 2 == 0 {
            &[("x-codex-team", "checkout")]
        } else {
            &[]
        };
        for port in [viewed_http, decoded_http] {
            let url = format!("http://127.0.0.1:{port}/v1/logs");
            let (status, _, _) = gateway::post_with_headers(
                &url,
                "application/x-protobuf",
                None,
                headers,
                f.body.clone(),
            )
            .await;
            assert_eq!(status, 200, "{}", f.label());
        }
        records += f.decode().item_count();
    }
    // Requests the view leaves to the decoder get the decoder's answers: a truncated body and
    // invalid UTF-8 in a string are 400 from both gateways.
    let body = &logs[0].body;
    let mut bad_utf8 = body.clone();
    let at = bad_utf8
        .windows(b"codex".len())
        .position(|w| w == b"codex")
        .expect("a codex string");
    bad_utf8[at] = 0xff;
    for bad in [body[..body.len() - 3].to_vec(), bad_utf8] {
        for port in [viewed_http, decoded_http] {
            let url = format!("http://127.0.0.1:{port}/v1/logs");
            let (status, _, _) =
                gateway::post(&url, "application/x-protobuf", None, bad.clone()).await;
            assert_eq!(status, 400);
        }
    }

    viewed_backend.expect_log_records(records, WAIT).await;
    decoded_backend.expect_log_records(records, WAIT).await;
    // Exports may leave in any order: compared as sorted encodings of their resource entries.
    let entries = |b: &FakeBackend| {
        let mut e: Vec<Vec<u8>> = b
            .received_logs()
            .iter()
            .flat_map(|r| &r.resource_logs)
            .map(|rl| rl.encode_to_vec())
            .collect();
        e.sort();
        e
    };
    let (from_views, from_decoded) = (entries(&viewed_backend), entries(&decoded_backend));
    assert_eq!(from_views.len(), from_decoded.len());
    assert!(
        from_views == from_decoded,
        "the two paths sent different logs"
    );
    // The chain did change them (redaction, codex times and names, team tags).
    let sent: Vec<Vec<u8>> = logs.iter().map(|f| f.body.clone()).collect();
    assert!(from_views.iter().all(|e| !sent
        .iter()
        .any(|s| s.windows(e.len()).any(|w| w == e.as_slice()))));
    let events = processor_event_lines(viewed_admin).await;
    assert!(
        events.iter().any(|l| l.contains("processor=\"redaction\"")),
        "{events:?}"
    );
    assert_eq!(events, processor_event_lines(decoded_admin).await);
    assert!(viewed.stop().await.success());
    assert!(decoded.stop().await.success());
}
