//! `prometheusremotewrite` exporter: metrics to Prometheus, Grafana Mimir / Grafana Cloud,
//! Cortex, Thanos or VictoriaMetrics over Prometheus remote write 1.0 (snappy-compressed
//! protobuf `prometheus.WriteRequest`).
//!
//! Place in the flow: the end of a metrics pipeline, after `delta_to_cumulative` (remote write
//! carries cumulative series only; `validate` refuses a pipeline without it). Like every
//! exporter it has its own queue and workers; each batch taken off the queue is converted once
//! ([`convert`]: names, labels, `target_info`, delta and exponential-histogram points dropped and
//! counted), split into requests of at most `max_samples_per_request` samples ([`convert::chunks`])
//! and the requests are sent in order, each through the exporter's retry → timeout → HTTP client
//! stack. Retries follow the remote write specification: 5xx and 429 are retried, every other
//! 4xx is permanent.

pub mod convert;
pub mod prompb;

use super::classify::{self, ExportError};
use super::config::{QueueConfig, RetryConfig, TlsClientConfig};
use super::otlp_http::{error_chain, header_map, http_client, read_capped};
use super::ExportOutcome;
use crate::base::diagnostic::{join, Diagnostic};
use crate::codec::{Batch, Payload};
use crate::exporters::config::{check_headers, check_queue, check_retry, check_tls};
use crate::exporters::registry::{Client, ExporterType};
use crate::exporters::tenant::{self, HeadersFromResource, Parts, TenantHeaders};
use crate::exporters::ExporterBuildError;
use crate::telemetry::metrics::{names, SelfMetrics};
use bytes::Bytes;
use convert::ConvertOptions;
use futures::future::BoxFuture;
use processors::units::{self, ConfigDuration};
use processors::Signal;
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeSet;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::util::BoxCloneService;
use tower::{BoxError, Service, ServiceExt};

/// The remote write protocol version header and its 1.0 value.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// The value of [`VERSION_HEADER`] for remote write 1.0.
pub const VERSION: &str = "0.1.0";
/// Error bodies read at most.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// `exporters: prometheusremotewrite[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRemoteWriteExporterConfig {
    /// The full URL requests are POSTed to, e.g.
    /// `https://prometheus-prod-24-prod-eu-west-2.grafana.net/api/prom/push` or
    /// `http://prometheus:9090/api/v1/write`. Required.
    pub endpoint: String,
    /// HTTP headers sent with every request (e.g. `X-Scope-OrgID` for a multi-tenant Mimir).
    /// Default: none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose value comes from a resource attribute, e.g. `{ X-Scope-OrgID: team }`
    /// for a multi-tenant Mimir: each batch is converted and sent per distinct value
    /// ([`crate::exporters::tenant`]). Default: none.
    #[serde(default)]
    pub headers_from_resource: HeadersFromResource,
    /// HTTP Basic auth (Grafana Cloud: instance id and access policy token); sets the
    /// `Authorization` header, so that header may not also be in `headers`. Default: none.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// Deadline of one request attempt. Default `5s`.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// TLS settings (`https://` endpoints).
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// The exporter's queue. Unlike the other exporters, `num_consumers` defaults to 1: a
    /// Prometheus-compatible backend refuses (HTTP 400) samples older than the newest one of
    /// their series, so the requests of one series must be sent in order.
    #[serde(
        default = "default_queue",
        deserialize_with = "queue_with_one_consumer"
    )]
    pub sending_queue: QueueConfig,
    /// Retries (5xx and 429; other 4xx answers are permanent).
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// Prefix of every metric name: `codex` turns `codex_tool_call_total` into
    /// `codex_codex_tool_call_total`. Not applied to `target_info`. Default: none.
    #[serde(default)]
    pub namespace: String,
    /// Labels added to every series that does not already have them (e.g.
    /// `{ gateway: eu-1 }`). Default: none.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Copy every resource attribute onto every series of that resource as a label.
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceToTelemetryConfig,
    /// Resource attributes (by their OTLP key) copied onto every series of that resource, e.g.
    /// `[team, project]` set by the `team` processor at `level: resource`. A data point
    /// attribute of the same label name wins. Default: none.
    #[serde(default)]
    pub promote_resource_attributes: Vec<String>,
    /// The `target_info` series.
    #[serde(default)]
    pub target_info: TargetInfoConfig,
    /// At most this many samples per request; larger batches are split into several requests,
    /// sent in order. Default 2000 (Prometheus' own `max_samples_per_send`).
    #[serde(default = "default_max_samples", deserialize_with = "units::uint")]
    pub max_samples_per_request: usize,
}

