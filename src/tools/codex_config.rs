//! `codex-otel-gateway codex-config`: the Codex CLI side of a gateway config. Renders the
//! `[otel]` block of Codex's `config.toml` (or the `/etc/codex/requirements.toml` form an
//! administrator uses to enforce it) so that Codex exports its logs, metrics and traces to the
//! gateway's `otlp` receiver. Pure: takes a validated [`GatewayConfig`], returns text; `main.rs`
//! prints it.
//!
//! What the rendered block relies on (Codex 0.169.0, checked with `codex exec --strict-config`):
//!
//! * `[otel.exporter.otlp-http]`, `[otel.trace_exporter.otlp-http]` and
//!   `[otel.metrics_exporter.otlp-http]` take `endpoint`, `protocol` (`"binary"` or `"json"`) and a
//!   `headers` table; Codex posts to exactly the `endpoint` URL (it appends no `/v1/<signal>`), so
//!   each exporter gets the receiver's per-signal path.
//! * `[otel.*.otlp-grpc]` takes `endpoint` and `headers` and no `protocol`.
//! * Header values are sent as written: Codex does **not** expand `${NAME}` in them (a header
//!   `"Bearer ${TOKEN}"` reaches the server literally). A credential therefore either goes into the
//!   file (`--auth-header-env NAME`: read from `NAME` when the block is rendered), or stays in
//!   Codex's environment as `OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>`, which
//!   Codex's OTLP exporters add to every request (the block then says so in a comment).
//! * Codex's OpenTelemetry SDK reads `OTEL_RESOURCE_ATTRIBUTES`, which is how clients add team tags.
//!
//! The requirements form: Codex 0.169.0's `ConfigRequirementsToml` has an `[otel]` table
//! (`OtelRequirementsToml`: `exporter`, `trace_exporter`, `metrics_exporter`, `log_user_prompt`,
//! ...) next to the documented keys (`allowed_approval_policies`, ...), in the same shape as the
//! `config.toml` table. OpenAI's requirements.toml reference does not list it yet; it was checked by
//! hand with the real CLI (a private mount namespace giving it an `/etc/codex/requirements.toml`
//! with the rendered block): Codex exported to the gateway with no `[otel]` in `config.toml`, and
//! with a user `[otel]` pointing elsewhere it warned "Configured values under `otel` are overridden
//! by requirements from /etc/codex/requirements.toml" and still exported to the gateway.

use crate::config::model::GatewayConfig;
use crate::receivers::otlp::config::{AuthConfig, HttpServerConfig, OtlpReceiverConfig};
use crate::receivers::ReceiverConfig;
use std::fmt::Write as _;

/// How Codex should export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`otlp-http`, `protocol = "binary"`).
    #[default]
    HttpBinary,
    /// OTLP/HTTP with JSON bodies (`otlp-http`, `protocol = "json"`).
    HttpJson,
    /// OTLP/gRPC (`otlp-grpc`).
    Grpc,
}

impl Protocol {
    /// Parses `binary`, `json` or `grpc` (also `http`, `http/protobuf`, `http/json`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "binary" | "http" | "protobuf" | "http/protobuf" => Ok(Protocol::HttpBinary),
            "json" | "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(format!(
                "unknown protocol {other:?}: use binary, json or grpc"
            )),
        }
    }
}

/// Options of `codex-config`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The exporter protocol.
    pub protocol: Protocol,
    /// Host (name or address) clients use to reach the gateway; default: the receiver's own
    /// listen host, or `127.0.0.1` when it binds every address.
    pub host: Option<String>,
    /// Environment variable holding the credential (a bearer token, or base64 of `user:password`
    /// when the receiver only has basic credentials), read when rendering and written into every
    /// exporter's `authorization` header. Default: no header (a comment explains
    /// `OTEL_EXPORTER_OTLP_HEADERS` when the receiver requires auth).
    pub auth_header_env: Option<String>,
    /// The id of the `otlp` receiver to point at; default: the only one.
    pub receiver: Option<String>,
    /// Render the `/etc/codex/requirements.toml` form.
    pub requirements: bool,
    /// `otel.environment`, the `env` attribute on everything Codex exports; default
    /// [`DEFAULT_ENVIRONMENT`]. Not written in the requirements form, which has no such key.
    pub environment: Option<String>,
}

