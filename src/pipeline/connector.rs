//! Connectors at run time: the link between a pipeline that lists a connector as an exporter
//! and the pipelines that list it as a receiver. After the upstream pipeline's processors ran,
//! [`super::run_one`] hands the request to each link; the link turns it into the connector's
//! output signal and ingests that into the downstream pipelines, synchronously and without
//! waiting on any exporter. What no downstream queue takes is counted, never retried upstream
//! (the upstream data was accepted by its own exporters).

use super::{ingest, Routes};
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use processors::codex_usage::CodexUsage;
use processors::{Metadata, OtlpRequest, ProcessContext, Signal};
use std::any::Any;
use std::sync::Arc;

/// A built connector.
pub enum Connector {
    /// `codex_usage`: logs → metrics, and its store when `storage` is configured.
    CodexUsage(CodexUsage, Option<super::usage_store::UsageStore>),
}

/// One connector as seen from one upstream pipeline: the connector and where its output goes.
pub struct ConnectorLink {
    /// Connector id, e.g. `codex_usage`.
    pub id: String,
    /// The connector (shared by every upstream pipeline that exports to it).
    pub connector: Arc<Connector>,
    /// The downstream pipelines, by signal.
    pub routes: Routes,
    received: SignalCounters,
    produced: SignalCounters,
    dropped: SignalCounters,
    metrics: SelfMetrics,
}

impl ConnectorLink {
    /// A link from an upstream pipeline to `routes` through `connector`.
    pub fn new(id: &str, connector: Arc<Connector>, routes: Routes, m: &SelfMetrics) -> Self {
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
        let out = match self.connector.as_ref() {
            Connector::CodexUsage(c, _) => match any.downcast_ref::<ExportLogsServiceRequest>() {
                Some(logs) => {
                    self.received.add(Signal::Logs, logs.item_count() as u64);
                    c.consume_logs(logs, &mut cx)
                }
                None => None,
            },
        };
        for (event, label, n) in cx.take_counts() {
            self.metrics.processor_event(&self.id, event, &label, n);
        }
        let Some(metrics) = out else {
            return;
        };
        let n = metrics.item_count() as u64;
        self.produced.add(Signal::Metrics, n);
        if ingest(&self.routes, metrics, metadata).is_err() {
            self.dropped.add(Signal::Metrics, n);
        }
    }
}
