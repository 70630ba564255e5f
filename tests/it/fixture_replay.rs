//! Every Codex fixture body sent to the running gateway over HTTP protobuf, HTTP JSON and gRPC
//! reaches both backends (one gRPC, one HTTP) with the same items, attributes, ids and timestamps.

use crate::support::backends::FakeBackend;
use crate::support::fixtures::{
    self, assert_same_data_points, assert_same_log_records, assert_same_spans, count_data_points,
    count_log_records, count_spans, logs_of, metrics_of, traces_of, Fixture, Payload, Signal,
};
use crate::support::gateway::{
    self, grpc_export_logs_with, grpc_export_metrics_with, grpc_export_traces_with, GrpcOptions,
};
use crate::{start_fan_out, FanOut, Setup};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until both backends hold every item of `sent`, then compares them item by item.
async fn assert_both_backends_received(setup: &Setup, sent: &[Fixture], how: &str) {
    let traces = traces_of(sent);
    let metrics = metrics_of(sent);
    let logs = logs_of(sent);
    let (spans, points, records) = (
        count_spans(&traces),
        count_data_points(&metrics),
        count_log_records(&logs),
    );
    assert!(
        spans > 500 && points > 0 && records > 0,
        "fixtures look empty"
    );
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        backend.expect_spans(spans, WAIT).await;
        backend.expect_data_points(points, WAIT).await;
        backend.expect_log_records(records, WAIT).await;
        let ctx = format!("{how} → {}", backend.name());
        assert_same_spans(&ctx, &traces, &backend.received_traces());
        assert_same_data_points(&ctx, &metrics, &backend.received_metrics());
        assert_same_log_records(&ctx, &logs, &backend.received_logs());
    }
}

