//! Pipelines: the receiver's task decodes a request and calls [`ingest`], which runs each
//! pipeline's processor chain in place, prunes empty resources/scopes, wraps the result in an
//! `Arc` and offers it to every exporter queue of the pipeline ([`fanout`]) without waiting.
//! The wiring from config lives in [`builder`] only.

pub mod batch;
pub mod builder;
pub mod connector;
pub mod fanout;
pub mod usage_store;

use crate::codec::{Batch, Payload};
use crate::exporters::queue::QueueSender;
use crate::telemetry::metrics::{SelfMetrics, SignalCounters};
use processors::{Metadata, OtlpRequest, ProcessContext, Processor, Signal};
use std::sync::{Arc, RwLock};

/// A value swapped whole at config reload and read per request: a read clones an `Arc` under a
/// read lock (no allocation, no waiting on other readers).
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Swap(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value; returns the previous one.
    pub fn store(&self, value: Arc<T>) -> Arc<T> {
        std::mem::replace(
            &mut *self.0.write().unwrap_or_else(|e| e.into_inner()),
            value,
        )
    }
}

impl Swap<Routes> {
    /// Whether any current pipeline takes `signal`.
    pub fn has(&self, signal: Signal) -> bool {
        self.load().has(signal)
    }
}

impl<T> Swap<Vec<T>> {
    /// Whether the current list is empty.
    pub fn is_empty(&self) -> bool {
        self.load().is_empty()
    }
}

/// One processor in a chain, with its drop counter.
pub struct Stage {
    /// Processor id, e.g. `attributes/team`.
    pub id: String,
    /// The processor.
    pub processor: Arc<dyn Processor>,
    /// Items it dropped.
    pub dropped: SignalCounters,
    /// Items going into it.
    pub incoming: SignalCounters,
    /// Items coming out of it.
    pub outgoing: SignalCounters,
    /// Where its audit counts go.
    pub metrics: SelfMetrics,
}

/// A built pipeline: processors in order, then the exporters' queues.
pub struct Pipeline {
    /// Pipeline id, e.g. `logs/codex`.
    pub id: String,
    /// Its signal.
    pub signal: Signal,
    /// The processor chain.
    pub stages: Vec<Stage>,
    /// The queues of its exporters.
    pub exporters: Vec<QueueSender>,
    /// The `batch` stage, if the pipeline has one (always last).
    pub batcher: Option<batch::Batcher>,
    /// Connectors listed among its exporters.
    pub connectors: Vec<connector::ConnectorLink>,
    /// Every exporter sends only the protobuf encoding: batches are encoded as they are made
    /// and the decoded request is freed at once, so queues hold encoded bytes only.
    pub encode_early: bool,
    /// No batch stage, no connector and no processor that removes items: what comes out is
    /// about as large as what came in, so [`has_room`] may judge a request by its body size.
    pub size_preserving: bool,
}

impl Pipeline {
    /// Offers batches from the batch stage to every exporter queue. The client was answered
    /// when the batch stage took the data, so refusals here are counted drops.
    pub fn send(&self, payloads: Vec<Payload>) {
        for p in payloads {
            let batch = Arc::new(self.batch_of(p));
            let f = fanout::fan_out(&self.exporters, &batch);
            if f.rejected {
                for q in &self.exporters {
                    q.count_full(&batch);
                }
            }
        }
    }

    /// A batch of `payload` for this pipeline's exporters (see [`Pipeline::encode_early`]).
    fn batch_of(&self, payload: Payload) -> Batch {
        if !self.encode_early {
            return Batch::new(payload);
        }
        let items = payload.item_count();
        Batch::from_proto(payload.signal(), payload.encode_proto().into(), items)
    }

    /// Sends whatever the batch stage holds past its timeout (`all`: everything, at shutdown).
    pub fn flush_batches(&self, all: bool) {
        if let Some(b) = &self.batcher {
            let ready = if all {
                b.take_all()
            } else {
                b.take_due(std::time::Instant::now())
            };
            self.send(ready);
        }
    }
}