/// `basic_auth:` of the `prometheusremotewrite` exporter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// User name (Grafana Cloud: the Prometheus instance id). Required.
    pub username: String,
    /// Password (Grafana Cloud: an access policy token with `metrics:write`); usually
    /// `${env:...}`. Required.
    pub password: String,
}

/// `resource_to_telemetry_conversion:`, as in the Collector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceToTelemetryConfig {
    /// Every resource attribute becomes a label. Default `false`.
    #[serde(default, deserialize_with = "units::boolean")]
    pub enabled: bool,
}

/// `target_info:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfoConfig {
    /// Send one `target_info` sample per resource with its attributes as labels. Default `true`.
    #[serde(default = "yes", deserialize_with = "units::boolean")]
    pub enabled: bool,
}

impl Default for TargetInfoConfig {
    fn default() -> Self {
        TargetInfoConfig { enabled: true }
    }
}

fn yes() -> bool {
    true
}
fn default_timeout() -> ConfigDuration {
    ConfigDuration::secs(5)
}
fn default_max_samples() -> usize {
    2000
}
fn default_queue() -> QueueConfig {
    QueueConfig {
        num_consumers: 1,
        ..QueueConfig::default()
    }
}

/// `sending_queue:` with `num_consumers` defaulting to 1.
fn queue_with_one_consumer<'de, D: Deserializer<'de>>(d: D) -> Result<QueueConfig, D::Error> {
    use serde::de::Error;
    let mut value = serde_json::Value::deserialize(d)?;
    match &mut value {
        serde_json::Value::Null => return Ok(default_queue()),
        serde_json::Value::Object(map) => {
            map.entry("num_consumers")
                .or_insert(serde_json::Value::from(1));
        }
        _ => {}
    }
    serde_json::from_value(value).map_err(|e| D::Error::custom(e.to_string()))
}

/// One problem `validate` reports for this exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The field, relative to the exporter (`endpoint`, `external_labels.x`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// A warning rather than an error.
    pub warning: bool,
}

