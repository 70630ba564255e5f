//! Config pieces shared by the network exporters: compression, TLS, the sending queue and
//! retries, with the Collector's names and defaults.

use crate::base::diagnostic::{join, Diagnostic};
use crate::base::tls::{self, TlsError};
use processors::units::{self, ByteSize, ConfigDuration};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the Collector's default).
    #[default]
    Gzip,
    /// No compression.
    None,
}

/// `tls:` of an exporter. Every file is read and checked when the config is validated and when
/// the exporter is built.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// Plaintext: no TLS at all (for `host:port` endpoints of the `otlp` exporter). Default
    /// `false`.
    #[serde(default, deserialize_with = "units::boolean")]
    pub insecure: bool,
    /// PEM file with the CA certificates that sign the backend's certificate (added to the
    /// web PKI roots). Default: none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate (and intermediates) presented to the backend, for
    /// mutual TLS. Needs `key_file`. Default: none.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM file with the private key of `cert_file`. Default: none.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any backend certificate (no chain, name or expiry check): the connection is
    /// encrypted but not authenticated. For tests only. Default `false`.
    #[serde(default, deserialize_with = "units::boolean")]
    pub insecure_skip_verify: bool,
}

/// A client certificate and its key, read from `cert_file` / `key_file` and checked to belong
/// together.
pub struct ClientIdentity {
    /// The PEM text of `cert_file`.
    pub cert_pem: Vec<u8>,
    /// The PEM text of `key_file`.
    pub key_pem: Vec<u8>,
    /// The parsed chain.
    pub certs: Vec<CertificateDer<'static>>,
    /// The parsed key.
    pub key: PrivateKeyDer<'static>,
}

impl TlsClientConfig {
    /// The PEM text of `ca_file`, checked to hold usable CA certificates.
    pub fn read_ca(&self) -> Result<Option<Vec<u8>>, TlsError> {
        let Some(path) = &self.ca_file else {
            return Ok(None);
        };
        tls::root_store("ca_file", path)?;
        std::fs::read(path).map(Some).map_err(|e| TlsError {
            field: "ca_file",
            message: format!("cannot read {}: {e}", path.display()),
        })
    }

    /// The client certificate and key (both or neither must be set), checked to parse and to
    /// fit together.
    pub fn read_identity(&self) -> Result<Option<ClientIdentity>, TlsError> {
        let (cert_path, key_path) = match (&self.cert_file, &self.key_file) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            (Some(_), None) => {
                return Err(TlsError {
                    field: "key_file",
                    message: "required with cert_file".into(),
                })
            }
            (None, Some(_)) => {
                return Err(TlsError {
                    field: "cert_file",
                    message: "required with key_file".into(),
                })
            }
        };
        tls::certified_key("cert_file", cert_path, "key_file", key_path)?;
        let read = |field: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| TlsError {
                field,
                message: format!("cannot read {}: {e}", path.display()),
            })
        };
        Ok(Some(ClientIdentity {
            cert_pem: read("cert_file", cert_path)?,
            key_pem: read("key_file", key_path)?,
            certs: tls::read_certs("cert_file", cert_path)?,
            key: tls::read_key("key_file", key_path)?,
        }))
    }

    /// Whether any TLS-only setting is set (to warn when TLS is off).
    pub fn has_tls_settings(&self) -> bool {
        self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.insecure_skip_verify
    }

    /// Every problem with the files, for `validate`.
    pub fn check(&self) -> Vec<TlsError> {
        let mut out = Vec::new();
        if let Err(e) = self.read_ca() {
            out.push(e);
        }
        if let Err(e) = self.read_identity() {
            out.push(e);
        }
        out
    }
}

/// What happens when an exporter's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// Drop the request for this exporter only, and count it (default).
    #[default]
    Drop,
    /// Refuse the client's request (HTTP 503 + Retry-After, gRPC UNAVAILABLE + RetryInfo) so it
    /// retries; nothing is enqueued anywhere, so no exporter ever receives a duplicate.
    Reject,
}

/// `sending_queue: storage:`: makes the queue persistent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory holding one queue file per exporter (`<exporter id>.redb`). Requests are
    /// acknowledged only after they are durably written there; what is unsent at shutdown or
    /// after a crash is sent after the restart.
    pub directory: PathBuf,
    /// After a failed write (disk full, I/O error) the queue file is reopened and the write
    /// tried again at most this often — on the next request, or to commit the deletes of
    /// delivered batches — until it succeeds; meanwhile new data is refused (503 /
    /// `UNAVAILABLE`). Each attempt verifies the file (about 1 s per GiB). Above 0. Default
    /// `1s`.
    #[serde(default = "default_recovery_interval")]
    pub recovery_interval: ConfigDuration,
}

impl StorageConfig {
    /// A persistent queue in `directory` with the default recovery interval.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        StorageConfig {
            directory: directory.into(),
            recovery_interval: default_recovery_interval(),
        }
    }
}

