//! The one ingest entry point. A receiver owns an [`Entry`] and hands it each request body with
//! its encoding ([`Entry::accept`]); everything from there on is the pipeline's: refusing early
//! when the queues would refuse anyway, passing the bytes through undecoded when no pipeline
//! changes them, otherwise decoding, applying the receiver's `limits:`, running every pipeline's
//! processors in place, feeding connectors, batching and offering the result to every exporter
//! queue — never waiting on an exporter, only (for persistent queues) on the disk. Receivers
//! speak their transport and map [`IngestError`] to a status.

use super::admission::{admit_all, reserve_all, Admission, Refusal, Reservation};
use super::fanout;
use super::limits::{Limit, Limits, LimitsConfig};
use super::{Pipeline, Routes, Stage};
use crate::base::Swap;
use crate::codec::{json, scan, Batch, Payload, WireFormat};
use crate::exporters::config::OnFull;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceRequest, metrics::v1::ExportMetricsServiceRequest,
    trace::v1::ExportTraceServiceRequest,
};
use processors::logs_view::LogsView;
use processors::{Metadata, OtlpRequest, ProcessContext, Signal};
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use std::borrow::Cow;
use std::sync::Arc;

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// No pipeline of this signal uses the receiver.
    #[error("no {0} pipeline uses this receiver")]
    NotRouted(Signal),
    /// A memory limiter refuses new data: the client should retry later.
    #[error("the gateway is over its memory limit; retry later")]
    Overloaded,
    /// The body does not decode as an OTLP request of its signal.
    #[error("{0}")]
    Invalid(String),
    /// Decoding the request would take more than the receiver's decoding limits allow: the
    /// client should send smaller requests (not retryable).
    #[error("{0}")]
    TooLarge(String),
    /// Every exporter queue refused the data, or one that rejects when full had no room: the
    /// client should retry later.
    #[error("exporter queues are full; retry later")]
    Unavailable,
    /// A persistent queue could not store the data (e.g. disk full): retry later.
    #[error("the persistent queue could not store the data; retry later")]
    Storage,
}

/// Where one receiver's requests enter the pipelines: its routes and memory limiters (both
/// swapped whole by a config reload), its `limits:`, and its accepted/refused counters.
pub struct Entry {
    id: String,
    routes: Swap<Routes>,
    admission: Swap<Vec<Arc<Admission>>>,
    limits: Limits,
    decoding: Decoding,
    limited: Counter,
    accepted: SignalCounters,
    accepted_requests: Counter,
    refused: SignalCounters,
    refused_requests: Counter,
}

impl Entry {
    /// The entry of receiver `id`.
    pub fn new(
        id: &str,
        routes: Routes,
        admission: Vec<Arc<Admission>>,
        limits: &LimitsConfig,
        metrics: &SelfMetrics,
    ) -> Self {
        let requests = |name| metrics.request_counter(name, "receiver", id);
        Entry {
            id: id.to_string(),
            routes: Swap::new(routes),
            admission: Swap::new(admission),
            limits: Limits::from(limits),
            decoding: Decoding {
                max_items: limits.max_items_per_request,
                max_bytes: limits.max_decoded_size.0,
                turns: Arc::new(tokio::sync::Semaphore::new(
                    limits.max_concurrent_decodes.max(1),
                )),
                wait: limits.decode_wait.0,
            },
            limited: requests(names::RECEIVER_LIMITED_VALUES),
            accepted: SignalCounters::new(metrics, names::RECEIVER_ACCEPTED, "receiver", id),
            accepted_requests: requests(names::RECEIVER_ACCEPTED_REQUESTS),
            refused: SignalCounters::new(metrics, names::RECEIVER_REFUSED, "receiver", id),
            refused_requests: requests(names::RECEIVER_REFUSED_REQUESTS),
        }
    }

    /// The receiver id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether any current pipeline takes `signal` from this receiver.
    pub fn takes(&self, signal: Signal) -> bool {
        self.routes.load().has(signal)
    }

    /// Admission control, before a body is read: `Err(Overloaded)` while a memory limiter of
    /// the receiver's pipelines refuses.
    pub fn admit(&self) -> Result<(), IngestError> {
        if admit_all(&self.admission.load()) {
            return Ok(());
        }
        crate::telemetry::warn_rate_limited(
            &self.id,
            "memory limit reached: requests refused (503)",
        );
        Err(IngestError::Overloaded)
    }

