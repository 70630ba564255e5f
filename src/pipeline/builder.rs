//! The only wiring code: turns a validated [`GatewayConfig`] into exporters (with their queues),
//! pipelines (processor chains + queue senders) and, per receiver, the routes it feeds.

use super::batch::{BatchConfig, Batcher};
use super::{Pipeline, Routes, Stage};
use crate::config::model::{
    component_type, ExporterConfig, GatewayConfig, ProcessorConfig, ReceiverConfig,
};
use crate::exporters::{Exporter, ExporterBuildError};
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
        ProcessorConfig::Batch(c) => {
            let problems = c.problems();
            if !problems.is_empty() {
                return Err(problems
                    .into_iter()
                    .map(|(f, m)| BuildError::field(f, m))
                    .collect());
            }
            BuiltProcessor::Batch(c.clone())
        }
    })
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
}

/// Builds every used component. Must run inside a tokio runtime (clients connect lazily).
pub fn build(cfg: &GatewayConfig, metrics: &SelfMetrics) -> Result<Graph, GraphError> {
    let mut exporters: BTreeMap<&str, Exporter> = BTreeMap::new();
    let mut receivers: BTreeMap<&str, Routes> = BTreeMap::new();
    let mut summary = Vec::new();
    let mut batching = Vec::new();
    for (pid, pcfg) in &cfg.service.pipelines {
        let pipeline_err = |message: String| GraphError::Pipeline {
            pipeline: pid.clone(),
            message,
        };
        let signal = Signal::parse(component_type(pid))
            .ok_or_else(|| pipeline_err("unknown signal".into()))?;
        let mut stages = Vec::new();
        let mut batcher = None;
        for id in &pcfg.processors {
            let pc = cfg
                .processors
                .get(id)
                .ok_or_else(|| pipeline_err(format!("processor {id:?} is not defined")))?;
            let processor = build_processor(pc).map_err(|errs| GraphError::Processor {
                id: id.clone(),
                message: errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
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
                    metrics: metrics.clone(),
                }),
                BuiltProcessor::Batch(c) => batcher = Some(Batcher::new(&c)),
            }
        }
        let mut senders = Vec::new();
        for id in &pcfg.exporters {
            let ec: &ExporterConfig = cfg
                .exporters
                .get(id)
                .ok_or_else(|| pipeline_err(format!("exporter {id:?} is not defined")))?;
            if !exporters.contains_key(id.as_str()) {
                exporters.insert(id, Exporter::build(id, ec, metrics)?);
            }
            if let Some(e) = exporters.get(id.as_str()) {
                senders.push(e.sender());
            }
        }
        let pipeline = Arc::new(Pipeline {
            id: pid.clone(),
            signal,
            stages,
            exporters: senders,
            batcher,
        });
        if pipeline.batcher.is_some() {
            batching.push(pipeline.clone());
        }
        for id in &pcfg.receivers {
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
    let receivers = receivers
        .into_iter()
        .filter_map(|(id, routes)| {
            cfg.receivers.get(id).map(|c| ReceiverPlan {
                id: id.to_string(),
                config: c.clone(),
                routes,
            })
        })
        .collect();
    Ok(Graph {
        receivers,
        exporters: exporters.into_values().collect(),
        summary,
        batching,
    })
}
