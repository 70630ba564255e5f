//! `delta_to_cumulative` processor: turns the DELTA sums and histograms Codex exports into the
//! CUMULATIVE series Prometheus-style backends expect, by keeping a running total per stream.
//!
//! Place in the flow: metrics pipeline only, before exporters to cumulative-only backends (and
//! after any processor that changes stream identity: names, attributes, resources). It is the
//! one stateful processor: the gateway must see every delta of a stream, so run one gateway per
//! Codex fleet shard, not several behind a load balancer. Traces and logs pass through.
//!
//! ```yaml
//! delta_to_cumulative:
//!   max_stale: 5m        # forget streams not updated for this long (default 5m)
//!   max_streams: 10000   # bound on tracked streams; new streams beyond it are dropped
//! ```
//!
//! What it does, per data point of a metric whose temporality is DELTA:
//! - **Stream identity**: resource attributes, scope name, version and attributes, metric name,
//!   unit and type (monotonic sum, non-monotonic sum, histogram, exponential histogram), and the
//!   data point attributes. Attribute order does not matter.
//! - **Sums** (monotonic or not): the running sum of the deltas. Integer and double values are
//!   kept as they came; a switch between them, or an integer overflow, resets the stream.
//! - **Histograms**: count, sum and bucket counts added element-wise; min and max are the
//!   running min and max (unknown, i.e. absent, once a non-empty delta lacks them; the same for
//!   sum). A change of `explicit_bounds` resets the stream.
//! - **Exponential histograms**: count, sum, zero count, positive and negative buckets are
//!   added; a scale change is handled by downscaling to the coarser scale, and the merged range
//!   is kept to at most 160 buckets per sign (larger if a delta brought more) by downscaling
//!   further. A change of `zero_threshold` resets the stream.
//! - **Start time**: the output point's `start_time_unix_nano` is the start time of the first
//!   delta of the stream (since the last reset); its `time_unix_nano` is the delta's.
//! - **Order**: a delta that starts before the end of the previous accepted delta of its stream
//!   (overlap, re-sent or out-of-order data) is removed from the request and counted
//!   (`record_dropped`, `delta_to_cumulative{out_of_order}`). A delta without start time must
//!   end after the previous one.
//! - **Reset** (layout change, value type change, overflow, staleness): the stream starts over
//!   with that point as its first delta, so its start time is the point's own start time;
//!   counted as `delta_to_cumulative{reset}` (or `{expired}` for staleness).
//! - The metric's temporality becomes CUMULATIVE. Gauges, summaries and metrics that are already
//!   cumulative pass through untouched.
//! - **Staleness** (wall clock, [`Clock`]): a stream not updated for `max_stale` is forgotten.
//!   This is checked lazily: on lookup (a stale stream starts over) and by a sweep run on a
//!   metrics request at most once a second, or when a new stream hits `max_streams`. Time in the
//!   data is not used for this, so a client with a wrong clock cannot expire streams.
//! - **Bound**: at most `max_streams` streams are tracked; points of a *new* stream beyond the
//!   bound are removed from the request and counted (`record_dropped` and
//!   `delta_to_cumulative{max_streams}`); known streams keep being updated.
//!
//! Concurrency: the state is one `Mutex<HashMap>` behind `&self`. Stream keys are computed
//! before taking the lock; the lock is held while one request's points are applied (a few µs
//! for a Codex request), which also makes the update of a request atomic. A poisoned lock is
//! recovered (the state is always consistent between points).

use crate::clock::{Clock, SystemClock};
use crate::units::deserialize_duration;
use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint,
    Metric, NumberDataPoint,
};
use prost::Message;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Default of `max_stale`: five minutes.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(300);
/// Default of `max_streams`.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
/// Most buckets per sign an accumulated exponential histogram keeps (the SDK default size).
const MAX_EXP_BUCKETS: usize = 160;
/// Lowest exponential histogram scale.
const MIN_EXP_SCALE: i32 = -10;
/// Longest time between two sweeps for stale streams (while requests arrive).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Config of the `delta_to_cumulative` processor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaToCumulativeConfig {
    /// A stream not updated for this long (wall clock) is forgotten; its next delta starts a
    /// new cumulative series. A duration string: `"300ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`.
    /// Must be more than zero. Default: `"5m"`.
    #[serde(
        default = "default_max_stale",
        deserialize_with = "deserialize_duration"
    )]
    pub max_stale: Duration,
    /// Most streams tracked at once; the points of a new stream beyond it are dropped (and
    /// counted) until stale streams expire. At least 1. Default: `10000`.
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
}

