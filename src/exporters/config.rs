//! Config pieces shared by the network exporters: compression, TLS, the sending queue and
//! retries, with the Collector's names and defaults.

use crate::config::units::{self, ByteSize, ConfigDuration};
use serde::Deserialize;
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

/// `tls:` of an exporter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// Plaintext: no TLS at all (for `host:port` endpoints of the `otlp` exporter).
    #[serde(default, deserialize_with = "units::boolean")]
    pub insecure: bool,
    /// PEM file with the CA certificates that sign the backend's certificate (added to the
    /// system's web PKI roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
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