impl PrometheusRemoteWriteExporterConfig {
    /// The endpoint as a URL (http or https, with a host).
    pub fn url(&self) -> Result<reqwest::Url, String> {
        let text = self.endpoint.trim();
        let url =
            reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a valid URL: {e}"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!("{text:?}: the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{text:?} has no host"));
        }
        Ok(url)
    }

    /// The conversion settings.
    pub fn convert_options(&self) -> ConvertOptions {
        ConvertOptions {
            namespace: self.namespace.clone(),
            external_labels: self
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            all_resource_attributes: self.resource_to_telemetry_conversion.enabled,
            promoted_resource_attributes: self.promote_resource_attributes.clone(),
            target_info: self.target_info.enabled,
        }
    }

    /// The headers of every request: `headers`, `Authorization` from `basic_auth`, and the
    /// protocol's own (which a configured header cannot replace).
    pub fn request_headers(&self) -> Result<HeaderMap, String> {
        let mut headers = header_map(&self.headers)?;
        if let Some(auth) = &self.basic_auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", auth.username, auth.password));
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|_| "basic_auth: not a valid header value".to_string())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
        Ok(headers)
    }

    /// Every problem of this config, for `validate` (the endpoint, headers, labels, bounds;
    /// TLS files, the queue and retries are checked by `validate` like for every exporter).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut error = |field: &str, message: String| {
            out.push(ConfigProblem {
                field: field.to_string(),
                message,
                warning: false,
            })
        };
        if let Err(msg) = self.url() {
            error("endpoint", msg);
        }
        self.header_problems(&mut error);
        self.label_problems(&mut error);
        if self.max_samples_per_request == 0 {
            error("max_samples_per_request", "must be at least 1".into());
        }
        if self.sending_queue.num_consumers > 1 {
            out.push(ConfigProblem {
                field: "sending_queue.num_consumers".into(),
                message: "more than one consumer can send two requests of the same series out \
                          of order, and the backend refuses the older one (HTTP 400): keep 1"
                    .into(),
                warning: true,
            });
        }
        out
    }

    /// Problems of `basic_auth` and `headers`, given to `error` as (field, message).
    fn header_problems(&self, error: &mut impl FnMut(&str, String)) {
        if let Some(auth) = &self.basic_auth {
            if auth.username.is_empty() {
                error("basic_auth.username", "must not be empty".into());
            }
            let auth = |k: &&String| k.eq_ignore_ascii_case("authorization");
            let set = self.headers.keys().find(auth).map(|k| ("headers", k));
            let from = self.headers_from_resource.keys().find(auth);
            if let Some((section, k)) = set.or(from.map(|k| ("headers_from_resource", k))) {
                error(
                    &format!("{section}.{k}"),
                    "basic_auth sets the Authorization header: use one or the other".into(),
                );
            }
        }
        for (section, k) in self.headers.keys().map(|k| ("headers", k)).chain(
            self.headers_from_resource
                .keys()
                .map(|k| ("headers_from_resource", k)),
        ) {
            let lower = k.to_ascii_lowercase();
            if ["content-encoding", "content-type"].contains(&lower.as_str())
                || lower == VERSION_HEADER.to_ascii_lowercase()
            {
                error(
                    &format!("{section}.{k}"),
                    "set by the remote write protocol; it cannot be configured".into(),
                );
            }
        }
    }

    /// Problems of `namespace`, `external_labels` and `promote_resource_attributes`, given to
    /// `error` as (field, message).
    fn label_problems(&self, error: &mut impl FnMut(&str, String)) {
        if !self.namespace.is_empty() && !is_metric_name(&self.namespace) {
            error(
                "namespace",
                format!(
                    "{:?} is not a valid metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                    self.namespace
                ),
            );
        }
        for (k, v) in &self.external_labels {
            if !is_label_name(k) {
                error(
                    &format!("external_labels.{k}"),
                    format!(
                        "{k:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting \
                         with __)"
                    ),
                );
            } else if v.is_empty() {
                error(
                    &format!("external_labels.{k}"),
                    "an empty value is the same as no label".into(),
                );
            }
        }
        for (i, k) in self.promote_resource_attributes.iter().enumerate() {
            if k.is_empty() {
                error(
                    &format!("promote_resource_attributes[{i}]"),
                    "an attribute key is empty".into(),
                );
            }
        }
    }
}

fn is_metric_name(s: &str) -> bool {
    !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && !s.starts_with("__")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The innermost client: POSTs one snappy-compressed `WriteRequest`.
#[derive(Clone)]
pub struct RemoteWriteClient {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: Arc<HeaderMap>,
}

impl RemoteWriteClient {
    /// The POST of one request (no retry, not yet sent); `tenant` headers replace static ones of
    /// the same name. `doctor` sends it to report the raw outcome.
    pub fn request(&self, req: WriteBody) -> reqwest::RequestBuilder {
        let mut headers = (*self.headers).clone();
        for (name, value) in req.tenant.iter() {
            if let (Ok(n), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        self.client
            .post(self.url.clone())
            .headers(headers)
            .body(req.body)
    }

    /// Builds the HTTP client; fails on a bad endpoint, header or TLS file.
    pub fn new(cfg: &PrometheusRemoteWriteExporterConfig) -> Result<Self, String> {
        Ok(RemoteWriteClient {
            client: http_client(&cfg.tls, cfg.timeout.0)?,
            url: cfg.url().map_err(|e| format!("endpoint: {e}"))?,
            headers: Arc::new(cfg.request_headers()?),
        })
    }
}

/// One remote write request: its snappy-compressed body and the tenant headers of its group
/// (`headers_from_resource`), which replace static headers of the same name.
#[derive(Debug, Clone)]
pub struct WriteBody {
    /// The body.
    pub body: Bytes,
    /// `(name, value)` per header from a resource attribute; empty without the setting.
    pub tenant: Arc<[(String, String)]>,
}

impl Service<WriteBody> for RemoteWriteClient {
    type Response = ExportOutcome;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: WriteBody) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let resp = this.request(req).send().await.map_err(|e| {
                ExportError::retryable(format!("request failed: {}", error_chain(&e)))
            })?;
            let status = resp.status();
            if status.is_success() {
                return Ok(ExportOutcome::default());
            }
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = read_capped(resp, MAX_ERROR_BODY).await;
            let hint = String::from_utf8_lossy(&body[..body.len().min(200)]).replace('\n', " ");
            Err(
                classify::remote_write_status(status.as_u16(), retry_after.as_deref(), hint.trim())
                    .into(),
            )
        })
    }
}

