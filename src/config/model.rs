//! The typed config model: the value tree from [`super::load`] split into components, each
//! deserialized on its own so that every component's problems are reported with their YAML path.

use super::units::{self, ConfigDuration};
use super::{join, Diagnostic};
use crate::exporters::debug::DebugExporterConfig;
use crate::exporters::loadbalancing::LoadBalancingExporterConfig;
use crate::exporters::otlp_grpc::OtlpGrpcExporterConfig;
use crate::exporters::otlp_http::OtlpHttpExporterConfig;
use crate::exporters::prometheus_remote_write::PrometheusRemoteWriteExporterConfig;
use crate::pipeline::batch::BatchConfig;
use crate::receivers::admission::MemoryLimiterConfig;
use crate::receivers::otlp::config::OtlpReceiverConfig;
use processors::attributes::AttributesConfig;
use processors::cardinality::CardinalityConfig;
use processors::codex::CodexConfig;
use processors::codex_anomaly::CodexAnomalyConfig;
use processors::codex_usage::CodexUsageConfig;
use processors::cost::CostConfig;
use processors::delta_to_cumulative::DeltaToCumulativeConfig;
use processors::filter::FilterConfig;
use processors::genai::GenAiConfig;
use processors::metric_names::MetricNamesConfig;
use processors::redaction::RedactionConfig;
use processors::team::TeamConfig;
use processors::Signal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The whole gateway config.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// `receivers:` by id (`type` or `type/name`).
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// `processors:` by id.
    pub processors: BTreeMap<String, ProcessorConfig>,
    /// `exporters:` by id.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// `connectors:` by id: each is an exporter of some pipelines and a receiver of others.
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// `service:`.
    pub service: ServiceConfig,
}

/// A receiver's config, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`.
    Otlp(OtlpReceiverConfig),
}

/// A processor's config, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    /// `attributes`: record-level attribute actions.
    Attributes(AttributesConfig),
    /// `resource`: resource-level attribute actions.
    Resource(AttributesConfig),
    /// `batch`: merges requests before the exporters (always the last processor).
    Batch(BatchConfig),
    /// `team`: tags every signal with team/project from rules.
    Team(TeamConfig),
    /// `codex`: fixes what Codex 0.169.0 sends (timestamps, duplicate keys, number strings).
    Codex(CodexConfig),
    /// `filter`: drops items and attributes.
    Filter(FilterConfig),
    /// `memory_limiter`: admission control at the receivers (always the first processor).
    MemoryLimiter(MemoryLimiterConfig),
    /// `redaction`: removes prompts and secrets (`preset: codex`).
    Redaction(RedactionConfig),
    /// `metric_names`: renames metrics to underscore or Prometheus form.
    MetricNames(MetricNamesConfig),
    /// `delta_to_cumulative`: turns delta sums and histograms into cumulative ones (stateful).
    DeltaToCumulative(DeltaToCumulativeConfig),
    /// `genai`: OpenTelemetry GenAI semantic-convention attributes next to Codex's own.
    GenAi(GenAiConfig),
    /// `cost`: prices each Codex model response (`cost.usd`) from a price table (logs).
    Cost(CostConfig),
    /// `codex_anomaly`: per-conversation alerts as `codex.gateway.alert` records (logs).
    CodexAnomaly(CodexAnomalyConfig),
    /// `cardinality`: per-metric attribute-set limit with an overflow series; strips keys.
    Cardinality(CardinalityConfig),
}

/// An exporter's config, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    /// `otlp`: OTLP/gRPC.
    Otlp(OtlpGrpcExporterConfig),
    /// `otlphttp`: OTLP/HTTP.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `debug`: prints to stdout.
    Debug(DebugExporterConfig),
    /// `loadbalancing`: routes by key to member `otlp` exporters (consistent hashing).
    LoadBalancing(LoadBalancingExporterConfig),
    /// `prometheusremotewrite`: Prometheus remote write 1.0 (metrics only).
    PrometheusRemoteWrite(PrometheusRemoteWriteExporterConfig),
}