fn default_max_stale() -> Duration {
    DEFAULT_MAX_STALE
}

fn default_max_streams() -> usize {
    DEFAULT_MAX_STREAMS
}

impl Default for DeltaToCumulativeConfig {
    fn default() -> Self {
        DeltaToCumulativeConfig {
            max_stale: DEFAULT_MAX_STALE,
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }
}

/// The built `delta_to_cumulative` processor: holds the running totals of every stream.
pub struct DeltaToCumulativeProcessor {
    max_stale: Duration,
    max_streams: usize,
    clock: Box<dyn Clock>,
    state: Mutex<State>,
}

impl fmt::Debug for DeltaToCumulativeProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaToCumulativeProcessor")
            .field("max_stale", &self.max_stale)
            .field("max_streams", &self.max_streams)
            .field("streams", &self.stream_count())
            .finish()
    }
}

impl DeltaToCumulativeConfig {
    /// Checks the limits and builds the processor on the system clock.
    pub fn build(&self) -> Result<DeltaToCumulativeProcessor, Vec<BuildError>> {
        self.build_with_clock(SystemClock)
    }

    /// Builds the processor on `clock` (e.g. a shared `Arc<ManualClock>` in tests).
    pub fn build_with_clock(
        &self,
        clock: impl Clock,
    ) -> Result<DeltaToCumulativeProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        if self.max_stale.is_zero() {
            errors.push(BuildError::field(
                "max_stale",
                "must be more than zero (e.g. \"5m\")",
            ));
        }
        if self.max_streams == 0 {
            errors.push(BuildError::field("max_streams", "must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeltaToCumulativeProcessor {
            max_stale: self.max_stale,
            max_streams: self.max_streams,
            clock: Box::new(clock),
            state: Mutex::new(State::default()),
        })
    }
}

impl DeltaToCumulativeProcessor {
    /// Number of streams currently tracked (including stale ones not swept yet).
    pub fn stream_count(&self) -> usize {
        self.lock().streams.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

// ------------------------------------------------------------------------------------------------
// State
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct State {
    streams: HashMap<Vec<u8>, Stream>,
    last_sweep: Option<Instant>,
}

struct Stream {
    /// Wall-clock time of the last accepted delta.
    last_seen: Instant,
    /// `start_time_unix_nano` of the first delta.
    start: u64,
    /// `time_unix_nano` of the last accepted delta.
    last_time: u64,
    acc: Acc,
}

enum Acc {
    Int(i64),
    Double(f64),
    Histogram(HistAcc),
    Exponential(ExpAcc),
}

struct HistAcc {
    count: u64,
    sum: Option<f64>,
    bounds: Vec<f64>,
    buckets: Vec<u64>,
    min: Option<f64>,
    max: Option<f64>,
}

struct ExpAcc {
    count: u64,
    sum: Option<f64>,
    scale: i32,
    zero_count: u64,
    zero_threshold: f64,
    positive: ExpBuckets,
    negative: ExpBuckets,
    min: Option<f64>,
    max: Option<f64>,
}

/// Counters of one request, reported to the context at the end.
#[derive(Default)]
struct Tally {
    max_streams: u64,
    out_of_order: u64,
    reset: u64,
    expired: u64,
}

/// One request's view of the state while its points are applied.
struct Apply<'a> {
    state: &'a mut State,
    now: Instant,
    max_stale: Duration,
    max_streams: usize,
    swept_for_capacity: bool,
    tally: Tally,
}

impl Apply<'_> {
    fn sweep(&mut self) {
        let (now, max_stale) = (self.now, self.max_stale);
        let before = self.state.streams.len();
        self.state
            .streams
            .retain(|_, s| now.saturating_duration_since(s.last_seen) <= max_stale);
        self.tally.expired += (before - self.state.streams.len()) as u64;
        self.state.last_sweep = Some(now);
    }