/// The `environment` written when none is chosen (Codex's own default is `dev`).
pub const DEFAULT_ENVIRONMENT: &str = "prod";

/// The rendered text and what the user should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The TOML text.
    pub text: String,
    /// Things worth a line on stderr (e.g. a guessed host).
    pub warnings: Vec<String>,
}

/// Why no block could be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodexConfigError {
    /// The config has no `otlp` receiver.
    #[error("the config has no otlp receiver")]
    NoReceiver,
    /// Several receivers and none chosen.
    #[error("the config has several otlp receivers ({0}): choose one with --receiver")]
    AmbiguousReceiver(String),
    /// `--receiver` names no receiver.
    #[error("receivers.{0}: no such otlp receiver")]
    UnknownReceiver(String),
    /// The receiver does not serve the requested protocol.
    #[error(
        "receivers.{receiver}.protocols.{protocol}: not configured, so Codex cannot export over it"
    )]
    ProtocolNotServed {
        /// Receiver id.
        receiver: String,
        /// `http` or `grpc`.
        protocol: &'static str,
    },
    /// The listen endpoint has no usable port.
    #[error("receivers.{receiver}: cannot read a host:port from endpoint {endpoint:?}")]
    BadEndpoint {
        /// Receiver id.
        receiver: String,
        /// The configured endpoint.
        endpoint: String,
    },
    /// `--auth-header-env` names a variable that is not set.
    #[error("--auth-header-env {0}: the variable is not set (or empty)")]
    AuthEnvUnset(String),
}

/// Renders the Codex `[otel]` block (or the requirements form) for `cfg`; `lookup` reads
/// environment variables (for `--auth-header-env`).
pub fn render(
    cfg: &GatewayConfig,
    opts: &Options,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, CodexConfigError> {
    let (id, receiver) = pick_receiver(cfg, opts.receiver.as_deref())?;
    let mut warnings = Vec::new();
    let (listen, tls, paths) = listener(id, receiver, opts.protocol)?;
    let base = base_url(id, listen, tls, opts.host.as_deref(), &mut warnings)?;
    let endpoints = match paths {
        Some(http) => endpoints_http(&base, http),
        None => [base.clone(), base.clone(), base.clone()],
    };
    let auth = auth_header(
        receiver.auth.as_ref(),
        opts.auth_header_env.as_deref(),
        lookup,
    )?;
    let mut out = String::new();
    header_comment(&mut out, opts, id, tls, &auth);
    out.push_str("[otel]\n");
    // The requirements form has no `environment` (Codex's `OtelRequirementsToml` lacks it).
    if !opts.requirements {
        let environment = opts.environment.as_deref().unwrap_or(DEFAULT_ENVIRONMENT);
        let _ = writeln!(out, "environment = {}", toml_str(environment));
    }
    // Prompts stay on the machine; the gateway's redaction is the second line of defence.
    out.push_str("log_user_prompt = false\n");
    exporter_tables(&mut out, opts.protocol, &endpoints, &auth);
    Ok(Rendered {
        text: out,
        warnings,
    })
}

/// The receiver's listen address for `protocol`, whether it serves TLS, and its HTTP settings.
fn listener<'a>(
    id: &str,
    receiver: &'a OtlpReceiverConfig,
    protocol: Protocol,
) -> Result<(&'a str, bool, Option<&'a HttpServerConfig>), CodexConfigError> {
    let not_served = |protocol| CodexConfigError::ProtocolNotServed {
        receiver: id.to_string(),
        protocol,
    };
    Ok(match protocol {
        Protocol::Grpc => {
            let grpc = receiver
                .protocols
                .grpc
                .as_ref()
                .ok_or_else(|| not_served("grpc"))?;
            (grpc.endpoint.as_str(), grpc.tls.is_some(), None)
        }
        Protocol::HttpBinary | Protocol::HttpJson => {
            let http = receiver
                .protocols
                .http
                .as_ref()
                .ok_or_else(|| not_served("http"))?;
            (http.endpoint.as_str(), http.tls.is_some(), Some(http))
        }
    })
}

