//! Interop with a third-party OTLP receiver: rotel (a Rust OpenTelemetry collector from PyPI)
//! receives what the gateway exports, once through the `otlp` (gRPC) exporter and once through
//! the `otlphttp` exporter, and forwards it to a FakeBackend. Every Codex fixture replayed into
//! the gateway must come out behind rotel: every span, metric data point and log record, exactly
//! once, unchanged.
//!
//!   fixtures ─HTTP─▶ gateway ─otlp (gRPC, gzip)──▶ rotel A ─gRPC─▶ FakeBackend A
//!                            └otlphttp (proto|json)▶ rotel B ─gRPC─▶ FakeBackend B
//!
//! The JSON variant works around two bugs of rotel's OTLP/JSON receiver (rotel 0.0.1a15, agent
//! 0.0.1-alpha10), both checked by hand against the gateway's JSON output:
//! - it silently drops histogram metrics whose `count` and `bucketCounts` arrive as decimal
//!   strings, which is how the proto3 JSON mapping (and so OTLP/JSON) writes 64-bit integers (the
//!   same body with those fields as numbers is taken whole), so it replays traces and logs only;
//! - it parses some doubles 1 ULP off (the gateway writes `0.20235199999999998`, the shortest
//!   round-trip form; rotel forwards `0.202352`), so spans are compared by identity (name, trace
//!   and span id, resource, scope) and count, not byte for byte.
//!
//! Metrics over `otlphttp`, and spans byte for byte, are covered by the protobuf variant.
//!
//! rotel comes from `pip install rotel` (`.ci/run` installs it). Under CI (`CI` set) a missing
//! rotel fails the tests; locally they print how to install it and pass without running.

use crate::support::backends::FakeBackend;
use crate::support::fixtures::{
    self, assert_same_data_points, assert_same_log_records, assert_same_spans, count_data_points,
    count_log_records, count_spans, logs_of, metrics_of, traces_of, Signal,
};
use crate::support::gateway::{self, free_port, Gateway};
use crate::support::rotel::{rotel_agent, Rotel};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// rotel's `--batch-timeout` is 100 ms: anything extra (a duplicate) has arrived by then.
const SETTLE: Duration = Duration::from_millis(800);

/// The rotel-agent binary, or `None` (after printing how to install it) outside CI.
fn rotel_or_skip(test: &str) -> Option<PathBuf> {
    match rotel_agent() {
        Ok(path) => Some(path),
        Err(why) => {
            let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(!in_ci, "{test}: {why}");
            eprintln!("{test}: NOT RUN: {why}");
            None
        }
    }
}

fn config(
    http_port: u16,
    admin_port: u16,
    rotel_grpc: &str,
    rotel_http: &str,
    enc: &str,
) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  otlp/rotel:
    endpoint: {rotel_grpc}
    compression: gzip
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
  otlphttp/rotel:
    endpoint: {rotel_http}
    encoding: {enc}
    compression: gzip
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/rotel, otlphttp/rotel]
    metrics:
      receivers: [otlp]
      exporters: [otlp/rotel, otlphttp/rotel]
    logs:
      receivers: [otlp]
      exporters: [otlp/rotel, otlphttp/rotel]
"#
    )
}

/// How much of each span must survive the trip.
#[derive(Clone, Copy)]
enum Content {
    /// Byte for byte (with resource and scope).
    Exact,
    /// Name, trace and span id, resource and scope; attribute values may differ.
    Identity,
}

