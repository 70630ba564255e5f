//! Integration tests: the real gateway binary with real sockets, fake backends on port 0.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: failing loudly is the point

mod support;

mod alert_rules;
mod bad_requests;
mod cardinality_e2e;
mod codex_cli;
mod codex_config_cmd;
mod codex_drift;
mod codex_ingest;
mod codex_intelligence;
mod config_validate;
mod dashboards;
mod delivery;
mod disk_full;
mod docs_registry;
mod doctor;
mod fixture_replay;
mod hardening;
mod healthcheck;
mod identity_e2e;
mod init_cmd;
mod loadbalancing;
mod loadgen;
mod persistent_damage;
mod privacy_corpus;
mod processors_e2e;
mod redaction_e2e;
mod reload;
mod remote_write;
mod rotel_interop;
mod routing;
mod shipped_configs;
mod telemetry;
mod tls_auth;
mod top_tui;
mod usage_accounting;
mod vendor_fit;

use support::backends::FakeBackend;
use support::gateway::{free_port, Gateway};

/// A running gateway with its ports, fed to two in-test backends (one gRPC, one HTTP).
pub struct Setup {
    pub gateway: Gateway,
    pub grpc_port: u16,
    pub http_port: u16,
    pub admin_port: u16,
    pub grpc_backend: FakeBackend,
    pub http_backend: FakeBackend,
}

impl Setup {
    /// `http://127.0.0.1:<http port>`.
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// `http://127.0.0.1:<grpc port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }
}

/// Options for [`fan_out_config`].
#[derive(Clone, Copy)]
pub struct FanOut<'a> {
    /// `encoding:` of the otlphttp exporter.
    pub http_encoding: &'a str,
    /// Processors (ids) of every pipeline, defined in `processors_yaml`.
    pub processors: &'a [&'a str],
    /// YAML of the `processors:` section body (indented by 2).
    pub processors_yaml: &'a str,
    /// Extra YAML under `receivers: otlp: protocols: http:` (indented by 8).
    pub http_extra: &'a str,
    /// Extra YAML under `receivers: otlp: protocols: grpc:` (indented by 8).
    pub grpc_extra: &'a str,
    /// Extra YAML under `service: telemetry: metrics:` (indented by 6).
    pub admin_extra: &'a str,
}

impl Default for FanOut<'_> {
    fn default() -> Self {
        FanOut {
            http_encoding: "proto",
            processors: &[],
            processors_yaml: "",
            http_extra: "",
            grpc_extra: "",
            admin_extra: "",
        }
    }
}

/// The config of a gateway fanning every signal out to a gRPC and an HTTP backend.
pub fn fan_out_config(
    grpc_port: u16,
    http_port: u16,
    admin_port: u16,
    grpc_backend: &str,
    http_backend: &str,
    o: FanOut<'_>,
) -> String {
    let procs = o.processors.join(", ");
    let processors_section = if o.processors_yaml.is_empty() {
        String::new()
    } else {
        format!("processors:\n{}\n", o.processors_yaml)
    };
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
{grpc_extra}
      http:
        endpoint: 127.0.0.1:{http_port}
{http_extra}
{processors_section}exporters:
  otlp/grpc-backend:
    endpoint: {grpc_backend}
    compression: gzip
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
  otlphttp/http-backend:
    endpoint: {http_backend}
    encoding: {enc}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
{admin_extra}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{procs}]
      exporters: [otlp/grpc-backend, otlphttp/http-backend]
    metrics:
      receivers: [otlp]
      processors: [{procs}]
      exporters: [otlp/grpc-backend, otlphttp/http-backend]
    logs:
      receivers: [otlp]
      processors: [{procs}]
      exporters: [otlp/grpc-backend, otlphttp/http-backend]
"#,
        grpc_extra = o.grpc_extra,
        http_extra = o.http_extra,
        admin_extra = o.admin_extra,
        enc = o.http_encoding,
    )
}

/// Starts two backends and a gateway fanning out to both.
pub async fn start_fan_out(o: FanOut<'_>) -> Setup {
    let grpc_backend = FakeBackend::grpc().await;
    let http_backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    let yaml = fan_out_config(
        grpc_port,
        http_port,
        admin_port,
        &grpc_backend.endpoint(),
        &http_backend.endpoint(),
        o,
    );
    let gateway = Gateway::start(&yaml, &[grpc_port, http_port, admin_port]).await;
    Setup {
        gateway,
        grpc_port,
        http_port,
        admin_port,
        grpc_backend,
        http_backend,
    }
}
