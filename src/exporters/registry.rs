//! The exporter registry: every exporter type this build knows, one line each, and what the
//! pipeline and the builder need to know about each one ([`ExporterType`]). Each exporter's
//! config type implements the trait in the exporter's own module.
//!
//! To add an exporter: write its module (config struct, tower client) with an `ExporterType`
//! implementation, and add one line to [`ExporterConfig`].

use super::config::QueueConfig;
use super::debug::DebugExporterConfig;
use super::loadbalancing::LoadBalancingExporterConfig;
use super::otlp_grpc::OtlpGrpcExporterConfig;
use super::otlp_http::OtlpHttpExporterConfig;
use super::prometheus_remote_write::PrometheusRemoteWriteExporterConfig;
use super::{ExportService, ExporterBuildError};
use crate::base::diagnostic::Diagnostic;
use crate::telemetry::metrics::SelfMetrics;
use processors::Signal;
use std::collections::BTreeSet;

crate::registry! {
    /// An exporter's config, by type.
    pub enum ExporterConfig: dyn ExporterType {
        /// `otlp`: OTLP/gRPC.
        "otlp" => Otlp(OtlpGrpcExporterConfig),
        /// `otlphttp`: OTLP/HTTP.
        "otlphttp" => OtlpHttp(OtlpHttpExporterConfig),
        /// `debug`: prints to stdout.
        "debug" => Debug(DebugExporterConfig),
        /// `loadbalancing`: routes by key to member `otlp` exporters (consistent hashing).
        "loadbalancing" => LoadBalancing(LoadBalancingExporterConfig),
        /// `prometheusremotewrite`: Prometheus remote write 1.0 (metrics only).
        "prometheusremotewrite" => PrometheusRemoteWrite(PrometheusRemoteWriteExporterConfig),
    }
}

/// What an exporter's client is made of: its tower stack, and for `loadbalancing` the
/// balancer whose member exporters start with it.
pub struct Client {
    /// retry → timeout → client.
    pub service: ExportService,
    /// The member exporters of a `loadbalancing` exporter.
    pub balancer: Option<super::loadbalancing::Pending>,
}

impl From<ExportService> for Client {
    fn from(service: ExportService) -> Self {
        Client {
            service,
            balancer: None,
        }
    }
}

/// What the pipeline and the builder ask of an exporter type.
pub trait ExporterType {
    /// The signals it can take. Default: all three.
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }

    /// Whether it sends nothing but the protobuf encoding (so a pipeline whose exporters all do
    /// can encode once up front and drop the decoded request).
    fn sends_proto_only(&self) -> bool {
        false
    }

    /// Whether it takes cumulative metrics only (a pipeline feeding it must convert Codex's
    /// delta metrics first).
    fn needs_cumulative(&self) -> bool {
        false
    }

    /// Its queue settings.
    fn sending_queue(&self) -> &QueueConfig;

    /// The deadline of one send attempt: a request on the wire at the shutdown deadline gets at
    /// most this (and `sending_queue.shutdown_grace`) to finish. Default: none (zero).
    fn attempt_timeout(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Checks its settings (queue and retry included) for `validate`, for the `signals` of the
    /// pipelines that use it; problems go to `out` under `path` (`exporters.<id>`).
    fn check(&self, path: &str, signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>);

    /// Builds its client; its retry layer obeys `stop` at shutdown. Must run inside a tokio
    /// runtime (clients connect lazily).
    fn client(
        &self,
        id: &str,
        metrics: &SelfMetrics,
        stop: &std::sync::Arc<super::queue::Stop>,
    ) -> Result<Client, ExporterBuildError>;
}
