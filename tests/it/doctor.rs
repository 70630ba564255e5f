//! `codex-otel-gateway doctor` through the binary: each exporter's destination is probed with one
//! synthetic item per signal and a failure is explained by stage (a backend answering 401, 404,
//! 413, a gRPC backend refusing the credentials, a TLS endpoint with an untrusted certificate, a
//! closed port) while a good backend passes; a wrong Codex `config.toml` gets one finding per
//! mistake; and the block `codex-config` prints passes doctor with no finding and is accepted by
//! the real Codex CLI (`--strict-config`), which then delivers through the gateway.

use crate::support::backends::FakeBackend;
use crate::support::codex::{CodexSession, CodexVersion, OtelProtocol};
use crate::support::gateway::{free_port, run_cli, Gateway};
use crate::support::mock_llm::{MockLlm, Script};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const TOKEN_ENV: &str = "DOCTOR_TEST_BACKEND_TOKEN";
const GRPC_KEY_ENV: &str = "DOCTOR_TEST_GRPC_KEY";
const RECEIVER_TOKEN: &str = "doctor-receiver-token";

/// Runs the binary with `args`, extra environment, and Codex's variables emptied (an empty
/// `CODEX_HOME` or `OTEL_EXPORTER_OTLP_HEADERS` counts as unset): (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut all = vec![("CODEX_HOME", ""), ("OTEL_EXPORTER_OTLP_HEADERS", "")];
    all.extend_from_slice(env);
    run_cli(args, &all)
}

fn doctor(config: &Path, codex: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let (code, out, err) = run(
        &[
            "doctor",
            "--config",
            config.to_str().unwrap(),
            "--codex-config",
            codex.to_str().unwrap(),
            "--timeout",
            "3s",
        ],
        env,
    );
    assert!(err.is_empty(), "doctor wrote to stderr: {err}");
    (code, out)
}

/// The one report line whose level is `level` and that contains every needle.
fn line<'a>(report: &'a str, level: &str, needles: &[&str]) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(level) && needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no {level} line with {needles:?} in:\n{report}"))
}

/// A TLS listener on 127.0.0.1 whose self-signed certificate (for `localhost`) no CA vouches
/// for; it completes no request.
async fn untrusted_tls_listener() -> (u16, tokio::task::JoinHandle<()>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await;
            });
        }
    });
    (port, task)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let port = free_port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    port
}

fn receiver_yaml(http_port: u16, auth: bool) -> String {
    let auth = if auth {
        format!("    auth:\n      bearer_tokens:\n        - token: {RECEIVER_TOKEN}\n")
    } else {
        String::new()
    };
    format!(
        "receivers:\n  otlp:\n{auth}    protocols:\n      http:\n        endpoint: 127.0.0.1:{http_port}\n"
    )
}

