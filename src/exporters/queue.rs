//! Each exporter's own bounded queue and its worker tasks. The ingest path only ever reserves
//! room ([`QueueSender::try_reserve`]) and hands the batch over, never waiting for a backend: a
//! full queue is a counted drop for this exporter alone (`on_full: drop`) or a refusal of the
//! whole request before anything is enqueued anywhere (`on_full: reject`). Bounds are requests
//! and encoded bytes. A persistent queue ([`super::persistent`]) writes each batch durably
//! before the client is answered; workers delete what they delivered. With
//! `sending_queue.batch` ([`QueueBatchConfig`]), a worker sends the requests queued behind the
//! one it took as one export, their protobuf encodings joined ([`Batch::merge`]).
//!
//! Each batch is sent by a task of its own, so that a worker aborted at the shutdown deadline
//! does not cut off a request already on the wire: from the deadline ([`Stop`]) no attempt
//! starts and no retry waits, and a request being answered gets up to `shutdown_grace` (at
//! most the exporter's attempt `timeout`) more; it is then counted by its outcome — sent, or
//! `shutdown_dropped` (in-memory queue) / kept on disk (persistent queue) — never both.

use super::config::{OnFull, QueueBatchConfig};
use super::persistent::{Durable, StoreHandle};
use super::{ExportOutcome, ExportService};
use crate::codec::Batch;
use crate::telemetry::metrics::{names, SelfMetrics, SignalCounters};
use processors::Signal;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

/// Counters and gauges of one exporter.
#[derive(Clone)]
pub struct ExporterStats {
    /// Items delivered.
    pub sent: SignalCounters,
    /// Items given up on.
    pub failed: SignalCounters,
    /// Items dropped because the queue was full.
    pub enqueue_failed: SignalCounters,
    /// Items still queued or in flight at the shutdown deadline (memory queue).
    pub shutdown_dropped: SignalCounters,
    /// Items reloaded from the persistent queue at start.
    pub recovered: SignalCounters,
    /// Queued requests sent merged with others (`sending_queue.batch`).
    merged: Counter,
    /// Losses and write failures of the persistent queue.
    pub store: Arc<super::persistent::StoreCounters>,
    queue_size: Gauge,
    queue_bytes: Gauge,
    in_flight: Arc<InFlightStats>,
}

/// What the workers are sending now, and the byte bound (set by [`bounded`]). Behind one `Arc`
/// so that [`ExporterStats`], copied into every queued persistent-queue operation, stays small.
struct InFlightStats {
    /// Items being sent, per signal (counted as dropped if still there at the deadline).
    items: [AtomicU64; 3],
    /// `gateway_exporter_in_flight_requests`.
    requests: Gauge,
    /// `gateway_exporter_queue_capacity_bytes`.
    capacity_bytes: Gauge,
    /// Items of requests given up at the shutdown deadline by their own send task.
    cut_off: AtomicU64,
}

impl ExporterStats {
    /// Resolves the exporter's metrics.
    pub fn new(m: &SelfMetrics, id: &str, capacity: usize) -> Self {
        let c = |stem| SignalCounters::new(m, stem, "exporter", id);
        m.gauge(names::EXPORTER_QUEUE_CAPACITY, "exporter", id)
            .set(i64::try_from(capacity).unwrap_or(i64::MAX));
        ExporterStats {
            sent: c(names::EXPORTER_SENT),
            failed: c(names::EXPORTER_SEND_FAILED),
            enqueue_failed: c(names::EXPORTER_ENQUEUE_FAILED),
            shutdown_dropped: c(names::EXPORTER_SHUTDOWN_DROPPED),
            recovered: c(names::EXPORTER_QUEUE_RECOVERED),
            merged: m.request_counter(names::EXPORTER_MERGED_REQUESTS, "exporter", id),
            store: Arc::new(super::persistent::StoreCounters::new(m, id)),
            queue_size: m.gauge(names::EXPORTER_QUEUE_SIZE, "exporter", id),
            queue_bytes: m.gauge(names::EXPORTER_QUEUE_BYTES, "exporter", id),
            in_flight: Arc::new(InFlightStats {
                items: Default::default(),
                requests: m.gauge(names::EXPORTER_IN_FLIGHT_REQUESTS, "exporter", id),
                capacity_bytes: m.gauge(names::EXPORTER_QUEUE_CAPACITY_BYTES, "exporter", id),
                cut_off: AtomicU64::new(0),
            }),
        }
    }
}

