//! `doctor`, third group: one synthetic item per signal through each exporter of the config,
//! with the exporter's own client ([`HttpExport`], [`GrpcExport`], [`RemoteWriteClient`]: its
//! URL, headers and TLS), one attempt and no retry, then the outcome explained in plain language
//! per stage: DNS, connect, TLS, HTTP status or gRPC code — with the setting to fix.

use super::{synthetic, Check, EnvSeen};
use crate::config::model::GatewayConfig;
use crate::exporters::otlp_grpc::{self, GrpcExport};
use crate::exporters::otlp_http::{self, error_chain, HttpExport};
use crate::exporters::prometheus_remote_write::{convert, encode_body, WriteBody};
use crate::exporters::prometheus_remote_write::{
    PrometheusRemoteWriteExporterConfig, RemoteWriteClient,
};
use crate::exporters::ExporterConfig;
use processors::Signal;
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::time::Duration;

/// Why a probe failed: the message and the fix.
type Finding = (String, String);

/// Probes every exporter used by a pipeline, for the signals of its pipelines.
pub fn probe_exporters(cfg: &GatewayConfig, env_seen: &EnvSeen, timeout: Duration) -> Vec<Check> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
                "exporters",
                format!("cannot start the async runtime: {e}"),
                "",
            )]
        }
    };
    runtime.block_on(async {
        let mut out = Vec::new();
        for (id, exporter) in &cfg.exporters {
            let signals: Vec<Signal> = Signal::ALL
                .into_iter()
                .filter(|s| {
                    cfg.pipelines()
                        .any(|(_, ps, p)| ps == *s && p.exporters.iter().any(|e| e == id))
                })
                .collect();
            let subject = format!("exporters.{id}");
            if signals.is_empty() {
                out.push(Check::warn(subject, "in no pipeline: not probed", ""));
                continue;
            }
            let probe = Probe {
                id,
                env_seen,
                timeout,
            };
            let per_tenant = match exporter {
                ExporterConfig::OtlpHttp(c) => !c.headers_from_resource.is_empty(),
                ExporterConfig::Otlp(c) => !c.headers_from_resource.is_empty(),
                ExporterConfig::PrometheusRemoteWrite(c) => !c.headers_from_resource.is_empty(),
                _ => false,
            };
            if per_tenant {
                out.push(Check::warn(
                    subject.clone(),
                    "headers_from_resource: the synthetic items carry no tenant attribute, so \
                     they are sent with the static headers only",
                    "",
                ));
            }
            match exporter {
                ExporterConfig::OtlpHttp(c) => probe.http(c, &signals, &mut out).await,
                ExporterConfig::Otlp(c) => probe.grpc(c, &signals, &mut out).await,
                ExporterConfig::PrometheusRemoteWrite(c) => probe.remote_write(c, &mut out).await,
                ExporterConfig::Debug(_) => out.push(Check::ok(
                    subject,
                    "debug: prints to stdout, nothing to reach",
                )),
                ExporterConfig::LoadBalancing(_) => out.push(Check::warn(
                    subject,
                    "loadbalancing: its members are resolved while the gateway runs; not probed",
                    "",
                )),
            }
        }
        out
    })
}

/// One exporter being probed.
struct Probe<'a> {
    id: &'a str,
    env_seen: &'a EnvSeen,
    timeout: Duration,
}