    /// Applies one delta point of stream `key`; `false` if the point must be removed.
    fn point<P: DeltaPoint>(&mut self, key: Vec<u8>, p: &mut P) -> bool {
        let (now, max_stale) = (self.now, self.max_stale);
        if let Some(s) = self.state.streams.get_mut(&key) {
            if now.saturating_duration_since(s.last_seen) > max_stale {
                self.tally.expired += 1;
                *s = Stream::first(p, now);
            } else if overlaps(s, p.start(), p.time()) {
                self.tally.out_of_order += 1;
                return false;
            } else if p.add_to(&mut s.acc) {
                s.last_seen = now;
                s.last_time = p.time();
                p.set_start(s.start);
                p.write(&s.acc);
            } else {
                self.tally.reset += 1;
                *s = Stream::first(p, now);
            }
            return true;
        }
        if self.state.streams.len() >= self.max_streams && !self.swept_for_capacity {
            self.swept_for_capacity = true;
            self.sweep();
        }
        if self.state.streams.len() >= self.max_streams {
            self.tally.max_streams += 1;
            return false;
        }
        let s = Stream::first(p, now);
        self.state.streams.insert(key, s);
        true
    }
}

/// Whether a delta `[start, time]` begins before the end of the stream's last delta.
fn overlaps(s: &Stream, start: u64, time: u64) -> bool {
    if start == 0 {
        time <= s.last_time
    } else {
        start < s.last_time
    }
}

impl Stream {
    /// A stream whose first delta is `p` (written back as its own cumulative value).
    fn first<P: DeltaPoint>(p: &mut P, now: Instant) -> Stream {
        let acc = p.new_acc();
        p.write(&acc);
        Stream {
            last_seen: now,
            start: p.start(),
            last_time: p.time(),
            acc,
        }
    }
}

/// A delta data point type the processor accumulates.
trait DeltaPoint {
    fn start(&self) -> u64;
    fn time(&self) -> u64;
    fn set_start(&mut self, t: u64);
    /// The accumulator of a stream that starts with this point.
    fn new_acc(&self) -> Acc;
    /// Adds this delta to `acc`; `false` when it cannot be added (layout or type change,
    /// overflow) and the stream must start over. `acc` is unchanged then.
    fn add_to(&self, acc: &mut Acc) -> bool;
    /// Writes the cumulative values of `acc` into this point.
    fn write(&mut self, acc: &Acc);
}

impl DeltaPoint for NumberDataPoint {
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn set_start(&mut self, t: u64) {
        self.start_time_unix_nano = t;
    }
    fn new_acc(&self) -> Acc {
        match self.value {
            Some(number_data_point::Value::AsDouble(d)) => Acc::Double(d),
            Some(number_data_point::Value::AsInt(i)) => Acc::Int(i),
            None => Acc::Int(0),
        }
    }
    fn add_to(&self, acc: &mut Acc) -> bool {
        match (acc, self.value) {
            (Acc::Int(a), Some(number_data_point::Value::AsInt(b))) => match a.checked_add(b) {
                Some(v) => {
                    *a = v;
                    true
                }
                None => false,
            },
            (Acc::Double(a), Some(number_data_point::Value::AsDouble(b))) => {
                *a += b;
                true
            }
            (Acc::Int(_) | Acc::Double(_), None) => true,
            _ => false,
        }
    }
    fn write(&mut self, acc: &Acc) {
        match acc {
            Acc::Int(v) => self.value = Some(number_data_point::Value::AsInt(*v)),
            Acc::Double(v) => self.value = Some(number_data_point::Value::AsDouble(*v)),
            Acc::Histogram(_) | Acc::Exponential(_) => {}
        }
    }
}

