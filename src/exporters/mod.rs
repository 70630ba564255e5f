//! Exporters: each owns a bounded queue ([`queue`]), worker tasks and a tower stack
//! (retry → timeout → client). Clients: [`otlp_grpc`], [`otlp_http`], [`debug`],
//! [`prometheus_remote_write`] (which converts each batch first, then sends its requests one by
//! one through its own retry → timeout → client stack); the [`loadbalancing`] exporter routes
//! into member `otlp` exporters of its own. Failures are classified by the OTLP spec table in
//! [`classify`] (remote write: its own rule there); retries follow [`retry`].

pub mod classify;
pub mod config;
pub mod debug;
pub mod loadbalancing;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod persistent;
pub mod prometheus_remote_write;
pub mod queue;
pub mod registry;
pub mod retry;
pub mod tenant;

use crate::codec::Batch;
use crate::telemetry::metrics::SelfMetrics;
use queue::{ExporterStats, QueueReceiver, QueueSender};
use registry::{Client, ExporterType};

pub use registry::ExporterConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tower::util::BoxCloneService;
use tower::{BoxError, ServiceBuilder};

/// What a successful export reports: items the backend rejected (OTLP partial success) and
/// items the exporter itself left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Items rejected by the backend (counted as send failures).
    pub rejected: u64,
    /// Items the exporter left out on purpose and counted with its own drop metric (e.g. delta
    /// points in `prometheusremotewrite`): neither sent nor failed.
    pub dropped: u64,
}

/// The type-erased tower stack of one exporter.
pub type ExportService = BoxCloneService<Arc<Batch>, ExportOutcome, BoxError>;

/// Why an exporter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExporterBuildError {
    /// The persistent queue could not be opened.
    #[error("exporters.{id}: {source}")]
    Storage {
        /// Exporter id.
        id: String,
        /// What failed.
        source: persistent::StoreError,
    },
    /// A config value the client cannot use (validate normally catches these first).
    #[error("exporters.{id}: {message}")]
    Invalid {
        /// Exporter id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// A built exporter, before its workers run.
pub struct Exporter {
    id: String,
    sender: QueueSender,
    receiver: QueueReceiver,
    service: ExportService,
    consumers: usize,
    merge: Option<config::QueueBatchConfig>,
    store: Option<persistent::Store>,
    balancer: Option<loadbalancing::Pending>,
}

/// A running exporter's handle for the shutdown stage.
pub struct RunningExporter {
    /// Exporter id.
    pub id: String,
    receiver: QueueReceiver,
    store: Option<persistent::Store>,
    balancer: Option<Arc<loadbalancing::Balancer>>,
}

impl RunningExporter {
    /// After the drain deadline: what is left is counted as dropped (memory queue) or stays on
    /// disk (persistent queue), members of a `loadbalancing` exporter included. Returns
    /// (dropped, kept) items.
    pub async fn count_leftovers(&self) -> (u64, u64) {
        let (mut dropped, mut kept) = self.receiver.count_leftovers().await;
        if let Some(b) = &self.balancer {
            let (d, k) = b.count_leftovers().await;
            dropped += d;
            kept += k;
        }
        (dropped, kept)
    }

    /// Lets a persistent queue commit its last deletes (blocking; call once workers are gone).
    pub fn finish(self) {
        drop(self.receiver);
        if let Some(store) = self.store {
            store.join();
        }
    }
}

impl Exporter {
    /// Builds the client, its tower stack and its queue. Must run inside a tokio runtime.
    pub fn build(
        id: &str,
        cfg: &dyn ExporterType,
        metrics: &SelfMetrics,
    ) -> Result<Self, ExporterBuildError> {
        let queue_cfg = cfg.sending_queue();
        // Requests on the wire at the shutdown deadline get `shutdown_grace` (at most one
        // attempt's timeout) to finish.
        let grace = queue_cfg.shutdown_grace.0.min(cfg.attempt_timeout());
        let stop = Arc::new(queue::Stop::new(grace));
        let Client { service, balancer } = cfg.client(id, metrics, &stop)?;
        let stats = ExporterStats::new(metrics, id, queue_cfg.queue_size);
        let (mut sender, mut receiver) = queue::bounded(
            id,
            queue_cfg.queue_size,
            queue_cfg.max_bytes.0,
            queue_cfg.on_full,
            stats,
        );
        receiver = receiver.with_stop(stop);
        let store = match &queue_cfg.storage {
            Some(storage) => {
                let store = persistent::open(storage, &sender.feed()).map_err(|source| {
                    ExporterBuildError::Storage {
                        id: id.to_string(),
                        source,
                    }
                })?;
                sender = sender.with_store(store.handle());
                receiver = receiver.with_store(store.handle());
                Some(store)
            }
            None => None,
        };
        Ok(Exporter {
            id: id.to_string(),
            sender,
            receiver,
            service,
            consumers: queue_cfg.num_consumers,
            merge: queue_cfg.batch.clone(),
            store,
            balancer,
        })
    }

    /// The queue's sending side, for pipelines.
    pub fn sender(&self) -> QueueSender {
        self.sender.clone()
    }

    /// Starts the workers into `tasks`. The exporter's own sender is dropped: once every pipeline
    /// holding a sender is gone, the workers drain the queue and stop.
    pub fn start(self, tasks: &mut JoinSet<()>) -> RunningExporter {
        self.receiver
            .spawn_workers(self.consumers, self.merge.as_ref(), self.service, tasks);
        let balancer = self.balancer.map(|pending| {
            let b = pending.balancer();
            tasks.spawn(pending.run());
            b
        });
        RunningExporter {
            id: self.id,
            receiver: self.receiver,
            store: self.store,
            balancer,
        }
    }
}

/// The counter of an exporter's retries.
fn retry_counter(metrics: &SelfMetrics, id: &str) -> prometheus_client::metrics::counter::Counter {
    metrics.request_counter(
        crate::telemetry::metrics::names::EXPORTER_RETRIES,
        "exporter",
        id,
    )
}

/// retry → gate → timeout → client, for requests of type `R` (a whole batch, or one body of an
/// exporter that splits batches).
fn stack<S, R>(
    client: S,
    retry: &config::RetryConfig,
    timeout: Duration,
    retries: prometheus_client::metrics::counter::Counter,
    stop: &Arc<queue::Stop>,
) -> BoxCloneService<R, ExportOutcome, BoxError>
where
    R: Clone + Send + 'static,
    S: tower::Service<R, Response = ExportOutcome, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let svc = ServiceBuilder::new()
        .retry(retry::RetryPolicy::new(retry, retries, stop.clone()))
        .layer_fn(|inner| retry::StopGate::new(inner, stop.clone()))
        .timeout(timeout)
        .service(client);
    BoxCloneService::new(svc)
}