impl Probe<'_> {
    fn subject(&self, signal: Signal) -> String {
        format!("exporters.{} {signal}", self.id)
    }

    fn built_badly(&self, e: String) -> Check {
        Check::fail(
            format!("exporters.{}", self.id),
            format!("cannot build its client: {e}"),
            "codex-otel-gateway validate --config ... names the field",
        )
    }

    async fn http(
        &self,
        cfg: &otlp_http::OtlpHttpExporterConfig,
        signals: &[Signal],
        out: &mut Vec<Check>,
    ) {
        let export = match HttpExport::new(cfg) {
            Ok(e) => e,
            Err(e) => return out.push(self.built_badly(e)),
        };
        for &signal in signals {
            let url = match otlp_http::signal_url(cfg, signal) {
                Ok(u) => u,
                Err((field, e)) => {
                    out.push(Check::fail(self.subject(signal), e, format!("set {field}")));
                    continue;
                }
            };
            let batch = synthetic::batch(signal);
            let Some(request) = export.request(&batch, None) else {
                continue;
            };
            let auth = Auth::Headers(&cfg.headers);
            let hint = Hint::Otlp {
                field: if url_is_per_signal(cfg, signal) {
                    format!("{signal}_endpoint")
                } else {
                    "endpoint".into()
                },
            };
            out.push(self.send_http(signal, &url, request, &auth, &hint).await);
        }
    }

    async fn send_http(
        &self,
        signal: Signal,
        url: &reqwest::Url,
        request: reqwest::RequestBuilder,
        auth: &Auth<'_>,
        hint: &Hint,
    ) -> Check {
        let subject = self.subject(signal);
        if let Err((m, f)) = self.reach(url).await {
            return Check::fail(subject, format!("{url}: {m}"), f);
        }
        let size = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .and_then(|r| r.body().and_then(|b| b.as_bytes()).map(<[u8]>::len))
            .unwrap_or(0);
        match request.timeout(self.timeout).send().await {
            Ok(resp) if resp.status().is_success() => Check::ok(
                subject,
                format!(
                    "{url}: HTTP {} (resolved, connected, accepted)",
                    resp.status()
                ),
            ),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = otlp_http::read_capped(resp, 512).await;
                let said = String::from_utf8_lossy(&body).replace('\n', " ");
                let (m, f) = self.explain_status(status, said.trim(), url, size, auth, hint);
                Check::fail(subject, format!("{url}: {m}"), f)
            }
            Err(e) => {
                let (m, f) = transport(&e, self.timeout);
                Check::fail(subject, format!("{url}: {m}"), f)
            }
        }
    }

    async fn grpc(
        &self,
        cfg: &otlp_grpc::OtlpGrpcExporterConfig,
        signals: &[Signal],
        out: &mut Vec<Check>,
    ) {
        let export = match GrpcExport::new(cfg) {
            Ok(e) => e,
            Err(e) => return out.push(self.built_badly(e)),
        };
        let url = otlp_grpc::target(cfg)
            .ok()
            .and_then(|(uri, _)| reqwest::Url::parse(&uri.to_string()).ok());
        for &signal in signals {
            let subject = self.subject(signal);
            let shown = url.as_ref().map_or(cfg.endpoint.clone(), |u| u.to_string());
            if let Some(Err((m, f))) = match &url {
                Some(u) => Some(self.reach(u).await),
                None => None,
            } {
                out.push(Check::fail(subject, format!("{shown}: {m}"), f));
                continue;
            }
            let batch = synthetic::batch(signal);
            let result = tokio::time::timeout(self.timeout, export.unary(&batch, None)).await;
            out.push(match result {
                Ok(Ok(_)) => Check::ok(subject, format!("{shown}: gRPC OK (accepted)")),
                Ok(Err(status)) => {
                    let (m, f) = match status.source() {
                        Some(source) => transport(source, self.timeout),
                        None => self.explain_grpc(&status, signal, &Auth::Headers(&cfg.headers)),
                    };
                    Check::fail(subject, format!("{shown}: {m}"), f)
                }
                Err(_) => Check::fail(
                    subject,
                    format!("{shown}: no answer within {:?}", self.timeout),
                    "check the endpoint's port and that the backend serves OTLP/gRPC there",
                ),
            });
        }
    }

    async fn remote_write(&self, cfg: &PrometheusRemoteWriteExporterConfig, out: &mut Vec<Check>) {
        let client = match RemoteWriteClient::new(cfg) {
            Ok(c) => c,
            Err(e) => return out.push(self.built_badly(e)),
        };
        let url = match cfg.url() {
            Ok(u) => u,
            Err(e) => return out.push(self.built_badly(e)),
        };
        let batch = synthetic::batch(Signal::Metrics);
        let crate::codec::Payload::Metrics(req) = batch.payload() else {
            return;
        };
        let converted = convert::convert(req, &cfg.convert_options());
        let Some(chunk) = convert::chunks(converted, usize::MAX).into_iter().next() else {
            return;
        };
        let body = match encode_body(&chunk.request) {
            Ok(b) => b,
            Err(e) => return out.push(self.built_badly(e)),
        };
        let request = client.request(WriteBody {
            body,
            tenant: std::sync::Arc::from([]),
        });
        let auth = Auth::RemoteWrite(cfg);
        out.push(
            self.send_http(Signal::Metrics, &url, request, &auth, &Hint::RemoteWrite)
                .await,
        );
    }

    /// Resolves the URL's host and opens a TCP connection to it.
    async fn reach(&self, url: &reqwest::Url) -> Result<(), Finding> {
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let port = url.port_or_known_default().unwrap_or(0);
        let addrs: Vec<_> =
            match tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(a)) => a.collect(),
                Ok(Err(e)) => {
                    return Err((
                        format!("DNS: cannot resolve {host}: {e}"),
                        "check the host name in the endpoint and this machine's DNS".into(),
                    ))
                }
                Err(_) => {
                    return Err((
                        format!("DNS: no answer for {host} within {:?}", self.timeout),
                        "check this machine's DNS resolver".into(),
                    ))
                }
            };
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => last = Some((addr, Some(e))),
                Err(_) => last = Some((addr, None)),
            }
        }
        Err(match last {
            None => (
                format!("DNS: {host} resolves to no address"),
                "check the host name".into(),
            ),
            Some((addr, Some(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => (
                format!("connect {addr}: connection refused, nothing listens there"),
                "check the port in the endpoint, and that the backend (or its proxy) runs".into(),
            ),
            Some((addr, Some(e))) => (
                format!("connect {addr}: {e}"),
                "check the route to the backend (firewall, proxy)".into(),
            ),
            Some((addr, None)) => (
                format!("connect {addr}: no answer within {:?}", self.timeout),
                "a firewall may drop the packets; check the route and the port".into(),
            ),
        })
    }

    fn explain_status(
        &self,
        status: u16,
        said: &str,
        url: &reqwest::Url,
        size: usize,
        auth: &Auth<'_>,
        hint: &Hint,
    ) -> Finding {
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(
                " (the backend said: {})",
                said.chars().take(200).collect::<String>()
            )
        };
        match status {
            401 | 403 => (
                format!("HTTP {status}: the backend refused the credentials{said}"),
                self.credential_fix(auth),
            ),
            404 | 405 => (
                format!(
                    "HTTP {status}: nothing takes data at path {}{said}",
                    url.path()
                ),
                hint.path_fix(),
            ),
            413 => (
                format!(
                    "HTTP 413: a {size}-byte request is too large for the backend or a proxy \
                     in front of it{said}"
                ),
                "raise the body size limit of the proxy, or lower the pipeline's batch size \
                 (processors.batch send_batch_max_size)"
                    .into(),
            ),
            415 => (
                format!("HTTP 415: the backend does not take this content type{said}"),
                "set encoding: proto (or json) as the backend documents".into(),
            ),
            429 => (
                format!("HTTP 429: rate limited{said}"),
                "retry later; the gateway retries by itself (retry_on_failure) — check the \
                 plan's ingestion limits if it persists"
                    .into(),
            ),
            502..=504 => (
                format!("HTTP {status}: the backend or its proxy is unavailable{said}"),
                "retry later; the gateway retries by itself (retry_on_failure)".into(),
            ),
            _ => (format!("HTTP {status}{said}"), String::new()),
        }
    }

    fn explain_grpc(&self, status: &tonic::Status, signal: Signal, auth: &Auth<'_>) -> Finding {
        use tonic::Code;
        let said = status.message();
        match status.code() {
            Code::Unauthenticated | Code::PermissionDenied => (
                format!(
                    "gRPC {:?}: the backend refused the credentials ({said})",
                    status.code()
                ),
                self.credential_fix(auth),
            ),
            Code::Unimplemented => (
                format!("gRPC Unimplemented: no OTLP {signal} service there ({said})"),
                "check the port (OTLP/gRPC is usually 4317); for an OTLP/HTTP URL use an \
                 otlphttp exporter"
                    .into(),
            ),
            Code::ResourceExhausted => (
                format!("gRPC ResourceExhausted: too large or rate limited ({said})"),
                "retry later, or lower the pipeline's batch size".into(),
            ),
            Code::Unavailable => (
                format!("gRPC Unavailable: {said}"),
                "retry later; the gateway retries by itself (retry_on_failure)".into(),
            ),
            code => (format!("gRPC {code:?}: {said}"), String::new()),
        }
    }

    /// Where the exporter's credential comes from, as a fix for a refused request.
    fn credential_fix(&self, auth: &Auth<'_>) -> String {
        let path = format!("exporters.{}", self.id);
        let credentials: Vec<(String, &str)> = match auth {
            Auth::Headers(h) => h
                .iter()
                .map(|(k, v)| (format!("headers.{k}"), v.as_str()))
                .collect(),
            Auth::RemoteWrite(c) => {
                let mut v: Vec<(String, &str)> = c
                    .headers
                    .iter()
                    .map(|(k, v)| (format!("headers.{k}"), v.as_str()))
                    .collect();
                if let Some(b) = &c.basic_auth {
                    v.push(("basic_auth.password".into(), b.password.as_str()));
                }
                v
            }
        };
        if credentials.is_empty() {
            return format!(
                "{path} sends no credential: add headers: {{ Authorization: \"...\" }} with the \
                 backend's token, from an environment variable (${{env:NAME}})"
            );
        }
        let named: Vec<String> = credentials
            .iter()
            .filter_map(|(field, value)| {
                let var = self
                    .env_seen
                    .iter()
                    .filter(|(_, v)| !v.is_empty() && value.contains(v.as_str()))
                    .max_by_key(|(_, v)| v.len())?;
                Some(format!("{path}.{field} comes from ${}", var.0))
            })
            .collect();
        if named.is_empty() {
            let fields: Vec<&str> = credentials.iter().map(|(f, _)| f.as_str()).collect();
            format!(
                "check {path}.{} (written in the config): a current token, in the form the \
                 backend documents (e.g. \"Basic <base64 of instance:token>\")",
                fields.join(", ")
            )
        } else {
            format!(
                "{}: set it to a current token, in the form the backend documents",
                named.join("; ")
            )
        }
    }
}

