//! Configuration: YAML text → value tree with `${env:...}` expanded ([`load`]) → typed model
//! ([`model`]) → semantic checks ([`validate`]). The builder in `crate::pipeline::builder` turns a
//! validated model into running components. Every problem is reported with its YAML path.

pub mod env;
pub mod load;
pub mod model;
pub mod validate;

pub use model::GatewayConfig;
use std::fmt;

/// The config the gateway runs with when no `--config` is given: OTLP on 127.0.0.1:4317/4318,
/// every signal printed by the `debug` exporter.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.yaml");

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// Worth knowing; the config can still be used.
    Warning,
}

/// One problem found in a config, with its YAML path (`exporters.otlp/signoz.endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where: a dotted YAML path, or `line L column C` for syntax errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}: {}", self.path, self.message)
    }
}

/// A config that passed every check, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The typed config.
    pub config: GatewayConfig,
    /// Warnings (e.g. unused components).
    pub warnings: Vec<Diagnostic>,
}

/// Loads, expands, decodes and validates a config text. On failure, every diagnostic (errors and
/// warnings) is returned.
pub fn load_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Validated, Vec<Diagnostic>> {
    let tree = load::load_yaml(text, lookup)?;
    let config = model::from_value(&tree)?;
    let diagnostics = validate::validate(&config);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(Validated {
        config,
        warnings: diagnostics,
    })
}

/// Looks variables up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Joins a YAML path and a key: `join("exporters", "otlp/x")` → `exporters.otlp/x`.
pub fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => path.to_string(),
        _ => format!("{path}.{key}"),
    }
}
