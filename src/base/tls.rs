//! TLS building blocks shared by the receivers (server side) and the exporters (client side):
//! rustls with the ring provider, the `min_version` setting, and PEM loading (certificates,
//! keys, CA stores) with errors that name the config field and the file, never its content.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SupportedProtocolVersion};
use serde::{de, Deserialize, Deserializer};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A TLS protocol version as written in the config (`"1.2"` or `"1.3"`; a bare YAML number
/// `1.2` is accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersion {
    /// Parses `"1.2"` / `"1.3"` (also `TLSv1.2`, `tls1.3`); older versions are refused with a
    /// message saying so.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let t = t
            .strip_prefix("tlsv")
            .or_else(|| t.strip_prefix("tls"))
            .unwrap_or(&t)
            .trim();
        match t {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            "1.0" | "1" | "1.1" => Err(format!(
                "TLS {t} is refused: it is obsolete (RFC 8996); use \"1.2\" or \"1.3\""
            )),
            _ => Err(format!(
                "unknown TLS version {text:?}; use \"1.2\" or \"1.3\""
            )),
        }
    }

    /// `"1.2"` or `"1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "1.2",
            TlsVersion::Tls13 => "1.3",
        }
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = TlsVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TLS version: \"1.2\" or \"1.3\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TlsVersion, E> {
                TlsVersion::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TlsVersion, E> {
                TlsVersion::parse(&format!("{v:.1}")).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TlsVersion, E> {
                TlsVersion::parse(&format!("{v}.0")).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TlsVersion, E> {
                TlsVersion::parse(&format!("{v}.0")).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A TLS file or setting that cannot be used. `field` is the config key relative to `tls:`
/// (`cert_file`, `key_file`, `client_ca_file`, `ca_file`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TlsError {
    /// The key under `tls:` to fix.
    pub field: &'static str,
    /// What is wrong (names the file, never its content).
    pub message: String,
}

impl TlsError {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        TlsError {
            field,
            message: message.into(),
        }
    }
}

/// The crypto provider used everywhere in the gateway (ring), whatever provider other crates
/// may have installed as the process default.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The protocol versions from `min_version` upwards.
pub fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    static FROM_TLS12: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static FROM_TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        TlsVersion::Tls12 => &FROM_TLS12,
        TlsVersion::Tls13 => &FROM_TLS13,
    }
}

fn read_file(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::new(field, format!("cannot read {}: {e}", path.display())))
}

/// Every `CERTIFICATE` block of a PEM file (at least one).
pub fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(field, format!("{}: invalid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            field,
            format!("{}: no CERTIFICATE block found", path.display()),
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
pub fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(field, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let what = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)"
                    .to_string()
            }
            other => format!("invalid PEM: {other}"),
        };
        TlsError::new(field, format!("{}: {what}", path.display()))
    })
}

/// A certificate chain and its key, checked to belong together.
pub fn certified_key(
    cert_field: &'static str,
    cert_path: &Path,
    key_field: &'static str,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let certs = read_certs(cert_field, cert_path)?;
    let key = read_key(key_field, key_path)?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        TlsError::new(
            key_field,
            format!(
                "{} cannot be used with {cert_field} {}: {e}",
                key_path.display(),
                cert_path.display()
            ),
        )
    })
}

/// A root store with every certificate of a PEM file.
pub fn root_store(field: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(field, path)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(
                field,
                format!("{}: not a usable CA certificate: {e}", path.display()),
            )
        })?;
    }
    Ok(roots)
}
