//! Config of the `otlp` receiver, in the Collector's shape
//! (`protocols: { grpc: { endpoint }, http: { endpoint } }`).

use crate::config::units::{self, ByteSize};
use serde::Deserialize;

/// `receivers: otlp:`: which protocols to serve. `grpc:` or `http:` with no value uses defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve; at least one.
    #[serde(default)]
    pub protocols: ProtocolsConfig,
}

/// `protocols:` of the `otlp` receiver.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolsConfig {
    /// OTLP/gRPC server.
    #[serde(default, deserialize_with = "units::null_as_default")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP server (protobuf and JSON).
    #[serde(default, deserialize_with = "units::null_as_default")]
    pub http: Option<HttpServerConfig>,
}

/// `protocols: grpc:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// `host:port` to listen on. Default `127.0.0.1:4317`; use `0.0.0.0:4317` in a container.
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    /// Largest accepted message after decompression. Default `4MiB`.
    #[serde(default = "default_grpc_max_msg")]
    pub max_recv_msg_size: ByteSize,
    /// HTTP/2 streams one client connection may have open at once. Default 100.
    #[serde(default = "default_streams", deserialize_with = "units::uint")]
    pub max_concurrent_streams: u32,
    /// Locally reset streams (e.g. refused or malformed requests) tolerated per connection before
    /// it is closed: the HTTP/2 "rapid reset" guard. Default 1024.
    #[serde(default = "default_resets", deserialize_with = "units::uint")]
    pub max_local_error_reset_streams: usize,
}

/// `protocols: http:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// `host:port` to listen on. Default `127.0.0.1:4318`; use `0.0.0.0:4318` in a container.
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// Path for traces. Default `/v1/traces`.
    #[serde(default = "default_traces_path")]
    pub traces_url_path: String,
    /// Path for metrics. Default `/v1/metrics`.
    #[serde(default = "default_metrics_path")]
    pub metrics_url_path: String,
    /// Path for logs. Default `/v1/logs`.
    #[serde(default = "default_logs_path")]
    pub logs_url_path: String,
    /// Largest accepted body after decompression; larger gets 413. Default `20MiB`.
    #[serde(default = "default_http_max_body")]
    pub max_request_body_size: ByteSize,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size: default_grpc_max_msg(),
            max_concurrent_streams: default_streams(),
            max_local_error_reset_streams: default_resets(),
        }
    }
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: default_http_endpoint(),
            traces_url_path: default_traces_path(),
            metrics_url_path: default_metrics_path(),
            logs_url_path: default_logs_path(),
            max_request_body_size: default_http_max_body(),
        }
    }
}

fn default_grpc_endpoint() -> String {
    "127.0.0.1:4317".into()
}
fn default_http_endpoint() -> String {
    "127.0.0.1:4318".into()
}
fn default_grpc_max_msg() -> ByteSize {
    ByteSize::mib(4)
}
fn default_http_max_body() -> ByteSize {
    ByteSize::mib(20)
}
fn default_streams() -> u32 {
    100
}
fn default_resets() -> usize {
    1024
}
fn default_traces_path() -> String {
    "/v1/traces".into()
}
fn default_metrics_path() -> String {
    "/v1/metrics".into()
}
fn default_logs_path() -> String {
    "/v1/logs".into()
}