/// `sending_queue:`: the exporter's own bounded queue. A full queue drops (and counts) the request
/// for this exporter only, or refuses the client (`on_full: reject`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Must stay `true`: the gateway never makes a client wait for a backend.
    #[serde(default = "yes", deserialize_with = "units::boolean")]
    pub enabled: bool,
    /// Worker tasks sending from this queue concurrently. Default 4.
    #[serde(default = "default_consumers", deserialize_with = "units::uint")]
    pub num_consumers: usize,
    /// Requests the exporter holds, waiting or being sent. Default 1000.
    #[serde(default = "default_queue_size", deserialize_with = "units::uint")]
    pub queue_size: usize,
    /// Encoded bytes the exporter holds, waiting or being sent. Default `64MiB`.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// `drop` (default) or `reject`.
    #[serde(default)]
    pub on_full: OnFull,
    /// Persist the queue on disk (see [`StorageConfig`]). Default: in memory.
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    /// At the shutdown deadline, how much longer a request already sent may take to be
    /// answered — and then count as delivered, not as dropped — capped by the exporter's
    /// `timeout`; no new attempt starts. Lengthens the shutdown by at most this. `0s`: cut off
    /// at the deadline. Default `5s`.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: ConfigDuration,
    /// Merge queued requests into larger exports (see [`QueueBatchConfig`]). Default: off, each
    /// request is exported as it was accepted.
    #[serde(default)]
    pub batch: Option<QueueBatchConfig>,
}

/// `sending_queue: batch:`: a worker merges the requests waiting in the queue into one export
/// (the Collector's exporter batching). Requests are merged after they are queued, so the
/// client's answer still means "in this exporter's queue" (durably, with `storage:`), unlike a
/// `batch` processor, which answers before the data reaches any queue. The protobuf encodings
/// are joined as they are (their resource and scope lists end to end), so nothing is decoded
/// again for protobuf exporters. Only requests of one signal are merged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueBatchConfig {
    /// How long a worker waits, from the first request it took, for more requests to reach
    /// `min_size` (or `min_bytes`) before it exports what it has. `0s`: merge only what is queued already, never
    /// wait. Default `200ms`.
    #[serde(default = "default_flush_timeout")]
    pub flush_timeout: ConfigDuration,
    /// Items (spans, data points, log records) that make an export worth sending at once.
    /// Default 8192.
    #[serde(default = "default_batch_min", deserialize_with = "units::uint")]
    pub min_size: usize,
    /// Encoded bytes that make an export worth sending at once, whatever its items: large
    /// requests gain little from merging and would only wait and take memory. Default
    /// `128KiB`.
    #[serde(default = "default_batch_min_bytes")]
    pub min_bytes: ByteSize,
    /// Most items in one merged export; a request that would go over it starts the next export
    /// (a single larger request is sent alone, never split). 0: no limit. Default 0.
    #[serde(default, deserialize_with = "units::uint")]
    pub max_size: usize,
    /// Most encoded bytes in one merged export, as `max_size` (a single larger request is sent
    /// alone). Default `4MiB`, the default receive limit of gRPC servers.
    #[serde(default = "default_batch_max_bytes")]
    pub max_bytes: ByteSize,
}

impl Default for QueueBatchConfig {
    fn default() -> Self {
        QueueBatchConfig {
            flush_timeout: default_flush_timeout(),
            min_size: default_batch_min(),
            min_bytes: default_batch_min_bytes(),
            max_size: 0,
            max_bytes: default_batch_max_bytes(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: default_consumers(),
            queue_size: default_queue_size(),
            max_bytes: default_max_bytes(),
            on_full: OnFull::Drop,
            storage: None,
            shutdown_grace: default_shutdown_grace(),
            batch: None,
        }
    }
}

/// `retry_on_failure:`: exponential backoff for retryable failures (OTLP spec table).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry at all. Default `true`.
    #[serde(default = "yes", deserialize_with = "units::boolean")]
    pub enabled: bool,
    /// First wait. Default `5s`.
    #[serde(default = "default_initial")]
    pub initial_interval: ConfigDuration,
    /// Longest wait between two attempts. Default `30s`.
    #[serde(default = "default_max_interval")]
    pub max_interval: ConfigDuration,
    /// Growth of the wait per attempt. Default 1.5.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Jitter: each wait is randomised by ± this fraction. Default 0.5.
    #[serde(default = "default_jitter")]
    pub randomization_factor: f64,
    /// Give up (drop and count) after this long. Default `300s`.
    #[serde(default = "default_max_elapsed")]
    pub max_elapsed_time: ConfigDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: default_initial(),
            max_interval: default_max_interval(),
            multiplier: default_multiplier(),
            randomization_factor: default_jitter(),
            max_elapsed_time: default_max_elapsed(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_consumers() -> usize {
    4
}
fn default_queue_size() -> usize {
    1000
}
fn default_max_bytes() -> ByteSize {
    ByteSize::mib(64)
}
fn default_initial() -> ConfigDuration {
    ConfigDuration::secs(5)
}
fn default_max_interval() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_jitter() -> f64 {
    0.5
}
fn default_max_elapsed() -> ConfigDuration {
    ConfigDuration::secs(300)
}
fn default_recovery_interval() -> ConfigDuration {
    ConfigDuration::secs(1)
}
fn default_shutdown_grace() -> ConfigDuration {
    ConfigDuration::secs(5)
}
fn default_flush_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_millis(200))
}
fn default_batch_min() -> usize {
    8192
}
fn default_batch_min_bytes() -> ByteSize {
    ByteSize(128 * 1024)
}
fn default_batch_max_bytes() -> ByteSize {
    ByteSize::mib(4)
}