/// The queue's service: converts a batch, counts what cannot be sent, and sends the requests in
/// order through the retry → timeout → [`RemoteWriteClient`] stack. With
/// `headers_from_resource` the batch is first split by tenant, and each tenant's part is
/// converted and sent with its headers.
#[derive(Clone)]
pub struct RemoteWriteExport {
    id: Arc<str>,
    options: Arc<ConvertOptions>,
    max_samples: usize,
    send: BoxCloneService<WriteBody, ExportOutcome, BoxError>,
    tenants: Option<Arc<TenantHeaders>>,
    dropped_delta: Counter,
    dropped_unsupported: Counter,
}

impl RemoteWriteExport {
    /// Wraps `send` (one request body → the backend, with retries) for exporter `id`.
    pub fn new(
        id: &str,
        cfg: &PrometheusRemoteWriteExporterConfig,
        send: BoxCloneService<WriteBody, ExportOutcome, BoxError>,
        metrics: &SelfMetrics,
    ) -> Self {
        RemoteWriteExport {
            id: id.into(),
            options: Arc::new(cfg.convert_options()),
            max_samples: cfg.max_samples_per_request.max(1),
            send,
            tenants: (!cfg.headers_from_resource.is_empty()).then(|| {
                Arc::new(TenantHeaders::new(
                    &cfg.headers_from_resource,
                    false,
                    metrics,
                    id,
                ))
            }),
            dropped_delta: metrics.request_counter(
                names::EXPORTER_DROPPED_DELTA_POINTS,
                "exporter",
                id,
            ),
            dropped_unsupported: metrics.request_counter(
                names::EXPORTER_DROPPED_UNSUPPORTED_POINTS,
                "exporter",
                id,
            ),
        }
    }

    /// Converts one batch (or one tenant's part) and sends its requests in order with `tenant`
    /// headers.
    async fn export(
        &mut self,
        batch: &Batch,
        tenant: Arc<[(String, String)]>,
    ) -> Result<ExportOutcome, BoxError> {
        let Payload::Metrics(req) = batch.payload() else {
            return Err(ExportError::permanent(format!(
                "prometheusremotewrite takes metrics only, not {}",
                batch.signal()
            ))
            .into());
        };
        let converted = convert::convert(req, &self.options);
        if converted.dropped_delta > 0 {
            self.dropped_delta.inc_by(converted.dropped_delta);
            crate::telemetry::warn_rate_limited(
                &self.id,
                "delta metric points dropped: Prometheus remote write takes cumulative \
                 series only; add a delta_to_cumulative processor to the pipeline",
            );
        }
        if converted.dropped_unsupported > 0 {
            self.dropped_unsupported
                .inc_by(converted.dropped_unsupported);
        }
        let dropped = converted.dropped_delta + converted.dropped_unsupported;
        let chunks = convert::chunks(converted, self.max_samples);
        let total = chunks.len();
        let mut failed_points: HashSet<u32> = HashSet::new();
        let mut last_error = None;
        let mut failed_chunks = 0;
        for chunk in chunks {
            let result = match encode_body(&chunk.request) {
                Ok(body) => {
                    let mut send = self.send.clone();
                    let req = WriteBody {
                        body,
                        tenant: tenant.clone(),
                    };
                    match send.ready().await {
                        Ok(ready) => ready.call(req).await,
                        Err(e) => Err(e),
                    }
                }
                Err(msg) => Err(ExportError::permanent(msg).into()),
            };
            if let Err(e) = result {
                failed_chunks += 1;
                failed_points.extend(chunk.points);
                last_error = Some(e);
            }
        }
        match last_error {
            // Nothing arrived and nothing was left out: the queue logs and counts the error.
            Some(e) if failed_chunks == total && dropped == 0 => Err(e),
            Some(e) => {
                tracing::warn!(
                    exporter = %self.id,
                    requests = total,
                    failed = failed_chunks,
                    error = %e,
                    "remote write requests failed; their points are dropped"
                );
                Ok(ExportOutcome {
                    rejected: failed_points.len() as u64,
                    dropped,
                })
            }
            None => Ok(ExportOutcome {
                rejected: 0,
                dropped,
            }),
        }
    }
}

