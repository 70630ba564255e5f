//! Fan-out: offer one processed batch to every exporter queue of a pipeline with `try_send`.
//! Nothing here waits; a full queue is that exporter's counted drop and never affects the others.

use crate::codec::Batch;
use crate::exporters::queue::QueueSender;
use std::sync::Arc;

/// Offers `batch` to each queue; returns how many took it.
pub fn fan_out(queues: &[QueueSender], batch: &Arc<Batch>) -> usize {
    queues.iter().filter(|q| q.try_send(batch.clone())).count()
}
