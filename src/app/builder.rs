//! The only wiring code: turns a [`Validated`] config into exporters (with their queues),
//! pipelines (the processors `validate` built + queue senders + connector links) and, per
//! receiver, the routes it feeds and the memory limiters it checks.
//!
//! It lives in `app` rather than `pipeline` because it is the one place that knows every kind
//! of component, receivers included, and receivers sit above the pipeline (they call its entry
//! point): a builder inside `pipeline` would make `pipeline` import from above it.

use crate::config::model::{component_type, GatewayConfig, PipelineConfig};
use crate::config::Validated;
use crate::exporters::queue::QueueSender;
use crate::exporters::{Exporter, ExporterBuildError};
use crate::pipeline::admission::{Admission, MemoryLimiterConfig};
use crate::pipeline::batch::Batcher;
use crate::pipeline::connector::{Connector, ConnectorLink, StartContext, StartError};
use crate::pipeline::processors::Built;
use crate::pipeline::{Pipeline, Routes, Stage};
use crate::receivers::ReceiverConfig;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use processors::Signal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why the graph could not be built (validate catches these first; this is the backstop).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// An exporter's client could not be created.
    #[error(transparent)]
    Exporter(#[from] ExporterBuildError),
    /// A pipeline names something that does not exist or was not built.
    #[error("service.pipelines.{pipeline}: {message}")]
    Pipeline {
        /// Pipeline id.
        pipeline: String,
        /// What is wrong.
        message: String,
    },
    /// A connector could not be made ready to run (its store).
    #[error("connectors.{id}: {source}")]
    Connector {
        /// Connector id.
        id: String,
        /// What went wrong.
        source: StartError,
    },
}

/// Running connectors by id (a reload hands them to the next graph, which continues them).
pub type Connectors = BTreeMap<String, Arc<dyn Connector>>;

/// A receiver to start, with the pipelines it feeds.
pub struct ReceiverPlan {
    /// Receiver id.
    pub id: String,
    /// Its config.
    pub config: ReceiverConfig,
    /// Its pipelines by signal.
    pub routes: Routes,
    /// Memory limiters of its pipelines: checked before a request is read.
    pub admission: Vec<Arc<Admission>>,
}

/// The built graph, before anything runs.
pub struct Graph {
    /// Receivers to bind and serve.
    pub receivers: Vec<ReceiverPlan>,
    /// Exporters to start.
    pub exporters: Vec<Exporter>,
    /// One line per pipeline for the start-up banner.
    pub summary: Vec<String>,
    /// Pipelines with a batch stage: each needs a flusher task.
    pub batching: Vec<Arc<Pipeline>>,
    /// Memory limiters: each needs its RSS sampler task.
    pub limiters: Vec<Arc<Admission>>,
    /// The connectors, started.
    pub connectors: Connectors,
}

/// What the pipelines are wired to while they are built.
struct Wiring<'a> {
    v: &'a Validated,
    metrics: &'a SelfMetrics,
    reuse: &'a BTreeMap<String, QueueSender>,
    exporters: BTreeMap<String, Exporter>,
    connectors: Connectors,
    reused: BTreeMap<String, QueueSender>,
    /// Pipelines each connector feeds, filled before the pipelines exporting to it are built.
    connector_routes: BTreeMap<String, Routes>,
    receivers: BTreeMap<String, Routes>,
    /// Memory limiter configs by processor id, with the receivers of their pipelines.
    limiters: BTreeMap<String, (MemoryLimiterConfig, Vec<String>)>,
}

/// Builds every used component. Must run inside a tokio runtime (clients connect lazily). An
/// exporter id found in `reuse` (a config reload) is not built again: its pipelines get that
/// running exporter's queue sender, and it is not in [`Graph::exporters`]. A connector id found
/// in `previous` (the running graph's connectors, at a reload) continues that connector.
pub fn build(
    v: &Validated,
    metrics: &SelfMetrics,
    reuse: &BTreeMap<String, QueueSender>,
    previous: &Connectors,
) -> Result<Graph, GraphError> {
    let cfg = &v.config;
    let mut w = Wiring {
        v,
        metrics,
        reuse,
        exporters: BTreeMap::new(),
        connectors: start_connectors(v, metrics, previous)?,
        reused: BTreeMap::new(),
        connector_routes: BTreeMap::new(),
        receivers: BTreeMap::new(),
        limiters: BTreeMap::new(),
    };
    let mut summary = Vec::new();
    let mut batching = Vec::new();
    let mut logs = Vec::new();
    for (pid, pcfg) in connector_order(cfg)? {
        let pipeline = w.pipeline(pid, pcfg)?;
        if pipeline.batcher.is_some() {
            batching.push(pipeline.clone());
        }
        w.route(pcfg, &pipeline);
        if pipeline.signal == Signal::Logs {
            logs.push((summary.len(), pipeline.log_views));
        }
        summary.push(format!(
            "pipeline {pid}: [{}] -> [{}] -> [{}]",
            pcfg.receivers.join(", "),
            pcfg.processors.join(", "),
            pcfg.exporters.join(", ")
        ));
    }
    // Protobuf logs are read as views only when every logs pipeline can take one.
    if logs.iter().all(|(_, views)| *views) {
        for (line, _) in logs {
            summary[line].push_str(" (protobuf logs processed in place, not decoded)");
        }
    }
    let (admission, limiters) = w.admission();
    Ok(Graph {
        receivers: receiver_plans(cfg, std::mem::take(&mut w.receivers), admission),
        exporters: w.exporters.into_values().collect(),
        summary,
        batching,
        limiters,
        connectors: w.connectors,
    })
}