impl Drop for Pipeline {
    /// A pipeline retired by a config reload (or at shutdown) hands whatever its batch stage
    /// still holds to its exporter queues, so a request that raced the swap is not lost.
    fn drop(&mut self) {
        self.flush_batches(true);
    }
}

/// The pipelines one receiver feeds, by signal.
#[derive(Clone, Default)]
pub struct Routes {
    by_signal: [Vec<Arc<Pipeline>>; 3],
}

impl Routes {
    /// Adds a pipeline under its signal.
    pub fn push(&mut self, p: Arc<Pipeline>) {
        self.by_signal[p.signal as usize].push(p);
    }

    /// The pipelines of `signal`.
    pub fn get(&self, signal: Signal) -> &[Arc<Pipeline>] {
        &self.by_signal[signal as usize]
    }

    /// Whether any pipeline takes `signal`.
    pub fn has(&self, signal: Signal) -> bool {
        !self.get(signal).is_empty()
    }
}

/// Why a request was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// No pipeline of this signal uses the receiver.
    #[error("no {0} pipeline uses this receiver")]
    NotRouted(Signal),
    /// Every exporter queue refused the data, or one that rejects when full had no room: the
    /// client should retry later.
    #[error("exporter queues are full; retry later")]
    Unavailable,
    /// A persistent queue could not store the data (e.g. disk full): retry later.
    #[error("the persistent queue could not store the data; retry later")]
    Storage,
}

/// Durability acknowledgements a request's answer waits for (persistent queues only).
#[derive(Default)]
pub struct Pending {
    durable: Vec<fanout::Durable>,
}

impl Pending {
    /// Waits until every persistent queue has stored the data.
    pub async fn settle(self) -> Result<(), IngestError> {
        for d in self.durable {
            match d.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(IngestError::Storage),
            }
        }
        Ok(())
    }
}

/// Runs `req` through every pipeline of its signal and offers the results to the exporters.
/// A request is accepted when at least one exporter queue took it (or processors removed
/// everything on purpose) and no `on_full: reject` queue refused it; the answer then waits for
/// [`Pending::settle`] (persistent queues).
pub fn ingest<R>(routes: &Routes, mut req: R, metadata: &Metadata) -> Result<Pending, IngestError>
where
    R: OtlpRequest + Into<Payload>,
{
    let pipelines = routes.get(R::SIGNAL);
    let Some((last, firsts)) = pipelines.split_last() else {
        return Err(IngestError::NotRouted(R::SIGNAL));
    };
    let mut total = Outcome::default();
    for p in firsts {
        total.add(run_one(p, req.clone(), metadata));
    }
    // The last pipeline takes the request itself: no copy when there is one pipeline.
    total.add(run_one(last, std::mem::take(&mut req), metadata));
    if total.rejected || (total.to_send && !total.accepted) {
        return Err(IngestError::Unavailable);
    }
    Ok(Pending {
        durable: total.durable,
    })
}

/// Whether the pipelines of `signal` will refuse a protobuf request of `bytes` anyway, judged
/// before it is decoded: a size-preserving pipeline ([`Pipeline::size_preserving`]) has an
/// `on_full: reject` queue without room for it, or every pipeline is size-preserving and none of
/// their queues has room. Such a request would be refused (503 / UNAVAILABLE) after decoding
/// and processing; the receiver refuses it first and spends no work on it. In the second case
/// each queue counts the items as it would have (`items` is called only then). The fan-out's
/// reservation stays the real check for everything admitted here.
pub fn refuses_early(
    routes: &Routes,
    signal: Signal,
    bytes: u64,
    items: impl FnOnce() -> u64,
) -> bool {
    let pipelines = routes.get(signal);
    let judged = |p: &Arc<Pipeline>| p.size_preserving && !p.exporters.is_empty();
    let reject_full = pipelines.iter().filter(|p| judged(p)).any(|p| {
        p.exporters.iter().any(|q| {
            q.on_full() == crate::exporters::config::OnFull::Reject && !q.could_take(bytes)
        })
    });
    if reject_full {
        return true;
    }
    let all_full = !pipelines.is_empty()
        && pipelines
            .iter()
            .all(|p| judged(p) && p.exporters.iter().all(|q| !q.could_take(bytes)));
    if all_full {
        let n = items();
        for q in pipelines.iter().flat_map(|p| &p.exporters) {
            q.count_full_items(signal, n);
        }
    }
    all_full
}

