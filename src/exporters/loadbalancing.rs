//! `loadbalancing` exporter: session-affine routing to a set of downstream gateways, so stateful
//! processors (`delta_to_cumulative`, per-conversation state) work behind N replicas.
//!
//! Place in the flow: a pipeline offers a batch to this exporter's own queue like to any other
//! exporter (nothing on the ingest path waits). Its workers call [`Router`], which splits the
//! batch by routing key (`conversation.id`, trace id, `service.name`, or the whole resource)
//! over a consistent-hash [`Ring`] and offers each part to one *member*: a full `otlp` exporter
//! (its own queue, retry → timeout → client, metrics under `<id>/<host:port>`) built from
//! `protocol.otlp`. Members come from a `static` list or from `dns` (A/AAAA records of a
//! headless Service, re-resolved every `interval`); a membership change rebuilds the ring and
//! moves only the keys of the members that came or went. A member that leaves drains its queue.

use super::config::QueueConfig;
use super::config::{check_headers, check_queue, check_retry, check_tls};
use super::otlp_grpc::OtlpGrpcExporterConfig;
use super::queue::QueueSender;
use super::registry::{Client, ExporterType};
use super::{ExportOutcome, Exporter, ExporterBuildError, RunningExporter};
use crate::base::diagnostic::{join, Diagnostic};
use crate::base::Swap;
use crate::codec::{Batch, Payload};
use crate::telemetry::metrics::{names, SelfMetrics};
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use processors::units::{self, ConfigDuration};
use processors::{find_attr, Signal};
use prometheus_client::metrics::gauge::Gauge;
use prost::Message;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tower::BoxError;

/// Virtual nodes per member on the ring: enough for an even spread over a handful of members.
const VNODES: u32 = 160;

/// `exporters: loadbalancing[/name]:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancingExporterConfig {
    /// What keeps items together on one member. Default per signal: `conversation.id` for logs,
    /// `traceID` for traces, `service` for metrics.
    #[serde(default)]
    pub routing_key: Option<RoutingKey>,
    /// Where the members come from: exactly one of `static` and `dns`.
    pub resolver: ResolverConfig,
    /// How to talk to each member.
    pub protocol: ProtocolConfig,
    /// This exporter's own queue, between the pipelines and the routing workers (in memory).
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

/// `routing_key:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RoutingKey {
    /// The `conversation.id` attribute of the item (then of its resource). Items without one
    /// are routed by their resource.
    #[serde(rename = "conversation.id")]
    ConversationId,
    /// The item's trace id (spans; log records that carry one). Items without one are routed
    /// by their resource.
    #[serde(rename = "traceID")]
    TraceId,
    /// The resource's `service.name`.
    #[serde(rename = "service")]
    Service,
    /// Every resource attribute.
    #[serde(rename = "resource")]
    Resource,
}

/// `resolver:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverConfig {
    /// A fixed list of members.
    #[serde(default, rename = "static")]
    pub static_list: Option<StaticResolverConfig>,
    /// Members from DNS.
    #[serde(default)]
    pub dns: Option<DnsResolverConfig>,
}

/// `resolver: static:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResolverConfig {
    /// `host:port` of each member (`http://` or `https://` prefixes allowed).
    pub hostnames: Vec<String>,
}

/// `resolver: dns:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsResolverConfig {
    /// Name to resolve, e.g. the headless Service `gateway-affine.observability.svc`.
    pub hostname: String,
    /// Port of every member. Default 4317.
    #[serde(default = "default_port", deserialize_with = "units::uint")]
    pub port: u16,
    /// How often to resolve again. Default `30s`.
    #[serde(default = "default_interval")]
    pub interval: ConfigDuration,
    /// Deadline of one resolution. Default `1s`.
    #[serde(default = "default_dns_timeout")]
    pub timeout: ConfigDuration,
}

fn default_port() -> u16 {
    4317
}

fn default_interval() -> ConfigDuration {
    ConfigDuration::secs(30)
}

fn default_dns_timeout() -> ConfigDuration {
    ConfigDuration::secs(1)
}

/// `protocol:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Settings of the `otlp` exporter used for every member; `endpoint` is left out (the
    /// resolver sets it).
    pub otlp: OtlpGrpcExporterConfig,
}

