//! `cardinality` processor: a per-metric guard on the number of distinct attribute sets, and a
//! list of attribute keys stripped from every metric data point.
//!
//! Place in the flow: metrics pipelines, after `codex`/`redaction`/`team` and **before**
//! `metric_names` and `delta_to_cumulative` (it merges points, which is exact for the delta
//! points Codex sends; `delta_to_cumulative` then accumulates the merged series). Traces and logs
//! pass through untouched.
//!
//! Per data point, in this order:
//!
//! 1. **Strip**: every attribute whose key is in `strip_attributes` (plus the Codex per-event ids
//!    with `preset: codex`, [`CODEX_PER_EVENT_KEYS`]) is removed, counted as
//!    `attributes_stripped{label=<metric>/<key>}`.
//! 2. **Limit**: the point's attribute set (order does not matter) is looked up among the sets
//!    the metric had in the current `interval`. A set not seen yet is admitted while the metric
//!    has fewer than `max_attribute_sets − 1` sets; otherwise the point's attributes are replaced
//!    by the single attribute `otel.metric.overflow = true`, as the OpenTelemetry SDK
//!    specification defines the overflow attribute set (so at most `max_attribute_sets` series
//!    per metric and interval, the overflow one included), counted as
//!    `cardinality_overflow{label=<metric>}`. The sets are forgotten when the metric's interval
//!    ends (`interval`, wall clock, from the metric's first point).
//! 3. **Merge**: when step 1 or 2 changed a point, points of the same metric that now share an
//!    attribute set are merged into one: sums add up (int, or double when either is a double or
//!    the int sum overflows), histograms with the same bucket bounds add count, sum, buckets and
//!    keep min/max, gauges keep the newest point; start time is the earliest, time the latest.
//!    Merged points are counted as `points_merged{label=<metric>}` (and as dropped items: they
//!    leave the request, their values stay). Exponential histograms, summaries and histograms
//!    with different bounds are not merged (`points_not_merged{label=<metric>}`).
//!
//! Memory: the seen sets are 64-bit hashes, at most `max_attribute_sets` per metric, for at most
//! `max_metrics` metrics (about `24 B × max_metrics × max_attribute_sets` in the worst case);
//! whatever a client sends, nothing else grows. Points of metrics beyond `max_metrics` go to
//! their metric's overflow series (counted with label `(untracked)`, as their names are not
//! bounded).
//!
//! ```yaml
//! cardinality:
//!   max_attribute_sets: 2000      # per metric and interval, overflow series included (default 2000)
//!   limits: { codex.turn.token_usage: 100 }   # per-metric overrides (default none)
//!   interval: 1h                  # how long a metric's seen sets count (default 1h)
//!   max_metrics: 500              # metrics tracked at once (default 500)
//!   preset: codex                 # strip the Codex per-event ids (default: none)
//!   strip_attributes: []          # more keys to strip (default none)
//! ```

use crate::units::deserialize_duration;
use crate::{BuildError, ProcessContext, Processor};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    SummaryDataPoint,
};
use serde::Deserialize;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The attribute of the overflow series (OpenTelemetry SDK specification, cardinality limits).
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";

/// Self-metric label of metrics beyond `max_metrics`.
pub const UNTRACKED_LABEL: &str = "(untracked)";

/// Per-event identifiers Codex (0.169.0, 0.171.0) puts on its telemetry: one value per turn,
/// conversation, tool call, thread, submission, RPC request, connection or process. As metric
/// labels each makes a new series per event; `preset: codex` strips them from metric points.
pub const CODEX_PER_EVENT_KEYS: &[&str] = &[
    "turn.id",
    "turn_id",
    "conversation.id",
    "call_id",
    "thread.id",
    "thread_id",
    "submission.id",
    "rpc.request_id",
    "app_server.connection_id",
    "unified_exec_process_id",
    "tool_result_seq",
];

/// Default of `max_attribute_sets` (the OpenTelemetry SDK's default cardinality limit).
pub const DEFAULT_MAX_ATTRIBUTE_SETS: usize = 2000;
/// Default of `max_metrics`.
pub const DEFAULT_MAX_METRICS: usize = 500;
/// Default of `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// Lists of keys to strip, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardinalityPreset {
    /// [`CODEX_PER_EVENT_KEYS`].
    Codex,
}