/// Running sum: unknown (`None`) once a non-empty delta lacks it.
fn add_sum(acc: Option<f64>, acc_count: u64, sum: Option<f64>, count: u64) -> Option<f64> {
    match (acc, sum) {
        _ if count == 0 && sum.is_none() => acc,
        _ if acc_count == 0 && acc.is_none() => sum,
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    }
}

/// Running min or max with `pick`: unknown once a non-empty delta lacks it.
fn add_extreme(
    acc: Option<f64>,
    acc_count: u64,
    value: Option<f64>,
    count: u64,
    pick: fn(f64, f64) -> f64,
) -> Option<f64> {
    if count == 0 {
        return acc;
    }
    if acc_count == 0 {
        return value;
    }
    match (acc, value) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        _ => None,
    }
}

fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl DeltaPoint for HistogramDataPoint {
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn set_start(&mut self, t: u64) {
        self.start_time_unix_nano = t;
    }
    fn new_acc(&self) -> Acc {
        Acc::Histogram(HistAcc {
            count: self.count,
            sum: self.sum,
            bounds: self.explicit_bounds.clone(),
            buckets: self.bucket_counts.clone(),
            min: self.min,
            max: self.max,
        })
    }
    fn add_to(&self, acc: &mut Acc) -> bool {
        let Acc::Histogram(h) = acc else { return false };
        if !same_floats(&h.bounds, &self.explicit_bounds)
            || h.buckets.len() != self.bucket_counts.len()
        {
            return false;
        }
        let Some(count) = h.count.checked_add(self.count) else {
            return false;
        };
        let mut buckets = Vec::with_capacity(h.buckets.len());
        for (a, b) in h.buckets.iter().zip(&self.bucket_counts) {
            match a.checked_add(*b) {
                Some(v) => buckets.push(v),
                None => return false,
            }
        }
        h.sum = add_sum(h.sum, h.count, self.sum, self.count);
        h.min = add_extreme(h.min, h.count, self.min, self.count, f64::min);
        h.max = add_extreme(h.max, h.count, self.max, self.count, f64::max);
        h.count = count;
        h.buckets = buckets;
        true
    }
    fn write(&mut self, acc: &Acc) {
        let Acc::Histogram(h) = acc else { return };
        self.count = h.count;
        self.sum = h.sum;
        self.min = h.min;
        self.max = h.max;
        if self.bucket_counts.len() == h.buckets.len() {
            self.bucket_counts.copy_from_slice(&h.buckets);
        } else {
            self.bucket_counts = h.buckets.clone();
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Exponential histograms
// ------------------------------------------------------------------------------------------------

/// One sign's buckets: `counts[k]` is the bucket of index `offset + k`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ExpBuckets {
    offset: i32,
    counts: Vec<u64>,
}

impl ExpBuckets {
    fn from_proto(b: Option<&Buckets>) -> Self {
        b.map(|b| ExpBuckets {
            offset: b.offset,
            counts: b.bucket_counts.clone(),
        })
        .unwrap_or_default()
    }

    fn to_proto(&self) -> Option<Buckets> {
        Some(Buckets {
            offset: self.offset,
            bucket_counts: self.counts.clone(),
        })
    }

    fn end(&self) -> i64 {
        i64::from(self.offset) + self.counts.len() as i64
    }

    /// Re-buckets at a scale `by` lower: index `i` becomes `i >> by`.
    fn downscale(&mut self, by: u32) {
        let by = by.min(62);
        if by == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.offset = 0;
            return;
        }
        let first = i64::from(self.offset) >> by;
        let last = (self.end() - 1) >> by;
        let mut out = vec![0u64; usize::try_from(last - first + 1).unwrap_or(0)];
        for (k, c) in self.counts.iter().enumerate() {
            let index = ((i64::from(self.offset) + k as i64) >> by) - first;
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                *slot = slot.saturating_add(*c);
            }
        }
        self.offset = i32::try_from(first).unwrap_or(0);
        self.counts = out;
    }

    /// Number of buckets spanning both `self` and `other`.
    fn span_with(&self, other: &ExpBuckets) -> usize {
        match (self.counts.is_empty(), other.counts.is_empty()) {
            (true, _) => other.counts.len(),
            (_, true) => self.counts.len(),
            _ => {
                let lo = self.offset.min(other.offset);
                let hi = self.end().max(other.end());
                usize::try_from(hi - i64::from(lo)).unwrap_or(usize::MAX)
            }
        }
    }

    /// Adds `other` (same scale); `None` on overflow.
    fn plus(&self, other: &ExpBuckets) -> Option<ExpBuckets> {
        if other.counts.is_empty() {
            return Some(self.clone());
        }
        if self.counts.is_empty() {
            return Some(other.clone());
        }
        let lo = self.offset.min(other.offset);
        let mut out = vec![0u64; self.span_with(other)];
        for b in [self, other] {
            let shift = usize::try_from(i64::from(b.offset) - i64::from(lo)).ok()?;
            for (k, c) in b.counts.iter().enumerate() {
                let slot = out.get_mut(shift + k)?;
                *slot = slot.checked_add(*c)?;
            }
        }
        Some(ExpBuckets {
            offset: lo,
            counts: out,
        })
    }
}

