//! Connectors: the registry of connector types ([`ConnectorConfig`], one line each) and, at run
//! time, the link between a pipeline that lists a connector as an exporter and the pipelines
//! that list it as a receiver. After the upstream pipeline's processors ran, the entry point
//! hands the request to each link; the link gives it to the connector, which returns requests
//! for its outputs ([`Output`]: every downstream pipeline, or the few a route names), and
//! ingests each into its output's pipelines, synchronously and without waiting on any
//! exporter. A connector that derives new data (`codex_usage`: logs → metrics) does not answer
//! for the upstream request: what no downstream queue takes is counted, never retried
//! upstream. A connector that forwards the data it reads ([`routing`]) answers for it like an
//! exporter would: the request is refused only when none of its parts was taken anywhere.

pub mod routing;

use super::entry::Pending;
use super::usage_store;
use super::Routes;
use crate::codec::Payload;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use processors::codex_usage::{CodexUsage, CodexUsageConfig, Temporality};
use processors::{BuildError, Metadata, OtlpRequest, ProcessContext, Signal};
use routing::RoutingConfig;
use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

crate::registry! {
    /// A connector's config, by type. A connector is listed as an exporter of the pipelines it
    /// reads and as a receiver of the pipelines it feeds, as in the Collector.
    pub enum ConnectorConfig: dyn ConnectorType {
        /// `codex_usage`: Codex log events → usage metrics (logs → metrics).
        "codex_usage" => CodexUsage(CodexUsageConfig),
        /// `routing`: each part of a request to the pipelines of the first route it matches.
        "routing" => Routing(RoutingConfig),
    }
}

/// What the pipeline asks of a connector type.
pub trait ConnectorType {
    /// Signals of the pipelines it can be an exporter of.
    fn reads(&self) -> &'static [Signal];
    /// Signals of the pipelines it can be a receiver of.
    fn feeds(&self) -> &'static [Signal];
    /// Whether what it emits is cumulative already.
    fn emits_cumulative(&self) -> bool;
    /// Whether it forwards the data it reads (its downstream pipelines get what the upstream
    /// pipelines made of it, and answer for it) rather than deriving new data. Default: no.
    fn forwards(&self) -> bool {
        false
    }
    /// The downstream pipelines its config names, each with the path of the field naming it
    /// (`table[0].pipelines[1]`). A connector that names pipelines feeds those only, with the
    /// signal it reads. Default: none (it feeds every pipeline that lists it as a receiver).
    fn named_pipelines(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Builds it; every problem of its config at once. Pure: `validate` calls it, and nothing
    /// is opened.
    fn build(&self) -> Result<Arc<dyn Connector>, Vec<BuildError>>;
    /// Makes the connector `validate` built (`built`) ready to run: opens what it needs beyond
    /// its config (`codex_usage`: its store) and, at a reload, continues the state of the
    /// connector of the same id it replaces (`cx.previous`). Default: `built` as it is.
    fn start(
        &self,
        built: &Arc<dyn Connector>,
        _cx: &StartContext<'_>,
    ) -> Result<Arc<dyn Connector>, StartError> {
        Ok(built.clone())
    }
}

/// What [`ConnectorType::start`] gets besides the built connector.
pub struct StartContext<'a> {
    /// The connector's id (`codex_usage/team`).
    pub id: &'a str,
    /// The running connector of the same id this one replaces (a config reload), if any.
    pub previous: Option<&'a Arc<dyn Connector>>,
    /// Self-metrics (a store counts its failed writes).
    pub metrics: &'a SelfMetrics,
}

/// Why a connector could not be made ready to run.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its config did not build (checked by `validate`; here for completeness).
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Build(Vec<BuildError>),
    /// Its store could not be opened.
    #[error(transparent)]
    Store(#[from] usage_store::StoreError),
}

/// Any `'static` type as [`Any`], so a running connector can be recognised by its type (a
/// reload continuing it).
pub trait AsAny: Any {
    /// `self` as [`Any`].
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One output of a built connector: where the requests it emits for it go, and how their
/// items are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The downstream pipelines (ids); `None`: every pipeline that lists the connector as a
    /// receiver (of the emitted request's signal).
    pub pipelines: Option<Vec<String>>,
    /// Which self-metric counts the items emitted for it (besides `produced`).
    pub counted: Counted,
}

/// The self-metric an output's items are counted in, besides `gateway_connector_produced`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Only `produced`.
    Produced,
    /// `gateway_connector_routed{connector, route=<label>}`.
    Route(String),
    /// `gateway_connector_unmatched{connector}`: data no route matched.
    Unmatched,
}

/// What a connector emits for one request: requests, each for one of its outputs (by index).
pub type Emitted = Vec<(usize, Payload)>;

