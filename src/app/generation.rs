//! The tasks of one built graph besides its exporters: batch flushers and memory-limiter
//! samplers, and its running connectors (a connector's store writes once more when it goes).
//! Started with the graph, replaced as a whole by a config reload (the new graph continues the
//! old connectors' state), stopped in the second stage of shutdown.

use super::builder::Connectors;
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
    connectors: Connectors,
}

impl Generation {
    /// Starts a sampler per memory limiter and a flusher per pipeline with a batch stage.
    pub fn start(
        batching: Vec<Arc<Pipeline>>,
        limiters: Vec<Arc<Admission>>,
        connectors: Connectors,
    ) -> Self {
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
            connectors,
        }
    }

    /// The graph's running connectors (a reload's new graph continues them).
    pub fn connectors(&self) -> &Connectors {
        &self.connectors
    }

    /// Batch stages hand over what they hold; samplers stop; the flushers' pipelines are gone.
    pub async fn stop(mut self) {
        let _ = self.flush_tx.send(true);
        while self.flushers.join_next().await.is_some() {}
        self.samplers.abort_all();
        while self.samplers.join_next().await.is_some() {}
        // A connector's store joins its writer thread after a last write: off the runtime.
        let connectors = std::mem::take(&mut self.connectors);
        let _ = tokio::task::spawn_blocking(move || drop(connectors)).await;
    }
}