/// The shutdown deadline of one exporter, shared by its workers, its send tasks and its retry
/// layer: once stopped, no attempt starts, no retry waits, and requests being answered get
/// `grace` (`sending_queue.shutdown_grace`, at most the exporter's attempt timeout) to finish.
pub struct Stop {
    stopped: watch::Sender<bool>,
    grace: Duration,
}

impl Stop {
    /// A stop signal whose in-flight requests get `grace` after it fires.
    pub fn new(grace: Duration) -> Self {
        Stop {
            stopped: watch::Sender::new(false),
            grace,
        }
    }

    /// Fires the signal (idempotent).
    pub fn stop(&self) {
        self.stopped.send_replace(true);
    }

    /// Whether the signal has fired.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Resolves once the signal fires.
    pub async fn stopped(&self) {
        let mut rx = self.stopped.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Resolves `grace` after the signal fires.
    async fn grace_over(&self) {
        self.stopped().await;
        tokio::time::sleep(self.grace).await;
    }
}

/// Room in a queue: requests and encoded bytes, shared by senders and workers.
pub struct Capacity {
    max_requests: usize,
    max_bytes: u64,
    requests: AtomicUsize,
    bytes: AtomicU64,
}

impl Capacity {
    /// A queue of at most `max_requests` requests and `max_bytes` bytes.
    pub fn new(max_requests: usize, max_bytes: u64) -> Self {
        Capacity {
            max_requests: max_requests.max(1),
            max_bytes,
            requests: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Takes room for one request of `bytes`. An empty queue takes any one request, so a request
    /// larger than `max_bytes` is not refused forever.
    pub fn try_acquire(&self, bytes: u64) -> bool {
        let max_r = self.max_requests;
        if self
            .requests
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                (r < max_r).then_some(r + 1)
            })
            .is_err()
        {
            return false;
        }
        let max_b = self.max_bytes;
        let took = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                (b == 0 || b.saturating_add(bytes) <= max_b).then_some(b.saturating_add(bytes))
            })
            .is_ok();
        if !took {
            self.requests.fetch_sub(1, Ordering::SeqCst);
        }
        took
    }

    /// Whether one request of `bytes` would be taken now ([`Capacity::try_acquire`]'s test,
    /// without taking anything).
    pub fn could_take(&self, bytes: u64) -> bool {
        let b = self.bytes.load(Ordering::SeqCst);
        self.requests.load(Ordering::SeqCst) < self.max_requests
            && (b == 0 || b.saturating_add(bytes) <= self.max_bytes)
    }

    /// Takes room regardless of the bounds (batches recovered from disk at start).
    pub fn force_acquire(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    /// Gives room back.
    pub fn release(&self, bytes: u64) {
        self.requests.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Bytes queued now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Requests queued now.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// One queued batch.
pub struct Entry {
    /// The batch.
    pub batch: Arc<Batch>,
    /// Bytes counted against the queue.
    pub bytes: u64,
    /// Its key in the persistent queue, if any.
    pub key: Option<u64>,
}

/// What the queue shares between its senders, its workers and its store.
#[derive(Clone)]
pub struct QueueCore {
    /// Exporter id.
    pub id: Arc<str>,
    /// Room.
    pub cap: Arc<Capacity>,
    /// Metrics.
    pub stats: ExporterStats,
    /// The shutdown deadline.
    pub stop: Arc<Stop>,
}

/// The way into the workers' channel. Only the sending side holds one, so the channel closes
/// (and the workers drain and stop) once every pipeline is gone.
#[derive(Clone)]
pub struct Feed {
    /// The queue.
    pub core: QueueCore,
    tx: mpsc::UnboundedSender<Entry>,
}

impl Feed {
    /// Hands an admitted entry to the workers.
    pub fn push(&self, entry: Entry) {
        let stats = &self.core.stats;
        stats.queue_size.inc();
        stats
            .queue_bytes
            .inc_by(i64::try_from(entry.bytes).unwrap_or(i64::MAX));
        if let Err(mpsc::error::SendError(e)) = self.tx.send(entry) {
            // Workers are gone (shutdown): give the room back; the caller counts the loss.
            self.core.release(&e);
        }
    }
}

impl QueueCore {
    /// Counts an entry taken off the queue as in flight (until its send is answered).
    fn taken(&self, e: Entry) -> Entry {
        let slot = &self.stats.in_flight.items[e.batch.signal() as usize];
        slot.fetch_add(e.batch.items() as u64, Ordering::SeqCst);
        e
    }

    /// Gives an entry's room back.
    pub fn release(&self, e: &Entry) {
        self.cap.release(e.bytes);
        self.stats.queue_size.dec();
        self.stats
            .queue_bytes
            .dec_by(i64::try_from(e.bytes).unwrap_or(i64::MAX));
    }
}

/// The sending side of an exporter's queue, held by every pipeline that lists the exporter.
#[derive(Clone)]
pub struct QueueSender {
    core: QueueCore,
    feed: Feed,
    on_full: OnFull,
    store: Option<StoreHandle>,
}

/// Room reserved in one queue; released on drop unless the batch was sent.
pub struct Reservation<'a> {
    queue: &'a QueueSender,
    bytes: u64,
    sent: bool,
}

impl Reservation<'_> {
    /// Hands the batch over. A persistent queue returns the durability acknowledgement the
    /// client's answer must wait for.
    pub fn send(mut self, batch: Arc<Batch>) -> Option<Durable> {
        self.sent = true;
        let feed = &self.queue.feed;
        match &self.queue.store {
            Some(store) => Some(store.append(feed.clone(), batch, self.bytes)),
            None => {
                feed.push(Entry {
                    batch,
                    bytes: self.bytes,
                    key: None,
                });
                None
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.queue.core.cap.release(self.bytes);
        }
    }
}

impl QueueSender {
    /// The exporter id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// The queue's room, for admission control.
    pub fn capacity(&self) -> Arc<Capacity> {
        self.core.cap.clone()
    }

    /// What the exporter does when full.
    pub fn on_full(&self) -> OnFull {
        self.on_full
    }

    /// Reserves room for `bytes` without waiting; `None` when full.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation<'_>> {
        // `then`, not `then_some`: a Reservation built for a failed acquire would give back, on
        // drop, room it never took.
        self.core.cap.try_acquire(bytes).then(|| Reservation {
            queue: self,
            bytes,
            sent: false,
        })
    }

    /// Whether a batch of `bytes` would find room now (nothing is reserved).
    pub fn could_take(&self, bytes: u64) -> bool {
        self.core.cap.could_take(bytes)
    }

    /// Counts a batch this exporter had no room for.
    pub fn count_full(&self, batch: &Batch) {
        self.count_full_items(batch.signal(), batch.items() as u64);
    }

    /// Counts `items` of `signal` this exporter had no room for.
    pub fn count_full_items(&self, signal: processors::Signal, items: u64) {
        self.core.stats.enqueue_failed.add(signal, items);
        crate::telemetry::warn_rate_limited(&self.core.id, "sending queue full: batch dropped");
    }

    /// Offers a batch without waiting: reserve and send. `false` (and a counted drop) when full.
    pub fn try_send(&self, batch: Arc<Batch>) -> bool {
        match self.try_reserve(batch.size_bytes()) {
            Some(r) => {
                r.send(batch);
                true
            }
            None => {
                self.count_full(&batch);
                false
            }
        }
    }
}

