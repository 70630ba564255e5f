//! The only wiring code: turns a validated [`GatewayConfig`] into exporters (with their queues),
//! pipelines (processor chains + queue senders) and, per receiver, the routes it feeds.

use super::batch::{BatchConfig, Batcher};
use super::connector::{Connector, ConnectorLink};
use super::{Pipeline, Routes, Stage};
use crate::config::model::{
    component_type, ConnectorConfig, ExporterConfig, GatewayConfig, ProcessorConfig, ReceiverConfig,
};
use crate::exporters::queue::QueueSender;
use crate::exporters::{Exporter, ExporterBuildError};
use crate::receivers::admission::{Admission, MemoryLimiterConfig};
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use processors::attributes::Level;
use processors::{BuildError, Processor, Signal};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A built processor: an in-place stage, or the pipeline's batch stage.
pub enum BuiltProcessor {
    /// Runs in place on each request.
    Stage(Arc<dyn Processor>),
    /// Batches before the exporters.
    Batch(BatchConfig),
    /// Admission control at the receivers.
    MemoryLimiter(MemoryLimiterConfig),
}

/// Builds one processor from its config.
pub fn build_processor(cfg: &ProcessorConfig) -> Result<BuiltProcessor, Vec<BuildError>> {
    let stage = |p: Arc<dyn Processor>| BuiltProcessor::Stage(p);
    Ok(match cfg {
        ProcessorConfig::Attributes(c) => stage(Arc::new(c.build(Level::Record)?)),
        ProcessorConfig::Resource(c) => stage(Arc::new(c.build(Level::Resource)?)),
        ProcessorConfig::Team(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Codex(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Filter(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Redaction(c) => {
            let p = c.build()?;
            if p.uses_ephemeral_key() {
                tracing::warn!(
                    "redaction: hash_key not set: hashes use a random per-process key and are \
                     joinable only within one gateway run (set hash_key: ${{env:REDACTION_HASH_KEY}})"
                );
            }
            stage(Arc::new(p))
        }
        ProcessorConfig::MetricNames(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::DeltaToCumulative(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::GenAi(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Cost(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::CodexAnomaly(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Cardinality(c) => stage(Arc::new(c.build()?)),
        ProcessorConfig::Batch(c) => {
            check(c.problems())?;
            BuiltProcessor::Batch(c.clone())
        }
        ProcessorConfig::MemoryLimiter(c) => {
            check(c.problems())?;
            BuiltProcessor::MemoryLimiter(c.clone())
        }
    })
}

/// Checks a connector's config without building it (no store is opened): for `validate`.
pub fn check_connector(cfg: &ConnectorConfig) -> Result<(), Vec<BuildError>> {
    match cfg {
        ConnectorConfig::CodexUsage(c) => c.build().map(|_| ()),
    }
}

/// Builds connector `id` from its config. A reload passes the connector it replaces
/// (`previous`): the new one continues its state (running totals) instead of starting over or
/// re-reading its store.
pub fn build_connector(
    id: &str,
    cfg: &ConnectorConfig,
    previous: Option<&Connector>,
    metrics: &SelfMetrics,
) -> Result<Connector, GraphError> {
    Ok(match cfg {
        ConnectorConfig::CodexUsage(c) => {
            let before = previous.map(|Connector::CodexUsage(p, s)| (p, s.as_ref()));
            let usage = c
                .build_continuing(before.map(|(p, _)| p))
                .map_err(|errs| component_error(id, &errs))?;
            let store = super::usage_store::open(id, c, &usage, before.map(|(_, s)| s), metrics)
                .map_err(|source| GraphError::Store {
                    id: id.to_string(),
                    source,
                })?;
            Connector::CodexUsage(usage, store)
        }
    })
}

fn check(problems: Vec<(&'static str, String)>) -> Result<(), Vec<BuildError>> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems
        .into_iter()
        .map(|(f, m)| BuildError::field(f, m))
        .collect())
}

/// A processor's or connector's build errors as one [`GraphError`].
fn component_error(id: &str, errs: &[BuildError]) -> GraphError {
    GraphError::Processor {
        id: id.to_string(),
        message: errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Why the graph could not be built (validate catches these first; this is the backstop).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// An exporter's client could not be created.
    #[error(transparent)]
    Exporter(#[from] ExporterBuildError),
    /// A processor's config is invalid.
    #[error("processors.{id}: {message}")]
    Processor {
        /// Processor id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// A connector's store could not be opened.
    #[error("connectors.{id}: {source}")]
    Store {
        /// Connector id.
        id: String,
        /// What went wrong.
        source: super::usage_store::StoreError,
    },
    /// A pipeline names something that does not exist.
    #[error("service.pipelines.{pipeline}: {message}")]
    Pipeline {
        /// Pipeline id.
        pipeline: String,
        /// What is wrong.
        message: String,
    },
}

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
    /// The connectors, by id (a reload hands them to the next graph: [`build_reusing`]).
    pub connectors: BTreeMap<String, Arc<Connector>>,
}

/// Builds every used component. Must run inside a tokio runtime (clients connect lazily).
pub fn build(cfg: &GatewayConfig, metrics: &SelfMetrics) -> Result<Graph, GraphError> {
    build_reusing(cfg, metrics, &BTreeMap::new(), &BTreeMap::new())
}

/// [`build`] for a config reload: an exporter id found in `reuse` is not built again; its
/// pipelines get that running exporter's queue sender (and it is not in [`Graph::exporters`]).
/// A connector id found in `previous` continues that connector's state.
pub fn build_reusing(
    cfg: &GatewayConfig,
    metrics: &SelfMetrics,
    reuse: &BTreeMap<String, QueueSender>,
    previous: &BTreeMap<String, Arc<Connector>>,
) -> Result<Graph, GraphError> {
    let mut exporters: BTreeMap<&str, Exporter> = BTreeMap::new();
    let mut reused: BTreeMap<&str, QueueSender> = BTreeMap::new();
    let mut receivers: BTreeMap<&str, Routes> = BTreeMap::new();
    let mut summary = Vec::new();
    let mut batching = Vec::new();
    let mut limiters: BTreeMap<String, (MemoryLimiterConfig, Vec<String>)> = BTreeMap::new();
    let mut connectors: BTreeMap<&str, Arc<Connector>> = BTreeMap::new();
    for (id, c) in &cfg.connectors {
        let built = build_connector(id, c, previous.get(id).map(|p| p.as_ref()), metrics)?;
        connectors.insert(id, Arc::new(built));
    }
    // Pipelines a connector feeds, by connector id; filled before the pipelines exporting to
    // it are built (connectors go logs → metrics, so one ordering pass suffices).
    let mut connector_routes: BTreeMap<&str, Routes> = BTreeMap::new();
    let exports_to_connector = |p: &crate::config::model::PipelineConfig| {
        p.exporters
            .iter()
            .any(|e| connectors.contains_key(e.as_str()))
    };
    let ordered = cfg
        .service
        .pipelines
        .iter()
        .filter(|(_, p)| !exports_to_connector(p))
        .chain(
            cfg.service
                .pipelines
                .iter()
                .filter(|(_, p)| exports_to_connector(p)),
        );
    for (pid, pcfg) in ordered {
        let pipeline_err = |message: String| GraphError::Pipeline {
            pipeline: pid.clone(),
            message,
        };
        let signal = Signal::parse(component_type(pid))
            .ok_or_else(|| pipeline_err("unknown signal".into()))?;
        let mut stages = Vec::new();
        let mut batcher = None;
        let mut limiter_cfgs = Vec::new();
        for id in &pcfg.processors {
            let pc = cfg
                .processors
                .get(id)
                .ok_or_else(|| pipeline_err(format!("processor {id:?} is not defined")))?;
            let processor = build_processor(pc).map_err(|errs| component_error(id, &errs))?;
            match processor {
                BuiltProcessor::Stage(processor) => stages.push(Stage {
                    id: id.clone(),
                    processor,
                    dropped: SignalCounters::new(
                        metrics,
                        names::PROCESSOR_DROPPED,
                        "processor",
                        id,
                    ),
                    incoming: SignalCounters::new(
                        metrics,
                        names::PROCESSOR_INCOMING,
                        "processor",
                        id,
                    ),
                    outgoing: SignalCounters::new(
                        metrics,
                        names::PROCESSOR_OUTGOING,
                        "processor",
                        id,
                    ),
                    metrics: metrics.clone(),
                }),
                BuiltProcessor::Batch(c) => batcher = Some(Batcher::new(&c)),
                BuiltProcessor::MemoryLimiter(c) => limiter_cfgs.push((id.clone(), c)),
            }
        }
        let mut senders = Vec::new();
        let mut links = Vec::new();
        for id in &pcfg.exporters {
            if let Some(c) = connectors.get(id.as_str()) {
                let routes = connector_routes
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_default();
                links.push(ConnectorLink::new(id, c.clone(), routes, metrics));
                continue;
            }
            let ec: &ExporterConfig = cfg
                .exporters
                .get(id)
                .ok_or_else(|| pipeline_err(format!("exporter {id:?} is not defined")))?;
            if let Some(sender) = reuse.get(id) {
                reused.entry(id).or_insert_with(|| sender.clone());
                senders.push(sender.clone());
                continue;
            }
            if !exporters.contains_key(id.as_str()) {
                exporters.insert(id, Exporter::build(id, ec, metrics)?);
            }
            if let Some(e) = exporters.get(id.as_str()) {
                senders.push(e.sender());
            }
        }
        let encode_early = !senders.is_empty()
            && pcfg
                .exporters
                .iter()
                .filter_map(|id| cfg.exporters.get(id))
                .all(ExporterConfig::sends_proto_only);
        let size_preserving = batcher.is_none()
            && links.is_empty()
            && !pcfg
                .processors
                .iter()
                .any(|id| matches!(cfg.processors.get(id), Some(ProcessorConfig::Filter(_))));
        let pipeline = Arc::new(Pipeline {
            id: pid.clone(),
            signal,
            stages,
            exporters: senders,
            batcher,
            connectors: links,
            encode_early,
            size_preserving,
        });
        if pipeline.batcher.is_some() {
            batching.push(pipeline.clone());
        }
        for (lid, c) in limiter_cfgs {
            limiters
                .entry(lid)
                .or_insert((c, Vec::new()))
                .1
                .extend(pcfg.receivers.iter().cloned());
        }
        for id in &pcfg.receivers {
            if let Some((cid, _)) = connectors.get_key_value(id.as_str()) {
                connector_routes
                    .entry(cid)
                    .or_default()
                    .push(pipeline.clone());
                continue;
            }
            if !cfg.receivers.contains_key(id) {
                return Err(pipeline_err(format!("receiver {id:?} is not defined")));
            }
            receivers.entry(id).or_default().push(pipeline.clone());
        }
        summary.push(format!(
            "pipeline {pid}: [{}] -> [{}] -> [{}]",
            pcfg.receivers.join(", "),
            pcfg.processors.join(", "),
            pcfg.exporters.join(", ")
        ));
    }
    // Limiters watch every exporter's queue.
    let queues: Vec<_> = exporters
        .values()
        .map(|e| e.sender().capacity())
        .chain(reused.values().map(|s| s.capacity()))
        .collect();
    let mut admission: BTreeMap<String, Vec<Arc<Admission>>> = BTreeMap::new();
    let mut all_limiters = Vec::new();
    for (_, (c, recv)) in limiters {
        let a = Arc::new(Admission::new(&c, queues.clone()));
        for r in recv {
            admission.entry(r).or_default().push(a.clone());
        }
        all_limiters.push(a);
    }
    let receivers = receivers
        .into_iter()
        .filter_map(|(id, routes)| {
            cfg.receivers.get(id).map(|c| ReceiverPlan {
                id: id.to_string(),
                config: c.clone(),
                routes,
                admission: admission.remove(id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Graph {
        receivers,
        exporters: exporters.into_values().collect(),
        summary,
        batching,
        limiters: all_limiters,
        connectors: connectors
            .into_iter()
            .map(|(id, c)| (id.to_string(), c))
            .collect(),
    })
}
