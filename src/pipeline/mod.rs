//! Pipelines: a receiver hands each request body to its [`entry::Entry`], the one ingest entry
//! point, which runs each pipeline's processor chain in place, prunes empty resources/scopes,
//! feeds [`connector`]s, and offers the result, wrapped in an `Arc`, to every exporter queue of
//! the pipeline ([`fanout`]) or to its [`batch`] stage, without waiting on an exporter. What
//! each processor type is and does is in the [`processors`] registry; admission control
//! (`memory_limiter`) in [`admission`]; the receivers' `limits:` in [`limits`].

pub mod admission;
pub mod batch;
pub mod connector;
pub mod entry;
pub mod fanout;
pub mod limits;
pub mod processors;
pub mod usage_store;

use crate::codec::{Batch, Payload};
use crate::exporters::queue::QueueSender;
use crate::telemetry::metrics::{SelfMetrics, SignalCounters};
use ::processors::{Processor, Signal};
use std::sync::Arc;

pub use entry::{Entry, IngestError, Pending};

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
    /// A logs pipeline that can take a protobuf request as a view of its bytes
    /// ([`processors::logs_view`]): every processor handles views, and only protobuf exporters
    /// (no batch stage, no connector) read the result.
    pub log_views: bool,
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
