//! Config of the `otlp` receiver, in the Collector's shape
//! (`protocols: { grpc: { endpoint, tls }, http: { endpoint, tls } }, auth: { ... }`).

use processors::units::{self, ByteSize, ConfigDuration};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::base::diagnostic::{join, Diagnostic};
use crate::base::serve::ConnLimits;
pub use crate::base::tls::TlsVersion;
pub use crate::pipeline::limits::LimitsConfig;

/// `receivers: otlp:`: which protocols to serve. `grpc:` or `http:` with no value uses defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve; at least one.
    #[serde(default)]
    pub protocols: ProtocolsConfig,
    /// Client authentication, checked on both protocols before a request body is read. Default:
    /// none (every client is accepted).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Limits on attributes and values, applied to every decoded request (both protocols, all
    /// signals) before the pipelines see it. Default: see [`LimitsConfig`].
    #[serde(default)]
    pub limits: LimitsConfig,
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
    /// Requests processed at once (over all connections, counted from when the request's body
    /// is in until it is answered); more get 503 + `Retry-After` / UNAVAILABLE + RetryInfo at
    /// once. Default 256.
    #[serde(
        default = "default_max_concurrent_requests",
        deserialize_with = "units::uint"
    )]
    pub max_concurrent_requests: usize,
    /// Longest time a call may take to send its whole request message; a call that has not
    /// finished sending by then ends with an error (a stalled call never holds a
    /// `max_concurrent_requests` slot: the slot is taken once the message is in). Default `30s`.
    #[serde(default = "default_read_message_timeout")]
    pub read_message_timeout: ConfigDuration,
    /// Connections open at once on this listener; more are closed as soon as they are accepted
    /// (counted in `gateway_receiver_connections_refused_total`). Default 1024.
    #[serde(default = "default_max_connections", deserialize_with = "units::uint")]
    pub max_connections: usize,
    /// A new connection must finish its TLS handshake and start its first request within this
    /// time, or it is closed. Default `10s`.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: ConfigDuration,
    /// A connection with no request in progress and none started for this long is closed
    /// (bytes that carry no request, such as HTTP/2 pings, do not count). Default `60s`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: ConfigDuration,
    /// Serve over TLS (HTTP/2 with ALPN `h2`). Default: plaintext.
    #[serde(default)]
    pub tls: Option<TlsServerConfig>,
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
    /// Longest time an HTTP/1 client may take to send a request's headers (slowloris guard);
    /// the connection is closed when it passes. `0s` turns it off. Default `10s`.
    #[serde(default = "default_read_header_timeout")]
    pub read_header_timeout: ConfigDuration,
    /// Requests processed at once (over all connections, counted from when the request's body
    /// is in until it is answered); more get 503 + `Retry-After` / UNAVAILABLE + RetryInfo at
    /// once. Default 256.
    #[serde(
        default = "default_max_concurrent_requests",
        deserialize_with = "units::uint"
    )]
    pub max_concurrent_requests: usize,
    /// Longest time a client may take to send a request's body once its headers are in; a
    /// request still sending after that is answered 408 and its connection closed (a stalled
    /// body never holds a `max_concurrent_requests` slot: the slot is taken once the body is
    /// in). Default `30s`.
    #[serde(default = "default_read_body_timeout")]
    pub read_body_timeout: ConfigDuration,
    /// Connections open at once on this listener; more are closed as soon as they are accepted
    /// (counted in `gateway_receiver_connections_refused_total`). Default 1024.
    #[serde(default = "default_max_connections", deserialize_with = "units::uint")]
    pub max_connections: usize,
    /// A new connection must finish its TLS handshake and start its first request within this
    /// time, or it is closed. Default `10s`.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: ConfigDuration,
    /// A connection with no request in progress and none started for this long is closed
    /// (bytes that carry no request, such as HTTP/2 pings, do not count). Default `60s`.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: ConfigDuration,
    /// Serve over TLS (`https://`, ALPN `h2` and `http/1.1`). Default: plaintext.
    #[serde(default)]
    pub tls: Option<TlsServerConfig>,
}

/// `protocols: grpc|http: tls:`: the server's certificate and, for mutual TLS, the CA that signs
/// client certificates. Files are read when the config is validated and when the receiver
/// starts; afterwards they are re-read whenever their modification time changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM file with the server certificate, followed by any intermediate certificates.
    /// Required.
    pub cert_file: PathBuf,
    /// PEM file with the private key of `cert_file` (PKCS#8, PKCS#1/RSA or SEC1/EC). Required.
    pub key_file: PathBuf,
    /// PEM file with the CA certificate(s) that sign client certificates. When set, every client
    /// must present a certificate that chains to one of them (mutual TLS). Default: none.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Oldest TLS version accepted: `"1.2"` (default) or `"1.3"`. Older versions are refused.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// How often the certificate, key and client CA files are checked for changes (by
    /// modification time and size). `0s` turns reloading off. Default `5s`.
    #[serde(default = "default_reload_interval")]
    pub reload_interval: ConfigDuration,
}

/// `receivers: otlp: auth:`: the credentials a client must present in the `Authorization`
/// header (HTTP) or `authorization` metadata (gRPC). A request matching none of them is refused
/// with 401 / UNAUTHENTICATED before its body is read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted `Authorization: Bearer <token>` tokens. Default: none.
    #[serde(default)]
    pub bearer_tokens: Vec<BearerTokenConfig>,
    /// Accepted `Authorization: Basic <base64(username:password)>` credentials. Default: none.
    #[serde(default)]
    pub basic: Vec<BasicAuthConfig>,
}

