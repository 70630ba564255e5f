//! Where `ingest` sends its requests: a running gateway over OTLP/HTTP protobuf ([`HttpSink`]),
//! or the pipelines of a config built in-process ([`PipelineSink`]) with the project's builder, so
//! the config's processors and exporters apply. Both only report success once the data is
//! acknowledged: a 2xx answer from the gateway, or (pipelines) every exporter drained its queue
//! with nothing failed, refused or left over.

use crate::app::builder::{self, GraphError};
use crate::config::Validated;
use crate::exporters::classify::{self, ExportError};
use crate::exporters::RunningExporter;
use crate::pipeline::{IngestError, Pipeline, Routes};
use crate::telemetry::metrics::{names, SelfMetrics};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use processors::{Metadata, OtlpRequest, Signal};
use prost::Message;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Why data could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint URL or a header is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The gateway could not be reached (after retries).
    #[error("POST {url}: {message}")]
    Connect {
        /// URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The gateway answered with an error status (after retries for retryable ones).
    #[error("POST {url}: HTTP {status}: {body}")]
    Status {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the answer body.
        body: String,
    },
    /// The config's pipelines could not be built.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The config has no pipeline for logs nor metrics.
    #[error("the config has no logs or metrics pipeline to send usage through")]
    NotRouted,
    /// The pipelines refused data for longer than the deadline (queues full, storage failing).
    #[error("the pipelines refused the data: {0}")]
    Refused(IngestError),
    /// Items were still queued when the drain deadline passed.
    #[error("exporter {exporter}: {items} item(s) still queued at the drain deadline (service.shutdown_timeout)")]
    Leftover {
        /// Exporter id.
        exporter: String,
        /// How many.
        items: u64,
    },
    /// Exporters failed to deliver some items.
    #[error("exporter {exporter}: {items} {signal} item(s) were not delivered ({why})")]
    Undelivered {
        /// Exporter id.
        exporter: String,
        /// Signal.
        signal: Signal,
        /// How many.
        items: u64,
        /// Failed, queue full, or left at the drain deadline.
        why: &'static str,
    },
}

/// Items the receiving side accepted but then rejected (OTLP partial success).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Log records.
    pub log_records: u64,
    /// Metric data points.
    pub data_points: u64,
}

/// A destination for usage requests.
pub enum Sink {
    /// A running gateway's OTLP/HTTP receiver.
    Http(HttpSink),
    /// A config's pipelines, in-process.
    Pipelines(Box<PipelineSink>),
}

impl Sink {
    /// Sends one pair of requests (empty ones are skipped) and waits for the acknowledgement that
    /// this sink can give now (the gateway's answer; for pipelines, the queues taking the data).
    pub async fn send(
        &mut self,
        logs: ExportLogsServiceRequest,
        metrics: ExportMetricsServiceRequest,
    ) -> Result<Rejected, DeliveryError> {
        match self {
            Sink::Http(h) => h.send(logs, metrics).await,
            Sink::Pipelines(p) => p.send(logs, metrics).await,
        }
    }

    /// Whether the state may be saved after each [`Sink::send`] (the gateway acknowledged), or
    /// only after [`Sink::finish`] (the pipelines must drain first).
    pub fn acks_each_send(&self) -> bool {
        matches!(self, Sink::Http(_))
    }

    /// Finishes: for pipelines, drains every exporter and checks that nothing was lost.
    pub async fn finish(self) -> Result<(), DeliveryError> {
        match self {
            Sink::Http(_) => Ok(()),
            Sink::Pipelines(p) => p.finish().await,
        }
    }
}

/// Retry attempts of one POST (retryable statuses and connection errors).
const HTTP_ATTEMPTS: u32 = 5;

/// OTLP/HTTP protobuf to a running gateway.
pub struct HttpSink {
    client: reqwest::Client,
    logs_url: String,
    metrics_url: String,
    headers: http::HeaderMap,
}