/// A connector's config, by type. A connector is listed as an exporter of the pipelines it
/// reads and as a receiver of the pipelines it feeds, as in the Collector.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorConfig {
    /// `codex_usage`: Codex log events → usage metrics (logs → metrics).
    CodexUsage(CodexUsageConfig),
}

impl ConnectorConfig {
    /// Whether the connector can be an exporter of a pipeline of `signal`.
    pub fn reads(&self, signal: Signal) -> bool {
        match self {
            ConnectorConfig::CodexUsage(_) => signal == Signal::Logs,
        }
    }

    /// Whether the connector can be a receiver of a pipeline of `signal`.
    pub fn feeds(&self, signal: Signal) -> bool {
        match self {
            ConnectorConfig::CodexUsage(_) => signal == Signal::Metrics,
        }
    }

    /// Whether what the connector emits is cumulative already.
    pub fn emits_cumulative(&self) -> bool {
        match self {
            ConnectorConfig::CodexUsage(c) => {
                c.aggregation_temporality == processors::codex_usage::Temporality::Cumulative
            }
        }
    }
}

/// Connector types this build knows.
pub const CONNECTOR_TYPES: &[&str] = &["codex_usage"];
/// Receiver types this build knows.
pub const RECEIVER_TYPES: &[&str] = &["otlp"];
/// Processor types this build knows.
pub const PROCESSOR_TYPES: &[&str] = &[
    "memory_limiter",
    "attributes",
    "resource",
    "batch",
    "team",
    "codex",
    "filter",
    "redaction",
    "metric_names",
    "delta_to_cumulative",
    "genai",
    "cost",
    "codex_anomaly",
    "cardinality",
];
/// Exporter types this build knows.
pub const EXPORTER_TYPES: &[&str] = &[
    "otlp",
    "otlphttp",
    "debug",
    "loadbalancing",
    "prometheusremotewrite",
];

impl ReceiverConfig {
    /// Whether the receiver can feed a pipeline of `signal`.
    pub fn supports(&self, _signal: Signal) -> bool {
        true
    }
}

impl ProcessorConfig {
    /// Whether the processor can run in a pipeline of `signal`.
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ProcessorConfig::MetricNames(_)
            | ProcessorConfig::DeltaToCumulative(_)
            | ProcessorConfig::Cardinality(_) => signal == Signal::Metrics,
            ProcessorConfig::Cost(_) | ProcessorConfig::CodexAnomaly(_) => signal == Signal::Logs,
            _ => true,
        }
    }
}

impl ExporterConfig {
    /// Whether the exporter can take data of `signal`.
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ExporterConfig::PrometheusRemoteWrite(_) => signal == Signal::Metrics,
            _ => true,
        }
    }

    /// Whether the exporter sends nothing but the protobuf encoding (so a pipeline whose
    /// exporters all do can encode once up front and drop the decoded request).
    pub fn sends_proto_only(&self) -> bool {
        match self {
            ExporterConfig::Otlp(_) => true,
            ExporterConfig::OtlpHttp(c) => {
                c.encoding == crate::exporters::otlp_http::HttpEncoding::Proto
            }
            _ => false,
        }
    }

    /// The exporter's queue settings.
    pub fn sending_queue(&self) -> &crate::exporters::config::QueueConfig {
        match self {
            ExporterConfig::Otlp(c) => &c.sending_queue,
            ExporterConfig::OtlpHttp(c) => &c.sending_queue,
            ExporterConfig::Debug(c) => &c.sending_queue,
            ExporterConfig::PrometheusRemoteWrite(c) => &c.sending_queue,
            ExporterConfig::LoadBalancing(c) => &c.sending_queue,
        }
    }
}

/// `service:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `traces`, `metrics`, `logs` or `<signal>/<name>` → pipeline.
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineConfig>,
    /// The gateway's own logs and metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// How long SIGTERM/SIGINT waits for queued data to be sent before giving up. Default `20s`.
    #[serde(default = "default_shutdown")]
    pub shutdown_timeout: ConfigDuration,
}