impl DeltaPoint for ExponentialHistogramDataPoint {
    fn start(&self) -> u64 {
        self.start_time_unix_nano
    }
    fn time(&self) -> u64 {
        self.time_unix_nano
    }
    fn set_start(&mut self, t: u64) {
        self.start_time_unix_nano = t;
    }
    fn new_acc(&self) -> Acc {
        Acc::Exponential(ExpAcc {
            count: self.count,
            sum: self.sum,
            scale: self.scale,
            zero_count: self.zero_count,
            zero_threshold: self.zero_threshold,
            positive: ExpBuckets::from_proto(self.positive.as_ref()),
            negative: ExpBuckets::from_proto(self.negative.as_ref()),
            min: self.min,
            max: self.max,
        })
    }
    fn add_to(&self, acc: &mut Acc) -> bool {
        let Acc::Exponential(e) = acc else {
            return false;
        };
        if e.zero_threshold.to_bits() != self.zero_threshold.to_bits() {
            return false;
        }
        let (Some(count), Some(zero_count)) = (
            e.count.checked_add(self.count),
            e.zero_count.checked_add(self.zero_count),
        ) else {
            return false;
        };
        let mut pos_a = e.positive.clone();
        let mut neg_a = e.negative.clone();
        let mut pos_b = ExpBuckets::from_proto(self.positive.as_ref());
        let mut neg_b = ExpBuckets::from_proto(self.negative.as_ref());
        let mut scale = e.scale.min(self.scale);
        pos_a.downscale(e.scale.saturating_sub(scale).unsigned_abs());
        neg_a.downscale(e.scale.saturating_sub(scale).unsigned_abs());
        pos_b.downscale(self.scale.saturating_sub(scale).unsigned_abs());
        neg_b.downscale(self.scale.saturating_sub(scale).unsigned_abs());
        let limit_pos = MAX_EXP_BUCKETS
            .max(pos_a.counts.len())
            .max(pos_b.counts.len());
        let limit_neg = MAX_EXP_BUCKETS
            .max(neg_a.counts.len())
            .max(neg_b.counts.len());
        while scale > MIN_EXP_SCALE
            && (pos_a.span_with(&pos_b) > limit_pos || neg_a.span_with(&neg_b) > limit_neg)
        {
            for b in [&mut pos_a, &mut neg_a, &mut pos_b, &mut neg_b] {
                b.downscale(1);
            }
            scale -= 1;
        }
        let (Some(positive), Some(negative)) = (pos_a.plus(&pos_b), neg_a.plus(&neg_b)) else {
            return false;
        };
        e.sum = add_sum(e.sum, e.count, self.sum, self.count);
        e.min = add_extreme(e.min, e.count, self.min, self.count, f64::min);
        e.max = add_extreme(e.max, e.count, self.max, self.count, f64::max);
        e.count = count;
        e.zero_count = zero_count;
        e.scale = scale;
        e.positive = positive;
        e.negative = negative;
        true
    }
    fn write(&mut self, acc: &Acc) {
        let Acc::Exponential(e) = acc else { return };
        self.count = e.count;
        self.sum = e.sum;
        self.scale = e.scale;
        self.zero_count = e.zero_count;
        self.positive = e.positive.to_proto();
        self.negative = e.negative.to_proto();
        self.min = e.min;
        self.max = e.max;
    }
}

