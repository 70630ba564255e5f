//! The tasks of one built graph besides its exporters: batch flushers and memory-limiter
//! samplers. Started with the graph, replaced as a whole by a config reload, stopped in the
//! second stage of shutdown.

use crate::pipeline::admission::Admission;
use crate::pipeline::Pipeline;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Flushers and samplers of one graph.
pub struct Generation {
    flush_tx: watch::Sender<bool>,
    flushers: JoinSet<()>,
    samplers: JoinSet<()>,
}

impl Generation {
    /// Starts a sampler per memory limiter and a flusher per pipeline with a batch stage.
    pub fn start(batching: Vec<Arc<Pipeline>>, limiters: Vec<Arc<Admission>>) -> Self {
        let mut samplers = JoinSet::new();
        for a in limiters {
            samplers.spawn(a.sample());
        }
        // Batch flushers: send timed-out batches; at the end, everything left.
        let (flush_tx, flush_rx) = watch::channel(false);
        let mut flushers = JoinSet::new();
        for p in batching {
            let mut stop = flush_rx.clone();
            flushers.spawn(async move {
                let tick = p
                    .batcher
                    .as_ref()
                    .map(|b| b.tick())
                    .unwrap_or(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => p.flush_batches(false),
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                p.flush_batches(true);
            });
        }
        Generation {
            flush_tx,
            flushers,
            samplers,
        }
    }

    /// Batch stages hand over what they hold; samplers stop; the flushers' pipelines are gone.
    pub async fn stop(mut self) {
        let _ = self.flush_tx.send(true);
        while self.flushers.join_next().await.is_some() {}
        self.samplers.abort_all();
        while self.samplers.join_next().await.is_some() {}
    }
}