/// The receiving side: consumed by the workers.
pub struct QueueReceiver {
    core: QueueCore,
    rx: Arc<Mutex<Intake>>,
    store: Option<StoreHandle>,
}

/// The workers' end of the queue, taken by one worker at a time.
struct Intake {
    rx: mpsc::UnboundedReceiver<Entry>,
    /// A request taken off the queue that did not fit the last merged export: the next export
    /// starts with it, whichever worker takes it. Counted as in flight.
    carry: Option<Entry>,
}

/// A queue bounded by `max_requests` and `max_bytes`.
pub fn bounded(
    id: &str,
    max_requests: usize,
    max_bytes: u64,
    on_full: OnFull,
    stats: ExporterStats,
) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    stats
        .in_flight
        .capacity_bytes
        .set(i64::try_from(max_bytes).unwrap_or(i64::MAX));
    let core = QueueCore {
        id: Arc::from(id),
        cap: Arc::new(Capacity::new(max_requests, max_bytes)),
        stats,
        stop: Arc::new(Stop::new(Duration::ZERO)),
    };
    (
        QueueSender {
            core: core.clone(),
            feed: Feed {
                core: core.clone(),
                tx,
            },
            on_full,
            store: None,
        },
        QueueReceiver {
            core,
            rx: Arc::new(Mutex::new(Intake { rx, carry: None })),
            store: None,
        },
    )
}