/// Every connector `validate` built, made ready to run ([`ConnectorType::start`]).
fn start_connectors(
    v: &Validated,
    metrics: &SelfMetrics,
    previous: &Connectors,
) -> Result<Connectors, GraphError> {
    let mut started = Connectors::new();
    for (id, c) in &v.config.connectors {
        let Some(built) = v.components.connector(id) else {
            continue;
        };
        let cx = StartContext {
            id,
            previous: previous.get(id),
            metrics,
        };
        let running = c
            .get()
            .start(built, &cx)
            .map_err(|source| GraphError::Connector {
                id: id.clone(),
                source,
            })?;
        started.insert(id.clone(), running);
    }
    Ok(started)
}

/// The pipelines in build order: a pipeline that exports to a connector comes after every
/// pipeline that connector feeds, so a connector's downstream pipelines exist before its
/// upstream ones link to them (connectors can chain: `routing` → `codex_usage`). `validate`
/// refuses cycles; a pipeline caught in one anyway is an error here.
fn connector_order(cfg: &GatewayConfig) -> Result<Vec<(&String, &PipelineConfig)>, GraphError> {
    let pipelines = &cfg.service.pipelines;
    let fed_by = |c: &String| -> Vec<&String> {
        pipelines
            .iter()
            .filter(|(_, p)| p.receivers.contains(c))
            .map(|(id, _)| id)
            .collect()
    };
    let mut order: Vec<(&String, &PipelineConfig)> = Vec::with_capacity(pipelines.len());
    let mut placed = std::collections::BTreeSet::new();
    while order.len() < pipelines.len() {
        let before = order.len();
        for (id, p) in pipelines {
            let ready = !placed.contains(id)
                && p.exporters
                    .iter()
                    .filter(|e| cfg.connectors.contains_key(*e))
                    .all(|c| fed_by(c).iter().all(|d| placed.contains(d)));
            if ready {
                placed.insert(id);
                order.push((id, p));
            }
        }
        if order.len() == before {
            let stuck = pipelines.keys().find(|id| !placed.contains(id));
            return Err(GraphError::Pipeline {
                pipeline: stuck.cloned().unwrap_or_default(),
                message: "its connectors lead back to it (a cycle)".into(),
            });
        }
    }
    Ok(order)
}

