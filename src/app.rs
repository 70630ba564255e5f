//! The gateway's lifecycle: build the graph, bind every listener (failing fast), start exporters
//! then receivers, print the banner, wait for SIGINT/SIGTERM, then shut down in stages —
//! readiness off → receivers stop accepting → queues drain until `shutdown_timeout` → leftovers
//! counted as dropped. SIGHUP reloads the config behind the same listeners ([`reload`]).

use crate::config::model::{ExporterConfig, ReceiverConfig};
use crate::config::{self, GatewayConfig};
use crate::exporters::queue::QueueSender;
use crate::exporters::{Exporter, RunningExporter};
use crate::pipeline::builder::{self, GraphError};
use crate::pipeline::connector::Connector;
use crate::pipeline::Pipeline;
use crate::receivers::admission::Admission;
use crate::receivers::otlp::{OtlpReceiver, ReceiverError, Shared};
use crate::telemetry::admin::{self, Readiness};
use crate::telemetry::metrics::SelfMetrics;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

/// A started exporter: its workers (its own task set, so a config reload can drain it alone),
/// its shutdown handle, and one queue sender kept so a reload can hand it to new pipelines.
struct LiveExporter {
    config: ExporterConfig,
    sender: QueueSender,
    running: RunningExporter,
    tasks: JoinSet<()>,
}

/// The tasks of one built graph besides its exporters: batch flushers and memory-limiter
/// samplers. Replaced as a whole by a config reload.
struct Generation {
    flush_tx: watch::Sender<bool>,
    flushers: JoinSet<()>,
    samplers: JoinSet<()>,
}

impl Generation {
    fn start(batching: Vec<Arc<Pipeline>>, limiters: Vec<Arc<Admission>>) -> Self {
        // Memory limiters sample the process RSS.
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
    async fn stop(mut self) {
        let _ = self.flush_tx.send(true);
        while self.flushers.join_next().await.is_some() {}
        self.samplers.abort_all();
        while self.samplers.join_next().await.is_some() {}
    }
}

fn start_exporters(
    exporters: Vec<Exporter>,
    cfg: &GatewayConfig,
    live: &mut BTreeMap<String, LiveExporter>,
) {
    for e in exporters {
        let sender = e.sender();
        let mut tasks = JoinSet::new();
        let running = e.start(&mut tasks);
        let Some(config) = cfg.exporters.get(&running.id).cloned() else {
            continue;
        };
        live.insert(
            running.id.clone(),
            LiveExporter {
                config,
                sender,
                running,
                tasks,
            },
        );
    }
}

/// Lets exporters' workers drain their queues until `deadline`; what is left is counted as
/// before (dropped, or kept in the persistent queue); persistent queues commit their last
/// deletes. Every pipeline holding their senders must be gone already.
async fn drain(mut exporters: Vec<LiveExporter>, deadline: Duration) {
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

/// Whether an exporter keeps its queue on disk.
fn persistent(cfg: &ExporterConfig) -> bool {
    cfg.sending_queue().storage.is_some()
}

/// What runs: the config, the bound receivers, the exporters, the graph's other tasks and the
/// background drains of exporters retired by reloads.
struct State {
    cfg: GatewayConfig,
    receivers: BTreeMap<String, (ReceiverConfig, Arc<Shared>)>,
    exporters: BTreeMap<String, LiveExporter>,
    generation: Generation,
    retiring: JoinSet<()>,
    /// The graph's connectors: a reload continues their state.
    connectors: BTreeMap<String, Arc<Connector>>,
}

/// SIGHUP: re-reads the config file; an invalid one is rejected (logged like `validate`) and
/// nothing changes; a valid one gets a new graph behind the same listeners.
async fn reload(path: Option<&Path>, st: &mut State, metrics: &SelfMetrics) {
    let Some(path) = path else {
        tracing::info!(
            "SIGHUP: running with the embedded default config (no --config file): nothing to re-read"
        );
        return;
    };
    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
    let reject = || {
        tracing::error!("config reload rejected: the running pipelines are unchanged");
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("error: {}: cannot read: {e}", path.display());
            return reject();
        }
    };
    let validated = match config::load_str(&text, &config::process_env) {
        Ok(v) => v,
        Err(diags) => {
            for d in &diags {
                if d.is_error() {
                    tracing::error!("{d}");
                } else {
                    tracing::warn!("{d}");
                }
            }
            let errors = diags.iter().filter(|d| d.is_error()).count();
            tracing::error!("{errors} error(s) in the config");
            return reject();
        }
    };
    for w in &validated.warnings {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    let new = validated.config;

    // Exporters kept as they are: unchanged ones (their queued data stays where it is), and
    // every persistent one (its queue file is open; it cannot be opened twice).
    let mut reuse = BTreeMap::new();
    for (id, e) in &st.exporters {
        let Some(c) = new.exporters.get(id) else {
            continue;
        };
        if *c == e.config {
            reuse.insert(id.clone(), e.sender.clone());
        } else if persistent(&e.config) && persistent(c) {
            tracing::warn!(
                exporter = %id,
                "the exporter has a persistent queue: it keeps running with its old settings; \
                 changes to it need a restart"
            );
            reuse.insert(id.clone(), e.sender.clone());
        }
    }
    let mut graph = match builder::build_reusing(&new, metrics, &reuse, &st.connectors) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!("error: {e}");
            return reject();
        }
    };

    // Listeners stay: changes to them are reported, not applied.
    for plan in &graph.receivers {
        match st.receivers.get(&plan.id) {
            None => tracing::warn!(
                receiver = %plan.id,
                "the receiver is not running: starting it needs a restart"
            ),
            Some((old, _)) if *old != plan.config => tracing::warn!(
                receiver = %plan.id,
                "receiver changes (endpoints, protocols, TLS, auth) need a restart: the running \
                 listeners stay as they are"
            ),
            Some(_) => {}
        }
    }