impl QueueSender {
    /// The way into the workers' channel (for a persistent store's reload and writer).
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Makes this sender write through `store`.
    pub fn with_store(mut self, store: StoreHandle) -> Self {
        self.store = Some(store);
        self
    }
}

impl QueueReceiver {
    /// Makes the workers delete delivered batches from `store`.
    pub fn with_store(mut self, store: StoreHandle) -> Self {
        self.store = Some(store);
        self
    }

    /// Makes the workers obey `stop`, the signal the exporter's retry layer obeys too.
    pub fn with_stop(mut self, stop: Arc<Stop>) -> Self {
        self.core.stop = stop;
        self
    }

    /// Whether the queue is persistent.
    pub fn is_persistent(&self) -> bool {
        self.store.is_some()
    }

    /// Starts `consumers` workers sending through `service` into `tasks`, each export one
    /// request or, with `merge`, several merged.
    pub fn spawn_workers(
        &self,
        consumers: usize,
        merge: Option<&QueueBatchConfig>,
        service: ExportService,
        tasks: &mut JoinSet<()>,
    ) {
        for _ in 0..consumers.max(1) {
            tasks.spawn(worker(
                self.core.clone(),
                self.rx.clone(),
                service.clone(),
                self.store.clone(),
                merge.cloned(),
            ));
        }
    }

    /// After the shutdown deadline (workers aborted): waits for the requests on the wire to be
    /// answered (at most the grace), then counts what was never sent as dropped (memory queue)
    /// or kept on disk (persistent queue). Returns (dropped, kept) items.
    pub async fn count_leftovers(&self) -> (u64, u64) {
        let stats = &self.core.stats;
        self.core.stop.stop();
        let deadline = Instant::now() + self.core.stop.grace + Duration::from_secs(1);
        while stats.in_flight.requests.get() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut left = stats.in_flight.cut_off.swap(0, Ordering::SeqCst);
        let mut intake = self.rx.lock().await;
        // A carried request is counted with the in-flight items below.
        intake.carry = None;
        while let Ok(entry) = intake.rx.try_recv() {
            self.core.release(&entry);
            if self.store.is_none() {
                stats
                    .shutdown_dropped
                    .add(entry.batch.signal(), entry.batch.items() as u64);
            }
            left += entry.batch.items() as u64;
        }
        // Sends that outlived the grace (their tasks count nothing more once this ran).
        for signal in processors::Signal::ALL {
            let n = stats.in_flight.items[signal as usize].swap(0, Ordering::SeqCst);
            if self.store.is_none() {
                stats.shutdown_dropped.add(signal, n);
            }
            left += n;
        }
        if self.store.is_some() {
            (0, left)
        } else {
            (left, 0)
        }
    }
}