/// The gateway config, `codex-config`'s block for it in a Codex config file, the gateway started.
async fn gateway_with_codex_block(
    yaml: &str,
    http_port: u16,
    admin_port: u16,
    env: &[(&str, &str)],
) -> (Gateway, String, tempfile::TempDir) {
    let gateway = Gateway::start_with_env(yaml, &[http_port, admin_port], env).await;
    let mut env_cc = env.to_vec();
    env_cc.push(("CODEX_GATEWAY_TOKEN", RECEIVER_TOKEN));
    let (code, block, err) = run(
        &[
            "codex-config",
            "--config",
            gateway.config_path().to_str().unwrap(),
            "--auth-header-env",
            "CODEX_GATEWAY_TOKEN",
        ],
        &env_cc,
    );
    assert_eq!(code, 0, "codex-config: {err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), &block).unwrap();
    (gateway, block, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_explains_each_failing_destination_and_passes_the_good_one() {
    let good = FakeBackend::http().await;
    let unauthorized = FakeBackend::http().await;
    unauthorized.set_status(Some(401));
    let not_found = FakeBackend::http().await;
    not_found.set_status(Some(404));
    let too_large = FakeBackend::http().await;
    too_large.set_status(Some(413));
    let grpc_refusing = FakeBackend::grpc().await;
    grpc_refusing.set_status(Some(401));
    let (tls_port, tls_task) = untrusted_tls_listener().await;
    let closed = closed_port();
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"{receiver}exporters:
  otlphttp/good:
    endpoint: {good}
  otlphttp/unauthorized:
    endpoint: {unauthorized}
    headers:
      Authorization: "Bearer ${{env:{TOKEN_ENV}}}"
  otlphttp/notfound:
    endpoint: {not_found}
  otlphttp/toolarge:
    endpoint: {too_large}
  otlp/refusing:
    endpoint: {grpc}
    headers:
      x-api-key: ${{env:{GRPC_KEY_ENV}}}
  otlphttp/untrusted:
    endpoint: https://localhost:{tls_port}
  otlp/closed:
    endpoint: http://127.0.0.1:{closed}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlphttp/good, otlphttp/unauthorized, otlphttp/notfound, otlphttp/toolarge, otlp/refusing, otlphttp/untrusted, otlp/closed]
    traces:
      receivers: [otlp]
      exporters: [otlphttp/good]
    metrics:
      receivers: [otlp]
      exporters: [otlphttp/good]
"#,
        receiver = receiver_yaml(http_port, false),
        good = good.endpoint(),
        unauthorized = unauthorized.endpoint(),
        not_found = not_found.endpoint(),
        too_large = too_large.endpoint(),
        grpc = grpc_refusing.endpoint(),
    );
    let env = [
        (TOKEN_ENV, "expired-backend-token"),
        (GRPC_KEY_ENV, "stale-grpc-key"),
    ];
    let (mut gateway, _, codex_dir) =
        gateway_with_codex_block(&yaml, http_port, admin_port, &env).await;
    let (code, report) = doctor(
        gateway.config_path(),
        &codex_dir.path().join("config.toml"),
        &env,
    );
    assert_eq!(code, 1, "{report}");

    for signal in ["logs", "traces", "metrics"] {
        line(
            &report,
            "ok",
            &[&format!("exporters.otlphttp/good {signal}:"), "HTTP 200"],
        );
    }
    assert_eq!(
        good.log_record_count(),
        1,
        "one synthetic record per signal"
    );
    assert_eq!(good.span_count(), 1);
    assert_eq!(good.data_point_count(), 1);
    let l = line(
        &report,
        "FAIL",
        &["exporters.otlphttp/unauthorized logs:", "HTTP 401"],
    );
    assert!(
        l.contains(&format!("headers.Authorization comes from ${TOKEN_ENV}")),
        "{l}"
    );
    assert!(
        !l.contains("expired-backend-token"),
        "the token is never printed: {l}"
    );
    let l = line(
        &report,
        "FAIL",
        &["exporters.otlphttp/notfound logs:", "HTTP 404"],
    );
    assert!(
        l.contains("path /v1/logs") && l.contains("logs_endpoint"),
        "{l}"
    );
    line(
        &report,
        "FAIL",
        &["exporters.otlphttp/toolarge logs:", "HTTP 413", "too large"],
    );
    let l = line(
        &report,
        "FAIL",
        &["exporters.otlp/refusing logs:", "Unauthenticated"],
    );
    assert!(
        l.contains(&format!("headers.x-api-key comes from ${GRPC_KEY_ENV}")),
        "{l}"
    );
    let l = line(
        &report,
        "FAIL",
        &["exporters.otlphttp/untrusted logs:", "TLS"],
    );
    assert!(
        l.contains("not signed by a CA") && l.contains("tls.ca_file"),
        "{l}"
    );
    let l = line(
        &report,
        "FAIL",
        &["exporters.otlp/closed logs:", "connection refused"],
    );
    assert!(l.contains(&format!("127.0.0.1:{closed}")), "{l}");
    line(&report, "ok", &["gateway:", "/healthz: 200"]);
    line(&report, "ok", &["gateway:", "/readyz: 200"]);
    assert_eq!(
        report.lines().filter(|l| l.starts_with("FAIL")).count(),
        6,
        "{report}"
    );
    tls_task.abort();
    assert!(gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_every_mistake_in_a_wrong_codex_config() {
    let (http_port, grpc_port, admin_port) = (free_port(), free_port(), free_port());
    // The receiver takes Basic credentials only, over HTTP and gRPC; the gateway is not running.
    let yaml = format!(
        r#"receivers:
  otlp:
    auth:
      basic:
        - username: codex
          password: s3cret
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  debug:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, yaml).unwrap();
    let codex = dir.path().join("config.toml");
    std::fs::write(
        &codex,
        format!(
            r#"[otel]
log_user_prompt = true
exporter = "none"

[otel.trace_exporter.otlp-http]
endpoint = "http://127.0.0.1:{http_port}"
protocol = "binary"
headers = {{ authorization = "Bearer abc" }}

[otel.metrics_exporter.otlp-grpc]
endpoint = "http://127.0.0.1:{grpc_port}"
protocol = "binary"
headers = {{ authorization = "\"Basic Y29kZXg6czNjcmV0\"" }}
"#
        ),
    )
    .unwrap();
    let (code, report) = doctor(&config, &codex, &[]);
    assert_eq!(code, 1, "{report}");
    line(&report, "warn", &["log_user_prompt", "prompt"]);
    line(&report, "warn", &["environment", "not set"]);
    line(
        &report,
        "FAIL",
        &["[otel.exporter]", "Codex exports no logs"],
    );
    let l = line(&report, "FAIL", &["[otel.trace_exporter]", "has no path"]);
    assert!(
        l.contains(&format!(
            "endpoint = \"http://127.0.0.1:{http_port}/v1/traces\""
        )),
        "{l}"
    );
    line(
        &report,
        "FAIL",
        &[
            "[otel.trace_exporter]",
            "Bearer credential, but the gateway expects Basic",
        ],
    );
    line(
        &report,
        "FAIL",
        &[
            "[otel.metrics_exporter]",
            "protocol is not an otlp-grpc key",
        ],
    );
    let l = line(
        &report,
        "FAIL",
        &["[otel.metrics_exporter]", "carries its own quotes"],
    );
    assert!(
        l.contains("authorization = \"Basic Y29kZXg6czNjcmV0\""),
        "{l}"
    );
    line(&report, "FAIL", &["gateway:", "/healthz", "refused"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codex_config_block_passes_doctor_and_the_real_codex_cli() {
    let backend = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"{receiver}exporters:
  otlphttp/backend:
    endpoint: {backend}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlphttp/backend]
    traces:
      receivers: [otlp]
      exporters: [otlphttp/backend]
    metrics:
      receivers: [otlp]
      exporters: [otlphttp/backend]
"#,
        receiver = receiver_yaml(http_port, true),
        backend = backend.endpoint(),
    );
    let (mut gateway, block, codex_dir) =
        gateway_with_codex_block(&yaml, http_port, admin_port, &[]).await;
    assert!(block.contains("log_user_prompt = false\n"), "{block}");
    assert!(block.contains("environment = \"prod\"\n"), "{block}");
    let (code, report) = doctor(
        gateway.config_path(),
        &codex_dir.path().join("config.toml"),
        &[],
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        report.lines().rev().skip(1).all(|l| l.starts_with("ok")),
        "a finding in:\n{report}"
    );
    assert!(report.ends_with(" 0 warnings, 0 failures\n"), "{report}");

    let llm = MockLlm::start(Script::with_tool_calls(["echo doctor-e2e"], "Done.")).await;
    for version in CodexVersion::ALL {
        let before = backend.log_record_count();
        let session = CodexSession::new(
            version,
            "Check the build",
            &llm.base_url(),
            OtelProtocol::HttpBinary,
            "http://127.0.0.1:9",
        );
        let run = session.run_with_otel_toml(&block).await;
        run.assert_success();
        assert!(
            backend
                .wait_for(|b| b.log_record_count() > before, Duration::from_secs(30))
                .await,
            "Codex {} delivered nothing through the gateway: {}",
            version.version(),
            backend.describe()
        );
    }
    assert!(gateway.stop().await.success());
}
