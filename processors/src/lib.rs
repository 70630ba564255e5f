//! Pure, in-place OTLP processors for codex-otel-gateway.
//!
//! Place in the flow: a receiver decodes a request, then the pipeline runs every processor of its
//! chain over the request **in place** (`&mut`), then prunes empty resources/scopes and hands the
//! result to the exporters' queues. Nothing here knows about sockets, tasks or time: a processor is
//! a plain value built once from its config and called from many receiver tasks through `&self`.
//!
//! Anatomy of a processor (one per module): a serde config struct (`deny_unknown_fields`,
//! documented fields, one `Default`) → `build()` that may fail with a [`BuildError`] → a runtime type
//! implementing [`Processor`] that cannot fail.

pub mod attributes;
pub mod cardinality;
pub mod clock;
pub mod codex;
pub mod codex_anomaly;
mod codex_event;
pub mod codex_usage;
mod component;
mod context;
pub mod cost;
pub mod delta_to_cumulative;
pub mod filter;
pub mod genai;
pub mod logs_view;
pub mod metric_names;
mod partition;
pub mod redaction;
mod request;
pub mod team;
pub mod units;
mod value;

pub use codex_event::kv;
pub use component::Component;
pub use context::{Metadata, ProcessContext};
pub use partition::{Keys, Partition};
pub use request::{
    find_attr, for_each_point_attributes, metric_point_count, Batchable, OtlpRequest, Signal,
};
pub use value::{value_text, ConfigValue};

use logs_view::LogsView;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};

/// A processor: one in-place method per signal. Called concurrently through `&self`. Each
/// method defaults to doing nothing, so a processor for one signal writes one method (and says
/// so in [`Component::signals`]).
///
/// Items a processor removes are reported with [`ProcessContext::record_dropped`]; audit counts
/// (e.g. redactions per rule) with [`ProcessContext::count`].
pub trait Processor: Send + Sync + 'static {
    /// Processes a traces request in place.
    fn process_traces(&self, _req: &mut ExportTraceServiceRequest, _cx: &mut ProcessContext<'_>) {}
    /// Processes a metrics request in place.
    fn process_metrics(
        &self,
        _req: &mut ExportMetricsServiceRequest,
        _cx: &mut ProcessContext<'_>,
    ) {
    }
    /// Processes a logs request in place.
    fn process_logs(&self, _req: &mut ExportLogsServiceRequest, _cx: &mut ProcessContext<'_>) {}
    /// Whether [`Processor::process_log_views`] does exactly what [`Processor::process_logs`]
    /// does, so a logs pipeline of such processors may skip decoding requests. Only a processor
    /// that keeps every log record may say yes. Default: no.
    fn handles_log_views(&self) -> bool {
        false
    }
    /// Processes a logs request read as a view of its bytes ([`logs_view`]), in place, with the
    /// same result and counts as [`Processor::process_logs`] on the decoded request. Called only
    /// when [`Processor::handles_log_views`] says yes.
    fn process_log_views(&self, _logs: &mut LogsView<'_>, _cx: &mut ProcessContext<'_>) {}
}

/// Why a processor could not be built from its config. Reported by `validate` with the YAML path
/// of the processor followed by `field`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct BuildError {
    /// Path of the field inside the processor's config, e.g. `actions[2].pattern`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl BuildError {
    /// A problem with `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        BuildError {
            field: field.into(),
            message: message.into(),
        }
    }
}