impl LoadBalancingExporterConfig {
    /// Every problem, as (path below the exporter, message), for `validate`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match (&self.resolver.static_list, &self.resolver.dns) {
            (None, None) => out.push((
                "resolver".to_string(),
                "set one of `static` and `dns`".to_string(),
            )),
            (Some(_), Some(_)) => out.push((
                "resolver".to_string(),
                "set only one of `static` and `dns`".to_string(),
            )),
            (Some(s), None) => {
                if s.hostnames.is_empty() {
                    out.push((
                        "resolver.static.hostnames".into(),
                        "list at least one member".into(),
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, h) in s.hostnames.iter().enumerate() {
                    let path = format!("resolver.static.hostnames.{i}");
                    if let Err(msg) = super::otlp_grpc::target(&self.member_config(h)) {
                        out.push((path, msg));
                    } else if !seen.insert(h.trim()) {
                        out.push((path, format!("{h:?} is listed twice")));
                    }
                }
            }
            (None, Some(d)) => {
                if d.hostname.trim().is_empty() {
                    out.push(("resolver.dns.hostname".into(), "must not be empty".into()));
                }
                if d.port == 0 {
                    out.push(("resolver.dns.port".into(), "must not be 0".into()));
                }
                if d.interval.0 < Duration::from_secs(1) {
                    out.push(("resolver.dns.interval".into(), "must be at least 1s".into()));
                }
                if d.timeout.0.is_zero() {
                    out.push(("resolver.dns.timeout".into(), "must be above 0".into()));
                }
            }
        }
        if !self.protocol.otlp.endpoint.trim().is_empty() {
            out.push((
                "protocol.otlp.endpoint".into(),
                "leave it out: the resolver sets each member's endpoint".into(),
            ));
        }
        if self.protocol.otlp.sending_queue.storage.is_some() {
            out.push((
                "protocol.otlp.sending_queue.storage".into(),
                "persistent queues are not supported for load-balanced members".into(),
            ));
        }
        if self.sending_queue.storage.is_some() {
            out.push((
                "sending_queue.storage".into(),
                "persistent queues are not supported by the loadbalancing exporter".into(),
            ));
        }
        out
    }

    /// The `otlp` exporter config of the member at `endpoint`.
    pub fn member_config(&self, endpoint: &str) -> OtlpGrpcExporterConfig {
        OtlpGrpcExporterConfig {
            endpoint: endpoint.trim().to_string(),
            ..self.protocol.otlp.clone()
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Consistent hashing
// ------------------------------------------------------------------------------------------------

/// FNV-1a, 64 bits: stable across builds and processes, so every front gateway of a tier
/// routes a key to the same member.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final avalanche (splitmix64) so short keys spread over the whole ring.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// One downstream gateway.
#[derive(Clone)]
pub struct Member {
    /// Its endpoint, as listed or resolved (also its name on the ring).
    pub endpoint: String,
    sender: QueueSender,
}

/// Members placed on a hash ring, `VNODES` points each.
#[derive(Default)]
pub struct Ring {
    members: Vec<Member>,
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// A ring over `members` (order does not matter).
    pub fn new(members: Vec<Member>) -> Self {
        let mut points = Vec::with_capacity(members.len() * VNODES as usize);
        for (i, m) in members.iter().enumerate() {
            for v in 0..VNODES {
                let point = fnv1a(format!("{}#{v}", m.endpoint).as_bytes());
                points.push((point, i as u32));
            }
        }
        // Ties (practically never) go to the lower endpoint so every process agrees.
        points.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                members[a.1 as usize]
                    .endpoint
                    .cmp(&members[b.1 as usize].endpoint)
            })
        });
        Ring { members, points }
    }

    /// The member index for a key hash: the first point at or after it, wrapping around.
    fn pick(&self, hash: u64) -> usize {
        if self.points.is_empty() {
            return 0;
        }
        let i = self.points.partition_point(|p| p.0 < hash);
        let (_, m) = self.points[if i == self.points.len() { 0 } else { i }];
        m as usize
    }

    /// The endpoint a key hash goes to.
    pub fn endpoint_for(&self, hash: u64) -> Option<&str> {
        (!self.members.is_empty()).then(|| self.members[self.pick(hash)].endpoint.as_str())
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

// ------------------------------------------------------------------------------------------------
// Routing keys
// ------------------------------------------------------------------------------------------------

fn value_hash(v: &any_value::Value) -> u64 {
    match v {
        any_value::Value::StringValue(s) => fnv1a(s.as_bytes()),
        other => fnv1a(&other_bytes(other)),
    }
}

fn other_bytes(v: &any_value::Value) -> Vec<u8> {
    opentelemetry_proto::tonic::common::v1::AnyValue {
        value: Some(v.clone()),
    }
    .encode_to_vec()
}

/// The hash of a whole resource: its attributes in key order (the order on the wire varies).
fn resource_hash(r: Option<&Resource>) -> u64 {
    let Some(r) = r else { return fnv1a(b"") };
    let mut attrs: Vec<&KeyValue> = r.attributes.iter().collect();
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut buf = Vec::new();
    for kv in attrs {
        buf.extend_from_slice(kv.key.as_bytes());
        buf.push(0);
        if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            buf.extend_from_slice(&other_bytes(v));
        }
        buf.push(0);
    }
    fnv1a(&buf)
}

