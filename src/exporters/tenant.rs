//! Per-tenant headers: `headers_from_resource:` of the `otlphttp`, `otlp` and
//! `prometheusremotewrite` exporters sets request headers from resource attributes — e.g.
//! `X-Scope-OrgID` from `team` for a multi-tenant Mimir, Loki or Tempo — like the Collector's
//! `headers_setter` extension, but as an exporter setting (no extension section) and from the
//! data itself, so it works after a batch stage mixed several clients' requests.
//!
//! Place in the flow: inside the exporter, after its queue. A batch taken off the queue is split
//! into groups of resources that get the same header values ([`TenantHeaders::split`]); each
//! group is sent as its own request through the exporter's retry → timeout → client stack
//! ([`TenantSplit`]), so one tenant's failure is retried without resending another's. A batch
//! whose resources all get the same values is sent as it is (no copy, no new encoding), and an
//! exporter without the setting never comes here.
//!
//! A resource without a usable value (attribute missing, empty, or not a valid header value)
//! gets the header's `default`, else the exporter's static `headers` value of that name, else no
//! such header — never an empty one; its items are counted in
//! `gateway_exporter_header_fallbacks`.

use super::config::{check_header, RetryConfig};
use super::queue::Stop;
use super::{ExportOutcome, ExportService};
use crate::base::diagnostic::{join, Diagnostic};
use crate::codec::{Batch, Payload};
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::resource::v1::Resource;
use processors::{find_attr, value_text, Keys, Partition};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::util::BoxCloneService;
use tower::{BoxError, Service, ServiceExt};

/// Implements `tower::Service` for a whole batch and for one tenant's group of it on an export
/// type whose `send(batch, headers)` sends a batch with optional per-tenant headers.
macro_rules! export_services {
    ($t:ty) => {
        impl tower::Service<Arc<Batch>> for $t {
            type Response = ExportOutcome;
            type Error = BoxError;
            type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, batch: Arc<Batch>) -> Self::Future {
                self.send(batch, None)
            }
        }

        impl tower::Service<$crate::exporters::tenant::TenantBatch> for $t {
            type Response = ExportOutcome;
            type Error = BoxError;
            type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, group: $crate::exporters::tenant::TenantBatch) -> Self::Future {
                self.send(group.batch, Some(group.headers))
            }
        }
    };
}
pub(crate) use export_services;

/// `headers_from_resource:` — header name → where its value comes from.
pub type HeadersFromResource = BTreeMap<String, HeaderFromResource>;

/// One header whose value comes from a resource attribute. In YAML a bare string is the
/// attribute: `X-Scope-OrgID: team` is `X-Scope-OrgID: { attribute: team }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct HeaderFromResource {
    /// The resource attribute holding the value, e.g. `team`. Required.
    pub attribute: String,
    /// The value for resources without a usable one. Default: the exporter's `headers` value
    /// of the same name, else the header is left out.
    #[serde(default)]
    pub default: Option<String>,
}