fn content_type_json() -> &'static str {
    "application/json"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_http_protobuf_reaches_both_backends_unchanged() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let sent = fixtures::protobuf_fixtures();
    for f in &sent {
        let (status, _, body) = gateway::post_fixture(&setup.http_base(), f).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&body)
        );
    }
    assert_both_backends_received(&setup, &sent, "HTTP protobuf").await;
    assert!(
        setup.gateway.stop().await.success(),
        "{}",
        setup.gateway.output_report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_http_json_reaches_both_backends_unchanged() {
    // The JSON exporter path is exercised too: the HTTP backend receives JSON.
    let mut setup = start_fan_out(FanOut {
        http_encoding: "json",
        ..FanOut::default()
    })
    .await;
    let all = fixtures::all_fixtures();
    for f in &all {
        // The JSON folder as Codex sent it; protobuf fixtures re-encoded to JSON by the test.
        let body = if f.is_json() {
            f.body.clone()
        } else {
            f.decode().encode_json()
        };
        let url = format!("{}{}", setup.http_base(), f.signal.http_path());
        let (status, headers, reply) = gateway::post(&url, content_type_json(), None, body).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&reply)
        );
        assert_eq!(
            headers
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/json")
        );
        assert_eq!(reply, b"{}", "JSON requests get a JSON export response");
    }
    assert_both_backends_received(&setup, &all, "HTTP JSON").await;
    let json_requests = setup
        .http_backend
        .requests()
        .iter()
        .filter(|r| r.content_type.starts_with("application/json"))
        .count();
    assert!(
        json_requests > 0,
        "the otlphttp exporter sends JSON when configured"
    );
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_grpc_and_gzip_http_reaches_both_backends_unchanged() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let sent = fixtures::protobuf_fixtures();
    for (i, f) in sent.iter().enumerate() {
        let opts = if i % 2 == 0 {
            GrpcOptions::gzip()
        } else {
            GrpcOptions::default()
        };
        let endpoint = setup.grpc_endpoint();
        let result = match f.decode() {
            Payload::Traces(r) => grpc_export_traces_with(&endpoint, r, &opts)
                .await
                .map(|_| ()),
            Payload::Metrics(r) => grpc_export_metrics_with(&endpoint, r, &opts)
                .await
                .map(|_| ()),
            Payload::Logs(r) => grpc_export_logs_with(&endpoint, r, &opts).await.map(|_| ()),
        };
        assert!(result.is_ok(), "{}: {result:?}", f.label());
    }
    assert_both_backends_received(&setup, &sent, "gRPC").await;

    // gzip over HTTP too: the same items again, compressed.
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        backend.clear();
    }
    for f in &sent {
        let url = format!("{}{}", setup.http_base(), f.signal.http_path());
        let (status, _, body) = gateway::post(
            &url,
            "application/x-protobuf",
            Some("gzip"),
            gateway::gzip(&f.body),
        )
        .await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&body)
        );
    }
    assert_both_backends_received(&setup, &sent, "HTTP protobuf gzip").await;
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_and_resource_processors_tag_every_signal_in_their_pipeline_only() {
    let grpc_backend = FakeBackend::grpc().await;
    let http_backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (
        gateway::free_port(),
        gateway::free_port(),
        gateway::free_port(),
    );
    // Two logs pipelines share the receiver: only the first tags. The second must see the
    // untouched original (processors run on a copy per pipeline).
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  resource/team:
    attributes:
      - {{ key: team, value: "${{env:TEAM_FROM_ENV}}", action: upsert }}
  attributes/tags:
    actions:
      - {{ key: project, value: payments, action: insert }}
      - {{ key: thread.id, action: delete }}
exporters:
  otlp/a:
    endpoint: {a}
  otlphttp/b:
    endpoint: {b}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs/tagged:
      receivers: [otlp]
      processors: [resource/team, attributes/tags]
      exporters: [otlp/a]
    logs/raw:
      receivers: [otlp]
      exporters: [otlphttp/b]
    metrics:
      receivers: [otlp]
      processors: [resource/team, attributes/tags]
      exporters: [otlp/a]
    traces:
      receivers: [otlp]
      processors: [resource/team, attributes/tags]
      exporters: [otlp/a]
"#,
        a = grpc_backend.endpoint(),
        b = http_backend.endpoint(),
    );
    let mut gw = gateway::Gateway::start_with_env(
        &yaml,
        &[grpc_port, http_port],
        &[("TEAM_FROM_ENV", "platform")],
    )
    .await;
    let sent = fixtures::session_fixtures("failing-tool-loop-protobuf");
    for f in &sent {
        let (status, _, _) =
            gateway::post_fixture(&format!("http://127.0.0.1:{http_port}"), f).await;
        assert_eq!(status, 200);
    }
    let logs = logs_of(&sent);
    let n_logs = count_log_records(&logs);
    grpc_backend.expect_log_records(n_logs, WAIT).await;
    grpc_backend
        .expect_spans(count_spans(&traces_of(&sent)), WAIT)
        .await;
    grpc_backend
        .expect_data_points(count_data_points(&metrics_of(&sent)), WAIT)
        .await;
    http_backend.expect_log_records(n_logs, WAIT).await;

    let team = |res: &Option<opentelemetry_proto::tonic::resource::v1::Resource>| {
        res.as_ref()
            .and_then(|r| fixtures::attr_text(&r.attributes, "team"))
    };
    for r in grpc_backend
        .received_logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
    {
        assert_eq!(team(&r.resource).as_deref(), Some("platform"));
        for rec in r.scope_logs.iter().flat_map(|s| &s.log_records) {
            assert_eq!(
                fixtures::attr_text(&rec.attributes, "project").as_deref(),
                Some("payments")
            );
            assert!(fixtures::attr(&rec.attributes, "thread.id").is_none());
        }
    }
    for r in grpc_backend
        .received_traces()
        .iter()
        .flat_map(|r| &r.resource_spans)
    {
        assert_eq!(team(&r.resource).as_deref(), Some("platform"));
    }
    for r in grpc_backend
        .received_metrics()
        .iter()
        .flat_map(|r| &r.resource_metrics)
    {
        assert_eq!(team(&r.resource).as_deref(), Some("platform"));
    }
    // The raw pipeline got the original, byte for byte.
    assert_same_log_records("logs/raw", &logs, &http_backend.received_logs());
    assert!(gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_what_was_acknowledged_and_exits_zero() {
    let mut setup = start_fan_out(FanOut::default()).await;
    let sent = fixtures::protobuf_fixtures();
    for f in &sent {
        let (status, _, _) = gateway::post_fixture(&setup.http_base(), f).await;
        assert_eq!(status, 200);
    }
    // Stop at once: what was acknowledged is still in the queues and must be drained.
    let status = setup.gateway.stop().await;
    assert!(
        status.success(),
        "exit {status:?}\n{}",
        setup.gateway.output_report()
    );
    let spans = count_spans(&traces_of(&sent));
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        assert_eq!(backend.span_count(), spans, "{}", backend.describe());
        assert_eq!(
            backend.log_record_count(),
            count_log_records(&logs_of(&sent))
        );
    }
    let _ = Signal::ALL;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_processor_merges_requests_and_flushes_what_it_holds_at_shutdown() {
    // A size that is never reached and a long timeout: only the shutdown flush can send.
    let mut setup = start_fan_out(FanOut {
        processors: &["batch"],
        processors_yaml: "  batch:\n    send_batch_size: 100000\n    send_batch_max_size: 200000\n    timeout: 60s",
        ..FanOut::default()
    })
    .await;
    let sent = fixtures::protobuf_fixtures();
    for f in &sent {
        let (status, _, _) = gateway::post_fixture(&setup.http_base(), f).await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.http_backend.request_count(),
        0,
        "held by the batch stage"
    );
    assert!(
        setup.gateway.stop().await.success(),
        "{}",
        setup.gateway.output_report()
    );
    for backend in [&setup.grpc_backend, &setup.http_backend] {
        assert_same_spans(
            backend.name().as_str(),
            &traces_of(&sent),
            &backend.received_traces(),
        );
        assert_same_log_records(
            backend.name().as_str(),
            &logs_of(&sent),
            &backend.received_logs(),
        );
        assert_same_data_points(
            backend.name().as_str(),
            &metrics_of(&sent),
            &backend.received_metrics(),
        );
        // One merged request per signal instead of one per fixture body.
        assert_eq!(backend.request_count(), 3, "{}", backend.describe());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_processor_sends_on_timeout_and_splits_at_the_maximum() {
    let mut setup = start_fan_out(FanOut {
        processors: &["batch"],
        processors_yaml:
            "  batch:\n    send_batch_size: 100\n    send_batch_max_size: 100\n    timeout: 100ms",
        ..FanOut::default()
    })
    .await;
    let traces = fixtures::fixture("tool-secrets-protobuf", "001_traces.pb");
    let spans = count_spans(&[fixtures::decode_traces(&traces)]);
    let (status, _, _) = gateway::post_fixture(&setup.http_base(), &traces).await;
    assert_eq!(status, 200);
    setup.http_backend.expect_spans(spans, WAIT).await;
    let per_request: Vec<usize> = setup
        .http_backend
        .received_traces()
        .iter()
        .map(|r| count_spans(std::slice::from_ref(r)))
        .collect();
    assert!(per_request.iter().all(|n| *n <= 100), "{per_request:?}");
    assert_eq!(per_request.len(), spans.div_ceil(100), "{per_request:?}");
    // A small request alone is sent when its timeout passes.
    let logs = fixtures::fixture("tool-secrets-protobuf", "004_logs.pb");
    let (status, _, _) = gateway::post_fixture(&setup.http_base(), &logs).await;
    assert_eq!(status, 200);
    setup
        .http_backend
        .expect_log_records(count_log_records(&[fixtures::decode_logs(&logs)]), WAIT)
        .await;
    assert!(setup.gateway.stop().await.success());
}
