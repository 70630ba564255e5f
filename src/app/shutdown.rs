//! Signals and the stages of shutdown: SIGINT/SIGTERM stop the gateway, SIGHUP reloads its
//! config. Shutdown runs in stages — readiness off (`/readyz` answers 503 while the admin
//! listener stays up) → receivers stop accepting and finish in-flight requests → batch stages
//! hand over what they hold → queues drain until `shutdown_timeout` → leftovers counted as
//! dropped (memory queues) or kept on disk (persistent queues) → the admin listener stops.

use super::LiveExporter;
use crate::receivers::otlp::ReceiverError;
use std::time::Duration;
use tokio::task::JoinSet;

/// How long receivers get to finish in-flight requests after shutdown starts.
pub const RECEIVER_STOP_GRACE: Duration = Duration::from_secs(5);

/// What a signal asks for.
pub enum Signal {
    /// SIGINT or SIGTERM: shut down.
    Stop,
    /// SIGHUP: reload the config.
    Reload,
}

/// SIGINT, SIGTERM and SIGHUP.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (first thing at start-up, so an early SIGHUP does not kill the
    /// process, its default action).
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => { tracing::info!("SIGTERM received"); Signal::Stop }
            _ = self.int.recv() => { tracing::info!("SIGINT received"); Signal::Stop }
            _ = self.hup.recv() => { tracing::info!("SIGHUP received"); Signal::Reload }
        }
    }
}

/// Stage 1: waits up to [`RECEIVER_STOP_GRACE`] for the receivers (already told to stop
/// accepting) to finish their in-flight requests, then aborts what is left.
pub async fn stop_receivers(tasks: &mut JoinSet<Result<(), ReceiverError>>) {
    let done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(RECEIVER_STOP_GRACE, done)
        .await
        .is_err()
    {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Stage 3: lets exporters' workers drain their queues until `deadline`; what is left is
/// counted as before (dropped, or kept in the persistent queue); persistent queues commit
/// their last deletes. Every pipeline holding their senders must be gone already.
pub async fn drain(mut exporters: Vec<LiveExporter>, deadline: Duration) {
    let mut running = Vec::new();
    let mut sets = Vec::new();
    for e in exporters.drain(..) {
        drop(e.sender);
        running.push(e.running);
        sets.push(e.tasks);
    }
    let drained = async {
        for set in &mut sets {
            while set.join_next().await.is_some() {}
        }
    };
    if tokio::time::timeout(deadline, drained).await.is_err() {
        for set in &mut sets {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
        for e in &running {
            let (dropped, kept) = e.count_leftovers().await;
            if dropped > 0 {
                tracing::warn!(exporter = %e.id, items = dropped, "shutdown deadline passed: items dropped");
            }
            if kept > 0 {
                tracing::info!(exporter = %e.id, items = kept, "shutdown deadline passed: unsent items stay in the persistent queue");
            }
        }
    }
    // Persistent queues commit their last deletes.
    let _ = tokio::task::spawn_blocking(move || running.into_iter().for_each(|e| e.finish())).await;
}
