//! Pipelines: the receiver's task decodes a request and calls [`ingest`], which runs each
//! pipeline's processor chain in place, prunes empty resources/scopes, wraps the result in an
//! `Arc` and offers it to every exporter queue of the pipeline ([`fanout`]) without waiting.
//! The wiring from config lives in [`builder`] only.

pub mod batch;
pub mod builder;
pub mod fanout;

use crate::codec::{Batch, Payload};
use crate::exporters::queue::QueueSender;
use crate::telemetry::metrics::{SelfMetrics, SignalCounters};
use processors::{Metadata, OtlpRequest, ProcessContext, Processor, Signal};
use std::sync::Arc;

/// One processor in a chain, with its drop counter.
pub struct Stage {
    /// Processor id, e.g. `attributes/team`.
    pub id: String,
    /// The processor.
    pub processor: Arc<dyn Processor>,
    /// Items it dropped.
    pub dropped: SignalCounters,
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
}

impl Pipeline {
    /// Offers batches to every exporter queue; true if any queue took any batch.
    pub fn send(&self, payloads: Vec<Payload>) -> bool {
        let mut taken = false;
        for p in payloads {
            let batch = Arc::new(Batch::new(p));
            taken |= fanout::fan_out(&self.exporters, &batch) > 0;
        }
        taken
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
    /// Every exporter queue refused the data: the client should retry later.
    #[error("every exporter queue is full; retry later")]
    Unavailable,
}

/// Runs `req` through every pipeline of its signal and offers the results to the exporters.
/// Returns the number of items received. A request is accepted when at least one exporter queue
/// took it (or processors removed everything on purpose).
pub fn ingest<R>(routes: &Routes, mut req: R, metadata: &Metadata) -> Result<usize, IngestError>
where
    R: OtlpRequest + Into<Payload>,
{
    let pipelines = routes.get(R::SIGNAL);
    let Some((last, firsts)) = pipelines.split_last() else {
        return Err(IngestError::NotRouted(R::SIGNAL));
    };
    let items = req.item_count();
    let mut to_send = false;
    let mut accepted = false;
    for p in firsts {
        let copy = req.clone();
        let (sent, taken) = run_one(p, copy, metadata);
        to_send |= sent;
        accepted |= taken;
    }
    // The last pipeline takes the request itself: no copy when there is one pipeline.
    let (sent, taken) = run_one(last, std::mem::take(&mut req), metadata);
    to_send |= sent;
    accepted |= taken;
    if to_send && !accepted {
        return Err(IngestError::Unavailable);
    }
    Ok(items)
}

/// Returns (had something to send, at least one queue took it).
fn run_one<R>(p: &Pipeline, mut req: R, metadata: &Metadata) -> (bool, bool)
where
    R: OtlpRequest + Into<Payload>,
{
    let mut cx = ProcessContext::new(metadata);
    for stage in &p.stages {
        req.process_with(stage.processor.as_ref(), &mut cx);
        stage.dropped.add(R::SIGNAL, cx.take_dropped());
        for (event, rule, n) in cx.take_counts() {
            stage.metrics.processor_event(&stage.id, event, &rule, n);
        }
    }
    req.prune();
    if req.item_count() == 0 {
        return (false, false);
    }
    match &p.batcher {
        // Held by the batch stage: accepted; what its flush cannot queue is counted there.
        Some(b) => {
            p.send(b.add(req.into()));
            (true, true)
        }
        None => (true, p.send(vec![req.into()])),
    }
}