    /// Counts a request the receiver refused before handing it to [`Entry::accept`] (bad
    /// credentials, path, media type, size, admission). `accept` counts its own refusals.
    pub fn count_refused_request(&self) {
        self.refused_requests.inc();
    }

    /// Config reload: later requests go to these pipelines and memory limiters. Returns the
    /// previous routes (the caller drops them once in-flight requests are done).
    pub fn swap(&self, routes: Routes, admission: Vec<Arc<Admission>>) -> Arc<Routes> {
        self.admission.store(Arc::new(admission));
        self.routes.store(Arc::new(routes))
    }

    /// Ingests one request body of `signal` in `format`, and returns once every exporter queue
    /// that took it has it (persistent queues: on disk). Counts the request and its items as
    /// accepted or refused.
    pub async fn accept(
        &self,
        signal: Signal,
        body: Bytes,
        format: WireFormat,
        metadata: &Metadata,
    ) -> Result<(), IngestError> {
        // The routes of the moment: a reload swapping them meanwhile does not affect this request.
        let routes = self.routes.load();
        let fast = match format {
            WireFormat::Proto => fast_path(&routes, signal, &body, &self.limits),
            WireFormat::Json => None,
        };
        let (items, ingested, reserved) = match fast {
            Some((items, ingested)) => (items, ingested, Vec::new()),
            None => {
                self.decode_path(&routes, signal, body, format, metadata)
                    .await
            }
        };
        drop(routes);
        let result = match ingested {
            Ok(pending) => pending.settle().await,
            Err(e) => Err(e),
        };
        // The memory promised to the request is given back once it is answered.
        drop(reserved);
        self.count(signal, items, &result);
        result
    }