async fn worker(
    core: QueueCore,
    intake: Arc<Mutex<Intake>>,
    svc: ExportService,
    store: Option<StoreHandle>,
    merge: Option<QueueBatchConfig>,
) {
    // Aborted at the shutdown deadline (dropped before the queue closed): the deadline is here.
    let aborted = StopOnDrop(Some(core.stop.clone()));
    loop {
        let parts = {
            let mut intake = intake.lock().await;
            take(&core, &mut intake, merge.as_ref()).await
        };
        if parts.is_empty() {
            break;
        }
        let send = tokio::spawn(send(core.clone(), svc.clone(), parts, store.clone()));
        let _ = send.await;
    }
    aborted.disarm();
}

/// Whether `next` may join an export of `items` items and `bytes` bytes of `signal` under
/// `merge`'s bounds.
fn fits(merge: &QueueBatchConfig, signal: Signal, items: usize, bytes: u64, next: &Entry) -> bool {
    next.batch.signal() == signal
        && (merge.max_size == 0 || items + next.batch.items() <= merge.max_size)
        && bytes.saturating_add(next.bytes) <= merge.max_bytes.0
}

/// Takes the next export's requests off the queue: one, or with `merge` as many as fit, waiting
/// up to its `flush_timeout` (never past the stop signal) for `min_size` items or `min_bytes`.
/// Empty once the queue is closed and drained. Every request taken counts as in flight from here, so one held
/// by a worker aborted at the deadline is still counted (`count_leftovers`).
async fn take(
    core: &QueueCore,
    intake: &mut Intake,
    merge: Option<&QueueBatchConfig>,
) -> Vec<Entry> {
    let Intake { rx, carry } = intake;
    let first = match carry.take() {
        Some(e) => e,
        None => match rx.recv().await {
            Some(e) => core.taken(e),
            None => return Vec::new(),
        },
    };
    let Some(m) = merge else {
        return vec![first];
    };
    let signal = first.batch.signal();
    let (mut items, mut bytes) = (first.batch.items(), first.bytes);
    let mut parts = vec![first];
    let deadline = tokio::time::Instant::now() + m.flush_timeout.0;
    while items < m.min_size && bytes < m.min_bytes.0 && !core.stop.is_stopped() {
        let next = match rx.try_recv() {
            Ok(e) => e,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                () = core.stop.stopped() => break,
            },
        };
        let next = core.taken(next);
        if !fits(m, signal, items, bytes, &next) {
            *carry = Some(next);
            break;
        }
        items += next.batch.items();
        bytes = bytes.saturating_add(next.bytes);
        parts.push(next);
    }
    parts
}