/// Panics unless `received` holds exactly the spans of `sent` by identity: name, trace id, span
/// id, resource and scope, each exactly as often.
fn assert_same_span_identities(
    context: &str,
    sent: &[ExportTraceServiceRequest],
    received: &[ExportTraceServiceRequest],
) {
    let ids = |requests| -> Vec<String> {
        let mut ids: Vec<String> = fixtures::flatten_spans(requests)
            .iter()
            .map(|item| {
                format!(
                    "{} (resource {:?}, scope {} {} {:?})",
                    item.key,
                    item.resource,
                    item.scope_name,
                    item.scope_version,
                    item.scope_attributes
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let (sent, received) = (ids(sent), ids(received));
    if sent == received {
        return;
    }
    let missing: Vec<&String> = sent.iter().filter(|id| !received.contains(id)).collect();
    let unexpected: Vec<&String> = received.iter().filter(|id| !sent.contains(id)).collect();
    panic!(
        "{context}: {} spans sent, {} received; {} missing (first: {:?}), {} unexpected \
         (first: {:?})",
        sent.len(),
        received.len(),
        missing.len(),
        missing.first(),
        unexpected.len(),
        unexpected.first()
    );
}

/// Replays every fixture (of `signals`) into a gateway exporting to two rotels (gRPC, and HTTP
/// with `encoding`) and checks both backends behind them hold exactly the fixtures' items.
async fn replay_through_rotel(
    agent: PathBuf,
    encoding: &str,
    signals: &[Signal],
    span_content: Content,
) {
    let behind_grpc = FakeBackend::grpc().await;
    let behind_http = FakeBackend::grpc().await;
    let mut rotel_a = Rotel::start(&agent, &behind_grpc.endpoint()).await;
    let mut rotel_b = Rotel::start(&agent, &behind_http.endpoint()).await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = config(
        http_port,
        admin_port,
        &rotel_a.grpc_endpoint(),
        &rotel_b.http_endpoint(),
        encoding,
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;

    let sent: Vec<_> = fixtures::all_fixtures()
        .into_iter()
        .filter(|f| signals.contains(&f.signal))
        .collect();
    let base = format!("http://127.0.0.1:{http_port}");
    for f in &sent {
        let (status, _, body) = gateway::post_fixture(&base, f).await;
        assert_eq!(
            status,
            200,
            "{}: {}",
            f.label(),
            String::from_utf8_lossy(&body)
        );
    }
    let (traces, metrics, logs) = (traces_of(&sent), metrics_of(&sent), logs_of(&sent));
    let (spans, points, records) = (
        count_spans(&traces),
        count_data_points(&metrics),
        count_log_records(&logs),
    );
    assert!(
        spans > 500 && records > 0 && (points > 0) == signals.contains(&Signal::Metrics),
        "fixtures look empty"
    );

    for backend in [&behind_grpc, &behind_http] {
        backend.expect_spans(spans, WAIT).await;
        backend.expect_data_points(points, WAIT).await;
        backend.expect_log_records(records, WAIT).await;
    }
    // The gateway drains and exits cleanly: nothing left undelivered or refused by rotel.
    let status = gw.stop().await;
    assert!(status.success(), "exit {status:?}\n{}", gw.output_report());
    tokio::time::sleep(SETTLE).await;
    assert!(rotel_a.is_running(), "rotel A died\n{}", rotel_a.output());
    assert!(rotel_b.is_running(), "rotel B died\n{}", rotel_b.output());

    for (how, backend) in [
        ("otlp (gRPC) → rotel".to_string(), &behind_grpc),
        (format!("otlphttp ({encoding}) → rotel"), &behind_http),
    ] {
        // Exact counts: no loss and no duplicates on either path.
        assert_eq!(backend.span_count(), spans, "{how}: {}", backend.describe());
        assert_eq!(
            backend.data_point_count(),
            points,
            "{how}: {}",
            backend.describe()
        );
        assert_eq!(
            backend.log_record_count(),
            records,
            "{how}: {}",
            backend.describe()
        );
        // Item by item: ids, timestamps, attributes, resource and scope survived both hops.
        match span_content {
            Content::Exact => assert_same_spans(&how, &traces, &backend.received_traces()),
            Content::Identity => {
                assert_same_span_identities(&how, &traces, &backend.received_traces())
            }
        }
        assert_same_data_points(&how, &metrics, &backend.received_metrics());
        assert_same_log_records(&how, &logs, &backend.received_logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_every_fixture_item_over_otlp_grpc_and_otlphttp_protobuf() {
    let Some(agent) =
        rotel_or_skip("rotel_receives_every_fixture_item_over_otlp_grpc_and_otlphttp_protobuf")
    else {
        return;
    };
    replay_through_rotel(agent, "proto", &Signal::ALL, Content::Exact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_receives_every_span_and_log_record_over_otlp_grpc_and_otlphttp_json() {
    let Some(agent) =
        rotel_or_skip("rotel_receives_every_span_and_log_record_over_otlp_grpc_and_otlphttp_json")
    else {
        return;
    };
    replay_through_rotel(
        agent,
        "json",
        &[Signal::Traces, Signal::Logs],
        Content::Identity,
    )
    .await;
}