fn default_shutdown() -> ConfigDuration {
    ConfigDuration::secs(20)
}

/// One pipeline: receivers → processors (in order) → exporters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receiver ids feeding this pipeline.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Processor ids, run in this order.
    #[serde(default)]
    pub processors: Vec<String>,
    /// Exporter ids receiving the result.
    #[serde(default)]
    pub exporters: Vec<String>,
}

/// `service: telemetry:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The gateway's own logs.
    #[serde(default)]
    pub logs: LogsTelemetryConfig,
    /// The admin listener: `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub metrics: MetricsTelemetryConfig,
}

/// `service: telemetry: logs:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsTelemetryConfig {
    /// `error`, `warn`, `info` (default), `debug` or `trace`; `--log-level` and `RUST_LOG` win.
    #[serde(default)]
    pub level: Option<String>,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub encoding: Option<String>,
}

/// `service: telemetry: metrics:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsTelemetryConfig {
    /// `host:port` of the admin listener. Default `127.0.0.1:8888`.
    #[serde(default = "default_admin")]
    pub address: String,
    /// `none` turns the admin listener off; anything else (`basic`, `normal`, `detailed`) keeps it.
    #[serde(default)]
    pub level: Option<String>,
}

impl Default for MetricsTelemetryConfig {
    fn default() -> Self {
        MetricsTelemetryConfig {
            address: default_admin(),
            level: None,
        }
    }
}

impl MetricsTelemetryConfig {
    /// Whether the admin listener runs.
    pub fn enabled(&self) -> bool {
        self.level.as_deref() != Some("none")
    }
}

fn default_admin() -> String {
    "127.0.0.1:8888".into()
}

/// Splits `type/name` into its type.
pub fn component_type(id: &str) -> &str {
    id.split_once('/').map(|(t, _)| t).unwrap_or(id)
}

/// Splits the value tree into the typed model, collecting every problem.
pub fn from_value(root: &Value) -> Result<GatewayConfig, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let empty = serde_json::Map::new();
    let top = match root {
        Value::Object(map) => map,
        Value::Null => {
            errors.push(Diagnostic::error("<root>", "the config is empty"));
            &empty
        }
        _ => {
            errors.push(Diagnostic::error(
                "<root>",
                "the config must be a mapping with receivers, processors, exporters and service",
            ));
            &empty
        }
    };
    for key in top.keys() {
        if ![
            "receivers",
            "processors",
            "exporters",
            "connectors",
            "service",
        ]
        .contains(&key.as_str())
        {
            let hint = match key.as_str() {
                "extensions" => " (not supported by this gateway)",
                _ => " (expected receivers, processors, exporters, connectors, service)",
            };
            errors.push(Diagnostic::error(key.clone(), format!("unknown key{hint}")));
        }
    }
    let receivers = section(
        top,
        "receivers",
        RECEIVER_TYPES,
        &mut errors,
        |kind, path, v, errs| match kind {
            "otlp" => decode(path, v, errs).map(ReceiverConfig::Otlp),
            _ => None,
        },
    );
    let processors = section(
        top,
        "processors",
        PROCESSOR_TYPES,
        &mut errors,
        |kind, path, v, errs| match kind {
            "attributes" => decode(path, v, errs).map(ProcessorConfig::Attributes),
            "resource" => decode(path, v, errs).map(ProcessorConfig::Resource),
            "batch" => decode(path, v, errs).map(ProcessorConfig::Batch),
            "team" => decode(path, v, errs).map(ProcessorConfig::Team),
            "codex" => decode(path, v, errs).map(ProcessorConfig::Codex),
            "filter" => decode(path, v, errs).map(ProcessorConfig::Filter),
            "redaction" => decode(path, v, errs).map(ProcessorConfig::Redaction),
            "memory_limiter" => decode(path, v, errs).map(ProcessorConfig::MemoryLimiter),
            "metric_names" => decode(path, v, errs).map(ProcessorConfig::MetricNames),
            "delta_to_cumulative" => decode(path, v, errs).map(ProcessorConfig::DeltaToCumulative),
            "genai" => decode(path, v, errs).map(ProcessorConfig::GenAi),
            "cost" => decode(path, v, errs).map(ProcessorConfig::Cost),
            "codex_anomaly" => decode(path, v, errs).map(ProcessorConfig::CodexAnomaly),
            "cardinality" => decode(path, v, errs).map(ProcessorConfig::Cardinality),
            _ => None,
        },
    );
    let exporters = section(
        top,
        "exporters",
        EXPORTER_TYPES,
        &mut errors,
        |kind, path, v, errs| match kind {
            "otlp" => decode(path, v, errs).map(ExporterConfig::Otlp),
            "otlphttp" => decode(path, v, errs).map(ExporterConfig::OtlpHttp),
            "debug" => decode(path, v, errs).map(ExporterConfig::Debug),
            "loadbalancing" => decode(path, v, errs).map(ExporterConfig::LoadBalancing),
            "prometheusremotewrite" => {
                decode(path, v, errs).map(ExporterConfig::PrometheusRemoteWrite)
            }
            _ => None,
        },
    );
    let connectors = section(
        top,
        "connectors",
        CONNECTOR_TYPES,
        &mut errors,
        |kind, path, v, errs| match kind {
            "codex_usage" => decode(path, v, errs).map(ConnectorConfig::CodexUsage),
            _ => None,
        },
    );
    let service = match top.get("service") {
        None => {
            errors.push(Diagnostic::error(
                "service",
                "missing: a config needs service.pipelines",
            ));
            None
        }
        Some(v) => decode::<ServiceConfig>("service", v, &mut errors),
    };
    match service {
        Some(service) if errors.is_empty() => Ok(GatewayConfig {
            receivers,
            processors,
            exporters,
            connectors,
            service,
        }),
        _ => Err(errors),
    }
}