/// Sends one export (one request, or several merged) and counts the outcome. Runs as a task of
/// its own: see the module doc.
async fn send(
    core: QueueCore,
    mut svc: ExportService,
    parts: Vec<Entry>,
    store: Option<StoreHandle>,
) {
    let stats = &core.stats;
    let batch = match parts.as_slice() {
        [one] => one.batch.clone(),
        _ => {
            stats.merged.inc_by(parts.len() as u64);
            Arc::new(Batch::merge(parts.iter().map(|e| e.batch.as_ref())))
        }
    };
    let (signal, items) = (batch.signal(), batch.items() as u64);
    let slot = &stats.in_flight.items[signal as usize];
    let started = Instant::now();
    let sending = InFlight::start(&stats.in_flight.requests);
    let call = async {
        match svc.ready().await {
            Ok(ready) => ready.call(batch).await,
            Err(e) => Err(e),
        }
    };
    let result = tokio::select! {
        result = call => Some(result),
        () = core.stop.grace_over() => None,
    };
    if slot
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(items))
        .is_err()
    {
        // Counted by `count_leftovers` already (the send outlived its wait).
        return;
    }
    drop(sending);
    for e in &parts {
        core.release(e);
    }
    let at_deadline = match &result {
        None => true,
        Some(Err(e)) => core.stop.is_stopped() && super::retry::RetryPolicy::classify(e).0,
        Some(Ok(_)) => false,
    };
    if at_deadline {
        // Not delivered by the deadline: dropped (memory) or left on disk (persistent).
        stats.in_flight.cut_off.fetch_add(items, Ordering::SeqCst);
        if store.is_none() {
            stats.shutdown_dropped.add(signal, items);
        }
        return;
    }
    if let Some(store) = &store {
        for key in parts.iter().filter_map(|e| e.key) {
            store.delete(key);
        }
    }
    match result {
        Some(Ok(ExportOutcome { rejected, dropped })) => {
            let rejected = rejected.min(items);
            let dropped = dropped.min(items - rejected);
            stats.sent.add(signal, items - rejected - dropped);
            stats.failed.add(signal, rejected);
            if rejected > 0 {
                crate::telemetry::warn_rate_limited(&core.id, "backend rejected part of a batch");
            }
            tracing::debug!(exporter = %core.id, %signal, items, requests = parts.len(), elapsed = ?started.elapsed(), "exported");
        }
        Some(Err(err)) => {
            stats.failed.add(signal, items);
            tracing::warn!(exporter = %core.id, %signal, items, requests = parts.len(), error = %err, "export failed; batch dropped");
        }
        None => {}
    }
}

/// Fires the exporter's [`Stop`] when a worker is dropped (aborted) before its queue closed.
struct StopOnDrop(Option<Arc<Stop>>);

impl StopOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop.stop();
        }
    }
}