/// `scheme://host:port` clients use to reach `listen` (`--host`, else the listen host; an
/// unspecified address becomes 127.0.0.1 with a warning).
fn base_url(
    id: &str,
    listen: &str,
    tls: bool,
    host: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<String, CodexConfigError> {
    let (listen_host, port) =
        split_host_port(listen).ok_or_else(|| CodexConfigError::BadEndpoint {
            receiver: id.to_string(),
            endpoint: listen.to_string(),
        })?;
    let host = match host {
        Some(h) => h.to_string(),
        None if is_unspecified(listen_host) => {
            warnings.push(format!(
                "receivers.{id} listens on {listen}: every address; the block uses 127.0.0.1 — \
                 pass --host with the name clients use to reach the gateway"
            ));
            "127.0.0.1".to_string()
        }
        None => listen_host.to_string(),
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{host}:{port}"))
}

/// The three exporter tables (logs, traces, metrics) with their endpoint, protocol and header.
fn exporter_tables(out: &mut String, protocol: Protocol, endpoints: &[String; 3], auth: &Auth) {
    let kind = if protocol == Protocol::Grpc {
        "otlp-grpc"
    } else {
        "otlp-http"
    };
    for (table, url) in [
        ("exporter", &endpoints[0]),
        ("trace_exporter", &endpoints[1]),
        ("metrics_exporter", &endpoints[2]),
    ] {
        let _ = write!(
            out,
            "\n[otel.{table}.{kind}]\nendpoint = {}\n",
            toml_str(url)
        );
        match protocol {
            Protocol::HttpBinary => out.push_str("protocol = \"binary\"\n"),
            Protocol::HttpJson => out.push_str("protocol = \"json\"\n"),
            Protocol::Grpc => {}
        }
        if let Auth::Header { value, .. } = auth {
            let _ = write!(
                out,
                "\n[otel.{table}.{kind}.headers]\nauthorization = {}\n",
                toml_str(value)
            );
        }
    }
}

/// How Codex authenticates to the receiver.
enum Auth {
    /// The receiver requires none.
    None,
    /// Written into the file: the header value and the variable it came from.
    Header { value: String, env: String },
    /// Required, but left to Codex's environment (`OTEL_EXPORTER_OTLP_HEADERS`).
    FromEnvironment { basic: bool },
}

fn auth_header(
    auth: Option<&AuthConfig>,
    env: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Auth, CodexConfigError> {
    let required = auth.is_some_and(|a| !a.bearer_tokens.is_empty() || !a.basic.is_empty());
    // Bearer unless the receiver only knows basic credentials.
    let basic = auth.is_some_and(|a| a.bearer_tokens.is_empty() && !a.basic.is_empty());
    let Some(env) = env else {
        return Ok(if required {
            Auth::FromEnvironment { basic }
        } else {
            Auth::None
        });
    };
    let secret = lookup(env)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| CodexConfigError::AuthEnvUnset(env.to_string()))?;
    let scheme = if basic { "Basic" } else { "Bearer" };
    Ok(Auth::Header {
        value: format!("{scheme} {secret}"),
        env: env.to_string(),
    })
}

fn header_comment(out: &mut String, opts: &Options, receiver: &str, tls: bool, auth: &Auth) {
    out.push_str("# Codex CLI telemetry -> codex-otel-gateway");
    let _ = writeln!(
        out,
        " (receiver {receiver}), generated by `codex-otel-gateway codex-config`."
    );
    if opts.requirements {
        out.push_str(
            "# Administrators: save as /etc/codex/requirements.toml to enforce it on every machine.\n\
             # Codex (checked with 0.169.0) then ignores the users' own [otel] values and warns\n\
             # \"Configured values under `otel` are overridden by requirements\". OpenAI's\n\
             # requirements.toml reference does not list [otel] yet: re-check after Codex upgrades.\n",
        );
    } else {
        out.push_str("# Add it to $CODEX_HOME/config.toml (default ~/.codex/config.toml).\n");
    }
    out.push_str(
        "# Team tags come from each client's environment, e.g.\n\
         #   export OTEL_RESOURCE_ATTRIBUTES=team=payments,project=checkout\n",
    );
    match auth {
        Auth::None => {}
        Auth::Header { env, .. } => {
            let _ = writeln!(
                out,
                "# The authorization headers hold the credential read from ${env} when this was\n\
                 # generated: keep the file private (Codex does not expand ${{VARIABLES}} in headers)."
            );
        }
        Auth::FromEnvironment { basic } => {
            let (scheme, what) = if *basic {
                ("Basic", "base64 of user:password")
            } else {
                ("Bearer", "a bearer token of the receiver")
            };
            let _ = writeln!(
                out,
                "# The receiver requires auth. Give Codex the credential in its environment ({what}):\n\
                 #   export OTEL_EXPORTER_OTLP_HEADERS=\"authorization={scheme}%20<credential>\"\n\
                 # or re-run codex-config with --auth-header-env NAME to write it into the headers below."
            );
        }
    }
    if tls {
        out.push_str(
            "# The receiver uses TLS: if its certificate is not publicly trusted, add to each exporter\n\
             #   tls = { ca-certificate = \"/path/to/ca.pem\" }\n\
             # (and client-certificate / client-private-key when it requires client certificates).\n",
        );
    }
    out.push('\n');
}

pub(crate) fn pick_receiver<'a>(
    cfg: &'a GatewayConfig,
    wanted: Option<&str>,
) -> Result<(&'a str, &'a OtlpReceiverConfig), CodexConfigError> {
    let otlp: Vec<(&str, &OtlpReceiverConfig)> = cfg
        .receivers
        .iter()
        .map(|(id, r)| match r {
            ReceiverConfig::Otlp(c) => (id.as_str(), c),
        })
        .collect();
    match wanted {
        Some(w) => otlp
            .into_iter()
            .find(|(id, _)| *id == w)
            .ok_or_else(|| CodexConfigError::UnknownReceiver(w.to_string())),
        None => {
            // Prefer receivers that feed a pipeline.
            let used: Vec<_> = otlp
                .iter()
                .copied()
                .filter(|(id, _)| {
                    cfg.service
                        .pipelines
                        .values()
                        .any(|p| p.receivers.iter().any(|r| r == id))
                })
                .collect();
            let candidates = if used.is_empty() { otlp } else { used };
            match candidates.as_slice() {
                [] => Err(CodexConfigError::NoReceiver),
                [one] => Ok(*one),
                many => Err(CodexConfigError::AmbiguousReceiver(
                    many.iter()
                        .map(|(id, _)| *id)
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
            }
        }
    }
}

/// Logs, traces, metrics URLs of an HTTP receiver at `base`.
fn endpoints_http(base: &str, http: &HttpServerConfig) -> [String; 3] {
    let join = |path: &str| {
        if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    };
    [
        join(&http.logs_url_path),
        join(&http.traces_url_path),
        join(&http.metrics_url_path),
    ]
}

/// `host:port`, `[v6]:port` or `:port` → (host, port).
pub(crate) fn split_host_port(endpoint: &str) -> Option<(&str, u16)> {
    let (host, port) = endpoint.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port))
}

fn is_unspecified(host: &str) -> bool {
    matches!(host, "" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0" | "*")
}

/// A basic TOML string (JSON's escapes are valid TOML).
fn toml_str(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn cfg(receivers: &str) -> GatewayConfig {
        let yaml = format!(
            "receivers:\n{receivers}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [otlp]\n      exporters: [debug]\n"
        );
        config::load_str(&yaml, &|k| (k == "TOK").then(|| "t0k3n".to_string()))
            .map(|v| v.config)
            .unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn http_endpoints_use_the_receivers_per_signal_paths_and_listen_address() {
        let c = cfg("  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:14318\n        logs_url_path: /custom/logs\n");
        let r = render(&c, &Options::default(), &no_env).unwrap();
        assert!(r.text.contains("[otel.exporter.otlp-http]\nendpoint = \"http://127.0.0.1:14318/custom/logs\"\nprotocol = \"binary\""), "{}", r.text);
        assert!(
            r.text
                .contains("[otel]\nenvironment = \"prod\"\nlog_user_prompt = false\n"),
            "{}",
            r.text
        );
        assert!(r
            .text
            .contains("endpoint = \"http://127.0.0.1:14318/v1/traces\""));
        assert!(r
            .text
            .contains("endpoint = \"http://127.0.0.1:14318/v1/metrics\""));
        assert!(r
            .text
            .contains("OTEL_RESOURCE_ATTRIBUTES=team=payments,project=checkout"));
        assert!(!r.text.contains("authorization"));
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn unspecified_listen_address_needs_host_and_tls_gives_https() {
        let c = cfg("  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\n");
        let guessed = render(
            &c,
            &Options {
                protocol: Protocol::Grpc,
                ..Options::default()
            },
            &no_env,
        )
        .unwrap();
        assert_eq!(guessed.warnings.len(), 1);
        assert!(guessed
            .text
            .contains("endpoint = \"http://127.0.0.1:4317\""));
        assert!(!guessed.text.contains("protocol ="));
        let named = render(
            &c,
            &Options {
                protocol: Protocol::Grpc,
                host: Some("gateway.acme.internal".into()),
                ..Options::default()
            },
            &no_env,
        )
        .unwrap();
        assert!(named.warnings.is_empty());
        assert_eq!(
            named
                .text
                .matches("endpoint = \"http://gateway.acme.internal:4317\"")
                .count(),
            3
        );
        let http_missing = render(&c, &Options::default(), &no_env).unwrap_err();
        assert!(matches!(
            http_missing,
            CodexConfigError::ProtocolNotServed { .. }
        ));
        // TLS on the receiver: https.
        let mut tls = c.clone();
        let Some(ReceiverConfig::Otlp(r)) = tls.receivers.get_mut("otlp") else {
            panic!("otlp receiver")
        };
        if let Some(g) = r.protocols.grpc.as_mut() {
            g.tls = Some(crate::receivers::otlp::config::TlsServerConfig {
                cert_file: "cert.pem".into(),
                key_file: "key.pem".into(),
                client_ca_file: None,
                min_version: Default::default(),
                reload_interval: processors::units::ConfigDuration::secs(0),
            });
        }
        let https = render(
            &tls,
            &Options {
                protocol: Protocol::Grpc,
                host: Some("gw".into()),
                ..Options::default()
            },
            &no_env,
        )
        .unwrap();
        assert_eq!(
            https.text.matches("endpoint = \"https://gw:4317\"").count(),
            3
        );
        assert!(https.text.contains("ca-certificate"));
    }

    #[test]
    fn receiver_auth_is_explained_or_written_from_the_named_variable() {
        let c = cfg("  otlp:\n    auth:\n      bearer_tokens:\n        - token: ${env:TOK}\n    protocols:\n      http:\n        endpoint: 127.0.0.1:4318\n");
        let r = render(&c, &Options::default(), &no_env).unwrap();
        assert!(!r.text.contains("authorization = "), "{}", r.text);
        assert!(
            r.text
                .contains("OTEL_EXPORTER_OTLP_HEADERS=\"authorization=Bearer%20<credential>\""),
            "{}",
            r.text
        );
        assert!(
            !r.text.contains("t0k3n"),
            "the receiver's token is never printed"
        );
        let named = render(
            &c,
            &Options {
                auth_header_env: Some("GATEWAY_TOKEN".into()),
                requirements: true,
                ..Options::default()
            },
            &|k| (k == "GATEWAY_TOKEN").then(|| "client-tok".to_string()),
        )
        .unwrap();
        assert_eq!(
            named
                .text
                .matches("[otel.exporter.otlp-http.headers]\nauthorization = \"Bearer client-tok\"")
                .count(),
            1,
            "{}",
            named.text
        );
        assert_eq!(named.text.matches("authorization = ").count(), 3);
        assert!(named.text.contains("/etc/codex/requirements.toml"));
        // Codex's requirements table has no `environment`; prompts stay off there too.
        assert!(!named.text.contains("environment ="), "{}", named.text);
        assert!(named.text.contains("log_user_prompt = false\n"));
        let unset = render(
            &c,
            &Options {
                auth_header_env: Some("UNSET_X".into()),
                ..Options::default()
            },
            &no_env,
        );
        assert_eq!(
            unset.unwrap_err(),
            CodexConfigError::AuthEnvUnset("UNSET_X".into())
        );
    }
}