// ------------------------------------------------------------------------------------------------
// Stream keys
// ------------------------------------------------------------------------------------------------

pub(crate) fn push_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Appends `attrs` in a canonical order (by key, then by encoded value), so the order in which
/// a client lists attributes does not split a stream.
pub(crate) fn push_attrs(buf: &mut Vec<u8>, attrs: &[KeyValue]) {
    let len = u32::try_from(attrs.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    let mut order: Vec<&KeyValue> = attrs.iter().collect();
    order.sort_by(|a, b| {
        a.key.cmp(&b.key).then_with(|| {
            let va = a.value.as_ref().map(Message::encode_to_vec);
            let vb = b.value.as_ref().map(Message::encode_to_vec);
            va.cmp(&vb)
        })
    });
    for kv in order {
        push_bytes(buf, kv.key.as_bytes());
        match &kv.value {
            Some(v) => {
                buf.push(1);
                let len = u32::try_from(v.encoded_len()).unwrap_or(u32::MAX);
                buf.extend_from_slice(&len.to_le_bytes());
                // Encoding into a Vec cannot run out of space.
                let _ = v.encode(buf);
            }
            None => buf.push(0),
        }
    }
}

/// The stream type byte of a metric this processor converts, `None` for metrics it leaves
/// alone (gauges, summaries, non-delta temporality, no data).
fn delta_kind(m: &Metric) -> Option<u8> {
    let delta = AggregationTemporality::Delta as i32;
    match &m.data {
        Some(Data::Sum(s)) if s.aggregation_temporality == delta => {
            Some(if s.is_monotonic { 1 } else { 2 })
        }
        Some(Data::Histogram(h)) if h.aggregation_temporality == delta => Some(3),
        Some(Data::ExponentialHistogram(h)) if h.aggregation_temporality == delta => Some(4),
        _ => None,
    }
}

/// The key of every delta data point of `req`, in traversal order.
fn stream_keys(req: &ExportMetricsServiceRequest) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for rm in &req.resource_metrics {
        let mut resource = Vec::with_capacity(256);
        resource.push(b'R');
        push_attrs(
            &mut resource,
            rm.resource.as_ref().map_or(&[][..], |r| &r.attributes),
        );
        for sm in &rm.scope_metrics {
            let mut scope = resource.clone();
            scope.push(b'S');
            match &sm.scope {
                Some(s) => {
                    push_bytes(&mut scope, s.name.as_bytes());
                    push_bytes(&mut scope, s.version.as_bytes());
                    push_attrs(&mut scope, &s.attributes);
                }
                None => {
                    push_bytes(&mut scope, b"");
                    push_bytes(&mut scope, b"");
                    push_attrs(&mut scope, &[]);
                }
            }
            for m in &sm.metrics {
                let Some(kind) = delta_kind(m) else { continue };
                let mut metric = scope.clone();
                metric.push(b'M');
                push_bytes(&mut metric, m.name.as_bytes());
                push_bytes(&mut metric, m.unit.as_bytes());
                metric.push(kind);
                let mut point = |attrs: &[KeyValue]| {
                    let mut key = Vec::with_capacity(metric.len() + 128);
                    key.extend_from_slice(&metric);
                    key.push(b'P');
                    push_attrs(&mut key, attrs);
                    keys.push(key);
                };
                match &m.data {
                    Some(Data::Sum(s)) => s.data_points.iter().for_each(|p| point(&p.attributes)),
                    Some(Data::Histogram(h)) => {
                        h.data_points.iter().for_each(|p| point(&p.attributes))
                    }
                    Some(Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().for_each(|p| point(&p.attributes))
                    }
                    _ => {}
                }
            }
        }
    }
    keys
}