/// One request counted in `gateway_exporter_in_flight_requests` while it lives, so a worker
/// aborted mid-send at the shutdown deadline does not leave the gauge up.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn start(gauge: &'a Gauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Payload;
    use processors::units::{ByteSize, ConfigDuration};

    fn batch(signal: Signal, items: usize) -> Arc<Batch> {
        let file = match signal {
            Signal::Traces => "001_traces.pb",
            Signal::Metrics => "003_metrics.pb",
            Signal::Logs => "004_logs.pb",
        };
        let path = format!(
            "{}/tests/fixtures/tool-secrets-protobuf/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(path).expect("fixture");
        let payload = Payload::decode_proto(signal, body.into()).expect("decode");
        let mut parts = payload.split(1).into_iter();
        let mut one = parts.next().expect("an item");
        for part in parts.take(items - 1) {
            one.absorb(part);
        }
        assert_eq!(one.item_count(), items);
        Arc::new(Batch::new(one))
    }

    #[tokio::test]
    async fn merging_takes_one_signal_at_a_time_within_the_bounds_and_carries_the_rest() {
        let m = crate::telemetry::metrics::SelfMetrics::new();
        let stats = ExporterStats::new(&m, "otlp/test", 100);
        let (sender, receiver) = bounded("otlp/test", 100, 1 << 30, OnFull::Drop, stats);
        let queued = [
            (Signal::Logs, 2),
            (Signal::Logs, 2),
            (Signal::Traces, 1),
            (Signal::Traces, 1),
            (Signal::Logs, 3),
            (Signal::Logs, 2),
            (Signal::Logs, 2),
        ];
        for (signal, items) in queued {
            assert!(sender.try_send(batch(signal, items)));
        }
        drop(sender);
        let merge = QueueBatchConfig {
            flush_timeout: ConfigDuration(Duration::from_secs(60)),
            min_size: 5,
            min_bytes: ByteSize(1 << 30),
            max_size: 5,
            max_bytes: ByteSize(1 << 30),
        };
        let mut exports = Vec::new();
        loop {
            let mut intake = receiver.rx.lock().await;
            let parts = take(&receiver.core, &mut intake, Some(&merge)).await;
            if parts.is_empty() {
                break;
            }
            let shape: Vec<_> = parts
                .iter()
                .map(|e| (e.batch.signal(), e.batch.items()))
                .collect();
            exports.push(shape);
        }
        use Signal::{Logs, Traces};
        assert_eq!(
            exports,
            vec![
                vec![(Logs, 2), (Logs, 2)],
                vec![(Traces, 1), (Traces, 1)],
                vec![(Logs, 3), (Logs, 2)],
                vec![(Logs, 2)],
            ],
            "a closed queue ends the wait; another signal or max_size starts the next export"
        );
        let in_flight = &receiver.core.stats.in_flight.items;
        assert_eq!(in_flight[Signal::Logs as usize].load(Ordering::SeqCst), 11);
        assert_eq!(in_flight[Signal::Traces as usize].load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_of_min_bytes_leaves_at_once_without_waiting() {
        let m = crate::telemetry::metrics::SelfMetrics::new();
        let stats = ExporterStats::new(&m, "otlp/test", 100);
        let (sender, receiver) = bounded("otlp/test", 100, 1 << 30, OnFull::Drop, stats);
        let big = batch(Signal::Traces, 3);
        assert!(sender.try_send(big.clone()));
        assert!(sender.try_send(big.clone()));
        let merge = QueueBatchConfig {
            flush_timeout: ConfigDuration(Duration::from_secs(60)),
            min_size: 1_000_000,
            min_bytes: ByteSize(big.size_bytes()),
            max_size: 0,
            max_bytes: ByteSize(1 << 30),
        };
        let mut intake = receiver.rx.lock().await;
        for _ in 0..2 {
            let take = take(&receiver.core, &mut intake, Some(&merge));
            let parts = tokio::time::timeout(Duration::from_secs(10), take)
                .await
                .expect("no wait for the flush timeout");
            assert_eq!(parts.len(), 1, "each request is min_bytes on its own");
        }
        drop(sender);
    }

    #[tokio::test]
    async fn a_merging_take_waits_for_the_flush_timeout_at_most() {
        let m = crate::telemetry::metrics::SelfMetrics::new();
        let stats = ExporterStats::new(&m, "otlp/test", 100);
        let (sender, receiver) = bounded("otlp/test", 100, 1 << 30, OnFull::Drop, stats);
        assert!(sender.try_send(batch(Signal::Logs, 1)));
        let merge = QueueBatchConfig {
            flush_timeout: ConfigDuration(Duration::from_millis(200)),
            min_size: 100,
            min_bytes: ByteSize(1 << 30),
            max_size: 0,
            max_bytes: ByteSize(1 << 30),
        };
        let started = tokio::time::Instant::now();
        let mut intake = receiver.rx.lock().await;
        let parts = take(&receiver.core, &mut intake, Some(&merge)).await;
        assert_eq!(parts.len(), 1);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        drop(sender);
    }

    #[test]
    fn capacity_bounds_requests_and_bytes_and_admits_one_oversized_request_when_empty() {
        let c = Capacity::new(2, 100);
        assert!(c.try_acquire(500), "empty: any one request");
        assert!(!c.try_acquire(1), "over the byte bound");
        c.release(500);
        assert!(c.try_acquire(60));
        assert!(!c.try_acquire(60), "60 + 60 > 100");
        assert!(c.try_acquire(40));
        assert!(!c.try_acquire(0), "two requests is the request bound");
        c.release(60);
        c.release(40);
        assert_eq!((c.requests(), c.bytes()), (0, 0));
    }
}