/// The exporter fields that may hold a credential.
enum Auth<'a> {
    /// `headers:` of an OTLP exporter.
    Headers(&'a BTreeMap<String, String>),
    /// `headers:` and `basic_auth:` of `prometheusremotewrite`.
    RemoteWrite(&'a PrometheusRemoteWriteExporterConfig),
}

/// Which URL field a 404 points at.
enum Hint {
    /// `otlphttp`: the base `endpoint` (with `/v1/<signal>` appended) or a per-signal URL.
    Otlp { field: String },
    /// `prometheusremotewrite`: `endpoint`, used as is.
    RemoteWrite,
}

impl Hint {
    fn path_fix(&self) -> String {
        match self {
            Hint::Otlp { field } if field == "endpoint" => "`endpoint` is a base URL: otlphttp \
                appends /v1/<signal>; if the vendor gives a full URL per signal, set \
                logs_endpoint / traces_endpoint / metrics_endpoint to it (used as is)"
                .into(),
            Hint::Otlp { field } => {
                format!("{field} is used as is: give the full URL the vendor documents")
            }
            Hint::RemoteWrite => "endpoint is used as is: give the full remote write URL (e.g. \
                .../api/v1/write, .../api/prom/push)"
                .into(),
        }
    }
}

fn url_is_per_signal(cfg: &otlp_http::OtlpHttpExporterConfig, signal: Signal) -> bool {
    match signal {
        Signal::Traces => cfg.traces_endpoint.is_some(),
        Signal::Metrics => cfg.metrics_endpoint.is_some(),
        Signal::Logs => cfg.logs_endpoint.is_some(),
    }
}

/// Explains a failure below HTTP: TLS by kind, refused connections, time-outs.
fn transport(err: &(dyn StdError + 'static), timeout: Duration) -> Finding {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut timed_out = false;
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_reason(tls);
        }
        let io_kind = e.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
            return (
                "connection refused".into(),
                "check the port, and that the backend runs".into(),
            );
        }
        timed_out |= io_kind == Some(std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout);
        cur = next_cause(e);
    }
    if timed_out {
        return (
            format!("no answer within {timeout:?}"),
            "the backend accepted the connection but did not answer: check the URL scheme \
             (http vs https) and the backend's health"
                .into(),
        );
    }
    (
        format!("request failed: {}", error_chain(err)),
        "if the endpoint is TLS-only use https:// (or a plain-text one http://)".into(),
    )
}

