//! The gateway's lifecycle: build the graph from a validated config ([`builder`]), bind every
//! listener (failing fast), start exporters then receivers, print the banner, then serve until
//! SIGINT/SIGTERM ([`shutdown`] runs the stages) while SIGHUP reloads the config behind the
//! same listeners ([`reload`]).

pub mod builder;
mod generation;
mod reload;
mod shutdown;

use crate::config::{GatewayConfig, Validated};
use crate::exporters::queue::QueueSender;
use crate::exporters::{Exporter, ExporterConfig, RunningExporter};
use crate::receivers::otlp::{OtlpReceiver, ReceiverError, Shared};
use crate::receivers::ReceiverConfig;
use crate::telemetry::admin::{self, Readiness};
use crate::telemetry::metrics::SelfMetrics;
use builder::{Graph, GraphError};
use futures::future::{BoxFuture, Shared as SharedFuture};
use futures::FutureExt;
use generation::Generation;
use std::collections::BTreeMap;
use std::path::PathBuf;
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

/// A started exporter: its workers (its own task set, so a config reload can drain it alone),
/// its shutdown handle, and one queue sender kept so a reload can hand it to new pipelines.
struct LiveExporter {
    config: ExporterConfig,
    sender: QueueSender,
    running: RunningExporter,
    tasks: JoinSet<()>,
}

/// What runs: the config, the bound receivers, the exporters, the graph's other tasks and the
/// background drains of exporters retired by reloads.
struct State {
    cfg: GatewayConfig,
    receivers: BTreeMap<String, (ReceiverConfig, Arc<Shared>)>,
    exporters: BTreeMap<String, LiveExporter>,
    generation: Generation,
    retiring: JoinSet<()>,
}

/// A future that resolves once a stop was signalled (clonable: every server gets one).
type Stopped = SharedFuture<BoxFuture<'static, ()>>;

/// A stop switch and the futures that wait for it.
fn stop_switch() -> (watch::Sender<bool>, Stopped) {
    let (tx, rx) = watch::channel(false);
    let stopped = async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    }
    .boxed()
    .shared();
    (tx, stopped)
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

/// Binds every receiver of the graph (before anything runs, so a taken port fails start-up
/// cleanly).
async fn bind_receivers(
    graph: &mut Graph,
    metrics: &SelfMetrics,
) -> Result<Vec<(String, ReceiverConfig, OtlpReceiver)>, RunError> {
    let mut out = Vec::new();
    for plan in std::mem::take(&mut graph.receivers) {
        let ReceiverConfig::Otlp(rc) = &plan.config;
        let r = OtlpReceiver::bind(&plan.id, rc, plan.routes, plan.admission, metrics).await?;
        out.push((plan.id, plan.config, r));
    }
    Ok(out)
}

/// Binds the admin listener, unless `service.telemetry.metrics.level` is `none`.
async fn bind_admin(cfg: &GatewayConfig) -> Result<Option<TcpListener>, RunError> {
    let telemetry = &cfg.service.telemetry.metrics;
    if !telemetry.enabled() {
        return Ok(None);
    }
    let invalid = |e: String| RunError::Admin {
        addr: telemetry.address.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    };
    let addr = crate::base::net::parse_listen_addr(&telemetry.address).map_err(invalid)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Admin {
            addr: addr.to_string(),
            source,
        })?;
    Ok(Some(listener))
}

/// What runs besides the [`State`]: the receivers' tasks, the stop switches, the admin
/// listener and readiness.
struct Running {
    metrics: SelfMetrics,
    ready: Readiness,
    receiver_tasks: JoinSet<Result<(), ReceiverError>>,
    stop_receivers: watch::Sender<bool>,
    stop_admin: watch::Sender<bool>,
    admin_task: Option<tokio::task::JoinHandle<()>>,
}

/// Runs the gateway until SIGINT/SIGTERM; returns after the drain. SIGHUP reloads the config
/// from `config_path`.
pub async fn run(validated: Validated, config_path: Option<PathBuf>) -> Result<(), RunError> {
    let mut signals = shutdown::Signals::install().map_err(RunError::Signals)?;
    let (mut st, mut running) = start(validated).await?;
    // Run until a signal, or until a receiver fails; SIGHUP reloads the config.
    let failure = loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                shutdown::Signal::Stop => break None,
                shutdown::Signal::Reload => {
                    reload::reload(config_path.as_deref(), &mut st, &running.metrics).await
                }
            },
            Some(res) = running.receiver_tasks.join_next() => break match res {
                Ok(Err(e)) => Some(e),
                Ok(Ok(())) => None,
                Err(e) => Some(ReceiverError::Serve { id: "?".into(), message: e.to_string() }),
            },
        }
    };
    stop(st, running).await;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Builds the graph, binds every listener, starts exporters, receivers, the graph's tasks and