    /// Decodes a request within the decoding budget — its item count and estimated decoded
    /// size checked before a byte is decoded, that size reserved with every memory limiter,
    /// one of `max_concurrent_decodes` turns taken — then applies `limits:` and runs the
    /// pipelines.
    async fn decode_path(
        &self,
        routes: &Routes,
        signal: Signal,
        body: Bytes,
        format: WireFormat,
        metadata: &Metadata,
    ) -> (u64, Result<Pending, IngestError>, Vec<Reservation>) {
        let limiters = self.admission.load();
        let estimate = match format {
            // Without a memory limiter to reserve with, a body too small to break the limits
            // even at the worst amplification needs no estimate.
            WireFormat::Proto if limiters.is_empty() && self.decoding.harmless(body.len()) => None,
            WireFormat::Proto => Some(scan::estimate(signal, &body).unwrap_or(scan::Estimate {
                items: 0,
                // The scan could not vouch for the encoding: assume the worst the wire allows.
                decoded_bytes: (body.len() as u64).saturating_mul(scan::WORST_AMPLIFICATION),
            })),
            WireFormat::Json => Some(scan::Estimate {
                items: 0,
                decoded_bytes: json::estimate_decoded(&body),
            }),
        };
        let reserved = match estimate.map(|e| self.decoding.admit(&e, &limiters)) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return (estimate.map_or(0, |e| e.items), Err(e), Vec::new()),
            None => Vec::new(),
        };
        drop(limiters);
        let Ok(Ok(_turn)) =
            tokio::time::timeout(self.decoding.wait, self.decoding.turns.acquire()).await
        else {
            // Without an estimate (a small protobuf body), a quick count of its items.
            let items =
                estimate.map_or_else(|| scan::count(signal, &body).unwrap_or(0), |e| e.items);
            return (items, Err(IngestError::Overloaded), reserved);
        };
        if format == WireFormat::Proto && signal == Signal::Logs && takes_log_views(routes) {
            let limits = self.limits.view_limits(self.decoding.max_items);
            if let Some(view) = LogsView::parse(&body, &limits) {
                let (items, ingested) = self.limited_ingest_view(routes, view, metadata);
                return (items, ingested, reserved);
            }
        }
        let decoded = match format {
            WireFormat::Proto => decode_proto(signal, body),
            WireFormat::Json => decode_json(signal, &body),
        };
        let (items, ingested) = match decoded {
            Ok(p) if p.item_count() as u64 > self.decoding.max_items => (
                p.item_count() as u64,
                Err(self.decoding.too_many(p.item_count() as u64)),
            ),
            Ok(payload) => self.ingest_payload(routes, payload, metadata),
            Err(e) => (0, Err(e)),
        };
        (items, ingested, reserved)
    }

    /// Counts an answered request: accepted, or refused with its items.
    fn count(&self, signal: Signal, items: u64, result: &Result<(), IngestError>) {
        match result {
            Ok(()) => {
                self.accepted.add(signal, items);
                self.accepted_requests.inc();
            }
            Err(e) => {
                self.refused.add(signal, items);
                self.refused_requests.inc();
                if *e == IngestError::Unavailable {
                    crate::telemetry::warn_rate_limited(
                        &self.id,
                        "exporter queues full: request refused (503)",
                    );
                }
            }
        }
    }

    /// A decoded request: limits, then the pipelines.
    fn ingest_payload(
        &self,
        routes: &Routes,
        payload: Payload,
        metadata: &Metadata,
    ) -> (u64, Result<Pending, IngestError>) {
        match payload {
            Payload::Traces(r) => self.limited_ingest(routes, r, metadata),
            Payload::Metrics(r) => self.limited_ingest(routes, r, metadata),
            Payload::Logs(r) => self.limited_ingest(routes, r, metadata),
        }
    }

    fn limited_ingest<R>(
        &self,
        routes: &Routes,
        mut req: R,
        metadata: &Metadata,
    ) -> (u64, Result<Pending, IngestError>)
    where
        R: OtlpRequest + Into<Payload> + Limit,
    {
        self.count_limited(req.limit(&self.limits));
        let items = req.item_count() as u64;
        (items, routes.ingest(req, metadata))
    }

    /// [`Entry::limited_ingest`] for a logs request read as a view.
    fn limited_ingest_view(
        &self,
        routes: &Routes,
        mut view: LogsView<'_>,
        metadata: &Metadata,
    ) -> (u64, Result<Pending, IngestError>) {
        self.count_limited(view.limit(&self.limits));
        let items = view.item_count() as u64;
        (items, routes.ingest_log_view(view, metadata))
    }

    /// Counts (and logs, rate-limited) what the receiver limits changed in one request.
    fn count_limited(&self, changed: u64) {
        if changed > 0 {
            self.limited.inc_by(changed);
            crate::telemetry::warn_rate_limited(
                &self.id,
                "attributes or values over the receiver limits were dropped or truncated",
            );
        }
    }
}

