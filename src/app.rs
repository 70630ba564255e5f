//! The gateway's lifecycle: build the graph, bind every listener (failing fast), start exporters
//! then receivers, print the banner, wait for SIGINT/SIGTERM, then shut down in stages —
//! readiness off → receivers stop accepting → queues drain until `shutdown_timeout` → leftovers
//! counted as dropped.

use crate::config::model::ReceiverConfig;
use crate::config::GatewayConfig;
use crate::pipeline::builder::{self, GraphError};
use crate::receivers::otlp::{OtlpReceiver, ReceiverError};
use crate::telemetry::admin::{self, Readiness};
use crate::telemetry::metrics::SelfMetrics;
use futures::FutureExt;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building components failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A receiver could not start or failed.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    /// The admin listener could not bind.
    #[error("service.telemetry.metrics.address: cannot listen on {addr}: {source}")]
    Admin {
        /// Address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// How long receivers get to finish in-flight requests after shutdown starts.
const RECEIVER_STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the gateway until SIGINT/SIGTERM; returns after the drain.
pub async fn run(cfg: GatewayConfig) -> Result<(), RunError> {
    let metrics = SelfMetrics::new();
    let ready = Readiness::default();
    let graph = builder::build(&cfg, &metrics)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = {
        let rx = stop_rx.clone();
        async move {
            let mut rx = rx;
            let _ = rx.wait_for(|s| *s).await;
        }
        .shared()
    };

    // Bind everything before anything runs, so a taken port fails start-up cleanly.
    let mut receivers = Vec::new();
    for plan in graph.receivers {
        let ReceiverConfig::Otlp(rc) = &plan.config;
        receivers.push((
            plan.id.clone(),
            OtlpReceiver::bind(&plan.id, rc, plan.routes, plan.admission, &metrics).await?,
        ));
    }
    let telemetry = &cfg.service.telemetry.metrics;
    let admin_listener = if telemetry.enabled() {
        let addr = crate::receivers::otlp::parse_listen_addr(&telemetry.address).map_err(|e| {
            RunError::Admin {
                addr: telemetry.address.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            }
        })?;
        Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Admin {
                    addr: addr.to_string(),
                    source,
                })?,
        )
    } else {
        None
    };
    let mut sigterm = signal_stream()?;

    let mut exporter_tasks = JoinSet::new();
    let running: Vec<_> = graph
        .exporters
        .into_iter()
        .map(|e| e.start(&mut exporter_tasks))
        .collect();

    let mut banner = vec![format!(
        "codex-otel-gateway {} running",
        env!("CARGO_PKG_VERSION")
    )];
    let mut receiver_tasks = JoinSet::new();
    for (id, r) in receivers {
        banner.push(format!("  receiver {id}: {}", r.describe().join(", ")));
        r.spawn(&mut receiver_tasks, stopped.clone());
    }
    banner.extend(graph.summary.iter().map(|line| format!("  {line}")));
    // Memory limiters sample the process RSS.
    let mut sampler_tasks = JoinSet::new();
    for a in graph.limiters {
        sampler_tasks.spawn(a.sample());
    }
    // Batch flushers: send timed-out batches; at the end, everything left.
    let (flush_tx, flush_rx) = watch::channel(false);
    let mut flusher_tasks = JoinSet::new();
    for p in graph.batching {
        let mut stop = flush_rx.clone();
        flusher_tasks.spawn(async move {
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
    let mut admin_task = None;
    if let Some(listener) = admin_listener {
        if let Ok(a) = listener.local_addr() {
            banner.push(format!("  admin: http://{a}/metrics /healthz /readyz"));
        }
        admin_task = Some(tokio::spawn(admin::serve(
            listener,
            metrics.clone(),
            ready.clone(),
            stopped.clone(),
        )));
    }
    println!("{}", banner.join("\n"));
    ready.set(true);
    tracing::info!("gateway ready");

    // Run until a signal, or until a receiver fails.
    let failure = tokio::select! {
        _ = sigterm.recv() => None,
        Some(res) = receiver_tasks.join_next() => match res {
            Ok(Err(e)) => Some(e),
            Ok(Ok(())) => None,
            Err(e) => Some(ReceiverError::Serve { id: "?".into(), message: e.to_string() }),
        },
    };

    // Stage 1: not ready, stop accepting, let in-flight requests finish.
    tracing::info!("shutting down: receivers stop accepting");
    ready.set(false);
    let _ = stop_tx.send(true);
    let receivers_done = async { while receiver_tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(RECEIVER_STOP_GRACE, receivers_done)
        .await
        .is_err()
    {
        receiver_tasks.abort_all();
        while receiver_tasks.join_next().await.is_some() {}
    }

    // Stage 2: batch stages hand over what they hold; then every pipeline (and so every queue
    // sender) is gone.
    let _ = flush_tx.send(true);
    while flusher_tasks.join_next().await.is_some() {}

    // Stage 3: drain the queues.
    let deadline = cfg.service.shutdown_timeout.0;
    tracing::info!(?deadline, "draining exporter queues");
    let drained = async { while exporter_tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, drained).await.is_err() {
        exporter_tasks.abort_all();
        while exporter_tasks.join_next().await.is_some() {}
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
    if let Some(t) = admin_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Resolves on SIGINT or SIGTERM.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM received"),
            _ = self.int.recv() => tracing::info!("SIGINT received"),
        }
    }
}

fn signal_stream() -> Result<Signals, RunError> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok(Signals {
        term: signal(SignalKind::terminate()).map_err(RunError::Signals)?,
        int: signal(SignalKind::interrupt()).map_err(RunError::Signals)?,
    })
}
