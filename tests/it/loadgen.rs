//! `codex-otel-gateway loadgen`: `loadgen send` drives a real gateway for about two seconds,
//! over OTLP/HTTP into a pass-through pipeline (the request bytes forwarded undecoded) and over
//! OTLP/gRPC into a pipeline with a batch stage (decoded), while `loadgen sink` counts what the
//! gateway exports; the JSON reports must agree item for item, without errors.

use crate::support::gateway::{free_port, Gateway, GATEWAY_BIN};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tool-secrets-protobuf"
);

/// A `loadgen sink` process, killed on drop.
struct Sink {
    child: Child,
    port: u16,
}

impl Sink {
    async fn start() -> Sink {
        let port = free_port();
        let child = Command::new(GATEWAY_BIN)
            .args(["loadgen", "sink", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start loadgen sink");
        let sink = Sink { child, port };
        let started = Instant::now();
        while sink.try_stats().await.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the sink did not answer /stats"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sink
    }

    async fn try_stats(&self) -> Option<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/stats", self.port);
        let body = reqwest::get(&url).await.ok()?.bytes().await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Polls until the sink has counted `want` items of `signal` (or 20 s pass); returns the
    /// last count.
    async fn wait_items(&self, signal: &str, want: u64) -> u64 {
        let started = Instant::now();
        loop {
            let got = self
                .try_stats()
                .await
                .and_then(|s| s[signal]["items"].as_u64())
                .unwrap_or(0);
            if got >= want || started.elapsed() > Duration::from_secs(20) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `loadgen send` with `args`; returns its JSON report.
fn send(args: &[&str]) -> serde_json::Value {
    let out = Command::new(GATEWAY_BIN)
        .args(["loadgen", "send"])
        .args(args)
        .output()
        .expect("run loadgen send");
    assert!(
        out.status.success(),
        "loadgen send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "loadgen send printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_reports_match_what_the_sink_counted_over_http_and_grpc() {
    let sink = Sink::start().await;
    let (grpc, http, admin) = (free_port(), free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc}" }}
      http: {{ endpoint: "127.0.0.1:{http}" }}
processors:
  batch: {{ timeout: 50ms }}
exporters:
  otlp/sink:
    endpoint: http://127.0.0.1:{sink}
    compression: none
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp/sink] }}
    logs: {{ receivers: [otlp], processors: [batch], exporters: [otlp/sink] }}
"#,
        sink = sink.port
    );
    let _gateway = Gateway::start(&yaml, &[grpc, http, admin]).await;

    let traces = send(&[
        "--endpoint",
        &format!("http://127.0.0.1:{http}"),
        "--payload",
        &format!("{FIXTURES}/001_traces.pb"),
        "--connections",
        "2",
        "--duration",
        "2s",
    ]);
    assert_eq!(traces["errors"], 0, "{traces:#}");
    assert_eq!(traces["items_per_request"], 512, "{traces:#}");
    let sent = traces["items"].as_u64().expect("items");
    assert!(sent > 0, "{traces:#}");
    assert_eq!(sent, traces["ok"].as_u64().expect("ok") * 512, "{traces:#}");
    assert_eq!(sink.wait_items("traces", sent).await, sent, "{traces:#}");

    let logs = send(&[
        "--endpoint",
        &format!("http://127.0.0.1:{grpc}"),
        "--protocol",
        "grpc",
        "--gzip",
        "--payload",
        &format!("{FIXTURES}/004_logs.pb"),
        "--connections",
        "2",
        "--duration",
        "1s",
    ]);
    assert_eq!(logs["errors"], 0, "{logs:#}");
    let sent = logs["items"].as_u64().expect("items");
    assert!(sent > 0, "{logs:#}");
    assert_eq!(sink.wait_items("logs", sent).await, sent, "{logs:#}");
    for key in ["requests_per_s", "items_per_s", "mb_per_s"] {
        assert!(
            logs[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {logs:#}"
        );
    }
    for key in ["p50", "p99", "max"] {
        assert!(
            logs["latency_ms"][key].as_f64().is_some(),
            "{key}: {logs:#}"
        );
    }
}
