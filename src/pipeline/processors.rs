//! The processor registry: every processor type this build knows, one line each, and what the
//! pipeline needs to know about each one ([`ProcessorType`]). In-place processors live in the
//! `processors` crate and describe themselves through [`processors::Component`]; the two
//! processors that act outside the in-place chain — `memory_limiter` (admission at the
//! receivers) and `batch` (merging before the fan-out) — live in this module's siblings.
//!
//! To add a processor: write its module in `processors/` (config struct implementing
//! `Component`, processor implementing `Processor`) and add one line to [`ProcessorConfig`].

use super::admission::MemoryLimiterConfig;
use super::batch::BatchConfig;
use processors::attributes::{AttributesConfig, ResourceConfig};
use processors::cardinality::CardinalityConfig;
use processors::codex::CodexConfig;
use processors::codex_anomaly::CodexAnomalyConfig;
use processors::cost::CostConfig;
use processors::delta_to_cumulative::DeltaToCumulativeConfig;
use processors::filter::FilterConfig;
use processors::genai::GenAiConfig;
use processors::metric_names::MetricNamesConfig;
use processors::redaction::RedactionConfig;
use processors::team::TeamConfig;
use processors::{BuildError, Component, Processor, Signal};
use std::sync::Arc;

crate::registry! {
    /// A processor's config, by type.
    pub enum ProcessorConfig: dyn ProcessorType {
        /// `memory_limiter`: admission control at the receivers (always the first processor).
        "memory_limiter" => MemoryLimiter(MemoryLimiterConfig),
        /// `attributes`: record-level attribute actions.
        "attributes" => Attributes(AttributesConfig),
        /// `resource`: resource-level attribute actions.
        "resource" => Resource(ResourceConfig),
        /// `batch`: merges requests before the exporters (always the last processor).
        "batch" => Batch(BatchConfig),
        /// `team`: tags every signal with team/project from rules.
        "team" => Team(TeamConfig),
        /// `codex`: fixes what Codex sends (timestamps, duplicate keys, number strings).
        "codex" => Codex(CodexConfig),
        /// `filter`: drops items and attributes.
        "filter" => Filter(FilterConfig),
        /// `redaction`: removes prompts and secrets (`preset: codex`).
        "redaction" => Redaction(RedactionConfig),
        /// `metric_names`: renames metrics to underscore or Prometheus form.
        "metric_names" => MetricNames(MetricNamesConfig),
        /// `delta_to_cumulative`: turns delta sums and histograms into cumulative ones.
        "delta_to_cumulative" => DeltaToCumulative(DeltaToCumulativeConfig),
        /// `genai`: OpenTelemetry GenAI semantic-convention attributes next to Codex's own.
        "genai" => GenAi(GenAiConfig),
        /// `cost`: prices each Codex model response (`cost.usd`) from a price table (logs).
        "cost" => Cost(CostConfig),
        /// `codex_anomaly`: per-conversation alerts as `codex.gateway.alert` records (logs).
        "codex_anomaly" => CodexAnomaly(CodexAnomalyConfig),
        /// `cardinality`: per-metric limit on distinct attribute sets, with an overflow series;
        /// strips per-event keys from data points (metrics).
        "cardinality" => Cardinality(CardinalityConfig),
    }
}

/// Where a processor must stand in a pipeline's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere.
    Anywhere,
    /// First (`memory_limiter`: it acts before a request is read).
    First,
    /// Last (`batch`: it hands batches to the exporters).
    Last,
}

/// A built processor: an in-place stage, or one of the two that act outside the chain.
#[derive(Clone)]
pub enum Built {
    /// Runs in place on each request.
    Stage(Arc<dyn Processor>),
    /// The pipeline's batch stage.
    Batch(BatchConfig),
    /// Admission control at the receivers.
    MemoryLimiter(MemoryLimiterConfig),
}

/// What the pipeline asks of a processor type. In-place processors get it from their
/// [`Component`] implementation.
pub trait ProcessorType {
    /// The signals it can run on.
    fn signals(&self) -> &'static [Signal];
    /// Whether it may remove items (see [`Component::removes_items`]).
    fn removes_items(&self) -> bool;
    /// Whether each pipeline needs its own instance (see [`Component::stateful`]).
    fn stateful(&self) -> bool;
    /// Whether it turns delta metrics into cumulative ones.
    fn emits_cumulative(&self) -> bool;
    /// Where it must stand in a pipeline.
    fn placement(&self) -> Placement {
        Placement::Anywhere
    }
    /// Warnings to log when the gateway starts with it.
    fn startup_warnings(&self) -> Vec<String>;
    /// Builds it; every problem of its config at once.
    fn build(&self) -> Result<Built, Vec<BuildError>>;
}

impl<C: Component> ProcessorType for C {
    fn signals(&self) -> &'static [Signal] {
        Component::signals(self)
    }

    fn removes_items(&self) -> bool {
        Component::removes_items(self)
    }

    fn stateful(&self) -> bool {
        Component::stateful(self)
    }

    fn emits_cumulative(&self) -> bool {
        Component::emits_cumulative(self)
    }

    fn startup_warnings(&self) -> Vec<String> {
        Component::startup_warnings(self)
    }

    fn build(&self) -> Result<Built, Vec<BuildError>> {
        Ok(Built::Stage(self.build_processor()?))
    }
}

impl ProcessorType for BatchConfig {
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn removes_items(&self) -> bool {
        false
    }

    fn stateful(&self) -> bool {
        true
    }

    fn emits_cumulative(&self) -> bool {
        false
    }

    fn placement(&self) -> Placement {
        Placement::Last
    }

    fn startup_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    fn build(&self) -> Result<Built, Vec<BuildError>> {
        check(self.problems())?;
        Ok(Built::Batch(self.clone()))
    }
}

impl ProcessorType for MemoryLimiterConfig {
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    fn removes_items(&self) -> bool {
        false
    }

    fn stateful(&self) -> bool {
        false
    }

    fn emits_cumulative(&self) -> bool {
        false
    }

    fn placement(&self) -> Placement {
        Placement::First
    }

    fn startup_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    fn build(&self) -> Result<Built, Vec<BuildError>> {
        check(self.problems())?;
        Ok(Built::MemoryLimiter(self.clone()))
    }
}

/// `(field, message)` problems as build errors.
fn check(problems: Vec<(&'static str, String)>) -> Result<(), Vec<BuildError>> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(problems
        .into_iter()
        .map(|(f, m)| BuildError::field(f, m))
        .collect())
}
