//! SIGHUP reloads the config file: a broken one is rejected (logged like `validate`) and the
//! running pipelines keep delivering; a valid one takes effect behind the same listeners
//! without losing what the old exporters hold.

use std::process::Command;
use std::time::Duration;

use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{free_port, post, Gateway};

const PB: &str = "application/x-protobuf";
const WAIT: Duration = Duration::from_secs(30);

fn sighup(gw: &Gateway) {
    let status = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .expect("run kill -HUP");
    assert!(status.success(), "kill -HUP {} failed", gw.pid());
}

fn rewrite(gw: &Gateway, yaml: &str) {
    std::fs::write(gw.config_path(), yaml)
        .unwrap_or_else(|e| panic!("cannot rewrite {}: {e}", gw.config_path().display()));
}

/// A logs fixture as protobuf, and its number of log records.
fn logs_body() -> (Vec<u8>, usize) {
    let f = fixtures::fixture("tool-secrets-protobuf", "004_logs.pb");
    let records = fixtures::count_log_records(&[fixtures::decode_logs(&f)]);
    assert!(records > 0, "the fixture has log records");
    (f.protobuf_body(), records)
}

async fn send_logs(http_port: u16, body: &[u8], times: usize) {
    let url = format!("http://127.0.0.1:{http_port}/v1/logs");
    for i in 0..times {
        let (status, _, answer) = post(&url, PB, None, body.to_vec()).await;
        assert_eq!(
            status,
            200,
            "request {i}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
}

/// One OTLP/HTTP receiver, `exporters` (YAML body, indented by 2) and a logs pipeline to
/// `pipeline_exporters`.
fn config(http_port: u16, admin_port: u16, exporters: &str, pipeline_exporters: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
{exporters}
service:
  shutdown_timeout: 5s
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [{pipeline_exporters}]
"#
    )
}

fn otlphttp_exporter(id: &str, port: u16) -> String {
    format!(
        r#"  otlphttp/{id}:
    endpoint: http://127.0.0.1:{port}
    timeout: 2s
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
      max_elapsed_time: 120s
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_config_keeps_serving() {
    let backend = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = config(
        http_port,
        admin_port,
        &otlphttp_exporter("old", backend.port()),
        "otlphttp/old",
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    assert!(gw.wait_for_output("gateway ready", WAIT).await);
    let (body, records) = logs_body();

    // Broken YAML.
    rewrite(&gw, "receivers: [this is: not yaml\n");
    sighup(&gw);
    assert!(
        gw.wait_for_output("config reload rejected", WAIT).await,
        "{}",
        gw.output_report()
    );
    send_logs(http_port, &body, 2).await;
    backend.expect_log_records(2 * records, WAIT).await;

    // Valid YAML, invalid config: the same errors as `validate`.
    let invalid = config(
        http_port,
        admin_port,
        &otlphttp_exporter("old", backend.port()),
        "otlphttp/missing",
    );
    let (code, _, validate_err) = Gateway::validate(&invalid);
    assert_eq!(code, 78, "validate rejects it: {validate_err}");
    let first_error = validate_err
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("validate prints an error line")
        .to_string();
    rewrite(&gw, &invalid);
    sighup(&gw);
    assert!(
        gw.wait_for_output(&first_error, WAIT).await,
        "the reload logs {first_error:?}\n{}",
        gw.output_report()
    );
    send_logs(http_port, &body, 2).await;
    backend.expect_log_records(4 * records, WAIT).await;
    assert!(gw.is_running());
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_new_exporter_delivers_to_it_and_loses_nothing_queued() {
    let a_port = free_port(); // reserved: nothing listens until the end
    let b = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let a = otlphttp_exporter("a", a_port);
    let yaml = config(http_port, admin_port, &a, "otlphttp/a");
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    assert!(gw.wait_for_output("gateway ready", WAIT).await);
    let (body, records) = logs_body();

    // Queued in A while its backend is down.
    send_logs(http_port, &body, 3).await;

    let both = format!("{a}{}", otlphttp_exporter("b", b.port()));
    rewrite(
        &gw,
        &config(http_port, admin_port, &both, "otlphttp/a, otlphttp/b"),
    );
    sighup(&gw);
    assert!(
        gw.wait_for_output("config reloaded", WAIT).await,
        "{}",
        gw.output_report()
    );

    // New data reaches B (and only what came after the reload).
    send_logs(http_port, &body, 2).await;
    b.expect_log_records(2 * records, WAIT).await;

    // A's backend comes up: everything sent before and after the reload arrives.
    let a_backend = FakeBackend::http_on(a_port).await;
    a_backend.expect_log_records(5 * records, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.log_record_count(), 2 * records, "B got only the new data");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
}
