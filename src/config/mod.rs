//! Configuration: YAML text → value tree with `${env:...}` expanded ([`load`]) → typed model
//! ([`model`]) → semantic checks ([`validate`], which also builds the processors and
//! connectors once). The builder in `crate::app::builder` wires a [`Validated`] config into
//! running components. Every problem is reported with its YAML path.

pub mod env;
pub mod load;
pub mod model;
pub mod validate;

pub use crate::base::diagnostic::{join, Diagnostic, Severity};
pub use model::GatewayConfig;

/// The config the gateway runs with when no `--config` is given: OTLP on 127.0.0.1:4317/4318,
/// every signal printed by the `debug` exporter.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.yaml");

/// A config that passed every check, with the warnings found on the way and the components
/// built while checking it (which the builder reuses).
#[derive(Debug, Clone)]
pub struct Validated {
    /// The typed config.
    pub config: GatewayConfig,
    /// Warnings (e.g. unused components).
    pub warnings: Vec<Diagnostic>,
    /// Processors and connectors, built.
    pub components: validate::Components,
}

/// Loads, expands, decodes and validates a config text. On failure, every diagnostic (errors and
/// warnings) is returned.
pub fn load_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Validated, Vec<Diagnostic>> {
    let tree = load::load_yaml(text, lookup)?;
    let config = model::from_value(&tree)?;
    let (diagnostics, components) = validate::validate(&config);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(Validated {
        config,
        warnings: diagnostics,
        components,
    })
}

/// Largest config file read (a config is a few KiB; a link to `/dev/zero` must not exhaust
/// memory).
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read (or is larger than [`MAX_CONFIG_BYTES`]).
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
    /// The config has errors; every diagnostic (errors and warnings).
    #[error("{} error(s) in the config", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}

impl LoadError {
    /// The lines to show: every diagnostic, then the summary.
    pub fn lines(&self) -> Vec<String> {
        match self {
            LoadError::Read { .. } => vec![format!("error: {self}")],
            LoadError::Invalid(diags) => diags
                .iter()
                .map(ToString::to_string)
                .chain(std::iter::once(self.to_string()))
                .collect(),
        }
    }
}

/// Loads and validates the config file at `path` (at most [`MAX_CONFIG_BYTES`]), or the
/// embedded default config when `path` is `None`; `${env:...}` comes from `lookup`.
pub fn load_file(
    path: Option<&std::path::Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Validated, LoadError> {
    let text = match path {
        None => DEFAULT_CONFIG.to_string(),
        Some(p) => read_bounded(p).map_err(|message| LoadError::Read {
            path: p.display().to_string(),
            message,
        })?,
    };
    load_str(&text, lookup).map_err(LoadError::Invalid)
}

/// Reads a text file of at most [`MAX_CONFIG_BYTES`].
fn read_bounded(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than {} MiB: not a config file",
            MAX_CONFIG_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Looks variables up in the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
