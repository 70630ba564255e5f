//! `debug` exporter: prints what arrives to stdout, so a newcomer sees data flowing.

use super::config::check_queue;
use super::config::QueueConfig;
use super::registry::{Client, ExporterType};
use super::ExporterBuildError;
use crate::base::diagnostic::Diagnostic;
use crate::telemetry::metrics::SelfMetrics;
use processors::Signal;
use serde::Deserialize;
use std::collections::BTreeSet;

/// How much the debug exporter prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// One summary line per batch (default).
    #[default]
    Basic,
    /// Same as `basic`.
    Normal,
    /// The full content of every batch.
    Detailed,
}

/// `exporters: debug[/name]:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugExporterConfig {
    /// `basic` (one line per batch), `normal` (same) or `detailed` (everything).
    #[serde(default)]
    pub verbosity: Verbosity,
    /// The exporter's queue.
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

use super::ExportOutcome;
use crate::codec::{Batch, WireFormat};
use std::io::Write;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;

/// The tower client of the `debug` exporter: writes to stdout.
#[derive(Clone)]
pub struct DebugExport {
    id: Arc<str>,
    verbosity: Verbosity,
}

impl DebugExport {
    /// A debug exporter named `id`.
    pub fn new(id: &str, verbosity: Verbosity) -> Self {
        DebugExport {
            id: Arc::from(id),
            verbosity,
        }
    }

    /// The summary line for one batch.
    pub fn summary(id: &str, batch: &Batch) -> String {
        let mut names: Vec<&str> = batch.payload().service_names();
        names.sort_unstable();
        names.dedup();
        let names = if names.is_empty() {
            "-".to_string()
        } else {
            names.join(",")
        };
        format!(
            "{id}: {} {} {}, resources={}, service.name={names}",
            batch.signal(),
            batch.items(),
            batch.signal().item_name(),
            batch.payload().service_names().len(),
        )
    }
}

impl tower::Service<Arc<Batch>> for DebugExport {
    type Response = ExportOutcome;
    type Error = BoxError;
    type Future = std::future::Ready<Result<ExportOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, batch: Arc<Batch>) -> Self::Future {
        let mut out = std::io::stdout().lock();
        let mut result = writeln!(out, "{}", Self::summary(&self.id, &batch));
        if self.verbosity == Verbosity::Detailed && result.is_ok() {
            result = out
                .write_all(batch.encoded(WireFormat::Json, false))
                .and_then(|_| writeln!(out));
        }
        let _ = out.flush();
        // A closed stdout is not worth retrying; the batch counts as sent either way.
        drop(result);
        std::future::ready(Ok(ExportOutcome::default()))
    }
}

impl ExporterType for DebugExporterConfig {
    fn sending_queue(&self) -> &QueueConfig {
        &self.sending_queue
    }

    fn check(&self, path: &str, _signals: &BTreeSet<Signal>, out: &mut Vec<Diagnostic>) {
        check_queue(path, &self.sending_queue, out);
    }

    fn client(
        &self,
        id: &str,
        _metrics: &SelfMetrics,
        _stop: &std::sync::Arc<crate::exporters::queue::Stop>,
    ) -> Result<Client, ExporterBuildError> {
        Ok(tower::util::BoxCloneService::new(DebugExport::new(id, self.verbosity)).into())
    }
}
