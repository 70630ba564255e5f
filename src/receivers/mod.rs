//! Receivers: where telemetry enters. Transports only: each receiver speaks its protocols,
//! checks what belongs to the transport (credentials, paths, media types, sizes, concurrency),
//! hands request bodies to its [`crate::pipeline::Entry`] and maps what the pipeline answers to
//! a status. The registry of receiver types ([`ReceiverConfig`], one line each) is here; only
//! `otlp` (gRPC + HTTP) for now.

pub mod otlp;

use crate::base::diagnostic::Diagnostic;
use otlp::config::OtlpReceiverConfig;
use processors::Signal;

crate::registry! {
    /// A receiver's config, by type.
    pub enum ReceiverConfig: dyn ReceiverType {
        /// `otlp`: OTLP over gRPC and HTTP.
        "otlp" => Otlp(OtlpReceiverConfig),
    }
}

/// What the config checks and the builder ask of a receiver type.
pub trait ReceiverType {
    /// The signals it can feed. Default: all three.
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    /// The addresses it listens on: `(field relative to the receiver, endpoint)`, so `validate`
    /// can tell two listeners on one address apart.
    fn endpoints(&self) -> Vec<(String, &str)>;

    /// Checks its settings (TLS files, credentials, limits); problems go to `out` under `path`
    /// (`receivers.<id>`).
    fn check(&self, path: &str, out: &mut Vec<Diagnostic>);
}