/// One accepted bearer token.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenConfig {
    /// The token, usually `${env:NAME}`. Required; never logged.
    pub token: Secret,
    /// Added to the request metadata seen by processors as `auth.<key>` (e.g. `auth.team`) when
    /// this token is used. Default: none.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// One accepted username/password pair.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The user name (no `:`). Required.
    pub username: String,
    /// The password, usually `${env:NAME}`. Required; never logged.
    pub password: Secret,
    /// Added to the request metadata as `auth.<key>` when these credentials are used. Default:
    /// none.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A secret string from the config: compared, never printed (`Debug` shows `<redacted>`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret's text, for comparison.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: default_grpc_endpoint(),
            max_recv_msg_size: default_grpc_max_msg(),
            max_concurrent_streams: default_streams(),
            max_local_error_reset_streams: default_resets(),
            max_concurrent_requests: default_max_concurrent_requests(),
            read_message_timeout: default_read_message_timeout(),
            max_connections: default_max_connections(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: default_idle_timeout(),
            tls: None,
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
            read_header_timeout: default_read_header_timeout(),
            max_concurrent_requests: default_max_concurrent_requests(),
            read_body_timeout: default_read_body_timeout(),
            max_connections: default_max_connections(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: default_idle_timeout(),
            tls: None,
        }
    }
}

fn default_max_concurrent_requests() -> usize {
    256
}
fn default_read_header_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_read_body_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_read_message_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_max_connections() -> usize {
    1024
}
fn default_handshake_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_idle_timeout() -> ConfigDuration {
    ConfigDuration::secs(60)
}
fn default_reload_interval() -> ConfigDuration {
    ConfigDuration::secs(5)
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

impl GrpcServerConfig {
    /// The bounds of its listener.
    pub fn conn_limits(&self, name: String) -> ConnLimits {
        ConnLimits {
            name,
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout.0,
            idle_timeout: self.idle_timeout.0,
        }
    }
}

impl HttpServerConfig {
    /// The bounds of its listener.
    pub fn conn_limits(&self, name: String) -> ConnLimits {
        ConnLimits {
            name,
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout.0,
            idle_timeout: self.idle_timeout.0,
        }
    }
}

impl OtlpReceiverConfig {
    /// Protocol settings that cannot work: no protocol, zero limits, bad or clashing paths.
    pub fn check_protocols(&self, path: &str, out: &mut Vec<Diagnostic>) {
        let base = join(path, "protocols");
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            out.push(Diagnostic::error(
                base.clone(),
                "enable at least one of grpc or http",
            ));
        }
        let at_least_one = |field: &str, n: usize, out: &mut Vec<Diagnostic>| {
            if n == 0 {
                out.push(Diagnostic::error(join(&base, field), "must be at least 1"));
            }
        };
        let limits = join(path, "limits");
        for (field, n) in [
            ("max_items_per_request", self.limits.max_items_per_request),
            (
                "max_concurrent_decodes",
                self.limits.max_concurrent_decodes as u64,
            ),
            ("max_decoded_size", self.limits.max_decoded_size.0),
        ] {
            if n == 0 {
                out.push(Diagnostic::error(
                    join(&limits, field),
                    "must be at least 1",
                ));
            }
        }
        if let Some(g) = &self.protocols.grpc {
            at_least_one(
                "grpc.max_concurrent_streams",
                g.max_concurrent_streams as usize,
                out,
            );
            at_least_one(
                "grpc.max_concurrent_requests",
                g.max_concurrent_requests,
                out,
            );
        }
        if let Some(h) = &self.protocols.http {
            at_least_one(
                "http.max_concurrent_requests",
                h.max_concurrent_requests,
                out,
            );
            let mut paths = std::collections::BTreeSet::new();
            for (key, p) in [
                ("traces_url_path", &h.traces_url_path),
                ("metrics_url_path", &h.metrics_url_path),
                ("logs_url_path", &h.logs_url_path),
            ] {
                let path = join(&base, &format!("http.{key}"));
                if !p.starts_with('/') {
                    out.push(Diagnostic::error(
                        path,
                        format!("{p:?} must start with '/'"),
                    ));
                } else if !paths.insert(p) {
                    out.push(Diagnostic::error(
                        path,
                        format!("{p:?} is used for two signals"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_versions_parse_from_strings_and_numbers_and_refuse_old_ones() {
        let v = |j: serde_json::Value| serde_json::from_value::<TlsVersion>(j);
        assert_eq!(v(serde_json::json!("1.2")).ok(), Some(TlsVersion::Tls12));
        assert_eq!(v(serde_json::json!("1.3")).ok(), Some(TlsVersion::Tls13));
        assert_eq!(
            v(serde_json::json!("TLSv1.3")).ok(),
            Some(TlsVersion::Tls13)
        );
        assert_eq!(v(serde_json::json!(1.2)).ok(), Some(TlsVersion::Tls12));
        assert_eq!(v(serde_json::json!(1.3)).ok(), Some(TlsVersion::Tls13));
        for old in [
            serde_json::json!("1.1"),
            serde_json::json!(1.1),
            serde_json::json!("1.0"),
            serde_json::json!(1),
        ] {
            let err = v(old.clone()).expect_err("refused").to_string();
            assert!(err.contains("refused"), "{old}: {err}");
        }
        assert!(v(serde_json::json!("2.0")).is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let cfg: AuthConfig = serde_json::from_value(serde_json::json!({
            "bearer_tokens": [{"token": "s3cr3t-token", "attributes": {"team": "payments"}}],
            "basic": [{"username": "codex", "password": "hunter2"}],
        }))
        .expect("auth config");
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("s3cr3t-token") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("payments"));
    }
}
