//! `otlphttp` exporter: OTLP/HTTP with protobuf or JSON bodies (reqwest + rustls).

use super::config::{check_headers, check_queue, check_retry, check_tls};
use super::config::{Compression, QueueConfig, RetryConfig, TlsClientConfig};
use super::registry::{Client, ExporterType};
use super::tenant::{self, HeadersFromResource, StackConfig};
use super::ExporterBuildError;
use crate::base::diagnostic::{join, Diagnostic};
use crate::telemetry::metrics::SelfMetrics;
use bytes::Bytes;
use processors::units::ConfigDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

/// Body encoding of the `otlphttp` exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpEncoding {
    /// `application/x-protobuf` (default).
    #[default]
    Proto,
    /// `application/json` (OTLP JSON mapping).
    Json,
}

/// `exporters: otlphttp[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpHttpExporterConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics`, `/v1/logs` are appended.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Full URL for traces, used as is (overrides `endpoint`).
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, used as is.
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, used as is.
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// `proto` (default) or `json`.
    #[serde(default)]
    pub encoding: HttpEncoding,
    /// HTTP headers sent with every request, e.g. `Authorization: Basic ...`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose value comes from a resource attribute, e.g. `{ X-Scope-OrgID: team }`:
    /// each batch is sent as one request per distinct value ([`super::tenant`]). Default: none.
    #[serde(default)]
    pub headers_from_resource: HeadersFromResource,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Deadline of one attempt. Default `30s`.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// The exporter's queue.
    #[serde(default)]
    pub sending_queue: QueueConfig,
    /// Retries.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
}

fn default_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}

use super::classify::{self, ExportError};
use super::ExportOutcome;
use crate::codec::{json, rpc, Batch, WireFormat};
use futures::future::BoxFuture;
use processors::Signal;
use prost::Message;
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;

/// Response bodies read on success, at most.
const MAX_OK_BODY: usize = 4 * 1024 * 1024;
/// Response bodies read on error, at most.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The URL for `signal`: the per-signal endpoint verbatim, or `endpoint` + `/v1/<signal>`.
/// The error names the field to fix.
pub fn signal_url(
    cfg: &OtlpHttpExporterConfig,
    signal: Signal,
) -> Result<reqwest::Url, (&'static str, String)> {
    let (field, specific) = match signal {
        Signal::Traces => ("traces_endpoint", &cfg.traces_endpoint),
        Signal::Metrics => ("metrics_endpoint", &cfg.metrics_endpoint),
        Signal::Logs => ("logs_endpoint", &cfg.logs_endpoint),
    };
    let (field, text) = match (specific, &cfg.endpoint) {
        (Some(url), _) => (field, url.trim().to_string()),
        (None, Some(base)) => (
            "endpoint",
            format!(
                "{}/v1/{}",
                base.trim().trim_end_matches('/'),
                signal.as_str()
            ),
        ),
        (None, None) => {
            return Err((
                "endpoint",
                format!("set `endpoint` (base URL) or `{field}` for the {signal} pipeline"),
            ))
        }
    };
    let url = reqwest::Url::parse(&text)
        .map_err(|e| (field, format!("{text:?} is not a valid URL: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err((field, format!("{text:?}: the scheme must be http or https")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err((field, format!("{text:?} has no host")));
    }
    Ok(url)
}

/// The tower client of the `otlphttp` exporter.
#[derive(Clone)]
pub struct HttpExport {
    client: reqwest::Client,
    urls: Arc<[Option<reqwest::Url>; 3]>,
    headers: Arc<HeaderMap>,
    format: WireFormat,
    gzip: bool,
}

impl HttpExport {
    /// Builds the client; URLs for every signal that has one.
    pub fn new(cfg: &OtlpHttpExporterConfig) -> Result<Self, String> {
        let client = http_client(&cfg.tls, cfg.timeout.0)?;
        let urls = Signal::ALL.map(|s| signal_url(cfg, s).ok());
        let headers = header_map(&cfg.headers)?;
        let format = match cfg.encoding {
            HttpEncoding::Proto => WireFormat::Proto,
            HttpEncoding::Json => WireFormat::Json,
        };
        Ok(HttpExport {
            client,
            urls: Arc::new(urls),
            headers: Arc::new(headers),
            format,
            gzip: cfg.compression == super::config::Compression::Gzip,
        })
    }
}

/// A reqwest client (rustls) with the exporter's `tls:` settings; `timeout` bounds connecting.
/// Shared by the HTTP exporters.
pub(crate) fn http_client(
    tls: &TlsClientConfig,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .connect_timeout(timeout);
    if let Some(pem) = tls.read_ca().map_err(|e| format!("tls.{e}"))? {
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("tls.ca_file: {e}"))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(id) = tls.read_identity().map_err(|e| format!("tls.{e}"))? {
        let mut pem = id.cert_pem;
        pem.push(b'\n');
        pem.extend_from_slice(&id.key_pem);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("tls.cert_file/key_file: {e}"))?;
        builder = builder.identity(identity);
    }
    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// The configured `headers:` as a header map; values are marked sensitive (never logged).
pub(crate) fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("headers: invalid name {k:?}"))?;
        let mut value =
            HeaderValue::from_str(v).map_err(|_| format!("headers.{k}: invalid value"))?;
        value.set_sensitive(true);
        out.insert(name, value);
    }
    Ok(out)
}

pub(crate) async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    out
}

fn rejected_in(body: &[u8], format: WireFormat, signal: Signal) -> u64 {
    if body.is_empty() {
        return 0;
    }
    let rejected = match format {
        WireFormat::Proto => rpc::ExportResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| p.rejected),
        WireFormat::Json => match signal {
            Signal::Traces => json::decode_trace_response(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_spans),
            Signal::Metrics => json::decode_metrics_response(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_data_points),
            Signal::Logs => json::decode_logs_response(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| p.rejected_log_records),
        },
    };
    rejected.unwrap_or(0).max(0) as u64
}