// ------------------------------------------------------------------------------------------------
// Processor
// ------------------------------------------------------------------------------------------------

fn apply_points<P: DeltaPoint>(
    points: &mut Vec<P>,
    keys: &mut impl Iterator<Item = Vec<u8>>,
    apply: &mut Apply<'_>,
) {
    points.retain_mut(|p| match keys.next() {
        Some(key) => apply.point(key, p),
        // Cannot happen: keys were computed from the same request.
        None => true,
    });
}

impl Processor for DeltaToCumulativeProcessor {
    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        let keys = stream_keys(req);
        if keys.is_empty() {
            return;
        }
        let mut keys = keys.into_iter();
        let mut guard = self.lock();
        let now = self.clock.now();
        let mut apply = Apply {
            state: &mut guard,
            now,
            max_stale: self.max_stale,
            max_streams: self.max_streams,
            swept_for_capacity: false,
            tally: Tally::default(),
        };
        let sweep_due = apply
            .state
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_INTERVAL);
        if sweep_due {
            apply.sweep();
        }
        let cumulative = AggregationTemporality::Cumulative as i32;
        for m in req
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            if delta_kind(m).is_none() {
                continue;
            }
            match &mut m.data {
                Some(Data::Sum(s)) => {
                    apply_points(&mut s.data_points, &mut keys, &mut apply);
                    s.aggregation_temporality = cumulative;
                }
                Some(Data::Histogram(h)) => {
                    apply_points(&mut h.data_points, &mut keys, &mut apply);
                    h.aggregation_temporality = cumulative;
                }
                Some(Data::ExponentialHistogram(h)) => {
                    apply_points(&mut h.data_points, &mut keys, &mut apply);
                    h.aggregation_temporality = cumulative;
                }
                _ => {}
            }
        }
        let tally = apply.tally;
        drop(guard);
        if tally.max_streams > 0 {
            cx.record_dropped(tally.max_streams);
            cx.count("delta_to_cumulative", "max_streams", tally.max_streams);
        }
        if tally.out_of_order > 0 {
            cx.record_dropped(tally.out_of_order);
            cx.count("delta_to_cumulative", "out_of_order", tally.out_of_order);
        }
        if tally.reset > 0 {
            cx.count("delta_to_cumulative", "reset", tally.reset);
        }
        if tally.expired > 0 {
            cx.count("delta_to_cumulative", "expired", tally.expired);
        }
    }
}