/// The decoding budget of one receiver.
struct Decoding {
    max_items: u64,
    max_bytes: u64,
    turns: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl Decoding {
    /// Checks an estimate against the limits and reserves its size with the memory limiters.
    fn admit(
        &self,
        estimate: &scan::Estimate,
        limiters: &[Arc<Admission>],
    ) -> Result<Vec<Reservation>, IngestError> {
        if estimate.items > self.max_items {
            return Err(self.too_many(estimate.items));
        }
        if estimate.decoded_bytes > self.max_bytes {
            return Err(IngestError::TooLarge(format!(
                "the request would take about {} MiB decoded, over max_decoded_size ({} MiB): \
                 send smaller requests",
                estimate.decoded_bytes >> 20,
                self.max_bytes >> 20
            )));
        }
        reserve_all(limiters, estimate.decoded_bytes).map_err(|r| match r {
            Refusal::Busy => IngestError::Overloaded,
            Refusal::TooLarge => IngestError::TooLarge(format!(
                "the request would take about {} MiB decoded, more than the memory limiter \
                 allows: send smaller requests",
                estimate.decoded_bytes >> 20
            )),
        })
    }

    /// Whether a protobuf body of `len` bytes is within the item and size limits whatever it
    /// holds: every item takes two bytes at least, and nothing decodes to more than
    /// [`scan::WORST_AMPLIFICATION`] times its encoding.
    fn harmless(&self, len: usize) -> bool {
        let len = len as u64;
        len / 2 <= self.max_items && len.saturating_mul(scan::WORST_AMPLIFICATION) <= self.max_bytes
    }

    fn too_many(&self, items: u64) -> IngestError {
        IngestError::TooLarge(format!(
            "{items} items in one request, over max_items_per_request ({})",
            self.max_items
        ))
    }
}

/// The protobuf fast paths, tried before decoding: a request the queues would refuse anyway is
/// refused ([`refuses_early`]); when every pipeline passes requests through unchanged and
/// [`scan::scan`] vouches for the bytes (prost decodes them, the limits and pruning would not
/// change them, it has items), the bytes themselves go to the exporters. `None`: decode it.
fn fast_path(
    routes: &Routes,
    signal: Signal,
    body: &Bytes,
    limits: &Limits,
) -> Option<(u64, Result<Pending, IngestError>)> {
    // Items are counted (a scan) only when refused, and at most once.
    let counted = std::cell::OnceCell::new();
    let count = || *counted.get_or_init(|| scan::count(signal, body).unwrap_or(0));
    if refuses_early(routes, signal, body.len() as u64, count) {
        return Some((count(), Err(IngestError::Unavailable)));
    }
    if !passes_through(routes, signal) {
        return None;
    }
    let found = scan::scan(signal, body, &limits.scan_limits()).ok()?;
    if found.items == 0 || found.has_empty {
        return None;
    }
    let batch = Batch::from_proto(signal, body.clone(), found.items as usize);
    Some((found.items, ingest_encoded(routes, Arc::new(batch))))
}

fn decode_proto(signal: Signal, body: Bytes) -> Result<Payload, IngestError> {
    fn one<M: Message + Default + Into<Payload>>(body: Bytes) -> Result<Payload, IngestError> {
        M::decode(body)
            .map(Into::into)
            .map_err(|e| IngestError::Invalid(format!("invalid OTLP protobuf: {e}")))
    }
    let payload = match signal {
        Signal::Traces => one::<ExportTraceServiceRequest>(body),
        Signal::Metrics => one::<ExportMetricsServiceRequest>(body),
        Signal::Logs => one::<ExportLogsServiceRequest>(body),
    }?;
    crate::codec::ids::check(&payload)
        .map_err(|e| IngestError::Invalid(format!("invalid OTLP protobuf: {e}")))?;
    Ok(payload)
}

fn decode_json(signal: Signal, body: &[u8]) -> Result<Payload, IngestError> {
    let invalid = |e: json::JsonError| IngestError::Invalid(e.to_string());
    Ok(match signal {
        Signal::Traces => json::decode_traces(body).map_err(invalid)?.into(),
        Signal::Metrics => json::decode_metrics(body).map_err(invalid)?.into(),
        Signal::Logs => json::decode_logs(body).map_err(invalid)?.into(),
    })
}

/// Durability acknowledgements a request's answer waits for (persistent queues only).
#[derive(Default)]
pub struct Pending {
    durable: Vec<fanout::Durable>,
}

impl Pending {
    /// Waits until every persistent queue has stored the data.
    pub async fn settle(self) -> Result<(), IngestError> {
        for d in self.durable {
            match d.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(IngestError::Storage),
            }
        }
        Ok(())
    }
}

impl Routes {
    /// Runs a decoded `req` through every pipeline of its signal and offers the results to
    /// the exporters. A request is accepted when at least one exporter queue took it (or
    /// processors removed everything on purpose) and no `on_full: reject` queue refused it;
    /// the answer then waits for [`Pending::settle`] (persistent queues).
    pub fn ingest<R>(&self, mut req: R, metadata: &Metadata) -> Result<Pending, IngestError>
    where
        R: OtlpRequest + Into<Payload>,
    {
        let pipelines = self.get(R::SIGNAL);
        let Some((last, firsts)) = pipelines.split_last() else {
            return Err(IngestError::NotRouted(R::SIGNAL));
        };
        let mut total = Outcome::default();
        for p in firsts {
            total.add(run_one(p, req.clone(), metadata));
        }
        // The last pipeline takes the request itself: no copy when there is one pipeline.
        total.add(run_one(last, std::mem::take(&mut req), metadata));
        total.answer()
    }