impl Wiring<'_> {
    /// One pipeline: its stages, batch stage and memory limiters from what `validate` built,
    /// then its exporters' queue senders and connector links.
    fn pipeline(&mut self, pid: &str, pcfg: &PipelineConfig) -> Result<Arc<Pipeline>, GraphError> {
        let err = |message: String| GraphError::Pipeline {
            pipeline: pid.to_string(),
            message,
        };
        let signal =
            Signal::parse(component_type(pid)).ok_or_else(|| err("unknown signal".into()))?;
        let mut stages = Vec::new();
        let mut batcher = None;
        for id in &pcfg.processors {
            let built =
                self.v.components.processor(pid, id).ok_or_else(|| {
                    err(format!("processor {id:?} is not defined or was not built"))
                })?;
            match built {
                Built::Stage(processor) => stages.push(self.stage(id, processor.clone())),
                Built::Batch(c) => batcher = Some(Batcher::new(c)),
                Built::MemoryLimiter(c) => self
                    .limiters
                    .entry(id.clone())
                    .or_insert((c.clone(), Vec::new()))
                    .1
                    .extend(pcfg.receivers.iter().cloned()),
            }
        }
        let mut senders = Vec::new();
        let mut links = Vec::new();
        for id in &pcfg.exporters {
            if let Some(c) = self.connectors.get(id) {
                let routes = self.connector_routes.get(id).cloned().unwrap_or_default();
                links.push(ConnectorLink::new(id, c.clone(), &routes, self.metrics));
            } else {
                senders.push(self.sender(id).map_err(|e| match e {
                    Some(e) => e,
                    None => err(format!("exporter {id:?} is not defined")),
                })?);
            }
        }
        let cfg = &self.v.config;
        let encode_early = !senders.is_empty()
            && pcfg
                .exporters
                .iter()
                .filter_map(|id| cfg.exporters.get(id))
                .all(|e| e.get().sends_proto_only());
        let size_preserving = batcher.is_none()
            && links.is_empty()
            && !pcfg.processors.iter().any(|id| {
                cfg.processors
                    .get(id)
                    .is_some_and(|p| p.get().removes_items())
            });
        // A logs pipeline whose processors all work on views of the request bytes, and whose
        // only consumers are protobuf exporters, never needs the decoded request.
        let log_views = signal == Signal::Logs
            && encode_early
            && batcher.is_none()
            && links.is_empty()
            && stages.iter().all(|s| s.processor.handles_log_views());
        Ok(Arc::new(Pipeline {
            id: pid.to_string(),
            signal,
            stages,
            exporters: senders,
            batcher,
            connectors: links,
            encode_early,
            size_preserving,
            log_views,
        }))
    }

    /// An in-place stage with its counters.
    fn stage(&self, id: &str, processor: Arc<dyn processors::Processor>) -> Stage {
        let counters = |name| SignalCounters::new(self.metrics, name, "processor", id);
        Stage {
            id: id.to_string(),
            processor,
            dropped: counters(names::PROCESSOR_DROPPED),
            incoming: counters(names::PROCESSOR_INCOMING),
            outgoing: counters(names::PROCESSOR_OUTGOING),
            metrics: self.metrics.clone(),
        }
    }

    /// The queue sender of exporter `id`: a running one being reused, or a new exporter built
    /// once however many pipelines list it. `Err(None)`: not defined.
    fn sender(&mut self, id: &str) -> Result<QueueSender, Option<GraphError>> {
        if let Some(sender) = self.reuse.get(id) {
            self.reused
                .entry(id.to_string())
                .or_insert_with(|| sender.clone());
            return Ok(sender.clone());
        }
        if let Some(e) = self.exporters.get(id) {
            return Ok(e.sender());
        }
        let ec = self.v.config.exporters.get(id).ok_or(None)?;
        let e = Exporter::build(id, ec.get(), self.metrics).map_err(|e| Some(e.into()))?;
        let sender = e.sender();
        self.exporters.insert(id.to_string(), e);
        Ok(sender)
    }

    /// Adds the pipeline to the routes of its receivers, or of the connectors that feed it.
    fn route(&mut self, pcfg: &PipelineConfig, pipeline: &Arc<Pipeline>) {
        for id in &pcfg.receivers {
            let routes = if self.v.config.connectors.contains_key(id) {
                self.connector_routes.entry(id.clone()).or_default()
            } else {
                self.receivers.entry(id.clone()).or_default()
            };
            routes.push(pipeline.clone());
        }
    }

    /// The memory limiters, each watching every exporter's queue, by the receivers they guard.
    fn admission(&mut self) -> (ByReceiver, Vec<Arc<Admission>>) {
        let queues: Vec<_> = self
            .exporters
            .values()
            .map(|e| e.sender().capacity())
            .chain(self.reused.values().map(|s| s.capacity()))
            .collect();
        let mut by_receiver = ByReceiver::new();
        let mut all = Vec::new();
        for (_, (c, receivers)) in std::mem::take(&mut self.limiters) {
            let a = Arc::new(Admission::new(&c, queues.clone()));
            for r in receivers {
                by_receiver.entry(r).or_default().push(a.clone());
            }
            all.push(a);
        }
        (by_receiver, all)
    }
}

/// Memory limiters by the receivers they guard.
type ByReceiver = BTreeMap<String, Vec<Arc<Admission>>>;

/// The receivers that feed at least one pipeline, with their routes and limiters.
fn receiver_plans(
    cfg: &GatewayConfig,
    routes: BTreeMap<String, Routes>,
    mut admission: ByReceiver,
) -> Vec<ReceiverPlan> {
    routes
        .into_iter()
        .filter_map(|(id, routes)| {
            cfg.receivers.get(&id).map(|c| ReceiverPlan {
                admission: admission.remove(&id).unwrap_or_default(),
                id,
                config: c.clone(),
                routes,
            })
        })
        .collect()
}