impl crate::Component for DeltaToCumulativeConfig {
    fn signals(&self) -> &'static [crate::Signal] {
        &[crate::Signal::Metrics]
    }

    fn stateful(&self) -> bool {
        true
    }

    fn emits_cumulative(&self) -> bool {
        true
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_durations_deserialize() {
        let cfg: DeltaToCumulativeConfig = serde_json::from_str("{}").expect("empty");
        assert_eq!(cfg, DeltaToCumulativeConfig::default());
        assert_eq!(cfg.max_stale, Duration::from_secs(300));
        assert_eq!(cfg.max_streams, 10_000);
        let cfg: DeltaToCumulativeConfig =
            serde_json::from_str(r#"{"max_stale":"30s","max_streams":5}"#).expect("full");
        assert_eq!(cfg.max_stale, Duration::from_secs(30));
        assert_eq!(cfg.max_streams, 5);
        let err = serde_json::from_str::<DeltaToCumulativeConfig>(r#"{"max_stale":"5 minutes"}"#)
            .expect_err("bad duration");
        assert!(err.to_string().contains("invalid duration"), "{err}");
        let err = serde_json::from_str::<DeltaToCumulativeConfig>(r#"{"max_stale":300}"#)
            .expect_err("number");
        assert!(err.to_string().contains("a duration string"), "{err}");
        assert!(serde_json::from_str::<DeltaToCumulativeConfig>(r#"{"max_age":"5m"}"#).is_err());
    }

    #[test]
    fn build_rejects_zero_limits() {
        let errs = DeltaToCumulativeConfig {
            max_stale: Duration::ZERO,
            max_streams: 0,
        }
        .build()
        .expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_stale", "max_streams"]);
    }

    #[test]
    fn exponential_buckets_downscale_by_halving_indexes() {
        let mut b = ExpBuckets {
            offset: -3,
            counts: vec![1, 2, 3, 4, 5],
        };
        // Indexes -3..=1 at scale s → -2, -1, -1, 0, 0 at scale s-1.
        b.downscale(1);
        assert_eq!(
            b,
            ExpBuckets {
                offset: -2,
                counts: vec![1, 5, 9]
            }
        );
        let merged = b
            .plus(&ExpBuckets {
                offset: 1,
                counts: vec![10],
            })
            .expect("no overflow");
        assert_eq!(
            merged,
            ExpBuckets {
                offset: -2,
                counts: vec![1, 5, 9, 10]
            }
        );
    }

    #[test]
    fn exponential_histograms_merge_across_scales() {
        let a = ExponentialHistogramDataPoint {
            count: 3,
            sum: Some(6.0),
            scale: 2,
            positive: Some(Buckets {
                offset: 4,
                bucket_counts: vec![1, 2],
            }),
            min: Some(1.0),
            max: Some(3.0),
            ..Default::default()
        };
        let b = ExponentialHistogramDataPoint {
            count: 2,
            sum: Some(10.0),
            scale: 1,
            zero_count: 1,
            positive: Some(Buckets {
                offset: 2,
                bucket_counts: vec![1],
            }),
            min: Some(0.0),
            max: Some(9.0),
            ..Default::default()
        };
        let mut acc = a.new_acc();
        assert!(b.add_to(&mut acc));
        let mut out = ExponentialHistogramDataPoint::default();
        out.write(&acc);
        assert_eq!(out.scale, 1);
        assert_eq!(out.count, 5);
        assert_eq!(out.zero_count, 1);
        assert_eq!(out.sum, Some(16.0));
        assert_eq!((out.min, out.max), (Some(0.0), Some(9.0)));
        // Scale 2 indexes 4, 5 → scale 1 index 2, plus b's index 2.
        assert_eq!(
            out.positive,
            Some(Buckets {
                offset: 2,
                bucket_counts: vec![4]
            })
        );
    }

    #[test]
    fn exponential_histograms_downscale_to_stay_within_160_buckets() {
        let low = ExponentialHistogramDataPoint {
            count: 1,
            scale: 3,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        };
        let high = ExponentialHistogramDataPoint {
            count: 1,
            scale: 3,
            positive: Some(Buckets {
                offset: 400,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        };
        let mut acc = low.new_acc();
        assert!(high.add_to(&mut acc));
        let Acc::Exponential(e) = &acc else {
            panic!("exponential")
        };
        assert!(e.positive.counts.len() <= MAX_EXP_BUCKETS);
        assert_eq!(e.positive.counts.iter().sum::<u64>(), 2);
        // 401 buckets → 201 → 101 after two halvings.
        assert_eq!(e.scale, 1);
    }

    #[test]
    fn sums_and_minmax_become_unknown_when_a_non_empty_delta_lacks_them() {
        assert_eq!(add_sum(Some(1.0), 1, None, 0), Some(1.0));
        assert_eq!(add_sum(Some(1.0), 1, None, 2), None);
        assert_eq!(add_sum(None, 0, Some(2.0), 1), Some(2.0));
        assert_eq!(add_extreme(Some(1.0), 1, Some(0.5), 1, f64::min), Some(0.5));
        assert_eq!(add_extreme(Some(1.0), 1, None, 0, f64::min), Some(1.0));
        assert_eq!(add_extreme(Some(1.0), 1, None, 3, f64::max), None);
        assert_eq!(add_extreme(None, 0, Some(4.0), 3, f64::max), Some(4.0));
    }
}
