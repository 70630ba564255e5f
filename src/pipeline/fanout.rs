//! Fan-out: offer one processed batch to every exporter queue of a pipeline. Nothing here waits.
//! Room is reserved in every queue first: if an exporter with `on_full: reject` has none, the
//! whole request is refused before anything is enqueued (so the client's retry duplicates
//! nothing); a full `on_full: drop` queue is that exporter's counted drop.

use crate::codec::Batch;
use crate::exporters::config::OnFull;
pub use crate::exporters::persistent::Durable;
use crate::exporters::queue::QueueSender;
use std::sync::Arc;

/// What happened to one batch.
#[derive(Default)]
pub struct FanOut {
    /// Queues that took it.
    pub accepted: usize,
    /// An `on_full: reject` queue was full: nothing was enqueued.
    pub rejected: bool,
    /// Durability acknowledgements of persistent queues, to await before answering.
    pub durable: Vec<Durable>,
}

/// Offers `batch` to each queue.
pub fn fan_out(queues: &[QueueSender], batch: &Arc<Batch>) -> FanOut {
    let bytes = batch.size_bytes();
    let mut reserved = Vec::with_capacity(queues.len());
    let mut full = Vec::new();
    for q in queues {
        match q.try_reserve(bytes) {
            Some(r) => reserved.push(r),
            None if q.on_full() == OnFull::Reject => {
                // Dropping the reservations gives their room back.
                return FanOut {
                    rejected: true,
                    ..FanOut::default()
                };
            }
            None => full.push(q),
        }
    }
    for q in full {
        q.count_full(batch);
    }
    let mut out = FanOut {
        accepted: reserved.len(),
        ..FanOut::default()
    };
    for r in reserved {
        if let Some(d) = r.send(batch.clone()) {
            out.durable.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Payload;
    use crate::exporters::queue::{bounded, ExporterStats};
    use crate::telemetry::metrics::SelfMetrics;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;

    fn batch() -> Arc<Batch> {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tool-secrets-protobuf/004_logs.pb"
        ))
        .expect("fixture");
        let req = ExportLogsServiceRequest::decode(body.as_slice()).expect("decode");
        Arc::new(Batch::new(Payload::from(req)))
    }

    #[tokio::test]
    async fn a_full_drop_queue_is_skipped_and_a_full_reject_queue_refuses_everything() {
        let m = SelfMetrics::new();
        let (full, _rx1) = bounded(
            "full",
            2,
            1 << 30,
            OnFull::Drop,
            ExporterStats::new(&m, "full", 2),
        );
        let (ok, rx2) = bounded(
            "ok",
            100,
            1 << 30,
            OnFull::Drop,
            ExporterStats::new(&m, "ok", 100),
        );
        for _ in 0..2 {
            assert_eq!(fan_out(std::slice::from_ref(&full), &batch()).accepted, 1);
        }
        let f = fan_out(&[full.clone(), ok.clone()], &batch());
        assert_eq!(
            (f.accepted, f.rejected),
            (1, false),
            "only the queue with room"
        );
        let (strict, _rx3) = bounded(
            "strict",
            2,
            1 << 30,
            OnFull::Reject,
            ExporterStats::new(&m, "strict", 2),
        );
        for _ in 0..2 {
            fan_out(std::slice::from_ref(&strict), &batch());
        }
        let f = fan_out(&[ok.clone(), strict.clone()], &batch());
        assert!(f.rejected);
        assert_eq!(f.accepted, 0);
        // Failed reservations give nothing back: the full queues stay full.
        for _ in 0..3 {
            assert!(fan_out(std::slice::from_ref(&full), &batch()).accepted == 0);
            assert!(fan_out(std::slice::from_ref(&strict), &batch()).rejected);
        }
        drop(rx2);
    }
}