/// The hash a resource's items fall back to, and the hash of every item under `service` /
/// `resource` keys.
fn resource_key(key: RoutingKey, r: Option<&Resource>) -> u64 {
    match key {
        RoutingKey::Service => {
            let name = r.and_then(|r| find_attr(&r.attributes, "service.name"));
            name.map_or_else(|| fnv1a(b""), value_hash)
        }
        _ => resource_hash(r),
    }
}

/// The hash of one item from its attributes and trace id, or `fallback` (its resource's).
fn item_key(
    key: RoutingKey,
    attrs: &[KeyValue],
    resource: Option<&Resource>,
    trace_id: &[u8],
    fallback: u64,
) -> u64 {
    match key {
        RoutingKey::ConversationId => find_attr(attrs, "conversation.id")
            .or_else(|| resource.and_then(|r| find_attr(&r.attributes, "conversation.id")))
            .map_or(fallback, value_hash),
        RoutingKey::TraceId if trace_id.iter().any(|b| *b != 0) => fnv1a(trace_id),
        _ => fallback,
    }
}

/// A metric's data points' attributes, for `conversation.id` routing of metrics: the first
/// point's (a metric is kept whole; Codex puts no conversation id on metrics).
fn metric_attrs(m: &Metric) -> &[KeyValue] {
    match &m.data {
        Some(Data::Sum(s)) => s.data_points.first().map(|p| &p.attributes[..]),
        Some(Data::Gauge(g)) => g.data_points.first().map(|p| &p.attributes[..]),
        Some(Data::Histogram(h)) => h.data_points.first().map(|p| &p.attributes[..]),
        Some(Data::ExponentialHistogram(h)) => h.data_points.first().map(|p| &p.attributes[..]),
        Some(Data::Summary(s)) => s.data_points.first().map(|p| &p.attributes[..]),
        None => None,
    }
    .unwrap_or(&[])
}

/// Splits a request by member. Each part keeps its resource and scope; items keep their order.
/// `Err(member)` when every item goes to one member (the caller forwards the batch untouched).
macro_rules! split_signal {
    ($req:expr, $ring:expr, $key:expr, $Req:ident, $RS:ident, $resources:ident, $SS:ident,
     $scopes:ident, $items:ident, |$item:ident, $res:ident, $fallback:ident| $item_hash:expr) => {{
        let req: &$Req = $req;
        let ring: &Ring = $ring;
        // Pass 1: the member of every item (in walk order).
        let mut picks: Vec<u32> = Vec::new();
        for rs in &req.$resources {
            let $res = rs.resource.as_ref();
            let $fallback = resource_key($key, $res);
            for ss in &rs.$scopes {
                for $item in &ss.$items {
                    picks.push(ring.pick($item_hash) as u32);
                }
            }
        }
        let first = picks.first().copied();
        if picks.iter().all(|p| Some(*p) == first) {
            Err(first.unwrap_or(0) as usize)
        } else {
            // Pass 2: copy each item into its member's request.
            let mut parts: BTreeMap<u32, $Req> = BTreeMap::new();
            let mut next = picks.into_iter();
            for rs in &req.$resources {
                let mut res_parts: BTreeMap<u32, $RS> = BTreeMap::new();
                for ss in &rs.$scopes {
                    let mut scope_parts: BTreeMap<u32, $SS> = BTreeMap::new();
                    for item in &ss.$items {
                        let m = next.next().unwrap_or(0);
                        scope_parts
                            .entry(m)
                            .or_insert_with(|| $SS {
                                scope: ss.scope.clone(),
                                $items: Vec::new(),
                                schema_url: ss.schema_url.clone(),
                            })
                            .$items
                            .push(item.clone());
                    }
                    for (m, s) in scope_parts {
                        res_parts
                            .entry(m)
                            .or_insert_with(|| $RS {
                                resource: rs.resource.clone(),
                                $scopes: Vec::new(),
                                schema_url: rs.schema_url.clone(),
                            })
                            .$scopes
                            .push(s);
                    }
                }
                for (m, r) in res_parts {
                    parts.entry(m).or_default().$resources.push(r);
                }
            }
            Ok(parts.into_iter().collect::<Vec<_>>())
        }
    }};
}