/// A built connector: turns one processed upstream request into requests for its outputs (or
/// nothing). It gets the request by value when the upstream pipeline has nothing else to do
/// with it, so a forwarding connector can move items instead of copying them. Each method
/// defaults to nothing, so a connector writes the ones of the signals it reads.
pub trait Connector: AsAny + Send + Sync + 'static {
    /// Its outputs; what the consume methods emit refers to them by index. Default: one, to
    /// every downstream pipeline.
    fn outputs(&self) -> Vec<Output> {
        vec![Output {
            pipelines: None,
            counted: Counted::Produced,
        }]
    }
    /// Whether it forwards the data it reads (see [`ConnectorType::forwards`]). Default: no.
    fn forwards(&self) -> bool {
        false
    }
    /// Consumes a traces request.
    fn consume_traces(
        &self,
        _req: Cow<'_, ExportTraceServiceRequest>,
        _cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        Vec::new()
    }
    /// Consumes a metrics request.
    fn consume_metrics(
        &self,
        _req: Cow<'_, ExportMetricsServiceRequest>,
        _cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        Vec::new()
    }
    /// Consumes a logs request.
    fn consume_logs(
        &self,
        _req: Cow<'_, ExportLogsServiceRequest>,
        _cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        Vec::new()
    }
}

impl ConnectorType for CodexUsageConfig {
    fn reads(&self) -> &'static [Signal] {
        &[Signal::Logs]
    }

    fn feeds(&self) -> &'static [Signal] {
        &[Signal::Metrics]
    }

    fn emits_cumulative(&self) -> bool {
        self.aggregation_temporality == Temporality::Cumulative
    }

    fn build(&self) -> Result<Arc<dyn Connector>, Vec<BuildError>> {
        Ok(Arc::new(UsageConnector {
            usage: CodexUsageConfig::build(self)?,
            store: None,
        }))
    }

    /// Shares the running totals of the connector it replaces (a reload), and opens the store
    /// when `storage` is set (read at start unless a reload continues the state).
    fn start(
        &self,
        _built: &Arc<dyn Connector>,
        cx: &StartContext<'_>,
    ) -> Result<Arc<dyn Connector>, StartError> {
        let previous = cx
            .previous
            .and_then(|p| AsAny::as_any(&**p).downcast_ref::<UsageConnector>());
        let usage = self
            .build_continuing(previous.map(|p| &p.usage))
            .map_err(StartError::Build)?;
        let store = usage_store::open(
            cx.id,
            self,
            &usage,
            previous.map(|p| p.store.as_ref()),
            cx.metrics,
        )?;
        Ok(Arc::new(UsageConnector { usage, store }))
    }
}

/// The running `codex_usage` connector: the aggregation and, with `storage`, its store (whose
/// writer stops, after a last write, when the connector goes).
pub struct UsageConnector {
    usage: CodexUsage,
    store: Option<usage_store::UsageStore>,
}

impl Connector for UsageConnector {
    fn consume_logs(
        &self,
        req: Cow<'_, ExportLogsServiceRequest>,
        cx: &mut ProcessContext<'_>,
    ) -> Emitted {
        self.usage
            .consume_logs(&req, cx)
            .map(|m| (0, Payload::from(m)))
            .into_iter()
            .collect()
    }
}

/// One connector as seen from one upstream pipeline: the connector and where its outputs go.
pub struct ConnectorLink {
    /// Connector id, e.g. `codex_usage`.
    pub id: String,
    /// The connector (shared by every upstream pipeline that exports to it).
    pub connector: Arc<dyn Connector>,
    outputs: Vec<LinkOutput>,
    received: SignalCounters,
    produced: SignalCounters,
    dropped: SignalCounters,
    metrics: SelfMetrics,
}

/// One output of a link: its pipelines and the counter of its items (routed or unmatched).
struct LinkOutput {
    routes: Routes,
    items: Option<SignalCounters>,
}

/// What a link did with one upstream request, for the upstream request's answer.
pub struct Delivered {
    /// Whether the upstream request counts as taken: always for a deriving connector; for a
    /// forwarding one, when some part was taken or none was refused.
    pub accepted: bool,
    /// Durability acknowledgements of the downstream persistent queues (forwarding only).
    pub pending: Vec<Pending>,
}