impl HttpSink {
    /// A sink posting to `endpoint` (`http://host:4318`, `/v1/logs` and `/v1/metrics` appended)
    /// with these extra headers.
    pub fn new(
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, DeliveryError> {
        let base = endpoint.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(DeliveryError::Invalid(format!(
                "--endpoint {endpoint:?}: use http://host:port or https://host:port"
            )));
        }
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            let name = http::HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| DeliveryError::Invalid(format!("header name {k:?} is not valid")))?;
            let value = http::HeaderValue::from_str(v.trim()).map_err(|_| {
                DeliveryError::Invalid(format!("the value of header {k:?} is not valid"))
            })?;
            map.append(name, value);
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| DeliveryError::Invalid(format!("HTTP client: {e}")))?;
        Ok(HttpSink {
            client,
            logs_url: format!("{base}/v1/logs"),
            metrics_url: format!("{base}/v1/metrics"),
            headers: map,
        })
    }

    async fn send(
        &self,
        logs: ExportLogsServiceRequest,
        metrics: ExportMetricsServiceRequest,
    ) -> Result<Rejected, DeliveryError> {
        let mut rejected = Rejected::default();
        if logs.item_count() > 0 {
            let body = self.post(&self.logs_url, logs.encode_to_vec()).await?;
            if let Ok(r) = ExportLogsServiceResponse::decode(body.as_slice()) {
                rejected.log_records = r
                    .partial_success
                    .map_or(0, |p| u64::try_from(p.rejected_log_records).unwrap_or(0));
            }
        }
        if metrics.item_count() > 0 {
            let body = self
                .post(&self.metrics_url, metrics.encode_to_vec())
                .await?;
            if let Ok(r) = ExportMetricsServiceResponse::decode(body.as_slice()) {
                rejected.data_points = r
                    .partial_success
                    .map_or(0, |p| u64::try_from(p.rejected_data_points).unwrap_or(0));
            }
        }
        Ok(rejected)
    }

    /// POSTs `body`; retries connection errors and 429/502/503/504 with backoff (honouring a
    /// `Retry-After` in seconds, up to 30 s). Returns the answer body of a 2xx.
    async fn post(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, DeliveryError> {
        // Shared by every attempt without copying.
        let body = bytes::Bytes::from(body);
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .post(url)
                .headers(self.headers.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            let (error, wait) = match result {
                Ok(resp) if resp.status().is_success() => {
                    return resp.bytes().await.map(|b| b.to_vec()).map_err(|e| {
                        DeliveryError::Connect {
                            url: url.to_string(),
                            message: format!("reading the answer: {e}"),
                        }
                    });
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = resp.text().await.unwrap_or_default();
                    let error = DeliveryError::Status {
                        url: url.to_string(),
                        status,
                        body: text.chars().take(200).collect(),
                    };
                    // The exporters' OTLP retry table and Retry-After parsing (seconds or
                    // HTTP-date), with the wait capped at 30 s.
                    match classify::http_status(status, retry_after.as_deref(), "") {
                        ExportError::Retryable { retry_after, .. } => {
                            (error, retry_after.map(|d| d.min(Duration::from_secs(30))))
                        }
                        ExportError::Permanent { .. } => return Err(error),
                    }
                }
                Err(e) => (
                    DeliveryError::Connect {
                        url: url.to_string(),
                        message: format!("{e:#}"),
                    },
                    None,
                ),
            };
            if attempt >= HTTP_ATTEMPTS {
                return Err(error);
            }
            tokio::time::sleep(wait.unwrap_or(backoff)).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// A running exporter of the in-process graph.
struct Running {
    exporter: RunningExporter,
    tasks: JoinSet<()>,
}

/// The pipelines of a gateway config, built and run in-process.
pub struct PipelineSink {
    routes: Routes,
    batching: Vec<Arc<Pipeline>>,
    exporters: Vec<Running>,
    metrics: SelfMetrics,
    drain_timeout: Duration,
    warned: BTreeSet<Signal>,
}

/// How long a send waits for full exporter queues to make room.
const REFUSED_DEADLINE: Duration = Duration::from_secs(60);

impl PipelineSink {
    /// Builds the config's pipelines and starts its exporters (receivers are not started). Every
    /// pipeline fed by any receiver takes part, once. Must run inside a tokio runtime.
    pub fn start(cfg: &Validated) -> Result<Self, DeliveryError> {
        let metrics = SelfMetrics::new();
        let graph = builder::build(cfg, &metrics, &Default::default(), &Default::default())?;
        let mut routes = Routes::default();
        let mut seen = BTreeSet::new();
        for plan in &graph.receivers {
            for signal in Signal::ALL {
                for p in plan.routes.get(signal) {
                    if seen.insert(p.id.clone()) {
                        routes.push(p.clone());
                    }
                }
            }
        }
        if !routes.has(Signal::Logs) && !routes.has(Signal::Metrics) {
            return Err(DeliveryError::NotRouted);
        }
        let exporters = graph
            .exporters
            .into_iter()
            .map(|e| {
                let mut tasks = JoinSet::new();
                let exporter = e.start(&mut tasks);
                Running { exporter, tasks }
            })
            .collect();
        Ok(PipelineSink {
            routes,
            batching: graph.batching,
            exporters,
            metrics,
            drain_timeout: cfg.config.service.shutdown_timeout.0,
            warned: BTreeSet::new(),
        })
    }

    async fn send(
        &mut self,
        logs: ExportLogsServiceRequest,
        metrics: ExportMetricsServiceRequest,
    ) -> Result<Rejected, DeliveryError> {
        self.offer(logs).await?;
        self.offer(metrics).await?;
        Ok(Rejected::default())
    }

    async fn offer<R>(&mut self, req: R) -> Result<(), DeliveryError>
    where
        R: OtlpRequest + Into<crate::codec::Payload>,
    {
        if req.item_count() == 0 {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            match self.routes.ingest(req.clone(), &Metadata::default()) {
                Ok(pending) => return pending.settle().await.map_err(DeliveryError::Refused),
                Err(IngestError::NotRouted(signal)) => {
                    if self.warned.insert(signal) {
                        tracing::warn!(
                            "the config has no {signal} pipeline: usage {signal} are not sent"
                        );
                    }
                    return Ok(());
                }
                Err(e) if started.elapsed() < REFUSED_DEADLINE => {
                    tracing::debug!("pipelines busy ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(DeliveryError::Refused(e)),
            }
        }
    }

    async fn finish(self) -> Result<(), DeliveryError> {
        let PipelineSink {
            routes,
            batching,
            exporters,
            metrics,
            drain_timeout,
            ..
        } = self;
        // Batch stages hand over what they hold as their pipelines go; then the queues close.
        drop(routes);
        for p in &batching {
            p.flush_batches(true);
        }
        drop(batching);
        let (mut running, mut sets): (Vec<_>, Vec<_>) =
            exporters.into_iter().map(|r| (r.exporter, r.tasks)).unzip();
        let drained = async {
            for set in &mut sets {
                while set.join_next().await.is_some() {}
            }
        };
        let timed_out = tokio::time::timeout(drain_timeout, drained).await.is_err();
        let mut left = Vec::new();
        if timed_out {
            for set in &mut sets {
                set.abort_all();
                while set.join_next().await.is_some() {}
            }
            for e in &running {
                let (dropped, kept) = e.count_leftovers().await;
                left.push((e.id.clone(), dropped + kept));
            }
        }
        let ids: Vec<String> = running.iter().map(|e| e.id.clone()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            running.drain(..).for_each(RunningExporter::finish)
        })
        .await;
        for (id, n) in left {
            if n > 0 {
                return Err(DeliveryError::Leftover {
                    exporter: id,
                    items: n,
                });
            }
        }
        for id in &ids {
            for signal in [Signal::Logs, Signal::Metrics] {
                for (stem, why) in [
                    (
                        names::EXPORTER_SEND_FAILED,
                        "the backend refused them or retries ran out",
                    ),
                    (
                        names::EXPORTER_ENQUEUE_FAILED,
                        "the exporter queue was full",
                    ),
                    (
                        names::EXPORTER_SHUTDOWN_DROPPED,
                        "still queued at the drain deadline",
                    ),
                ] {
                    let items = metrics.counter(stem, signal, "exporter", id).get();
                    if items > 0 {
                        return Err(DeliveryError::Undelivered {
                            exporter: id.clone(),
                            signal,
                            items,
                            why,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
