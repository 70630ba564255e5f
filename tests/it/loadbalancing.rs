//! The `loadbalancing` exporter through real processes: a front gateway routes Codex logs by
//! `conversation.id` over three downstream gateways (static list, OTLP/gRPC), each delivering
//! to its own backend. Every record of a conversation lands on one downstream; after a reload
//! without one downstream only that downstream's conversations move; nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use crate::support::backends::FakeBackend;
use crate::support::fixtures::{self, attr_text, string_kv};
use crate::support::gateway::{free_port, post, Gateway};

const WAIT: Duration = Duration::from_secs(30);
/// Copies of each session's logs, each under its own conversation id.
const COPIES: usize = 4;

/// A downstream gateway: OTLP/gRPC in, its own HTTP backend out.
fn downstream_config(grpc_port: u16, admin_port: u16, backend: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  otlphttp:
    endpoint: {backend}
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlphttp]
"#
    )
}

/// The front gateway: OTLP/HTTP in, `loadbalancing` over `members` (gRPC ports) out.
fn front_config(http_port: u16, admin_port: u16, members: &[u16]) -> String {
    let hostnames: Vec<String> = members
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  loadbalancing:
    routing_key: conversation.id
    resolver:
      static:
        hostnames: [{hostnames}]
    protocol:
      otlp:
        tls:
          insecure: true
        timeout: 2s
        retry_on_failure:
          initial_interval: 50ms
          max_interval: 200ms
service:
  shutdown_timeout: 5s
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loadbalancing]
"#,
        hostnames = hostnames.join(", ")
    )
}

/// The logs of every fixture session, `COPIES` times each, every copy with its own
/// `conversation.id` (`<session>-<copy>`) on every record: (requests, conversation ids, records).
fn sessions() -> (Vec<ExportLogsServiceRequest>, BTreeSet<String>, usize) {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for session in fixtures::sessions() {
        let logs = fixtures::logs_of(&fixtures::session_fixtures(&session));
        for copy in 0..COPIES {
            let id = format!("{session}-{copy}");
            for mut req in logs.clone() {
                for rl in &mut req.resource_logs {
                    for sl in &mut rl.scope_logs {
                        for rec in &mut sl.log_records {
                            rec.attributes.retain(|kv| kv.key != "conversation.id");
                            rec.attributes.push(string_kv("conversation.id", &id));
                        }
                    }
                }
                out.push(req);
            }
            ids.insert(id);
        }
    }
    let records = fixtures::count_log_records(&out);
    assert!(ids.len() >= 8 && records > 0, "{} conversations", ids.len());
    (out, ids, records)
}

