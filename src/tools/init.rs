//! `codex-otel-gateway init --vendor <name> [--output FILE] [--force]`: writes the vendor profile
//! (the example file of `config/examples/`, embedded in the binary, so the example and what
//! `init` writes are one text) and renders the Codex `[otel]` block that points Codex at it.
//!
//! Place: a client-side tool beside [`super::codex_config`], which renders the block. A profile
//! is an explicit, Collector-shaped YAML file rather than a `profile:` key, so what runs is what
//! the operator reads and edits. Nothing is written unless the profile validates (with the
//! caller's environment), and an existing file is only replaced with `force`.

use super::codex_config::{render, CodexConfigError, Options};
use crate::config::{self, LoadError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A destination with a shipped profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Last9, OTLP/HTTP (`config/examples/last9.yaml`).
    Last9,
    /// Grafana Cloud's OTLP gateway (`config/examples/grafana-cloud.yaml`).
    GrafanaCloud,
    /// SigNoz Cloud or self-hosted, OTLP/gRPC (`config/examples/signoz.yaml`).
    Signoz,
    /// Any OTLP/HTTP backend (`config/examples/otlp.yaml`).
    Otlp,
    /// Prometheus remote write (`config/examples/prometheus-remote-write.yaml`).
    Prometheus,
}

impl Vendor {
    /// Every vendor, in the order the help lists them.
    pub const ALL: [Vendor; 5] = [
        Vendor::Last9,
        Vendor::GrafanaCloud,
        Vendor::Signoz,
        Vendor::Otlp,
        Vendor::Prometheus,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Last9 => "last9",
            Vendor::GrafanaCloud => "grafana-cloud",
            Vendor::Signoz => "signoz",
            Vendor::Otlp => "otlp",
            Vendor::Prometheus => "prometheus",
        }
    }

    /// Parses a name of [`Vendor::name`].
    pub fn parse(text: &str) -> Result<Vendor, String> {
        let text = text.trim().to_ascii_lowercase();
        Vendor::ALL
            .into_iter()
            .find(|v| v.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Vendor::ALL.iter().map(|v| v.name()).collect();
                format!("unknown vendor {text:?}: use one of {}", names.join(", "))
            })
    }

    /// The file name of the example, which is also the default output.
    pub fn file_name(self) -> &'static str {
        match self {
            Vendor::Last9 => "last9.yaml",
            Vendor::GrafanaCloud => "grafana-cloud.yaml",
            Vendor::Signoz => "signoz.yaml",
            Vendor::Otlp => "otlp.yaml",
            Vendor::Prometheus => "prometheus-remote-write.yaml",
        }
    }

    /// The profile text, as in `config/examples/`.
    pub fn profile(self) -> &'static str {
        match self {
            Vendor::Last9 => include_str!("../../config/examples/last9.yaml"),
            Vendor::GrafanaCloud => include_str!("../../config/examples/grafana-cloud.yaml"),
            Vendor::Signoz => include_str!("../../config/examples/signoz.yaml"),
            Vendor::Otlp => include_str!("../../config/examples/otlp.yaml"),
            Vendor::Prometheus => {
                include_str!("../../config/examples/prometheus-remote-write.yaml")
            }
        }
    }

    /// The environment variables that carry the destination's credentials and address.
    pub fn credentials(self) -> &'static [&'static str] {
        match self {
            Vendor::Last9 => &["LAST9_TOKEN", "LAST9_OTLP_ENDPOINT"],
            Vendor::GrafanaCloud => &["GRAFANA_CLOUD_BASIC_AUTH", "GRAFANA_CLOUD_ZONE"],
            Vendor::Signoz => &["SIGNOZ_INGESTION_KEY", "SIGNOZ_REGION"],
            Vendor::Otlp => &["OTLP_ENDPOINT", "OTLP_AUTHORIZATION"],
            Vendor::Prometheus => &[
                "GRAFANA_CLOUD_PROMETHEUS_URL",
                "GRAFANA_CLOUD_PROMETHEUS_USER",
                "GRAFANA_CLOUD_TOKEN",
            ],
        }
    }
}

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The output exists and `force` is off.
    #[error("{0} already exists: use --force to overwrite it, or --output to write elsewhere")]
    Exists(PathBuf),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The profile does not validate with this environment (e.g. a listen address variable
    /// holding a bad address).
    #[error("the {vendor} profile does not validate with this environment:\n{source}")]
    Invalid {
        /// The vendor.
        vendor: &'static str,
        /// The problems.
        source: LoadError,
    },
    /// No Codex block for the profile.
    #[error("cannot render the Codex [otel] block: {0}")]
    Codex(#[from] CodexConfigError),
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file written.
    pub path: PathBuf,
    /// What to tell the user: next steps and the Codex `[otel]` block.
    pub text: String,
    /// Things worth a line on stderr.
    pub warnings: Vec<String>,
}

/// Validates `vendor`'s profile with `lookup`, writes it to `output` (refusing to replace an
/// existing file unless `force`) and renders the next steps with the Codex `[otel]` block.
pub fn init(
    vendor: Vendor,
    output: &Path,
    force: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Written, InitError> {
    let profile = vendor.profile();
    let validated = config::load_str(profile, lookup).map_err(|e| InitError::Invalid {
        vendor: vendor.name(),
        source: LoadError::Invalid(e),
    })?;
    let block = render(&validated.config, &Options::default(), lookup)?;
    write_new(output, profile, force)?;
    let mut text = format!(
        "wrote {} ({} profile)\n\nNext:\n",
        output.display(),
        vendor.name()
    );
    for var in vendor.credentials() {
        text.push_str(&format!("  export {var}=...\n"));
    }
    text.push_str(
        "  export REDACTION_HASH_KEY=\"$(openssl rand -hex 32)\"   # stable pseudonyms\n",
    );
    text.push_str(&format!(
        "  codex-otel-gateway run --config {}\n\nThen add this to ~/.codex/config.toml:\n\n{}",
        output.display(),
        block.text
    ));
    Ok(Written {
        path: output.to_path_buf(),
        text,
        warnings: block.warnings,
    })
}

fn write_new(path: &Path, text: &str, force: bool) -> Result<(), InitError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(path.to_path_buf())
        } else {
            InitError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| InitError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_parses_from_its_name_and_an_unknown_one_lists_them() {
        for v in Vendor::ALL {
            assert_eq!(Vendor::parse(v.name()), Ok(v));
        }
        let err = Vendor::parse("datadog").unwrap_err();
        assert!(
            err.contains("last9, grafana-cloud, signoz, otlp, prometheus"),
            "{err}"
        );
    }

    #[test]
    fn every_embedded_profile_validates_with_an_empty_environment() {
        for v in Vendor::ALL {
            let r = config::load_str(v.profile(), &|_| None);
            assert!(r.is_ok(), "{}: {:?}", v.name(), r.err());
        }
    }
}