impl<'de> Deserialize<'de> for HeaderFromResource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderFromResource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a resource attribute name or `{ attribute: ..., default: ... }`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HeaderFromResource, E> {
                Ok(HeaderFromResource {
                    attribute: s.to_string(),
                    default: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HeaderFromResource, A::Error> {
                HeaderFromResource::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks `headers_from_resource` of the exporter at `path` (`grpc`: metadata keys and values).
pub fn check(path: &str, cfg: &HeadersFromResource, grpc: bool, out: &mut Vec<Diagnostic>) {
    let path = join(path, "headers_from_resource");
    for (name, h) in cfg {
        let at = join(&path, name);
        if let Err(msg) = check_header(name, "x", grpc) {
            out.push(Diagnostic::error(at.clone(), msg));
        }
        if h.attribute.is_empty() {
            out.push(Diagnostic::error(
                join(&at, "attribute"),
                "must not be empty",
            ));
        }
        match h.default.as_deref() {
            Some("") => out.push(Diagnostic::error(
                join(&at, "default"),
                "must not be empty (leave it out to fall back to `headers` or no header)",
            )),
            Some(v) => {
                if let Err(msg) = check_header(name, v, grpc) {
                    out.push(Diagnostic::error(join(&at, "default"), msg));
                }
            }
            None => {}
        }
    }
}

/// One group of a batch and the headers it is sent with (on top of the static `headers`, whose
/// values these replace).
#[derive(Debug, Clone)]
pub struct TenantBatch {
    /// The group's items.
    pub batch: Arc<Batch>,
    /// `(name, value)` of each header the group has a value for.
    pub headers: Arc<[(String, String)]>,
}

/// The built setting of one exporter.
pub struct TenantHeaders {
    headers: Vec<(String, String, Option<String>)>,
    grpc: bool,
    fallbacks: SignalCounters,
}

/// The header values of one resource, and whether any fell back.
type Values = (Vec<Option<String>>, bool);

impl TenantHeaders {
    /// The setting of exporter `id`, with its fallback counter.
    pub fn new(cfg: &HeadersFromResource, grpc: bool, metrics: &SelfMetrics, id: &str) -> Self {
        TenantHeaders {
            headers: cfg
                .iter()
                .map(|(name, h)| (name.clone(), h.attribute.clone(), h.default.clone()))
                .collect(),
            grpc,
            fallbacks: SignalCounters::new(
                metrics,
                names::EXPORTER_HEADER_FALLBACKS,
                "exporter",
                id,
            ),
        }
    }

    /// The value of each header for resource `r`.
    fn values(&self, r: Option<&Resource>) -> Values {
        let mut fell_back = false;
        let values = self
            .headers
            .iter()
            .map(|(name, attribute, default)| {
                let own = r
                    .and_then(|r| find_attr(&r.attributes, attribute))
                    .and_then(value_text)
                    .filter(|v| !v.is_empty() && check_header(name, v, self.grpc).is_ok());
                if own.is_none() {
                    fell_back = true;
                }
                own.map(|v| v.into_owned()).or_else(|| default.clone())
            })
            .collect();
        (values, fell_back)
    }

    /// Splits `batch` into groups of resources with the same header values.
    pub fn split(&self, batch: &Arc<Batch>) -> Vec<TenantBatch> {
        let mut groups: Vec<Values> = Vec::new();
        let mut group_of = |r: Option<&Resource>| {
            let v = self.values(r);
            let i = match groups.iter().position(|g| *g == v) {
                Some(i) => i,
                None => {
                    groups.push(v);
                    groups.len() - 1
                }
            };
            Some(i as u32)
        };
        let payload = batch.payload();
        let keys = payload_keys(payload, &mut group_of);
        for (i, (_, fell_back)) in groups.iter().enumerate() {
            if *fell_back {
                self.fallbacks
                    .add(batch.signal(), keys.count(i as u32) as u64);
            }
        }
        let headers = |k: u32| -> Arc<[(String, String)]> {
            let values = groups.get(k as usize).map(|g| &g.0[..]).unwrap_or(&[]);
            self.headers
                .iter()
                .zip(values)
                .filter_map(|((name, _, _), v)| Some((name.clone(), v.clone()?)))
                .collect()
        };
        if let Some(k) = keys.single() {
            return vec![TenantBatch {
                batch: batch.clone(),
                headers: headers(k),
            }];
        }
        partition_payload(payload.clone(), &keys)
            .into_iter()
            .map(|(k, part)| TenantBatch {
                batch: Arc::new(Batch::new(part)),
                headers: headers(k),
            })
            .collect()
    }
}

/// The key of every item of `payload`, one per resource.
fn payload_keys(
    payload: &Payload,
    group_of: &mut dyn FnMut(Option<&Resource>) -> Option<u32>,
) -> Keys {
    match payload {
        Payload::Traces(r) => r.item_keys(group_of, |_, _| 0),
        Payload::Metrics(r) => r.item_keys(group_of, |_, _| 0),
        Payload::Logs(r) => r.item_keys(group_of, |_, _| 0),
    }
}

/// `payload` split by `keys`.
fn partition_payload(payload: Payload, keys: &Keys) -> Vec<(u32, Payload)> {
    fn wrap<R: Into<Payload>>(parts: Vec<(u32, R)>) -> Vec<(u32, Payload)> {
        parts.into_iter().map(|(k, r)| (k, r.into())).collect()
    }
    match payload {
        Payload::Traces(r) => wrap(r.partition(keys)),
        Payload::Metrics(r) => wrap(r.partition(keys)),
        Payload::Logs(r) => wrap(r.partition(keys)),
    }
}

/// The outcome of one batch sent as several requests: an error only when every request failed
/// and nothing was left out on purpose; otherwise the items of failed requests count as
/// rejected (send failures), after a warning naming the exporter.
#[derive(Default)]
pub(crate) struct Parts {
    requests: usize,
    failed: usize,
    failed_items: u64,
    outcome: ExportOutcome,
    last_error: Option<BoxError>,
}

impl Parts {
    /// Adds the result of one request of `items` items.
    pub(crate) fn add(&mut self, items: u64, result: Result<ExportOutcome, BoxError>) {
        self.requests += 1;
        match result {
            Ok(o) => {
                self.outcome.rejected += o.rejected;
                self.outcome.dropped += o.dropped;
            }
            Err(e) => {
                self.failed += 1;
                self.failed_items += items;
                self.last_error = Some(e);
            }
        }
    }

    /// The batch's outcome for exporter `id`.
    pub(crate) fn finish(self, id: &str) -> Result<ExportOutcome, BoxError> {
        let Some(e) = self.last_error else {
            return Ok(self.outcome);
        };
        if self.failed == self.requests && self.outcome.dropped == 0 {
            return Err(e);
        }
        tracing::warn!(
            exporter = %id,
            requests = self.requests,
            failed = self.failed,
            error = %e,
            "some requests of a batch failed; their items are dropped"
        );
        Ok(ExportOutcome {
            rejected: self.outcome.rejected + self.failed_items,
            dropped: self.outcome.dropped,
        })
    }
}

/// The queue's service of an exporter with `headers_from_resource`: splits each batch by
/// tenant and sends the groups in turn through `send` (retry → timeout → client).
#[derive(Clone)]
pub struct TenantSplit {
    id: Arc<str>,
    tenants: Arc<TenantHeaders>,
    send: BoxCloneService<TenantBatch, ExportOutcome, BoxError>,
}

impl TenantSplit {
    /// Splits by `tenants` in front of `send`, for exporter `id`.
    pub fn new(
        id: &str,
        tenants: TenantHeaders,
        send: BoxCloneService<TenantBatch, ExportOutcome, BoxError>,
    ) -> Self {
        TenantSplit {
            id: id.into(),
            tenants: Arc::new(tenants),
            send,
        }
    }
}

impl Service<Arc<Batch>> for TenantSplit {
    type Response = ExportOutcome;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, batch: Arc<Batch>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut parts = Parts::default();
            for group in this.tenants.split(&batch) {
                let items = group.batch.items() as u64;
                let mut send = this.send.clone();
                let result = match send.ready().await {
                    Ok(ready) => ready.call(group).await,
                    Err(e) => Err(e),
                };
                parts.add(items, result);
            }
            parts.finish(&this.id)
        })
    }
}

/// The retry → timeout part of an exporter's stack.
pub struct StackConfig<'a> {
    /// `retry_on_failure:`.
    pub retry: &'a RetryConfig,
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// The exporter's shutdown signal.
    pub stop: &'a Arc<Stop>,
}

