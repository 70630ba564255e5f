//! The typed config model: the value tree from [`super::load`] split into components, each
//! decoded on its own by its kind's registry ([`ReceiverConfig`], [`ProcessorConfig`],
//! [`ExporterConfig`], [`ConnectorConfig`]) so that every component's problems are reported
//! with their YAML path.

use super::{join, Diagnostic};
use crate::base::component::decode;
use crate::exporters::ExporterConfig;
use crate::pipeline::connector::ConnectorConfig;
use crate::pipeline::processors::ProcessorConfig;
use crate::receivers::ReceiverConfig;
use processors::units::ConfigDuration;
use processors::Signal;
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

impl GatewayConfig {
    /// The pipelines with their signals (pipelines whose id names no signal are left out;
    /// `validate` reports them).
    pub fn pipelines(&self) -> impl Iterator<Item = (&String, Signal, &PipelineConfig)> {
        self.service
            .pipelines
            .iter()
            .filter_map(|(id, p)| Some((id, Signal::parse(component_type(id))?, p)))
    }
}

/// The top-level sections of a config.
const SECTIONS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "service",
];

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
    /// Connections open at once on the admin listener; more are closed at once. Default 64.
    #[serde(
        default = "default_admin_connections",
        deserialize_with = "processors::units::uint"
    )]
    pub max_connections: usize,
    /// A new connection must send its first request (headers included) within this time.
    /// Default `10s`.
    #[serde(default = "default_admin_handshake")]
    pub handshake_timeout: ConfigDuration,
    /// A connection with no request in progress and none started for this long is closed.
    /// Default `30s`.
    #[serde(default = "default_admin_idle")]
    pub idle_timeout: ConfigDuration,
}

impl Default for MetricsTelemetryConfig {
    fn default() -> Self {
        MetricsTelemetryConfig {
            address: default_admin(),
            level: None,
            max_connections: default_admin_connections(),
            handshake_timeout: default_admin_handshake(),
            idle_timeout: default_admin_idle(),
        }
    }
}

fn default_admin_connections() -> usize {
    64
}
fn default_admin_handshake() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_admin_idle() -> ConfigDuration {
    ConfigDuration::secs(30)
}

impl MetricsTelemetryConfig {
    /// Whether the admin listener runs.
    pub fn enabled(&self) -> bool {
        self.level.as_deref() != Some("none")
    }

    /// The bounds of the admin listener.
    pub fn conn_limits(&self) -> crate::base::serve::ConnLimits {
        crate::base::serve::ConnLimits {
            name: "admin".to_string(),
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout.0,
            idle_timeout: self.idle_timeout.0,
        }
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
    for key in top.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
        let hint = match key.as_str() {
            "extensions" => " (not supported by this gateway)",
            _ => " (expected receivers, processors, exporters, connectors, service)",
        };
        errors.push(Diagnostic::error(key.clone(), format!("unknown key{hint}")));
    }
    let receivers = section(
        top,
        "receivers",
        ReceiverConfig::TYPES,
        &mut errors,
        ReceiverConfig::decode,
    );
    let processors = section(
        top,
        "processors",
        ProcessorConfig::TYPES,
        &mut errors,
        ProcessorConfig::decode,
    );
    let exporters = section(
        top,
        "exporters",
        ExporterConfig::TYPES,
        &mut errors,
        ExporterConfig::decode,
    );
    let connectors = section(
        top,
        "connectors",
        ConnectorConfig::TYPES,
        &mut errors,
        ConnectorConfig::decode,
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

/// A registry's decoder: `None` for an unknown type, `Some(None)` for a value with problems.
type ComponentDecoder<T> = fn(&str, &str, &Value, &mut Vec<Diagnostic>) -> Option<Option<T>>;

/// Decodes the components of one section (`receivers`, ...) through its registry.
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
        match decode_one(kind, &path, value, errors) {
            Some(Some(cfg)) => {
                out.insert(id.clone(), cfg);
            }
            Some(None) => {}
            None => errors.push(Diagnostic::error(
                path,
                format!(
                    "unknown {} type {kind:?} (known: {})",
                    singular(name),
                    known.join(", ")
                ),
            )),
        }
    }
    out
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}