    // Start the new exporters, then swap every receiver's routes at once.
    let mut fresh = BTreeMap::new();
    start_exporters(graph.exporters, &new, &mut fresh);
    let generation = Generation::start(graph.batching, graph.limiters);
    let mut plans: BTreeMap<String, _> = graph
        .receivers
        .into_iter()
        .map(|p| (p.id.clone(), (p.routes, p.admission)))
        .collect();
    let mut old_routes = Vec::new();
    for (id, (_, shared)) in &st.receivers {
        let (routes, admission) = plans.remove(id).unwrap_or_else(|| {
            tracing::warn!(receiver = %id, "no pipeline uses the receiver any more: its requests are refused");
            Default::default()
        });
        old_routes.push(shared.swap(routes, admission));
    }

    // Retire the old graph: its batch stages flush into the old queues, then its pipelines go
    // (and its connectors, whose state the new ones share, write their stores one last time).
    let old_generation = std::mem::replace(&mut st.generation, generation);
    old_generation.stop().await;
    drop(old_routes);
    let old_connectors =
        std::mem::replace(&mut st.connectors, std::mem::take(&mut graph.connectors));
    let _ = tokio::task::spawn_blocking(move || drop(old_connectors)).await;
    let deadline = new.service.shutdown_timeout.0;
    let mut retired = Vec::new();
    let ids: Vec<String> = st.exporters.keys().cloned().collect();
    for id in ids {
        if reuse.contains_key(&id) {
            continue;
        }
        if let Some(e) = st.exporters.remove(&id) {
            retired.push(e);
        }
    }
    st.exporters.append(&mut fresh);
    if !retired.is_empty() {
        let ids: Vec<_> = retired.iter().map(|e| e.running.id.clone()).collect();
        tracing::info!(exporters = ?ids, "old exporters drain their queues in the background");
        st.retiring.spawn(drain(retired, deadline));
    }
    for line in &graph.summary {
        tracing::info!("{line}");
    }
    st.cfg = new;
    tracing::info!("config reloaded");
}

/// Runs the gateway until SIGINT/SIGTERM; returns after the drain. SIGHUP reloads the config
/// from `config_path` (see [`reload`]).
pub async fn run(cfg: GatewayConfig, config_path: Option<PathBuf>) -> Result<(), RunError> {
    // First, so an early SIGHUP does not kill the process (its default action).
    let mut signals = signal_stream()?;
    let metrics = SelfMetrics::new();
    let ready = Readiness::default();
    let mut graph = builder::build(&cfg, &metrics)?;
    let connectors = std::mem::take(&mut graph.connectors);
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
            plan.config.clone(),
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
    let mut exporters = BTreeMap::new();
    start_exporters(graph.exporters, &cfg, &mut exporters);

    let mut banner = vec![format!(
        "codex-otel-gateway {} running",
        env!("CARGO_PKG_VERSION")
    )];
    let mut receiver_tasks = JoinSet::new();
    let mut bound = BTreeMap::new();
    for (id, config, r) in receivers {
        banner.push(format!("  receiver {id}: {}", r.describe().join(", ")));
        bound.insert(id, (config, r.shared()));
        r.spawn(&mut receiver_tasks, stopped.clone());
    }
    banner.extend(graph.summary.iter().map(|line| format!("  {line}")));
    let generation = Generation::start(graph.batching, graph.limiters);
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

    let mut st = State {
        cfg,
        receivers: bound,
        exporters,
        generation,
        retiring: JoinSet::new(),
        connectors,
    };
    // Run until a signal, or until a receiver fails; SIGHUP reloads the config.
    let failure = loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                Signal::Stop => break None,
                Signal::Reload => reload(config_path.as_deref(), &mut st, &metrics).await,
            },
            Some(res) = receiver_tasks.join_next() => break match res {
                Ok(Err(e)) => Some(e),
                Ok(Ok(())) => None,
                Err(e) => Some(ReceiverError::Serve { id: "?".into(), message: e.to_string() }),
            },
        }
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
    // The receivers' routes (and so their pipelines) go with them.
    let State {
        cfg,
        receivers,
        exporters,
        generation,
        mut retiring,
        connectors,
    } = st;
    drop(receivers);

    // Stage 2: batch stages hand over what they hold; then every pipeline (and so every queue
    // sender) is gone; connectors write their stores one last time.
    generation.stop().await;
    let _ = tokio::task::spawn_blocking(move || drop(connectors)).await;

    // Stage 3: drain the queues (exporters retired by reloads finish their own drains).
    let deadline = cfg.service.shutdown_timeout.0;
    tracing::info!(?deadline, "draining exporter queues");
    drain(exporters.into_values().collect(), deadline).await;
    while retiring.join_next().await.is_some() {}
    if let Some(t) = admin_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// What a signal asks for.
enum Signal {
    /// SIGINT or SIGTERM: shut down.
    Stop,
    /// SIGHUP: reload the config.
    Reload,
}

/// SIGINT, SIGTERM and SIGHUP.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => { tracing::info!("SIGTERM received"); Signal::Stop }
            _ = self.int.recv() => { tracing::info!("SIGINT received"); Signal::Stop }
            _ = self.hup.recv() => { tracing::info!("SIGHUP received"); Signal::Reload }
        }
    }
}

fn signal_stream() -> Result<Signals, RunError> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok(Signals {
        term: signal(SignalKind::terminate()).map_err(RunError::Signals)?,
        int: signal(SignalKind::interrupt()).map_err(RunError::Signals)?,
        hup: signal(SignalKind::hangup()).map_err(RunError::Signals)?,
    })
}