type ComponentDecoder<T> = fn(&str, &str, &Value, &mut Vec<Diagnostic>) -> Option<T>;

fn section<T>(
    top: &serde_json::Map<String, Value>,
    name: &str,
    known: &[&str],
    errors: &mut Vec<Diagnostic>,
    decode_one: ComponentDecoder<T>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let map = match top.get(name) {
        None | Some(Value::Null) => return out,
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.push(Diagnostic::error(
                name,
                "must be a mapping of component ids",
            ));
            return out;
        }
    };
    for (id, value) in map {
        let path = join(name, id);
        let (kind, instance) = match id.split_once('/') {
            Some((k, n)) => (k, Some(n)),
            None => (id.as_str(), None),
        };
        if instance == Some("") || kind.is_empty() {
            errors.push(Diagnostic::error(
                path,
                "a component id is `type` or `type/name`",
            ));
            continue;
        }
        if !known.contains(&kind) {
            errors.push(Diagnostic::error(
                path,
                format!(
                    "unknown {} type {kind:?} (known: {})",
                    singular(name),
                    known.join(", ")
                ),
            ));
            continue;
        }
        if let Some(cfg) = decode_one(kind, &path, value, errors) {
            out.insert(id.clone(), cfg);
        }
    }
    out
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

/// Deserializes one component's value; a missing value (`debug:`) means all defaults.
fn decode<T: DeserializeOwned>(
    path: &str,
    value: &Value,
    errors: &mut Vec<Diagnostic>,
) -> Option<T> {
    let empty = Value::Object(serde_json::Map::new());
    let value = if value.is_null() { &empty } else { value };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." {
                path.to_string()
            } else {
                join(path, &inner)
            };
            errors.push(Diagnostic::error(
                full,
                clean_serde_message(&e.into_inner().to_string()),
            ));
            None
        }
    }
}

/// serde's messages mention Rust types; keep them but drop the noisy "at line 0" tails.
fn clean_serde_message(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

// Keep `units` in scope for the serde attributes above.
#[allow(unused_imports)]
use units as _;