/// Protobuf encoding then snappy (block format, as the specification requires).
pub fn encode_body(request: &prompb::WriteRequest) -> Result<Bytes, String> {
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .map(Bytes::from)
        .map_err(|e| format!("snappy: {e}"))
}

impl Service<Arc<Batch>> for RemoteWriteExport {
    type Response = ExportOutcome;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, batch: Arc<Batch>) -> Self::Future {
        let mut this = self.clone();
        Box::pin(async move {
            let Some(tenants) = this.tenants.clone() else {
                return this.export(&batch, Arc::from([])).await;
            };
            let mut parts = Parts::default();
            for group in tenants.split(&batch) {
                let items = group.batch.items() as u64;
                parts.add(items, this.export(&group.batch, group.headers).await);
            }
            parts.finish(&this.id)
        })
    }
}

impl ExporterType for PrometheusRemoteWriteExporterConfig {
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn needs_cumulative(&self) -> bool {
        true
    }

    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        self.timeout.0
    }

    fn check(&self, path: &str, _signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>) {
        for problem in self.problems() {
            let at = join(path, &problem.field);
            out.push(if problem.warning {
                Diagnostic::warning(at, problem.message)
            } else {
                Diagnostic::error(at, problem.message)
            });
        }
        check_headers(path, &self.headers, false, out);
        tenant::check(path, &self.headers_from_resource, false, out);
        let https = self.url().is_ok_and(|u| u.scheme() == "https");
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
        let client =
            RemoteWriteClient::new(self).map_err(|message| ExporterBuildError::Invalid {
                id: id.to_string(),
                message,
            })?;
        let retries = crate::exporters::retry_counter(metrics, id);
        let send = crate::exporters::stack(
            client,
            &self.retry_on_failure,
            self.timeout.0,
            retries,
            stop,
        );
        Ok(
            tower::util::BoxCloneService::new(RemoteWriteExport::new(id, self, send, metrics))
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> PrometheusRemoteWriteExporterConfig {
        serde_json::from_value(v).expect("cfg")
    }

    #[test]
    fn the_queue_has_one_consumer_unless_configured_otherwise() {
        let c = cfg(serde_json::json!({ "endpoint": "http://p:9090/api/v1/write" }));
        assert_eq!(c.sending_queue.num_consumers, 1);
        assert_eq!(c.max_samples_per_request, 2000);
        assert!(c.target_info.enabled);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let c = cfg(serde_json::json!({
            "endpoint": "http://p:9090/api/v1/write",
            "sending_queue": { "queue_size": "10" }
        }));
        assert_eq!(
            (c.sending_queue.num_consumers, c.sending_queue.queue_size),
            (1, 10)
        );
        let c = cfg(serde_json::json!({
            "endpoint": "http://p:9090/api/v1/write",
            "sending_queue": { "num_consumers": 3 }
        }));
        let problems = c.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].warning);
        assert_eq!(problems[0].field, "sending_queue.num_consumers");
    }

    #[test]
    fn problems_name_the_field() {
        let c = cfg(serde_json::json!({
            "endpoint": "ftp://x",
            "headers": { "Authorization": "Bearer x", "Content-Type": "text/plain" },
            "basic_auth": { "username": "", "password": "p" },
            "namespace": "1bad",
            "external_labels": { "__x": "1", "ok": "", "fine": "v" },
            "promote_resource_attributes": ["team", ""],
            "max_samples_per_request": 0
        }));
        let mut fields: Vec<String> = c.problems().into_iter().map(|p| p.field).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "basic_auth.username",
                "endpoint",
                "external_labels.__x",
                "external_labels.ok",
                "headers.Authorization",
                "headers.Content-Type",
                "max_samples_per_request",
                "namespace",
                "promote_resource_attributes[1]",
            ]
        );
    }

    #[test]
    fn requests_carry_the_protocol_headers_and_basic_auth() {
        let c = cfg(serde_json::json!({
            "endpoint": "https://prometheus-prod-01.grafana.net/api/prom/push",
            "headers": { "X-Scope-OrgID": "tenant-1" },
            "basic_auth": { "username": "123", "password": "secret" }
        }));
        let h = c.request_headers().expect("headers");
        assert_eq!(h["content-encoding"], "snappy");
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(h["x-scope-orgid"], "tenant-1");
        // base64("123:secret")
        assert_eq!(h["authorization"], "Basic MTIzOnNlY3JldA==");
    }

    #[test]
    fn the_body_is_snappy_block_format_protobuf() {
        let req = prompb::WriteRequest {
            timeseries: vec![prompb::TimeSeries {
                labels: vec![prompb::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![prompb::Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
            }],
        };
        let body = encode_body(&req).expect("encode");
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy block format");
        assert_eq!(
            prompb::WriteRequest::decode(raw.as_slice()).expect("decode"),
            req
        );
    }

    fn batch(delta_points: usize, cumulative_points: usize) -> Arc<Batch> {
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
        use opentelemetry_proto::tonic::metrics::v1::{
            metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
            ResourceMetrics, ScopeMetrics, Sum,
        };
        let points = |n: usize| -> Vec<NumberDataPoint> {
            (0..n)
                .map(|i| NumberDataPoint {
                    time_unix_nano: 1_700_000_000_000_000_000 + i as u64 * 1_000_000_000,
                    value: Some(number_data_point::Value::AsInt(i as i64)),
                    ..Default::default()
                })
                .collect()
        };
        let sum = |name: &str, t: AggregationTemporality, n: usize| Metric {
            name: name.into(),
            data: Some(Data::Sum(Sum {
                data_points: points(n),
                aggregation_temporality: t as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        sum("delta", AggregationTemporality::Delta, delta_points),
                        sum(
                            "cumulative",
                            AggregationTemporality::Cumulative,
                            cumulative_points,
                        ),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        Arc::new(Batch::new(Payload::Metrics(req)))
    }

    type Recorded = Arc<std::sync::Mutex<Vec<(Arc<[(String, String)]>, prompb::WriteRequest)>>>;

    /// A fake backend stack: records every body with its tenant headers; fails the calls whose
    /// index is in `fail`.
    fn fake_send(
        fail: &'static [usize],
    ) -> (
        BoxCloneService<WriteBody, ExportOutcome, BoxError>,
        Recorded,
    ) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let svc = tower::service_fn(move |body: WriteBody| {
            let record = record.clone();
            async move {
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body.body)
                    .map_err(|e| BoxError::from(e.to_string()))?;
                let req = prompb::WriteRequest::decode(raw.as_slice())?;
                let mut all = record.lock().expect("lock");
                all.push((body.tenant, req));
                if fail.contains(&(all.len() - 1)) {
                    return Err(BoxError::from(ExportError::permanent("HTTP 400")));
                }
                Ok(ExportOutcome::default())
            }
        });
        (BoxCloneService::new(svc), seen)
    }

    #[tokio::test]
    async fn a_batch_is_split_sent_in_order_and_drops_and_failures_are_accounted() {
        let metrics = SelfMetrics::new();
        let c = cfg(serde_json::json!({
            "endpoint": "http://p:9090/api/v1/write",
            "max_samples_per_request": 2,
            "target_info": { "enabled": false }
        }));
        let (send, seen) = fake_send(&[1]);
        let mut export = RemoteWriteExport::new("prometheusremotewrite", &c, send, &metrics);
        let outcome = export.call(batch(2, 3)).await.expect("partly sent");
        assert_eq!(
            outcome,
            ExportOutcome {
                rejected: 1,
                dropped: 2
            },
            "the third cumulative point was in the failed request; the deltas are dropped"
        );
        let seen = seen.lock().expect("lock").clone();
        let samples: Vec<Vec<i64>> = seen
            .iter()
            .map(|(_, r)| {
                r.timeseries
                    .iter()
                    .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
                    .collect()
            })
            .collect();
        assert_eq!(
            samples,
            vec![
                vec![1_700_000_000_000, 1_700_000_001_000],
                vec![1_700_000_002_000]
            ]
        );
        let text = metrics.encode_text();
        assert!(
            text.contains(
                "gateway_exporter_dropped_delta_metric_points_total{exporter=\"prometheusremotewrite\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "gateway_exporter_dropped_unsupported_metric_points_total{exporter=\"prometheusremotewrite\"} 0"
        ));

        // Everything failed and nothing was dropped: the error goes to the queue.
        let (send, _) = fake_send(&[0, 1]);
        let mut export = RemoteWriteExport::new("prw", &c, send, &metrics);
        assert!(export.call(batch(0, 3)).await.is_err());
        // Only deltas: nothing is sent at all.
        let (send, seen) = fake_send(&[]);
        let mut export = RemoteWriteExport::new("prw", &c, send, &metrics);
        assert_eq!(
            export.call(batch(4, 0)).await.expect("nothing to send"),
            ExportOutcome {
                rejected: 0,
                dropped: 4
            }
        );
        assert!(seen.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn each_team_is_converted_and_sent_with_its_own_tenant_header() {
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::resource::v1::Resource;
        let metrics = SelfMetrics::new();
        let c = cfg(serde_json::json!({
            "endpoint": "http://p:9090/api/v1/write",
            "headers": { "X-Scope-OrgID": "shared" },
            "headers_from_resource": { "X-Scope-OrgID": "team" },
            "promote_resource_attributes": ["team"],
            "target_info": { "enabled": false }
        }));
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let Payload::Metrics(one) = batch(0, 2).payload().clone() else {
            panic!("metrics")
        };
        let mut req = one.clone();
        req.resource_metrics.clear();
        for team in [Some("a"), Some("b"), None] {
            let mut r = one.resource_metrics[0].clone();
            r.resource = Some(Resource {
                attributes: team
                    .map(|t| KeyValue {
                        key: "team".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(t.into())),
                        }),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            });
            req.resource_metrics.push(r);
        }
        let (send, seen) = fake_send(&[]);
        let mut export = RemoteWriteExport::new("prw", &c, send, &metrics);
        let outcome = export
            .call(Arc::new(Batch::new(Payload::Metrics(req))))
            .await
            .expect("sent");
        assert_eq!(outcome, ExportOutcome::default());
        let seen = seen.lock().expect("lock").clone();
        type Headers = Vec<(String, String)>;
        let got: Vec<(Headers, Vec<String>)> = seen
            .iter()
            .map(|(headers, r)| {
                let mut teams: Vec<String> = r
                    .timeseries
                    .iter()
                    .flat_map(|s| &s.labels)
                    .filter(|l| l.name == "team")
                    .map(|l| l.value.clone())
                    .collect();
                teams.dedup();
                (headers.to_vec(), teams)
            })
            .collect();
        let h = |v: &str| vec![("X-Scope-OrgID".to_string(), v.to_string())];
        assert_eq!(
            got,
            vec![
                (h("a"), vec!["a".to_string()]),
                (h("b"), vec!["b".to_string()]),
                (vec![], vec![]),
            ],
            "the resource without a team keeps the static header (no tenant value)"
        );
        assert!(metrics
            .encode_text()
            .contains("gateway_exporter_header_fallbacks_metric_points_total{exporter=\"prw\"} 2"));
    }
}