/// A request body of `parts` end to end, its length known up front (sent as Content-Length).
fn parts_body(parts: &[Bytes]) -> reqwest::Body {
    match parts {
        [one] => reqwest::Body::from(one.clone()),
        _ => reqwest::Body::wrap(PartsBody(parts.iter().cloned().collect())),
    }
}

/// [`parts_body`]'s body: one data frame per part.
struct PartsBody(std::collections::VecDeque<Bytes>);

impl http_body::Body for PartsBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|p| Ok(http_body::Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|p| p.len() as u64).sum())
    }
}

impl HttpExport {
    /// The POST of one attempt for `batch` (no retry, not yet sent): URL of its signal, static
    /// headers with `tenant` headers replacing those of the same name, content type, body. `None`
    /// when no URL is configured for the signal. `doctor` sends it to report the raw outcome.
    pub fn request(
        &self,
        batch: &Batch,
        tenant: Option<&[(String, String)]>,
    ) -> Option<reqwest::RequestBuilder> {
        let url = self.urls[batch.signal() as usize].clone()?;
        let body = match (self.format, self.gzip) {
            // A merged batch's parts go out as they are, without joining them first.
            (WireFormat::Proto, false) => parts_body(batch.proto_parts()),
            _ => reqwest::Body::from(batch.encoded(self.format, self.gzip).clone()),
        };
        let content_type = match self.format {
            WireFormat::Proto => "application/x-protobuf",
            WireFormat::Json => "application/json",
        };
        let mut headers = (*self.headers).clone();
        for (name, value) in tenant.into_iter().flatten() {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        let mut req = self
            .client
            .post(url)
            .headers(headers)
            .header(CONTENT_TYPE, content_type);
        if self.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        Some(req.body(body))
    }

    /// Sends one batch; `tenant` headers replace static ones of the same name.
    fn send(
        &self,
        batch: Arc<Batch>,
        tenant: Option<Arc<[(String, String)]>>,
    ) -> BoxFuture<'static, Result<ExportOutcome, BoxError>> {
        let this = self.clone();
        Box::pin(async move {
            let signal = batch.signal();
            let Some(req) = this.request(&batch, tenant.as_deref()) else {
                return Err(
                    ExportError::permanent(format!("no URL configured for {signal}")).into(),
                );
            };
            let resp = req.send().await.map_err(|e| {
                // Connection refused/reset, DNS, TLS handshake, timeouts: all worth retrying.
                ExportError::retryable(format!("request failed: {}", error_chain(&e)))
            })?;
            let status = resp.status();
            if status.is_success() {
                let body = read_capped(resp, MAX_OK_BODY).await;
                return Ok(ExportOutcome {
                    rejected: rejected_in(&body, this.format, signal),
                    dropped: 0,
                });
            }
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = read_capped(resp, MAX_ERROR_BODY).await;
            let hint = String::from_utf8_lossy(&body[..body.len().min(200)]).replace('\n', " ");
            Err(classify::http_status(status.as_u16(), retry_after.as_deref(), hint.trim()).into())
        })
    }
}

super::tenant::export_services!(HttpExport);

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl ExporterType for OtlpHttpExporterConfig {
    fn sends_proto_only(&self) -> bool {
        self.encoding == HttpEncoding::Proto
    }

    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        self.timeout.0
    }

    fn check(&self, path: &str, signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>) {
        for signal in signals {
            if let Err((field, msg)) = signal_url(self, *signal) {
                out.push(Diagnostic::error(join(path, field), msg));
            }
        }
        if signals.is_empty() && self.endpoint.is_none() {
            if let Err((field, msg)) = signal_url(self, Signal::Traces) {
                out.push(Diagnostic::error(join(path, field), msg));
            }
        }
        check_headers(path, &self.headers, false, out);
        tenant::check(path, &self.headers_from_resource, false, out);
        let https = Signal::ALL
            .iter()
            .filter_map(|s| signal_url(self, *s).ok())
            .any(|u| u.scheme() == "https");
        check_tls(path, &self.tls, https, out);
        check_queue(path, &self.sending_queue, out);
        check_retry(path, &self.retry_on_failure, out);
    }

    fn client(
        &self,
        id: &str,
        metrics: &SelfMetrics,
        stop: &std::sync::Arc<crate::exporters::queue::Stop>,
    ) -> Result<Client, ExporterBuildError> {
        let stack = StackConfig {
            retry: &self.retry_on_failure,
            timeout: self.timeout.0,
            stop,
        };
        tenant::client(
            id,
            HttpExport::new(self),
            &self.headers_from_resource,
            false,
            metrics,
            stack,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> OtlpHttpExporterConfig {
        serde_json::from_value(v).expect("cfg")
    }

    #[test]
    fn base_endpoint_gets_the_signal_path_and_per_signal_urls_are_verbatim() {
        let c = cfg(serde_json::json!({
            "endpoint": "https://otlp.last9.example/",
            "logs_endpoint": "https://logs.example/custom"
        }));
        assert_eq!(
            signal_url(&c, Signal::Traces).expect("url").as_str(),
            "https://otlp.last9.example/v1/traces"
        );
        assert_eq!(
            signal_url(&c, Signal::Logs).expect("url").as_str(),
            "https://logs.example/custom"
        );
        let none = cfg(serde_json::json!({}));
        assert_eq!(
            signal_url(&none, Signal::Metrics).unwrap_err().0,
            "endpoint"
        );
        let bad = cfg(serde_json::json!({ "endpoint": "ftp://x" }));
        assert!(signal_url(&bad, Signal::Metrics).is_err());
    }
}