/// The transport client of an `otlp` or `otlphttp` exporter: sends a whole batch, or one
/// tenant's group of it, with futures the queue's tasks can own.
pub trait TenantClient:
    Service<Arc<Batch>, Response = ExportOutcome, Error = BoxError, Future: Send + 'static>
    + Service<TenantBatch, Response = ExportOutcome, Error = BoxError, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<C> TenantClient for C where
    C: Service<Arc<Batch>, Response = ExportOutcome, Error = BoxError, Future: Send + 'static>
        + Service<TenantBatch, Response = ExportOutcome, Error = BoxError, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// The queue's service of an `otlp` or `otlphttp` exporter `id` of `client`: without
/// `headers_from_resource` the plain retry → timeout → client stack (the shared, once-encoded
/// batch goes out as it is); with it, a [`TenantSplit`] in front of that stack.
pub fn service<C>(
    id: &str,
    client: C,
    headers: &HeadersFromResource,
    grpc: bool,
    metrics: &SelfMetrics,
    stack: StackConfig<'_>,
) -> ExportService
where
    C: TenantClient,
{
    let retries = super::retry_counter(metrics, id);
    let StackConfig {
        retry,
        timeout,
        stop,
    } = stack;
    if headers.is_empty() {
        return super::stack::<C, Arc<Batch>>(client, retry, timeout, retries, stop);
    }
    let send = super::stack::<C, TenantBatch>(client, retry, timeout, retries, stop);
    let tenants = TenantHeaders::new(headers, grpc, metrics, id);
    BoxCloneService::new(TenantSplit::new(id, tenants, send))
}