/// the admin listener, prints the banner and turns readiness on.
async fn start(validated: Validated) -> Result<(State, Running), RunError> {
    log_fd_limits(&validated.config);
    let metrics = SelfMetrics::new();
    let ready = Readiness::default();
    for p in validated.config.processors.values() {
        for w in p.get().startup_warnings() {
            tracing::warn!("{w}");
        }
    }
    let mut graph = builder::build(&validated, &metrics, &BTreeMap::new(), &BTreeMap::new())?;
    let cfg = validated.config;
    let receivers = bind_receivers(&mut graph, &metrics).await?;
    let admin_listener = bind_admin(&cfg).await?;
    let (stop_receivers, stopped) = stop_switch();
    let (stop_admin, admin_stopped) = stop_switch();
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
    let generation = Generation::start(graph.batching, graph.limiters, graph.connectors);
    let admin_task = admin_listener.map(|listener| {
        if let Ok(a) = listener.local_addr() {
            banner.push(format!("  admin: http://{a}/metrics /healthz /readyz"));
        }
        let limits = cfg.service.telemetry.metrics.conn_limits();
        tokio::spawn(admin::serve(
            listener,
            metrics.clone(),
            ready.clone(),
            limits,
            admin_stopped,
        ))
    });
    println!("{}", banner.join("\n"));
    ready.set(true);
    tracing::info!("gateway ready");
    let st = State {
        cfg,
        receivers: bound,
        exporters,
        generation,
        retiring: JoinSet::new(),
    };
    let running = Running {
        metrics,
        ready,
        receiver_tasks,
        stop_receivers,
        stop_admin,
        admin_task,
    };
    Ok((st, running))
}

/// Raises the open-file limit and logs it; warns when the listeners' `max_connections` could
/// use more descriptors than the limit allows.
fn log_fd_limits(cfg: &GatewayConfig) {
    let limits = match crate::base::process::raise_fd_limit() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return;
        }
    };
    tracing::info!(
        soft_before = limits.before,
        soft = limits.soft,
        hard = limits.hard,
        "open-file limit"
    );
    let mut connections = cfg.service.telemetry.metrics.max_connections as u64;
    for r in cfg.receivers.values() {
        let ReceiverConfig::Otlp(o) = r;
        connections += o
            .protocols
            .grpc
            .as_ref()
            .map_or(0, |g| g.max_connections as u64);
        connections += o
            .protocols
            .http
            .as_ref()
            .map_or(0, |h| h.max_connections as u64);
    }
    if connections + 256 > limits.soft {
        tracing::warn!(
            max_connections = connections,
            limit = limits.soft,
            "the listeners may open more connections than the open-file limit allows: lower \
             max_connections or raise the limit (ulimit -n)"
        );
    }
}

/// The stages of shutdown (see [`shutdown`]).
async fn stop(st: State, mut running: Running) {
    // Stage 1: not ready (/readyz answers 503), stop accepting, let in-flight requests finish.
    tracing::info!("shutting down: receivers stop accepting");
    running.ready.set(false);
    let _ = running.stop_receivers.send(true);
    shutdown::stop_receivers(&mut running.receiver_tasks).await;
    // The receivers' routes (and so their pipelines) go with them.
    let State {
        cfg,
        receivers,
        exporters,
        generation,
        mut retiring,
    } = st;
    drop(receivers);
    // Stage 2: batch stages hand over what they hold; then every pipeline (and so every queue
    // sender) is gone.
    generation.stop().await;
    // Stage 3: drain the queues (exporters retired by reloads finish their own drains).
    let deadline = cfg.service.shutdown_timeout.0;
    tracing::info!(?deadline, "draining exporter queues");
    shutdown::drain(exporters.into_values().collect(), deadline).await;
    while retiring.join_next().await.is_some() {}
    // Stage 4: the admin listener goes last.
    let _ = running.stop_admin.send(true);
    if let Some(t) = running.admin_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    tracing::info!("stopped");
}
