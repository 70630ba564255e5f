//! Connectors: the registry of connector types ([`ConnectorConfig`], one line each) and, at run
//! time, the link between a pipeline that lists a connector as an exporter and the pipelines
//! that list it as a receiver. After the upstream pipeline's processors ran, the entry point
//! hands the request to each link; the link turns it into the connector's
//! output signal and ingests that into the downstream pipelines, synchronously and without
//! waiting on any exporter. What no downstream queue takes is counted, never retried upstream
//! (the upstream data was accepted by its own exporters).

use super::Routes;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use processors::codex_usage::{CodexUsage, CodexUsageConfig, Temporality};
use processors::{BuildError, Metadata, OtlpRequest, ProcessContext, Signal};
use std::any::Any;
use std::sync::Arc;

crate::registry! {
    /// A connector's config, by type. A connector is listed as an exporter of the pipelines it
    /// reads and as a receiver of the pipelines it feeds, as in the Collector.
    pub enum ConnectorConfig: dyn ConnectorType {
        /// `codex_usage`: Codex log events → usage metrics (logs → metrics).
        "codex_usage" => CodexUsage(CodexUsageConfig),
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
    /// Builds it; every problem of its config at once.
    fn build(&self) -> Result<Arc<dyn Connector>, Vec<BuildError>>;
}

/// A built connector: turns one processed upstream request into a request of its output
/// signal (or nothing). Each method defaults to nothing, so a connector writes the ones of the
/// signals it reads.
pub trait Connector: Send + Sync + 'static {
    /// Consumes a logs request.
    fn consume_logs(
        &self,
        _req: &ExportLogsServiceRequest,
        _cx: &mut ProcessContext<'_>,
    ) -> Option<ExportMetricsServiceRequest> {
        None
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
        Ok(Arc::new(CodexUsageConfig::build(self)?))
    }
}

impl Connector for CodexUsage {
    fn consume_logs(
        &self,
        req: &ExportLogsServiceRequest,
        cx: &mut ProcessContext<'_>,
    ) -> Option<ExportMetricsServiceRequest> {
        CodexUsage::consume_logs(self, req, cx)
    }
}

/// One connector as seen from one upstream pipeline: the connector and where its output goes.
pub struct ConnectorLink {
    /// Connector id, e.g. `codex_usage`.
    pub id: String,
    /// The connector (shared by every upstream pipeline that exports to it).
    pub connector: Arc<dyn Connector>,
    /// The downstream pipelines, by signal.
    pub routes: Routes,
    received: SignalCounters,
    produced: SignalCounters,
    dropped: SignalCounters,
    metrics: SelfMetrics,
}

impl ConnectorLink {
    /// A link from an upstream pipeline to `routes` through `connector`.
    pub fn new(id: &str, connector: Arc<dyn Connector>, routes: Routes, m: &SelfMetrics) -> Self {
        ConnectorLink {
            id: id.to_string(),
            connector,
            routes,
            received: SignalCounters::new(m, names::CONNECTOR_RECEIVED, "connector", id),
            produced: SignalCounters::new(m, names::CONNECTOR_PRODUCED, "connector", id),
            dropped: SignalCounters::new(m, names::CONNECTOR_DROPPED, "connector", id),
            metrics: m.clone(),
        }
    }

    /// Feeds the connector one processed upstream request.
    pub fn consume<R: OtlpRequest>(&self, req: &R, metadata: &Metadata) {
        let mut cx = ProcessContext::new(metadata);
        let any: &dyn Any = req;
        let out = match any.downcast_ref::<ExportLogsServiceRequest>() {
            Some(logs) => {
                self.received.add(Signal::Logs, logs.item_count() as u64);
                self.connector.consume_logs(logs, &mut cx)
            }
            None => None,
        };
        for (event, label, n) in cx.take_counts() {
            self.metrics.processor_event(&self.id, event, &label, n);
        }
        let Some(metrics) = out else {
            return;
        };
        let n = metrics.item_count() as u64;
        self.produced.add(Signal::Metrics, n);
        if self.routes.ingest(metrics, metadata).is_err() {
            self.dropped.add(Signal::Metrics, n);
        }
    }
}