/// The registry's client of an `otlp` or `otlphttp` exporter `id` whose transport client
/// (`built`) may have failed to build: [`service`] over it, or the error naming the exporter.
pub fn client<C>(
    id: &str,
    built: Result<C, String>,
    headers: &HeadersFromResource,
    grpc: bool,
    metrics: &SelfMetrics,
    stack: StackConfig<'_>,
) -> Result<super::registry::Client, super::ExporterBuildError>
where
    C: TenantClient,
{
    let client = built.map_err(|message| super::ExporterBuildError::Invalid {
        id: id.to_string(),
        message,
    })?;
    Ok(service(id, client, headers, grpc, metrics, stack).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use prost::Message;

    /// The fixture's logs resource once per `teams` entry, with that `team` (or none).
    fn batch(teams: &[Option<&str>]) -> Arc<Batch> {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let one = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
        let mut req = ExportLogsServiceRequest::default();
        for team in teams {
            let mut r = one.resource_logs[0].clone();
            if let (Some(t), Some(res)) = (team, r.resource.as_mut()) {
                res.attributes.push(KeyValue {
                    key: "team".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue((*t).into())),
                    }),
                    ..Default::default()
                });
            }
            req.resource_logs.push(r);
        }
        Arc::new(Batch::new(Payload::Logs(req)))
    }

    fn tenants(v: serde_json::Value, m: &SelfMetrics) -> TenantHeaders {
        let cfg: HeadersFromResource = serde_json::from_value(v).expect("config");
        TenantHeaders::new(&cfg, false, m, "otlphttp/mimir")
    }

    fn headers(g: &TenantBatch) -> Vec<(String, String)> {
        g.headers.to_vec()
    }

    #[test]
    fn a_batch_is_split_by_team_and_a_resource_without_one_gets_the_default() {
        let m = SelfMetrics::new();
        let t = tenants(
            serde_json::json!({ "X-Scope-OrgID": { "attribute": "team", "default": "shared" },
                                "X-Team": "team" }),
            &m,
        );
        let b = batch(&[Some("a"), Some("b"), Some("a"), None, Some("bad\nvalue")]);
        let groups = t.split(&b);
        let got: Vec<(Vec<(String, String)>, usize)> = groups
            .iter()
            .map(|g| (headers(g), g.batch.items()))
            .collect();
        let per = b.items() / 5;
        let h = |org: &str, team: Option<&str>| {
            let mut v = vec![("X-Scope-OrgID".to_string(), org.to_string())];
            v.extend(team.map(|t| ("X-Team".to_string(), t.to_string())));
            v
        };
        assert_eq!(
            got,
            vec![
                (h("a", Some("a")), 2 * per),
                (h("b", Some("b")), per),
                (h("shared", None), 2 * per),
            ],
            "a missing or invalid value falls back to the default, or leaves the header out"
        );
        assert!(m.encode_text().contains(&format!(
            "gateway_exporter_header_fallbacks_log_records_total{{exporter=\"otlphttp/mimir\"}} {}",
            2 * per
        )));
    }

    #[test]
    fn a_batch_of_one_tenant_is_sent_as_it_is() {
        let m = SelfMetrics::new();
        let t = tenants(serde_json::json!({ "X-Scope-OrgID": "team" }), &m);
        let b = batch(&[Some("a"), Some("a")]);
        let groups = t.split(&b);
        assert_eq!(groups.len(), 1);
        assert!(
            Arc::ptr_eq(&groups[0].batch, &b),
            "no copy, no new encoding"
        );
        assert_eq!(
            headers(&groups[0]),
            vec![("X-Scope-OrgID".to_string(), "a".to_string())]
        );
    }

    #[test]
    fn bad_settings_are_named_by_their_path() {
        let cfg: HeadersFromResource = serde_json::from_value(serde_json::json!({
            "X Bad": "team",
            "X-Empty": { "attribute": "" },
            "X-Default": { "attribute": "team", "default": "" },
        }))
        .expect("config");
        let mut out = Vec::new();
        check("exporters.otlphttp", &cfg, false, &mut out);
        let paths: Vec<String> = out.iter().map(|d| d.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                "exporters.otlphttp.headers_from_resource.X Bad",
                "exporters.otlphttp.headers_from_resource.X-Default.default",
                "exporters.otlphttp.headers_from_resource.X-Empty.attribute",
            ]
        );
    }
}