    /// [`Routes::ingest`] for a logs request read as a view ([`takes_log_views`]): each
    /// pipeline processes its own copy of the view (the last one the view itself) and encodes
    /// it once for its exporters.
    pub fn ingest_log_view(
        &self,
        mut view: LogsView<'_>,
        metadata: &Metadata,
    ) -> Result<Pending, IngestError> {
        let pipelines = self.get(Signal::Logs);
        let Some((last, firsts)) = pipelines.split_last() else {
            return Err(IngestError::NotRouted(Signal::Logs));
        };
        let mut total = Outcome::default();
        for p in firsts {
            total.add(run_view(p, view.clone(), metadata));
        }
        total.add(run_view(last, std::mem::take(&mut view), metadata));
        total.answer()
    }
}

/// Whether every pipeline of the logs signal takes requests as views of their bytes
/// ([`Pipeline::log_views`]).
fn takes_log_views(routes: &Routes) -> bool {
    let pipelines = routes.get(Signal::Logs);
    !pipelines.is_empty() && pipelines.iter().all(|p| p.log_views)
}

/// [`run_one`] on a view: its processors keep every record, so the item count of each stage is
/// the request's, and nothing is pruned (a view has no empty scope or resource).
fn run_view(p: &Pipeline, mut view: LogsView<'_>, metadata: &Metadata) -> Outcome {
    let mut cx = ProcessContext::new(metadata);
    let items = view.item_count() as u64;
    for stage in &p.stages {
        stage.processor.process_log_views(&mut view, &mut cx);
        count_stage(stage, Signal::Logs, items, items, &mut cx);
    }
    let bytes = view.encode_to_vec();
    drop(view);
    let batch = Batch::from_proto(Signal::Logs, bytes.into(), items as usize);
    fan_out_outcome(p, &Arc::new(batch))
}

/// Counts one stage's items in and out, what it dropped and its audit events.
fn count_stage(
    stage: &Stage,
    signal: Signal,
    incoming: u64,
    outgoing: u64,
    cx: &mut ProcessContext<'_>,
) {
    stage.incoming.add(signal, incoming);
    stage.outgoing.add(signal, outgoing);
    stage.dropped.add(signal, cx.take_dropped());
    for (event, rule, n) in cx.take_counts() {
        stage.metrics.processor_event(&stage.id, event, &rule, n);
    }
}

/// Offers a batch to the pipeline's exporter queues.
fn fan_out_outcome(p: &Pipeline, batch: &Arc<Batch>) -> Outcome {
    let f = fanout::fan_out(&p.exporters, batch);
    Outcome {
        to_send: true,
        accepted: f.accepted > 0,
        rejected: f.rejected,
        durable: f.durable,
    }
}

/// Whether the pipelines of `signal` will refuse a protobuf request of `bytes` anyway, judged
/// before it is decoded: a size-preserving pipeline ([`Pipeline::size_preserving`]) has an
/// `on_full: reject` queue without room for it, or every pipeline is size-preserving and none of
/// their queues has room. Such a request would be refused (503 / UNAVAILABLE) after decoding
/// and processing; it is refused first, with no work spent on it. In the second case each
/// queue counts the items as it would have (`items` is called only then). The fan-out's
/// reservation stays the real check for everything admitted here.
fn refuses_early(routes: &Routes, signal: Signal, bytes: u64, items: impl FnOnce() -> u64) -> bool {
    let pipelines = routes.get(signal);
    let judged = |p: &Arc<Pipeline>| p.size_preserving && !p.exporters.is_empty();
    let reject_full = pipelines.iter().filter(|p| judged(p)).any(|p| {
        p.exporters
            .iter()
            .any(|q| q.on_full() == OnFull::Reject && !q.could_take(bytes))
    });
    if reject_full {
        return true;
    }
    let all_full = !pipelines.is_empty()
        && pipelines
            .iter()
            .all(|p| judged(p) && p.exporters.iter().all(|q| !q.could_take(bytes)));
    if all_full {
        let n = items();
        for q in pipelines.iter().flat_map(|p| &p.exporters) {
            q.count_full_items(signal, n);
        }
    }
    all_full
}

/// Whether every pipeline of `signal` forwards requests unchanged (no processors, no batch
/// stage, no connector: a connector reads the decoded request), so the request's own encoding
/// may be handed over ([`ingest_encoded`]).
fn passes_through(routes: &Routes, signal: Signal) -> bool {
    let pipelines = routes.get(signal);
    !pipelines.is_empty()
        && pipelines
            .iter()
            .all(|p| p.stages.is_empty() && p.batcher.is_none() && p.connectors.is_empty())
}