/// The error under `e`. A custom `io::Error` reports its inner error's source as its own, which
/// skips the inner error itself (e.g. the `rustls::Error` of a failed handshake, or an
/// `io::Error` wrapped in another): step into it instead.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

fn tls_reason(e: &rustls::Error) -> Finding {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => (
                "TLS: the backend's certificate is not signed by a CA this machine trusts".into(),
                "set tls.ca_file to the CA that signs it (or have the backend send its full \
                 chain)"
                    .into(),
            ),
            C::Expired | C::ExpiredContext { .. } => (
                "TLS: the backend's certificate has expired".into(),
                "renew the backend's certificate (or check this machine's clock)".into(),
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "TLS: the backend's certificate is not valid yet".into(),
                "check this machine's clock".into(),
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                "TLS: the backend's certificate is not issued for this host name".into(),
                "use the host name the certificate names in the endpoint".into(),
            ),
            other => (
                format!("TLS: the backend's certificate is invalid ({other:?})"),
                "check the backend's certificate".into(),
            ),
        },
        rustls::Error::AlertReceived(alert) => (
            format!("TLS: the backend ended the handshake ({alert:?})"),
            "it may require a client certificate: set tls.cert_file and tls.key_file".into(),
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            "TLS: the other end does not speak TLS".into(),
            "use http:// for a plain-text endpoint".into(),
        ),
        other => (format!("TLS: {other}"), String::new()),
    }
}