/// Checks an exporter's `tls:` files (`path`: the section holding `tls:`), and warns about
/// settings that do nothing or weaken it; `uses_tls` tells whether the endpoint uses TLS.
pub fn check_tls(path: &str, t: &TlsClientConfig, uses_tls: bool, out: &mut Vec<Diagnostic>) {
    let path = join(path, "tls");
    for e in t.check() {
        out.push(Diagnostic::error(join(&path, e.field), e.message));
    }
    if !uses_tls && t.has_tls_settings() {
        out.push(Diagnostic::warning(
            path,
            "the endpoint is plaintext (http:// or insecure: true): these TLS settings are ignored",
        ));
    } else if t.insecure_skip_verify {
        out.push(Diagnostic::warning(
            join(&path, "insecure_skip_verify"),
            "the backend's certificate is not verified: anyone on the path can read and alter \
             the data",
        ));
    }
}

/// Checks configured headers: valid names and values (gRPC: lower-case ASCII metadata keys).
pub fn check_headers(
    path: &str,
    headers: &BTreeMap<String, String>,
    grpc: bool,
    out: &mut Vec<Diagnostic>,
) {
    for (k, v) in headers {
        if let Err(msg) = check_header(k, v, grpc) {
            out.push(Diagnostic::error(join(&join(path, "headers"), k), msg));
        }
    }
}

/// Checks a `sending_queue:` section under `path`.
pub fn check_queue(path: &str, q: &QueueConfig, out: &mut Vec<Diagnostic>) {
    let path = join(path, "sending_queue");
    if !q.enabled {
        out.push(Diagnostic::error(
            join(&path, "enabled"),
            "the queue cannot be disabled: the gateway never makes a client wait for a backend",
        ));
    }
    if q.queue_size == 0 {
        out.push(Diagnostic::error(
            join(&path, "queue_size"),
            "must be at least 1",
        ));
    }
    if q.num_consumers == 0 {
        out.push(Diagnostic::error(
            join(&path, "num_consumers"),
            "must be at least 1",
        ));
    }
    if q.storage
        .as_ref()
        .is_some_and(|s| s.recovery_interval.0.is_zero())
    {
        out.push(Diagnostic::error(
            join(&path, "storage.recovery_interval"),
            "must be above 0",
        ));
    }
    if let Some(b) = &q.batch {
        if b.max_size > 0 && b.max_size < b.min_size {
            out.push(Diagnostic::error(
                join(&path, "batch.max_size"),
                format!("must be 0 (no limit) or at least min_size ({})", b.min_size),
            ));
        }
        if b.max_bytes.0 == 0 {
            out.push(Diagnostic::error(
                join(&path, "batch.max_bytes"),
                "must be above 0",
            ));
        }
    }
}

/// Checks a `retry_on_failure:` section under `path`.
pub fn check_retry(path: &str, r: &RetryConfig, out: &mut Vec<Diagnostic>) {
    let path = join(path, "retry_on_failure");
    if !(r.multiplier >= 1.0 && r.multiplier.is_finite()) {
        out.push(Diagnostic::error(
            join(&path, "multiplier"),
            "must be a number ≥ 1",
        ));
    }
    if !(0.0..=1.0).contains(&r.randomization_factor) {
        out.push(Diagnostic::error(
            join(&path, "randomization_factor"),
            "must be between 0 and 1",
        ));
    }
    if r.initial_interval.0.is_zero() {
        out.push(Diagnostic::error(
            join(&path, "initial_interval"),
            "must be above 0",
        ));
    }
    if r.max_interval < r.initial_interval {
        out.push(Diagnostic::error(
            join(&path, "max_interval"),
            "must not be shorter than initial_interval",
        ));
    }
}

/// Checks a configured header: a valid name and value (gRPC: lower-case ASCII metadata key).
pub fn check_header(key: &str, value: &str, grpc: bool) -> Result<(), String> {
    if grpc {
        tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(
            key.to_ascii_lowercase().as_bytes(),
        )
        .map_err(|_| format!("{key:?} is not a valid gRPC metadata key"))?;
        tonic::metadata::MetadataValue::<tonic::metadata::Ascii>::try_from(value)
            .map_err(|_| "the value is not valid ASCII metadata".to_string())?;
    } else {
        http::HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| format!("{key:?} is not a valid HTTP header name"))?;
        http::HeaderValue::from_str(value)
            .map_err(|_| "the value is not a valid HTTP header value".to_string())?;
    }
    Ok(())
}