/// Whether every pipeline of `signal` forwards requests unchanged (no processors, no batch
/// stage, no connector: a connector reads the decoded request), so a receiver may hand over the
/// request's own encoding ([`ingest_encoded`]).
pub fn passes_through(routes: &Routes, signal: Signal) -> bool {
    let pipelines = routes.get(signal);
    !pipelines.is_empty()
        && pipelines
            .iter()
            .all(|p| p.stages.is_empty() && p.batcher.is_none() && p.connectors.is_empty())
}

/// [`ingest`] for pass-through pipelines ([`passes_through`]): offers one already-encoded,
/// non-empty batch, shared, to the exporter queues of every pipeline of its signal.
pub fn ingest_encoded(routes: &Routes, batch: Arc<Batch>) -> Result<Pending, IngestError> {
    let pipelines = routes.get(batch.signal());
    if pipelines.is_empty() {
        return Err(IngestError::NotRouted(batch.signal()));
    }
    let mut total = Outcome::default();
    for p in pipelines {
        let f = fanout::fan_out(&p.exporters, &batch);
        total.add(Outcome {
            to_send: true,
            accepted: f.accepted > 0,
            rejected: f.rejected,
            durable: f.durable,
        });
    }
    if total.rejected || !total.accepted {
        return Err(IngestError::Unavailable);
    }
    Ok(Pending {
        durable: total.durable,
    })
}

#[derive(Default)]
struct Outcome {
    to_send: bool,
    accepted: bool,
    rejected: bool,
    durable: Vec<fanout::Durable>,
}

impl Outcome {
    fn add(&mut self, o: Outcome) {
        self.to_send |= o.to_send;
        self.accepted |= o.accepted;
        self.rejected |= o.rejected;
        self.durable.extend(o.durable);
    }
}

fn run_one<R>(p: &Pipeline, mut req: R, metadata: &Metadata) -> Outcome
where
    R: OtlpRequest + Into<Payload>,
{
    let mut cx = ProcessContext::new(metadata);
    // Items in and out of each stage: one walk of the request per stage (plus one before the
    // first), and the last count doubles as the emptiness check below (pruning removes empty
    // scopes and resources, never items).
    let mut items = req.item_count() as u64;
    for stage in &p.stages {
        let incoming = items;
        req.process_with(stage.processor.as_ref(), &mut cx);
        items = req.item_count() as u64;
        stage.incoming.add(R::SIGNAL, incoming);
        stage.outgoing.add(R::SIGNAL, items);
        stage.dropped.add(R::SIGNAL, cx.take_dropped());
        for (event, rule, n) in cx.take_counts() {
            stage.metrics.processor_event(&stage.id, event, &rule, n);
        }
    }
    req.prune();
    if items == 0 {
        return Outcome::default();
    }
    for link in &p.connectors {
        link.consume(&req, metadata);
    }
    // A connector takes the data synchronously: the pipeline has delivered somewhere.
    let connected = !p.connectors.is_empty();
    match &p.batcher {
        // Held by the batch stage: accepted; what its flush cannot queue is counted there.
        Some(b) => {
            p.send(b.add(req.into()));
            Outcome {
                to_send: true,
                accepted: true,
                ..Outcome::default()
            }
        }
        None => {
            let f = fanout::fan_out(&p.exporters, &Arc::new(p.batch_of(req.into())));
            Outcome {
                to_send: true,
                accepted: f.accepted > 0 || connected,
                rejected: f.rejected,
                durable: f.durable,
            }
        }
    }
}
