//! Each exporter's own bounded queue and its worker tasks. The ingest path only ever calls
//! [`QueueSender::try_send`], which never waits: a full queue is a counted drop for this exporter
//! alone. Workers pull batches and push them through the exporter's tower stack.

use super::{ExportOutcome, ExportService};
use crate::codec::Batch;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

/// Counters and gauges of one exporter.
#[derive(Clone)]
pub struct ExporterStats {
    /// Items delivered.
    pub sent: SignalCounters,
    /// Items given up on.
    pub failed: SignalCounters,
    /// Items dropped because the queue was full.
    pub enqueue_failed: SignalCounters,
    /// Items still queued or in flight at the shutdown deadline.
    pub shutdown_dropped: SignalCounters,
    queue_size: Gauge,
    in_flight: Arc<[AtomicU64; 3]>,
}

impl ExporterStats {
    /// Resolves the exporter's metrics.
    pub fn new(m: &SelfMetrics, id: &str, capacity: usize) -> Self {
        let c = |stem| SignalCounters::new(m, stem, "exporter", id);
        m.gauge(names::EXPORTER_QUEUE_CAPACITY, "exporter", id)
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
        ExporterStats {
            sent: c(names::EXPORTER_SENT),
            failed: c(names::EXPORTER_SEND_FAILED),
            enqueue_failed: c(names::EXPORTER_ENQUEUE_FAILED),
            shutdown_dropped: c(names::EXPORTER_SHUTDOWN_DROPPED),
            queue_size: m.gauge(names::EXPORTER_QUEUE_SIZE, "exporter", id),
            in_flight: Arc::new(Default::default()),
        }
    }
}

/// The sending side of an exporter's queue, held by every pipeline that lists the exporter.
#[derive(Clone)]
pub struct QueueSender {
    id: Arc<str>,
    tx: mpsc::Sender<Arc<Batch>>,
    stats: ExporterStats,
}

impl QueueSender {
    /// The exporter id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Offers a batch without waiting. `false` (and a counted drop) when the queue is full or
    /// closed.
    pub fn try_send(&self, batch: Arc<Batch>) -> bool {
        let (signal, items) = (batch.signal(), batch.items() as u64);
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.stats.queue_size.inc();
                true
            }
            Err(_) => {
                self.stats.enqueue_failed.add(signal, items);
                crate::telemetry::warn_rate_limited(&self.id, "sending queue full: batch dropped");
                false
            }
        }
    }
}

/// The receiving side: consumed by the workers.
pub struct QueueReceiver {
    id: Arc<str>,
    rx: Arc<Mutex<mpsc::Receiver<Arc<Batch>>>>,
    stats: ExporterStats,
}

/// A bounded queue of `capacity` requests.
pub fn bounded(id: &str, capacity: usize, stats: ExporterStats) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let id: Arc<str> = Arc::from(id);
    (
        QueueSender {
            id: id.clone(),
            tx,
            stats: stats.clone(),
        },
        QueueReceiver {
            id,
            rx: Arc::new(Mutex::new(rx)),
            stats,
        },
    )
}

impl QueueReceiver {
    /// Starts `consumers` workers sending through `service` into `tasks`.
    pub fn spawn_workers(&self, consumers: usize, service: ExportService, tasks: &mut JoinSet<()>) {
        for _ in 0..consumers.max(1) {
            let rx = self.rx.clone();
            let stats = self.stats.clone();
            let id = self.id.clone();
            let svc = service.clone();
            tasks.spawn(worker(id, rx, svc, stats));
        }
    }

    /// After the shutdown deadline: counts what is still queued or in flight as dropped.
    pub async fn count_leftovers(&self) -> u64 {
        let mut dropped = 0;
        let mut rx = self.rx.lock().await;
        while let Ok(batch) = rx.try_recv() {
            self.stats.queue_size.dec();
            self.stats
                .shutdown_dropped
                .add(batch.signal(), batch.items() as u64);
            dropped += batch.items() as u64;
        }
        for signal in processors::Signal::ALL {
            let n = self.stats.in_flight[signal as usize].swap(0, Ordering::SeqCst);
            self.stats.shutdown_dropped.add(signal, n);
            dropped += n;
        }
        dropped
    }
}

async fn worker(
    id: Arc<str>,
    rx: Arc<Mutex<mpsc::Receiver<Arc<Batch>>>>,
    mut svc: ExportService,
    stats: ExporterStats,
) {
    loop {
        let next = { rx.lock().await.recv().await };
        let Some(batch) = next else { break };
        stats.queue_size.dec();
        let (signal, items) = (batch.signal(), batch.items() as u64);
        let slot = &stats.in_flight[signal as usize];
        slot.fetch_add(items, Ordering::SeqCst);
        let started = Instant::now();
        let result = match svc.ready().await {
            Ok(ready) => ready.call(batch).await,
            Err(e) => Err(e),
        };
        slot.fetch_sub(items, Ordering::SeqCst);
        match result {
            Ok(ExportOutcome { rejected }) => {
                let rejected = rejected.min(items);
                stats.sent.add(signal, items - rejected);
                stats.failed.add(signal, rejected);
                if rejected > 0 {
                    crate::telemetry::warn_rate_limited(&id, "backend rejected part of a batch");
                }
                tracing::debug!(exporter = %id, %signal, items, elapsed = ?started.elapsed(), "exported");
            }
            Err(err) => {
                stats.failed.add(signal, items);
                tracing::warn!(exporter = %id, %signal, items, error = %err, "export failed; batch dropped");
            }
        }
    }
}

/// How long a worker may still take after the shutdown deadline before it is aborted.
pub const ABORT_GRACE: Duration = Duration::from_millis(100);