/// Offers one already-encoded, non-empty batch, shared, to the exporter queues of every
/// pipeline of its signal (pass-through pipelines, see [`passes_through`]).
fn ingest_encoded(routes: &Routes, batch: Arc<Batch>) -> Result<Pending, IngestError> {
    let pipelines = routes.get(batch.signal());
    if pipelines.is_empty() {
        return Err(IngestError::NotRouted(batch.signal()));
    }
    let mut total = Outcome::default();
    for p in pipelines {
        let f = fanout::fan_out(&p.exporters, &batch);
        total.add(Outcome {
            to_send: true,
            accepted: f.accepted > 0,
            rejected: f.rejected,
            durable: f.durable,
        });
    }
    if total.rejected || !total.accepted {
        return Err(IngestError::Unavailable);
    }
    Ok(Pending {
        durable: total.durable,
    })
}

#[derive(Default)]
struct Outcome {
    to_send: bool,
    accepted: bool,
    rejected: bool,
    durable: Vec<fanout::Durable>,
}

impl Outcome {
    /// The answer to a request every pipeline of its signal has run: refused when an
    /// `on_full: reject` queue refused it, or when there was something to send and no queue
    /// took it.
    fn answer(self) -> Result<Pending, IngestError> {
        if self.rejected || (self.to_send && !self.accepted) {
            return Err(IngestError::Unavailable);
        }
        Ok(Pending {
            durable: self.durable,
        })
    }

    fn add(&mut self, o: Outcome) {
        self.to_send |= o.to_send;
        self.accepted |= o.accepted;
        self.rejected |= o.rejected;
        self.durable.extend(o.durable);
    }
}

/// Runs one pipeline over `req`: its processors in place (counting items in and out of each
/// stage and their audit events), pruning, its connectors, then its batch stage or the fan-out.
fn run_one<R>(p: &Pipeline, mut req: R, metadata: &Metadata) -> Outcome
where
    R: OtlpRequest + Into<Payload>,
{
    let mut cx = ProcessContext::new(metadata);
    // Items in and out of each stage: one walk of the request per stage (plus one before the
    // first), and the last count doubles as the emptiness check below (pruning removes empty
    // scopes and resources, never items).
    let mut items = req.item_count() as u64;
    for stage in &p.stages {
        let incoming = items;
        req.process_with(stage.processor.as_ref(), &mut cx);
        items = req.item_count() as u64;
        count_stage(stage, R::SIGNAL, incoming, items, &mut cx);
    }
    req.prune();
    if items == 0 {
        return Outcome::default();
    }
    let mut total = Outcome::default();
    let Some(req) = feed_connectors(p, req, metadata, &mut total) else {
        return total;
    };
    total.add(match &p.batcher {
        // Held by the batch stage: accepted; what its flush cannot queue is counted there.
        Some(b) => {
            p.send(b.add(req.into()));
            Outcome {
                to_send: true,
                accepted: true,
                ..Outcome::default()
            }
        }
        None => fan_out_outcome(p, &Arc::new(p.batch_of(req.into()))),
    });
    total
}

/// Hands the processed request to the pipeline's connectors; what they did goes to `total`. The
/// last connector of a pipeline with no exporter and no batch stage takes the request itself
/// (`None` is returned); otherwise each borrows it and it is returned for the exporters.
fn feed_connectors<R>(p: &Pipeline, req: R, metadata: &Metadata, total: &mut Outcome) -> Option<R>
where
    R: OtlpRequest + Into<Payload>,
{
    let mut add = |d: super::connector::Delivered| {
        total.add(Outcome {
            to_send: true,
            accepted: d.accepted,
            rejected: false,
            durable: d.pending.into_iter().flat_map(|p| p.durable).collect(),
        })
    };
    let Some((last, firsts)) = p.connectors.split_last() else {
        return Some(req);
    };
    for link in firsts {
        add(link.consume(Cow::Borrowed(&req), metadata));
    }
    if p.exporters.is_empty() && p.batcher.is_none() {
        add(last.consume(Cow::<R>::Owned(req), metadata));
        return None;
    }
    add(last.consume(Cow::Borrowed(&req), metadata));
    Some(req)
}