/// Config of the `cardinality` processor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardinalityConfig {
    /// Most distinct attribute sets per metric and interval, the overflow set included. At
    /// least 1 (1: every point goes to the overflow series). Default: `2000`.
    pub max_attribute_sets: usize,
    /// Per-metric `max_attribute_sets`, by metric name as it arrives. Default: none.
    pub limits: BTreeMap<String, usize>,
    /// How long a metric's seen attribute sets count before they are forgotten (a duration
    /// string, more than zero). Default: `1h`.
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
    /// Most metrics tracked at once (a metric is forgotten when its interval ends). Default: `500`.
    pub max_metrics: usize,
    /// `codex`: strip [`CODEX_PER_EVENT_KEYS`] too. Default: none.
    pub preset: Option<CardinalityPreset>,
    /// Attribute keys removed from every metric data point. Default: none.
    pub strip_attributes: Vec<String>,
}

impl Default for CardinalityConfig {
    fn default() -> Self {
        CardinalityConfig {
            max_attribute_sets: DEFAULT_MAX_ATTRIBUTE_SETS,
            limits: BTreeMap::new(),
            interval: DEFAULT_INTERVAL,
            max_metrics: DEFAULT_MAX_METRICS,
            preset: None,
            strip_attributes: Vec::new(),
        }
    }
}