impl ConnectorLink {
    /// A link from an upstream pipeline through `connector` to its outputs; `routes` holds
    /// every pipeline that lists the connector as a receiver.
    pub fn new(id: &str, connector: Arc<dyn Connector>, routes: &Routes, m: &SelfMetrics) -> Self {
        let outputs = connector
            .outputs()
            .into_iter()
            .map(|o| LinkOutput {
                routes: match &o.pipelines {
                    None => routes.clone(),
                    Some(ids) => only(routes, ids),
                },
                items: match &o.counted {
                    Counted::Produced => None,
                    Counted::Route(label) => Some(SignalCounters::labeled(
                        m,
                        names::CONNECTOR_ROUTED,
                        &[("connector", id), ("route", label)],
                    )),
                    Counted::Unmatched => Some(SignalCounters::new(
                        m,
                        names::CONNECTOR_UNMATCHED,
                        "connector",
                        id,
                    )),
                },
            })
            .collect();
        ConnectorLink {
            id: id.to_string(),
            connector,
            outputs,
            received: SignalCounters::new(m, names::CONNECTOR_RECEIVED, "connector", id),
            produced: SignalCounters::new(m, names::CONNECTOR_PRODUCED, "connector", id),
            dropped: SignalCounters::new(m, names::CONNECTOR_DROPPED, "connector", id),
            metrics: m.clone(),
        }
    }

    /// Feeds the connector one processed upstream request (by value when the upstream
    /// pipeline is done with it) and ingests what it emits into its outputs' pipelines. Items
    /// an output has no pipeline for (routing without `default_pipelines`), and items its
    /// pipelines refused, are counted as dropped.
    pub fn consume<R>(&self, req: Cow<'_, R>, metadata: &Metadata) -> Delivered
    where
        R: OtlpRequest + Into<Payload>,
    {
        let mut cx = ProcessContext::new(metadata);
        self.received.add(R::SIGNAL, req.item_count() as u64);
        let emitted = match Input::of(req) {
            Some(Input::Traces(r)) => self.connector.consume_traces(r, &mut cx),
            Some(Input::Metrics(r)) => self.connector.consume_metrics(r, &mut cx),
            Some(Input::Logs(r)) => self.connector.consume_logs(r, &mut cx),
            None => Vec::new(),
        };
        for (event, label, n) in cx.take_counts() {
            self.metrics.processor_event(&self.id, event, &label, n);
        }
        let (mut took, mut refused, mut pending) = (false, false, Vec::new());
        for (i, payload) in emitted {
            let (signal, n) = (payload.signal(), payload.item_count() as u64);
            self.produced.add(signal, n);
            let Some(out) = self.outputs.get(i) else {
                self.dropped.add(signal, n);
                continue;
            };
            if let Some(c) = &out.items {
                c.add(signal, n);
            }
            if !out.routes.has(signal) {
                self.dropped.add(signal, n);
                continue;
            }
            match ingest(&out.routes, payload, metadata) {
                Ok(p) => {
                    took = true;
                    pending.push(p);
                }
                Err(_) => {
                    refused = true;
                    self.dropped.add(signal, n);
                }
            }
        }
        if !self.connector.forwards() {
            return Delivered {
                accepted: true,
                pending: Vec::new(),
            };
        }
        Delivered {
            accepted: took || !refused,
            pending,
        }
    }
}

/// The pipelines of `routes` whose id is in `ids`.
fn only(routes: &Routes, ids: &[String]) -> Routes {
    let mut out = Routes::default();
    for signal in Signal::ALL {
        for p in routes.get(signal) {
            if ids.contains(&p.id) {
                out.push(p.clone());
            }
        }
    }
    out
}

/// Ingests an emitted request into `routes`.
fn ingest(
    routes: &Routes,
    payload: Payload,
    metadata: &Metadata,
) -> Result<Pending, super::IngestError> {
    match payload {
        Payload::Traces(r) => routes.ingest(r, metadata),
        Payload::Metrics(r) => routes.ingest(r, metadata),
        Payload::Logs(r) => routes.ingest(r, metadata),
    }
}

/// An upstream request as a connector takes it: borrowed or owned, by signal.
enum Input<'a> {
    Traces(Cow<'a, ExportTraceServiceRequest>),
    Metrics(Cow<'a, ExportMetricsServiceRequest>),
    Logs(Cow<'a, ExportLogsServiceRequest>),
}

impl<'a> Input<'a> {
    fn of<R: OtlpRequest + Into<Payload>>(req: Cow<'a, R>) -> Option<Self> {
        match req {
            Cow::Owned(r) => Some(match r.into() {
                Payload::Traces(t) => Input::Traces(Cow::Owned(t)),
                Payload::Metrics(m) => Input::Metrics(Cow::Owned(m)),
                Payload::Logs(l) => Input::Logs(Cow::Owned(l)),
            }),
            Cow::Borrowed(r) => {
                let any: &dyn Any = r;
                if let Some(t) = any.downcast_ref() {
                    Some(Input::Traces(Cow::Borrowed(t)))
                } else if let Some(m) = any.downcast_ref() {
                    Some(Input::Metrics(Cow::Borrowed(m)))
                } else {
                    any.downcast_ref().map(|l| Input::Logs(Cow::Borrowed(l)))
                }
            }
        }
    }
}
