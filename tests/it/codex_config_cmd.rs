//! `codex-otel-gateway codex-config`: the block it prints, written into a real Codex CLI's
//! `config.toml` (with the test's model provider), makes a `codex exec` session deliver logs,
//! metrics and traces to a gateway started from the same config — over OTLP/HTTP protobuf with
//! the receiver's bearer-token auth (the token written into the headers with `--auth-header-env`,
//! or left to Codex's environment as `OTEL_EXPORTER_OTLP_HEADERS`) and over OTLP/gRPC.

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion};
use crate::support::fixtures::{all_log_records, attr_text};
use crate::support::gateway::{free_port, run_cli, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "gw-s3cret-token-for-codex";

/// Runs `codex-otel-gateway codex-config --config FILE ARGS...` with these extra environment
/// variables: (exit code, stdout, stderr).
fn codex_config(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let config = config.to_string_lossy();
    let mut all = vec!["codex-config", "--config", &config];
    all.extend_from_slice(args);
    run_cli(&all, env)
}

fn gateway_yaml(receiver: &str, backend: &str, admin_port: u16) -> String {
    format!(
        r#"receivers:
  otlp:
{receiver}
exporters:
  otlphttp/backend:
    endpoint: {backend}
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
      exporters: [otlphttp/backend]
    metrics:
      receivers: [otlp]
      exporters: [otlphttp/backend]
    logs:
      receivers: [otlp]
      exporters: [otlphttp/backend]
"#
    )
}

fn resource_attr(backend: &FakeBackend, key: &str) -> Option<String> {
    backend
        .received_logs()
        .iter()
        .flat_map(|r| &r.resource_logs)
        .filter_map(|rl| rl.resource.as_ref())
        .find_map(|res| attr_text(&res.attributes, key))
}

/// Starts the gateway, prints the block, runs Codex with it and checks the backend got all three
/// signals; returns the backend and the printed block.
async fn codex_delivers_with_generated_block(
    version: CodexVersion,
    receiver_yaml: &str,
    wait_port: u16,
    args: &[&str],
    config_env: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (FakeBackend, String) {
    let backend = FakeBackend::http().await;
    let admin_port = free_port();
    let yaml = gateway_yaml(receiver_yaml, &backend.endpoint(), admin_port);
    let mut gateway = Gateway::start(&yaml, &[wait_port, admin_port]).await;
    let (code, block, stderr) = codex_config(gateway.config_path(), args, config_env);
    assert_eq!(code, 0, "codex-config failed: {stderr}");

    let llm = MockLlm::start(Script::with_tool_calls(["echo codex-config-e2e"], "Done.")).await;
    let mut session = CodexSession::new(
        version,
        "Check the build",
        &llm.base_url(),
        crate::support::codex::OtelProtocol::HttpBinary,
        "http://127.0.0.1:9",
    );
    session.extra_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let run = session.run_with_otel_toml(&block).await;
    run.assert_success();

    let ok = backend
        .wait_for(
            |b| {
                let logs = b.received_logs();
                all_log_records(&logs).iter().any(|r| {
                    attr_text(&r.attributes, "event.name").as_deref() == Some("codex.user_prompt")
                }) && b.data_point_count() > 0
                    && b.span_count() > 0
            },
            WAIT,
        )
        .await;
    assert!(
        ok,
        "backend got {}\n--- block ---\n{block}\n--- codex stderr ---\n{}\n{}",
        backend.describe(),
        run.stderr,
        gateway.output_report()
    );
    assert!(gateway.stop().await.success());
    (backend, block)
}

fn auth_receiver(http_port: u16) -> String {
    format!(
        "    auth:\n      bearer_tokens:\n        - token: {TOKEN}\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http_port}\n"
    )
}

async fn generated_http_block_with_the_token_in_headers_makes_real_codex_deliver_all_signals(
    version: CodexVersion,
) {
    let http_port = free_port();
    let (backend, block) = codex_delivers_with_generated_block(
        version,
        &auth_receiver(http_port),
        http_port,
        &["--auth-header-env", "GATEWAY_TOKEN"],
        &[("GATEWAY_TOKEN", TOKEN)],
        &[("OTEL_RESOURCE_ATTRIBUTES", "team=payments,project=checkout")],
    )
    .await;
    // Per-signal URLs, binary protocol, the token (read when rendering) in all three exporters.
    assert_eq!(
        block
            .matches(&format!("authorization = \"Bearer {TOKEN}\""))
            .count(),
        3,
        "{block}"
    );
    assert!(block.contains(&format!("\"http://127.0.0.1:{http_port}/v1/logs\"")));
    assert!(block.contains(&format!("\"http://127.0.0.1:{http_port}/v1/traces\"")));
    assert!(block.contains(&format!("\"http://127.0.0.1:{http_port}/v1/metrics\"")));
    assert!(block.contains("OTEL_RESOURCE_ATTRIBUTES=team=payments,project=checkout"));
    // Client-side team tags reach the backend as resource attributes.
    assert_eq!(resource_attr(&backend, "team").as_deref(), Some("payments"));
    assert_eq!(
        resource_attr(&backend, "project").as_deref(),
        Some("checkout")
    );
}

async fn generated_http_block_without_a_secret_works_with_the_token_in_codex_environment(
    version: CodexVersion,
) {
    let http_port = free_port();
    let header = format!("authorization=Bearer%20{TOKEN}");
    let (_backend, block) = codex_delivers_with_generated_block(
        version,
        &auth_receiver(http_port),
        http_port,
        &[],
        &[],
        &[("OTEL_EXPORTER_OTLP_HEADERS", header.as_str())],
    )
    .await;
    assert!(!block.contains(TOKEN), "{block}");
    assert!(!block.contains("authorization = "), "{block}");
    assert!(
        block.contains("OTEL_EXPORTER_OTLP_HEADERS=\"authorization=Bearer%20<credential>\""),
        "{block}"
    );
}

async fn generated_grpc_block_for_a_wildcard_receiver_makes_real_codex_deliver_all_signals(
    version: CodexVersion,
) {
    let grpc_port = free_port();
    let receiver = format!("    protocols:\n      grpc:\n        endpoint: 0.0.0.0:{grpc_port}\n");
    let (_backend, block) = codex_delivers_with_generated_block(
        version,
        &receiver,
        grpc_port,
        &["--protocol", "grpc", "--host", "localhost"],
        &[],
        &[],
    )
    .await;
    assert_eq!(
        block
            .matches(&format!("endpoint = \"http://localhost:{grpc_port}\""))
            .count(),
        3,
        "{block}"
    );
    assert_eq!(block.matches(".otlp-grpc]").count(), 3);
    assert!(!block.contains("protocol ="), "{block}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_http_block_with_the_token_in_headers_makes_real_codex_deliver_all_signals_codex_0_169(
) {
    generated_http_block_with_the_token_in_headers_makes_real_codex_deliver_all_signals(
        CodexVersion::V0_169,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_http_block_with_the_token_in_headers_makes_real_codex_deliver_all_signals_codex_0_171(
) {
    generated_http_block_with_the_token_in_headers_makes_real_codex_deliver_all_signals(
        CodexVersion::V0_171,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_http_block_without_a_secret_works_with_the_token_in_codex_environment_codex_0_169(
) {
    generated_http_block_without_a_secret_works_with_the_token_in_codex_environment(
        CodexVersion::V0_169,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_http_block_without_a_secret_works_with_the_token_in_codex_environment_codex_0_171(
) {
    generated_http_block_without_a_secret_works_with_the_token_in_codex_environment(
        CodexVersion::V0_171,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_grpc_block_for_a_wildcard_receiver_makes_real_codex_deliver_all_signals_codex_0_169(
) {
    generated_grpc_block_for_a_wildcard_receiver_makes_real_codex_deliver_all_signals(
        CodexVersion::V0_169,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_grpc_block_for_a_wildcard_receiver_makes_real_codex_deliver_all_signals_codex_0_171(
) {
    generated_grpc_block_for_a_wildcard_receiver_makes_real_codex_deliver_all_signals(
        CodexVersion::V0_171,
    )
    .await;
}

#[test]
fn requirements_form_and_unserved_protocol_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.yaml");
    std::fs::write(
        &path,
        gateway_yaml(
            "    protocols:\n      http:\n        endpoint: 0.0.0.0:4318\n",
            "http://127.0.0.1:9",
            free_port(),
        ),
    )
    .unwrap();
    let (code, out, err) = codex_config(&path, &["--requirements"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/etc/codex/requirements.toml"), "{out}");
    assert!(out.contains("[otel.metrics_exporter.otlp-http]"), "{out}");
    assert!(
        err.contains("--host"),
        "a wildcard receiver without --host warns: {err}"
    );
    let (code, _, err) = codex_config(&path, &["--protocol", "grpc"], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("protocols.grpc"), "{err}");
}