impl CardinalityConfig {
    /// Checks the config and builds the processor; every problem is returned.
    pub fn build(&self) -> Result<CardinalityProcessor, Vec<BuildError>> {
        let mut errors = Vec::new();
        if self.max_attribute_sets == 0 {
            errors.push(BuildError::field(
                "max_attribute_sets",
                "must be at least 1",
            ));
        }
        for (name, n) in &self.limits {
            if *n == 0 {
                errors.push(BuildError::field(
                    format!("limits.{name}"),
                    "must be at least 1",
                ));
            }
        }
        if self.interval.is_zero() {
            errors.push(BuildError::field("interval", "must be more than zero"));
        }
        if self.max_metrics == 0 {
            errors.push(BuildError::field("max_metrics", "must be at least 1"));
        }
        for (i, k) in self.strip_attributes.iter().enumerate() {
            if k.is_empty() {
                errors.push(BuildError::field(
                    format!("strip_attributes[{i}]"),
                    "empty key",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut strip: Vec<String> = self.strip_attributes.clone();
        if self.preset == Some(CardinalityPreset::Codex) {
            strip.extend(CODEX_PER_EVENT_KEYS.iter().map(|k| k.to_string()));
        }
        strip.sort();
        strip.dedup();
        Ok(CardinalityProcessor {
            cfg: self.clone(),
            strip,
            state: Mutex::new(HashMap::new()),
            keys: RandomState::new(),
        })
    }
}

/// The built processor. Thread-safe; the seen sets sit behind one mutex.
#[derive(Debug)]
pub struct CardinalityProcessor {
    cfg: CardinalityConfig,
    /// Keys to strip, sorted.
    strip: Vec<String>,
    state: Mutex<HashMap<String, Seen>>,
    /// Keys of the set hashes, random per process: a client cannot craft sets that collide.
    keys: RandomState,
}

/// The attribute sets one metric had in its current interval.
#[derive(Debug)]
struct Seen {
    since: Instant,
    sets: HashSet<u64>,
}

/// What happened to one metric's points in one request.
#[derive(Default)]
struct Outcome {
    stripped: Vec<(usize, u64)>,
    overflowed: u64,
    changed: bool,
}

impl CardinalityProcessor {
    /// Number of metrics tracked now.
    pub fn tracked_metrics(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Seen>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn limit(&self, metric: &str) -> usize {
        self.cfg
            .limits
            .get(metric)
            .copied()
            .unwrap_or(self.cfg.max_attribute_sets)
    }

    /// Guards one metric's points: strip, then admit or overflow each point's set.
    fn guard<P: Point>(
        &self,
        points: &mut [P],
        seen: Option<&mut Seen>,
        limit: usize,
        hashes: &mut Vec<u64>,
    ) -> Outcome {
        let mut out = Outcome::default();
        let mut seen = seen;
        hashes.clear();
        for p in points.iter_mut() {
            let attrs = p.attributes();
            if !self.strip.is_empty() {
                let before = attrs.len();
                attrs.retain(|kv| match self.strip.binary_search(&kv.key) {
                    Ok(i) => {
                        match out.stripped.iter_mut().find(|(k, _)| *k == i) {
                            Some(e) => e.1 += 1,
                            None => out.stripped.push((i, 1)),
                        }
                        false
                    }
                    Err(_) => true,
                });
                out.changed |= attrs.len() != before;
            }
            let h = set_hash(&self.keys, attrs);
            let admitted = match seen.as_deref_mut() {
                Some(s) if s.sets.contains(&h) => true,
                Some(s) if s.sets.len() + 1 < limit => {
                    s.sets.insert(h);
                    true
                }
                _ => false,
            };
            if admitted {
                hashes.push(h);
            } else {
                *attrs = vec![overflow_attribute()];
                out.overflowed += 1;
                out.changed = true;
                hashes.push(OVERFLOW_HASH);
            }
        }
        out
    }

    fn process_metric(
        &self,
        m: &mut Metric,
        state: &mut HashMap<String, Seen>,
        now: Instant,
        hashes: &mut Vec<u64>,
        cx: &mut ProcessContext<'_>,
    ) {
        let limit = self.limit(&m.name);
        let interval = self.cfg.interval;
        if let Some(s) = state.get_mut(&m.name) {
            if now.saturating_duration_since(s.since) >= interval {
                s.since = now;
                s.sets.clear();
            }
        } else if state.len() < self.cfg.max_metrics {
            state.insert(
                m.name.clone(),
                Seen {
                    since: now,
                    sets: HashSet::new(),
                },
            );
        }
        let seen = state.get_mut(&m.name);
        let tracked = seen.is_some();
        let (outcome, merged, unmerged) = match &mut m.data {
            Some(Data::Sum(s)) => {
                self.guard_and_merge(&mut s.data_points, seen, limit, hashes, Point::merge)
            }
            Some(Data::Gauge(g)) => {
                self.guard_and_merge(&mut g.data_points, seen, limit, hashes, keep_newest)
            }
            Some(Data::Histogram(h)) => {
                self.guard_and_merge(&mut h.data_points, seen, limit, hashes, Point::merge)
            }
            Some(Data::ExponentialHistogram(e)) => {
                self.guard_and_merge(&mut e.data_points, seen, limit, hashes, Point::merge)
            }
            Some(Data::Summary(s)) => {
                self.guard_and_merge(&mut s.data_points, seen, limit, hashes, Point::merge)
            }
            None => return,
        };
        let label = if tracked {
            m.name.as_str()
        } else {
            UNTRACKED_LABEL
        };
        for (i, n) in &outcome.stripped {
            if let Some(key) = self.strip.get(*i) {
                cx.count("attributes_stripped", &format!("{label}/{key}"), *n);
            }
        }
        if outcome.overflowed > 0 {
            cx.count("cardinality_overflow", label, outcome.overflowed);
        }
        if merged > 0 {
            cx.count("points_merged", label, merged);
            cx.record_dropped(merged);
        }
        if unmerged > 0 {
            cx.count("points_not_merged", label, unmerged);
        }
    }

    fn guard_and_merge<P: Point>(
        &self,
        points: &mut Vec<P>,
        seen: Option<&mut Seen>,
        limit: usize,
        hashes: &mut Vec<u64>,
        merge: fn(&mut P, &P) -> bool,
    ) -> (Outcome, u64, u64) {
        let outcome = self.guard(points, seen, limit, hashes);
        if !outcome.changed {
            return (outcome, 0, 0);
        }
        let (merged, unmerged) = merge_duplicates(points, hashes, merge);
        (outcome, merged, unmerged)
    }
}

impl Processor for CardinalityProcessor {
    fn process_metrics(&self, req: &mut ExportMetricsServiceRequest, cx: &mut ProcessContext<'_>) {
        self.process_metrics_at(req, cx, Instant::now());
    }
}

impl crate::Component for CardinalityConfig {
    fn signals(&self) -> &'static [crate::Signal] {
        &[crate::Signal::Metrics]
    }

    fn stateful(&self) -> bool {
        true
    }

    /// Data points that end up alike are merged.
    fn removes_items(&self) -> bool {
        true
    }

    fn build_processor(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::Processor>, Vec<crate::BuildError>> {
        Ok(std::sync::Arc::new(self.build()?))
    }
}

impl CardinalityProcessor {
    /// [`Processor::process_metrics`] at a given time (tests).
    pub fn process_metrics_at(
        &self,
        req: &mut ExportMetricsServiceRequest,
        cx: &mut ProcessContext<'_>,
        now: Instant,
    ) {
        let mut state = self.lock();
        let mut hashes = Vec::new();
        for m in req
            .resource_metrics
            .iter_mut()
            .flat_map(|r| &mut r.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            self.process_metric(m, &mut state, now, &mut hashes, cx);
        }
        // A metric whose interval ended and that sent nothing since is forgotten, so the
        // tracked metrics (and `max_metrics`) follow what is being sent.
        let interval = self.cfg.interval;
        if state.len() >= self.cfg.max_metrics {
            state.retain(|_, s| now.saturating_duration_since(s.since) < interval);
        }
    }

    /// Attribute sets remembered now, over every metric.
    pub fn tracked_sets(&self) -> usize {
        self.lock().values().map(|s| s.sets.len()).sum()
    }
}

// ------------------------------------------------------------------------------------------------
// Attribute sets
// ------------------------------------------------------------------------------------------------

/// Hash of the overflow set.
const OVERFLOW_HASH: u64 = 0x6f76_6572_666c_6f77;

fn overflow_attribute() -> KeyValue {
    KeyValue {
        key: OVERFLOW_KEY.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(true)),
        }),
        ..Default::default()
    }
}

/// A hash of an attribute set that does not depend on the order of its attributes: the
/// wrapping sum of one keyed SipHash per attribute (key and value). An empty set hashes to 0.
fn set_hash(keys: &RandomState, attrs: &[KeyValue]) -> u64 {
    if attrs.len() == 1 && attrs[0].key == OVERFLOW_KEY {
        return OVERFLOW_HASH;
    }
    attrs.iter().fold(0u64, |acc, kv| {
        let mut h = keys.build_hasher();
        kv.key.hash(&mut h);
        hash_value(keys, kv.value.as_ref(), &mut h);
        acc.wrapping_add(h.finish())
    })
}

fn hash_value(keys: &RandomState, v: Option<&AnyValue>, h: &mut impl Hasher) {
    use any_value::Value as V;
    match v.and_then(|v| v.value.as_ref()) {
        None => 0u8.hash(h),
        Some(V::StringValue(s)) => (1u8, s).hash(h),
        Some(V::BoolValue(b)) => (2u8, b).hash(h),
        Some(V::IntValue(i)) => (3u8, i).hash(h),
        Some(V::DoubleValue(d)) => (4u8, d.to_bits()).hash(h),
        Some(V::BytesValue(b)) => (5u8, b).hash(h),
        Some(V::ArrayValue(a)) => {
            (6u8, a.values.len()).hash(h);
            for x in &a.values {
                hash_value(keys, Some(x), h);
            }
        }
        Some(V::KvlistValue(l)) => {
            (7u8, set_hash(keys, &l.values)).hash(h);
        }
        Some(V::StringValueStrindex(i)) => (8u8, i).hash(h),
    }
}

/// Whether two attribute lists hold the same attributes, in any order.
fn same_set(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| y == x))
}