async fn send(http_port: u16, requests: &[ExportLogsServiceRequest]) {
    let url = format!("http://127.0.0.1:{http_port}/v1/logs");
    for (i, req) in requests.iter().enumerate() {
        let (status, _, body) =
            post(&url, "application/x-protobuf", None, req.encode_to_vec()).await;
        assert_eq!(
            status,
            200,
            "request {i}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// conversation id → the backends (by index) its records reached, and the records per backend.
fn placement(backends: &[FakeBackend]) -> (BTreeMap<String, BTreeSet<usize>>, Vec<usize>) {
    let mut at: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut counts = Vec::new();
    for (i, b) in backends.iter().enumerate() {
        let received = b.received_logs();
        counts.push(fixtures::count_log_records(&received));
        for rec in fixtures::all_log_records(&received) {
            let id = attr_text(&rec.attributes, "conversation.id").unwrap_or_default();
            at.entry(id).or_default().insert(i);
        }
    }
    (at, counts)
}

async fn wait_total(backends: &[FakeBackend], want: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let total: usize = backends.iter().map(FakeBackend::log_record_count).sum();
        if total >= want {
            assert_eq!(total, want, "no record arrives twice");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {total} of {want} records arrived: {}",
            backends
                .iter()
                .map(FakeBackend::describe)
                .collect::<Vec<_>>()
                .join("; ")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conversation_lands_on_one_downstream_and_only_a_removed_members_conversations_move()
{
    let backends = vec![
        FakeBackend::http().await,
        FakeBackend::http().await,
        FakeBackend::http().await,
    ];
    let mut downstreams = Vec::new();
    let mut grpc_ports = Vec::new();
    for b in &backends {
        let (grpc, admin) = (free_port(), free_port());
        let yaml = downstream_config(grpc, admin, &b.endpoint());
        downstreams.push(Gateway::start(&yaml, &[grpc, admin]).await);
        grpc_ports.push(grpc);
    }
    let (http_port, admin_port) = (free_port(), free_port());
    let front = Gateway::start(
        &front_config(http_port, admin_port, &grpc_ports),
        &[http_port, admin_port],
    )
    .await;

    let (requests, ids, records) = sessions();
    send(http_port, &requests).await;
    wait_total(&backends, records).await;
    let (first, counts) = placement(&backends);
    assert_eq!(first.keys().cloned().collect::<BTreeSet<_>>(), ids);
    for (id, at) in &first {
        assert_eq!(at.len(), 1, "{id} reached backends {at:?}");
    }
    assert!(
        counts.iter().all(|n| *n > 0),
        "every downstream gets some conversations: {counts:?}"
    );
    let owner: BTreeMap<String, usize> = first
        .iter()
        .filter_map(|(id, at)| at.first().map(|i| (id.clone(), *i)))
        .collect();

    // Reload the front without the second downstream, then send the same conversations again.
    std::fs::write(
        front.config_path(),
        front_config(http_port, admin_port, &[grpc_ports[0], grpc_ports[2]]),
    )
    .expect("rewrite the front config");
    let status = Command::new("kill")
        .args(["-HUP", &front.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    assert!(
        front.wait_for_output("config reloaded", WAIT).await,
        "{}",
        front.output_report()
    );
    for b in &backends {
        b.clear();
    }
    send(http_port, &requests).await;
    wait_total(&backends, records).await;
    let (second, counts) = placement(&backends);
    assert_eq!(counts[1], 0, "the removed downstream gets nothing");
    let mut moved = 0;
    for (id, at) in &second {
        assert_eq!(at.len(), 1, "{id} reached backends {at:?} after the reload");
        let now = at.first().copied().unwrap_or(usize::MAX);
        let before = owner[id];
        if before == 1 {
            moved += 1;
        } else {
            assert_eq!(
                now, before,
                "{id} moved from {before} to {now} though its member stayed"
            );
        }
    }
    assert!(moved > 0, "the removed member owned some conversations");
    drop(downstreams);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_resolver_finds_the_member_and_trace_ids_route_every_span() {
    let backend = FakeBackend::http().await;
    let (grpc, admin) = (free_port(), free_port());
    let _downstream = Gateway::start(
        &downstream_config(grpc, admin, &backend.endpoint()).replace(
            "    logs:\n      receivers: [otlp]\n      exporters: [otlphttp]\n",
            "    logs:\n      receivers: [otlp]\n      exporters: [otlphttp]\n    traces:\n      receivers: [otlp]\n      exporters: [otlphttp]\n",
        ),
        &[grpc, admin],
    )
    .await;
    let (http_port, admin_port) = (free_port(), free_port());
    // An IP literal goes through the same resolution call as a Service name.
    let yaml = front_config(http_port, admin_port, &[])
        .replace(
            "    resolver:\n      static:\n        hostnames: []\n",
            &format!(
                "    resolver:\n      dns:\n        hostname: 127.0.0.1\n        port: {grpc}\n        interval: 1s\n"
            ),
        )
        .replace("    routing_key: conversation.id\n", "")
        .replace(
            "      exporters: [loadbalancing]\n",
            "      exporters: [loadbalancing]\n    traces:\n      receivers: [otlp]\n      exporters: [loadbalancing]\n",
        );
    assert!(yaml.contains("dns:"), "{yaml}");
    let front = Gateway::start(&yaml, &[http_port, admin_port]).await;

    let traces = fixtures::fixture("tool-secrets-protobuf", "001_traces.pb");
    let spans = fixtures::count_spans(&[fixtures::decode_traces(&traces)]);
    let (status, _, body) = post(
        &format!("http://127.0.0.1:{http_port}/v1/traces"),
        "application/x-protobuf",
        None,
        traces.protobuf_body(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    backend.expect_spans(spans, WAIT).await;

    // The member exporter counts the spans once the downstream answered: poll for it.
    let member = format!("loadbalancing/127.0.0.1:{grpc}");
    let want = [
        "gateway_exporter_loadbalancer_members{exporter=\"loadbalancing\"} 1".to_string(),
        format!("gateway_exporter_sent_spans_total{{exporter=\"{member}\"}} {spans}"),
    ];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        if want.iter().all(|w| metrics.contains(w.as_str())) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "want {want:?} in\n{metrics}\n{}",
            front.output_report()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