/// Where a batch goes.
#[derive(Debug)]
enum Routed {
    /// Every item to this member: the batch is forwarded as it is.
    Whole(usize),
    /// One part per member index.
    Parts(Vec<(u32, Payload)>),
}

impl Routed {
    fn new<R>(split: Result<Vec<(u32, R)>, usize>, wrap: fn(R) -> Payload) -> Self {
        match split {
            Err(member) => Routed::Whole(member),
            Ok(parts) => Routed::Parts(parts.into_iter().map(|(m, r)| (m, wrap(r))).collect()),
        }
    }
}

/// Routes `payload` over `ring`.
fn split(payload: &Payload, ring: &Ring, key: Option<RoutingKey>) -> Routed {
    match payload {
        Payload::Traces(req) => {
            let key = key.unwrap_or(RoutingKey::TraceId);
            Routed::new(
                split_signal!(
                    req,
                    ring,
                    key,
                    ExportTraceServiceRequest,
                    ResourceSpans,
                    resource_spans,
                    ScopeSpans,
                    scope_spans,
                    spans,
                    |span, res, fallback| item_key(
                        key,
                        &span.attributes,
                        res,
                        &span.trace_id,
                        fallback
                    )
                ),
                Payload::Traces,
            )
        }
        Payload::Logs(req) => {
            let key = key.unwrap_or(RoutingKey::ConversationId);
            Routed::new(
                split_signal!(
                    req,
                    ring,
                    key,
                    ExportLogsServiceRequest,
                    ResourceLogs,
                    resource_logs,
                    ScopeLogs,
                    scope_logs,
                    log_records,
                    |rec, res, fallback| item_key(
                        key,
                        &rec.attributes,
                        res,
                        &rec.trace_id,
                        fallback
                    )
                ),
                Payload::Logs,
            )
        }
        Payload::Metrics(req) => {
            let key = key.unwrap_or(RoutingKey::Service);
            Routed::new(
                split_signal!(
                    req,
                    ring,
                    key,
                    ExportMetricsServiceRequest,
                    ResourceMetrics,
                    resource_metrics,
                    ScopeMetrics,
                    scope_metrics,
                    metrics,
                    |metric, res, fallback| item_key(key, metric_attrs(metric), res, &[], fallback)
                ),
                Payload::Metrics,
            )
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Runtime: the balancer, its routing service and its resolver task
// ------------------------------------------------------------------------------------------------

/// How long a routing worker waits for the first members (DNS resolver still starting) before
/// the batch counts as failed.
const FIRST_MEMBERS_WAIT: Duration = Duration::from_secs(5);

/// The members and their ring, shared by the routing workers and the resolver task.
pub struct Balancer {
    id: String,
    cfg: LoadBalancingExporterConfig,
    metrics: SelfMetrics,
    ring: Swap<Ring>,
    members_gauge: Gauge,
    /// Started members (current and leaving), for the shutdown count.
    running: Mutex<Vec<RunningExporter>>,
}

/// A built balancer whose members have not started: [`Pending::run`] is its resolver task.
pub struct Pending {
    balancer: Arc<Balancer>,
    alive: mpsc::Receiver<()>,
    initial: Vec<Exporter>,
}

/// Builds the balancer of exporter `id`, its routing service and (for a static list) every
/// member exporter. Must run inside a tokio runtime.
pub fn build(
    id: &str,
    cfg: &LoadBalancingExporterConfig,
    metrics: &SelfMetrics,
) -> Result<(Router, Pending), ExporterBuildError> {
    let invalid = |message: String| ExporterBuildError::Invalid {
        id: id.to_string(),
        message,
    };
    if let Some((path, msg)) = cfg.problems().into_iter().next() {
        return Err(invalid(format!("{path}: {msg}")));
    }
    let balancer = Arc::new(Balancer {
        id: id.to_string(),
        cfg: cfg.clone(),
        metrics: metrics.clone(),
        ring: Swap::new(Ring::default()),
        members_gauge: metrics.gauge(names::EXPORTER_LOADBALANCER_MEMBERS, "exporter", id),
        running: Mutex::new(Vec::new()),
    });
    let mut initial = Vec::new();
    if let Some(s) = &cfg.resolver.static_list {
        let mut members = Vec::new();
        for endpoint in &s.hostnames {
            let e = balancer.build_member(endpoint)?;
            members.push(Member {
                endpoint: endpoint.trim().to_string(),
                sender: e.sender(),
            });
            initial.push(e);
        }
        balancer.set_ring(Ring::new(members));
    }
    let (alive_tx, alive) = mpsc::channel(1);
    let router = Router {
        balancer: balancer.clone(),
        _alive: alive_tx,
    };
    Ok((
        router,
        Pending {
            balancer,
            alive,
            initial,
        },
    ))
}

impl Balancer {
    fn build_member(&self, endpoint: &str) -> Result<Exporter, ExporterBuildError> {
        Exporter::build(
            &format!("{}/{}", self.id, endpoint.trim()),
            &self.cfg.member_config(endpoint),
            &self.metrics,
        )
    }

    fn set_ring(&self, ring: Ring) {
        self.members_gauge.set(ring.members.len() as i64);
        self.ring.store(Arc::new(ring));
    }

    /// The current ring, waiting a little for the first members.
    async fn ring(&self) -> Result<Arc<Ring>, BoxError> {
        let deadline = tokio::time::Instant::now() + FIRST_MEMBERS_WAIT;
        loop {
            let ring = self.ring.load();
            if !ring.members.is_empty() {
                return Ok(ring);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{}: no downstream member is known", self.id).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replaces the members with `endpoints`: members that stay keep their exporter (and
    /// queue), new ones are built and started into `workers`, members that leave drain.
    fn apply(&self, endpoints: &[String], workers: &mut JoinSet<()>) {
        let current = self.ring.load();
        let same = current.members.len() == endpoints.len()
            && endpoints
                .iter()
                .all(|e| current.members.iter().any(|m| &m.endpoint == e));
        if same {
            return;
        }
        let mut members = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            if let Some(m) = current.members.iter().find(|m| &m.endpoint == endpoint) {
                members.push(m.clone());
                continue;
            }
            match self.build_member(endpoint) {
                Ok(e) => {
                    members.push(Member {
                        endpoint: endpoint.clone(),
                        sender: e.sender(),
                    });
                    let running = e.start(workers);
                    self.running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(running);
                }
                Err(err) => {
                    tracing::warn!(exporter = %self.id, member = %endpoint, error = %err, "cannot build a member; left out");
                }
            }
        }
        tracing::info!(exporter = %self.id, members = ?endpoints, "load-balancing members changed");
        self.set_ring(Ring::new(members));
    }

    /// Every member's leftovers at the shutdown deadline: (dropped, kept) items.
    pub async fn count_leftovers(&self) -> (u64, u64) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()));
        let (mut dropped, mut kept) = (0, 0);
        for r in running {
            // Members are plain `otlp` exporters: their own queue is all they hold.
            let (d, k) = r.receiver.count_leftovers().await;
            dropped += d;
            kept += k;
        }
        (dropped, kept)
    }
}

/// Resolves a DNS name into sorted, distinct `ip:port` endpoints.
async fn resolve(d: &DnsResolverConfig) -> Result<Vec<String>, String> {
    let lookup = tokio::net::lookup_host((d.hostname.as_str(), d.port));
    let addrs = tokio::time::timeout(d.timeout.0, lookup)
        .await
        .map_err(|_| format!("resolving {:?} timed out", d.hostname))?
        .map_err(|e| format!("resolving {:?}: {e}", d.hostname))?;
    let mut out: Vec<String> = addrs.map(|a| a.to_string()).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

impl Pending {
    /// The balancer, for the shutdown count.
    pub fn balancer(&self) -> Arc<Balancer> {
        self.balancer.clone()
    }

    /// The resolver task: starts the members, re-resolves DNS every `interval`, and once every
    /// routing worker is gone (the exporter's queue drained) lets the members drain and waits
    /// for them.
    pub async fn run(mut self) {
        let b = self.balancer;
        let mut workers = JoinSet::new();
        for e in self.initial.drain(..) {
            let running = e.start(&mut workers);
            b.running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(running);
        }
        let dns = b.cfg.resolver.dns.clone();
        let mut tick = dns.as_ref().map(|d| tokio::time::interval(d.interval.0));
        loop {
            let due = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = self.alive.recv() => break,
                () = due => {
                    if let Some(d) = &dns {
                        match resolve(d).await {
                            Ok(eps) if !eps.is_empty() => b.apply(&eps, &mut workers),
                            Ok(_) => crate::telemetry::warn_rate_limited(
                                &b.id,
                                "DNS returned no address: keeping the current members",
                            ),
                            Err(e) => {
                                tracing::warn!(exporter = %b.id, error = %e, "DNS resolution failed: keeping the current members");
                            }
                        }
                    }
                }
                Some(_) = workers.join_next(), if !workers.is_empty() => {}
            }
        }
        // No routing worker is left: members stop taking data and drain.
        b.set_ring(Ring::default());
        while workers.join_next().await.is_some() {}
    }
}

/// The routing service the exporter's workers call: splits a batch by routing key and offers
/// each part to its member's queue without waiting. Parts a full member queue refused are
/// counted there (`gateway_exporter_enqueue_failed`) and reported back as dropped (so this
/// exporter counts them neither as sent nor as failed).
#[derive(Clone)]
pub struct Router {
    balancer: Arc<Balancer>,
    /// Dropped with the last worker: tells the resolver task to let the members drain.
    _alive: mpsc::Sender<()>,
}

impl tower::Service<Arc<Batch>> for Router {
    type Response = ExportOutcome;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ExportOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, batch: Arc<Batch>) -> Self::Future {
        let b = self.balancer.clone();
        Box::pin(async move {
            let ring = b.ring().await?;
            let key = b.cfg.routing_key;
            let mut dropped = 0;
            match split(batch.payload(), &ring, key) {
                Routed::Whole(m) => {
                    let items = batch.items() as u64;
                    if let Some(member) = ring.members.get(m) {
                        if !member.sender.try_send(batch) {
                            dropped += items;
                        }
                    }
                }
                Routed::Parts(parts) => {
                    for (m, payload) in parts {
                        let part = Arc::new(Batch::new(payload));
                        let items = part.items() as u64;
                        if let Some(member) = ring.members.get(m as usize) {
                            if !member.sender.try_send(part) {
                                dropped += items;
                            }
                        }
                    }
                }
            }
            Ok(ExportOutcome {
                rejected: 0,
                dropped,
            })
        })
    }
}

impl ExporterType for LoadBalancingExporterConfig {
    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn check(&self, path: &str, _signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>) {
        for (field, msg) in self.problems() {
            out.push(Diagnostic::error(join(path, &field), msg));
        }
        let member = join(path, "protocol.otlp");
        let otlp = &self.protocol.otlp;
        check_tls(&member, &otlp.tls, !otlp.tls.insecure, out);
        check_headers(&member, &otlp.headers, true, out);
        super::tenant::check(&member, &otlp.headers_from_resource, true, out);
        check_queue(&member, &otlp.sending_queue, out);
        check_retry(&member, &otlp.retry_on_failure, out);
        check_queue(path, &self.sending_queue, out);
    }

    fn client(
        &self,
        id: &str,
        metrics: &SelfMetrics,
        _stop: &std::sync::Arc<crate::exporters::queue::Stop>,
    ) -> Result<Client, ExporterBuildError> {
        let (router, pending) = build(id, self, metrics)?;
        Ok(Client {
            service: tower::util::BoxCloneService::new(router),
            balancer: Some(pending),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::config::OnFull;
    use crate::exporters::queue::{bounded, ExporterStats};
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    fn ring(endpoints: &[&str]) -> Ring {
        let m = SelfMetrics::new();
        Ring::new(
            endpoints
                .iter()
                .map(|e| Member {
                    endpoint: e.to_string(),
                    sender: bounded(e, 10, 1 << 20, OnFull::Drop, ExporterStats::new(&m, e, 10)).0,
                })
                .collect(),
        )
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn logs(conversations: &[&str]) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "codex_exec")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: conversations
                        .iter()
                        .enumerate()
                        .map(|(i, c)| LogRecord {
                            attributes: vec![kv("conversation.id", c), kv("seq", &i.to_string())],
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn removing_a_member_moves_only_the_keys_it_owned_and_keys_spread_evenly() {
        let before = ring(&["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"]);
        let after = ring(&["10.0.0.1:4317", "10.0.0.3:4317"]);
        let mut owned = BTreeMap::new();
        for k in 0..3000 {
            let h = fnv1a(format!("conversation-{k}").as_bytes());
            let (Some(b), Some(a)) = (before.endpoint_for(h), after.endpoint_for(h)) else {
                panic!("rings have members");
            };
            *owned.entry(b.to_string()).or_insert(0) += 1;
            if b != "10.0.0.2:4317" {
                assert_eq!(a, b, "key {k} moved though its member stayed");
            }
        }
        for (member, n) in owned {
            assert!((700..=1300).contains(&n), "{member} owns {n} of 3000 keys");
        }
    }

    #[test]
    fn logs_split_by_conversation_keep_each_conversation_whole_with_resource_and_order() {
        let r = ring(&["a:1", "b:1", "c:1"]);
        let convs: Vec<String> = (0..40).map(|i| format!("conv-{}", i % 10)).collect();
        let refs: Vec<&str> = convs.iter().map(String::as_str).collect();
        let payload = Payload::Logs(logs(&refs));
        let Routed::Parts(parts) = split(&payload, &r, None) else {
            panic!("ten conversations span several members")
        };
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut total = 0;
        for (m, p) in &parts {
            let Payload::Logs(req) = p else {
                panic!("logs in, logs out")
            };
            for rl in &req.resource_logs {
                assert_eq!(rl.resource, logs(&[]).resource_logs[0].resource);
                for sl in &rl.scope_logs {
                    let seqs: Vec<usize> = sl
                        .log_records
                        .iter()
                        .map(|l| match find_attr(&l.attributes, "seq") {
                            Some(any_value::Value::StringValue(s)) => s.parse().unwrap_or(0),
                            _ => panic!("seq"),
                        })
                        .collect();
                    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept");
                    for l in &sl.log_records {
                        total += 1;
                        let Some(any_value::Value::StringValue(c)) =
                            find_attr(&l.attributes, "conversation.id")
                        else {
                            panic!("conversation.id")
                        };
                        let prev = seen.insert(c.clone(), *m);
                        assert!(prev.is_none_or(|p| p == *m), "{c} split over members");
                        assert_eq!(
                            r.endpoint_for(fnv1a(c.as_bytes())),
                            Some(r.members[*m as usize].endpoint.as_str())
                        );
                    }
                }
            }
        }
        assert_eq!(total, 40);
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn a_batch_of_one_conversation_is_forwarded_whole() {
        let r = ring(&["a:1", "b:1", "c:1"]);
        let payload = Payload::Logs(logs(&["same", "same", "same"]));
        let Routed::Whole(m) = split(&payload, &r, None) else {
            panic!("one conversation is not split")
        };
        assert_eq!(
            r.endpoint_for(fnv1a(b"same")),
            Some(r.members[m].endpoint.as_str())
        );
    }

    #[test]
    fn validate_problems_name_the_field() {
        let cfg: LoadBalancingExporterConfig = serde_json::from_value(serde_json::json!({
            "resolver": { "static": { "hostnames": ["a:4317", "a:4317", "ftp://x"] } },
            "protocol": { "otlp": { "endpoint": "b:4317" } }
        }))
        .expect("shape is valid");
        let fields: Vec<String> = cfg.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "resolver.static.hostnames.1",
                "resolver.static.hostnames.2",
                "protocol.otlp.endpoint"
            ]
        );
    }
}