// ------------------------------------------------------------------------------------------------
// Points and merging
// ------------------------------------------------------------------------------------------------

/// A metric data point of any type, as the guard sees it.
trait Point {
    fn attributes(&mut self) -> &mut Vec<KeyValue>;
    fn attrs(&self) -> &[KeyValue];
    /// Folds `other` (same attribute set) into `self`; `false` when the two cannot be merged.
    fn merge(&mut self, other: &Self) -> bool;
}

fn span(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    let start = match (a.0, b.0) {
        (0, x) | (x, 0) => x,
        (x, y) => x.min(y),
    };
    (start, a.1.max(b.1))
}

impl Point for NumberDataPoint {
    fn attributes(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
    fn attrs(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn merge(&mut self, o: &Self) -> bool {
        use number_data_point::Value as V;
        self.value = match (self.value, o.value) {
            (Some(V::AsInt(a)), Some(V::AsInt(b))) => Some(match a.checked_add(b) {
                Some(n) => V::AsInt(n),
                None => V::AsDouble(a as f64 + b as f64),
            }),
            (Some(a), Some(b)) => Some(V::AsDouble(as_f64(a) + as_f64(b))),
            (a, b) => a.or(b),
        };
        (self.start_time_unix_nano, self.time_unix_nano) = span(
            (self.start_time_unix_nano, self.time_unix_nano),
            (o.start_time_unix_nano, o.time_unix_nano),
        );
        self.flags |= o.flags;
        true
    }
}

fn as_f64(v: number_data_point::Value) -> f64 {
    match v {
        number_data_point::Value::AsInt(n) => n as f64,
        number_data_point::Value::AsDouble(d) => d,
    }
}

impl Point for HistogramDataPoint {
    fn attributes(&mut self) -> &mut Vec<KeyValue> {
        &mut self.attributes
    }
    fn attrs(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn merge(&mut self, o: &Self) -> bool {
        if self.explicit_bounds != o.explicit_bounds
            || self.bucket_counts.len() != o.bucket_counts.len()
        {
            return false;
        }
        self.count = self.count.saturating_add(o.count);
        self.sum = match (self.sum, o.sum) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (a, b) in self.bucket_counts.iter_mut().zip(&o.bucket_counts) {
            *a = a.saturating_add(*b);
        }
        (self.start_time_unix_nano, self.time_unix_nano) = span(
            (self.start_time_unix_nano, self.time_unix_nano),
            (o.start_time_unix_nano, o.time_unix_nano),
        );
        self.flags |= o.flags;
        true
    }
}

/// Point types whose points are not merged (their buckets or quantiles do not add up simply).
macro_rules! unmerged_point {
    ($($t:ty),*) => {$(
        impl Point for $t {
            fn attributes(&mut self) -> &mut Vec<KeyValue> {
                &mut self.attributes
            }
            fn attrs(&self) -> &[KeyValue] {
                &self.attributes
            }
            fn merge(&mut self, _o: &Self) -> bool {
                false
            }
        }
    )*};
}

unmerged_point!(ExponentialHistogramDataPoint, SummaryDataPoint);

/// Merges points with equal attribute sets (`hashes[i]` is point `i`'s set hash) into the first
/// of them; returns (points merged away, duplicates left because they cannot be merged).
fn merge_duplicates<P: Point>(
    points: &mut Vec<P>,
    hashes: &[u64],
    merge: fn(&mut P, &P) -> bool,
) -> (u64, u64) {
    let mut first: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut keep = vec![true; points.len()];
    let (mut merged, mut unmerged) = (0u64, 0u64);
    for i in 0..points.len() {
        let h = hashes.get(i).copied().unwrap_or_default();
        let candidates = first.entry(h).or_default();
        let target = candidates
            .iter()
            .copied()
            .find(|&j| same_set(points[j].attrs(), points[i].attrs()));
        match target {
            Some(j) => {
                let (a, b) = points.split_at_mut(i);
                if merge(&mut a[j], &b[0]) {
                    keep[i] = false;
                    merged += 1;
                } else {
                    unmerged += 1;
                }
            }
            None => candidates.push(i),
        }
    }
    if merged > 0 {
        let mut it = keep.iter();
        points.retain(|_| *it.next().unwrap_or(&true));
    }
    (merged, unmerged)
}

/// The gauge merge: the newest point wins (a gauge's values do not add up).
fn keep_newest(a: &mut NumberDataPoint, b: &NumberDataPoint) -> bool {
    if b.time_unix_nano > a.time_unix_nano {
        a.value = b.value;
        a.time_unix_nano = b.time_unix_nano;
        a.start_time_unix_nano = b.start_time_unix_nano;
        a.exemplars = b.exemplars.clone();
        a.flags = b.flags;
    }
    true
}

#[cfg(test)]
mod tests;
